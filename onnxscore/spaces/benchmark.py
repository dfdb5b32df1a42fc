"""A Benchmark is what a search space may carry besides its architectures: trained accuracies (ground
truth), the image batch its networks are scored on by default, and which members are dead.

Generic code (evaluate, search, the CLI) asks `space.benchmark` instead of checking space names, so a
user's space with a table of trained accuracies gets `evaluate --space` and accuracy reports too."""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Any


class Benchmark(abc.ABC):
    """Ground truth and protocol of one space for one dataset."""

    title: str = ""  # e.g. "NAS-Bench-201", the heading of evaluate's report

    @abc.abstractmethod
    def items(self, sample: int | None, seed: int, build_seed: int = 0, table: Any = None) -> tuple[list, dict]:
        """(evaluate Items with their trained accuracy, info dict for the settings) for a seeded sample."""

    @abc.abstractmethod
    def table(self, table: Any = None) -> Any:
        """The ground-truth table (`table` itself when already loaded, else from its path; None: the default)."""

    @abc.abstractmethod
    def accuracy(self, encoding: Any, table: Any = None) -> float | None:
        """The trained (test) accuracy of one member, or None when the table does not have it."""

    def default_batch(self, cache_dir: Path, batch_size: int, batch_seed: int) -> tuple[str, str] | None:
        """(path of a .npy batch, description) the space's networks are scored on by default, or None for
        the seeded random-normal batch."""
        return None

    def image_note(self) -> str | None:
        """A line for evaluate's report about the images (e.g. stand-ins), or None."""
        return None


__all__ = ["Benchmark"]
