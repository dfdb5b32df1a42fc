"""Output files: checked before any work starts, then written atomically.

Two rules hold for every file a command writes (rank --csv/--json, evaluate -o/--plot, convert -o,
search's ONNX): an existing file is replaced only with --force, and a file the run reads (a model, its
external data, the result store, a data or accuracy file) is never written, --force or not.
`check_outputs` enforces both, and that the folder can be written, before a long run, so a mistake
costs nothing. The writers put the content in a temporary file in the target's folder, fsync it and
rename it over the target, so a crash or a full disk leaves the previous file as it was instead of a
truncated one. Devices and FIFOs (`--json /dev/stdout`) are written in place: renaming over them
would replace the device node with a regular file.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from typing import Iterable, Iterator, Mapping

from onnxscore.errors import OutputError

PathLike = str | os.PathLike

# strerror of the failures a user can fix, in words that name the disk problem
_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error",
    errno.EFBIG: "file too large",
}


def reason(exc: OSError) -> str:
    """A short lower-case description of an OSError ('no space left on device')."""
    return _REASONS.get(exc.errno) or (exc.strerror or type(exc).__name__).lower()


def _identity(path: PathLike) -> tuple | None:
    """(device, inode) of an existing file (hard links and symlinks to it compare equal), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def store_files(store: PathLike | None) -> dict[str, str]:
    """{path: what it is} of the SQLite store and the journal files beside it (writing any of them
    corrupts the store)."""
    if store is None or str(store) == ":memory:":
        return {}
    s = os.fspath(store)
    return {s: "the result store", **{s + x: "a journal file of the result store" for x in ("-wal", "-shm", "-journal")}}


def model_files(path: PathLike) -> dict[str, str]:
    """{path: what it is} of an ONNX model file and every external-data file it references."""
    from onnxscore.loaders import external_data_files

    p = os.fspath(path)
    return {p: f"the model {p}", **{f: f"external data of {p}" for _, f in external_data_files(p)}}


def run_inputs(models: Iterable[PathLike] = (), *, store: PathLike | None = None,
               files: Mapping[PathLike, str] | None = None,
               outputs: Mapping[str, PathLike | None] | None = None) -> dict[str, str]:
    """{path: what it is} of the files a run reads, for check_outputs: the model files, the store and
    its journals, and `files` ({path: description}, e.g. the --data batch). The models' external-data
    files are looked up (which reads each model) only when one of `outputs` already exists as a file:
    a file that does not exist yet cannot be one the run reads."""
    out: dict[str, str] = {}
    existing = any(p is not None and os.path.isfile(p) for p in (outputs or {}).values())
    for m in models:
        if existing:
            out.update(model_files(m))
        else:
            out[os.fspath(m)] = f"the model {os.fspath(m)}"
    out.update(store_files(store))
    for p, what in (files or {}).items():
        if p is not None:
            out[os.fspath(p)] = what
    return out


def _folder_problem(folder: str) -> str | None:
    """Why new files cannot be created in `folder`, or None."""
    if not os.path.isdir(folder):
        return "does not exist"
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "is on a read-only file system"
    except OSError:
        pass
    return "is not writable (permission denied)"


def check_outputs(outputs: Mapping[str, PathLike | None], *, force: bool,
                  inputs: Mapping[PathLike, str] | None = None) -> None:
    """Refuse, before any work, the outputs this run must not or cannot write.

    outputs: {option as the user typed it ("--csv"): path or None}. inputs: {path: what it is} of
    every file the run reads (see model_files and store_files); an output naming one (by path, symlink
    or hard link) is refused even with --force. An existing regular file needs `force`; a missing or
    unwritable folder is an error. Raises OutputError.
    """
    by_id: dict[tuple, str] = {}
    by_name: dict[str, str] = {}
    for p, what in (inputs or {}).items():
        ident = _identity(p)
        if ident is not None:
            by_id.setdefault(ident, what)
        by_name.setdefault(os.path.realpath(p), what)
    seen: dict[str, str] = {}
    for opt, path in outputs.items():
        if path is None:
            continue
        path = os.fspath(path)
        real = os.path.realpath(path)
        if real in seen:
            raise OutputError(f"{seen[real]} and {opt} both name {path}; pass different files")
        seen[real] = opt
        ident = _identity(path)
        what = by_name.get(real) or (by_id.get(ident) if ident is not None else None)
        if what:
            raise OutputError(f"{opt} {path} is {what}, which this run reads; it is never overwritten, "
                              "even with --force: choose another file")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise OutputError(f"{opt} {path}: cannot check it ({reason(exc)})") from None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{opt} {path} is a directory; pass a file path")
        if st is not None and not stat.S_ISREG(st.st_mode):
            continue  # a device or FIFO is written in place (e.g. /dev/stdout)
        if st is not None and not force:
            raise OutputError(f"{opt} {path} already exists; pass --force to overwrite it or choose another file")
        folder = os.path.dirname(real) or "."
        problem = _folder_problem(folder)
        if problem:
            raise OutputError(f"cannot write {opt} {path}: its folder {folder} {problem}")


def _mode_for(target: str) -> int:
    """Permission bits of the new file: those of the file it replaces, else the umask's default."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _target(path: PathLike) -> str:
    """Where bytes for `path` go: a symlink's target (the link stays a link), else the path itself."""
    p = os.fspath(path)
    return os.path.realpath(p) if os.path.islink(p) else p


def _special(target: str) -> bool:
    """True for an existing device, FIFO or socket (written in place, never renamed over)."""
    try:
        return not stat.S_ISREG(os.stat(target).st_mode)
    except OSError:
        return False


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable (best effort: not every file system lets a folder be fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _commit(tmp: str, target: str, force: bool, shown: str) -> None:
    """Move the finished temporary file to `target`; without `force`, never replace an existing file
    (a hard link creates the name only if it is free; where links are unsupported, check then rename)."""
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputError(f"{shown} already exists; pass --force to overwrite it or choose another file") from None
    except OSError:  # e.g. a file system without hard links
        if os.path.lexists(target):
            raise OutputError(f"{shown} already exists; pass --force to overwrite it "
                              "or choose another file") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _failure(exc: OSError, shown: str, existed: bool) -> OutputError:
    kept = f"; the existing {shown} is unchanged" if existed else ""
    return OutputError(f"{reason(exc)} writing {shown}{kept}")


@contextlib.contextmanager
def atomic_path(path: PathLike, *, force: bool = True, suffix: str | None = None) -> Iterator[str]:
    """Yield a temporary path in the target's folder for a library that writes by path (onnx.save,
    matplotlib); on success it is fsynced and renamed to `path`, on failure removed. The temporary
    name keeps the target's suffix (matplotlib picks the format from it). `force=False` refuses to
    replace a file that appeared meanwhile. Raises OutputError on an OSError, naming the disk problem."""
    shown = os.fspath(path)
    target = _target(path)
    if _special(target):
        try:
            yield target
        except OSError as exc:
            raise _failure(exc, shown, False) from None
        return
    folder = os.path.dirname(os.path.abspath(target))
    existed = os.path.exists(target)
    sfx = suffix if suffix is not None else os.path.splitext(target)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".onnxscore-", suffix=sfx, dir=folder)
    except OSError as exc:
        raise _failure(exc, shown, existed) from None
    os.close(fd)
    try:
        try:
            yield tmp
            os.chmod(tmp, _mode_for(target))
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _commit(tmp, target, force, shown)
            _fsync_dir(folder)
        except OSError as exc:
            raise _failure(exc, shown, existed) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_bytes(path: PathLike, data: bytes, *, force: bool = True) -> str:
    """Write `data` to `path` atomically (temp file + fsync + rename); returns the path.
    `force=False` refuses to replace an existing file. Raises OutputError naming the disk problem."""
    shown = os.fspath(path)
    target = _target(path)
    if _special(target):
        try:
            fd = os.open(target, os.O_WRONLY)
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            raise _failure(exc, shown, False) from None
        return shown
    with atomic_path(path, force=force) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    return shown


def write_text(path: PathLike, text: str, *, force: bool = True, encoding: str = "utf-8") -> str:
    """write_bytes of `text` encoded (UTF-8 by default); newlines are written as given."""
    return write_bytes(path, text.encode(encoding), force=force)


__all__ = ["check_outputs", "run_inputs", "model_files", "store_files", "atomic_path", "write_bytes", "write_text", "reason"]
