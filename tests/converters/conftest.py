"""Fixtures for the converter tests: running the CLI in-process, and the repository root."""
from __future__ import annotations

import warnings

import pytest

# PaddlePaddle 3.3 segfaults when it is imported after TensorFlow 2.21 in one process (the other
# order works), and pytest runs the Keras and Paddle tests in one process: import Paddle first.
# onnxscore itself never imports Paddle in-process (paddle2onnx runs in a child process).
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import paddle  # noqa: F401
    except ImportError:
        pass

from tests.converters.framework_proxies import ROOT  # noqa: E402


@pytest.fixture
def run_cli(capsys):
    """Run `onnxscore ARGS...` in-process; returns (exit code, stdout, stderr)."""
    from onnxscore.cli.main import main

    def run(*args: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def in_repo(monkeypatch):
    """Work from the repository root, so `tests.converters.framework_proxies:torch_net` imports."""
    monkeypatch.chdir(ROOT)
    return ROOT
