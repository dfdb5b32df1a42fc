"""timm-style registry: each proxy is one module that registers a function under its name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from onnxscore.errors import ProxyError


@dataclass(frozen=True)
class ProxySpec:
    """A registered proxy: its function, a one-line description and what it needs."""

    name: str
    fn: Callable
    description: str
    paired: bool = False  # needs the clean + perturbed 2B forward (ePADS)
    params: tuple[str, ...] = field(default=())  # settings it requires (reg-swap: mu, sigma_params)
    higher_is_better: bool = True


_REGISTRY: dict[str, ProxySpec] = {}


def register(name: str, description: str, *, paired: bool = False, params: tuple[str, ...] = ()):
    """Decorator adding a proxy function `fn(codes, ctx) -> float` to the registry."""

    def deco(fn):
        _REGISTRY[name] = ProxySpec(name, fn, description, paired, params)
        return fn

    return deco


def _load_builtins() -> None:
    from onnxscore.proxies import epads, naswot, reg_swap, swap  # noqa: F401  (they register)


def names() -> list[str]:
    _load_builtins()
    return list(_REGISTRY)


def get(name: str) -> ProxySpec:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ProxyError(
            f"unknown proxy '{name}'; choose from {', '.join(_REGISTRY)} or 'all' "
            "(see `onnxscore proxies`)"
        ) from None


def _items(spec) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    return [s.strip() for s in items if s.strip()]


def explicit(spec) -> list[str]:
    """Proxies named one by one in `spec` (not brought in by 'all')."""
    return [get(item).name for item in _items(spec) if item != "all"]


def parse(spec) -> list[str]:
    """'epads,naswot' / 'all' / a list -> validated proxy names, in order, without repeats."""
    out: list[str] = []
    for item in _items(spec):
        for name in names() if item == "all" else [get(item).name]:
            if name not in out:
                out.append(name)
    if not out:
        raise ProxyError("no proxy given; pass --proxy epads (or a comma list, or all)")
    return out
