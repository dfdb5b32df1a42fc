"""Graph passes over ONNX models: a networkx view, activation sites, BN mode, re-initialisation."""
