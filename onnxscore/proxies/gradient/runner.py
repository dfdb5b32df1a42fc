"""onnxruntime sessions and runs of one plan, counted (the plan's point is to need few of them)."""
from __future__ import annotations

import numpy as np
import onnx

from onnxscore.graph.dead_nodes import drop_unused_nodes
from onnxscore.proxies.gradient.fast_weight_grads import speed_up_weight_grads
from onnxscore.runtime import make_session, run_outputs

CPU = ["CPUExecutionProvider"]


class Runner:
    """Creates sessions and runs them; `sessions` and `runs` count what was done."""

    def __init__(self, providers: list[str] | None = None):
        self.providers = list(providers or CPU)
        self.sessions = 0
        self.runs = 0

    def session(self, model: onnx.ModelProto, runs: int = 1, arena: bool = True):
        """A session for `model`, first pruned (in place) of nodes no output reads. `runs`: how often it
        will run. A graph run once gets none of onnxruntime's graph rewrites; one run more often gets
        them all and its weight-gradient Convs rewritten (in place) to the faster Slice/MatMul form.
        `arena=False`: no memory arena, so a large graph's buffers go back to the system after it."""
        drop_unused_nodes(model)
        if runs > 1:
            # for a graph run once the rewrite did not pay: on an NB201 net's four main graphs (B = 64)
            # the runs took 4.2 s with it and without, and opening the sessions 1.2 s more with it
            speed_up_weight_grads(model)
        self.sessions += 1
        # no rewrites for a graph run once: on the 10-proxy main graph of an NB201 net (17,400 nodes)
        # onnxruntime took 3.1 s to open it with its basic rewrites, 1.85 s with none, the run as fast
        return make_session(model.SerializeToString(), self.providers,
                            optimization="none" if runs == 1 else "all", arena=arena)

    def run(self, sess, names: list[str], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.runs += 1
        return dict(zip(names, run_outputs(sess, names, feeds)))
