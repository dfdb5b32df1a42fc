"""Shared harness helpers: machine facts, fair baseline sessions, interleaved timing, phase breakdown.

Every benchmark in bench/ runs its contenders in one process on the same model, weights and batch,
interleaves them (so load spikes hit all of them) and reports medians and ratios, because absolute
times on a shared machine vary from run to run.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere imports onnxscore and bench.*
    sys.path.insert(0, str(ROOT))

from onnxscore import runtime  # noqa: E402
from onnxscore.graph.batchnorm import use_batch_statistics  # noqa: E402
from onnxscore.loaders import load_model  # noqa: E402
from onnxscore.proxies import registry  # noqa: E402
from onnxscore.inputs import noise_like  # noqa: E402

DEFAULT_THREADS = 2


# ----------------------------------------------------------------------------- machine and device

def device(requested: Optional[str] = None) -> dict:
    """Execution providers the harness uses (onnxscore.runtime.choose_providers) and a sentence saying so."""
    providers = runtime.choose_providers(requested)
    cuda = providers[0] == runtime.CUDA
    msg = ("ran with the CUDA execution provider (CUDAExecutionProvider, CPU fallback)" if cuda else
           "ran on CPU (CPUExecutionProvider): no usable CUDA device/driver found")
    return {"providers": providers, "label": "CUDA" if cuda else "CPU", "message": msg}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _mem_total_gib() -> Optional[float]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def load_average() -> List[float]:
    """1, 5 and 15 minute load averages (the machine is shared: record them next to every number)."""
    return [round(v, 2) for v in os.getloadavg()]


def machine(threads: int = DEFAULT_THREADS, dev: Optional[dict] = None) -> dict:
    """Date, machine, versions and load: what a reader needs to judge a number."""
    import onnxruntime

    info = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "mem_gib": _mem_total_gib(),
        "gpu": (dev or device())["label"] == "CUDA",
        "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__, "numpy": np.__version__, "threads": threads,
        "load_average_start": load_average(),
    }
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    from onnxscore import __version__

    info["onnxscore"] = __version__
    return info


def machine_line(info: dict) -> str:
    return (f"{info['date']}, {info['cores']}-core {info['cpu']}, {info['mem_gib']} GiB, "
            f"{'GPU' if info['gpu'] else 'no GPU'}, {info['threads']} threads, onnxruntime {info['onnxruntime']}, "
            f"load average at start {info['load_average_start']}")


def limit_blas_threads(n: int) -> list[str]:
    """Set the thread count of every OpenBLAS loaded in this process (NumPy's and SciPy's bundled copies),
    what threadpoolctl.threadpool_limits(n, "blas") does. Simulates a proposed core change; returns the
    libraries changed."""
    import ctypes

    import scipy.linalg.blas  # noqa: F401  (loads SciPy's OpenBLAS so it can be found)

    done = []
    libs = sorted({ln.split()[-1] for ln in Path("/proc/self/maps").read_text().splitlines()
                   if "openblas" in ln.lower() and ln.split()[-1].startswith("/")})
    for path in libs:
        lib = ctypes.CDLL(path)
        for sym in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                    "openblas_set_num_threads64_", "openblas_set_num_threads"):
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn(ctypes.c_int(n))
                done.append(f"{Path(path).name}:{sym}")
                break
    return done


# ----------------------------------------------------------------------------- sessions

def session(model, providers: Sequence[str], threads: int = DEFAULT_THREADS):
    """A plain InferenceSession: default options except the thread count (as onnxscore uses)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(data, sess_options=so, providers=list(providers))


@contextlib.contextmanager
def patched_session_options(priority_order: bool = False, arena: bool = True):
    """Make onnxscore open its sessions with ExecutionOrder.PRIORITY_BASED and/or without the CPU memory
    arena: simulates proposed core changes to onnxscore.runtime.make_session without editing it."""
    import types

    import onnxruntime as ort

    def options():
        so = ort.SessionOptions()
        if priority_order:
            so.execution_order = ort.ExecutionOrder.PRIORITY_BASED
        if not arena:
            so.enable_cpu_mem_arena = False
        return so

    proxy = types.ModuleType("onnxruntime_patched")
    proxy.__getattr__ = lambda name: getattr(ort, name)  # module-level __getattr__ (PEP 562)
    proxy.SessionOptions = options
    real = runtime.ort
    runtime.ort = proxy
    try:
        yield
    finally:
        runtime.ort = real


def batch_stats_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """The fair baseline: the unmodified model with only onnxscore's BN rewrite (batch statistics), in the
    form the scorer's forward passes run (scorer.BN_FORM)."""
    from onnxscore.scorer import BN_FORM

    work = onnx.ModelProto()
    work.CopyFrom(model)
    use_batch_statistics(work, form=BN_FORM)
    work.ir_version = min(work.ir_version, 10) if work.ir_version else 10
    return work


def input_name(model: onnx.ModelProto) -> str:
    inits = {t.name for t in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in inits)


def infer(sess, x: np.ndarray):
    """Plain inference: fetch the model's own outputs only."""
    return sess.run(None, {sess.get_inputs()[0].name: x})


def paired_batch(x: np.ndarray, seed: int = 0, sigma: float = 1.0) -> np.ndarray:
    """[X; X + E] exactly as onnxscore builds it for ePADS (noise from default_rng([seed, 1]))."""
    return np.concatenate([x, x + noise_like(x, sigma, seed)])


# ----------------------------------------------------------------------------- timing

def timed(fn: Callable) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(contenders: Dict[str, Callable], repeats: int = 3, warmup: int = 1) -> Dict[str, List[float]]:
    """Time each contender `repeats` times, round-robin with a rotating start, after `warmup` rounds."""
    names = list(contenders)
    for _ in range(warmup):
        for n in names:
            contenders[n]()
    out: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            out[n].append(timed(contenders[n]))
    return out


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def score_phases(scorer, model, proxies: Sequence[str]) -> dict:
    """Scorer's own steps with its phase clock on (Scorer.clock): load (checker), rewrite (graph passes +
    serialise), session (onnxruntime), input (batch + noise), forward_2B / forward_B (session.run),
    pack_2B / pack_B (bool -> bits), one proxy_<name> per proxy.
    Returns {"phases": {name: s}, "scores": {name: value}, "sites": n, "units": N_A, "packed_in_graph": bool}."""
    names = registry.parse(proxies)
    ph: Dict[str, float] = {}
    t = time.perf_counter()
    loaded = load_model(model)
    ph["load"] = time.perf_counter() - t
    scorer.clock = ph
    try:
        t = time.perf_counter()
        prep = scorer.prepare(loaded, names)
        ph["rewrite"] = time.perf_counter() - t - ph.get("session", 0.0)
        scores: dict = {}
        errors: dict = {}
        clean, paired = scorer._score_forward(prep, loaded.label, names, scores, errors)
    finally:
        scorer.clock = None
    scores.update({f"{n}_error": e for n, e in errors.items()})
    some = paired or clean
    return {"phases": ph, "scores": scores, "sites": len(some), "units": int(sum(c.units for c in some)),
            "packed_in_graph": prep.packed_units is not None,
            "code_mb": round(sum(c.rows * (-(-c.units // 8)) for c in some) / 2**20, 2)}


def median_phases(runs: List[dict]) -> Dict[str, float]:
    keys = sorted({k for r in runs for k in r})
    return {k: median([r.get(k, 0.0) for r in runs]) for k in keys}


# ----------------------------------------------------------------------------- architectures and data

def nb201_archs(n: int, seed: int = 2026) -> List[str]:
    """The first n of PROXIES.md's sample (default_rng(2026).choice(15625, ...) over the accuracy table);
    without the shared data, n archs drawn from the space with the same seed."""
    from onnxscore.spaces import nb201

    try:
        table = list(nb201.load_accuracies())
        rows = np.random.default_rng(seed).choice(len(table), 300, replace=False)[:n]
        return [table[i] for i in rows]
    except Exception:
        rng = np.random.default_rng(seed)
        return [nb201.NB201Space().sample(rng) for _ in range(n)]


def cifar_batch(b: int) -> np.ndarray:
    """The shared CIFAR-10 batch (PROXIES.md protocol); seeded normal noise images if the data is absent."""
    from onnxscore.datasets import cifar10_batch

    try:
        return cifar10_batch(batch_size=b)
    except Exception:
        return np.random.default_rng(2027).standard_normal((b, 3, 32, 32)).astype(np.float32)


# ----------------------------------------------------------------------------- memory and subprocesses

def vm_kb(field: str = "VmHWM") -> int:
    """This process's peak (VmHWM) or current (VmRSS) resident memory in KiB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_child(argv: Sequence[str], timeout: float = 1800) -> dict:
    """Run `python argv...` in a fresh process; return the JSON on its last stdout line plus its own
    peak RSS from os.wait4 (ru_maxrss of exactly this child, KiB on Linux) as `ru_maxrss_mb`."""
    import tempfile

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *argv], stdout=out, stderr=err, env=env, text=True)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(argv)} failed ({proc.returncode}): {stderr.strip()[-1500:]}")
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    res = json.loads(lines[-1])
    res["ru_maxrss_mb"] = round(usage.ru_maxrss / 1024, 1)
    res["child_wall_s"] = round(wall, 2)
    return res


# ----------------------------------------------------------------------------- output

def markdown_table(rows: List[dict], cols: Sequence[str], headers: Optional[Sequence[str]] = None) -> str:
    head = list(headers or cols)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def save(name: str, data: dict, markdown: Optional[str] = None, out_dir: Optional[Path] = None) -> Path:
    """bench/results/<name>.json (and .md): small outputs the README quotes."""
    d = Path(out_dir) if out_dir else RESULTS
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{name}.json"
    p.write_text(json.dumps(data, indent=2, default=float) + "\n")
    if markdown is not None:
        (d / f"{name}.md").write_text(markdown.rstrip() + "\n")
    return p


def command_line() -> str:
    """The command that produced a result, as a reader would type it from the repo root."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    return " ".join(["python", script, *sys.argv[1:]])
