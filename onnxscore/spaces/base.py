"""The SearchSpace interface: what a user implements to let onnxscore sample, build and count a space."""

from __future__ import annotations

import abc
from typing import Any, Iterator

import numpy as np


class SearchSpace(abc.ABC):
    """A family of architectures with a hashable encoding, an ONNX builder and closed-form cost counts.

    Subclasses set `name` and implement the abstract methods; `all()` is optional (finite spaces only).
    An encoding is any hashable value; `to_str`/`from_str` give its canonical text form.
    """

    name: str = ""
    benchmark = None  # a spaces.benchmark.Benchmark when the space carries ground truth (NB201)

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one encoding (uniformly over the space unless the subclass documents otherwise)."""

    @abc.abstractmethod
    def mutate(self, encoding: Any, rng: np.random.Generator) -> Any:
        """Return a copy of `encoding` with exactly one choice changed to a different value."""

    @abc.abstractmethod
    def build(self, encoding: Any, seed: int = 0):
        """Build the untrained network as an onnx.ModelProto with weights drawn from `seed`."""

    @abc.abstractmethod
    def params(self, encoding: Any) -> int:
        """Trainable parameter count (BN running statistics excluded)."""

    @abc.abstractmethod
    def macs(self, encoding: Any) -> int:
        """Multiply-accumulates of one sample's forward pass (conv + linear)."""

    @abc.abstractmethod
    def to_str(self, encoding: Any) -> str:
        """Canonical string of an encoding (round-trips through from_str)."""

    @abc.abstractmethod
    def from_str(self, s: str) -> Any:
        """Parse a string into an encoding; raises onnxscore.errors.InputError when invalid."""

    # Optional: features(encoding) -> 1-D numpy array, a fixed-length numeric encoding (one-hot choices) that
    # hybrid search's predictors learn from; without it they use the proxy scores alone.

    def all(self) -> Iterator[Any]:
        """Iterate over every encoding of a finite space (optional)."""
        raise NotImplementedError(f"search space {self.name!r} cannot be enumerated")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
