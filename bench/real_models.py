"""The real-model suite: untrained torchvision, timm, keras.applications and paddle.vision networks,
each converted by onnxscore and scored with every proxy, one child process per model.

    python bench/real_models.py                      # the whole suite -> bench/results/real_models.{json,md}
    python bench/real_models.py --only resnet18 --batch-size 16

Each row: sites, units, params (and the framework's own count), MACs per sample (and, for PyTorch,
PyTorch's own FLOP counter halved, torch.utils.flop_counter, plus Linear biases as onnxscore charges
them), every proxy's score, conversion and scoring time, latency of the inference graph at batch 1, and
the child's peak RSS (framework + conversion + scoring). A model that cannot be scored keeps its row,
with the one-line reason. Needs the frameworks (torch + torchvision + timm, tensorflow, paddle); a
framework that is not installed gives rows whose reason says so. Resumable: rows already in the JSON
with the same settings are kept unless --force; failed rows are run again.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
PROXIES = ["epads", "naswot", "swap"]  # reg-swap needs a target size (mu, sigma_params) a suite has not

# (name, framework, family, constructor): the constructor is evaluated in the child.
SUITE = [
    ("resnet18", "torchvision", "ResNet", "torchvision.models.resnet18(weights=None)"),
    ("densenet121", "torchvision", "DenseNet", "torchvision.models.densenet121(weights=None)"),
    ("mobilenet_v2", "torchvision", "MobileNet V2", "torchvision.models.mobilenet_v2(weights=None)"),
    ("mobilenet_v3_small", "torchvision", "MobileNet V3", "torchvision.models.mobilenet_v3_small(weights=None)"),
    ("efficientnet_b0", "torchvision", "EfficientNet", "torchvision.models.efficientnet_b0(weights=None)"),
    ("regnet_x_400mf", "torchvision", "RegNet", "torchvision.models.regnet_x_400mf(weights=None)"),
    ("shufflenet_v2_x1_0", "torchvision", "ShuffleNet", "torchvision.models.shufflenet_v2_x1_0(weights=None)"),
    ("squeezenet1_1", "torchvision", "SqueezeNet", "torchvision.models.squeezenet1_1(weights=None)"),
    ("googlenet", "torchvision", "GoogLeNet", "torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)"),
    ("convnext_tiny", "torchvision", "ConvNeXt", "torchvision.models.convnext_tiny(weights=None)"),
    ("vit_b_16", "torchvision", "ViT", "torchvision.models.vit_b_16(weights=None)"),
    ("deit_tiny_patch16_224", "timm", "DeiT", "timm.create_model('deit_tiny_patch16_224', pretrained=False)"),
    ("mixer_s16_224", "timm", "MLP-Mixer", "timm.create_model('mixer_s16_224', pretrained=False)"),
    ("levit_128s", "timm", "LeViT", "timm.create_model('levit_128s', pretrained=False)"),
    ("repvgg_a0", "timm", "RepVGG", "timm.create_model('repvgg_a0', pretrained=False)"),
    ("ghostnet_100", "timm", "GhostNet", "timm.create_model('ghostnet_100', pretrained=False)"),
    ("mobilevit_xxs", "timm", "MobileViT", "timm.create_model('mobilevit_xxs', pretrained=False)"),
    ("MobileNetV2", "keras", "MobileNet V2", "keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))"),
    ("MobileNetV3Small", "keras", "MobileNet V3", "keras.applications.MobileNetV3Small(weights=None, input_shape=(224, 224, 3))"),
    ("EfficientNetB0", "keras", "EfficientNet", "keras.applications.EfficientNetB0(weights=None, input_shape=(224, 224, 3))"),
    ("DenseNet121", "keras", "DenseNet", "keras.applications.DenseNet121(weights=None, input_shape=(224, 224, 3))"),
    ("NASNetMobile", "keras", "NASNet", "keras.applications.NASNetMobile(weights=None, input_shape=(224, 224, 3))"),
    ("ResNet50", "keras", "ResNet", "keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))"),
    ("ConvNeXtTiny", "keras", "ConvNeXt", "keras.applications.ConvNeXtTiny(weights=None, input_shape=(224, 224, 3))"),
    ("resnet18", "paddle", "ResNet", "paddle.vision.models.resnet18(pretrained=False)"),
    ("mobilenet_v3_small", "paddle", "MobileNet V3", "paddle.vision.models.mobilenet_v3_small(pretrained=False)"),
    ("shufflenet_v2_x1_0", "paddle", "ShuffleNet", "paddle.vision.models.shufflenet_v2_x1_0(pretrained=False)"),
    ("squeezenet1_1", "paddle", "SqueezeNet", "paddle.vision.models.squeezenet1_1(pretrained=False)"),
]
_MODULES = {"torchvision": ("torch", "torchvision"), "timm": ("torch", "timm"), "keras": ("keras",),
            "paddle": ("paddle",)}


def _build(framework: str, constructor: str):
    """The untrained model, seeded, and its framework's trainable-parameter count."""
    if framework == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    env = {}
    for mod in _MODULES[framework]:
        env[mod] = __import__(mod)
    if framework in ("torchvision", "timm"):
        import torch

        torch.manual_seed(0)
        env["torchvision"] = __import__("torchvision")
        model = eval(constructor, env).eval()
        return model, sum(p.numel() for p in model.parameters() if p.requires_grad)
    if framework == "keras":
        env["keras"].utils.set_random_seed(0)
        model = eval(constructor, env)
        return model, int(sum(w.numpy().size for w in model.trainable_weights))
    env["paddle"].seed(0)
    model = eval(constructor, env)
    model.eval()
    return model, int(sum(p.numel().item() if hasattr(p.numel(), "item") else p.numel()
                          for p in model.parameters() if not p.stop_gradient))


def torch_macs(model, shape) -> int:
    """Per-sample MACs by PyTorch's own FLOP counter (halved), plus one per output element of every
    Linear with a bias, attention's projections included (onnxscore charges a Gemm's bias, the FLOP
    counter does not)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    bias = [0]

    def hook(mod, inputs, out):
        if mod.bias is not None:
            bias[0] += out.numel()

    def mha_hook(mod, inputs, out):  # its projections run as F.linear on its own parameters: no Linear hook fires
        n = out[0].numel()
        bias[0] += (3 * n if mod.in_proj_bias is not None else 0) + (n if mod.out_proj.bias is not None else 0)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    handles += [m.register_forward_hook(mha_hook) for m in model.modules()
                if isinstance(m, torch.nn.MultiheadAttention)]
    counter = FlopCounterMode(display=False)
    # the math backend writes attention as matmuls the counter sees (the fused CPU kernel is not counted)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # nor is nn.MultiheadAttention's fused inference kernel
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
            model(torch.randn(2, *shape))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    for h in handles:
        h.remove()
    return (counter.get_total_flops() // 2 + bias[0]) // 2


def one(name: str, framework: str, constructor: str, batch_size: int) -> dict:
    """Convert and score one model (runs in the child process)."""
    warnings.simplefilter("ignore")
    import onnxscore
    from onnxscore.edge.latency import measure_latency
    from onnxscore.edge.macs import count_macs
    from onnxscore.graph.params import count_params_with_source

    row: dict = {"model": name, "framework": framework}
    model, row["framework_params"] = _build(framework, constructor)
    shape = (224, 224, 3) if framework == "keras" else (3, 224, 224)
    if framework in ("torchvision", "timm"):
        row["torch_macs"] = torch_macs(model, shape)
    t0 = time.perf_counter()
    proto = onnxscore.convert(model, input_shape=shape)
    row["convert_s"] = time.perf_counter() - t0
    del model
    row["params"] = count_params_with_source(proto)[0]
    macs = count_macs(proto)
    row["macs"], row["macs_unknown"] = macs.total, list(macs.unknown)
    from onnxscore.errors import ProxyError

    for activations in ("relu", "extended"):
        t0 = time.perf_counter()
        try:
            res = onnxscore.Scorer(batch_size=batch_size, activations=activations, threads=2).score(proto, PROXIES)
        except ProxyError as exc:
            if activations == "extended" or "no activation site" not in str(exc):
                raise
            continue
        row["score_s"] = time.perf_counter() - t0
        break
    row.update(activations=activations, sites=res.sites, units=res.units, scores=res.scores,
               errors=res.errors, warnings=res.warnings, settings=res.settings)
    lat = measure_latency(proto, batch_size=1, threads=2, runs=5, warmup=2)
    row["latency_ms"], row["latency_graph"] = lat["median_ms"], lat["graph"]
    row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def _child(args) -> None:
    framework, _, wanted = args.one.partition("/")
    name, _, _, constructor = next(m for m in SUITE if (m[1], m[0]) == (framework, wanted))
    try:
        row = one(name, framework, constructor, args.batch_size)
    except BaseException as exc:  # noqa: BLE001 - the row keeps the reason
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())
        row = {"model": name, "framework": framework, "error": msg[:300]}
    Path(args.out).write_text(json.dumps(row, default=float))


def run_suite(names, batch_size: int, timeout: float, out: Path, force: bool) -> list[dict]:
    def selected(r: dict) -> bool:
        return not names or r["model"] in names or r["framework"] in names

    rows = json.loads(out.read_text()) if out.exists() else []
    # a selected row is run again when it failed before or with --force; the others are kept as they are
    rows = [r for r in rows if r.get("batch_size") == batch_size and not (selected(r) and (force or "error" in r))]
    done = {(r["model"], r["framework"]) for r in rows}
    for name, framework, family, _ in SUITE:
        if names and name not in names and framework not in names:
            continue
        if (name, framework) in done:
            continue
        tmp = out.with_suffix(".row.json")
        tmp.unlink(missing_ok=True)
        cmd = [sys.executable, __file__, "--one", f"{framework}/{name}", "--out", str(tmp), "--batch-size", str(batch_size)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            row = (json.loads(tmp.read_text()) if tmp.exists() else
                   {"model": name, "framework": framework,
                    "error": f"child exited with {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:200]}"})
        except subprocess.TimeoutExpired:
            row = {"model": name, "framework": framework, "error": f"over the {timeout:.0f} s limit"}
        tmp.unlink(missing_ok=True)
        row.update(family=family, batch_size=batch_size, wall_s=time.perf_counter() - t0)
        rows.append(row)
        print(f"{framework:11s} {name:22s} {row.get('error') or 'ok'} ({row['wall_s']:.0f} s)", flush=True)
        out.write_text(json.dumps(rows, indent=1, default=float))
    return rows


def _fmt(v, digits=4):
    if v is None:
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else f"{v:,}"


def render(rows: list[dict], command: str) -> str:
    from bench.common import machine

    m = machine()
    lines = [f"# Real-model suite ({len(rows)} untrained models)", "",
             f"`{command}` — {m.get('cpu')}, {m.get('cores')} cores, onnxruntime {m.get('onnxruntime')}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Input 224x224, B = {rows[0]['batch_size'] if rows else '?'}, "
             "random-normal batch (seed 0), BatchNorm on batch statistics, default activation sites "
             "(ReLU family); `ext` marks a model with no ReLU-family site scored with `--activations extended`.", "",
             "| model | framework | sites | units | params | framework params | MACs (M) | PyTorch MACs (M) "
             "| ePADS | NASWOT | SWAP | convert s | score s | latency ms (B=1) | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    failed = []
    for r in rows:
        if "error" in r:
            failed.append(r)
            continue
        s = r["scores"]
        ext = " ext" if r["activations"] == "extended" else ""
        tm = r.get("torch_macs")
        tmacs = "–" if tm is None else f"{tm / 1e6:,.1f} ({100 * (r['macs'] - tm) / tm:+.2f} %)"
        sat = " sat" if any("saturated" in w for w in r["warnings"]) else ""
        lines.append(
            f"| {r['model']} | {r['framework']} | {r['sites']}{ext} | {r['units']:,} | {r['params']:,} | "
            f"{r['framework_params']:,} | {r['macs'] / 1e6:,.1f} | {tmacs} | {_fmt(s.get('epads'))} | "
            f"{_fmt(s.get('naswot'))} | {_fmt(s.get('swap'))}{sat} | "
            f"{r['convert_s']:.1f} | {r['score_s']:.1f} | {r['latency_ms']:.1f} | {r['peak_rss_mib']:,.0f} |")
    lines += ["", "reg-SWAP is left out: it needs a target size (`--mu`, `--sigma-params`) that a mixed suite has not. "
              "`sat`: SWAP reached (or came within 0.5 % of) its bound min(units, 2^B) and says so; a larger "
              "batch lifts it. PyTorch MACs: torch.utils.flop_counter / 2 plus Linear biases; the difference is "
              "onnxscore's count against it."]
    errs = [(r["model"], r["framework"], p, e) for r in rows if "errors" in r for p, e in r["errors"].items()]
    if errs:
        lines += ["", "Null scores:"] + [f"- {m} ({f}) {p}: {e}" for m, f, p, e in errs]
    if failed:
        lines += ["", "Not scored:"] + [f"- {r['model']} ({r['framework']}): {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="model or framework names to run (default: the whole suite)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--name", default="real_models")
    ap.add_argument("--force", action="store_true", help="rerun rows already in the results")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return _child(args)
    out = RESULTS / f"{args.name}.json"
    rows = run_suite(set(args.only or ()), args.batch_size, args.timeout, out, args.force)
    order = {(n, f): i for i, (n, f, _, _) in enumerate(SUITE)}
    rows.sort(key=lambda r: order.get((r["model"], r["framework"]), 1e9))
    out.write_text(json.dumps(rows, indent=1, default=float))
    command = "python bench/real_models.py" + (f" --batch-size {args.batch_size}" if args.batch_size != 16 else "")
    (RESULTS / f"{args.name}.md").write_text(render(rows, command))
    print((RESULTS / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
