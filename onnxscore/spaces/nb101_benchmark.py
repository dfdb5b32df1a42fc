"""NAS-Bench-101's ground truth as far as it is available here: NASLib's 500 CIFAR-10 cells
(nb101_zc_naslib.csv in the shared data folder, never shipped) with their validation accuracy, and the
CIFAR-10 protocol batch NAS-Bench-201 uses.

The CSV stores raw 7x7 matrices; after NAS-Bench-101's pruning many rows are the same network (55 are
input -> output only), each with its own accuracy draw. The table groups rows by the pruned cell's string
(one exact network each) and gives each network the mean of its rows' accuracies, so every network is
scored and ranked once. Not by NAS-Bench-101's isomorphism hash: isomorphic cells with different vertex
orders split channels differently (compute_vertex_channels gives the +1 channels to the lowest vertices),
so they are slightly different networks (NASLib's params differ too, e.g. 1,861,666 and 1,865,770 for one
hash); `accuracy` falls back to the hash for a cell the table does not hold."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from onnxscore.errors import InputError
from onnxscore.spaces.benchmark import Benchmark

CSV_NAME = "nb101_zc_naslib.csv"
WEIGHTS_NOTE = ("PyTorch-default initialisation (U(+-1/sqrt(fan_in)), BN scale 1 / shift 0) drawn with numpy "
                "from the build seed; NAS-Bench-101 itself trained from TF's variance-scaling initialisation")


def default_table_path() -> Path:
    """<shared data>/nb101_zc_naslib.csv; InputError naming where to put it when absent."""
    from onnxscore.datasets import DATA_ENV, shared_data_dir

    d = shared_data_dir()
    if d is None or not (d / CSV_NAME).is_file():
        where = f"{d}" if d is not None else f"${DATA_ENV} or the repository's ../shared/data"
        raise InputError(f"NAS-Bench-101 table {CSV_NAME} not found: put it in {where} "
                         f"(or set {DATA_ENV} to the folder holding it)")
    return d / CSV_NAME


def load_table(path: str | Path | None = None) -> dict:
    """{pruned cell string: {"encoding", "hash" (NAS-Bench-101 graph hash), "accuracy" (mean val_accuracy),
    "val_accuracies", "rows" (0-based CSV data rows), "params_m" (NASLib's count, millions)}} in order of each
    network's first row."""
    from onnxscore.spaces.nb101 import canonical, graph_hash

    p = default_table_path() if path is None else Path(path)
    if not p.is_file():
        raise InputError(f"NAS-Bench-101 table {p} does not exist; pass the path of {CSV_NAME}")
    table: dict = {}
    with p.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"adjacency", "ops", "val_accuracy"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(f"{p} lacks column(s) {', '.join(sorted(missing))}; is it {CSV_NAME}?")
        for i, raw in enumerate(reader):
            enc = canonical(f"{raw['adjacency']},{raw['ops']}")
            entry = table.setdefault(enc, {"encoding": enc, "hash": graph_hash(enc), "val_accuracies": [], "rows": [],
                                                       "params_m": float(raw["params"]) if raw.get("params") else None})
            entry["val_accuracies"].append(float(raw["val_accuracy"]))
            entry["rows"].append(i)
    for entry in table.values():
        entry["accuracy"] = sum(entry["val_accuracies"]) / len(entry["val_accuracies"])
    return table


class NB101Benchmark(Benchmark):
    """NAS-Bench-101 on CIFAR-10 (NASLib's 500-cell subset)."""

    title = "NAS-Bench-101"

    def __init__(self, space):
        self.space = space
        self.dataset = space.dataset

    def table(self, table: Any = None) -> dict:
        """The grouped table: `table` itself when it is one, else loaded from its path (None: the shared data)."""
        return table if isinstance(table, dict) else load_table(table)

    def items(self, sample: int | None, seed: int, build_seed: int = 0, table: Any = None) -> tuple[list, dict]:
        """Networks default_rng(seed).choice(N, sample) of the table's N distinct networks (all of them when
        sample is None), each with its mean validation accuracy."""
        from onnxscore.engine.candidates import space_candidate
        from onnxscore.evaluation import Item, sample_rows

        sp = self.space
        tab = self.table(table)
        entries = list(tab.values())
        items = []
        for r in sample_rows(len(entries), sample, seed):
            e = entries[int(r)]
            enc = sp.to_str(e["encoding"])
            cand = space_candidate("nb101", sp, {"dataset": self.dataset}, enc, build_seed)
            items.append(Item(cand, float(e["accuracy"]), f"{e['rows'][0]}:{enc}", params_hint=sp.params(enc)))
        n_rows = sum(len(e["rows"]) for e in entries)
        info = {"space": "nb101", "dataset": self.dataset,
                "accuracy": (f"NASLib's NAS-Bench-101 val_accuracy, mean over the rows of each network "
                             f"({n_rows} rows, {len(entries)} distinct pruned cells)"),
                "accuracy_table": str(table) if table is not None and not isinstance(table, dict)
                else str(default_table_path()) if table is None else "(given table)",
                "sample": sample if sample is not None else len(entries), "sample_seed": seed,
                "sample_rule": (f"networks numpy.random.default_rng({seed}).choice({len(entries)}, {sample}, "
                                f"replace=False) of {CSV_NAME}'s distinct networks (first-row order)")
                if sample is not None else "every distinct network",
                "build_seed": build_seed, "weights": WEIGHTS_NOTE}
        return items, info

    def accuracy(self, encoding: Any, table: Any = None) -> float | None:
        """Mean validation accuracy of the cell's rows; for a cell the table lacks, of the rows of the cells
        isomorphic to it (same NAS-Bench-101 hash); None when neither is among the 500 rows."""
        from onnxscore.errors import OnnxscoreError
        from onnxscore.spaces.nb101 import canonical, graph_hash

        try:
            tab = self.table(table)
            enc = canonical(encoding)
            if enc in tab:
                return float(tab[enc]["accuracy"])
            h = graph_hash(enc)
        except OnnxscoreError:
            return None
        accs = [a for e in tab.values() if e["hash"] == h for a in e["val_accuracies"]]
        return sum(accs) / len(accs) if accs else None

    def image_size(self) -> int:
        return 32

    def default_batch(self, cache_dir: Path, batch_size: int, batch_seed: int) -> tuple[str, str]:
        """The protocol's CIFAR-10 test images (the same .npy as NB201's and evaluate's)."""
        from onnxscore.evaluation import image_batch

        return image_batch(cache_dir, batch_size, batch_seed, self.image_size())


__all__ = ["NB101Benchmark", "load_table", "default_table_path", "CSV_NAME", "WEIGHTS_NOTE"]
