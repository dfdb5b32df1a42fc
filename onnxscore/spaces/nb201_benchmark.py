"""NAS-Bench-201's ground truth and protocol: the accuracy table (shipped, or ../shared/data), the
CIFAR-10 protocol batch (16x16 pooled stand-ins for ImageNet16-120), dead cells."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from onnxscore.spaces.benchmark import Benchmark

WEIGHTS_NOTE = ("PyTorch-default initialisation (kaiming_uniform a=sqrt(5), BN scale 1 / shift 0) drawn with "
                "numpy from the build seed; the PyTorch reference of docs/PROXIES.md used torch.manual_seed(0) "
                "per network: same distribution, different random stream")


class NB201Benchmark(Benchmark):
    """NAS-Bench-201 for one dataset (cifar10, cifar100, ImageNet16-120)."""

    title = "NAS-Bench-201"

    def __init__(self, space):
        self.space = space
        self.dataset = space.dataset

    def table(self, table: Any = None) -> dict:
        """The accuracy table: `table` itself when it is one, else loaded from its path (None: the default)."""
        from onnxscore.spaces.nb201 import load_accuracies

        return table if isinstance(table, dict) else load_accuracies(table)

    def items(self, sample: int | None, seed: int, build_seed: int = 0, table: Any = None) -> tuple[list, dict]:
        """Rows default_rng(seed).choice(15625, sample) of nb201_accuracies.csv, with test accuracy."""
        from onnxscore.engine.candidates import space_candidate
        from onnxscore.evaluation import Item, sample_rows
        from onnxscore.spaces.nb201 import ACCURACY_COLUMNS, is_dead

        ds, sp = self.dataset, self.space
        rows = list(self.table(table).values())
        items = []
        for r in sample_rows(len(rows), sample, seed):
            row = rows[int(r)]
            enc = sp.to_str(row["arch_str"])
            cand = space_candidate("nb201", sp, {"dataset": ds}, enc, build_seed)
            items.append(Item(cand, float(row[ds]), f"{row['arch_index']}:{enc}", dead=is_dead(enc),
                              params_hint=sp.params(enc)))
        info = {"space": "nb201", "dataset": ds,
                "accuracy": f"200-epoch test accuracy ({ACCURACY_COLUMNS[ds]})",
                "accuracy_table": self._table_label(table), "sample": sample if sample is not None else len(rows),
                "sample_seed": seed,
                "sample_rule": (f"rows numpy.random.default_rng({seed}).choice({len(rows)}, {sample}, "
                                "replace=False) of nb201_accuracies.csv") if sample is not None else "every row",
                "build_seed": build_seed, "weights": WEIGHTS_NOTE}
        return items, info

    @staticmethod
    def _table_label(table: Any) -> str:
        if table is not None and not isinstance(table, dict):
            return str(table)
        from onnxscore.datasets import DATA_ENV, shared_data_dir
        from onnxscore.spaces.nb201 import SHIPPED_TABLE

        if os.environ.get(DATA_ENV) and shared_data_dir() is not None:
            return str(shared_data_dir() / "nb201_accuracies.csv")
        return f"{SHIPPED_TABLE.name} (shipped with onnxscore: nb201_accuracies.csv's rows)"

    def accuracy(self, encoding: Any, table: Any = None) -> float | None:
        from onnxscore.errors import OnnxscoreError
        from onnxscore.spaces.nb201 import get_accuracy

        try:
            return get_accuracy(self.table(table), encoding, self.dataset)
        except (OnnxscoreError, KeyError):
            return None

    def image_size(self) -> int:
        from onnxscore.spaces.nb201 import DATASETS

        return DATASETS[self.dataset][0]

    def default_batch(self, cache_dir: Path, batch_size: int, batch_seed: int) -> tuple[str, str]:
        """The protocol's CIFAR-10 test images (evaluate's batch: same .npy, so the store is shared)."""
        from onnxscore.evaluation import image_batch

        return image_batch(cache_dir, batch_size, batch_seed, self.image_size())

    def image_note(self) -> str | None:
        if self.image_size() == 16:
            return "images: CIFAR-10 test images pooled to 16x16 as ImageNet16-120 stand-ins"
        return None


__all__ = ["NB201Benchmark", "WEIGHTS_NOTE"]
