"""Integer linear algebra on 0/1 codes, run by two tiny fixed onnxruntime graphs (MLAS 8-bit GEMM, all cores).

Exact (int32 accumulation), and faster than what NumPy/SciPy offer for it here: per NB201 net at
B = 128 about half the time of a float32 BLAS ssyrk Gram (NASWOT) and of a NumPy shift-or per sample
row (SWAP); README "Cost: benchmarks" has the numbers. The right-hand operand is the same 0/1 bytes
read as int8: MLAS's u8 x s8 kernels (AVX-512 VNNI, AMX) run 1.4-2.4x faster than its u8 x u8 one, and
with values 0/1 the products and sums are the same integers. One session per graph and thread,
built on first use per thread count (the Scorer's `threads`, so rank workers stay on their share of the
cores); spinning is off so idle threads don't steal the cores from the next forward pass.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

_LOCAL = threading.local()


def _gram_graph(helper, tp):
    """X (B, N) uint8 and S, the same codes as int8 -> G = X S^T (B, B) int32."""
    return ([helper.make_node("Transpose", ["S"], ["ST"]), helper.make_node("MatMulInteger", ["X", "ST"], ["G"])],
            [helper.make_tensor_value_info("X", tp.UINT8, ["B", "N"]),
             helper.make_tensor_value_info("S", tp.INT8, ["B", "N"])],
            helper.make_tensor_value_info("G", tp.INT32, ["B", "B"]))


def _columns_graph(helper, tp):
    """W (K, B) uint8, X (B, N) int8 0/1 codes -> (W X)^T as uint8 (N, K)."""
    return ([helper.make_node("MatMulInteger", ["W", "X"], ["P"]),
             helper.make_node("Cast", ["P"], ["P8"], to=tp.UINT8),  # each byte sums <= 8 powers of 2
             helper.make_node("Transpose", ["P8"], ["Y"])],
            [helper.make_tensor_value_info("W", tp.UINT8, ["K", "B"]),
             helper.make_tensor_value_info("X", tp.INT8, ["B", "N"])],
            helper.make_tensor_value_info("Y", tp.UINT8, ["N", "K"]))


def _session(name: str, build, threads: int):
    """The session of graph `build` for this thread and thread count (built once; calls are per site)."""
    sessions = _LOCAL.__dict__.setdefault("sessions", {})
    key = (name, threads)
    if key not in sessions:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        nodes, inputs, output = build(helper, TensorProto)
        graph = helper.make_graph(nodes, f"onnxscore_{name}", inputs, [output])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.inter_op_num_threads = 1
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions[key] = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sessions[key]


def gram(codes: np.ndarray, threads: int = 0) -> np.ndarray:
    """C C^T as int64 for 0/1 codes C of shape (B, units), units < 2**31: G[i, j] = units active in both."""
    x = np.ascontiguousarray(codes, dtype=np.uint8)
    return _session("gram", _gram_graph, threads).run(None, {"X": x, "S": x.view(np.int8)})[0].astype(np.int64)


@functools.lru_cache(maxsize=8)
def _byte_weights(batch: int, nbytes: int) -> np.ndarray:
    """W[k, i] = 2**(i % 8) when i // 8 == k: W @ C packs samples 8k..8k+7 of every column into byte k."""
    w = np.zeros((nbytes, batch), dtype=np.uint8)
    i = np.arange(batch)
    w[i >> 3, i] = (1 << (i & 7)).astype(np.uint8)
    w.flags.writeable = False
    return w


def column_bytes(codes: np.ndarray, nbytes: int, threads: int = 0) -> np.ndarray:
    """Each unit's pattern over the batch, packed: (units, nbytes) uint8 for 0/1 codes (B, units), B <= 8 nbytes.

    Byte k of a unit holds samples 8k..8k+7, sample i at bit i % 8; bytes past the batch are zero."""
    x = np.ascontiguousarray(codes, dtype=np.uint8)
    return _session("columns", _columns_graph, threads).run(None, {"W": _byte_weights(x.shape[0], nbytes), "X": x.view(np.int8)})[0]
