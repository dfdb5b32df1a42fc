"""The engine under rank, evaluate and search: candidates -> tasks -> an executor -> the store -> rows.

candidates.py  what to score (files, space members) and their cache keys
settings.py    RankSettings (what workers get), Task (one candidate's missing work), store keys
worker.py      run_task: build, measure, budget-check and score one candidate (never raises)
executors.py   in-process, supervised process pool, Ray: context managers a whole search can hold
progress.py    the progress line
results.py     ranked rows and their CSV / JSON / table / Pareto renderings
job.py         rank(): plan what the store lacks, run it, collect the rows

The names callers use are re-exported here: `from onnxscore.engine import rank, RankSettings`.
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
