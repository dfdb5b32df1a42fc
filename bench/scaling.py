"""How onnxscore's time and peak memory grow with the batch B and with the network (N_A units).

Each configuration runs in a fresh subprocess (so its peak RSS is its own): a warm-up score on 8 samples,
then `repeats` phase-by-phase runs of all three proxies (bench.common.score_phases) and `repeats` plain
inferences of the batch-statistics model (2B and B rows). Two sweeps on NAS-Bench-201 CIFAR-10 networks:
  batch:   one architecture, B in --batch-sizes
  network: B = --net-batch, architectures with k = 1..6 nor_conv_3x3 edges (the rest skip_connect),
           so N_A grows with k
Fitted exponents (slope of log time on log B or log N_A) say whether a phase is linear (1) or quadratic (2).

    python bench/scaling.py --batch-sizes 32 64 128 256 --convs 1 2 3 4 5 6
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common as C  # noqa: E402

ALL = ("epads", "naswot", "swap")
BATCH_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
PHASES = ("forward_2B", "forward_B", "pack_2B", "pack_B", "proxy_epads", "proxy_naswot", "proxy_swap")


def conv_arch(k: int) -> str:
    """k nor_conv_3x3 edges (in arch-string order), skip_connect elsewhere."""
    from onnxscore.spaces import nb201

    return nb201.format_arch(["nor_conv_3x3"] * k + ["skip_connect"] * (len(nb201.EDGES) - k))


def child(arch: str, batch: int, repeats: int, threads: int, blas_threads: int | None = None) -> dict:
    import onnxscore

    if blas_threads:
        C.limit_blas_threads(blas_threads)
    from onnxscore.spaces import nb201

    model = nb201.build_model(arch, "cifar10", seed=0)
    x = C.cifar_batch(batch)
    x2 = C.paired_batch(x)
    C.score_phases(onnxscore.Scorer(batch_size=8, data=x[:8], threads=threads), model, list(ALL))  # warm-up
    scorer = onnxscore.Scorer(batch_size=batch, data=x, threads=threads)
    runs = [C.score_phases(scorer, model, list(ALL)) for _ in range(repeats)]
    ph = C.median_phases([r["phases"] for r in runs])
    dev = C.device()
    base = C.session(C.batch_stats_model(model), dev["providers"], threads)
    C.infer(base, x)
    plain = C.interleaved({"plain_2B": lambda: C.infer(base, x2), "plain_B": lambda: C.infer(base, x)},
                          repeats=repeats, warmup=0)
    return {"arch": arch, "batch": batch, "units": runs[0]["units"], "sites": runs[0]["sites"],
            "packed_in_graph": runs[0]["packed_in_graph"], "code_mb": runs[0]["code_mb"],
            "phases_s": {k: round(v, 4) for k, v in ph.items()},
            "plain_s": {k: round(C.median(v), 4) for k, v in plain.items()},
            "scores": runs[0]["scores"], "vmhwm_mb": round(C.vm_kb("VmHWM") / 1024, 1)}


def exponent(xs, ys) -> float | None:
    """Least-squares slope of log y on log x."""
    import numpy as np

    pts = [(x, y) for x, y in zip(xs, ys) if y and y > 0]
    if len(pts) < 2:
        return None
    lx, ly = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return round(float(np.polyfit(lx, ly, 1)[0]), 2)


def table(rows: list[dict], var: str) -> str:
    head = ["B", "N_A", "sites", "plain 2B", "forward 2B", "pack 2B", "plain B", "forward B", "pack B",
            "ePADS", "NASWOT", "SWAP", "ePADS / (B N_A) ns", "SWAP / (B N_A) ns", "NASWOT / (B^2 N_A) ps",
            "codes MiB", "peak RSS MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        p, b, n = r["phases_s"], r["batch"], r["units"]
        cells = [b, n, r["sites"], r["plain_s"]["plain_2B"], p.get("forward_2B"), p.get("pack_2B"),
                 r["plain_s"]["plain_B"], p.get("forward_B"), p.get("pack_B"), p.get("proxy_epads"),
                 p.get("proxy_naswot"), p.get("proxy_swap"), 1e9 * p["proxy_epads"] / (b * n),
                 1e9 * p["proxy_swap"] / (b * n), 1e12 * p["proxy_naswot"] / (b * b * n), r["code_mb"], r["vmhwm_mb"]]
        lines.append("| " + " | ".join(C._fmt(c) for c in cells) + " |")
    return "\n".join(lines)


def fits(rows: list[dict], key: str) -> dict:
    xs = [r["batch"] if key == "batch" else r["units"] for r in rows]
    out = {ph: exponent(xs, [r["phases_s"].get(ph) for r in rows]) for ph in PHASES}
    out["plain_2B"] = exponent(xs, [r["plain_s"]["plain_2B"] for r in rows])
    out["peak_rss"] = exponent(xs, [r["vmhwm_mb"] for r in rows])
    return out


def plot(batch_rows, net_rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    series = [("plain_2B", "plain inference 2B"), ("forward_2B", "onnxscore forward 2B"),
              ("forward_B", "onnxscore forward B"), ("proxy_epads", "ePADS proxy"),
              ("proxy_naswot", "NASWOT proxy"), ("proxy_swap", "SWAP proxy"), ("pack_2B", "packing 2B")]
    for ax, rows, key, label in ((axes[0], batch_rows, "batch", "batch size B"),
                                 (axes[1], net_rows, "units", "N_A (activation units per sample)")):
        if not rows:
            ax.set_visible(False)
            continue
        xs = [r[key] for r in rows]
        for ph, name in series:
            ys = [r["plain_s"][ph] if ph.startswith("plain") else r["phases_s"].get(ph) for r in rows]
            if all(y for y in ys):
                ax.loglog(xs, ys, "o-", label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("seconds (median)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes[2]
    if batch_rows:
        ax.plot([r["batch"] for r in batch_rows], [r["vmhwm_mb"] for r in batch_rows], "o-", label="vs B")
    if net_rows:
        ax2 = ax.twiny()
        ax2.plot([r["units"] for r in net_rows], [r["vmhwm_mb"] for r in net_rows], "s--", color="C3", label="vs N_A")
        ax2.set_xlabel("N_A (red, dashed)")
    ax.set_xlabel("batch size B (blue)")
    ax.set_ylabel("peak RSS of the process (MiB)")
    ax.grid(True, alpha=0.3)
    fig.suptitle("onnxscore scaling, NAS-Bench-201 CIFAR-10, all three proxies")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="*", default=[32, 64, 128, 256])
    ap.add_argument("--arch", default=BATCH_ARCH, help="architecture of the batch sweep")
    ap.add_argument("--convs", type=int, nargs="*", default=[1, 2, 3, 4, 5, 6],
                    help="network sweep: number of nor_conv_3x3 edges")
    ap.add_argument("--net-batch", type=int, default=128, help="B of the network sweep")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=C.DEFAULT_THREADS)
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="limit NumPy/SciPy OpenBLAS threads (simulates the proposed NASWOT-kernel fix; default: untouched)")
    ap.add_argument("--child", nargs=2, metavar=("ARCH", "B"), help=argparse.SUPPRESS)
    ap.add_argument("--name", default="scaling")
    ap.add_argument("--out-dir", default=None)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.repeats, a.threads, a.blas_threads)))
        return 0
    dev = C.device()
    info = C.machine(a.threads, dev)
    info["blas_threads"] = a.blas_threads
    print(dev["message"])
    print(C.machine_line(info), flush=True)

    def run(arch, b):
        r = C.run_child([str(Path(__file__).resolve()), "--child", arch, str(b), "--repeats", str(a.repeats),
                         "--threads", str(a.threads)]
                        + (["--blas-threads", str(a.blas_threads)] if a.blas_threads else []))
        r["vmhwm_mb"] = max(r["vmhwm_mb"], r["ru_maxrss_mb"])
        r["load_average"] = C.load_average()
        print(json.dumps({k: r[k] for k in ("batch", "units", "phases_s", "plain_s", "vmhwm_mb", "load_average")}),
              flush=True)
        return r

    batch_rows = [run(a.arch, b) for b in a.batch_sizes]
    net_rows = [run(conv_arch(k), a.net_batch) for k in a.convs]
    info["load_average_end"] = C.load_average()
    out_dir = Path(a.out_dir) if a.out_dir else C.RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{a.name}.png"
    plot(batch_rows, net_rows, png)
    fb, fn = (fits(batch_rows, "batch") if len(batch_rows) > 1 else {}), (fits(net_rows, "units") if len(net_rows) > 1 else {})
    md = [f"### Scaling: NAS-Bench-201 CIFAR-10, all three proxies, median of {a.repeats} runs per point, "
          "each point a fresh process", "", f"`{C.command_line()}`  ",
          C.machine_line(info) + f", load average at end {info['load_average_end']}  ",
          dev["message"] + (f"; NumPy/SciPy OpenBLAS limited to {a.blas_threads} thread(s)" if a.blas_threads else ""), ""]
    if batch_rows:
        md += [f"Batch sweep, {a.arch} (seconds):", "", table(batch_rows, "batch"), "",
               "Fitted exponent of time in B: " + ", ".join(f"{k} {v}" for k, v in fb.items()), ""]
    if net_rows:
        md += [f"Network sweep, B = {a.net_batch}, k = {a.convs} nor_conv_3x3 edges (seconds):", "",
               table(net_rows, "units"), "",
               "Fitted exponent of time in N_A: " + ", ".join(f"{k} {v}" for k, v in fn.items()), ""]
    md += [f"Plot: {png.name}"]
    text = "\n".join(md) + "\n"
    print("\n" + text)
    C.save(a.name, {"machine": info, "device": dev, "command": C.command_line(), "settings": vars(a),
                    "batch_sweep": batch_rows, "network_sweep": net_rows, "exponent_batch": fb,
                    "exponent_network": fn}, text, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
