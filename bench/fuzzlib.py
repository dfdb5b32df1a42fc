"""Fuzz harness for onnxscore (issue 16): mutation fuzzing of ONNX models, single-op models from the
ONNX schemas, a bad-input / bad-option corpus and rank fault scenarios, all through the real CLI.

Every input runs `onnxscore ...` as a subprocess (own process group, a timeout, a 4 GiB address-space
limit and no core dumps) in its own folder, and its outcome is classified:

  ok         exit 0 and the output passes the oracles below
  clean      exit != 0, the last stderr line is `onnxscore: error: ...` / `onnxscore: interrupted`,
             no traceback anywhere
  failures   signal (killed by a signal / exit 128+n), hang (timeout), traceback, internal (the
             line says "internal error": a user error reported as a bug), wrong (a silent wrong
             result, a modified input or output file, an invalid input accepted), stray (stderr lines
             that are not onnxscore's, e.g. `[E:onnxruntime:...]`, Python warnings), bad-exit
             (exit != 0 without an `onnxscore: error:` line), orphan (processes left behind)

Oracles for silent wrong results: (a) every score is finite, or null with an error reason; (b) the
same input scored twice (second time after another model in the same process) gives identical
scores; (c) NASWOT is null when units + 2 < batch size (the kernel is singular); (d) `score` and
`rank` of a valid model agree; (e) input files (model, data, external data, CSV) are byte-identical
after every run; (f) no existing file is modified unless --force was given; (g) models that differ
only in tensor names (including names onnxscore uses internally) score identically.

This module imports only onnx/numpy (never onnxscore), so it keeps working while onnxscore is broken.
`bench/fuzz.py` is the command line; `tests/fuzz/test_fuzz_quick.py` runs a small fixed-seed campaign.
"""
from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import math
import os
import pickle
import random
import re
import resource
import shlex
import shutil
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
RESULTS = ROOT / "bench" / "results"
DEFAULT_WORKROOT = Path(tempfile.gettempdir()) / "onnxscore-fuzz"
MEM_LIMIT = 4 << 30          # address-space limit of every onnxscore subprocess (a 4 GiB machine)
TIMEOUT = 60.0               # seconds before a run counts as a hang
INTERNAL_NAMES = ["onnxscore_site_0", "onnxscore_site_1", "x__onnxscore_bn_mean", "x__onnxscore_bn_var",
                  "onnxscore_site_0__onnxscore_bn_mean"]
B = 8                         # batch size of the fuzz runs (ePADS runs 2B)
SCORE_OPTS = ["-b", str(B), "--proxy", "all", "--mu", "20", "--sigma-params", "100"]
KINDS = ["signal", "hang", "traceback", "internal", "wrong", "stray", "bad-exit", "orphan"]
KIND_TITLES = {"signal": "signal deaths", "hang": "hangs", "traceback": "tracebacks",
               "internal": "internal errors", "wrong": "silent wrong results", "stray": "stray log lines",
               "bad-exit": "exits without an error line", "orphan": "processes left behind"}


# ============================================================================ running onnxscore

def onnxscore_argv() -> list[str]:
    """The venv's `onnxscore` script (the real CLI), or `python -m onnxscore.cli.main` without one."""
    exe = Path(sys.executable).parent / "onnxscore"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "onnxscore.cli.main"]


def child_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONNXSCORE_TEST")}
    env.pop("PYTHONFAULTHANDLER", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
    return env


# Limits are set by a tiny exec shim, not a preexec_fn: Python code between fork and exec can deadlock
# when the parent has threads (pytest after torch or TensorFlow was imported).
# SIGINT goes back to a terminal's default: a campaign started in the background (`cmd &` in a script)
# inherits an ignored SIGINT, which would make every onnxscore it starts deaf to Ctrl-C.
_LIMIT_SHIM = ("import os, resource, signal, sys\n"
               "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
               "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
               "m = int(sys.argv[1])\n"
               "if m:\n    resource.setrlimit(resource.RLIMIT_AS, (m, m))\n"
               "os.execvp(sys.argv[2], sys.argv[2:])\n")


def _limited(argv: list[str], mem_limit: int | None) -> list[str]:
    """argv run under the campaign's resource limits (no core dumps, an address-space cap)."""
    return [sys.executable, "-c", _LIMIT_SHIM, str(int(mem_limit or 0)), *argv]


@dataclass
class Run:
    """One onnxscore subprocess: what ran and what came back."""

    args: list[str]
    cwd: str
    rc: int | None
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool = False
    orphans: list[str] = field(default_factory=list)
    note: str = ""
    prefix: str = ""   # shell prefix shown in the reproducer (env vars, setpriv, redirections)
    suffix: str = ""

    def cmd(self) -> str:
        """A command line to paste (from the case's folder)."""
        body = " ".join(shlex.quote(a) for a in ["onnxscore", *self.args])
        return f"cd {shlex.quote(self.cwd)} && {self.prefix}{body}{self.suffix}"


def group_members(pgid: int) -> list[tuple[int, str]]:
    """Live (non-zombie) processes of a process group, with their command lines."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            st = (p / "stat").read_text()
            rest = st[st.rindex(")") + 2:].split()
            if int(rest[2]) == pgid and rest[0] != "Z":
                cmdline = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                out.append((int(p.name), cmdline[:160]))
        except (OSError, ValueError, IndexError):
            continue
    return out


def kill_group(pgid: int, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_cli(args, cwd, *, env=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              mem_limit=MEM_LIMIT, wrap: list[str] | None = None) -> subprocess.Popen:
    """Start onnxscore in its own session (process group) with the resource limits."""
    argv = _limited([*(wrap or []), *onnxscore_argv(), *args], mem_limit)
    return subprocess.Popen(argv, cwd=str(cwd), env=child_env(env), stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=stderr, start_new_session=True)


def finish(proc: subprocess.Popen, args, cwd, t0, timeout, *, prefix="", suffix="") -> Run:
    """Wait for a started onnxscore (killing its group on timeout) and check for processes left behind."""
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid)
        out, err = proc.communicate()
    elapsed = time.perf_counter() - t0
    orphans = []
    members = group_members(proc.pid)
    if members and not timed_out:
        deadline = time.time() + 3.0   # give exiting workers a moment
        while members and time.time() < deadline:
            time.sleep(0.2)
            members = group_members(proc.pid)
        orphans = [f"pid {p}: {c}" for p, c in members]
    kill_group(proc.pid)
    dec = lambda b: (b or b"").decode("utf-8", errors="replace") if isinstance(b, (bytes, type(None))) else b
    return Run(list(args), str(cwd), None if timed_out else proc.returncode, dec(out), dec(err), elapsed,
               timed_out, orphans, prefix=prefix, suffix=suffix)


def run_cli(args, cwd, *, timeout=TIMEOUT, env=None, mem_limit=MEM_LIMIT, stdout_mode: str | None = None,
            wrap: list[str] | None = None, prefix: str = "") -> Run:
    """Run `onnxscore ARGS` in `cwd`; stdout_mode: None (captured), 'closed' (a pipe whose reader has
    gone, like `| head -c0`), or a path to redirect to (e.g. /dev/full)."""
    t0 = time.perf_counter()
    suffix = ""
    if stdout_mode == "closed":
        r, w = os.pipe()
        os.close(r)
        proc = start_cli(args, cwd, env=env, stdout=w, mem_limit=mem_limit, wrap=wrap)
        os.close(w)
        suffix = " | head -c0"
    elif stdout_mode:
        with open(stdout_mode, "wb") as f:
            proc = start_cli(args, cwd, env=env, stdout=f, mem_limit=mem_limit, wrap=wrap)
        suffix = f" > {stdout_mode}"
    else:
        proc = start_cli(args, cwd, env=env, mem_limit=mem_limit, wrap=wrap)
    envp = "".join(f"{k}={shlex.quote(v)} " if v is not None else f"env -u {k} " for k, v in (env or {}).items())
    wrapp = " ".join(shlex.quote(a) for a in (wrap or []))
    return finish(proc, args, cwd, t0, timeout, prefix=envp + (wrapp + " " if wrapp else "") + prefix,
                  suffix=suffix)


# ============================================================================ classification

PROGRESS = re.compile(
    r"^(rank|evaluate|search|score|convert)\b.*\[[#\-=. ]*\]|^search: \d+/\d+|^ranked \d+ candidate|"
    r"^(rank|evaluate|search|score)\s*[:\[]?\s*\d+/\d+")
FOREIGN = re.compile(
    r"onnxruntime|\[(E|W|I|V|F):|Fatal Python error|Segmentation fault|terminate called|what\(\):|"
    r"core dumped|Exception ignored|Warning:|warnings\.warn|^\s+File \"|double free|malloc\(\)|Aborted|"
    r"^E\d{4} |^W\d{4} |^I\d{4} |^\*\*\* ")


def stderr_lines(text: str) -> list[str]:
    """Non-empty stderr lines; carriage-return progress updates count as separate lines."""
    return [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]


def is_onnxscore_line(line: str) -> bool:
    return line.startswith("onnxscore:") or bool(PROGRESS.match(line))


def first_line(run: Run) -> str:
    """The first stderr line that is not a progress line (or a note on the exit when there is none)."""
    for ln in stderr_lines(run.stderr):
        if not PROGRESS.match(ln):
            return ln[:300]
    if run.timed_out:
        return f"(no stderr; killed after {run.elapsed:.0f} s)"
    return "(no stderr)"


def cause_line(run: Run) -> str:
    """The most telling stderr line: the error line, a traceback's last line, a native log line."""
    lines = stderr_lines(run.stderr)
    if "Traceback (most recent call last)" in run.stderr:
        idx = [i for i, ln in enumerate(lines) if ln.startswith("Traceback")]
        after = lines[idx[0] + 1:] if idx else lines
        exc = [ln for ln in after if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b", ln)]
        if exc:
            return exc[0][:300]
    for ln in lines:
        if ln.startswith(("onnxscore: error", "onnxscore: internal error")):
            return ln[:300]
    for ln in lines:
        if not is_onnxscore_line(ln):
            return ln[:300]
    return first_line(run)


def signal_name(rc: int) -> str:
    n = -rc if rc < 0 else rc - 128
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def classify(run: Run, expect: str = "either", interrupt_ok: bool = False, label: str = "") -> list[tuple[str, str]]:
    """Failures of one run: [(kind, detail)]; empty when the outcome is ok or a clean error.
    expect: 'error' (an invalid input: exit 0 is a wrong result), 'ok' (a valid input: an error is
    wrong), or 'either'."""
    fails: list[tuple[str, str]] = []
    pre = f"{label}: " if label else ""
    lines = stderr_lines(run.stderr)
    if run.timed_out:
        fails.append(("hang", f"{pre}no exit after {run.elapsed:.0f} s (killed)"))
    elif run.rc is not None and (run.rc < 0 or run.rc > 128) and not (interrupt_ok and run.rc in (130, -2)):
        fails.append(("signal", f"{pre}{signal_name(run.rc)} (exit {run.rc})"))
    if "Traceback (most recent call last)" in run.stderr or "Traceback (most recent call last)" in run.stdout:
        fails.append(("traceback", f"{pre}{cause_line(run)}"))
    internal = [ln for ln in lines if ln.startswith("onnxscore: internal error")]
    if internal:
        fails.append(("internal", f"{pre}{internal[0][:300]}"))
    stray = [ln for ln in lines if not is_onnxscore_line(ln)]
    if stray and "Traceback (most recent call last)" not in run.stderr:
        fails.append(("stray", f"{pre}{len(stray)} line(s), first: {stray[0][:200]}"))
    if run.orphans:
        fails.append(("orphan", f"{pre}{len(run.orphans)} process(es) still alive after exit: {run.orphans[0]}"))
    if run.rc not in (None, 0) and not any(k in ("signal", "hang") for k, _ in fails):
        last = lines[-1] if lines else ""
        good = last.startswith("onnxscore: error:") or (last.startswith("onnxscore: interrupted") and interrupt_ok) \
            or (last.startswith("onnxscore: interrupted") and run.rc == 130)
        if not good and not internal and not any(k == "traceback" for k, _ in fails):
            fails.append(("bad-exit", f"{pre}exit {run.rc}, last stderr line: {last[:200] or '(none)'}"))
    if run.rc == 0 and expect == "error":
        fails.append(("wrong", f"{pre}invalid input accepted (exit 0)"))
    if run.rc not in (None, 0) and expect == "ok" and not fails:
        fails.append(("wrong", f"{pre}valid input refused: {cause_line(run)}"))
    return fails


# ============================================================================ oracles

def parse_json_lines(text: str) -> list[dict] | None:
    objs = []
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln:
            continue
        try:
            o = json.loads(ln)
        except ValueError:
            return None
        if not isinstance(o, dict):
            return None
        objs.append(o)
    return objs


def _num_bad(v) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def check_score_object(o: dict, label: str = "") -> list[tuple[str, str]]:
    """Oracles (a) and (c) on one `score --json` object."""
    pre = f"{label}: " if label else ""
    fails = []
    scores = o.get("scores")
    errors = o.get("errors") or {}
    if not isinstance(scores, dict):
        return [("wrong", f"{pre}JSON object without a scores dict")]
    for p, v in scores.items():
        if v is None:
            if not errors.get(p):
                fails.append(("wrong", f"{pre}(a) {p} is null without an error reason"))
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            fails.append(("wrong", f"{pre}(a) {p} is not a number: {v!r}"))
        elif _num_bad(float(v)):
            fails.append(("wrong", f"{pre}(a) {p} = {v} (not finite)"))
    for k in ("sites", "units", "params"):
        v = o.get(k)
        if isinstance(v, float) and not math.isfinite(v):
            fails.append(("wrong", f"{pre}(a) {k} = {v}"))
    units = o.get("units")
    bs = (o.get("settings") or {}).get("batch_size")
    nas = scores.get("naswot")
    if isinstance(units, int) and isinstance(bs, int) and units + 2 < bs and isinstance(nas, (int, float)) \
            and not isinstance(nas, bool):
        fails.append(("wrong", f"{pre}(c) naswot = {nas} for units {units} + 2 < batch {bs}: the kernel is "
                               "singular, the score must be null"))
    return fails


def scores_differ(a: dict, b: dict, rel: float = 0.0) -> str | None:
    """None when two score dicts agree (null == null, numbers within rel), else a description."""
    diffs = []
    for p in sorted(set(a) | set(b)):
        x, y = a.get(p), b.get(p)
        if x is None and y is None:
            continue
        if (x is None) != (y is None):
            diffs.append(f"{p}: {x} vs {y}")
            continue
        x, y = float(x), float(y)
        if math.isnan(x) and math.isnan(y):
            continue
        if x == y:
            continue
        if rel and math.isfinite(x) and math.isfinite(y) and abs(x - y) <= rel * max(abs(x), abs(y), 1e-300):
            continue
        diffs.append(f"{p}: {x!r} vs {y!r}")
    return "; ".join(diffs) if diffs else None


# ---------------------------------------------------------------------------- files

def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def snapshot(d: Path, skip_dirs: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every regular file under d (symlinks, FIFOs, devices and mount points excluded)."""
    out = {}
    d = Path(d)
    for root, dirs, files in os.walk(d):
        rp = Path(root)
        dirs[:] = [x for x in dirs if not os.path.ismount(rp / x) and (rp / x).relative_to(d).as_posix() not in skip_dirs]
        for name in files:
            p = rp / name
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if st.st_size > (64 << 20):   # sparse giants: size + mtime stand in for the hash
                out[p.relative_to(d).as_posix()] = f"size={st.st_size} mtime={st.st_mtime_ns}"
                continue
            try:
                out[p.relative_to(d).as_posix()] = _sha(p)
            except OSError:
                out[p.relative_to(d).as_posix()] = "unreadable"
    return out


STORE_FILE = re.compile(r"(^|/)\.onnxscore/|\.sqlite(-wal|-shm|-journal)?$|\.db(-wal|-shm|-journal)?$|(^|/)batches/|"
                        r"onnxscore-batches/")


def diff_snapshot(before: dict, after: dict, may_change: Callable[[str], bool] = lambda p: False,
                  label: str = "") -> list[tuple[str, str]]:
    """Oracles (e)/(f): files that existed before and were modified or deleted (unless allowed)."""
    pre = f"{label}: " if label else ""
    fails = []
    for p, h in before.items():
        if may_change(p):
            continue
        if p not in after:
            fails.append(("wrong", f"{pre}(e/f) existing file deleted: {p}"))
        elif after[p] != h:
            fails.append(("wrong", f"{pre}(e/f) existing file modified: {p}"))
    return fails


# ============================================================================ mounts (read-only and full disks)

_MOUNTS: list[Path] = []


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def mount_tmpfs(path: Path, size: str = "300k") -> bool:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode == 0:
        _MOUNTS.append(path)
        return True
    return False


def remount(path: Path, mode: str) -> bool:
    return subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], capture_output=True).returncode == 0


def umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
    if path in _MOUNTS:
        _MOUNTS.remove(path)


def umount_all() -> None:
    for p in list(_MOUNTS):
        umount(p)


def umount_under(d: Path) -> None:
    for p in list(_MOUNTS):
        try:
            p.relative_to(d)
        except ValueError:
            continue
        umount(p)


def rmtree(d: Path) -> None:
    umount_under(Path(d))
    if Path(d).exists():
        for root, dirs, _ in os.walk(d):   # restore write permission left off by a case
            for x in dirs:
                try:
                    os.chmod(Path(root) / x, 0o755)
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)


# ============================================================================ store checks

def store_check(path: Path) -> tuple[str, int]:
    """(integrity_check result, number of distinct finished models) of a result store, read-only."""
    if not Path(path).exists():
        return "missing", 0
    try:
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            con.execute("SELECT 1 FROM sqlite_master").fetchall()
        except sqlite3.Error:   # WAL on a read-only filesystem: no -shm can be made
            con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, timeout=10)
        try:
            integ = con.execute("PRAGMA integrity_check").fetchone()[0]
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            n = 0
            if "scores" in tables:
                cols = [r[1] for r in con.execute("PRAGMA table_info(scores)")]
                key = "content_hash" if "content_hash" in cols else cols[0]
                n = con.execute(f"SELECT COUNT(DISTINCT {key}) FROM scores").fetchone()[0]
            elif tables:
                n = con.execute(f"SELECT COUNT(*) FROM {tables[0]}").fetchone()[0]
            return integ, n
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"error: {exc}", 0


def store_rows(path: Path) -> int:
    try:
        return store_check(path)[1]
    except Exception:  # noqa: BLE001
        return 0


# ============================================================================ seed models

@dataclass
class Seed:
    """A valid model to mutate: its files (the model, and external data if any) and the options it needs."""

    name: str
    files: dict[str, bytes]
    model: str = "m.onnx"
    args: list[str] = field(default_factory=list)
    group: str | None = None          # seeds of one group differ only in tensor names: equal scores
    note: str = ""

    def proto(self) -> onnx.ModelProto:
        return onnx.ModelProto.FromString(self.files[self.model])


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _w(rng, name, shape, scale=0.5):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def _mk(nodes, inputs, outputs, inits, opset=17, ir=10, functions=(), extra_opsets=()):
    g = helper.make_graph(nodes, "fuzz_seed", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), *extra_opsets],
                          functions=list(functions), producer_name="onnxscore-fuzz")
    m.ir_version = ir
    return m


def _seed(name, m, **kw) -> Seed:
    return Seed(name, {"m.onnx": m.SerializeToString()}, **kw)


def _conv_bn_net(rng, bn_out="b1", site2="r2", input_name="x", hw=8):
    c = 6
    inits = [_w(rng, "w1", (c, 3, 3, 3)), _w(rng, "w2", (c, c, 3, 3), 0.3),
             numpy_helper.from_array((1 + 0.1 * rng.standard_normal(c)).astype(np.float32), "scale"),
             numpy_helper.from_array((0.1 * rng.standard_normal(c)).astype(np.float32), "bias"),
             numpy_helper.from_array(np.zeros(c, np.float32), "mean"),
             numpy_helper.from_array(np.ones(c, np.float32), "var"),
             _w(rng, "wf", (c, 5)), _w(rng, "wo", (5, 3))]
    nodes = [helper.make_node("Conv", [input_name, "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "scale", "bias", "mean", "var"], [bn_out]),
             helper.make_node("Relu", [bn_out], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], [site2]),
             helper.make_node("GlobalAveragePool", [site2], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "wf"], ["h"]),
             helper.make_node("Relu", ["h"], ["r3"]),
             helper.make_node("MatMul", ["r3", "wo"], ["y"])]
    return _mk(nodes, [_vi(input_name, TensorProto.FLOAT, ["N", 3, hw, hw])], [_vi("y", TensorProto.FLOAT, ["N", 3])],
               inits)


def build_seeds() -> list[Seed]:
    """samples/*.onnx plus tiny helper-built models covering the awkward corners."""
    seeds = [Seed(p.stem, {"m.onnx": p.read_bytes()}) for p in sorted(SAMPLES.glob("*.onnx"))]
    rng = np.random.default_rng(16)
    F = TensorProto.FLOAT

    # an MLP with 3 units < batch - 2: NASWOT's kernel is singular, the score must be null
    m = _mk([helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2"], ["y"])],
            [_vi("x", F, ["N", 4])], [_vi("y", F, ["N", 2])],
            [_w(rng, "w1", (4, 3)), _w(rng, "b1", (3,)), _w(rng, "w2", (3, 2))])
    seeds.append(_seed("mlp_narrow", m, note="3 units < B-2: NASWOT must be null"))

    # a wider MLP (64 units > B)
    m = _mk([helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"]), helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("Gemm", ["r1", "w2", "b2"], ["h2"]), helper.make_node("Relu", ["h2"], ["r2"]),
             helper.make_node("Gemm", ["r2", "w3"], ["y"])],
            [_vi("x", F, ["N", 16])], [_vi("y", F, ["N", 4])],
            [_w(rng, "w1", (16, 32)), _w(rng, "b1", (32,)), _w(rng, "w2", (32, 32)), _w(rng, "b2", (32,)),
             _w(rng, "w3", (32, 4))])
    seeds.append(_seed("mlp_wide", m))

    # a Relu on a constant (no batch dimension) next to a normal site
    const = numpy_helper.from_array(rng.standard_normal((1, 8)).astype(np.float32), "cval")
    m = _mk([helper.make_node("Constant", [], ["c"], value=const), helper.make_node("Relu", ["c"], ["rc"]),
             helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["rc", "w2"], ["k"]), helper.make_node("Add", ["r", "k"], ["y"])],
            [_vi("x", F, ["N", 8])], [_vi("y", F, ["N", 16])], [_w(rng, "w", (8, 16)), _w(rng, "w2", (8, 16))])
    seeds.append(_seed("relu_const", m, note="Relu on a constant"))

    # several inputs: a float image, a float vector and an int64 index
    m = _mk([helper.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["rc"]),
             helper.make_node("GlobalAveragePool", ["rc"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["aux", "wa"], ["a"]), helper.make_node("Relu", ["a"], ["ra"]),
             helper.make_node("Add", ["f", "ra"], ["y"]),
             helper.make_node("Gather", ["wg", "idx"], ["gi"]), helper.make_node("Relu", ["gi"], ["y2"])],
            [_vi("x", F, ["N", 3, 8, 8]), _vi("aux", F, ["N", 4]), _vi("idx", TensorProto.INT64, ["N"])],
            [_vi("y", F, ["N", 6]), _vi("y2", F, ["N", 6])],
            [_w(rng, "wc", (6, 3, 3, 3)), _w(rng, "wa", (4, 6)), _w(rng, "wg", (5, 6))])
    seeds.append(_seed("multi_input", m, args=["--input", "x"], note="three inputs, --input x"))

    # model-local functions (inlined by onnxscore)
    fn = helper.make_function("fuzz.local", "Block", ["a", "w"], ["o"],
                              [helper.make_node("MatMul", ["a", "w"], ["t"]), helper.make_node("Relu", ["t"], ["o"])],
                              [helper.make_opsetid("", 17)])
    m = _mk([helper.make_node("Block", ["x", "w1"], ["h1"], domain="fuzz.local"),
             helper.make_node("Block", ["h1", "w2"], ["h2"], domain="fuzz.local"),
             helper.make_node("MatMul", ["h2", "w3"], ["y"])],
            [_vi("x", F, ["N", 8])], [_vi("y", F, ["N", 3])],
            [_w(rng, "w1", (8, 12)), _w(rng, "w2", (12, 12)), _w(rng, "w3", (12, 3))],
            functions=[fn], extra_opsets=[helper.make_opsetid("fuzz.local", 1)])
    seeds.append(_seed("local_function", m))

    # external data: the weights live in weights.bin beside the model
    m = _conv_bn_net(np.random.default_rng(3))
    with tempfile.TemporaryDirectory() as td:
        p = Path(td) / "m.onnx"
        onnx.save_model(m, str(p), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=0)
        files = {"m.onnx": p.read_bytes(), "weights.bin": (Path(td) / "weights.bin").read_bytes()}
    seeds.append(Seed("external_data", files, note="weights in weights.bin"))

    # tensor names that onnxscore uses internally, and the same model with plain names: equal scores
    seeds.append(_seed("bn_plain", _conv_bn_net(np.random.default_rng(5), bn_out="b1", site2="r2"), group="bn"))
    m = _conv_bn_net(np.random.default_rng(5), bn_out="x", site2="onnxscore_site_0", input_name="x__onnxscore_bn_mean")
    seeds.append(_seed("bn_internal_names", m, group="bn",
                       note="tensors named x, onnxscore_site_0, x__onnxscore_bn_mean"))

    # an If whose branch holds a Relu (not usable as a site: warned)
    then_g = helper.make_graph([helper.make_node("Relu", ["h"], ["t"])], "then", [], [_vi("t", F, ["N", 8])])
    else_g = helper.make_graph([helper.make_node("Neg", ["h"], ["e"])], "else", [], [_vi("e", F, ["N", 8])])
    m = _mk([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
            [_vi("x", F, ["N", 4])], [_vi("y", F, ["N", 8]), _vi("r", F, ["N", 8])],
            [_w(rng, "w", (4, 8)), numpy_helper.from_array(np.array(True), "cond")])
    seeds.append(_seed("if_subgraph", m))

    # ReLU6 as Clip with attribute bounds (opset 10), LeakyRelu, PRelu, Gelu (extended)
    m = _mk([helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Clip", ["h"], ["r"], min=0.0, max=6.0),
             helper.make_node("MatMul", ["r", "w2"], ["h2"]), helper.make_node("LeakyRelu", ["h2"], ["l"], alpha=0.1),
             helper.make_node("PRelu", ["l", "slope"], ["p"]), helper.make_node("MatMul", ["p", "w3"], ["y"])],
            [_vi("x", F, ["N", 6])], [_vi("y", F, ["N", 3])],
            [_w(rng, "w1", (6, 16)), _w(rng, "w2", (16, 16)),
             numpy_helper.from_array(np.full(16, 0.25, np.float32), "slope"), _w(rng, "w3", (16, 3))],
            opset=10, ir=5)
    seeds.append(_seed("relu6_opset10", m))

    # symbolic spatial sizes: needs --input-shape
    m = _mk([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]), helper.make_node("Flatten", ["g"], ["y"])],
            [_vi("x", F, ["N", 3, "H", "W"])], [_vi("y", F, ["N", 4])], [_w(rng, "w", (4, 3, 3, 3))])
    seeds.append(_seed("symbolic_hw", m, args=["--input-shape", "3,8,8"]))
    return seeds


# ---------------------------------------------------------------------------- models for fault scenarios

def crasher_model() -> onnx.ModelProto:
    """GatherND with batch_dims = -5: onnx 1.23's shape inference dereferences out of bounds (SIGSEGV)."""
    idx = numpy_helper.from_array(np.zeros((1, 1), np.int64), "idx")
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"]),
                           helper.make_node("GatherND", ["x", "idx"], ["g"], batch_dims=-5)], "crash",
                          [_vi("x", TensorProto.FLOAT, ["N", 3, 4])],
                          [_vi("y", TensorProto.FLOAT, ["N", 3, 4]), _vi("g", TensorProto.FLOAT, [1])], [idx])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def hang_model() -> onnx.ModelProto:
    """A Loop of 10**15 iterations next to a Relu: onnxruntime runs it 'forever'."""
    F = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["v", "one"], ["v_out"])], "body",
        [_vi("it", TensorProto.INT64, []), _vi("c", TensorProto.BOOL, []), _vi("v", F, [1])],
        [_vi("c_out", TensorProto.BOOL, []), _vi("v_out", F, [1])],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    inits = [numpy_helper.from_array(np.array(10 ** 15, np.int64), "M"), numpy_helper.from_array(np.array(True), "cond"),
             numpy_helper.from_array(np.zeros(1, np.float32), "v0")]
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Loop", ["M", "cond", "v0"],
                                                                                   ["vfinal"], body=body)],
                          "hang", [_vi("x", F, ["N", 4])], [_vi("y", F, ["N", 4]), _vi("vfinal", F, [1])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def variant(data: bytes, i: int) -> bytes:
    """The same model with a different content hash (a metadata entry): same scores, a distinct candidate."""
    m = onnx.ModelProto.FromString(data)
    helper.set_model_props(m, {"fuzz.variant": str(i)})
    return m.SerializeToString()


def slow_model(width: int = 32, hw: int = 64) -> onnx.ModelProto:
    """A plain Conv/BN/Relu net large enough that ranking a dozen copies takes several seconds
    (about 1 s per model at -b 64 on one core)."""
    rng = np.random.default_rng(7)
    nodes, inits, prev, cin = [], [], "x", 3
    for i in range(4):
        inits += [_w(rng, f"w{i}", (width, cin, 3, 3), 0.3),
                  numpy_helper.from_array(np.ones(width, np.float32), f"s{i}"),
                  numpy_helper.from_array(np.zeros(width, np.float32), f"b{i}"),
                  numpy_helper.from_array(np.zeros(width, np.float32), f"m{i}"),
                  numpy_helper.from_array(np.ones(width, np.float32), f"v{i}")]
        nodes += [helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("BatchNormalization", [f"c{i}", f"s{i}", f"b{i}", f"m{i}", f"v{i}"], [f"n{i}"]),
                  helper.make_node("Relu", [f"n{i}"], [f"r{i}"])]
        prev, cin = f"r{i}", width
    inits.append(_w(rng, "wf", (width, 10)))
    nodes += [helper.make_node("GlobalAveragePool", [prev], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
              helper.make_node("MatMul", ["f", "wf"], ["y"])]
    return _mk(nodes, [_vi("x", TensorProto.FLOAT, ["N", 3, hw, hw])], [_vi("y", TensorProto.FLOAT, ["N", 10])], inits)


# ============================================================================ mutators

BIG_INTS = [0, -1, -5, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 62, 10 ** 9, 3]
ODD_FLOATS = [float("nan"), float("inf"), float("-inf"), -1e30, 1e30, 0.0, -1.0, 5e-324]


def _value_infos(g):
    return [*g.input, *g.output, *g.value_info]


def _tensor_vis(m):
    return [vi for vi in _value_infos(m.graph) if vi.type.HasField("tensor_type")]


def _all_names(m) -> list[str]:
    names = []
    for n in m.graph.node:
        names += [x for x in (*n.input, *n.output) if x]
    names += [vi.name for vi in _value_infos(m.graph)] + [t.name for t in m.graph.initializer]
    return sorted(set(names))


def rename_everywhere(m, old: str, new: str) -> None:
    """Rename one tensor consistently (nodes, graph inputs/outputs, value_info, initializers, subgraphs)."""
    def fix_graph(g):
        for n in g.node:
            for i, x in enumerate(n.input):
                if x == old:
                    n.input[i] = new
            for i, x in enumerate(n.output):
                if x == old:
                    n.output[i] = new
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    fix_graph(a.g)
                for sg in a.graphs:
                    fix_graph(sg)
        for vi in _value_infos(g):
            if vi.name == old:
                vi.name = new
        for t in g.initializer:
            if t.name == old:
                t.name = new
    fix_graph(m.graph)


# Each proto mutator takes (model, rng) and returns a description, or None when it does not apply.
# Mutators marked EQUIVALENT keep the model's meaning: its scores must equal the seed's (oracle g).

def mut_dim(m, r):
    vis = [vi for vi in _tensor_vis(m) if vi.type.tensor_type.HasField("shape") and vi.type.tensor_type.shape.dim]
    if not vis:
        return None
    vi = r.choice(vis)
    dims = vi.type.tensor_type.shape.dim
    i = r.randrange(len(dims))
    v = r.choice(BIG_INTS + [10 ** 6, "sym", "empty", "clear"])
    d = dims[i]
    if v == "sym":
        d.Clear(); d.dim_param = r.choice(["Q", "batch", "N", "unk__0"])
    elif v == "empty":
        d.Clear(); d.dim_param = ""
    elif v == "clear":
        d.Clear()
    else:
        d.Clear(); d.dim_value = v
    return f"dim {i} of '{vi.name}' -> {v}"


def mut_rank(m, r):
    vis = [vi for vi in _tensor_vis(m) if vi.type.tensor_type.HasField("shape")]
    if not vis:
        return None
    vi = r.choice(vis)
    sh = vi.type.tensor_type.shape
    op = r.choice(["add", "drop", "clear_shape"])
    if op == "add":
        sh.dim.add().dim_value = r.choice([1, 3])
    elif op == "drop" and sh.dim:
        del sh.dim[-1]
    else:
        vi.type.tensor_type.ClearField("shape")
    return f"shape of '{vi.name}': {op}"


def mut_elem_type(m, r):
    vis = _tensor_vis(m)
    if not vis:
        return None
    vi = r.choice(vis)
    t = r.choice(list(range(0, 22)) + [99, 1000])
    vi.type.tensor_type.elem_type = t
    return f"elem_type of '{vi.name}' -> {t}"


def mut_type_kind(m, r):
    vi = r.choice(list(m.graph.input) + list(m.graph.output))
    kind = r.choice(["sequence", "optional", "map", "none"])
    inner = copy.deepcopy(vi.type)
    vi.type.Clear()
    if kind == "sequence":
        vi.type.sequence_type.elem_type.CopyFrom(inner)
    elif kind == "optional":
        vi.type.optional_type.elem_type.CopyFrom(inner)
    elif kind == "map":
        vi.type.map_type.key_type = TensorProto.INT64
        vi.type.map_type.value_type.CopyFrom(inner)
    return f"type of '{vi.name}' -> {kind}"


def _attrs(m):
    out = []
    def walk(g):
        for n in g.node:
            for a in n.attribute:
                out.append((n, a))
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
    walk(m.graph)
    for f in m.functions:
        for n in f.node:
            for a in n.attribute:
                out.append((n, a))
    return out


def mut_attr_value(m, r):
    attrs = _attrs(m)
    if not attrs:
        return None
    n, a = r.choice(attrs)
    if a.type == onnx.AttributeProto.INT:
        a.i = r.choice(BIG_INTS); v = a.i
    elif a.type == onnx.AttributeProto.INTS:
        vals = list(a.ints) or [1]
        op = r.choice(["elem", "drop", "dup", "empty"])
        if op == "elem":
            vals[r.randrange(len(vals))] = r.choice(BIG_INTS)
        elif op == "drop":
            vals = vals[:-1]
        elif op == "dup":
            vals = vals + vals
        else:
            vals = []
        del a.ints[:]; a.ints.extend(vals); v = vals
    elif a.type == onnx.AttributeProto.FLOAT:
        a.f = r.choice(ODD_FLOATS); v = a.f
    elif a.type == onnx.AttributeProto.STRING:
        a.s = r.choice([b"", b"\xff\xfe", b"bogus", b"A" * 1000]); v = a.s[:10]
    elif a.type == onnx.AttributeProto.TENSOR:
        a.t.dims[:] = [r.choice([0, 2, 10 ** 6])]; v = list(a.t.dims)
    else:
        return None
    return f"attribute {n.op_type}.{a.name} -> {v!r}"


def mut_attr_type(m, r):
    attrs = _attrs(m)
    if not attrs:
        return None
    n, a = r.choice(attrs)
    t = r.choice([t for t in range(0, 15) if t != a.type])
    a.type = t
    return f"attribute {n.op_type}.{a.name} type -> {onnx.AttributeProto.AttributeType.Name(t) if t in onnx.AttributeProto.AttributeType.values() else t}"


def mut_attr_add_remove(m, r):
    nodes = list(m.graph.node)
    n = r.choice(nodes)
    op = r.choice(["remove", "bogus", "dup", "batch_dims"])
    if op == "remove" and n.attribute:
        del n.attribute[r.randrange(len(n.attribute))]
    elif op == "dup" and n.attribute:
        n.attribute.append(copy.deepcopy(n.attribute[0]))
    elif op == "batch_dims":
        n.attribute.append(helper.make_attribute(r.choice(["axis", "batch_dims", "group", "keepdims"]), r.choice(BIG_INTS)))
    else:
        n.attribute.append(helper.make_attribute("bogus_attr", r.choice([1, 1.5, "s", [1, 2]])))
    return f"node {n.op_type}: attribute {op}"


def _op_names():
    try:
        return sorted({s.name for s in onnx.defs.get_all_schemas() if s.domain == ""})
    except Exception:  # noqa: BLE001
        return ["Relu", "Conv", "Add"]


OP_NAMES = _op_names()


def mut_op_type(m, r):
    n = r.choice(list(m.graph.node))
    old = n.op_type
    n.op_type = r.choice(OP_NAMES + ["FooBar", "", "relu", "Relu ", "GatherND", "Loop"])
    return f"node {old} -> op_type {n.op_type!r}"


def mut_domain(m, r):
    n = r.choice(list(m.graph.node))
    n.domain = r.choice(["com.microsoft", "ai.onnx.ml", "bogus.domain", "fuzz.local", "ai.onnx", "com.microsoft.nchwc"])
    return f"node {n.op_type}: domain -> {n.domain}"


def mut_dangling(m, r):
    nodes = [n for n in m.graph.node if n.input]
    if not nodes:
        return None
    n = r.choice(nodes)
    i = r.randrange(len(n.input))
    n.input[i] = r.choice(["nonexistent_tensor", "", n.output[0] if n.output else "zz"])
    return f"node {n.op_type}: input {i} -> {n.input[i]!r} (dangling/empty/self)"


def mut_dup_output(m, r):
    if len(m.graph.node) < 2:
        return None
    a, b = r.sample(list(m.graph.node), 2)
    if not a.output or not b.output:
        return None
    b.output[0] = a.output[0]
    return f"nodes {a.op_type} and {b.op_type} write the same tensor {a.output[0]!r}"


def mut_internal_name(m, r):
    """EQUIVALENT: rename one tensor (everywhere) to a name onnxscore uses internally."""
    names = [x for x in _all_names(m) if x not in {vi.name for vi in m.graph.input}] or _all_names(m)
    old = r.choice(names)
    new = r.choice(INTERNAL_NAMES)
    if new in _all_names(m):
        return None
    rename_everywhere(m, old, new)
    return f"rename {old!r} -> {new!r} everywhere"


def mut_internal_output(m, r):
    """EQUIVALENT: expose an existing tensor as an extra graph output named like an onnxscore tensor."""
    names = [n.output[0] for n in m.graph.node if n.output]
    new = r.choice(INTERNAL_NAMES)
    if new in _all_names(m) or not names:
        return None
    src = r.choice(names)
    m.graph.node.append(helper.make_node("Identity", [src], [new]))
    m.graph.output.append(helper.make_empty_tensor_value_info(new))
    shape_src = {vi.name: vi for vi in _value_infos(m.graph)}.get(src)
    if shape_src is not None and shape_src.type.HasField("tensor_type"):
        m.graph.output[-1].type.CopyFrom(shape_src.type)
    else:
        m.graph.output[-1].type.tensor_type.elem_type = TensorProto.FLOAT
        m.graph.output[-1].type.tensor_type.shape.SetInParent()
    return f"extra graph output {new!r} = Identity({src!r})"


def mut_internal_init(m, r):
    """EQUIVALENT: an unused initializer named like an onnxscore tensor."""
    new = r.choice(INTERNAL_NAMES)
    if new in _all_names(m):
        return None
    m.graph.initializer.append(numpy_helper.from_array(np.ones(3, np.float32), new))
    return f"unused initializer {new!r}"


def mut_metadata(m, r):
    """EQUIVALENT: metadata and doc strings."""
    op = r.choice(["props", "doc", "producer"])
    if op == "props":
        helper.set_model_props(m, {r.choice(["onnxscore.bn", "onnxscore.warnings", "onnxscore.source_format",
                                             "key"]): r.choice(["", "\x00", "garbage", "x" * 100000])})
    elif op == "doc":
        m.graph.doc_string = "d" * r.choice([1, 1000, 1000000])
    else:
        m.producer_name = "\u2603" * 50
    return f"metadata: {op}"


def _float_inits(m):
    return [t for t in m.graph.initializer if t.data_type == TensorProto.FLOAT and not t.external_data
            and int(np.prod(t.dims)) > 0]


def mut_init_values(m, r):
    inits = _float_inits(m)
    if not inits:
        return None
    t = r.choice(inits)
    a = numpy_helper.to_array(t).copy()
    v = r.choice([np.nan, np.inf, -np.inf, 1e38, 0.0])
    flat = a.reshape(-1)
    how = r.choice(["one", "all", "half"])
    if how == "one":
        flat[r.randrange(flat.size)] = v
    elif how == "all":
        flat[:] = v
    else:
        flat[: flat.size // 2] = v
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    return f"initializer {t.name!r}: {how} values -> {v}"


def mut_init_length(m, r):
    inits = [t for t in m.graph.initializer if not t.external_data]
    if not inits:
        return None
    t = r.choice(inits)
    op = r.choice(["truncate_raw", "grow_dims", "huge_dims", "neg_dims", "float_data_short", "data_type"])
    if op == "truncate_raw" and t.raw_data:
        t.raw_data = t.raw_data[: max(0, len(t.raw_data) - r.choice([1, 4, len(t.raw_data)]))]
    elif op == "grow_dims" and t.dims:
        t.dims[0] = t.dims[0] + 1
    elif op == "huge_dims":
        t.dims[:] = [2 ** 31, 2 ** 31] if r.random() < 0.5 else [2 ** 62]
    elif op == "neg_dims" and t.dims:
        t.dims[0] = -t.dims[0] or -1
    elif op == "float_data_short" and t.data_type == TensorProto.FLOAT:
        t.ClearField("raw_data"); t.float_data[:] = [1.0]
    else:
        t.data_type = r.choice([0, TensorProto.DOUBLE, TensorProto.INT8, TensorProto.STRING, TensorProto.BFLOAT16, 99])
        op = f"data_type -> {t.data_type}"
    return f"initializer {t.name!r}: {op}"


def mut_opset(m, r):
    op = r.choice(["version", "drop", "dup", "domain"])
    if op == "version" and m.opset_import:
        m.opset_import[0].version = r.choice([1, 5, 6, 9, 10, 12, 99, 10000, -1, 0])
        return f"opset -> {m.opset_import[0].version}"
    if op == "drop" and m.opset_import:
        del m.opset_import[0]
        return "default-domain opset import removed"
    if op == "dup":
        m.opset_import.append(helper.make_opsetid("", r.choice([7, 13, 99])))
        return f"duplicate opset import {m.opset_import[-1].version}"
    m.opset_import.append(helper.make_opsetid(r.choice(["com.microsoft", "bogus"]), 1))
    return f"extra opset domain {m.opset_import[-1].domain}"


def mut_ir(m, r):
    m.ir_version = r.choice([0, 1, 2, 3, 4, 7, 11, 12, 99, -1, 2 ** 62])
    return f"ir_version -> {m.ir_version}"


def mut_nodes(m, r):
    nodes = list(m.graph.node)
    op = r.choice(["delete", "duplicate", "swap", "reverse", "delete_all"])
    if op == "delete":
        del m.graph.node[r.randrange(len(nodes))]
    elif op == "duplicate":
        m.graph.node.insert(r.randrange(len(nodes) + 1), copy.deepcopy(r.choice(nodes)))
    elif op == "swap" and len(nodes) > 1:
        i, j = r.sample(range(len(nodes)), 2)
        a, b = copy.deepcopy(nodes[i]), copy.deepcopy(nodes[j])
        m.graph.node[i].CopyFrom(b); m.graph.node[j].CopyFrom(a)
    elif op == "reverse":
        rev = [copy.deepcopy(n) for n in reversed(nodes)]
        del m.graph.node[:]; m.graph.node.extend(rev)
    else:
        del m.graph.node[:]
    return f"nodes: {op}"


def mut_graph_io(m, r):
    g = m.graph
    op = r.choice(["drop_output", "drop_input", "extra_input", "input_is_init", "drop_init", "no_outputs", "dup_input"])
    if op == "drop_output" and len(g.output) > 0:
        del g.output[r.randrange(len(g.output))]
    elif op == "no_outputs":
        del g.output[:]
    elif op == "drop_input" and g.input:
        del g.input[0]
    elif op == "extra_input":
        g.input.append(_vi(r.choice(["extra", "onnxscore_site_0"]), r.choice([TensorProto.FLOAT, TensorProto.INT64,
                                                                               TensorProto.STRING]), ["N", 2]))
    elif op == "input_is_init" and g.input:
        vi = g.input[0]
        g.initializer.append(numpy_helper.from_array(np.zeros((1, 3, 32, 32), np.float32), vi.name))
    elif op == "drop_init" and g.initializer:
        del g.initializer[r.randrange(len(g.initializer))]
    elif op == "dup_input" and g.input:
        g.input.append(copy.deepcopy(g.input[0]))
    else:
        return None
    return f"graph i/o: {op}"


def mut_batch_dim(m, r):
    g = m.graph
    if not g.input or not g.input[0].type.tensor_type.shape.dim:
        return None
    d = g.input[0].type.tensor_type.shape.dim[0]
    v = r.choice([1, 3, B, 2 * B, 0])
    d.Clear(); d.dim_value = v
    return f"batch dim of input '{g.input[0].name}' fixed to {v}"


def mut_function(m, r):
    if not m.functions:
        return None
    f = m.functions[0]
    op = r.choice(["recursive", "delete_node", "rename", "bad_domain", "drop_opset"])
    if op == "recursive":
        f.node.append(helper.make_node(f.name, [f.output[0], f.input[1]], ["rec"], domain=f.domain))
        f.node[-2].output[0], f.node[-1].output[0] = "pre", f.output[0]
        f.node[-1].input[0] = "pre"
    elif op == "delete_node" and f.node:
        del f.node[0]
    elif op == "rename":
        f.name = "Other"
    elif op == "bad_domain":
        f.domain = "nowhere"
    else:
        del f.opset_import[:]
    return f"local function: {op}"


def mut_subgraph(m, r):
    ifs = [n for n in m.graph.node if n.op_type in ("If", "Loop", "Scan")]
    if not ifs:
        return None
    n = r.choice(ifs)
    a = r.choice([a for a in n.attribute if a.type == onnx.AttributeProto.GRAPH])
    op = r.choice(["drop_output", "outer_missing", "relu_internal_name", "nested_relu"])
    sg = a.g
    if op == "drop_output" and sg.output:
        del sg.output[:]
    elif op == "outer_missing" and sg.node:
        sg.node[0].input[0] = "not_in_scope"
    elif op == "relu_internal_name" and sg.node:
        sg.node[0].output[0] = "onnxscore_site_0"; sg.output[0].name = "onnxscore_site_0"
    else:
        sg.node.append(helper.make_node("Relu", [sg.output[0].name], ["deep"]))
    return f"{n.op_type}.{a.name}: {op}"


def mut_external(m, r):
    ext = [t for t in m.graph.initializer if t.external_data]
    if not ext:
        return None
    t = r.choice(ext)
    entries = {e.key: e for e in t.external_data}
    op = r.choice(["location", "offset", "length", "drop_location", "inline_and_external"])
    if op == "location":
        entries["location"].value = r.choice(["../outside.bin", "/etc/hostname", "/dev/zero", "missing.bin", "",
                                              "sub/../../weights.bin", "weights.bin\x00x", "."])
        v = entries["location"].value
    elif op == "offset":
        e = entries.get("offset") or t.external_data.add()
        e.key = "offset"; e.value = r.choice(["-1", "999999999", "abc", "1"]); v = e.value
    elif op == "length":
        e = entries.get("length") or t.external_data.add()
        e.key = "length"; e.value = r.choice(["0", "999999999999", "-5", "3"]); v = e.value
    elif op == "drop_location":
        keep = [e for e in t.external_data if e.key != "location"]
        del t.external_data[:]; t.external_data.extend(keep); v = None
    else:
        t.raw_data = b"\0" * 8; v = None
    return f"external data of {t.name!r}: {op} {v!r}" if v is not None else f"external data of {t.name!r}: {op}"


def _insert_spec(r, rank: int):
    """(op, extra inputs as arrays, attributes) of an op inserted after a tensor, with extreme settings."""
    I64 = np.int64
    big = r.choice([-5, -1, 0, 1, 5, 10 ** 6])
    specs = [
        ("GatherND", [np.zeros((1, 1), I64)], {"batch_dims": r.choice([-5, -1, 0, 1, 5])}),
        ("Softmax", [], {"axis": r.choice([-100, 100, -1, 1])}),
        ("Transpose", [], {"perm": r.choice([list(range(rank))[::-1], [0] * rank, [rank + 3] + list(range(rank - 1)),
                                            []])}),
        ("Reshape", [np.array(r.choice([[-1], [0, -1], [2 ** 31, -1], [-2, -2], [0, 0, 0, 0, 0]]), I64)], {}),
        ("Flatten", [], {"axis": r.choice([-10, 10, 0, 1])}),
        ("Pad", [np.array([r.choice([1, 10 ** 5, -3])] * (2 * rank), I64)], {"mode": r.choice(["constant", "reflect",
                                                                                             "edge"])}),
        ("Tile", [np.array([r.choice([1, 2, 10 ** 4, 0, -1])] * rank, I64)], {}),
        ("Expand", [np.array([r.choice([1, 10 ** 5, 0, -1])] * (rank + 1), I64)], {}),
        ("Slice", [np.array([big], I64), np.array([r.choice([2 ** 62, -2 ** 62, 0])], I64),
                   np.array([r.choice([0, 1, -1, 7])], I64)], {}),
        ("TopK", [np.array([r.choice([-1, 0, 1, 10 ** 9])], I64)], {"axis": r.choice([-1, 1, 9])}),
        ("ReduceMean", [], {"axes": [r.choice([-10, 0, 1, 10])]}),
        ("Concat", ["self"], {"axis": r.choice([-10, 10, 0, 1])}),
        ("DepthToSpace", [], {"blocksize": r.choice([0, -1, 3, 2])}),
        ("LRN", [], {"size": r.choice([0, -1, 10 ** 9, 3])}),
        ("Cast", [], {"to": r.choice([0, 2, 7, 9, 10, 11, 16, 21, 99])}),
        ("Dropout", [np.array(r.choice([0.5, 1.0, 2.0, -1.0]), np.float32), np.array(True)], {"seed": 0}),
        ("Resize", ["", np.array([1, 1, r.choice([1e6, 0.0, -1.0, 2.0]), 2.0][:rank], np.float32)],
         {"mode": r.choice(["nearest", "linear", "cubic"])}),
        ("InstanceNormalization", [np.ones(3, np.float32), np.zeros(3, np.float32)], {"epsilon": r.choice([0.0, -1.0])}),
        ("LpNormalization", [], {"axis": r.choice([-9, 1]), "p": r.choice([0, 1, 2, 3])}),
        ("CumSum", [np.array(r.choice([-9, 0, 1, 9]), I64)], {"reverse": 1}),
        ("Einsum", ["self"], {"equation": r.choice(["ij,jk->ik", "...,...->...", "bad", "ii->i"])}),
    ]
    return r.choice(specs)


def mut_insert_op(m, r):
    """Insert an op with extreme attributes after a tensor and feed its result to the tensor's consumers."""
    g = m.graph
    cands = [(k, n) for k, n in enumerate(g.node) if n.output and n.op_type not in ("Constant",)]
    if not cands:
        return None
    k, n = r.choice(cands)
    t = n.output[0]
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim) for vi in _value_infos(g) if vi.type.HasField("tensor_type")}
    rank = ranks.get(t) or r.choice([2, 4])
    op, extra, attrs = _insert_spec(r, rank)
    new = f"{t}__fz_{op.lower()}"
    ins = [t]
    for j, a in enumerate(extra):
        if isinstance(a, str):
            ins.append(t if a == "self" else "")
            continue
        nm = f"{new}_c{j}"
        g.initializer.append(numpy_helper.from_array(np.asarray(a), nm))
        ins.append(nm)
    for later in g.node[k + 1:]:
        for i, x in enumerate(later.input):
            if x == t:
                later.input[i] = new
    for vo in g.output:
        if vo.name == t:
            vo.name = new
    g.node.insert(k + 1, helper.make_node(op, ins, [new], **attrs))
    return f"inserted {op}({', '.join(f'{a}={v}' for a, v in attrs.items())}) after {n.op_type} '{t}'"


PROTO_MUTATORS: list[tuple[Callable, float, bool]] = [   # (mutator, weight, equivalent)
    (mut_dim, 6, False), (mut_rank, 3, False), (mut_elem_type, 4, False), (mut_type_kind, 1, False),
    (mut_attr_value, 6, False), (mut_attr_type, 3, False), (mut_attr_add_remove, 3, False),
    (mut_op_type, 4, False), (mut_domain, 2, False), (mut_dangling, 3, False), (mut_dup_output, 2, False),
    (mut_internal_name, 4, True), (mut_internal_output, 3, True), (mut_internal_init, 1, True),
    (mut_metadata, 1, True), (mut_init_values, 4, False), (mut_init_length, 4, False), (mut_opset, 3, False),
    (mut_ir, 2, False), (mut_nodes, 3, False), (mut_graph_io, 3, False), (mut_batch_dim, 2, False),
    (mut_function, 2, False), (mut_subgraph, 2, False), (mut_external, 3, False), (mut_insert_op, 8, False),
]


def byte_mutate(data: bytes, r: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    n = len(b)
    op = r.choice(["bitflip", "bitflip", "truncate", "insert", "dup_chunk", "overwrite", "varint", "swap", "append"])
    if n == 0:
        op = "append"
    if op == "bitflip":
        k = r.choice([1, 1, 2, 4, 16])
        for _ in range(k):
            i = r.randrange(n); b[i] ^= 1 << r.randrange(8)
        return bytes(b), f"{k} bit flip(s)"
    if op == "truncate":
        cut = r.choice([0, 1, 2, 10, r.randrange(n), n - 1, n // 2])
        return bytes(b[:cut]), f"truncated to {cut} of {n} bytes"
    if op == "insert":
        i, k = r.randrange(n + 1), r.choice([1, 2, 8, 64])
        return bytes(b[:i] + bytes(r.randrange(256) for _ in range(k)) + b[i:]), f"{k} random bytes inserted at {i}"
    if op == "dup_chunk":
        i = r.randrange(n); k = min(n - i, r.choice([4, 64, 1024, n]))
        return bytes(b[:i + k] + b[i:i + k] + b[i + k:]), f"chunk [{i}:{i + k}] duplicated"
    if op == "overwrite":
        i = r.randrange(n); k = min(n - i, r.choice([1, 8, 256]))
        v = r.choice([0x00, 0xFF, 0x7F, 0x80])
        b[i:i + k] = bytes([v]) * k
        return bytes(b), f"{k} bytes at {i} set to {v:#x}"
    if op == "varint":
        i = r.randrange(n); k = min(n - i, 10)
        b[i:i + k] = b"\xff" * (k - 1) + b"\x01"
        return bytes(b), f"over-long varint written at {i}"
    if op == "swap" and n > 8:
        i, j = sorted(r.sample(range(n - 4), 2))
        b[i:i + 4], b[j:j + 4] = b[j:j + 4], b[i:i + 4]
        return bytes(b), f"4-byte chunks at {i} and {j} swapped"
    k = r.choice([1, 16, 4096])
    return bytes(b) + bytes(r.randrange(256) for _ in range(k)), f"{k} random bytes appended"


@dataclass
class Mutant:
    index: int
    seed: Seed
    files: dict[str, bytes]
    desc: str
    equivalent: bool            # semantics kept: scores must equal the seed's
    nan_injected: bool
    args: list[str]


OPTION_VARIANTS = [[], [], [], [], ["--bn", "exported"], ["--init", "normal"], ["--init", "kaiming"],
                   ["--activations", "extended"], ["--merged-sites", "per-consumer"], ["--seed", "3"]]


def make_mutant(seeds: list[Seed], campaign_seed: int, index: int, extra_args=()) -> Mutant:
    """Mutant number `index` of a campaign: deterministic in (campaign seed, index) alone."""
    r = random.Random(f"onnxscore-fuzz:{campaign_seed}:{index}")
    seed = r.choice(seeds)
    files = dict(seed.files)
    descs, equivalent, nan = [], True, False
    if r.random() < 0.3:
        data, d = byte_mutate(files[seed.model], r)
        files[seed.model] = data
        descs.append(d); equivalent = False
        if r.random() < 0.2:
            data, d = byte_mutate(data, r)
            files[seed.model] = data; descs.append(d)
    else:
        m = seed.proto()
        k = r.choice([1, 1, 1, 2, 3])
        weights = [w for _, w, _ in PROTO_MUTATORS]
        tries = 0
        while len(descs) < k and tries < 30:
            tries += 1
            fn, _, eq = r.choices(PROTO_MUTATORS, weights=weights)[0]
            trial = copy.deepcopy(m)
            try:
                d = fn(trial, r)
                if d is None:
                    continue
                trial.SerializeToString()
            except (ValueError, TypeError, IndexError, AttributeError, KeyError, OverflowError):
                continue
            m = trial
            descs.append(d)
            equivalent = equivalent and eq
            nan = nan or (fn is mut_init_values)
        try:
            files[seed.model] = m.SerializeToString()
        except Exception as exc:  # noqa: BLE001
            descs.append(f"(serialisation failed: {type(exc).__name__}; seed kept)")
        if "weights.bin" in files and r.random() < 0.25:
            data, d = byte_mutate(files["weights.bin"], r)
            files["weights.bin"] = data
            descs.append(f"weights.bin: {d}"); equivalent = False
    args = ["score", seed.model, *SCORE_OPTS, "--json", *seed.args, *r.choice(OPTION_VARIANTS), *extra_args]
    return Mutant(index, seed, files, f"{seed.name}: " + "; ".join(descs), equivalent and bool(descs), nan, args)


# ============================================================================ single-op models from the ONNX schemas

_TYPE_PREF = ["tensor(float)", "tensor(int64)", "tensor(bool)", "tensor(int32)", "tensor(double)", "tensor(float16)",
              "tensor(uint8)", "tensor(string)"]
_ELEM = {"tensor(float)": TensorProto.FLOAT, "tensor(int64)": TensorProto.INT64, "tensor(bool)": TensorProto.BOOL,
         "tensor(int32)": TensorProto.INT32, "tensor(double)": TensorProto.DOUBLE,
         "tensor(float16)": TensorProto.FLOAT16, "tensor(uint8)": TensorProto.UINT8,
         "tensor(string)": TensorProto.STRING}


def _default_attr(name, a):
    T = onnx.defs.OpSchema.AttrType
    if a.type == T.INT:
        return 1
    if a.type == T.FLOAT:
        return 1.0
    if a.type == T.INTS:
        return [1, 1]
    if a.type == T.FLOATS:
        return [1.0]
    if a.type == T.STRING:
        return ""
    if a.type == T.STRINGS:
        return [""]
    if a.type == T.TENSOR:
        return numpy_helper.from_array(np.array([1.0], np.float32), name)
    raise LookupError(f"required attribute '{name}' of type {a.type}")


def schema_list() -> list:
    """Latest schema of every default-domain op (deprecated ones left out)."""
    latest = {}
    for s in onnx.defs.get_all_schemas():
        if s.domain != "" or s.deprecated:
            continue
        if s.name not in latest or s.since_version > latest[s.name].since_version:
            latest[s.name] = s
    return [latest[k] for k in sorted(latest)]


def schema_model(s) -> tuple[onnx.ModelProto | None, str]:
    """A model running op `s` on a float input [N,3,4,4] (other inputs constants), default attributes,
    then Cast(float) + Relu so it has an activation site. Output shapes are filled in later by
    onnx shape inference in a child process (infer_child), since inference can crash on odd ops."""
    rng = np.random.default_rng(zlib.crc32(s.name.encode()))
    cons = {tc.type_param_str: list(tc.allowed_type_strs) for tc in s.type_constraints}
    Opt = onnx.defs.OpSchema.FormalParameterOption
    inputs, inits, names = [], [], []
    for i, fp in enumerate(s.inputs):
        allowed = cons.get(fp.type_str, [fp.type_str])
        t = next((p for p in _TYPE_PREF if p in allowed), None)
        if fp.option == Opt.Optional and i > 0:
            names.append("")
            continue
        if t is None:
            return None, f"input '{fp.name}' takes {allowed[:3]} (no plain tensor type)"
        nm = f"in{i}"
        names.append(nm)
        if not inputs:
            inputs.append(_vi(nm, _ELEM[t], ["N", 3, 4, 4]))
        elif t == "tensor(float)":
            inits.append(numpy_helper.from_array(rng.standard_normal((1, 3, 4, 4)).astype(np.float32), nm))
        elif t == "tensor(string)":
            inits.append(helper.make_tensor(nm, TensorProto.STRING, [1], [b"a"]))
        else:
            inits.append(numpy_helper.from_array(np.array([1], helper.tensor_dtype_to_np_dtype(_ELEM[t])), nm))
    while names and names[-1] == "":
        names.pop()
    if not inputs:   # ops without inputs (Constant, RandomNormal, ...): the fed input is unused
        inputs.append(_vi("in_unused", TensorProto.FLOAT, ["N", 3, 4, 4]))
    attrs = {}
    for an, a in s.attributes.items():
        if a.required:
            try:
                attrs[an] = _default_attr(an, a)
            except LookupError as exc:
                return None, str(exc)
    if s.name in ("Constant",) and not attrs:
        attrs["value"] = numpy_helper.from_array(np.ones((1, 3, 4, 4), np.float32), "value")
    outs = [f"y{i}" for i, fp in enumerate(s.outputs) if fp.option != Opt.Optional or i == 0] or ["y0"]
    node = helper.make_node(s.name, names, outs, **attrs)
    nodes = [node, helper.make_node("Cast", [outs[0]], ["yc"], to=TensorProto.FLOAT),
             helper.make_node("Relu", ["yc"], ["site"])]
    opset = max(17, s.since_version)
    g = helper.make_graph(nodes, f"op_{s.name}", inputs, [helper.make_empty_tensor_value_info("site")], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    try:
        m.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    except Exception:  # noqa: BLE001
        m.ir_version = 10
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    return m, ""


INFER_CHILD = r"""
import sys, onnx
from pathlib import Path
d = Path(sys.argv[1])
for p in sorted(d.glob("*.raw.onnx")):
    done = p.with_suffix("").with_suffix(".done")
    if done.exists() or p.with_suffix("").with_suffix(".started").exists():
        continue
    p.with_suffix("").with_suffix(".started").write_text("")
    m = onnx.load(str(p))
    try:
        inf = onnx.shape_inference.infer_shapes(m, strict_mode=False)
        vis = {vi.name: vi for vi in list(inf.graph.value_info) + list(inf.graph.output)}
        vi = vis.get("site")
        if vi is not None and vi.type.tensor_type.HasField("shape"):
            m.graph.output[0].CopyFrom(vi)
            note = "inferred"
        else:
            note = "no shape inferred"
    except Exception as exc:
        note = "inference failed: " + str(exc).strip().splitlines()[0][:150] if str(exc).strip() else type(exc).__name__
    onnx.save(m, str(p).replace(".raw.onnx", ".onnx"))
    done.write_text(note)
"""


def infer_child(d: Path, timeout: float = 300.0) -> dict[str, str]:
    """Fill in the output shapes of d/*.raw.onnx with onnx shape inference in a child process,
    restarting it after an op whose inference crashes. Returns {stem: note}."""
    d = Path(d)
    notes = {}
    for _ in range(400):
        pending = [p for p in d.glob("*.raw.onnx") if not p.with_suffix("").with_suffix(".done").exists()
                   and not p.with_suffix("").with_suffix(".started").exists()]
        if not pending:
            break
        subprocess.run(_limited([sys.executable, "-c", INFER_CHILD, str(d)], MEM_LIMIT), cwd=str(d),
                       timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for st in d.glob("*.started"):
            done = st.with_suffix(".done")
            if not done.exists():   # the child died on this one: keep the raw model (no output shape)
                raw = st.with_suffix(".raw.onnx")
                shutil.copyfile(raw, st.with_suffix(".onnx"))
                done.write_text("shape inference crashed the process")
    for p in d.glob("*.done"):
        notes[p.stem] = p.read_text()
    return notes


# ============================================================================ the campaign

def _norm_cause(text: str) -> str:
    """A failure's cause with paths, quoted names and numbers masked, to group cases."""
    t = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    t = re.sub(r"(/[\w.\-\u00c0-\uffff ]+)+", "<path>", t)
    t = re.sub(r"0x[0-9a-f]+", "N", t)
    t = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", t)
    t = re.sub(r"\s+", " ", t).strip()
    return t[:220]


@dataclass
class Outcome:
    id: str
    source: str
    desc: str
    status: str                     # ok | clean | fail | skipped
    failures: list = field(default_factory=list)
    cmd: str = ""
    replay: str = ""
    first_stderr: str = ""
    cause: str = ""
    rc: int | None = None
    elapsed: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return sorted({k for k, _ in self.failures}, key=KINDS.index)

    def to_dict(self) -> dict:
        return {"id": self.id, "source": self.source, "desc": self.desc, "status": self.status,
                "kinds": self.kinds, "failures": [list(f) for f in self.failures], "cmd": self.cmd,
                "replay": self.replay, "first_stderr": self.first_stderr, "cause": self.cause, "rc": self.rc,
                "elapsed": round(self.elapsed, 2), "notes": self.notes}


def _write_files(d: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _rank_args(score_args: list[str], model: str, workers: int, out: str, store: str) -> list[str]:
    args = [a for a in score_args if a != "--json"]
    assert args[0] == "score"
    rest = [a for a in args[1:] if a != model]
    return ["rank", model, *rest, "--workers", str(workers), "-q", "--json", out, "--store", store]


def _rank_rows(path: Path) -> list[dict] | None:
    try:
        rows = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return rows if isinstance(rows, list) else None


PROXIES = ("epads", "naswot", "swap", "reg-swap")


class Campaign:
    """Runs cases one after another, each in its own folder under `workroot`, and collects outcomes."""

    def __init__(self, workroot: Path = DEFAULT_WORKROOT, seed: int = 0, keep_all: bool = False,
                 log: Callable[[str], None] | None = None, timeout: float = TIMEOUT,
                 replay_cmd: str = "python bench/fuzz.py"):
        self.workroot = Path(workroot)
        self.workroot.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.keep_all = keep_all
        self.log = log or (lambda s: None)
        self.timeout = timeout
        self.replay_cmd = replay_cmd
        self.outcomes: list[Outcome] = []
        self._refs: dict = {}
        self._lock = threading.RLock()
        self._seeds: list[Seed] | None = None
        self.started = time.time()
        self.onnxscore_runs = 0
        # a per-model limit well under the hang timeout, when onnxscore has one (it defaults to 600 s)
        self.limit_opt = ["--timeout", "20"] if supports("score", "--timeout") else []

    # ------------------------------------------------------------------ helpers
    @property
    def seeds(self) -> list[Seed]:
        if self._seeds is None:
            self._seeds = build_seeds()
        return self._seeds

    def case_dir(self, case_id: str) -> Path:
        d = self.workroot / case_id
        rmtree(d)
        d.mkdir(parents=True)
        return d

    def run(self, args, cwd, **kw) -> Run:
        kw.setdefault("timeout", self.timeout)
        self.onnxscore_runs += 1
        return run_cli(args, cwd, **kw)

    def replay(self, case_id: str) -> str:
        return f"{self.replay_cmd} --replay {case_id} --seed {self.seed}"

    def finish_case(self, case_id, source, desc, d: Path | None, main: Run | None, fails, *, notes=(),
                    status: str | None = None) -> Outcome:
        fails = list(dict.fromkeys((k, v) for k, v in fails))
        if status is None:
            status = "fail" if fails else ("ok" if main is not None and main.rc == 0 else "clean")
        o = Outcome(case_id, source, desc, status, fails,
                    cmd=main.cmd() if main is not None else "", replay=self.replay(case_id),
                    first_stderr=first_line(main) if main is not None else "",
                    rc=main.rc if main is not None else None,
                    elapsed=main.elapsed if main is not None else 0.0, notes=list(notes))
        if fails:
            k, detail = sorted(fails, key=lambda f: KINDS.index(f[0]))[0]
            line = cause_line(main) if main is not None and k in ("traceback", "internal", "bad-exit", "stray") \
                and source != "rank scenarios" and ":" not in detail.split(" ")[0] else detail
            if k == "stray":   # the foreign line itself, not the onnxscore error next to it
                line = detail.split("first: ", 1)[-1]
            if k == "signal" and main is not None:
                line = f"{detail}; stderr: {first_line(main)}"
            o.cause = f"{k}: {_norm_cause(line)}"
        self.outcomes.append(o)
        if d is not None and not fails and not self.keep_all:
            rmtree(d)
        mark = {"ok": ".", "clean": ".", "fail": "F", "skipped": "s"}[status]
        self.log(f"{mark} {case_id:<34} {status:<7} {(o.cause or o.first_stderr)[:110]}")
        return o

    # ------------------------------------------------------------------ score-type cases
    def score_ref(self, files: dict[str, bytes], args: list[str], key) -> Run:
        """A reference run (cached) of an unmutated model with the given arguments."""
        with self._lock:
            if key not in self._refs:
                d = self.workroot / "_refs" / hashlib.sha256(repr(key).encode()).hexdigest()[:16]
                rmtree(d)
                d.mkdir(parents=True)
                _write_files(d, files)
                self._refs[key] = self.run(args, d)
            return self._refs[key]

    def score_case(self, case_id: str, source: str, desc: str, files: dict[str, bytes], args: list[str], *,
                   model: str = "m.onnx", expect: str = "either", ref: Run | None = None,
                   oracle_b: bool = True, oracle_d: int | None = None, notes=()) -> Outcome:
        """Score one model: classify, then oracles (a) (c) on the JSON, (b) a second process scoring it
        twice, (d) rank (workers = oracle_d) agreeing with score, (g) scores equal to `ref`'s, (e) files."""
        d = self.case_dir(case_id)
        _write_files(d, files)
        before = snapshot(d)
        main = self.run(args, d)
        fails = classify(main, expect)
        objs = None
        if main.rc == 0:
            objs = parse_json_lines(main.stdout)
            if not objs:
                fails.append(("wrong", f"exit 0 but stdout is not JSON lines: {main.stdout[:120]!r}"))
                objs = None
            else:
                for o in objs:
                    fails += check_score_object(o)
        if ref is not None:   # (g) an equivalent model must score like its seed
            if ref.rc == 0 and main.rc not in (None, 0) and not any(k in ("signal", "hang") for k, _ in fails):
                fails.append(("wrong", f"(g) equivalent model refused: {cause_line(main)}"))
            elif ref.rc == 0 and objs:
                robjs = parse_json_lines(ref.stdout) or [{}]
                diff = scores_differ(robjs[0].get("scores") or {}, objs[0].get("scores") or {}, rel=1e-6)
                if diff:
                    fails.append(("wrong", f"(g) an equivalent model scores differently from its seed: {diff}"))
        if objs and oracle_b:
            r2 = self.run([args[0], model, *args[1:]], d)   # the model twice in one process
            f2 = classify(r2, "ok", label="rerun")
            fails += f2
            o2 = parse_json_lines(r2.stdout) if r2.rc == 0 else None
            if r2.rc == 0 and (not o2 or len(o2) != 2):
                fails.append(("wrong", f"(b) scoring the model twice printed {len(o2 or [])} JSON objects"))
            elif o2:
                for k, o in enumerate(o2):
                    diff = scores_differ(objs[0].get("scores") or {}, o.get("scores") or {})
                    if diff:
                        where = "in a new process" if k == 0 else "right after scoring it once in the same process"
                        fails.append(("wrong", f"(b) the same model scored {where} gives other scores: {diff}"))
        if objs and oracle_d is not None:
            rr = self.run(_rank_args(args, model, oracle_d, "rank.json", "rank.sqlite"), d)
            fails += classify(rr, "ok", label=f"rank --workers {oracle_d}")
            rows = _rank_rows(d / "rank.json") if rr.rc == 0 else None
            if rr.rc == 0 and not rows:
                fails.append(("wrong", "(d) rank exited 0 without a JSON row"))
            elif rows:
                row = rows[0]
                sc = objs[0].get("scores") or {}
                rank_sc = {p: row.get(p) for p in sc}
                diff = scores_differ(sc, rank_sc, rel=1e-6)
                if diff:
                    fails.append(("wrong", f"(d) rank --workers {oracle_d} and score disagree: {diff} "
                                           f"(rank status {row.get('status')}: {str(row.get('error'))[:100]})"))
        after = snapshot(d)
        fails += diff_snapshot(before, after, lambda p: bool(STORE_FILE.search(p)))
        return self.finish_case(case_id, source, desc, d, main, fails, notes=notes)

    # ------------------------------------------------------------------ sources
    def run_seeds(self) -> None:
        for s in self.seeds:
            args = ["score", s.model, *SCORE_OPTS, "--json", *s.args, *self.limit_opt]
            self.score_case(f"seed-{s.name}", "seeds", f"unmutated seed {s.name}" + (f" ({s.note})" if s.note else ""),
                            s.files, args, expect="ok", oracle_d=0 if len(self.outcomes) % 2 else 1)
        groups: dict[str, list[Seed]] = {}
        for s in self.seeds:
            if s.group:
                groups.setdefault(s.group, []).append(s)
        for g, members in groups.items():   # (g) across seeds that differ only in names
            runs = [self.score_ref(s.files, ["score", s.model, *SCORE_OPTS, "--json", *s.args, *self.limit_opt],
                                   (s.name, "base")) for s in members]
            objs = [(parse_json_lines(r.stdout) or [{}])[0].get("scores") if r.rc == 0 else None for r in runs]
            fails = []
            for s, o in zip(members[1:], objs[1:]):
                if objs[0] is None or o is None:
                    fails.append(("wrong", f"(g) {s.name} or {members[0].name} did not score"))
                else:
                    diff = scores_differ(objs[0], o, rel=1e-6)
                    if diff:
                        fails.append(("wrong", f"(g) {s.name} scores differently from {members[0].name}: {diff}"))
            self.finish_case(f"seed-group-{g}", "seeds", "seeds " + ", ".join(s.name for s in members) +
                             " differ only in tensor names (some named like onnxscore's internal tensors)",
                             None, runs[-1], fails)

    def mutant(self, index: int) -> Outcome:
        mu = make_mutant(self.seeds, self.seed, index, self.limit_opt)
        ref = None
        if mu.equivalent:
            ref = self.score_ref(mu.seed.files, mu.args, (mu.seed.name, tuple(mu.args)))
        notes = ["NaN/Inf written into weights"] if mu.nan_injected else []
        return self.score_case(f"mutant-{index:04d}", "mutants", mu.desc, mu.files, mu.args,
                               model=mu.seed.model, ref=ref, oracle_d=(index // 4) % 2 if index % 4 == 0 else None,
                               notes=notes)

    def each(self, items, fn, jobs: int = 1, deadline: float | None = None, what: str = "cases") -> None:
        """fn(item) for every item, `jobs` at a time (threads, each waiting on one onnxscore process)."""
        if jobs <= 1:
            for k, it in enumerate(items):
                if deadline and time.time() > deadline:
                    self.log(f"time budget reached after {k} {what}")
                    return
                fn(it)
            return
        from concurrent.futures import ThreadPoolExecutor

        def guarded(it):
            if deadline and time.time() > deadline:
                return
            fn(it)
        with ThreadPoolExecutor(jobs) as ex:
            list(ex.map(guarded, items))

    def run_mutants(self, n: int, start: int = 0, deadline: float | None = None, jobs: int = 1) -> None:
        self.each(range(start, start + n), self.mutant, jobs, deadline, "mutants")

    def schema_cases(self, names: list[str] | None = None, limit: int | None = None,
                     deadline: float | None = None) -> None:
        schemas = schema_list()
        if names:
            schemas = [s for s in schemas if s.name in names]
        if limit is not None:
            schemas = schemas[:limit]
        built = {}
        tmp = self.workroot / "_schema_models"
        rmtree(tmp)
        tmp.mkdir(parents=True)
        for s in schemas:
            m, why = schema_model(s)
            if m is None:
                built[s.name] = (None, why)
                continue
            (tmp / f"{s.name}.raw.onnx").write_bytes(m.SerializeToString())
            built[s.name] = (True, "")
        notes = infer_child(tmp)
        for s in schemas:
            case_id = f"schema-{s.name}"
            ok, why = built[s.name]
            if deadline and time.time() > deadline:
                break
            if ok is None:
                self.finish_case(case_id, "schema ops", f"{s.name}: not built ({why})", None, None, [],
                                 status="skipped")
                continue
            data = (tmp / f"{s.name}.onnx").read_bytes()
            desc = f"single-op model {s.name} (opset {max(17, s.since_version)}), input [N,3,4,4], default " \
                   f"attributes; output shape: {notes.get(s.name, '?')}"
            self.score_case(case_id, "schema ops", desc, {"m.onnx": data},
                            ["score", "m.onnx", *SCORE_OPTS, "--json", *self.limit_opt])
        rmtree(tmp)


# ============================================================================ bad-input / bad-option corpus

class _Pickled:
    """Unpickling this runs `touch PWNED` in the current folder: proof that --data ran a pickle."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _npy_header(shape, descr="<f4") -> bytes:
    h = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode()
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


NETS_PY = '''import torch
from torch import nn


def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2))


def boom():
    raise RuntimeError("the factory fails on purpose")


def notmodule():
    return 5
'''

BAD_SPACE_PY = "def broken(:\n"
RAISING_SPACE_PY = "raise RuntimeError('this space module fails at import')\n"
PRECIOUS = b"precious user data, must survive\n"


@dataclass
class Entry:
    name: str
    desc: str
    args: list[str]
    expect: str = "error"            # error | ok | either
    setup: Callable | None = None    # setup(d: Path) -> None, after the standard files are written
    timeout: float | None = None
    slow: bool = False               # left out of --quick and the fast tests
    needs: str | None = None         # "mount" (a tmpfs; root) or "nobody" (setpriv to uid 65534; root)
    stdout_mode: str | None = None
    env: dict | None = None
    may_change: tuple[str, ...] = ()  # files this run may modify (given --force)
    outputs: tuple[str, ...] = ()     # files the run writes: must be valid when they exist
    check: Callable | None = None     # check(d, run) -> [(kind, detail)]
    quick: bool = False               # part of the fast tests' corpus
    cwd: str = ""                     # run from this subfolder of the case folder
    quiet_exit_ok: bool = False       # a non-zero exit without any stderr is acceptable
    limit: int | None = None          # add --timeout LIMIT when the command has that option


def std_files(d: Path) -> None:
    """What every corpus case finds in its folder: three models, a batch, a CSV of (model, accuracy)."""
    shutil.copyfile(SAMPLES / "tiny_cnn.onnx", d / "tiny.onnx")
    shutil.copyfile(SAMPLES / "narrow_cnn.onnx", d / "narrow.onnx")
    shutil.copyfile(SAMPLES / "relu6_cnn.onnx", d / "relu6.onnx")
    np.save(d / "data.npy", np.random.default_rng(0).standard_normal((16, 3, 32, 32)).astype(np.float32))
    (d / "models.csv").write_text("model,accuracy\ntiny.onnx,0.5\nnarrow.onnx,0.7\nrelu6.onnx,0.6\n")


def _wf(name, data: bytes | str):
    def fn(d):
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return fn


def _npy(name, arr, **kw):
    def fn(d):
        np.save(d / name, arr, **kw)
    return fn


def _seq(*fns):
    def fn(d):
        for f in fns:
            f(d)
    return fn


def _mkdir(name):
    return lambda d: (d / name).mkdir(parents=True, exist_ok=True)


def _fifo(name):
    return lambda d: os.mkfifo(d / name)


def _symlink(name, target):
    return lambda d: os.symlink(target, d / name)


def _sparse(name, size):
    def fn(d):
        with open(d / name, "wb") as f:
            f.truncate(size)
    return fn


def _chmod(name, mode):
    return lambda d: os.chmod(d / name, mode)


def _model(name, proto_fn):
    return lambda d: (d / name).write_bytes(proto_fn().SerializeToString())


def _ro_dir(name, files: dict | None = None):
    """A read-only folder: a tmpfs mounted read-only (needs root)."""
    def fn(d):
        p = d / name
        if not mount_tmpfs(p, "1m"):
            raise RuntimeError("cannot mount a tmpfs")
        for k, v in (files or {}).items():
            (p / k).write_bytes(v)
        remount(p, "ro")
    return fn


def _check_not_exists(name, why):
    def fn(d, run):
        return [("wrong", why)] if (d / name).exists() else []
    return fn


def _check_sqlite_table(name, table, rows):
    def fn(d, run):
        try:
            con = sqlite3.connect(f"file:{d / name}?mode=ro", uri=True)
            n = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            con.close()
        except sqlite3.Error as exc:
            return [("wrong", f"(f) the user's SQLite file {name} is damaged: {exc}")]
        return [] if n == rows else [("wrong", f"(f) the user's table {table} in {name} lost rows ({n} of {rows})")]
    return fn


def _foreign_db(name):
    def fn(d):
        con = sqlite3.connect(d / name)
        con.execute("CREATE TABLE users (id INTEGER, name TEXT)")
        con.executemany("INSERT INTO users VALUES (?, ?)", [(i, f"u{i}") for i in range(5)])
        con.commit(); con.close()
    return fn


def _other_schema_store(name):
    def fn(d):
        con = sqlite3.connect(d / name)
        con.execute("CREATE TABLE scores (a INTEGER, b TEXT)")
        con.execute("INSERT INTO scores VALUES (1, 'x')")
        con.commit(); con.close()
    return fn


def _valid_output(d: Path, rel: str) -> str | None:
    """None if the output file is usable, else why not."""
    p = d / rel
    try:
        data = p.read_bytes()
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if not data:
        return "empty"
    if rel.endswith(".json"):
        try:
            json.loads(data)
        except ValueError:
            return "not valid JSON (truncated?)"
    elif rel.endswith(".csv"):
        if not data.endswith(b"\n") or len(data.splitlines()) < 2:
            return "truncated CSV"
    elif rel.endswith(".onnx"):
        try:
            onnx.ModelProto.FromString(data)
        except Exception:  # noqa: BLE001
            return "not a readable ONNX file"
    return None


NAN_TEXT = re.compile(r"(?<![\w.])(nan|NaN|-?inf|-?Infinity)(?![\w.])")


def corpus_entries() -> list[Entry]:
    E = Entry
    F32 = np.float32
    rng = np.random.default_rng(1)
    good = rng.standard_normal((16, 3, 32, 32))
    nan_rows = good.astype(F32).copy(); nan_rows[:3] = np.nan
    inf_rows = good.astype(F32).copy(); inf_rows[5, 0, 0, 0] = np.inf
    S = ["score", "tiny.onnx", "-b", "8", "--json"]
    R = ["rank", "tiny.onnx", "-b", "8", "--workers", "0", "-q", "--store", "s.sqlite"]
    EV = ["evaluate", "models.csv", "-b", "8", "--workers", "0", "-q", "--store", "s.sqlite", "--proxy", "epads"]
    SE = ["search", "--space", "mobilenet-like", "--proxy", "epads", "-b", "8", "--budget", "2", "-q",
          "--store", "s.sqlite"]
    huge_header = b"\x08\x07\x3a" + _varint(2 ** 31 - 1) + b"\x00" * 32
    out = [
        # ---------------------------------------------------------------- model paths
        E("model-missing", "score a model path that does not exist", ["score", "nope.onnx"], quick=True),
        E("model-directory", "score a directory", ["score", "adir"], setup=_mkdir("adir")),
        E("model-directory-onnx", "score a directory named x.onnx", ["score", "d.onnx"], setup=_mkdir("d.onnx")),
        E("model-fifo", "score a FIFO (nobody writes to it)", ["score", "fifo.onnx"], setup=_fifo("fifo.onnx"),
          timeout=30, quick=True),
        E("model-dev-zero", "score /dev/zero (endless zeros)", ["score", "/dev/zero"], timeout=60, quick=True),
        E("model-dev-null", "score /dev/null", ["score", "/dev/null"]),
        E("model-empty", "score an empty file", ["score", "empty.onnx"], setup=_wf("empty.onnx", b""), quick=True),
        E("model-text", "score a text file", ["score", "text.onnx"], setup=_wf("text.onnx", "hello world\n")),
        E("model-png", "score a PNG named .onnx", ["score", "img.onnx"],
          setup=_wf("img.onnx", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))),
        E("model-huge-header", "score a protobuf whose graph field claims 2 GiB", ["score", "hh.onnx"],
          setup=_wf("hh.onnx", huge_header)),
        E("model-sparse-2.1g", "score a 2.1 GiB file of zeros (sparse)", ["score", "big.onnx"],
          setup=_sparse("big.onnx", (2 << 30) + (100 << 20)), slow=True, timeout=120),
        E("model-symlink-loop", "score a symlink loop", ["score", "loop.onnx"], setup=_symlink("loop.onnx", "loop.onnx")),
        E("model-dangling-symlink", "score a dangling symlink", ["score", "dl.onnx"], setup=_symlink("dl.onnx", "gone.onnx")),
        E("model-name-too-long", "score a path whose name is 300 characters", ["score", "a" * 300 + ".onnx"], quick=True),
        E("model-not-a-dir", "score tiny.onnx/x.onnx (a file used as a folder)", ["score", "tiny.onnx/x.onnx"]),
        E("model-unreadable", "score a file without read permission (as uid nobody)", ["score", "secret.onnx", "-b", "8"],
          setup=_seq(lambda d: shutil.copyfile(d / "tiny.onnx", d / "secret.onnx"), _chmod("secret.onnx", 0)),
          needs="nobody"),
        E("model-unicode-name", "score a model whose name has spaces and non-ASCII", ["score", "mödel ☃ x.onnx", "-b", "8", "--json"],
          setup=lambda d: shutil.copyfile(d / "tiny.onnx", d / "mödel ☃ x.onnx"), expect="ok"),
        E("model-dash-name", "score a model named -m.onnx after --", ["score", "-b", "8", "--json", "--", "-m.onnx"],
          setup=lambda d: shutil.copyfile(d / "tiny.onnx", d / "-m.onnx"), expect="either"),
        E("score-crasher", "score a model whose shape inference segfaults (GatherND batch_dims=-5)",
          ["score", "crash.onnx", "-b", "8"], setup=_model("crash.onnx", crasher_model), quick=True),
        E("score-crasher-between", "score good, crashing, good models in one call",
          ["score", "tiny.onnx", "crash.onnx", "narrow.onnx", "-b", "8", "--json"],
          setup=_model("crash.onnx", crasher_model), expect="either"),
        E("score-hang", "score a model with a Loop of 1e15 iterations (--timeout 10 when score has it)",
          ["score", "hang.onnx", "-b", "8"], setup=_model("hang.onnx", hang_model), timeout=60, limit=10, quick=True),
        E("score-two-models", "score two valid models, --json", ["score", "tiny.onnx", "narrow.onnx", "-b", "8", "--json"],
          expect="ok"),
        E("score-secondary-input-unbatched", "a valid model whose second input has no batch dimension (shape [2])",
          ["score", "mi.onnx", "-b", "8", "--input", "x", "--json"], expect="either",
          setup=lambda d: (d / "mi.onnx").write_bytes(_unbatched_aux_model().SerializeToString())),
        # ---------------------------------------------------------------- --data
        E("data-float64", "--data float64 array of the right shape", [*S, "--data", "d.npy"],
          setup=_npy("d.npy", good.astype(np.float64)), expect="either"),
        E("data-int32", "--data int32 array", [*S, "--data", "d.npy"], setup=_npy("d.npy", good.astype(np.int32)),
          expect="either"),
        E("data-float16", "--data float16 array", [*S, "--data", "d.npy"], setup=_npy("d.npy", good.astype(np.float16)),
          expect="either"),
        E("data-bool", "--data bool array", [*S, "--data", "d.npy"], setup=_npy("d.npy", good > 0), expect="either"),
        E("data-complex", "--data complex64 array", [*S, "--data", "d.npy"],
          setup=_npy("d.npy", good.astype(np.complex64))),
        E("data-structured", "--data structured dtype", [*S, "--data", "d.npy"],
          setup=_npy("d.npy", np.zeros((16, 3), dtype=[("a", F32), ("b", np.int8)]))),
        E("data-wrong-sample-shape", "--data samples 3x16x16 for a 3x32x32 model", [*S, "--data", "d.npy"],
          setup=_npy("d.npy", good[:, :, :16, :16].astype(F32)), quick=True),
        E("data-nhwc", "--data in NHWC layout", [*S, "--data", "d.npy"],
          setup=_npy("d.npy", np.ascontiguousarray(good.transpose(0, 2, 3, 1)).astype(F32))),
        E("data-too-few-rows", "--data with 4 rows for -b 8", [*S, "--data", "d.npy"],
          setup=_npy("d.npy", good[:4].astype(F32)), expect="either"),
        E("data-nan-rows", "--data whose first 3 rows are NaN", [*S, "--data", "d.npy"], setup=_npy("d.npy", nan_rows),
          quick=True),
        E("data-inf-value", "--data with one +inf", [*S, "--data", "d.npy"], setup=_npy("d.npy", inf_rows)),
        E("data-npz", "--data .npz archive", [*S, "--data", "d.npz"],
          setup=lambda d: np.savez(d / "d.npz", x=good.astype(F32)), expect="either"),
        E("data-npz-pickled", "--data .npz holding a pickled object array", [*S, "--data", "p.npz"],
          setup=lambda d: np.savez(d / "p.npz", x=np.array([_Pickled()], dtype=object)),
          check=_check_not_exists("PWNED", "--data ran code from a pickle (.npz)")),
        E("data-pickled-object", "--data .npy holding a pickled object array whose unpickling runs `touch PWNED`",
          [*S, "--data", "p.npy"], setup=_npy("p.npy", np.array([_Pickled()], dtype=object), allow_pickle=True),
          check=_check_not_exists("PWNED", "--data ran code from a pickle"), quick=True),
        E("data-raw-pickle", "--data a plain pickle file named .npy", [*S, "--data", "p.npy"],
          setup=lambda d: (d / "p.npy").write_bytes(pickle.dumps(_Pickled())),
          check=_check_not_exists("PWNED", "--data ran code from a pickle")),
        E("data-empty-array", "--data with 0 rows", [*S, "--data", "d.npy"], setup=_npy("d.npy", good[:0].astype(F32))),
        E("data-scalar", "--data a 0-d array", [*S, "--data", "d.npy"], setup=_npy("d.npy", np.float32(1.0))),
        E("data-truncated", "--data .npy cut in half", [*S, "--data", "d.npy"],
          setup=lambda d: (d / "d.npy").write_bytes((d / "data.npy").read_bytes()[:4000]), quick=True),
        E("data-huge-header", "--data .npy whose header claims 1e12 rows", [*S, "--data", "d.npy"],
          setup=_wf("d.npy", _npy_header((10 ** 12, 3, 32, 32)) + b"\0" * 64), quick=True),
        E("data-text", "--data a text file", [*S, "--data", "d.npy"], setup=_wf("d.npy", "1,2,3\n")),
        E("data-directory", "--data a directory", [*S, "--data", "dd"], setup=_mkdir("dd")),
        E("data-dev-zero", "--data /dev/zero", [*S, "--data", "/dev/zero"], timeout=60),
        E("data-fifo", "--data a FIFO", [*S, "--data", "f.npy"], setup=_fifo("f.npy"), timeout=30),
        E("data-missing", "--data a missing file", [*S, "--data", "nope.npy"]),
        E("data-fortran-order", "--data float32 in Fortran order (valid)", [*S, "--data", "d.npy"],
          setup=_npy("d.npy", np.asfortranarray(good.astype(F32))), expect="ok"),
        E("data-valid", "--data a valid float32 batch", [*S, "--data", "data.npy"], expect="ok", quick=True),
        # ---------------------------------------------------------------- scoring options
        E("opt-seed-negative", "--seed -1", [*S, "--seed", "-1"], expect="either"),
        E("opt-seed-huge", "--seed 2**70", [*S, "--seed", str(2 ** 70)], expect="either"),
        E("opt-seed-text", "--seed abc", [*S, "--seed", "abc"]),
        E("opt-batch-0", "-b 0", ["score", "tiny.onnx", "-b", "0"], quick=True),
        E("opt-batch-1", "-b 1", ["score", "tiny.onnx", "-b", "1", "--json", "--proxy", "all"], expect="either",),
        E("opt-batch-2", "-b 2", ["score", "tiny.onnx", "-b", "2", "--json", "--proxy", "all"], expect="either"),
        E("opt-batch-negative", "-b -3", ["score", "tiny.onnx", "-b", "-3"]),
        E("opt-batch-1e9", "-b 1000000000", ["score", "tiny.onnx", "-b", "1000000000"], timeout=60, quick=True),
        E("opt-batch-float", "-b 2.5", ["score", "tiny.onnx", "-b", "2.5"]),
        E("opt-batch-overflow", "-b 99999999999999999999", ["score", "tiny.onnx", "-b", "99999999999999999999"]),
        E("opt-sigma-0", "--sigma 0", [*S, "--sigma", "0"], expect="either"),
        E("opt-sigma-negative", "--sigma -1", [*S, "--sigma", "-1"], quick=True),
        E("opt-sigma-inf", "--sigma inf", [*S, "--sigma", "inf"]),
        E("opt-sigma-nan", "--sigma nan", [*S, "--sigma", "nan"], quick=True),
        E("opt-sigma-minus-inf", "--sigma -inf", [*S, "--sigma", "-inf"]),
        E("opt-sigma-1e308", "--sigma 1e308", [*S, "--sigma", "1e308"], expect="either"),
        E("opt-input-shape-garbage", "--input-shape a,b", [*S, "--input-shape", "a,b"], quick=True),
        E("opt-input-shape-empty-part", "--input-shape 3,,32", [*S, "--input-shape", "3,,32"]),
        E("opt-input-shape-empty", "--input-shape ''", [*S, "--input-shape", ""]),
        E("opt-input-shape-negative", "--input-shape -3,32,32", [*S, "--input-shape", "-3,32,32"]),
        E("opt-input-shape-zero", "--input-shape 0,32,32", [*S, "--input-shape", "0,32,32"]),
        E("opt-input-shape-huge", "--input-shape 100000,100000,100000", [*S, "--input-shape", "100000,100000,100000"],
          quick=True),
        E("opt-input-shape-wrong-rank", "--input-shape 3,32 for a 4-D input", [*S, "--input-shape", "3,32"]),
        E("opt-input-shape-contradicts", "--input-shape 3,16,16 for a fixed 3x32x32 input", [*S, "--input-shape", "3,16,16"]),
        E("opt-input-shape-float", "--input-shape 3.5,32,32", [*S, "--input-shape", "3.5,32,32"]),
        E("opt-provider-bogus", "--provider bogus", [*S, "--provider", "bogus"], quick=True),
        E("opt-provider-cuda", "--provider cuda (no GPU here)", [*S, "--provider", "cuda"], expect="either"),
        E("opt-provider-empty", "--provider ''", [*S, "--provider", ""], expect="either"),
        E("opt-proxy-unknown", "--proxy unknown", [*S, "--proxy", "unknown"], quick=True),
        E("opt-proxy-empty", "--proxy ''", [*S, "--proxy", ""]),
        E("opt-proxy-comma", "--proxy ,", [*S, "--proxy", ","]),
        E("opt-proxy-duplicate", "--proxy epads,epads", [*S, "--proxy", "epads,epads"], expect="either"),
        E("opt-proxy-upper", "--proxy ALL", [*S, "--proxy", "ALL"], expect="either"),
        E("opt-mu-without-sigma-params", "--proxy reg-swap --mu 10 (no --sigma-params)",
          [*S, "--proxy", "reg-swap", "--mu", "10"], expect="either", quick=True),
        E("opt-mu-nan", "--proxy reg-swap --mu nan --sigma-params 1", [*S, "--proxy", "reg-swap", "--mu", "nan",
                                                                      "--sigma-params", "1"], expect="either"),
        E("opt-sigma-params-0", "--proxy reg-swap --mu 10 --sigma-params 0", [*S, "--proxy", "reg-swap", "--mu", "10",
                                                                             "--sigma-params", "0"], expect="either"),
        E("opt-sigma-params-negative", "--proxy reg-swap --mu 10 --sigma-params -5",
          [*S, "--proxy", "reg-swap", "--mu", "10", "--sigma-params", "-5"], expect="either"),
        E("opt-mu-inf", "--proxy reg-swap --mu inf --sigma-params 1e300",
          [*S, "--proxy", "reg-swap", "--mu", "inf", "--sigma-params", "1e300"], expect="either"),
        E("opt-activations-bogus", "--activations bogus", [*S, "--activations", "bogus"], quick=True),
        E("opt-bn-bogus", "--bn bogus", [*S, "--bn", "bogus"]),
        E("opt-init-bogus", "--init bogus", [*S, "--init", "bogus"]),
        E("opt-merged-sites-bogus", "--merged-sites bogus", [*S, "--merged-sites", "bogus"]),
        E("opt-input-missing", "--input nosuch", [*S, "--input", "nosuch"]),
        E("opt-from-bogus", "--from bogus", [*S, "--from", "bogus"]),
        E("opt-from-keras-on-onnx", "--from keras on an ONNX file", [*S, "--from", "keras"], slow=True, timeout=120),
        E("opt-unknown", "an unknown option", [*S, "--frobnicate"]),
        E("cli-no-arguments", "onnxscore without arguments", [], expect="either"),
        E("cli-score-no-model", "onnxscore score without a model", ["score"]),
        E("cli-unknown-command", "onnxscore frobnicate", ["frobnicate"]),
        E("stdout-closed", "score --json into a closed pipe (| head -c0)", [*S], stdout_mode="closed", expect="either",
          quick=True, quiet_exit_ok=True),
        E("stdout-dev-full", "score --json > /dev/full", [*S], stdout_mode="/dev/full", quick=True),
        E("rank-stdout-dev-full", "rank > /dev/full", [*R], stdout_mode="/dev/full"),
        E("env-tmpdir-missing", "TMPDIR points at a missing folder", [*S], env={"TMPDIR": "/nonexistent/tmp"},
          expect="either"),
        E("env-home-unset", "HOME unset", [*S], env={"HOME": None}, expect="either"),
        # ---------------------------------------------------------------- rank outputs and store
        E("rank-valid", "rank two models with --csv and --json", ["rank", "tiny.onnx", "narrow.onnx", "-b", "8",
                                                                  "--workers", "0", "-q", "--store", "s.sqlite",
                                                                  "--csv", "o.csv", "--json", "o.json"],
          expect="ok", outputs=("o.csv", "o.json"), quick=True),
        E("rank-csv-exists", "rank --csv onto an existing file (no --force)", [*R, "--csv", "out.csv"],
          setup=_wf("out.csv", PRECIOUS), expect="either", quick=True),
        E("rank-json-exists", "rank --json onto an existing file (no --force)", [*R, "--json", "out.json"],
          setup=_wf("out.json", PRECIOUS), expect="either"),
        E("rank-csv-is-input", "rank --csv the input model itself", [*R, "--csv", "tiny.onnx"], quick=True),
        E("rank-json-is-input", "rank --json the input model itself", [*R, "--json", "tiny.onnx"]),
        E("rank-csv-is-data", "rank --csv onto the --data file", [*R, "--data", "data.npy", "--csv", "data.npy"]),
        E("rank-csv-missing-dir", "rank --csv into a missing folder", [*R, "--csv", "nodir/out.csv"], expect="either",
          outputs=("nodir/out.csv",)),
        E("rank-csv-readonly-dir", "rank --csv into a read-only folder", [*R, "--csv", "ro/out.csv"],
          setup=_ro_dir("ro"), needs="mount", quick=True),
        E("rank-csv-dev-full", "rank --csv /dev/full", [*R, "--csv", "/dev/full"], quick=True),
        E("rank-json-dev-full", "rank --json /dev/full", [*R, "--json", "/dev/full"]),
        E("rank-csv-is-dir", "rank --csv onto a directory", [*R, "--csv", "adir"], setup=_mkdir("adir")),
        E("rank-csv-equals-json", "rank --csv and --json the same new file", [*R, "--csv", "x.out", "--json", "x.out"],
          expect="either"),
        E("rank-store-garbage", "rank --store a text file holding user data", ["rank", "tiny.onnx", "-b", "8",
                                                                              "--workers", "0", "-q", "--store", "notes.txt"],
          setup=_wf("notes.txt", PRECIOUS), quick=True),
        E("rank-store-is-model", "rank --store the input model", ["rank", "tiny.onnx", "-b", "8", "--workers", "0", "-q",
                                                                 "--store", "tiny.onnx"], quick=True),
        E("rank-store-is-data", "rank --store the --data file", [*R[:-2], "--data", "data.npy", "--store", "data.npy"]),
        E("rank-store-directory", "rank --store a directory", [*R[:-2], "--store", "adir"], setup=_mkdir("adir")),
        E("rank-store-dev-null", "rank --store /dev/null", [*R[:-2], "--store", "/dev/null"], expect="either"),
        E("rank-store-dev-full", "rank --store /dev/full", [*R[:-2], "--store", "/dev/full"], expect="either"),
        E("rank-store-missing-dirs", "rank --store in folders that do not exist yet", [*R[:-2], "--store", "a/b/s.sqlite"],
          expect="either"),
        E("rank-store-readonly-dir", "rank --store in a read-only folder", [*R[:-2], "--store", "ro/s.sqlite"],
          setup=_ro_dir("ro"), needs="mount"),
        E("rank-store-empty-file", "rank --store an empty file", [*R[:-2], "--store", "e.sqlite"],
          setup=_wf("e.sqlite", b""), expect="either"),
        E("rank-store-foreign-sqlite", "rank --store another program's SQLite database",
          [*R[:-2], "--store", "app.sqlite3"], setup=_foreign_db("app.sqlite3"), expect="either",
          may_change=("app.sqlite3",), check=_check_sqlite_table("app.sqlite3", "users", 5)),
        E("rank-store-other-schema", "rank --store a SQLite file with a different 'scores' table",
          [*R[:-2], "--store", "o.sqlite3"], setup=_other_schema_store("o.sqlite3"), may_change=("o.sqlite3",),
          check=_check_sqlite_table("o.sqlite3", "scores", 1), quick=True),
        E("rank-default-store-readonly-cwd", "rank without --store from a read-only working folder",
          ["rank", "../tiny.onnx", "-b", "8", "--workers", "0", "-q"], setup=_ro_dir("ro"), needs="mount",
          expect="either", cwd="ro"),
        E("rank-workers-negative", "rank --workers -1", [*R[:4], "--workers", "-1", "-q", "--store", "s.sqlite"]),
        E("rank-threads-negative", "rank --threads -1", [*R, "--threads", "-1"]),
        E("rank-threads-0", "rank --threads 0", [*R, "--threads", "0"], expect="either"),
        E("rank-top-0", "rank --top 0", [*R, "--top", "0"], expect="either"),
        E("rank-top-negative", "rank --top -1", [*R, "--top", "-1"], expect="either"),
        E("rank-max-params-garbage", "rank --max-params 1.5X", [*R, "--max-params", "1.5X"], quick=True),
        E("rank-max-params-negative", "rank --max-params -1", [*R, "--max-params", "-1"], expect="either"),
        E("rank-max-params-nan", "rank --max-params nan", [*R, "--max-params", "nan"]),
        E("rank-max-macs-empty", "rank --max-macs ''", [*R, "--max-macs", ""]),
        E("rank-max-macs-overflow", "rank --max-macs 1e400", [*R, "--max-macs", "1e400"], expect="either"),
        E("rank-latency-runs-0", "rank --latency --latency-runs 0", [*R, "--latency", "--latency-runs", "0"]),
        E("rank-latency-runs-negative", "rank --latency --latency-runs -1", [*R, "--latency", "--latency-runs", "-1"]),
        E("rank-latency-batch-0", "rank --latency --latency-batch 0", [*R, "--latency", "--latency-batch", "0"]),
        E("rank-max-latency-nan", "rank --max-latency-ms nan", [*R, "--max-latency-ms", "nan"]),
        E("rank-max-latency-negative", "rank --max-latency-ms -1", [*R, "--max-latency-ms", "-1"], expect="either"),
        E("rank-space-bogus", "rank --space bogus --sample 2", ["rank", "--space", "bogus", "--sample", "2", "-q",
                                                               "--store", "s.sqlite"]),
        E("rank-space-sample-0", "rank --space nb201 --sample 0", ["rank", "--space", "nb201", "--sample", "0", "-q",
                                                                  "--store", "s.sqlite"]),
        E("rank-space-sample-negative", "rank --space nb201 --sample -1", ["rank", "--space", "nb201", "--sample", "-1",
                                                                          "-q", "--store", "s.sqlite"]),
        E("rank-space-dataset-bogus", "rank --space nb201 --dataset bogus", ["rank", "--space", "nb201", "--sample", "1",
                                                                            "--dataset", "bogus", "-q", "--store",
                                                                            "s.sqlite"]),
        E("rank-pareto-latency-unmeasured", "rank --pareto --pareto-cost latency without --latency",
          [*R, "--pareto", "--pareto-cost", "latency"], expect="either"),
        E("rank-no-inputs", "rank without inputs", ["rank", "-q", "--store", "s.sqlite"]),
        E("rank-missing-input", "rank a missing file", [*R[:1], "nope.onnx", *R[2:]]),
        E("rank-empty-dir", "rank an empty folder", ["rank", "emptydir", "-q", "--workers", "0", "--store", "s.sqlite"],
          setup=_mkdir("emptydir"), expect="either"),
        E("rank-fifo-input", "rank a FIFO given by name", ["rank", "f.onnx", "-q", "--workers", "0", "--store", "s.sqlite"],
          setup=_fifo("f.onnx"), timeout=30, quick=True),
        E("rank-dir-with-garbage", "rank a folder holding a garbage .onnx next to a good one",
          ["rank", "mdir", "-b", "8", "-q", "--workers", "0", "--store", "s.sqlite", "--json", "o.json"],
          setup=_seq(_mkdir("mdir"), _wf("mdir/bad.onnx", b"garbage"),
                     lambda d: shutil.copyfile(d / "tiny.onnx", d / "mdir" / "good.onnx")),
          expect="ok", outputs=("o.json",)),
        E("rank-duplicate-inputs", "rank the same file twice", [*R[:2], "tiny.onnx", *R[2:]], expect="either"),
        E("rank-ray-bogus", "rank --ray 256.0.0.1:1 (an address that cannot exist)", [*R, "--ray", "256.0.0.1:1"],
          slow=True, timeout=60),
        # ---------------------------------------------------------------- evaluate
        E("eval-valid", "evaluate a 3-model CSV", [*EV, "--json", "-o", "e.json"], expect="ok", outputs=("e.json",),
          quick=True),
        E("eval-csv-binary", "evaluate a binary file as the CSV", ["evaluate", "bin.csv", *EV[2:]],
          setup=_wf("bin.csv", bytes(np.random.default_rng(2).integers(0, 256, 2048, dtype=np.uint8))), quick=True),
        E("eval-csv-empty", "evaluate an empty CSV", ["evaluate", "e.csv", *EV[2:]], setup=_wf("e.csv", b"")),
        E("eval-csv-header-only", "evaluate a CSV with only a header", ["evaluate", "h.csv", *EV[2:]],
          setup=_wf("h.csv", "model,accuracy\n")),
        E("eval-csv-nonnumeric", "evaluate a CSV whose accuracy is text", ["evaluate", "t.csv", *EV[2:]],
          setup=_wf("t.csv", "model,accuracy\ntiny.onnx,high\nnarrow.onnx,low\n")),
        E("eval-csv-nan-accuracy", "evaluate a CSV with a NaN accuracy", ["evaluate", "n.csv", *EV[2:], "--json"],
          setup=_wf("n.csv", "model,accuracy\ntiny.onnx,nan\nnarrow.onnx,0.5\nrelu6.onnx,0.6\n"), expect="either"),
        E("eval-csv-one-row", "evaluate a CSV with one model", ["evaluate", "one.csv", *EV[2:], "--json"],
          setup=_wf("one.csv", "model,accuracy\ntiny.onnx,0.5\n"), expect="either"),
        E("eval-csv-tied-accuracy", "evaluate a CSV whose accuracies are all equal", ["evaluate", "tie.csv", *EV[2:],
                                                                                      "--json"],
          setup=_wf("tie.csv", "model,accuracy\ntiny.onnx,0.5\nnarrow.onnx,0.5\nrelu6.onnx,0.5\n"), expect="either"),
        E("eval-csv-missing-model", "evaluate a CSV naming a missing model", ["evaluate", "m.csv", *EV[2:], "--json"],
          setup=_wf("m.csv", "model,accuracy\ntiny.onnx,0.5\nnope.onnx,0.7\nrelu6.onnx,0.6\n"), expect="either"),
        E("eval-csv-escape-path", "evaluate a CSV whose model path is ../../etc/passwd", ["evaluate", "p.csv", *EV[2:]],
          setup=_wf("p.csv", "model,accuracy\n../../../../etc/passwd,0.5\ntiny.onnx,0.6\nnarrow.onnx,0.7\n"),
          expect="either"),
        E("eval-o-exists", "evaluate -o onto an existing file (no --force)", [*EV, "-o", "out.json"],
          setup=_wf("out.json", PRECIOUS), expect="either"),
        E("eval-o-is-csv", "evaluate -o the input CSV", [*EV, "-o", "models.csv"], quick=True),
        E("eval-o-dev-full", "evaluate -o /dev/full", [*EV, "-o", "/dev/full"]),
        E("eval-o-missing-dir", "evaluate -o into a missing folder", [*EV, "-o", "nodir/e.json"], expect="either",
          outputs=("nodir/e.json",)),
        E("eval-plot-exists", "evaluate --plot onto an existing file", [*EV, "--plot", "p.png"],
          setup=_wf("p.png", PRECIOUS), expect="either", slow=True),
        E("eval-space-bogus", "evaluate --space bogus", ["evaluate", "--space", "bogus", "-q"]),
        E("eval-dataset-bogus", "evaluate --space nb201 --dataset bogus", ["evaluate", "--space", "nb201", "--dataset",
                                                                          "bogus", "--sample", "2", "-q"]),
        E("eval-sample-0", "evaluate --sample 0", [*EV, "--sample", "0"]),
        E("eval-sample-too-many", "evaluate --sample 99 of a 3-row CSV", [*EV, "--sample", "99"], expect="either"),
        E("eval-image-size-bogus", "evaluate --image-size 7", [*EV, "--image-size", "7"]),
        E("eval-data-wrong-shape", "evaluate --data of the wrong sample shape", [*EV, "--data", "d.npy"],
          setup=_npy("d.npy", good[:, :, :8, :8].astype(F32))),
        E("eval-no-csv", "evaluate without a CSV or --space", ["evaluate", "-q"]),
        # ---------------------------------------------------------------- convert
        E("convert-missing-src", "convert a missing source", ["convert", "nope.keras", "-o", "x.onnx"]),
        E("convert-onnx-src", "convert an ONNX file", ["convert", "tiny.onnx", "-o", "x.onnx"], expect="either",
          outputs=("x.onnx",)),
        E("convert-o-exists", "convert onto an existing file (no --force)", ["convert", "nets.py:make", "--input-shape",
                                                                            "3,8,8", "-o", "exists.onnx"],
          setup=_seq(_wf("nets.py", NETS_PY), _wf("exists.onnx", PRECIOUS)), slow=True, timeout=180),
        E("convert-o-is-src", "convert onto its own source file", ["convert", "nets.py:make", "--input-shape", "3,8,8",
                                                                  "-o", "nets.py"],
          setup=_wf("nets.py", NETS_PY), slow=True, timeout=180),
        E("convert-factory-raises", "convert a factory that raises", ["convert", "nets.py:boom", "--input-shape", "3,8,8",
                                                                     "-o", "b.onnx"],
          setup=_wf("nets.py", NETS_PY), slow=True, timeout=180),
        E("convert-factory-not-module", "convert a factory returning 5", ["convert", "nets.py:notmodule",
                                                                         "--input-shape", "3,8,8", "-o", "n.onnx"],
          setup=_wf("nets.py", NETS_PY), slow=True, timeout=180),
        E("convert-factory-missing", "convert nosuchmodule_xyz:make", ["convert", "nosuchmodule_xyz:make",
                                                                      "--input-shape", "3,8,8", "-o", "n.onnx"],
          slow=True, timeout=180),
        E("convert-valid-force", "convert a torch factory with --force over an existing file",
          ["convert", "nets.py:make", "--input-shape", "3,8,8", "-o", "f.onnx", "--force"],
          setup=_seq(_wf("nets.py", NETS_PY), _wf("f.onnx", PRECIOUS)), expect="ok", may_change=("f.onnx",),
          outputs=("f.onnx",), slow=True, timeout=180),
        E("convert-keras-garbage", "convert a garbage .keras file", ["convert", "bad.keras", "-o", "k.onnx"],
          setup=_wf("bad.keras", bytes(range(256)) * 8), slow=True, timeout=180),
        E("convert-paddle-garbage", "convert a folder whose inference.json is garbage", ["convert", "pd", "-o", "p.onnx"],
          setup=_seq(_mkdir("pd"), _wf("pd/inference.json", "{not json"), _wf("pd/inference.pdiparams", b"\0" * 64)),
          slow=True, timeout=180),
        E("convert-opset-negative", "convert --opset -1", ["convert", "nets.py:make", "--input-shape", "3,8,8", "-o",
                                                          "o.onnx", "--opset", "-1"],
          setup=_wf("nets.py", NETS_PY), slow=True, timeout=180),
        E("convert-o-missing", "convert without -o", ["convert", "tiny.onnx"]),
        # ---------------------------------------------------------------- search
        E("search-valid", "search mobilenet-like, budget 2, -o", [*SE, "-o", "best.onnx"], expect="ok",
          outputs=("best.onnx",), quick=True),
        E("search-o-exists", "search -o onto an existing file (no --force)", [*SE, "-o", "exists.onnx"],
          setup=_wf("exists.onnx", PRECIOUS), quick=True),
        E("search-o-is-store", "search -o onto its own store", [*SE, "-o", "s.sqlite"], expect="either",
          setup=_wf("s.sqlite", b""), may_change=("s.sqlite",)),
        E("search-o-is-data", "search -o onto the --data file", [*SE, "--batch-source", "random", "-o", "data.npy"]),
        E("search-o-dev-full", "search -o /dev/full", [*SE, "-o", "/dev/full"]),
        E("search-o-missing-dir", "search -o into a missing folder", [*SE, "-o", "nodir/b.onnx"], expect="either",
          outputs=("nodir/b.onnx",)),
        E("search-o-readonly-dir", "search -o into a read-only folder", [*SE, "-o", "ro/b.onnx"], setup=_ro_dir("ro"),
          needs="mount"),
        E("search-budget-0", "search --budget 0", [*SE[:7], "--budget", "0", "-q", "--store", "s.sqlite", "--no-onnx"]),
        E("search-budget-negative", "search --budget -1", [*SE[:7], "--budget", "-1", "-q", "--store", "s.sqlite",
                                                           "--no-onnx"]),
        E("search-population-0", "search --algo evolution --population 0", [*SE, "--algo", "evolution", "--population",
                                                                           "0", "--no-onnx"]),
        E("search-tournament-0", "search --algo evolution --tournament 0", [*SE, "--algo", "evolution", "--tournament",
                                                                           "0", "--no-onnx"]),
        E("search-tournament-too-big", "search --tournament 50 --population 3", [*SE, "--algo", "evolution",
                                                                                "--population", "3", "--tournament",
                                                                                "50", "--no-onnx"], expect="either"),
        E("search-repeat-0", "search --repeat 0", [*SE, "--repeat", "0", "--no-onnx"]),
        E("search-repeat-negative", "search --repeat -1", [*SE, "--repeat", "-1", "--no-onnx"]),
        E("search-space-bogus", "search --space bogus", ["search", "--space", "bogus", "--no-onnx", "-q"]),
        E("search-space-module-missing", "search --space-module nosuch.py", [*SE, "--space-module", "nosuch.py",
                                                                            "--no-onnx"]),
        E("search-space-module-syntax", "search --space-module a file with a syntax error",
          [*SE, "--space-module", "bad.py", "--no-onnx"], setup=_wf("bad.py", BAD_SPACE_PY)),
        E("search-space-module-raises", "search --space-module a file that raises at import",
          [*SE, "--space-module", "raising.py", "--no-onnx"], setup=_wf("raising.py", RAISING_SPACE_PY)),
        E("search-max-params-0", "search --max-params 0 (nothing allowed)", [*SE, "--max-params", "0", "--no-onnx"],
          expect="either"),
        E("search-proxy-bogus", "search --proxy bogus", ["search", "--space", "mobilenet-like", "--proxy", "bogus",
                                                         "--no-onnx", "-q"]),
        E("search-score-also-bogus", "search --score-also bogus", [*SE, "--score-also", "bogus", "--no-onnx"]),
        E("search-data-wrong-shape", "search --data of the wrong shape", [*SE, "--data", "d.npy", "--no-onnx"],
          setup=_npy("d.npy", good[:, :, :5, :5].astype(F32))),
    ]
    names = [e.name for e in out]
    assert len(names) == len(set(names)), "corpus names must be unique"
    return out


def _unbatched_aux_model() -> onnx.ModelProto:
    F = TensorProto.FLOAT
    rng = np.random.default_rng(4)
    return _mk([helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
                helper.make_node("Gather", ["wg", "idx"], ["g"]), helper.make_node("ReduceSum", ["g"], ["s"], keepdims=0),
                helper.make_node("Add", ["r", "s"], ["y"])],
               [_vi("x", F, ["N", 4]), _vi("idx", TensorProto.INT64, [2])], [_vi("y", F, ["N", 8])],
               [_w(rng, "w", (4, 8)), _w(rng, "wg", (5, 8))])


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def _nan_in(obj) -> bool:
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_nan_in(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_nan_in(v) for v in obj)
    return False


def output_checks(d: Path, run: Run, args: list[str], outputs=()) -> list[tuple[str, str]]:
    """Oracles on a run's results: JSON lines of `score --json` (a)(c), NaN/inf printed as a result,
    output files that exist must be complete."""
    fails = []
    if run.rc == 0 and isinstance(run.stdout, str) and run.stdout:
        cmd = args[0] if args and args[0] in ("score", "rank", "evaluate", "convert", "search", "proxies") else "score"
        if cmd == "score" and "--json" in args:
            objs = parse_json_lines(run.stdout)
            if objs is None:
                fails.append(("wrong", f"score --json printed something that is not JSON lines: {run.stdout[:100]!r}"))
            else:
                for o in objs:
                    fails += check_score_object(o)
        elif cmd in ("evaluate", "search") and "--json" in args:
            try:
                objs = [json.loads(ln) for ln in run.stdout.splitlines() if ln.strip()]
                if any(_nan_in(o) for o in objs):
                    fails.append(("wrong", f"(a) {cmd} --json printed NaN/inf as a result"))
            except ValueError:
                fails.append(("wrong", f"{cmd} --json printed something that is not JSON"))
        else:
            # a result line: NaN/inf next to real numbers (prose such as "e.g. -inf ePADS" is not one)
            bad = [x for x in run.stdout.splitlines() if NAN_TEXT.search(x) and re.search(r"\d\.\d", x)]
            if bad:
                fails.append(("wrong", f"(a) '{NAN_TEXT.search(bad[0]).group(0)}' printed as a result: "
                                       f"{bad[0].strip()[:120]}"))
    for rel in outputs:
        if (d / rel).exists():
            why = _valid_output(d, rel)
            if why:
                fails.append(("wrong", f"output {rel} is {why} (exit {run.rc})"))
        elif run.rc == 0 and rel in outputs and "--no-onnx" not in args:
            fails.append(("wrong", f"exit 0 but the output {rel} was not written"))
    return fails


def _corpus_case(self: "Campaign", e: Entry) -> Outcome:
    case_id = f"corpus-{e.name}"
    if e.needs == "mount" and not can_mount():
        return self.finish_case(case_id, "corpus", e.desc + " [skipped: mounting a tmpfs needs root]", None, None, [],
                                status="skipped")
    if e.needs == "nobody" and (os.geteuid() != 0 or not shutil.which("setpriv")):
        return self.finish_case(case_id, "corpus", e.desc + " [skipped: needs root and setpriv to drop to nobody]",
                                None, None, [], status="skipped")
    d = self.case_dir(case_id)
    std_files(d)
    try:
        if e.setup:
            e.setup(d)
    except Exception as exc:  # noqa: BLE001
        rmtree(d)
        return self.finish_case(case_id, "corpus", f"{e.desc} [skipped: setup failed: {exc}]", None, None, [],
                                status="skipped")
    before = snapshot(d)
    args = list(e.args)
    if e.limit and args and supports(args[0], "--timeout"):
        args += ["--timeout", str(e.limit)]
    run = self.run(args, d / e.cwd if e.cwd else d, timeout=e.timeout or self.timeout, env=e.env,
                   stdout_mode=e.stdout_mode, wrap=NOBODY if e.needs == "nobody" else None)
    fails = classify(run, e.expect)
    if e.quiet_exit_ok:   # e.g. stdout closed by the reader: a quiet non-zero exit is fine
        fails = [f for f in fails if not (f[0] == "bad-exit" and not stderr_lines(run.stderr))]
    fails += output_checks(d, run, args, e.outputs)
    if e.check:
        fails += e.check(d, run)
    umount_under(d)
    after = snapshot(d)
    fails += diff_snapshot(before, after, lambda p: bool(STORE_FILE.search(p)) or p in e.may_change)
    return self.finish_case(case_id, "corpus", e.desc, d, run, fails)


def _run_corpus(self: "Campaign", quick: bool = False, names: list[str] | None = None, slow: bool = True,
                deadline: float | None = None, jobs: int = 1) -> None:
    todo = [e for e in corpus_entries()
            if (e.name in names if names is not None else not ((quick and not e.quick) or (e.slow and not slow)))]
    self.each(todo, lambda e: _corpus_case(self, e), jobs, deadline, "corpus entries")


Campaign.corpus_case = _corpus_case
Campaign.run_corpus = _run_corpus


# ============================================================================ rank fault scenarios

_HELP: dict[str, str] = {}


def supports(cmd: str, option: str) -> bool:
    """Whether `onnxscore CMD --help` lists OPTION (features the fixers may add, e.g. --timeout)."""
    if cmd not in _HELP:
        try:
            r = subprocess.run([*onnxscore_argv(), cmd, "--help"], capture_output=True, text=True, timeout=60,
                               env=child_env())
            _HELP[cmd] = r.stdout
        except (OSError, subprocess.TimeoutExpired):
            _HELP[cmd] = ""
    return re.search(rf"(^|\s){re.escape(option)}[\s,=]", _HELP[cmd]) is not None


SC_PROXIES = "epads,naswot"


def _summary(run: Run) -> dict:
    """`ranked N candidate(s): scored X, cached Y, failed Z` from rank's stderr."""
    m = re.search(r"ranked (\d+) candidate\(s\): scored (\d+), cached (\d+), failed (\d+)", run.stderr)
    return dict(zip(("total", "scored", "cached", "failed"), map(int, m.groups()))) if m else {}


class Scenarios:
    """Rank fault scenarios on local files; each returns (main run, failures, notes)."""

    def __init__(self, camp: "Campaign"):
        self.c = camp
        self.refs: dict[str, dict] = {}

    # ---------------------------------------------------------------- helpers
    def models(self, d: Path, kinds: list[str]) -> dict[str, str]:
        """Write models/<name>.onnx for each kind; returns {file name: kind}."""
        md = d / "models"
        md.mkdir(parents=True, exist_ok=True)
        base = {"tiny": (SAMPLES / "tiny_cnn.onnx").read_bytes(), "narrow": (SAMPLES / "narrow_cnn.onnx").read_bytes(),
                "relu6": (SAMPLES / "relu6_cnn.onnx").read_bytes(), "slow": slow_model().SerializeToString(),
                "slow32": slow_model(64, 32).SerializeToString(), "light": slow_model(24, 32).SerializeToString(),
                "crash": crasher_model().SerializeToString(), "hang": hang_model().SerializeToString()}
        out = {}
        for i, k in enumerate(kinds):
            name = f"m{i:02d}_{k}.onnx"
            (md / name).write_bytes(variant(base[k], i) if k in ("tiny", "narrow", "relu6", "slow", "slow32", "light")
                                    else base[k])
            out[name] = k
        return out

    def ref(self, kind: str, b: int) -> dict:
        """Scores of a model kind from `onnxscore score --json` (the reference rank must agree with)."""
        key = f"{kind}:{b}"
        if key not in self.refs:
            d = self.c.workroot / "_refs" / f"scenario-{kind}-{b}"
            rmtree(d)
            self.models(d, [kind])
            r = self.c.run(["score", f"models/m00_{kind}.onnx", "-b", str(b), "--proxy", SC_PROXIES, "--json"], d)
            objs = parse_json_lines(r.stdout) if r.rc == 0 else None
            self.refs[key] = (objs[0].get("scores") if objs else None) or {}
        return self.refs[key]

    def rank_args(self, b: int, out: str, store="s.sqlite", workers=1, extra=()) -> list[str]:
        args = ["rank", "models", "-b", str(b), "--proxy", SC_PROXIES, "-q", "--workers", str(workers),
                "--store", store, "--json", out, *extra]
        return args

    def timeout_opt(self, seconds: int) -> list[str]:
        return ["--timeout", str(seconds)] if supports("rank", "--timeout") else []

    def check_rows(self, d: Path, out: str, kinds: dict[str, str], b: int, label: str,
                   bad: tuple[str, ...] = ("crash", "hang")) -> list[tuple[str, str]]:
        rows = _rank_rows(d / out)
        if rows is None:
            return [("wrong", f"{label}: {out} missing or not a JSON list")]
        fails = []
        by = {Path(r.get("model", "")).name: r for r in rows}
        for name, kind in kinds.items():
            r = by.get(name)
            if r is None:
                fails.append(("wrong", f"{label}: no row for {name}"))
                continue
            if kind in bad:
                if r.get("status") == "ok" or not r.get("error"):
                    fails.append(("wrong", f"{label}: {name} ({kind}) has status {r.get('status')} without a reason"))
                continue
            if r.get("status") != "ok":
                fails.append(("wrong", f"{label}: valid model {name} has status {r.get('status')}: "
                                       f"{str(r.get('error'))[:120]}"))
                continue
            diff = scores_differ(self.ref(kind, b), {p: r.get(p) for p in SC_PROXIES.split(",")}, rel=1e-6)
            if diff:
                fails.append(("wrong", f"{label}: {name} scores differ from `onnxscore score`: {diff}"))
        return fails

    def store_ok(self, path: Path, label: str, min_rows: int = 0) -> list[tuple[str, str]]:
        integ, n = store_check(path)
        fails = []
        if integ != "ok":
            fails.append(("wrong", f"{label}: store integrity_check: {integ}"))
        elif n < min_rows:
            fails.append(("wrong", f"{label}: store holds {n} finished models, {min_rows} were finished before"))
        return fails

    def wait_rows(self, proc, store: Path, n: int, limit: float) -> int:
        t0 = time.time()
        rows = 0
        while time.time() - t0 < limit and proc.poll() is None:
            rows = store_rows(store)
            if rows >= n:
                return rows
            time.sleep(0.1)
        return store_rows(store)

    # ---------------------------------------------------------------- scenarios
    def crash(self, d: Path, workers: int):
        kinds = self.models(d, ["tiny", "crash", "narrow"])
        run = self.c.run(self.rank_args(B, "out.json", workers=workers), d, timeout=180)
        fails = classify(run, "ok")
        if run.rc == 0:
            fails += self.check_rows(d, "out.json", kinds, B, "crash")
        fails += self.store_ok(d / "s.sqlite", "crash")
        return run, fails, []

    def hang(self, d: Path, workers: int):
        kinds = self.models(d, ["tiny", "hang", "narrow"])
        run = self.c.run(self.rank_args(B, "out.json", workers=workers, extra=self.timeout_opt(10)), d, timeout=150)
        fails = classify(run, "ok")
        if run.rc == 0:
            fails += self.check_rows(d, "out.json", kinds, B, "hang")
        fails += self.store_ok(d / "s.sqlite", "hang")
        notes = [] if self.timeout_opt(1) else ["rank has no --timeout option"]
        return run, fails, notes

    def kill9(self, d: Path, n: int = 24, b: int = 32, kills: tuple[int, ...] = (2, 8)):
        """kill -9 the rank process mid-run (after `kills` finished models), then rerun: no lost rows,
        no corrupt store, same results. Light models (~0.15 s each): a worker is often about to
        send a result when its parent dies."""
        kinds = self.models(d, ["light"] * n)
        store = d / "s.sqlite"
        fails, notes = [], []
        seen = 0
        for k, want in enumerate(kills):
            args = self.rank_args(b, f"killed{k}.json", extra=self.timeout_opt(120))
            t0 = time.perf_counter()
            proc = start_cli(args, d)
            rows = self.wait_rows(proc, store, want, 120)
            if proc.poll() is not None:
                notes.append(f"run {k + 1} finished before the kill ({rows} rows)")
            os.kill(proc.pid, signal.SIGKILL)
            killed = finish(proc, args, d, t0, 30)
            time.sleep(3.5)   # the workers notice the parent is gone within ~1 s
            left = group_members(proc.pid)
            if left:
                fails.append(("orphan", f"kill -9 run {k + 1}: {len(left)} worker process(es) still alive 3.5 s "
                                        f"after the parent died: {left[0][1][:100]}"))
                kill_group(proc.pid)
            after = store_rows(store)
            fails += self.store_ok(store, f"after kill -9 #{k + 1}", min_rows=rows)
            notes.append(f"kill #{k + 1} at {rows} finished models (store then held {after})")
            seen = max(seen, after)
            if "Traceback" in killed.stderr:
                fails.append(("traceback", f"kill -9 run {k + 1}: {cause_line(killed)}"))
        run = self.c.run(self.rank_args(b, "out.json", extra=self.timeout_opt(120)), d, timeout=300)
        fails += classify(run, "ok", label="rerun after kill -9")
        if run.rc == 0:
            fails += self.check_rows(d, "out.json", kinds, b, "rerun after kill -9")
            s = _summary(run)
            if s and s["cached"] < seen:
                fails.append(("wrong", f"rerun after kill -9 re-scored finished models: cached {s['cached']} < {seen} "
                                       "in the store"))
            notes.append(f"rerun: {s}")
        fails += self.store_ok(store, "after the rerun", min_rows=n if run.rc == 0 else 0)
        return run, fails, notes

    def concurrent(self, d: Path, n: int = 6, b: int = 16):
        """Two ranks on one store at the same time."""
        kinds = self.models(d, ["tiny", "narrow", "relu6"] * (n // 3))
        t0 = time.perf_counter()
        a1, a2 = self.rank_args(b, "a.json"), self.rank_args(b, "b.json")
        p1, p2 = start_cli(a1, d), start_cli(a2, d)
        r1, r2 = finish(p1, a1, d, t0, 240), finish(p2, a2, d, t0, 240)
        fails = classify(r1, "either", label="run A") + classify(r2, "either", label="run B")
        ok_runs = [(r, out) for r, out in ((r1, "a.json"), (r2, "b.json")) if r.rc == 0]
        if not ok_runs:
            fails.append(("wrong", "neither of two concurrent ranks finished"))
        for r, out in ok_runs:
            fails += self.check_rows(d, out, kinds, b, f"concurrent {out}")
        fails += self.store_ok(d / "s.sqlite", "after two concurrent ranks", min_rows=n if ok_runs else 0)
        return r1, fails, [f"exit codes {r1.rc} and {r2.rc}; {_summary(r1)} / {_summary(r2)}"]

    def sigint(self, d: Path, n: int = 12, b: int = 64):
        """Ctrl-C (SIGINT to the process group) mid-run: exit 130 with one line, nothing lost, rerun resumes."""
        kinds = self.models(d, ["slow"] * n)
        store = d / "s.sqlite"
        args = self.rank_args(b, "interrupted.json", extra=self.timeout_opt(120))
        t0 = time.perf_counter()
        proc = start_cli(args, d)
        rows = self.wait_rows(proc, store, 2, 120)
        notes = []
        if proc.poll() is not None:
            notes.append("the run finished before Ctrl-C")
        kill_group(proc.pid, signal.SIGINT)
        run = finish(proc, args, d, t0, 60)
        fails = classify(run, "either", interrupt_ok=True, label="Ctrl-C")
        if run.rc == 0 and not notes:
            done = store_rows(store)
            if done >= n and time.perf_counter() - t0 < 3 * max(1.0, run.elapsed / n):
                notes.append(f"inconclusive: all {n} models were finished when Ctrl-C arrived")
            else:
                fails.append(("wrong", f"Ctrl-C at {rows} of {n} finished models was ignored: the run went on to "
                                       f"{done} and exited 0"))
        if run.rc not in (None, 0, 130) and not fails:
            fails.append(("bad-exit", f"Ctrl-C: exit {run.rc} (expected 130)"))
        if (d / "interrupted.json").exists() and _valid_output(d, "interrupted.json"):
            fails.append(("wrong", f"Ctrl-C left interrupted.json {_valid_output(d, 'interrupted.json')}"))
        fails += self.store_ok(store, "after Ctrl-C", min_rows=rows)
        seen = store_rows(store)
        notes.append(f"Ctrl-C at {rows} finished models; exit {run.rc}; store then held {seen}")
        r2 = self.c.run(self.rank_args(b, "out.json", extra=self.timeout_opt(120)), d, timeout=300)
        fails += classify(r2, "ok", label="rerun after Ctrl-C")
        if r2.rc == 0:
            fails += self.check_rows(d, "out.json", kinds, b, "rerun after Ctrl-C")
            s = _summary(r2)
            if s and s["cached"] < seen:
                fails.append(("wrong", f"rerun after Ctrl-C re-scored finished models: cached {s['cached']} < {seen}"))
        return run, fails, notes

    def evaluate_sigint(self, d: Path, n: int = 10, b: int = 64):
        """Ctrl-C during evaluate: the metrics over the finished models, exit 130, no traceback."""
        kinds = self.models(d, ["slow32"] * n)   # 32x32 inputs: evaluate feeds CIFAR-10 images
        accs = "\n".join(f"models/{k},{0.5 + 0.01 * i}" for i, k in enumerate(kinds))
        (d / "m.csv").write_text("model,accuracy\n" + accs + "\n")
        store = d / "s.sqlite"
        args = ["evaluate", "m.csv", "-b", str(b), "--proxy", "epads", "--workers", "1", "--store", "s.sqlite", "-q"]
        t0 = time.perf_counter()
        proc = start_cli(args, d)
        rows = self.wait_rows(proc, store, 3, 120)
        kill_group(proc.pid, signal.SIGINT)
        run = finish(proc, args, d, t0, 60)
        fails = classify(run, "either", interrupt_ok=True, label="evaluate Ctrl-C")
        if run.rc == 0 and store_rows(store) >= n:
            return run, fails, [f"inconclusive: all {n} models were finished when Ctrl-C arrived"]
        if run.rc not in (None, 130) and not fails:
            fails.append(("bad-exit", f"evaluate Ctrl-C: exit {run.rc} (expected 130)"))
        if run.rc == 130 and "kendall" not in run.stdout.lower():
            fails.append(("wrong", "evaluate Ctrl-C: no metrics over the finished models were printed"))
        fails += self.store_ok(store, "after evaluate Ctrl-C", min_rows=rows)
        return run, fails, [f"Ctrl-C at {rows} finished models; exit {run.rc}"]

    def sigint_startup(self, d: Path, delays=(0.15, 0.3, 0.6)):
        """Ctrl-C while onnxscore is still starting (importing): a quiet exit or one line, no traceback."""
        self.models(d, ["tiny"])
        fails, notes, last = [], [], None
        for cmd in (["score", "models/m00_tiny.onnx", "-b", str(B)],
                    ["rank", "models", "-b", str(B), "-q", "--workers", "1", "--store", "s.sqlite"]):
            for delay in delays:
                t0 = time.perf_counter()
                proc = start_cli(cmd, d)
                time.sleep(delay)
                kill_group(proc.pid, signal.SIGINT)
                run = finish(proc, cmd, d, t0, 60)
                run.suffix = f" & sleep {delay}; kill -INT $!"   # shown in the reproducer
                f = classify(run, "either", interrupt_ok=True, label=f"{cmd[0]}, Ctrl-C after {delay} s")
                f = [x for x in f if x[0] != "bad-exit" or stderr_lines(run.stderr)]
                if last is None or (f and not fails):   # show the first failing run (else the first run)
                    last = run
                fails += f
                notes.append(f"{cmd[0]} +{delay}s: exit {run.rc}")
        return last, fails, notes

    def readonly_store(self, d: Path, b: int = 16):
        """The store on a read-only filesystem: cached results still readable, writes refused cleanly."""
        if not can_mount():
            return None, [], ["skipped: mounting a tmpfs needs root"]
        kinds = self.models(d, ["tiny", "narrow"])
        ro = d / "ro"
        if not mount_tmpfs(ro, "2m"):
            return None, [], ["skipped: mount failed"]
        try:
            r0 = self.c.run(self.rank_args(b, "first.json", store="ro/s.sqlite"), d, timeout=120)
            fails = classify(r0, "ok", label="first run (writable)")
            if not remount(ro, "ro"):
                return r0, fails, ["skipped: remount ro failed"]
            r1 = self.c.run(self.rank_args(b, "cached.json", store="ro/s.sqlite"), d, timeout=120)
            fails += classify(r1, "either", label="read-only store, all cached")
            if r1.rc == 0:
                fails += self.check_rows(d, "cached.json", kinds, b, "read-only store, all cached")
            a2 = self.rank_args(b, "new.json", store="ro/s.sqlite")
            a2[a2.index(SC_PROXIES)] = SC_PROXIES + ",swap"
            r2 = self.c.run(a2, d, timeout=120)
            fails += classify(r2, "either", label="read-only store, a new proxy")
            fails += self.store_ok(ro / "s.sqlite", "read-only store", min_rows=2)
            notes = [f"all-cached run: exit {r1.rc}: {first_line(r1)[:100]}",
                     f"new-proxy run: exit {r2.rc}: {first_line(r2)[:100]}"]
            return r2, fails, notes
        finally:
            umount(ro)

    def full_disk(self, d: Path, b: int = 16):
        """The store (and --csv) on a full 300 kB tmpfs: a clean error, an intact store, a rerun that works."""
        if not can_mount():
            return None, [], ["skipped: mounting a tmpfs needs root"]
        kinds = self.models(d, ["tiny", "narrow", "relu6", "tiny", "narrow", "relu6"])
        full = d / "full"
        if not mount_tmpfs(full, "300k"):
            return None, [], ["skipped: mount failed"]
        try:
            one = d / "one"
            one.mkdir()
            shutil.copyfile(d / "models" / "m00_tiny.onnx", one / "m00_tiny.onnx")
            r0 = self.c.run(["rank", "one", "-b", str(b), "--proxy", SC_PROXIES, "-q", "--workers", "1",
                             "--store", "full/s.sqlite"], d, timeout=120)
            fails = classify(r0, "either", label="first run on the small disk")
            fd = os.open(full / "filler", os.O_WRONLY | os.O_CREAT, 0o644)   # fill the disk to the last byte
            try:
                for size in (65536, 4096, 512, 1):
                    while True:
                        try:
                            if os.write(fd, b"\0" * size) < size:
                                break
                        except OSError:
                            break
            finally:
                os.close(fd)
            r1 = self.c.run([*self.rank_args(b, "out.json", store="full/s.sqlite"), "--csv", "full/out.csv"], d,
                            timeout=180)
            fails += classify(r1, "either", label="disk full")
            if (full / "out.csv").exists() and _valid_output(full, "out.csv"):
                fails.append(("wrong", f"disk full: full/out.csv left {_valid_output(full, 'out.csv')} (exit {r1.rc})"))
            if r1.rc == 0 and not (full / "out.csv").exists():
                fails.append(("wrong", "disk full: exit 0 although the CSV was not written"))
            os.remove(full / "filler")
            fails += self.store_ok(full / "s.sqlite", "store after the disk-full run")
            r2 = self.c.run(self.rank_args(b, "again.json", store="full/s.sqlite"), d, timeout=180)
            fails += classify(r2, "ok", label="rerun with space freed")
            if r2.rc == 0:
                fails += self.check_rows(d, "again.json", kinds, b, "rerun with space freed")
            notes = [f"disk-full run: exit {r1.rc}: {first_line(r1)[:120]}"]
            return r1, fails, notes
        finally:
            umount(full)


SCENARIOS = {   # id -> (description, method name, kwargs)
    "crash-w1": ("rank 3 models, one crashes onnx shape inference (SIGSEGV), --workers 1", "crash", {"workers": 1}),
    "crash-w0": ("rank 3 models, one crashes onnx shape inference (SIGSEGV), --workers 0 (in-process)", "crash",
                 {"workers": 0}),
    "hang-w1": ("rank 3 models, one runs a Loop of 1e15 iterations, --workers 1 --timeout 10", "hang", {"workers": 1}),
    "hang-w0": ("rank 3 models, one runs a Loop of 1e15 iterations, --workers 0 --timeout 10", "hang", {"workers": 0}),
    "kill9-resume": ("kill -9 of rank mid-run, twice, then rerun: resume, no lost rows, no corrupt store", "kill9", {}),
    "kill9-once": ("kill -9 of rank after 2 of 10 models, then rerun (the fast tests' version)", "kill9",
                   {"n": 10, "kills": (2,)}),
    "concurrent": ("two ranks on one store at the same time", "concurrent", {}),
    "sigint": ("Ctrl-C (SIGINT to the process group) mid-run, then rerun", "sigint", {}),
    "sigint-startup": ("Ctrl-C 0.15/0.3/0.6 s after starting score and rank (while Python imports)",
                       "sigint_startup", {}),
    "evaluate-sigint": ("Ctrl-C during evaluate: metrics over the finished models, exit 130", "evaluate_sigint", {}),
    "readonly-store": ("store on a read-only filesystem (all cached, then a new proxy)", "readonly_store", {}),
    "full-disk": ("store and --csv on a full 300 kB tmpfs, then rerun with space freed", "full_disk", {}),
}


def _scenario_case(self: "Campaign", sid: str) -> Outcome:
    desc, meth, kw = SCENARIOS[sid]
    d = self.case_dir(f"rank-{sid}")
    sc = getattr(self, "_scen", None) or Scenarios(self)
    self._scen = sc
    try:
        run, fails, notes = getattr(sc, meth)(d, **kw)
    finally:
        umount_under(d)
    if run is None:
        rmtree(d)
        return self.finish_case(f"rank-{sid}", "rank scenarios", f"{desc} [{'; '.join(notes)}]", None, None, [],
                                status="skipped", notes=notes)
    inconclusive = any(str(n).startswith("inconclusive") for n in notes)
    return self.finish_case(f"rank-{sid}", "rank scenarios", desc + (" [inconclusive]" if inconclusive and not fails
                                                                      else ""), d, run, fails, notes=notes,
                            status="fail" if fails else ("skipped" if inconclusive else "ok"))


def _run_scenarios(self: "Campaign", ids: list[str] | None = None, deadline: float | None = None) -> None:
    for sid in ids or FULL_SCENARIOS:
        if deadline and time.time() > deadline:
            self.log("time budget reached in the rank scenarios")
            break
        _scenario_case(self, sid)


Campaign.scenario_case = _scenario_case
Campaign.run_scenarios = _run_scenarios


# ============================================================================ driving a campaign

QUICK_SCENARIOS = ["crash-w1", "kill9-once"]
FULL_SCENARIOS = [k for k in SCENARIOS if k != "kill9-once"]


def plan(budget: int, n_corpus: int, n_scen: int, n_schema: int, n_seeds: int) -> dict:
    """Split a budget of inputs: the fixed sources first (seeds, scenarios, corpus), mutants up to
    half of the budget, then schema ops, then the remaining budget to mutants."""
    left = max(0, budget - n_seeds - n_scen - n_corpus)
    schema = min(n_schema, max(0, left - max(left // 2, min(left, 100))))
    return {"seeds": n_seeds, "scenarios": n_scen, "corpus": n_corpus, "schema": schema,
            "mutants": max(0, left - schema)}


def run_campaign(camp: Campaign, budget: int = 600, quick: bool = False, minutes: float | None = None,
                 slow: bool = True, jobs: int = 1) -> dict:
    """The whole campaign (or the --quick one). Returns the plan that was run."""
    deadline = camp.started + 60 * minutes if minutes else None
    if quick:
        p = {"seeds": 0, "scenarios": len(QUICK_SCENARIOS), "corpus": sum(e.quick for e in corpus_entries()),
             "schema": 0, "mutants": 30}
        camp.run_scenarios(QUICK_SCENARIOS, deadline=deadline)
        camp.run_corpus(quick=True, deadline=deadline, jobs=jobs)
        camp.run_mutants(p["mutants"], deadline=deadline, jobs=jobs)
        return p
    entries = [e for e in corpus_entries() if slow or not e.slow]
    p = plan(budget, len(entries), len(FULL_SCENARIOS), len(schema_list()), len(camp.seeds) + 1)
    camp.log(f"plan: {p}")
    camp.run_seeds()
    camp.run_scenarios(FULL_SCENARIOS, deadline=deadline)
    camp.run_corpus(slow=slow, deadline=deadline, jobs=jobs)
    first = min(p["mutants"], max(p["mutants"] // 2, 100))
    camp.run_mutants(first, deadline=deadline, jobs=jobs)
    if p["schema"]:
        camp.schema_cases(limit=None if p["schema"] >= len(schema_list()) else p["schema"], deadline=deadline)
    camp.run_mutants(p["mutants"] - first, start=first, deadline=deadline, jobs=jobs)
    return p


def replay(camp: Campaign, case_id: str) -> Outcome | None:
    """Run one case again (its files are kept in the work folder)."""
    camp.keep_all = True
    if case_id.startswith("mutant-"):
        return camp.mutant(int(case_id.split("-", 1)[1]))
    if case_id.startswith("seed-group-"):
        camp.run_seeds()
        return camp.outcomes[-1]
    if case_id.startswith("seed-"):
        name = case_id[len("seed-"):]
        s = next(s for s in camp.seeds if s.name == name)
        return camp.score_case(case_id, "seeds", f"unmutated seed {s.name}", s.files,
                               ["score", s.model, *SCORE_OPTS, "--json", *s.args, *camp.limit_opt],
                               expect="ok", oracle_d=1)
    if case_id.startswith("schema-"):
        camp.schema_cases(names=[case_id[len("schema-"):]])
        return camp.outcomes[-1] if camp.outcomes else None
    if case_id.startswith("corpus-"):
        e = next(e for e in corpus_entries() if e.name == case_id[len("corpus-"):])
        return camp.corpus_case(e)
    if case_id.startswith("rank-"):
        return camp.scenario_case(case_id[len("rank-"):])
    raise SystemExit(f"unknown case id {case_id!r}")


# ============================================================================ report

def versions() -> dict:
    from importlib import metadata

    out = {}
    try:
        r = subprocess.run([*onnxscore_argv(), "--version"], capture_output=True, text=True, timeout=60,
                           env=child_env())
        out["onnxscore"] = (r.stdout.strip().split() or ["?"])[-1]
    except (OSError, subprocess.TimeoutExpired):
        out["onnxscore"] = "?"
    for pkg in ("onnxruntime-gpu", "onnxruntime"):
        try:
            out["onnxruntime"] = f"{metadata.version(pkg)} ({pkg})"
            break
        except metadata.PackageNotFoundError:
            continue
    out["onnx"] = onnx.__version__
    out["numpy"] = np.__version__
    out["python"] = sys.version.split()[0]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "onnxscore"], cwd=ROOT, capture_output=True,
                               text=True).stdout
        n = len([ln for ln in dirty.splitlines() if ln.strip()])
        out["git"] = head.strip() + (f" + {n} uncommitted file(s) under onnxscore/" if n else "")
    except OSError:
        out["git"] = "?"
    return out


SOURCES = ["seeds", "mutants", "schema ops", "corpus", "rank scenarios"]


def summarize(outcomes: list[Outcome]) -> dict:
    tried = [o for o in outcomes if o.status != "skipped"]
    def counts(os_):
        c = {"inputs": len(os_), "ok": sum(o.status == "ok" for o in os_),
             "clean errors": sum(o.status == "clean" for o in os_),
             "failing": sum(o.status == "fail" for o in os_)}
        for k in KINDS:
            c[k] = sum(k in o.kinds for o in os_)
        return c
    per = {s: counts([o for o in tried if o.source == s]) for s in SOURCES if any(o.source == s for o in outcomes)}
    skipped = {s: sum(o.status == "skipped" and o.source == s for o in outcomes) for s in per}
    groups: dict[str, list[Outcome]] = {}
    for o in tried:
        if o.status == "fail":
            groups.setdefault(o.cause, []).append(o)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return {"total": counts(tried), "per_source": per, "skipped": skipped,
            "groups": [{"cause": c, "count": len(v), "kinds": sorted({k for o in v for k in o.kinds}, key=KINDS.index),
                        "ids": [o.id for o in v], "example": v[0].to_dict()} for c, v in ordered]}


def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def write_report(camp: Campaign, plan_: dict, command: str, md_path: Path, json_path: Path | None,
                 elapsed: float) -> dict:
    summ = summarize(camp.outcomes)
    ver = versions()
    t = summ["total"]
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    L = []
    L.append("# onnxscore fuzz campaign (issue 16)\n")
    L.append(f"- command: `{command}`")
    L.append(f"- date: {when}; wall time {elapsed / 60:.1f} min; {camp.onnxscore_runs} onnxscore processes; "
             f"machine: {os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    L.append(f"- onnxscore {ver['onnxscore']} (git {ver['git']}), onnxruntime {ver.get('onnxruntime', '?')}, "
             f"onnx {ver['onnx']}, numpy {ver['numpy']}, Python {ver['python']}")
    L.append(f"- campaign seed {camp.seed}; plan {plan_}; every run is a subprocess of the real CLI with a "
             f"{TIMEOUT:.0f} s hang limit (longer for the slow corpus entries and the rank scenarios), a "
             f"{MEM_LIMIT >> 30} GiB address-space limit and no core dumps"
             + (f"; score/rank runs of models get `{' '.join(camp.limit_opt)}`" if camp.limit_opt else ""))
    L.append("")
    L.append("## Counts\n")
    L.append("| inputs tried | ok | clean errors | tracebacks | signal deaths | hangs | silent wrong results | "
             "internal errors | stray log lines | exits without an error line | processes left behind |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    L.append(f"| {t['inputs']} | {t['ok']} | {t['clean errors']} | {t['traceback']} | {t['signal']} | {t['hang']} | "
             f"{t['wrong']} | {t['internal']} | {t['stray']} | {t['bad-exit']} | {t['orphan']} |")
    L.append("")
    L.append("An input counts once per failure kind it shows (one input can show several); `ok` and `clean errors` "
             "count inputs without any failure.\n")
    L.append("| source | inputs | ok | clean errors | failing | tracebacks | signals | hangs | wrong | internal | "
             "stray | bad exit | orphans | skipped |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s, c in summ["per_source"].items():
        L.append(f"| {s} | {c['inputs']} | {c['ok']} | {c['clean errors']} | {c['failing']} | {c['traceback']} | "
                 f"{c['signal']} | {c['hang']} | {c['wrong']} | {c['internal']} | {c['stray']} | {c['bad-exit']} | "
                 f"{c['orphan']} | {summ['skipped'].get(s, 0)} |")
    L.append("")
    L.append("README block (for the lead):\n")
    L.append("```")
    L.append(f"{command}")
    L.append(f"inputs tried {t['inputs']}, clean errors {t['clean errors']}, tracebacks {t['traceback']}, "
             f"signal deaths {t['signal']}, hangs {t['hang']}, silent wrong results {t['wrong']} "
             f"(internal errors {t['internal']}, stray log lines {t['stray']}, ok {t['ok']})")
    L.append("```\n")
    L.append("## Failures grouped by cause (most frequent first)\n")
    if not summ["groups"]:
        L.append("None.\n")
    for i, g in enumerate(summ["groups"], 1):
        ex = g["example"]
        L.append(f"### {i}. {_md_escape(g['cause'])}  ({g['count']} input(s); {', '.join(g['kinds'])})\n")
        L.append(f"- example: `{ex['id']}`: {_md_escape(ex['desc'])[:300]}")
        L.append(f"- first stderr line: `{_md_escape(ex['first_stderr'])[:300]}`")
        for k, detail in ex["failures"][:4]:
            L.append(f"- {k}: {_md_escape(detail)[:300]}")
        L.append(f"- reproduce: `{ex['replay']}` (writes the files to {DEFAULT_WORKROOT}/replay/{ex['id']} and runs "
                 f"it); the campaign's command (its folder is kept): `{ex['cmd']}`" if ex["cmd"]
                 else f"- reproduce: `{ex['replay']}`")
        more = [x for x in g["ids"] if x != ex["id"]]
        if more:
            L.append(f"- also: {', '.join(more[:12])}{' ...' if len(more) > 12 else ''}")
        L.append("")
    L.append("## Every failing input\n")
    L.append("| id | what | kinds | first stderr line |")
    L.append("|---|---|---|---|")
    for o in camp.outcomes:
        if o.status == "fail":
            L.append(f"| {o.id} | {_md_escape(o.desc)[:160]} | {', '.join(o.kinds)} | `{_md_escape(o.first_stderr)[:160]}` |")
    L.append("")
    skipped = [o for o in camp.outcomes if o.status == "skipped"]
    if skipped:
        L.append("## Skipped\n")
        for o in skipped:
            L.append(f"- {o.id}: {_md_escape(o.desc)[:200]}")
        L.append("")
    nan = [o for o in camp.outcomes if "NaN/Inf written into weights" in o.notes]
    if nan:
        L.append("## Observations (not counted as failures)\n")
        L.append(f"- {len(nan)} mutants had NaN/Inf written into weights: {sum(o.status == 'ok' for o in nan)} "
                 f"scored (all scores finite or null with a reason, else they would be failures), "
                 f"{sum(o.status == 'clean' for o in nan)} were refused with a clean error.")
        L.append("")
    notes = [o for o in camp.outcomes if o.source == "rank scenarios"]
    if notes:
        L.append("## Rank scenarios\n")
        for o in notes:
            L.append(f"- `{o.id}` ({o.status}): {_md_escape(o.desc)}; {_md_escape('; '.join(o.notes))[:400]}")
        L.append("")
    L.append("## Method\n")
    L.append(__doc__.strip().split("\n\n", 1)[1] if __doc__ else "")
    L.append("")
    md_path = Path(md_path)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text("\n".join(L) + "\n")
    data = {"command": command, "date": when, "elapsed_s": round(elapsed, 1), "versions": ver, "plan": plan_,
            "seed": camp.seed, "summary": {k: v for k, v in summ.items() if k != "groups"},
            "groups": [{k: v for k, v in g.items() if k != "example"} | {"example": g["example"]["id"]}
                       for g in summ["groups"]],
            "outcomes": [o.to_dict() for o in camp.outcomes]}
    if json_path is not None:
        text = json.dumps(data, indent=1, default=str)
        if len(text) < 200_000:
            Path(json_path).write_text(text)
        else:   # too big for the repository: keep only the failing inputs
            data["outcomes"] = [o.to_dict() for o in camp.outcomes if o.status == "fail"]
            data["outcomes_note"] = "only the failing inputs (the full list exceeded 200 kB)"
            text = json.dumps(data, indent=1, default=str)
            if len(text) < 200_000:
                Path(json_path).write_text(text)
    return summ
