"""What a ranking job carries to its workers (RankSettings), one candidate's work (Task), and the keys
under which the store caches scores and cost metrics."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from onnxscore.edge.pareto import Budget
from onnxscore.engine.candidates import Candidate
from onnxscore.store import canonical_json

EDGE_METRIC = "edge"
EDGE_REVISION = 2  # 2: shapes from an onnxruntime run where inference gives up; Linear on 3-D inputs
LATENCY_METRIC = "latency"
LATENCY_GRAPH = "inference"  # latency is timed on onnxscore.edge.inference_graph's form of the model


def _version() -> str:
    from onnxscore import __version__

    return __version__


@dataclass
class RankSettings:
    """Everything a worker needs: proxies, scorer settings, edge/latency settings, budget and the scoring function."""

    proxies: tuple[str, ...] = ("epads",)
    scorer: dict = field(default_factory=dict)  # keyword arguments of onnxscore.Scorer
    threads: int = 1
    input_shape: tuple | None = None
    latency: dict | None = None  # measure_latency kwargs (provider, threads, runs, warmup, batch_size)
    budget: Budget = field(default_factory=Budget)
    score_fn: Callable | None = None  # (model, proxies, settings) -> {"scores", "errors", "info"}
    modules: tuple[str, ...] = ()  # user modules (proxies, spaces) every worker imports first (onnxscore.modules)

    def score_key(self) -> str:
        """Canonical JSON of every setting that changes a score plus the onnxscore version."""
        from onnxscore.settings import ScoreSettings

        s = ScoreSettings.of(self.scorer).key_fields()
        s["onnxscore"] = _version()
        if self.modules:  # a user proxy's code is part of what produced its score
            from onnxscore.modules import spec_fingerprint

            s["modules"] = [spec_fingerprint(m) for m in self.modules]
        if self.score_fn is not None:
            s["score_fn"] = f"{getattr(self.score_fn, '__module__', '?')}.{getattr(self.score_fn, '__qualname__', '?')}"
        return canonical_json(s)

    def edge_key(self) -> str:
        """Key of the cost metrics; EDGE_REVISION changes whenever their computation does."""
        return canonical_json({"input_shape": self.input_shape, "onnxscore": _version(), "revision": EDGE_REVISION})

    def latency_key(self) -> str | None:
        if self.latency is None:
            return None
        return canonical_json({**self.latency, "input_shape": self.input_shape, "onnxscore": _version(),
                               "graph": LATENCY_GRAPH})


@dataclass
class Task:
    """Work for one candidate: which proxies are missing and which metrics must be measured."""

    candidate: Candidate
    proxies: tuple[str, ...]
    edge: bool
    latency: bool
    check_budget: bool
    known: dict = field(default_factory=dict)  # cached params / macs / latency_ms for the budget check
