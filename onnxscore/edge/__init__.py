"""Edge pre-screening: parameter-free cost metrics (MACs, peak activation memory, latency), budgets, Pareto fronts."""

from onnxscore.edge.macs import MacReport, count_macs
from onnxscore.edge.memory import MemoryReport, peak_activation_memory
from onnxscore.edge.pareto import Budget, pareto_front

__all__ = [
    "Budget",
    "MacReport",
    "MemoryReport",
    "count_macs",
    "measure_latency",
    "pareto_front",
    "peak_activation_memory",
]


def measure_latency(model, **kwargs) -> dict:
    """Median onnxruntime latency (see onnxscore.edge.latency.measure_latency); imported lazily."""
    from onnxscore.edge.latency import measure_latency as _m

    return _m(model, **kwargs)
