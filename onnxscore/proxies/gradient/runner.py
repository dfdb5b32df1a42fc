"""onnxruntime sessions and runs of one plan, counted (the plan's point is to need few of them)."""
from __future__ import annotations

import numpy as np
import onnx

from onnxscore.proxies.gradient.fast_weight_grads import speed_up_weight_grads
from onnxscore.runtime import make_session, run_outputs

CPU = ["CPUExecutionProvider"]


class Runner:
    """Creates sessions and runs them; `sessions` and `runs` count what was done."""

    def __init__(self, providers: list[str] | None = None):
        self.providers = list(providers or CPU)
        self.sessions = 0
        self.runs = 0

    def session(self, model: onnx.ModelProto, fast_weight_grads: bool = True, runs: int = 1, arena: bool = True):
        """A session for `model`; its weight-gradient Convs rewritten first (in place) unless asked not to.
        `runs`: how often it will run; a graph run once gets only onnxruntime's basic rewrites.
        `arena=False`: no memory arena, so a large graph's buffers go back to the system after it."""
        if fast_weight_grads:
            speed_up_weight_grads(model)
        self.sessions += 1
        # basic rewrites only: the full set took 7.0 s instead of 4.2 s to open the main graph of an
        # NB201 net (21,600 nodes) and its run was no faster (4.9 s both)
        return make_session(model.SerializeToString(), self.providers, basic_optimizations=runs == 1,
                            arena=arena)

    def run(self, sess, names: list[str], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.runs += 1
        return dict(zip(names, run_outputs(sess, names, feeds)))
