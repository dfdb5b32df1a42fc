"""Write the small example models in samples/ (onnx + numpy only; rerun to regenerate).

    python samples/make_samples.py            # writes samples/*.onnx (refuses to overwrite)
    python samples/make_samples.py --force
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent


def _conv_bn_relu(x, cin, cout, name, rng, inits, stride=1, act="Relu"):
    """Conv (kaiming-uniform like PyTorch) -> BatchNormalization -> activation."""
    bound = 1 / np.sqrt(cin * 9)
    w = rng.uniform(-bound, bound, (cout, cin, 3, 3)).astype(np.float32)
    inits += [numpy_helper.from_array(w, f"{name}.w"),
              numpy_helper.from_array(np.ones(cout, np.float32), f"{name}.bn.scale"),
              numpy_helper.from_array(np.zeros(cout, np.float32), f"{name}.bn.bias"),
              numpy_helper.from_array(np.zeros(cout, np.float32), f"{name}.bn.mean"),
              numpy_helper.from_array(np.ones(cout, np.float32), f"{name}.bn.var")]
    nodes = [helper.make_node("Conv", [x, f"{name}.w"], [f"{name}.conv"], pads=[1, 1, 1, 1],
                              strides=[stride, stride], name=f"{name}.conv"),
             helper.make_node("BatchNormalization", [f"{name}.conv", f"{name}.bn.scale", f"{name}.bn.bias",
                                                     f"{name}.bn.mean", f"{name}.bn.var"], [f"{name}.bn"],
                              name=f"{name}.bn")]
    if act == "Relu6":
        nodes.append(helper.make_node("Clip", [f"{name}.bn", "zero", "six"], [f"{name}.act"], name=f"{name}.relu6"))
    else:
        nodes.append(helper.make_node("Relu", [f"{name}.bn"], [f"{name}.act"], name=f"{name}.relu"))
    return nodes, f"{name}.act"


def cnn(widths, seed, act="Relu", classes=10, hw=32) -> onnx.ModelProto:
    """A plain CNN: one Conv-BN-act per width (stride 2 when the width grows), GAP, Linear."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(np.array(0, np.float32), "zero"),
             numpy_helper.from_array(np.array(6, np.float32), "six")]
    nodes, x, cin = [], "input", 3
    for i, cout in enumerate(widths):
        stride = 2 if i and cout > cin else 1
        more, x = _conv_bn_relu(x, cin, cout, f"layer{i}", rng, inits, stride, act)
        nodes += more
        cin = cout
    bound = 1 / np.sqrt(cin)
    inits += [numpy_helper.from_array(rng.uniform(-bound, bound, (classes, cin)).astype(np.float32), "fc.w"),
              numpy_helper.from_array(rng.uniform(-bound, bound, classes).astype(np.float32), "fc.b")]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["pool"]),
              helper.make_node("Flatten", ["pool"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "sample_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, hw, hw])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="onnxscore-samples")
    model.ir_version = 10  # explicit: onnxruntime-gpu lags the newest IR
    onnx.checker.check_model(model)
    return model


SAMPLES = {
    "tiny_cnn.onnx": lambda: cnn([16, 16, 32, 32], seed=0),
    "wide_cnn.onnx": lambda: cnn([32, 32, 64, 64, 128], seed=1),
    "narrow_cnn.onnx": lambda: cnn([8, 8, 16], seed=2),
    "relu6_cnn.onnx": lambda: cnn([16, 16, 32, 32], seed=3, act="Relu6"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="overwrite existing files")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in SAMPLES.items():
        path = args.out / name
        if path.exists() and not args.force:
            print(f"exists, kept: {path} (use --force to overwrite)")
            continue
        onnx.save(build(), path)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
