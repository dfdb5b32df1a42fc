"""Training-free proxies, one module each, registered by name (see registry.py).

The built-ins are imported here, so the registry is complete, in a fixed order, as soon as any
proxy module is imported."""
from onnxscore.proxies.registry import ProxySpec, get, names, parse, register
from onnxscore.proxies import (  # noqa: E402,F401  (they register, in this order)
    epads, naswot, swap, reg_swap, gradients, layers, flops, aznas_family, vkdnw_family, ensemble)

__all__ = ["ProxySpec", "get", "names", "parse", "register"]
