"""ScoreSettings: every setting of a Scorer, checked once, frozen, and the one place that says which of
them change a score (`record()`, what results report) and how the store keys them (`key()`).

score, rank, evaluate and search all build one from the same option group (onnxscore.cli.options), so a
setting has one name, one check and one meaning everywhere; errors name the parameter and its flag.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Mapping

from onnxscore import validation
from onnxscore.errors import InputError

BN_MODES = ("batch", "exported")
MERGED_MODES = ("once", "per-consumer")
ACTIVATIONS = ("relu", "extended")


@dataclass(frozen=True)
class ScoreSettings:
    """The settings of one scoring run (defaults: the papers' protocol)."""

    batch_size: int = 128
    seed: int = 0
    sigma: float = 1.0
    data: Any = None  # a .npy path or an in-memory array (the batch); None: seeded random-normal
    bn: str = "batch"
    init: str = "keep"
    provider: str | None = None
    input_name: str | None = None
    input_shape: Any = None  # "3,32,32" or a sequence; one sample's shape
    mu: float | None = None
    sigma_params: float | None = None
    activations: str = "relu"
    threads: int = 0
    fmt: str | None = None
    pack: bool | None = None
    pack_budget_mb: float = 768
    merged_sites: str = "once"
    max_memory: Any = None  # "8G", bytes, 0 (no check) or None (what the machine has)
    labels: Any = None  # int labels of the batch's rows (.npy path or array), for the gradient proxies
    grad_batch_size: int = 64  # the gradient proxies use the batch's first rows (docs/GRADIENTS.md: B = 64)

    def __post_init__(self) -> None:
        from onnxscore.graph import memory_estimate
        from onnxscore.graph.init import INIT_MODES
        from onnxscore.inputs import parse_shape

        check = validation  # each check raises an InputError naming the option and the parameter
        check.integer("batch_size", self.batch_size, 2, "; the papers use 128")
        check.integer("seed", self.seed, 0)
        check.number("sigma", self.sigma, positive=True)
        check.choice("bn", self.bn, BN_MODES)
        check.choice("init", self.init, INIT_MODES)
        check.text("provider", self.provider)
        check.text("input_name", self.input_name)
        parse_shape(self.input_shape)  # refuse a malformed shape now, not at the first model
        check.number("mu", self.mu, optional=True)
        check.number("sigma_params", self.sigma_params, positive=True, optional=True)
        check.choice("activations", self.activations, ACTIVATIONS)
        check.integer("threads", self.threads, 0)
        check.text("fmt", self.fmt)
        if self.pack is not None and not isinstance(self.pack, bool):
            raise InputError(f"pack must be True, False or None (got {self.pack!r})")
        check.number("pack_budget_mb", self.pack_budget_mb, positive=True)
        check.choice("merged_sites", self.merged_sites, MERGED_MODES)
        object.__setattr__(self, "max_memory", memory_estimate.parse_size(self.max_memory))
        check.integer("grad_batch_size", self.grad_batch_size, 2, "; docs/GRADIENTS.md uses 64")

    @classmethod
    def of(cls, settings: "ScoreSettings | Mapping[str, Any] | None" = None, **overrides) -> "ScoreSettings":
        """From settings or a mapping (where None means "the default", as option parsers give them), with
        keyword `overrides` applied as given (None is then a value, checked like any other)."""
        if isinstance(settings, ScoreSettings):
            return settings.replace(**overrides) if overrides else settings
        merged = {k: v for k, v in dict(settings or {}).items() if v is not None}
        merged.update(overrides)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(merged) - names)
        if unknown:
            raise InputError(f"unknown scoring setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return cls(**merged)

    def replace(self, **changes) -> "ScoreSettings":
        return dataclasses.replace(self, **changes)

    def data_label(self) -> str:
        if self.data is None:
            return f"random-normal(seed={self.seed})"
        if isinstance(self.data, (str, os.PathLike)):
            return str(self.data)
        return "array"

    def record(self, provider: str | None = None) -> dict:
        """Every setting that changes a score, as results report them (provider: the one the session used;
        default: the one onnxscore would choose here)."""
        from onnxscore import __version__, runtime

        s = {
            "seed": self.seed, "batch_size": self.batch_size, "sigma": self.sigma, "bn": self.bn,
            "init": self.init, "data": self.data_label(), "activations": self.activations,
            "merged_sites": self.merged_sites,
            "provider": provider or runtime.choose_providers(self.provider)[0],
            "onnxruntime": runtime.ort_version(), "onnxscore": __version__,
        }
        if self.mu is not None or self.sigma_params is not None:
            s.update(mu=self.mu, sigma_params=self.sigma_params)
        if self.input_name or self.input_shape:
            s.update(input=self.input_name, input_shape=self.input_shape)
        # gradient-proxy settings appear only when set, so the activation proxies' keys stay as they were
        if self.labels is not None:
            s["labels"] = str(self.labels) if isinstance(self.labels, (str, os.PathLike)) else "array"
        if self.grad_batch_size != 64:
            s["grad_batch_size"] = self.grad_batch_size
        return s

    def key(self, provider: str | None = None) -> str:
        """The store's key of these settings: canonical JSON of key_fields()."""
        from onnxscore.store import canonical_json

        return canonical_json(self.key_fields(provider))

    def key_fields(self, provider: str | None = None) -> dict:
        """The record plus the batch's content hash (a path's bytes, or an in-memory array's). A file is
        keyed by its bytes alone, not its path, so a store moved or restored elsewhere keeps its cache."""
        import numpy as np

        from onnxscore.store import content_hash, file_hash

        s = self.record(provider)
        if isinstance(self.data, (str, os.PathLike)) and os.path.isfile(self.data):
            s["data"], s["data_sha256"] = "file", file_hash(self.data)
        elif self.data is not None:  # an in-memory batch: its label is just "array", so key on its bytes
            arr = np.ascontiguousarray(self.data)
            s["data_sha256"] = content_hash(arr.tobytes() + str((arr.dtype, arr.shape)).encode())
        if isinstance(self.labels, (str, os.PathLike)) and os.path.isfile(self.labels):
            s["labels"], s["labels_sha256"] = "file", file_hash(self.labels)
        elif self.labels is not None:
            s["labels_sha256"] = content_hash(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        return s


__all__ = ["ScoreSettings", "BN_MODES", "MERGED_MODES", "ACTIVATIONS"]
