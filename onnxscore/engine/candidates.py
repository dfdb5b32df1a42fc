"""Candidates: ONNX files (keyed by their bytes and external data) and members of a search space
(keyed by the space, its settings, the encoding and the weight seed)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from onnxscore.errors import InputError
from onnxscore.store import canonical_json, content_hash, file_hash, hash_and_find


@dataclass(frozen=True)
class Candidate:
    """One model to rank: a display name, its content hash, and where it comes from (a file or a space)."""

    name: str
    key: str
    path: str | None = None
    space: tuple | None = None  # (space name, kwargs items, encoding string, build seed)


def find_onnx_files(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and directories (recursively, *.onnx) into a sorted, de-duplicated file list."""
    out: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() == ".onnx")
        elif p.exists():
            found = [p]
        else:
            raise InputError(f"input '{item}' does not exist; pass ONNX files or directories of them")
        for q in found:
            r = q.resolve()
            if r not in seen:
                seen.add(r)
                out.append(q)
    return out


_EXTERNAL_MARK = b"location"  # the key of every external-data entry; absent from the bytes => no external data


def _data_file_hash(path: str) -> str | None:
    """sha256 of an external-data file; None when it is missing or not a regular file (never opened
    then: a location naming /dev/zero must not be read forever; the loader reports it)."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return file_hash(path)
    except OSError:
        return None


def file_key(path: str | os.PathLike) -> str:
    """The cache key of an ONNX file: the sha256 of its bytes, and when it keeps tensors in external-data
    files, a sha256 over that and each referenced file's (location, sha256) in location order, so new
    weights beside an unchanged .onnx file are scored again. The model is parsed without loading its
    data, and only when its bytes mention external data at all; keys of self-contained models are the
    plain file hash (as before, so existing stores stay valid)."""
    from onnxscore.loaders import external_data_files

    digest, mentions = hash_and_find(path, _EXTERNAL_MARK)
    files = external_data_files(path) if mentions else []
    if not files:
        return digest
    parts = [[loc, _data_file_hash(f)] for loc, f in files]
    return content_hash(canonical_json({"model": digest, "external_data": parts}).encode())


def file_candidates(inputs: Iterable[str | os.PathLike]) -> list[Candidate]:
    """Candidates for ONNX files / directories, keyed by file_key (model bytes and external data).
    A device or FIFO given as an input is refused before it is opened (reading it would never end)."""
    from onnxscore.loaders import special_file_kind

    cands = []
    for p in find_onnx_files(inputs):
        kind = special_file_kind(p)
        if kind:
            raise InputError(f"input '{p}' is {kind}, not a model file; pass ONNX files or directories of them")
        try:
            key = file_key(p)
        except OSError:  # unreadable: still a candidate, it fails in the worker with the reason
            key = "unreadable:" + hashlib.sha256(str(p.resolve()).encode()).hexdigest()
        cands.append(Candidate(str(p), key, path=str(p)))
    return cands


def space_candidates(space: str, sample: int, *, seed: int = 0, build_seed: int = 0,
                     **space_kwargs) -> list[Candidate]:
    """`sample` distinct architectures drawn (seeded) from a registered search space; all of it if smaller."""
    import numpy as np

    from onnxscore.spaces import get_space

    if sample is None or int(sample) < 1:
        raise InputError("--space needs --sample N with N >= 1 (how many architectures to draw)")
    sp = get_space(space, **space_kwargs)
    rng = np.random.default_rng(seed)
    encs: dict[str, None] = {}
    tries = 0
    while len(encs) < sample and tries < 50 * sample + 1000:
        encs.setdefault(sp.to_str(sp.sample(rng)), None)
        tries += 1
    if len(encs) < sample:  # small space: take all of it
        try:
            encs = {sp.to_str(e): None for e in sp.all()}
        except NotImplementedError:
            pass
    return [space_candidate(space, sp, space_kwargs, enc, build_seed) for enc in list(encs)[:sample]]


def space_candidate(space_name: str, space, space_kwargs: dict, encoding: str, build_seed: int) -> Candidate:
    """The Candidate of one space member, keyed by the space, the settings that change the built
    model, the encoding and the weight seed, so `rank --space`, `evaluate --space` and `search`
    share cached scores."""
    ident = dict(space_kwargs)
    for attr in ("dataset", "num_classes", "bn_training"):
        if hasattr(space, attr):
            ident[attr] = getattr(space, attr)
    name = space.name or space_name
    key = "space:" + hashlib.sha256(canonical_json(
        {"space": name, "kwargs": ident, "encoding": encoding, "build_seed": build_seed}).encode()).hexdigest()
    return Candidate(f"{name}:{encoding}", key,
                     space=(space_name, tuple(sorted(space_kwargs.items())), encoding, build_seed))
