"""Checks of Scorer arguments: a bad value is one InputError naming the CLI option and the parameter."""
from __future__ import annotations

import math
import numbers

from onnxscore.errors import InputError


def _label(param: str) -> str:
    """'batch_size' -> '--batch-size (batch_size)': readable from the CLI and from Python."""
    return f"--{param.replace('_', '-')} ({param})"


def integer(param: str, value, minimum: int, hint: str = "") -> int:
    """An int (not a bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{_label(param)} must be an integer >= {minimum} (got {value!r}){hint}")
    return int(value)


def number(param: str, value, *, positive: bool = False, optional: bool = False) -> float | None:
    """A finite real number (> 0 when positive); None passes when optional."""
    if value is None and optional:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and not value > 0):
        need = "a finite number > 0" if positive else "a finite number"
        raise InputError(f"{_label(param)} must be {need} (got {value!r})")
    return value


def choice(param: str, value, options) -> str:
    if not isinstance(value, str) or value not in options:
        raise InputError(f"unknown {_label(param)} {value!r}; use one of {', '.join(options)}")
    return value


def text(param: str, value, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InputError(f"{_label(param)} must be a string (got {type(value).__name__} {value!r})")
    return value


def proxies(value):
    """A proxy name, a comma list, or a list of names (checked against the registry later)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return value
    raise InputError(f"--proxy (proxies) must be a proxy name, a comma list or a list of names, "
                     f"e.g. 'epads' or ['epads', 'naswot'] (got {value!r})")
