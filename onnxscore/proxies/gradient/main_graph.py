"""A full-batch graph of a plan: the train-mode forward of X and the requested sections built on it
(CE gradients, fisher sites, HVP, jacov, ntk_trace, zico's halves), one session and one run."""
from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from onnxscore.graph.autodiff import AutodiffError
from onnxscore.proxies.gradient import registry as R
from onnxscore.proxies.gradient.base import Base, add_labels
from onnxscore.proxies.gradient.halves_graph import add_halves_section
from onnxscore.proxies.gradient.jacov_graph import add_jacov_section
from onnxscore.proxies.gradient.loss_graph import LossOutputs, add_loss_section
from onnxscore.proxies.gradient.ntk_trace_graph import add_ntk_trace_section
from onnxscore.proxies.gradient.weights import Layer

LOSS_NEEDS = frozenset({R.LOSS_GRAD_WEIGHTS, R.HVP, R.LAYER_ACTS_AND_GRADS})


@dataclass
class MainGraph:
    model: onnx.ModelProto
    labels: str | None
    loss: LossOutputs | None = None
    jacov: str | None = None
    ntk_trace: str | None = None
    halves: tuple[dict[str, str], dict[str, str]] | None = None
    failed: dict[str, str] = field(default_factory=dict)  # need -> reason

    def outputs(self) -> list[str]:
        names = []
        if self.loss:
            names += [*self.loss.grads.values(), *(n for n, _ in self.loss.fisher), *self.loss.hvp.values()]
        names += [n for n in (self.jacov, self.ntk_trace) if n]
        if self.halves:
            names += [*self.halves[0].values(), *self.halves[1].values()]
        return names


def _attempt(graph: MainGraph, needs: set[str], build) -> None:
    """Run `build(model_copy)`; keep the copy on success, else record why for `needs`."""
    trial = onnx.ModelProto()
    trial.CopyFrom(graph.model)
    try:
        result = build(trial)
    except AutodiffError as e:
        graph.failed.update({n: str(e) for n in needs})
        return None
    except (KeyError, TypeError, ValueError, onnx.checker.ValidationError) as e:  # shapes the pass cannot see
        graph.failed.update({n: f"cannot build the gradient graph: {type(e).__name__}: {e}" for n in needs})
        return None
    graph.model = trial
    return result


def build_main_graph(base: Base, layers: list[Layer], weights: list[str], needs: set[str], n: int,
                     have_labels: bool) -> MainGraph:
    m = onnx.ModelProto()
    m.CopyFrom(base.train)
    forward = list(m.graph.node)
    labels = add_labels(m, n, base.labels) if have_labels else None
    graph = MainGraph(m, labels)
    loss_needs = needs & LOSS_NEEDS
    if loss_needs:
        graph.loss = _attempt(graph, loss_needs, lambda t: add_loss_section(
            t, base.logits, labels, weights, layers, R.LAYER_ACTS_AND_GRADS in needs, R.HVP in needs))
    if R.INPUT_GRAD_OF_LOGIT_SUM in needs:
        graph.jacov = _attempt(graph, {R.INPUT_GRAD_OF_LOGIT_SUM},
                               lambda t: add_jacov_section(t, base.logits, base.data))
    if R.PER_SAMPLE_TRUE_LOGIT_GRADS in needs:
        graph.ntk_trace = _attempt(graph, {R.PER_SAMPLE_TRUE_LOGIT_GRADS},
                                   lambda t: add_ntk_trace_section(t, base.logits, labels, layers, n))
    if R.HALF_BATCH_GRADS in needs:
        graph.halves = _attempt(graph, {R.HALF_BATCH_GRADS}, lambda t: add_halves_section(
            t, forward, base.data, base.logits, labels, n, weights))
    del graph.model.graph.output[0]  # the logits: not needed
    return graph
