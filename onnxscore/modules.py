"""The one importer of user code named on the command line or in settings: a dotted module name
(`mypkg.proxies`) or a path to a .py file. A file is imported once per process under a name derived
from its resolved path, so a spawned worker that imports the same spec gets the same module."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from onnxscore.errors import InputError, first_line


def module_name_for(path: Path) -> str:
    """The sys.modules name of a user .py file: its stem plus a hash of its resolved path."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"onnxscore_user_{stem}_{digest}"


def import_spec(spec: str, option: str = "--module") -> ModuleType:
    """Import `spec` (dotted name or .py path); a failure is one InputError line naming `option`."""
    p = Path(spec)
    try:
        if p.suffix == ".py":
            if not p.is_file():
                raise InputError(f"{option} {spec} does not exist; pass a .py file or an importable module name")
            name = module_name_for(p)
            if name in sys.modules:
                return sys.modules[name]
            loader = importlib.util.spec_from_file_location(name, p)
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module
            try:
                loader.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return module
        return importlib.import_module(spec)
    except InputError:
        raise
    except ModuleNotFoundError as exc:
        raise InputError(f"cannot import {option} {spec} ({exc}); run from the folder that holds it or add "
                         "it to PYTHONPATH") from None
    except Exception as exc:  # the user's module failed: one line, not a traceback
        raise InputError(f"cannot import {option} {spec}: {type(exc).__name__}: {first_line(exc)}") from exc


def spec_fingerprint(spec: str) -> str:
    """What identifies a spec's code for the store: a .py file's sha256, else the module's file's."""
    p = Path(spec)
    if p.suffix != ".py":
        found = importlib.util.find_spec(spec)
        origin = getattr(found, "origin", None) if found else None
        p = Path(origin) if origin else None
    if p is None or not p.is_file():
        return spec
    return f"{spec}@sha256:{hashlib.sha256(p.read_bytes()).hexdigest()[:16]}"


__all__ = ["import_spec", "module_name_for", "spec_fingerprint"]
