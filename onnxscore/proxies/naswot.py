"""NASWOT (Mellor et al., ICML 2021): log|det K|, K = N_A - Hamming distance of the codes."""
from __future__ import annotations

import threading

import numpy as np

from onnxscore.errors import ProxyError
from onnxscore.proxies.codes import ProxyContext, SiteCodes
from onnxscore.proxies.registry import register

_GRAM = threading.local()  # one small onnxruntime session per thread, built on first use


def _gram_session():
    """An onnxruntime session computing G = X X^T for uint8 0/1 codes X (B, N), exactly, in int32.

    onnxruntime's MatMulInteger (MLAS u8 GEMM, all cores) does the B^2 N_A/2 multiply-adds PROXIES.md
    lists as NASWOT's cost 3.3x faster than float32 BLAS ssyrk on one core did (NB201, B = 128:
    33 ms against 108 ms, identical kernels), and needs no float copy of the codes. Spinning is off
    so its idle threads do not steal the cores from the next model's forward pass."""
    sess = getattr(_GRAM, "session", None)
    if sess is None:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("Transpose", ["X"], ["XT"]),
             helper.make_node("MatMulInteger", ["X", "XT"], ["G"])],
            "onnxscore_gram",
            [helper.make_tensor_value_info("X", TensorProto.UINT8, ["B", "N"])],
            [helper.make_tensor_value_info("G", TensorProto.INT32, ["B", "B"])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = _GRAM.session = ort.InferenceSession(model.SerializeToString(), so,
                                                    providers=["CPUExecutionProvider"])
    return sess


def gram(codes: np.ndarray) -> np.ndarray:
    """C C^T (int64) of one site's 0/1 codes, shape (B, units); exact for any units below 2**31."""
    x = np.ascontiguousarray(codes, dtype=np.uint8)
    return _gram_session().run(None, {"X": x})[0].astype(np.int64)


def kernel(sites: list[SiteCodes], batch: int) -> np.ndarray:
    """K[i, j] = number of units on which samples i and j agree, over all sites (float64)."""
    g = np.zeros((batch, batch), dtype=np.int64)
    n_units = 0
    for site in sites:
        if site.units == 0:
            continue
        g += gram(site.unpacked(slice(0, batch)))  # a view of onnxruntime's booleans when dense
        n_units += site.units
    ones = np.diag(g).copy()  # G[i, i] = sum of c_i^2 = number of active units of sample i
    # agree = both 1 + both 0 = G + (N - a_i - a_j + G); exact integers, then float64 for slogdet
    return (n_units - ones[:, None] - ones[None, :] + 2 * g).astype(np.float64)


@register(
    "naswot",
    "log-determinant of the Hamming kernel of binary activation codes (NASWOT, ICML 2021)",
)
def naswot(sites: list[SiteCodes], ctx: ProxyContext) -> float:
    sign, logdet = np.linalg.slogdet(kernel(sites, ctx.batch_size))
    if sign == 0 or not np.isfinite(logdet):
        raise ProxyError(
            "NASWOT kernel is singular (two inputs have identical activation codes); "
            "the score is -inf (use distinct inputs or a larger network)"
        )
    return float(logdet)
