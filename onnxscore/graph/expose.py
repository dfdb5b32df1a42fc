"""Expose each activation site as a boolean graph output computed in the graph (sign > 0)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxscore.graph.sites import Site
from onnxscore.graph.view import tensor_info

SITE_PREFIX = "onnxscore_site_"


def expose_sites(model: onnx.ModelProto, sites: list[Site]) -> list[str]:
    """Append `Greater(tensor, 0)` per site as a BOOL output (in place); return the output names.

    Booleans leave onnxruntime instead of float32 activations: four times less memory.
    """
    info = tensor_info(model)
    g = model.graph
    zeros: dict[int, str] = {}
    names = []
    for site in sites:
        dtype = info.get(site.tensor, (TensorProto.FLOAT,))[0] or TensorProto.FLOAT
        if dtype not in zeros:
            zeros[dtype] = f"{SITE_PREFIX}zero_{dtype}"
            zero = np.zeros((), dtype=helper.tensor_dtype_to_np_dtype(dtype))
            g.initializer.append(numpy_helper.from_array(zero, zeros[dtype]))
        out = f"{SITE_PREFIX}{site.index}"
        g.node.append(helper.make_node("Greater", [site.tensor, zeros[dtype]], [out], name=out))
        g.output.append(helper.make_tensor_value_info(out, TensorProto.BOOL, None))
        names.append(out)
    return names
