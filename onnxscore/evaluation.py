"""Evaluate proxies against ground-truth accuracies: Kendall tau, Spearman rho and top-10% precision,
with the parameter count as the baseline every training-free proxy has to beat.

Models come from a CSV of (model path, accuracy) or from NAS-Bench-201 rows sampled from the accuracy
table. Scoring goes through the ranking engine (onnxscore.engine), so results are cached in the SQLite
store and repeated runs only score what is missing. Every model sees the same real-image batch (the
CIFAR-10 test subset of the shared data, written once to a .npy next to the store so the store's score
key covers it) and the same noise draw.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from onnxscore.errors import InputError, MissingExtraError
from onnxscore.isolate import DEFAULT_TIMEOUT_S

BASELINE = "params"
TOP_FRACTION = 0.1
TOP_MIN_MODELS = 10  # below this, 10% of the models is less than one model: top-10% precision is undefined
CORR_MIN_MODELS = 2  # Kendall and Spearman need two models
DEFAULT_PROXIES = ("epads", "naswot", "swap")
DEFAULT_BATCH_SEED = 2027  # docs/PROXIES.md "Figures to reproduce": rows default_rng(2027).choice(1000, 128)
NULL_RULE = ("a null score (undefined, e.g. -inf ePADS or a singular NASWOT kernel, or a model that "
             "failed) ranks last, tied with the other nulls")
DEAD_RULE = ("dead NAS-Bench-201 architectures (no path of non-none edges from cell input to output) "
             "are scored like any other; their accuracy is chance level, so they form a tie at the bottom")
WEIGHTS_NOTE = ("PyTorch-default initialisation (kaiming_uniform a=sqrt(5), BN scale 1 / shift 0) drawn with "
                "numpy from the build seed; the PyTorch reference of docs/PROXIES.md used torch.manual_seed(0) "
                "per network: same distribution, different random stream")
METRIC_NOTES = {
    "kendall": "scipy.stats.kendalltau (tau-b) against accuracy",
    "spearman": "scipy.stats.spearmanr against accuracy",
    "top10_precision": ("|top 10% by score & top 10% by accuracy| / k, k = round(n/10); ties at "
                        "the cut share the remaining places equally (the expected value under random "
                        f"tie-breaking); null for fewer than {TOP_MIN_MODELS} models, where 10% is less than "
                        "one model"),
}


# ============================================================================ metrics

def _values(xs: Sequence) -> np.ndarray:
    """float64 array with None / NaN / -inf all mapped to -inf (null ranks last, nulls tie)."""
    out = np.empty(len(xs), dtype=np.float64)
    for i, v in enumerate(xs):
        try:
            f = float(v) if v is not None else -math.inf
        except (TypeError, ValueError):
            f = -math.inf
        out[i] = -math.inf if (math.isnan(f) or f == -math.inf) else f
    return out


def _ranks(xs: Sequence) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(_values(xs), method="average")


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def kendall(scores: Sequence, accuracies: Sequence) -> float | None:
    """Kendall tau-b of scores against accuracies (nulls rank last); None when undefined (n < 2, constant)."""
    from scipy.stats import kendalltau

    if len(scores) != len(accuracies):
        raise ValueError("scores and accuracies differ in length")
    if len(scores) < 2:
        return None
    return _finite_or_none(kendalltau(_ranks(scores), _ranks(accuracies)).statistic)


def spearman(scores: Sequence, accuracies: Sequence) -> float | None:
    """Spearman rho of scores against accuracies (nulls rank last); None when undefined."""
    from scipy.stats import spearmanr

    if len(scores) != len(accuracies):
        raise ValueError("scores and accuracies differ in length")
    if len(scores) < 2:
        return None
    ra, rb = _ranks(scores), _ranks(accuracies)
    if np.all(ra == ra[0]) or np.all(rb == rb[0]):
        return None
    return _finite_or_none(spearmanr(ra, rb).statistic)


def top_k(n: int, fraction: float = TOP_FRACTION) -> int:
    """k = fraction of n, rounded half up, at least 1."""
    return max(1, int(math.floor(fraction * n + 0.5)))


def top_membership(values: Sequence, k: int) -> np.ndarray:
    """Probability of each item being in the top k when ties at the cut are broken uniformly at random."""
    v = _values(values)
    n = len(v)
    if not 0 < k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    cut = np.sort(v)[::-1][k - 1]
    above = v > cut
    at = v == cut
    w = above.astype(np.float64)
    w[at] = (k - int(above.sum())) / int(at.sum())
    return w


def top_precision(scores: Sequence, accuracies: Sequence, fraction: float = TOP_FRACTION) -> float | None:
    """|top fraction by score & top fraction by accuracy| / k, ties at the cut shared (expected value).
    None when `fraction` of n is less than one model (n < TOP_MIN_MODELS at 10%): k would be clamped to 1
    and the number would be the hit rate of a single pick (1.0 for one model), not a top-10% precision."""
    n = len(scores)
    if n != len(accuracies):
        raise ValueError("scores and accuracies differ in length")
    if n == 0 or fraction * n < 1:
        return None
    k = top_k(n, fraction)
    overlap = float(np.dot(top_membership(scores, k), top_membership(accuracies, k)))
    return overlap / k


def metrics(scores: Sequence, accuracies: Sequence) -> dict:
    """{"kendall", "spearman", "top10_precision"} of one proxy (floats, None where undefined)."""
    p = top_precision(scores, accuracies)
    return {"kendall": kendall(scores, accuracies), "spearman": spearman(scores, accuracies),
            "top10_precision": None if p is None else float(p)}


def directed_metrics(proxy: str, scores: Sequence, accuracies: Sequence) -> dict:
    """metrics() for a proxy with its registered direction: a lower-is-better proxy (ntk_cond) is ranked
    on -score, so its nulls still rank last (worst) and its top 10 % are its lowest scores; its Kendall
    and Spearman keep the sign of the raw score (negative when it works, as TE-NAS reports it)."""
    from onnxscore.proxies import registry

    if registry.higher_is_better(proxy):  # also the params baseline and other metrics
        return metrics(scores, accuracies)
    out = metrics([None if v is None else -v for v in scores], accuracies)
    for k in ("kendall", "spearman"):
        out[k] = None if out[k] is None else -out[k]
    return out


# ============================================================================ inputs

@dataclass
class Item:
    """One model to evaluate: its rank-engine candidate, its accuracy and what is known about it."""

    candidate: Any  # onnxscore.engine.Candidate
    accuracy: float
    label: str
    dead: bool | None = None  # NAS-Bench-201 only
    params_hint: int | None = None  # closed-form count when the space has one


def sample_rows(total: int, n: int | None, seed: int) -> np.ndarray:
    """Row numbers default_rng(seed).choice(total, n, replace=False) (all rows in order when n is None)."""
    if n is None:
        return np.arange(total)
    if not 1 <= n <= total:
        raise InputError(f"--sample must be between 1 and {total} (rows available), got {n}")
    return np.random.default_rng(seed).choice(total, n, replace=False)


def nb201_items(dataset: str, sample: int | None, seed: int, build_seed: int = 0,
                table=None) -> tuple[list[Item], dict]:
    """NAS-Bench-201 rows default_rng(seed).choice(15625, sample) of nb201_accuracies.csv, with test accuracy."""
    return space_items("nb201", dataset, sample, seed, build_seed, table)


def space_items(space: str, dataset: str | None, sample: int | None, seed: int, build_seed: int = 0,
                table=None) -> tuple[list[Item], dict]:
    """Items of a space that carries a Benchmark (its accuracy table), for a seeded sample of its rows."""
    bench = benchmark_of(space, dataset)
    items, info = bench.items(sample, seed, build_seed, table)
    info.setdefault("benchmark", bench.title)
    note = bench.image_note()
    if note:
        info["image_note"] = note
    return items, info


def benchmark_of(space: str, dataset: str | None = None):
    """The Benchmark of a registered space (its ground truth), or an InputError naming the spaces that have one."""
    from onnxscore.spaces import get_space, space_names

    try:
        sp = get_space(space, **({"dataset": dataset} if dataset else {}))
    except TypeError as exc:
        raise InputError(f"--space {space} does not take --dataset {dataset} ({exc})") from None
    bench = getattr(sp, "benchmark", None)
    if bench is None:
        with_table = [n for n in space_names() if getattr(get_space(n), "benchmark", None) is not None]
        raise InputError(f"--space {space} has no accuracy table; spaces with one: {', '.join(with_table)}; "
                         "for other models pass a CSV of (model path, accuracy)")
    return bench


PATH_COLUMNS = ("model", "path", "model_path", "file", "onnx")
ACC_COLUMNS = ("accuracy", "acc", "test_accuracy", "top1", "score")


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except (TypeError, ValueError):
        return False


def read_accuracy_csv(path: str | os.PathLike) -> list[tuple[str, float]]:
    """(model path, accuracy) rows of a CSV: a header naming the columns (model/path, accuracy/acc) or two
    unnamed columns; relative paths are taken from the CSV's folder (or the working directory)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"accuracy CSV {p} does not exist; pass a CSV of (model path, accuracy) rows")
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc).strip()
        raise InputError(f"{p} is not a readable CSV ({why}); expected UTF-8 rows of (model path, accuracy)") from None
    if not rows:
        raise InputError(f"{p} is empty; expected rows of (model path, accuracy)")
    head = [c.strip().lower() for c in rows[0]]
    pi = ai = None
    if any(h in PATH_COLUMNS for h in head) and any(h in ACC_COLUMNS for h in head):
        pi = next(i for i, h in enumerate(head) if h in PATH_COLUMNS)
        ai = next(i for i, h in enumerate(head) if h in ACC_COLUMNS)
        body, first = rows[1:], 2
    elif len(rows[0]) >= 2 and _is_number(rows[0][1]):
        pi, ai, body, first = 0, 1, rows, 1
    elif len(rows[0]) >= 2 and not _is_number(rows[0][1]):
        pi, ai, body, first = 0, 1, rows[1:], 2  # an unknown header over two columns
    else:
        raise InputError(f"{p}: cannot find the model and accuracy columns; use a header 'model,accuracy'")
    out = []
    for lineno, r in enumerate(body, first):
        if len(r) <= max(pi, ai):
            raise InputError(f"{p} line {lineno}: expected a model path and an accuracy, got {r!r}")
        model, acc = r[pi].strip(), r[ai].strip()
        if not _is_number(acc) or not math.isfinite(float(acc)):
            raise InputError(f"{p} line {lineno}: accuracy {acc!r} is not a number")
        mp = Path(model).expanduser()
        if not mp.is_absolute():
            beside = p.parent / mp
            mp = beside if beside.exists() or not mp.exists() else mp
        if not mp.is_file():
            raise InputError(f"{p} line {lineno}: model file {model} not found "
                             f"(relative paths are taken from the CSV's folder {p.parent})")
        out.append((str(mp), float(acc)))
    if not out:
        raise InputError(f"{p} has a header but no rows")
    return out


def csv_items(path: str | os.PathLike, sample: int | None = None, seed: int = 0) -> tuple[list[Item], dict]:
    """Items of a (model path, accuracy) CSV, optionally a seeded sample of its rows."""
    from onnxscore.engine import file_candidates

    rows = read_accuracy_csv(path)
    items = []
    for r in sample_rows(len(rows), sample, seed):
        model, acc = rows[int(r)]
        items.append(Item(file_candidates([model])[0], acc, model))
    info = {"csv": str(path), "accuracy": "the CSV's accuracy column", "sample": len(items)}
    if sample is not None:
        info.update(sample_seed=seed, sample_rule=f"rows numpy.random.default_rng({seed}).choice({len(rows)}, "
                                                  f"{sample}, replace=False) of the CSV")
    return items, info


def image_labels(cache_dir: str | os.PathLike, batch_size: int = 128, seed: int = DEFAULT_BATCH_SEED,
                 images: str | os.PathLike | None = None) -> str:
    """Write the true labels of image_batch's rows to a .npy beside it (once); return its path."""
    from onnxscore.datasets import cifar10_labels

    y = cifar10_labels(images, batch_size=batch_size, seed=seed).astype(np.int64)
    digest = hashlib.sha256(y.tobytes()).hexdigest()[:12]
    return str(_cache_array(cache_dir, f"cifar10-labels-b{batch_size}-seed{seed}-{digest}.npy", y, "batch labels"))


def batch_cache_dir(store_path: str | os.PathLike) -> Path:
    """Where the image batches (and labels) of a store live: `batches/` beside it (a temporary folder for
    an in-memory store)."""
    if str(store_path) == ":memory:":
        return Path(tempfile.gettempdir()) / "onnxscore-batches" / "batches"
    return Path(store_path).resolve().parent / "batches"


def _cache_array(cache_dir: str | os.PathLike, name: str, arr: np.ndarray, what: str) -> Path:
    """`arr` as cache_dir/name (written once, atomically). The store keys a batch by its bytes, not its
    path, so beside a read-only store a temporary folder serves as well."""
    for d in (Path(cache_dir), Path(tempfile.gettempdir()) / "onnxscore-batches"):
        out = d / name
        if out.is_file():
            return out
        tmp = out.with_suffix(f".tmp{os.getpid()}.npy")
        try:
            d.mkdir(parents=True, exist_ok=True)
            np.save(tmp, arr)
            os.replace(tmp, out)
            return out
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
    raise InputError(f"cannot write the {what} beside the store ({cache_dir}) nor in the temporary "
                     "folder; pass --store in a writable folder")


def image_batch(cache_dir: str | os.PathLike, batch_size: int = 128, seed: int = DEFAULT_BATCH_SEED,
                size: int = 32, images: str | os.PathLike | None = None) -> tuple[str, str]:
    """Write the CIFAR-10 batch of docs/PROXIES.md to a .npy in cache_dir (once); return (path, description)."""
    from onnxscore.datasets import (CIFAR10_FILE, CIFAR10_MEAN, CIFAR10_STD, PROTOCOL_FILE, cifar10_batch,
                                    image_source)

    x = cifar10_batch(images, batch_size=batch_size, seed=seed, size=size)
    src = image_source(images)
    digest = hashlib.sha256(x.tobytes()).hexdigest()[:12]
    name = f"cifar10-b{batch_size}-seed{seed}-{size}px-{digest}.npy"
    out = _cache_array(cache_dir, name, x, "image batch")
    label = src.name if src.name in (CIFAR10_FILE, PROTOCOL_FILE.name) else src
    desc = (f"{label}: rows default_rng({seed}).choice(n, {max(batch_size, 128)}, replace=False)[:{batch_size}] "
            f"of {CIFAR10_FILE}, /255, normalised with CIFAR-10 mean {CIFAR10_MEAN} std {CIFAR10_STD}")
    if size == 16:
        desc += "; 2x2 average-pooled to 16x16 (CIFAR-10 images as ImageNet16-120 stand-ins)"
    return str(out), desc


# ============================================================================ result

@dataclass
class Evaluation:
    """Correlations of every proxy (and the params baseline) with accuracy, with the data behind them."""

    n: int
    dataset: str
    results: dict  # {proxy: {"kendall", "spearman", "top10_precision"}}
    settings: dict
    nulls: dict  # {proxy: number of null scores}
    dead: dict | None  # NAS-Bench-201: {"count", "included", "null": {proxy: k}}
    failed: int
    elapsed_s: float
    scored: int = 0
    cached: int = 0
    interrupted: bool = False
    total: int = 0  # models requested (n < total when interrupted)
    rows: list = field(default_factory=list)  # per model: label, accuracy, dead, params, scores, errors
    errors: list = field(default_factory=list)  # a few distinct failure messages

    @property
    def proxies(self) -> list[str]:
        return [p for p in self.results if p != BASELINE]

    def below_baseline(self) -> list[tuple[str, float, float]]:
        """(proxy, its Kendall, params Kendall) for every proxy below the parameter-count baseline.

        A lower-is-better proxy keeps its raw sign (negative when it works), so it is compared as -tau."""
        from onnxscore.proxies import registry

        base = (self.results.get(BASELINE) or {}).get("kendall")
        out = []
        for p in self.proxies:
            k = self.results[p].get("kendall")
            if base is None or k is None:
                continue
            if (k if registry.higher_is_better(p) else -k) < base:
                out.append((p, k, base))
        return out

    def notes(self) -> list[str]:
        """Plain statements of how nulls and dead architectures were handled, and baseline comparisons."""
        from onnxscore.proxies import registry

        lines = []
        if self.n < CORR_MIN_MODELS:
            lines.append(f"metrics: undefined (null) for {self.n} model(s): Kendall and Spearman need at least "
                         f"{CORR_MIN_MODELS}, top-10% precision at least {TOP_MIN_MODELS}.")
        elif self.n < TOP_MIN_MODELS:
            lines.append(f"top10%: undefined (null) for {self.n} models: 10% of them is less than one model "
                         f"(it needs at least {TOP_MIN_MODELS}).")
        nulls = {p: k for p, k in self.nulls.items() if k}
        lines.append("nulls: " + NULL_RULE + "; " + (", ".join(f"{p} {k}" for p, k in nulls.items())
                                                      if nulls else "none in this run") + ".")
        if self.dead is not None:
            d = self.dead
            how = ("included in the correlations" if d["included"]
                   else "excluded from the correlations (--exclude-dead)")
            null = {p: k for p, k in d["null"].items() if k}
            nl = ", ".join(f"{p} null for {k}" for p, k in null.items()) or "no null score among them"
            lines.append(f"dead architectures: {d['count']} of the sample (no path from cell input to output; "
                         f"accuracy at chance), scored without crashing and {how}; {nl}.")
        for p, k, base in self.below_baseline():
            signed = "" if registry.higher_is_better(p) else f", {-k:.3f} in its lower-is-better direction"
            lines.append(f"{p} falls below the parameter-count baseline on this sample "
                         f"(Kendall {k:.3f}{signed}; params {base:.3f}).")
        if self.failed:
            lines.append(f"{self.failed} model(s) failed to score (ranked last as nulls): "
                         + "; ".join(self.errors[:3]))
        return lines

    def to_dict(self) -> dict:
        """The --json object: n, dataset, results (params among them), settings, and the run's counts."""
        return {"n": self.n, "dataset": self.dataset, "results": self.results, "settings": self.settings,
                "nulls": self.nulls, "dead": self.dead, "failed": self.failed,
                "elapsed_s": round(self.elapsed_s, 1), "scored": self.scored, "cached": self.cached,
                "interrupted": self.interrupted, "total": self.total, "notes": self.notes()}

    def text(self) -> str:
        """Human-readable report: the metric table, notes and settings."""
        s = self.settings
        if s.get("benchmark"):
            head = (f"{s['benchmark']} {self.dataset}: {self.n} architectures (sample seed {s.get('sample_seed')}), "
                    f"{s.get('accuracy')}")
        else:
            head = f"{self.dataset}: {self.n} models, {s.get('accuracy')}"
        if self.interrupted:
            head += f"  [INTERRUPTED: {self.n} of {self.total} done]"
        lines = [head]
        if s.get("image_note"):
            lines.append(s["image_note"])
        width = max(len(p) for p in self.results) if self.results else 6
        lines.append(f"{'proxy'.ljust(width)}  kendall  spearman  top10%  null")
        for p, r in self.results.items():
            f = lambda v: "   -   " if v is None else f"{v:7.3f}"  # noqa: E731
            lines.append(f"{p.ljust(width)}  {f(r['kendall'])}  {f(r['spearman'])}   "
                         f"{f(r['top10_precision'])}  {self.nulls.get(p, 0):4d}" + ("  baseline" if p == BASELINE else ""))
        lines += self.notes()
        keys = ("batch_size", "sigma", "bn", "init", "activations", "noise_seed", "build_seed", "batch_seed",
                "provider", "onnxruntime", "onnxscore")
        lines.append("settings: " + " ".join(f"{k}={s[k]}" for k in keys if k in s))
        lines.append(f"data: {s.get('data')}")
        if self.interrupted:
            lines.append(f"time: {self.elapsed_s:.1f} s until interrupted ({self.n} of {self.total} finished, "
                         f"workers {s.get('workers')})")
        else:
            lines.append(f"time: {self.elapsed_s:.1f} s (scored {self.scored}, cached {self.cached}, "
                         f"workers {s.get('workers')})")
        return "\n".join(lines)


class EvaluationInterrupted(KeyboardInterrupt):
    """Ctrl-C during an evaluation; `.partial` is the Evaluation of what was finished."""

    def __init__(self, partial: Evaluation):
        super().__init__("interrupted")
        self.partial = partial


# ============================================================================ running

def _collect(items: Sequence[Item], store, settings, proxies: Sequence[str]) -> list[dict]:
    """Per item: scores, errors and params read back from the store (None when not done)."""
    from onnxscore.engine import EDGE_METRIC

    skey, ekey = settings.score_key(), settings.edge_key()
    out = []
    for it in items:
        stored = store.get_scores(it.candidate.key, skey, proxies)
        edge = store.get_metric(it.candidate.key, EDGE_METRIC, ekey) or {}
        params = (edge.get("value") or {}).get("params")
        if params is None:
            params = it.params_hint
        done = all(p in stored for p in proxies)
        scores = {p: (stored[p]["score"] if p in stored and stored[p]["status"] == "ok" else None) for p in proxies}
        errors = {p: stored[p]["error"] for p in proxies if p in stored and stored[p]["status"] != "ok"}
        out.append({"label": it.label, "accuracy": it.accuracy, "dead": it.dead, "params": params,
                    "scores": scores, "errors": errors, "done": done})
    return out


def _combine_ensembles(proxies: Sequence[str], rows: list[dict], use: list[dict]) -> None:
    """Each ensemble's value, relative to the rows the metrics use (the evaluated set); None elsewhere."""
    from onnxscore.proxies import ensemble, registry

    wanted = [p for p in proxies if registry.is_ensemble(p)]
    if not wanted:
        return
    for r in rows:
        for p in wanted:
            r["scores"].setdefault(p, None)
    ensemble.add_to_rows(wanted, use, get=lambda r, p: r["scores"].get(p),
                         put=lambda r, p, v: r["scores"].__setitem__(p, v))


def summarize(rows: list[dict], proxies: Sequence[str], dataset: str, settings: dict, *,
              exclude_dead: bool = False, elapsed_s: float = 0.0, scored: int = 0, cached: int = 0,
              interrupted: bool = False) -> Evaluation:
    """Metrics of every proxy and the params baseline over the finished rows."""
    total = len(rows)
    done = [r for r in rows if r["done"]]
    dead_rows = [r for r in done if r["dead"]]
    use = [r for r in done if not (exclude_dead and r["dead"])]
    _combine_ensembles(proxies, rows, use)
    acc = [r["accuracy"] for r in use]
    results, nulls = {}, {}
    for p in list(proxies) + [BASELINE]:
        vals = [r["params"] if p == BASELINE else r["scores"][p] for r in use]
        results[p] = directed_metrics(p, vals, acc) if use else {"kendall": None, "spearman": None,
                                                                 "top10_precision": None}
        nulls[p] = sum(v is None for v in vals)
    has_dead = any(r["dead"] is not None for r in rows)
    dead = None
    if has_dead:
        dead = {"count": len(dead_rows), "included": not exclude_dead,
                "null": {p: sum(r["scores"][p] is None for r in dead_rows) for p in proxies},
                "rule": DEAD_RULE}
    # failed: every proxy null with an error on a model that is not a dead NB201 cell (e.g. unloadable)
    failed_rows = [r for r in done if r["errors"] and not r["dead"]
                   and all(v is None for v in r["scores"].values())]
    msgs = []
    for r in failed_rows:
        e = next(iter(r["errors"].values()))
        if e not in {m.split(": ", 1)[-1] for m in msgs}:
            msgs.append(f"{r['label']}: {e}")
    return Evaluation(n=len(use), dataset=dataset, results=results, settings=settings, nulls=nulls, dead=dead,
                      failed=len(failed_rows), elapsed_s=elapsed_s, scored=scored, cached=cached,
                      interrupted=interrupted, total=total, rows=rows, errors=msgs)


def run(items: Sequence[Item], dataset: str, info: dict, *, proxies=DEFAULT_PROXIES, batch_size: int = 128,
        sigma: float = 1.0, bn: str = "batch", init: str = "keep", activations: str = "relu",
        provider: str | None = None, noise_seed: int = 0, data: str | os.PathLike | None = None,
        batch_seed: int = DEFAULT_BATCH_SEED, image_size: int = 32, images=None, input_name: str | None = None,
        input_shape=None, exclude_dead: bool = False, store=None, workers: int | None = None,
        threads: int = 1, progress: bool = True, timeout_s: float | None = DEFAULT_TIMEOUT_S,
        modules: Sequence[str] = (), mu: float | None = None, sigma_params: float | None = None,
        merged_sites: str = "once", max_memory=None, labels=None, grad_batch_size: int = 64) -> Evaluation:
    """Score `items` through the ranking engine (cached in `store`) and compare with their accuracies;
    timeout_s is the per-model time limit (0: none); modules: user modules (proxies) workers import.

    Raises EvaluationInterrupted (a KeyboardInterrupt) carrying the partial Evaluation on Ctrl-C.
    """
    from onnxscore.settings import ScoreSettings
    from onnxscore.proxies import registry
    from onnxscore.engine import RankSettings, rank
    from onnxscore.store import DEFAULT_STORE, ResultStore

    if not items:
        raise InputError("nothing to evaluate; pass a CSV of (model path, accuracy) or --space nb201 --sample N")
    asked = proxies.split(",") if isinstance(proxies, str) else list(proxies)
    if BASELINE in (str(p).strip().lower() for p in asked):
        raise InputError("'params' is the baseline and always reported; pass only proxies to --proxy")
    from onnxscore.engine.job import shown_proxies
    from onnxscore.proxies import ensemble

    asked_names = registry.parse(proxies)
    names = registry.computed(asked_names)  # what each model is scored with (an ensemble: its members)
    shown = shown_proxies(asked_names)
    ensembles = {e: ensemble.describe(e) for e in shown if registry.is_ensemble(e)}
    own = not isinstance(store, ResultStore)
    st = ResultStore(store or DEFAULT_STORE) if own else store
    try:
        if data is None:
            cache = batch_cache_dir(st.path)
            data, data_desc = image_batch(cache, batch_size, batch_seed, image_size, images)
            batch_info = {"batch_seed": batch_seed, "image_size": image_size}
            if labels is None and any(registry.is_gradient(n) for n in names):
                labels = image_labels(cache, batch_size, batch_seed, images)
        else:
            data_desc, batch_info = f"user data {data} (first {batch_size} rows)", {}
        scorer = {"batch_size": batch_size, "seed": noise_seed, "sigma": sigma, "data": str(data), "bn": bn,
                  "init": init, "provider": provider, "activations": activations, "input_name": input_name,
                  "input_shape": input_shape, "mu": mu, "sigma_params": sigma_params,
                  "merged_sites": None if merged_sites == "once" else merged_sites, "max_memory": max_memory,
                  "labels": None if labels is None else str(labels),
                  "grad_batch_size": None if grad_batch_size == 64 else grad_batch_size}
        rs = RankSettings(proxies=tuple(names), scorer=scorer, threads=threads, input_shape=input_shape,
                          modules=tuple(modules))
        ss = ScoreSettings.of(scorer).record()
        settings = {**info, "proxies": list(shown), "batch_size": batch_size, "sigma": sigma, "bn": bn,
                    "init": init, "activations": activations, "noise_seed": noise_seed, **batch_info,
                    "data": data_desc, "data_file": str(data), "provider": ss["provider"],
                    "onnxruntime": ss["onnxruntime"], "onnxscore": ss["onnxscore"], "workers": workers,
                    "threads": threads, "store": st.path, "exclude_dead": exclude_dead,
                    "null_rule": NULL_RULE, "metrics": METRIC_NOTES,
                    **({"labels": str(labels), "grad_batch_size": grad_batch_size} if labels is not None else {}),
                    **({"ensembles": ensembles} if ensembles else {})}
        t0 = time.perf_counter()
        try:
            res = rank([it.candidate for it in items], rs, store=st, workers=workers, progress=progress,
                       timeout_s=timeout_s, label="evaluate")
        except KeyboardInterrupt:
            rows = _collect(items, st, rs, names)
            part = summarize(rows, shown, dataset, settings, exclude_dead=exclude_dead,
                             elapsed_s=time.perf_counter() - t0, interrupted=True)
            raise EvaluationInterrupted(part) from None
        rows = _collect(items, st, rs, names)
        return summarize(rows, shown, dataset, settings, exclude_dead=exclude_dead,
                         elapsed_s=time.perf_counter() - t0, scored=res.scored, cached=res.cached)
    finally:
        if own:
            st.close()


def evaluate_space(space: str, dataset: str | None = None, sample: int | None = 300, seed: int = 2026, *,
                   build_seed: int = 0, table=None, **kw) -> Evaluation:
    """A space with a Benchmark: score a seeded sample of its accuracy table's rows and correlate."""
    bench = benchmark_of(space, dataset)
    items, info = space_items(space, dataset, sample, seed, build_seed, table)
    if hasattr(bench, "image_size"):
        kw.setdefault("image_size", bench.image_size())
    return run(items, info.get("dataset") or dataset or space, info, **kw)


def evaluate(csv_path: str | os.PathLike | None = None, *, space: str | None = None, dataset: str | None = None,
             sample: int | None = None, sample_seed: int | None = None, build_seed: int = 0,
             table: str | os.PathLike | dict | None = None,
             **kw) -> Evaluation:
    """How well each proxy ranks models by their real accuracy: a CSV of (model path, accuracy), or a
    space with a Benchmark (`space="nb201", dataset="cifar10"`). Keywords as for `run` (proxies,
    batch_size, noise_seed, store, workers, ...); sample_seed defaults to 2026 for a space, 0 for a CSV."""
    if (csv_path is None) == (space is None):
        raise InputError("evaluate needs either csv_path (a CSV of model path, accuracy) or space= (e.g. 'nb201')")
    if space is not None:
        seed = 2026 if sample_seed is None else sample_seed
        return evaluate_space(space, dataset, sample, seed, build_seed=build_seed, table=table, **kw)
    return evaluate_csv(csv_path, sample, 0 if sample_seed is None else sample_seed, dataset=dataset, **kw)


def evaluate_nb201(dataset: str = "cifar10", sample: int | None = 300, seed: int = 2026, *, build_seed: int = 0,
                   table=None, **kw) -> Evaluation:
    """NAS-Bench-201: score a seeded sample of the accuracy table's rows and correlate with test accuracy."""
    return evaluate_space("nb201", dataset, sample, seed, build_seed=build_seed, table=table, **kw)


def evaluate_csv(path: str | os.PathLike, sample: int | None = None, seed: int = 0, *,
                 dataset: str | None = None, **kw) -> Evaluation:
    """A CSV of (model path, accuracy): score every model (or a seeded sample) and correlate."""
    items, info = csv_items(path, sample, seed)
    return run(items, dataset or Path(path).stem, info, **kw)


# ============================================================================ plot

def plot(ev: Evaluation, path: str | os.PathLike, *, force: bool = True) -> str:
    """Score against accuracy, one panel per proxy plus params (matplotlib, the `plot` extra), written
    atomically; `force=False` refuses to replace an existing file."""
    from onnxscore.outputs import atomic_path

    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("matplotlib", "plot") from None
    panels = [*ev.proxies, BASELINE]
    cols = min(len(panels), 4)
    nrows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4 * cols, 3.5 * nrows), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    rows = [r for r in ev.rows if r["done"] and not (ev.dead and not ev.dead["included"] and r["dead"])]
    for ax, p in zip(axes, panels):
        pts = [(r["accuracy"], r["params"] if p == BASELINE else r["scores"][p], bool(r["dead"])) for r in rows]
        ok = [(a, s, d) for a, s, d in pts if s is not None]
        live = [(a, s) for a, s, d in ok if not d]
        dead = [(a, s) for a, s, d in ok if d]
        if live:
            ax.scatter(*zip(*live), s=6, alpha=0.6, label="architectures")
        if dead:
            ax.scatter(*zip(*dead), s=10, marker="x", color="tab:red", label="dead (no cell path)")
        r = ev.results[p]
        tau = "-" if r["kendall"] is None else f"{r['kendall']:.3f}"
        rho = "-" if r["spearman"] is None else f"{r['spearman']:.3f}"
        null = ev.nulls.get(p, 0)
        ax.set_title(f"{p}: tau {tau}, rho {rho}" + (f" ({null} null, not drawn)" if null else ""), fontsize=9)
        ax.set_xlabel(f"{ev.dataset} accuracy")
        ax.set_ylabel("parameter count" if p == BASELINE else f"{p} score")
        if dead:
            ax.legend(fontsize=7)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"{ev.dataset}: {ev.n} models", fontsize=10)
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, dpi=120)
    return str(path)


__all__ = ["kendall", "spearman", "top_precision", "top_membership", "top_k", "metrics", "read_accuracy_csv",
           "nb201_items", "space_items", "benchmark_of", "evaluate", "evaluate_space", "csv_items", "image_batch", "run", "evaluate_nb201", "evaluate_csv", "plot",
           "summarize", "Evaluation", "EvaluationInterrupted", "Item", "BASELINE"]
