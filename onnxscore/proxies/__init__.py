"""Training-free proxies, one module each, registered by name (see registry.py)."""
from onnxscore.proxies.registry import ProxySpec, get, names, parse, register

__all__ = ["ProxySpec", "get", "names", "parse", "register"]
