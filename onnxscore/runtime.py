"""onnxruntime sessions and execution-provider choice (CUDA only when it really works)."""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys
import threading

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # must precede the import (docs/ECOSYSTEM.md §2)
import numpy as np
import onnxruntime as ort  # noqa: E402

from onnxscore.errors import ProviderError, install_hint  # noqa: E402

ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "gpu": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def canonical(name: str) -> str:
    """'cuda' -> 'CUDAExecutionProvider'; full provider names pass through."""
    return ALIASES.get(name.lower(), name)


def cuda_driver_present() -> bool:
    """True when the NVIDIA driver library loads (onnxruntime-gpu lists CUDA even without one)."""
    lib = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(lib)
    except OSError:
        return False
    return True


def _preload_cuda_libs() -> None:
    """Let onnxruntime find pip-installed CUDA/cuDNN; it prints failures to stdout, so hide them."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            preload()
        except Exception:  # a failed preload only means CUDA will fall back; detected later
            pass


_CUDA_WORKS: bool | None = None  # None: not probed yet in this process


def cuda_session_works() -> bool:
    """True when a one-node session asked for CUDA really runs on it (onnxruntime falls back to the
    CPU, silently, when CUDA or cuDNN libraries are missing). Probed once per process, so that the
    provider an automatic choice records in a store key is the one the sessions use."""
    global _CUDA_WORKS
    if _CUDA_WORKS is None:
        from onnx import TensorProto, helper

        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        so = ort.SessionOptions()
        so.log_severity_level = 4  # the fallback warning is this probe's answer, not the user's problem
        try:
            sess = ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=[CUDA, CPU])
            _CUDA_WORKS = sess.get_providers()[0] == CUDA
        except Exception:
            _CUDA_WORKS = False
    return _CUDA_WORKS


def choose_providers(requested: str | None = None) -> list[str]:
    """Providers to ask onnxruntime for: the requested one, or CUDA when usable, else CPU."""
    available = ort.get_available_providers()
    if requested in (None, "auto"):
        if CUDA in available and cuda_driver_present():
            _preload_cuda_libs()
            if cuda_session_works():
                return [CUDA, CPU]
        return [CPU]
    name = canonical(requested)
    if name not in available:
        raise ProviderError(
            f"execution provider '{requested}' is not available in this onnxruntime build "
            f"(available: {', '.join(available)}); pick one of those or install the build that has it"
        )
    if name == CUDA:
        if not cuda_driver_present():
            raise ProviderError(
                "CUDA was requested but no NVIDIA driver (libcuda) is loadable here; "
                "use --provider cpu or run on a machine with a GPU driver"
            )
        _preload_cuda_libs()
    return [name] if name == CPU else [name, CPU]


DEBUG_ENV = "ONNXSCORE_DEBUG"  # set (to anything but "" or "0") by the CLI's --debug; inherited by workers
_LOGGING_SET = False


def ort_log_severity() -> int:
    """onnxruntime log level for onnxscore's sessions: 4 (fatal only) normally, because onnxscore
    turns every onnxruntime failure into an exception whose message it reports in one line, and the
    `[E:onnxruntime ...]` line would only repeat it ahead of that; 2 (warnings and errors) with
    ONNXSCORE_DEBUG set, to see what onnxruntime itself said."""
    return 2 if os.environ.get(DEBUG_ENV, "") not in ("", "0") else 4


def configure_ort_logging() -> None:
    """Set onnxruntime's process-wide default logger (which logs outside a session, e.g. a CUDA provider
    that fails to load) to ort_log_severity(), once per process: at the first session onnxscore makes,
    so importing onnxscore changes nothing and --debug, read from the environment then, is honoured."""
    global _LOGGING_SET
    if not _LOGGING_SET:
        ort.set_default_logger_severity(ort_log_severity())
        _LOGGING_SET = True


_SHARED_ARENA: bool | None = None  # None: not tried yet in this process


def shared_cpu_arena() -> bool:
    """Register one CPU arena in onnxruntime's environment (once per process) so every session
    onnxscore opens reuses the memory of the last one instead of page-faulting fresh buffers on its
    first run. Measured (bench/overhead.py, AMD EPYC host, NB201): a new session's first 2B forward
    went from 1.15x of a warm plain one to about 1x. False when this onnxruntime cannot do it."""
    global _SHARED_ARENA
    if _SHARED_ARENA is None:
        try:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                     ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))  # defaults
            _SHARED_ARENA = True
        except Exception:  # an older build without the API, or one registered already by the host
            _SHARED_ARENA = False
    return _SHARED_ARENA


OPTIMIZATION_LEVELS = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                       "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                       "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}


def make_session(model_bytes: bytes, providers: list[str], *, threads: int = 0,
                 external_dir: str | None = None, strict: bool = False,
                 arena: bool = True, optimization: str = "all") -> ort.InferenceSession:
    """An InferenceSession from bytes; external data is read from `external_dir` (user's folder
    is never written). With `strict`, fail if the first requested provider was not used.
    `arena`: True uses the process-wide CPU arena (shared_cpu_arena) on the CPU provider, False none.
    `optimization`: onnxruntime's graph rewrites, "all", "basic" or "none" (for graphs of ~10^4 nodes run
    once, such as gradient graphs, whose rewrites cost more at session start than they save in the run)."""
    configure_ort_logging()
    so = ort.SessionOptions()
    so.log_severity_level = ort_log_severity()
    # Priority-based order keeps each site's Greater next to its producer; measured: the forward
    # with every site exposed went from 1.27x to 1.06x of the plain forward (bench/overhead.py).
    so.execution_order = ort.ExecutionOrder.PRIORITY_BASED
    so.graph_optimization_level = OPTIMIZATION_LEVELS[optimization]
    if not arena:  # large models: the arena keeps peak buffers reserved (ResNet-50, B=64: 2.83 -> 2.40 GiB)
        so.enable_cpu_mem_arena = False
    elif providers[0] == CPU and shared_cpu_arena():
        so.add_session_config_entry("session.use_env_allocators", "1")
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    if external_dir:
        so.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", external_dir
        )
    sess = ort.InferenceSession(model_bytes, sess_options=so, providers=providers)
    used = sess.get_providers()[0]
    if strict and used != providers[0]:
        raise ProviderError(
            f"{providers[0]} was requested but onnxruntime fell back to {used} (missing CUDA 13 / "
            f"cuDNN 9 libraries or driver); install them with: {install_hint('cuda')}"
        )
    return sess


def ort_version() -> str:
    return ort.__version__


_RUN = threading.local()  # .options: the RunOptions of this thread's cancellable() block, if any


@contextlib.contextmanager
def cancellable():
    """Within the block, this thread's run_outputs calls can be stopped from another thread by
    calling the yielded function (RunOptions.terminate, which onnxruntime checks between nodes and
    Loop iterations): the in-process per-model time limit."""
    options = ort.RunOptions()
    options.log_severity_level = 4  # the stop is reported by the caller; onnxruntime would log it too
    _RUN.options = options
    try:
        yield lambda: setattr(options, "terminate", True)
    finally:
        _RUN.options = None


def run_outputs(sess: ort.InferenceSession, names: list[str], feeds: dict) -> list:
    """session.run, but on the CPU provider the outputs are NumPy views of onnxruntime's own buffers
    (OrtValue.numpy() shares memory and keeps it alive) instead of copies: the site codes of an NB201
    net are ~150 MB of booleans per 2B pass. Other providers keep session.run (outputs may live on
    the device; session.run copies them to the host)."""
    options = getattr(_RUN, "options", None)
    extra = () if options is None else (options,)  # RunOptions only inside cancellable()
    if sess.get_providers()[0] != CPU:
        return sess.run(names, feeds, *extra)
    values = {k: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v)) for k, v in feeds.items()}
    return [v.numpy() for v in sess.run_with_ort_values(names, values, *extra)]
