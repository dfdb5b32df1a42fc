"""Benchmark `onnxscore rank`: candidates per minute and peak memory ranking NAS-Bench-201 models.

Runs the real CLI in a subprocess per worker count, each with a fresh store (nothing cached), and samples
the summed resident memory of the whole process tree (parent + workers) from /proc every 0.2 s.

    python bench/rank_throughput.py --n 1000 --workers 1 2 --proxy epads
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    """All descendants of pid (Linux /proc)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples the summed RSS of a process and its descendants; keeps the peaks."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_total_kb = self.peak_single_kb = self.peak_parent_kb = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pids = [self.pid, *_children(self.pid)]
            rss = [_rss_kb(p) for p in pids]
            self.peak_total_kb = max(self.peak_total_kb, sum(rss))
            self.peak_single_kb = max(self.peak_single_kb, max(rss))
            self.peak_parent_kb = max(self.peak_parent_kb, rss[0])
            self.stop.wait(self.interval)


def run_once(n: int, workers: int, proxy: str, batch_size: int, seed: int) -> dict:
    """One fresh-store rank job; returns timing and memory numbers."""
    with tempfile.TemporaryDirectory(prefix="onnxscore-bench-") as tmp:
        store, out_csv = os.path.join(tmp, "r.sqlite"), os.path.join(tmp, "r.csv")
        cmd = [sys.executable, "-m", "onnxscore.cli.main", "rank", "--space", "nb201", "--sample", str(n),
               "--dataset", "cifar10", "--proxy", proxy, "--batch-size", str(batch_size), "--sample-seed", str(seed),
               "--workers", str(workers), "--store", store, "--csv", out_csv, "--top", "5"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH")) if x)}
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        mon = TreeMemory(proc.pid)
        mon.start()
        out, err = proc.communicate()
        wall = time.perf_counter() - t0
        mon.stop.set()
        mon.join()
        if proc.returncode != 0:
            raise SystemExit(f"rank failed ({proc.returncode}):\n{err[-2000:]}")
        import csv

        with open(out_csv, newline="") as f:
            rows = list(csv.DictReader(f))
        ok = sum(r["status"] == "ok" for r in rows)
    return {
        "workers": workers, "candidates": len(rows), "ok": ok, "wall_s": round(wall, 1),
        "candidates_per_min": round(len(rows) / wall * 60, 1),
        "peak_rss_tree_mb": round(mon.peak_total_kb / 1024, 1),
        "peak_rss_one_process_mb": round(mon.peak_single_kb / 1024, 1),
        "peak_rss_parent_mb": round(mon.peak_parent_kb / 1024, 1),
        "command": " ".join(["onnxscore", *cmd[3:]]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="NB201 architectures to rank")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--proxy", default="epads")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", dest="json_out", default=None, help="also write the results here")
    a = ap.parse_args()
    import onnxruntime

    from onnxscore import __version__

    info = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "onnxruntime": onnxruntime.__version__, "onnxscore": __version__, "proxy": a.proxy,
            "batch_size": a.batch_size, "runs": []}
    for w in a.workers:
        r = run_once(a.n, w, a.proxy, a.batch_size, a.seed)
        info["runs"].append(r)
        print(json.dumps(r), flush=True)
    print(f"\n{info['machine']}, onnxruntime {info['onnxruntime']}, onnxscore {info['onnxscore']}, "
          f"{a.proxy}, batch {a.batch_size}")
    print("| workers | candidates | wall (s) | candidates/min | peak RSS, all processes (MB) | peak RSS, largest process (MB) |")
    print("|---|---|---|---|---|---|")
    for r in info["runs"]:
        print(f"| {r['workers']} | {r['candidates']} | {r['wall_s']} | {r['candidates_per_min']} | "
              f"{r['peak_rss_tree_mb']} | {r['peak_rss_one_process_mb']} |")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
