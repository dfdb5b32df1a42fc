"""The ranking engine's public face: `rank(candidates, settings, store=...)` and what it takes and returns.

The engine lives in onnxscore.engine (candidates, settings, worker, executors, progress, results, job);
this module re-exports the names callers use, so `from onnxscore.rank import rank, RankSettings` works.
"""
from onnxscore.engine.candidates import (Candidate, file_candidates, file_key, find_onnx_files,
                                         space_candidate, space_candidates)
from onnxscore.engine.executors import (CRASH_ATTEMPTS, Executor, InlineExecutor, PoolExecutor, RayExecutor,
                                        default_workers, open_executor)
from onnxscore.engine.job import rank
from onnxscore.engine.progress import Progress
from onnxscore.engine.results import RankResult
from onnxscore.engine.settings import (EDGE_METRIC, EDGE_REVISION, LATENCY_GRAPH, LATENCY_METRIC, RankSettings,
                                       Task)
from onnxscore.engine.worker import _default_score, _edge_metrics, run_task

__all__ = ["Candidate", "file_candidates", "file_key", "find_onnx_files", "space_candidate", "space_candidates",
           "Executor", "InlineExecutor", "PoolExecutor", "RayExecutor", "open_executor", "default_workers",
           "CRASH_ATTEMPTS", "rank", "Progress", "RankResult", "RankSettings", "Task", "EDGE_METRIC",
           "EDGE_REVISION", "LATENCY_GRAPH", "LATENCY_METRIC", "run_task", "_default_score", "_edge_metrics"]
