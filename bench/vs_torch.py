"""onnxscore against the PyTorch forward-hook reference (bench/torch_reference.py) on NAS-Bench-201 networks.

Per architecture the network is built twice with the same weights: ONNX (onnxscore.spaces.nb201, or the
PyTorch export with --source export) and PyTorch (nb201_torch, weights copied from the ONNX build with
load_weights_from_onnx). Same CIFAR-10 batch, same noise, same permutation seed, same thread count.
Interleaved per architecture:
  torch_epads          torch_reference.epads: train-mode BN, hooks on every nn.ReLU, one forward of 2B
  torch_naswot         torch_reference.naswot: forward of B, float64 kernel in torch
  torch_swap           torch_reference.swap: forward of B, distinct columns with NumPy
  onnxscore_epads      Scorer.score(model, ["epads"]) end to end (graph rewrite and session creation included)
  onnxscore_naswot_swap  Scorer.score(model, ["naswot", "swap"]) end to end (one shared forward of B)
Speed-ups are torch time / onnxscore time per architecture (NASWOT + SWAP: the two reference calls
summed, as the papers' code runs them), median over architectures. Scores are compared too.

    python bench/vs_torch.py --archs 20 --batch-size 128 --repeats 2
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common as C  # noqa: E402

TARGET_EPADS, TARGET = 2.2, 1.8  # issue 20 (ePADS), issue 5 (NASWOT + SWAP)


def rel_diff(a, b) -> float | None:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return abs(a - b) / max(abs(b), 1e-12)


def measure_arch(arch: str, scorer, x, noise, a, torch_forward: bool) -> dict:
    import torch

    from bench import torch_reference as ref
    from onnxscore.spaces import nb201, nb201_torch

    model = nb201.build_model(arch, a.dataset, seed=0)
    net = nb201_torch.build_torch(arch, a.dataset)
    nb201_torch.load_weights_from_onnx(net, model)
    t_export = None
    if a.source == "export":
        t = time.perf_counter()
        model = nb201_torch.export_onnx(net, a.dataset)
        t_export = time.perf_counter() - t
    out: dict = {}

    def keep(key, fn):
        def run():
            out[key] = fn()
        return run

    contenders = {
        "torch_epads": keep("torch_epads", lambda: ref.epads(net, x, noise, perm_seed=a.seed)),
        "torch_naswot": keep("torch_naswot", lambda: ref.naswot(net, x)),
        "torch_swap": keep("torch_swap", lambda: ref.swap(net, x)),
        "onnxscore_epads": keep("ox_epads", lambda: scorer.score(model, ["epads"])),
        "onnxscore_naswot_swap": keep("ox_ns", lambda: scorer.score(model, ["naswot", "swap"])),
    }
    times = C.interleaved(contenders, repeats=a.repeats, warmup=0)
    med = {k: C.median(v) for k, v in times.items()}
    row = {"arch": arch, "median_s": {k: round(v, 4) for k, v in med.items()},
           "repeats_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
           "speedup_epads": med["torch_epads"] / med["onnxscore_epads"],
           "speedup_naswot_swap": (med["torch_naswot"] + med["torch_swap"]) / med["onnxscore_naswot_swap"]}
    if torch_forward:  # where the reference's time goes: a bare train-mode forward, no hooks
        xt = torch.from_numpy(x)
        x2t = torch.cat([xt, xt + torch.from_numpy(noise)])
        net.train()
        with torch.no_grad():
            fwd = C.interleaved({"torch_forward_2B": lambda: net(x2t), "torch_forward_B": lambda: net(xt)},
                                repeats=1, warmup=0)
        row["torch_forward_s"] = {k: round(C.median(v), 4) for k, v in fwd.items()}
    ox_e, ox_ns = out["ox_epads"].scores, out["ox_ns"].scores
    row["scores"] = {"epads": (ox_e.get("epads"), out["torch_epads"]),
                     "naswot": (ox_ns.get("naswot"), out["torch_naswot"]),
                     "swap": (ox_ns.get("swap"), float(out["torch_swap"]))}
    row["rel_diff"] = {k: rel_diff(*v) for k, v in row["scores"].items()}
    if t_export is not None:
        row["export_s"] = round(t_export, 2)
    row["load_average"] = C.load_average()
    return row


def summarise(rows: list[dict]) -> dict:
    s = {k: round(C.median([r[k] for r in rows]), 3) for k in ("speedup_epads", "speedup_naswot_swap")}
    s.update({f"min_{k}": round(min(r[k] for r in rows), 3) for k in ("speedup_epads", "speedup_naswot_swap")})
    s["median_s"] = {k: round(C.median([r["median_s"][k] for r in rows]), 3) for k in rows[0]["median_s"]}
    if "torch_forward_s" in rows[0]:
        s["torch_forward_s"] = {k: round(C.median([r["torch_forward_s"][k] for r in rows]), 3)
                                for k in rows[0]["torch_forward_s"]}
    s["max_rel_diff"] = {}
    for p in ("epads", "naswot", "swap"):
        vals = [r["rel_diff"][p] for r in rows if r["rel_diff"][p] is not None]
        s["max_rel_diff"][p] = max(vals) if vals else None
        s[f"compared_{p}"] = len(vals)
    s["epads_target_met"] = s["speedup_epads"] >= TARGET_EPADS
    s["naswot_swap_target_met"] = s["speedup_naswot_swap"] >= TARGET
    return s


def markdown(info, dev, a, rows, s, torch_note) -> str:
    fmt = lambda v: "n/a" if v is None else f"{v:.1e}"  # noqa: E731
    lines = [f"### onnxscore vs the PyTorch forward-hook reference: NAS-Bench-201 {a.dataset}, B = {a.batch_size}, "
             f"{len(rows)} architectures, {a.repeats} interleaved repeats, ONNX source: {a.source}", "",
             f"`{C.command_line()}`  ", C.machine_line(info) + f", load average at end {info.get('load_average_end')}  ",
             f"onnxruntime {dev['message']}; {torch_note}", "",
             "| speed-up, torch time / onnxscore time (median over architectures) | measured (min) | target |",
             "|---|---|---|",
             f"| ePADS | {s['speedup_epads']:.2f} ({s['min_speedup_epads']:.2f}) | >= {TARGET_EPADS} |",
             f"| NASWOT + SWAP | {s['speedup_naswot_swap']:.2f} ({s['min_speedup_naswot_swap']:.2f}) | >= {TARGET} |",
             "", "Median seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in s["median_s"].items())]
    if "torch_forward_s" in s:
        lines.append("Bare torch train-mode forward (no hooks): " +
                     ", ".join(f"{k} {v:.3f}" for k, v in s["torch_forward_s"].items()))
    lines += ["", "Agreement (max relative difference over architectures, onnxscore vs torch reference): " +
              ", ".join(f"{p} {fmt(s['max_rel_diff'][p])} ({s['compared_' + p]} archs)" for p in ("epads", "naswot", "swap"))]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=C.DEFAULT_THREADS)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--seed", type=int, default=0, help="noise and permutation seed (both sides)")
    ap.add_argument("--source", choices=("build", "export"), default="build",
                    help="ONNX scored by onnxscore: the ONNX builder, or torch.onnx export of the torch net")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="limit NumPy/SciPy OpenBLAS threads (simulates the proposed NASWOT-kernel fix; default: untouched)")
    ap.add_argument("--simulate", default="", help="comma list of proposed core changes to simulate in onnxscore's "
                    "sessions: priority (ExecutionOrder.PRIORITY_BASED), noarena (CPU memory arena off)")
    ap.add_argument("--no-torch-forward", action="store_true", help="skip the bare torch forward timings")
    ap.add_argument("--provider", default=None)
    ap.add_argument("--name", default="vs_torch")
    ap.add_argument("--out-dir", default=None)
    a = ap.parse_args(argv)

    import torch

    import onnxscore
    from bench import torch_reference as ref
    from onnxscore.spaces import nb201

    torch.set_num_threads(a.threads)
    dev = C.device(a.provider)
    torch_note = f"PyTorch {torch.__version__} on CPU with {a.threads} threads"
    if dev["label"] == "CUDA":
        torch_note += " (torch_reference computes its kernels on CPU tensors, so it is not moved to the GPU)"
    info = C.machine(a.threads, dev)
    if a.blas_threads:
        info["blas_threads"] = a.blas_threads
        info["blas_limited"] = C.limit_blas_threads(a.blas_threads)
        torch_note += f"; NumPy/SciPy OpenBLAS (onnxscore side) limited to {a.blas_threads} thread(s)"
    print(dev["message"] + "; " + torch_note)
    print(C.machine_line(info), flush=True)
    x = C.cifar_batch(a.batch_size)
    noise = ref.make_noise(x.shape, a.seed, 1.0)
    scorer = onnxscore.Scorer(batch_size=a.batch_size, data=x, seed=a.seed, sigma=1.0, threads=a.threads,
                              provider=a.provider)
    archs = C.nb201_archs(a.archs)
    # process warm-up of both sides (imports, oneDNN/BLAS initialisation, ORT environment)
    from onnxscore.spaces import nb201_torch

    warm = nb201_torch.build_torch(archs[0], a.dataset)
    ref.epads(warm, x[:8], noise[:8])
    scorer.score(nb201.build_model(archs[0], a.dataset), ["epads"])
    sim = {p for p in a.simulate.split(",") if p}
    if sim:
        torch_note += f"; simulated core changes: {a.simulate}"
    patch = C.patched_session_options("priority" in sim, "noarena" not in sim)
    patch.__enter__()
    rows = []
    for i, arch in enumerate(archs):
        r = measure_arch(arch, scorer, x, noise, a, not a.no_torch_forward)
        rows.append(r)
        print(f"[{i + 1}/{len(archs)}] {arch} ePADS {r['speedup_epads']:.2f}x NASWOT+SWAP "
              f"{r['speedup_naswot_swap']:.2f}x rel.diff {r['rel_diff']} load {r['load_average'][0]}", flush=True)
    patch.__exit__(None, None, None)
    info["load_average_end"] = C.load_average()
    info["torch"] = torch.__version__
    s = summarise(rows)
    md = markdown(info, dev, a, rows, s, torch_note)
    print("\n" + md)
    C.save(a.name, {"machine": info, "device": dev, "torch": torch_note, "command": C.command_line(),
                    "settings": vars(a), "summary": s, "rows": rows}, md, a.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
