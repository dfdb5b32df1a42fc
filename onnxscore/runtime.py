"""onnxruntime sessions and execution-provider choice (CUDA only when it really works)."""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # must precede the import (ECOSYSTEM.md §2)
import numpy as np
import onnxruntime as ort  # noqa: E402

from onnxscore.errors import ProviderError  # noqa: E402

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


def choose_providers(requested: str | None = None) -> list[str]:
    """Providers to ask onnxruntime for: the requested one, or CUDA when usable, else CPU."""
    available = ort.get_available_providers()
    if requested in (None, "auto"):
        if CUDA in available and cuda_driver_present():
            _preload_cuda_libs()
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


def make_session(model_bytes: bytes, providers: list[str], *, threads: int = 0,
                 external_dir: str | None = None, strict: bool = False,
                 arena: bool = True) -> ort.InferenceSession:
    """An InferenceSession from bytes; external data is read from `external_dir` (user's folder
    is never written). With `strict`, fail if the first requested provider was not used.
    `arena`: True uses the process-wide CPU arena (shared_cpu_arena) on the CPU provider, False none."""
    so = ort.SessionOptions()
    so.log_severity_level = 3
    # Priority-based order keeps each site's Greater next to its producer; measured: the forward
    # with every site exposed went from 1.27x to 1.06x of the plain forward (bench/overhead.py).
    so.execution_order = ort.ExecutionOrder.PRIORITY_BASED
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
    if providers[0] != CPU:
        ort.set_default_logger_severity(4)  # the CUDA fallback logs two error lines we report ourselves
    try:
        sess = ort.InferenceSession(model_bytes, sess_options=so, providers=providers)
    finally:
        ort.set_default_logger_severity(2)
    used = sess.get_providers()[0]
    if strict and used != providers[0]:
        raise ProviderError(
            f"{providers[0]} was requested but onnxruntime fell back to {used} (missing CUDA 13 / "
            "cuDNN 9 libraries or driver); install them with: pip install \"onnxscore[cuda]\""
        )
    return sess


def ort_version() -> str:
    return ort.__version__


def run_outputs(sess: ort.InferenceSession, names: list[str], feeds: dict) -> list:
    """session.run, but on the CPU provider the outputs are NumPy views of onnxruntime's own buffers
    (OrtValue.numpy() shares memory and keeps it alive) instead of copies: the site codes of an NB201
    net are ~150 MB of booleans per 2B pass. Other providers keep session.run (outputs may live on
    the device; session.run copies them to the host)."""
    if sess.get_providers()[0] != CPU:
        return sess.run(names, feeds)
    values = {k: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v)) for k, v in feeds.items()}
    return [v.numpy() for v in sess.run_with_ort_values(names, values)]
