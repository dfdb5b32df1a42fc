"""Lazy imports of the optional framework extras, and a guard that keeps converter chatter off stdout."""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys

from onnxscore.errors import MissingExtraError, first_line  # noqa: F401  (converters import it from here)

# importable top-level module -> the distribution pip installs it from
DISTRIBUTIONS = {"tensorflow": "tensorflow", "keras": "keras", "tf2onnx": "tf2onnx",
                 "paddle": "paddlepaddle", "paddle2onnx": "paddle2onnx",
                 "torch": "torch", "onnxscript": "onnxscript"}


def available(module: str, extra: str) -> str:
    """Check that `module` is installed without importing it; returns its version."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(DISTRIBUTIONS.get(module, module), extra)
    try:
        return importlib.metadata.version(DISTRIBUTIONS.get(module, module))
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def require(module: str, extra: str):
    """Import `module` or raise MissingExtraError naming `pip install "onnxscore[<extra>]"`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = (getattr(exc, "name", None) or module).split(".")[0]
        if top not in DISTRIBUTIONS:  # a dependency of the framework is broken: show the real error
            raise
        raise MissingExtraError(DISTRIBUTIONS[top], extra) from None


class ConverterWarning(UserWarning):
    """Something the converter could not keep (BatchNorm folded, a fixed batch): scores may differ."""


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything a converter prints (Python and C++ level) to stderr while it runs, so that
    `onnxscore ... --json` keeps a clean stdout."""
    sys.stdout.flush()
    saved = None
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no real file descriptors (embedded interpreters): Python-level only
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def quiet_loggers(*names: str, level: int = logging.ERROR):
    """Raise the level of chatty library loggers for the duration of a conversion."""
    loggers = [logging.getLogger(n) for n in names]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, old):
            lg.setLevel(lvl)

