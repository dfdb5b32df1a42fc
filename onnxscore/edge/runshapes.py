"""Tensor shapes recorded from one onnxruntime run, for what `onnx.shape_inference` could not size.

Why: static shape inference gives up on parts of some exported graphs (torch.onnx dynamo with
optimize=False computes Reshape/Expand targets through Shape/Concat chains it cannot follow), and a
MAC counter that only sees inferred shapes then loses nodes such as the final Linear. One run of the
real model at the counted input shape (batch 1 unless the model fixes it) gives every tensor's actual
shape; the tensors are exposed as extra outputs of a copy, the user's model is not changed.
"""

from __future__ import annotations

import numpy as np
import onnx

from onnxscore.inputs import fill


def record_shapes(model: onnx.ModelProto, input_shapes: dict[str, tuple[list[int], int]],
                  names: list[str], external_dir: str | None = None) -> tuple[dict[str, list[int]], str | None]:
    """Run `model` once on CPU with inputs of `input_shapes` (name -> (shape, elem type)) and return
    ({tensor name: shape} for the `names` the run produced, None) or ({}, one-line reason) when the
    model cannot be run (an op onnxruntime lacks, a custom domain, a bad graph)."""
    from onnxscore import runtime

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    wanted = [n for n in dict.fromkeys(names) if n]
    for n in wanted:
        if n not in present:
            probe.graph.output.append(onnx.ValueInfoProto(name=n))  # untyped: onnxruntime fills it in
    rng = np.random.default_rng(0)
    feeds = {k: fill(list(shp), et, rng) for k, (shp, et) in input_shapes.items()}
    try:
        sess = runtime.make_session(probe.SerializeToString(), [runtime.CPU], threads=1,
                                    external_dir=external_dir, arena=False)
        out_names = [o.name for o in sess.get_outputs()]
        values = sess.run(out_names, feeds)
    except Exception as exc:  # noqa: BLE001 - any failure leaves the nodes unsized, and is reported
        text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        return {}, f"onnxruntime could not run the model to record shapes: {text[:200]}"
    want = set(wanted)
    # a sequence-typed tensor (SplitToSequence, e.g. timm's LeViT attention) comes back as a list: no shape
    return {n: [int(d) for d in v.shape] for n, v in zip(out_names, values)
            if n in want and isinstance(v, np.ndarray)}, None
