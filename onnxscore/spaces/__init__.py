"""Search-space registry (timm-style): register_space, get_space(name, **kw), space_names()."""

from __future__ import annotations

from typing import Callable, Dict

from onnxscore.errors import InputError
from onnxscore.spaces.base import SearchSpace

_REGISTRY: Dict[str, Callable[..., SearchSpace]] = {}


def register_space(name: str) -> Callable:
    """Decorator registering a SearchSpace subclass (or factory) under `name` (case-insensitive)."""

    def deco(factory: Callable[..., SearchSpace]) -> Callable[..., SearchSpace]:
        key = name.lower()
        if key in _REGISTRY and _REGISTRY[key] is not factory:
            raise ValueError(f"search space {name!r} is already registered")
        _REGISTRY[key] = factory
        return factory

    return deco


def space_names() -> list:
    """Sorted names of the registered search spaces."""
    return sorted(_REGISTRY)


def get_space(name: str, **kw) -> SearchSpace:
    """Instantiate a registered search space, e.g. get_space("nb201", dataset="cifar10")."""
    factory = _REGISTRY.get(str(name).lower())
    if factory is None:
        raise InputError(
            f"unknown search space {name!r}; choose one of: {', '.join(space_names())}"
        )
    return factory(**kw)


from onnxscore.spaces import nb201 as _nb201  # noqa: E402,F401  (registers "nb201")
from onnxscore.spaces import toy as _toy  # noqa: E402,F401  (registers "toy" and "mobilenet-like")
from onnxscore.spaces import nb101 as _nb101  # noqa: E402,F401  (registers "nb101")

__all__ = ["SearchSpace", "register_space", "get_space", "space_names"]
