"""The `onnxscore` command line: a thin click layer over the Python API."""
