"""MAC counts against hand counts: Conv (plain, grouped, strided), ConvTranspose, Gemm, MatMul, NB201 index 0."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxscore.edge.macs import count_macs
from onnxscore.errors import InputError


def _model(nodes, x_shape, inits, y_name="y", y_shape=None, extra_inputs=()):
    g = helper.make_graph(
        nodes, "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape), *extra_inputs],
        [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, y_shape)],
        [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in inits.items()],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def test_conv_hand_count_symbolic_batch():
    # 3x3 conv 3->4 on 8x8, pad 1: 3*3*3 * 4 * 8*8 MACs per sample; the bias is not a MAC
    m = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
               ["N", 3, 8, 8], {"w": (4, 3, 3, 3), "b": (4,)})
    r = count_macs(m)
    assert r.total == 3 * 3 * 3 * 4 * 8 * 8
    assert r.by_op_type == {"Conv": 3 * 3 * 3 * 4 * 8 * 8}
    assert r.unknown == []


def test_grouped_strided_conv():
    # groups=2, Cin=4, Cout=6, 3x3, stride 2, pad 1 on 8x8 -> 4x4: k*k*Cin/g*Cout*Ho*Wo
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2], group=2)],
               ["N", 4, 8, 8], {"w": (6, 2, 3, 3)})
    assert count_macs(m).total == 3 * 3 * (4 // 2) * 6 * 4 * 4


def test_depthwise_conv():
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], group=8)],
               [1, 8, 5, 5], {"w": (8, 1, 3, 3)})
    assert count_macs(m).total == 9 * 8 * 5 * 5


def test_conv_transpose():
    # each input element meets Cout/g * k*k weights: 2*3*3 * (4*4*4 input elements)
    m = _model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])],
               ["N", 4, 4, 4], {"w": (4, 2, 3, 3)})
    assert count_macs(m).total == 4 * 4 * 4 * 2 * 3 * 3


@pytest.mark.parametrize("bias", [True, False])
def test_gemm_bias_counted(bias):
    # Linear 64 -> 10: M*K*N, plus M*N for the bias (xautodl convention)
    inputs = ["x", "w", "b"] if bias else ["x", "w"]
    inits = {"w": (10, 64), "b": (10,)} if bias else {"w": (10, 64)}
    m = _model([helper.make_node("Gemm", inputs, ["y"], transB=1)], ["N", 64], inits)
    r = count_macs(m)
    assert r.total == 64 * 10 + (10 if bias else 0)
    assert set(r.by_op_type) == {"Gemm"}


def test_gemm_trans_a_and_b():
    # A = a^T (3x7), B = b^T (7x5): M=3, K=7, N=5 (x only feeds a Relu so the batch is 1)
    nodes = [helper.make_node("Gemm", ["a", "b"], ["y"], transA=1, transB=1),
             helper.make_node("Relu", ["x"], ["r"])]
    m = _model(nodes, [1, 2], {"a": (7, 3), "b": (5, 7)})
    assert count_macs(m).total == 3 * 7 * 5


def test_matmul_2d_and_batched():
    m = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], ["N", 5, 7], {"w": (7, 3)})
    assert count_macs(m).total == 5 * 7 * 3
    b = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 2, 7, 3])
    m2 = _model([helper.make_node("MatMul", ["x", "z"], ["y"])], ["N", 2, 5, 7], {}, extra_inputs=[b])
    assert count_macs(m2).total == 2 * 5 * 7 * 3


def test_static_batch_is_divided_out():
    m1 = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [1, 16], {"w": (16, 8)})
    m4 = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [4, 16], {"w": (16, 8)})
    r1, r4 = count_macs(m1), count_macs(m4)
    assert r1.total == r4.total == 16 * 8
    assert r4.batch == 4


def test_breakdown_per_op_type_sums_to_total():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("MatMul", ["f", "wm"], ["h"]),
        helper.make_node("Gemm", ["h", "wg", "bg"], ["y"], transB=1),
    ]
    m = _model(nodes, ["N", 3, 6, 6], {"w": (5, 3, 3, 3), "wm": (5, 4), "wg": (2, 4), "bg": (2,)})
    r = count_macs(m)
    assert r.by_op_type == {"Conv": 27 * 5 * 36, "MatMul": 5 * 4, "Gemm": 4 * 2 + 2}
    assert r.total == sum(r.by_op_type.values())


def test_symbolic_spatial_dims_need_input_shape():
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"])], ["N", 3, "H", "W"], {"w": (2, 3, 1, 1)})
    with pytest.raises(InputError, match="input_shape"):
        count_macs(m)
    assert count_macs(m, input_shape=(3, 10, 10)).total == 3 * 2 * 100


def test_reshape_with_batch_from_shape_op():
    # Flatten written as Shape->Gather->Concat->Reshape (as torch exports): data propagation keeps it static
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["y"]),
    ]
    g = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0, np.int64), "zero"),
         numpy_helper.from_array(np.array([0], np.int64), "axes"),
         numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
         numpy_helper.from_array(np.zeros((18, 4), np.float32), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    assert count_macs(m).total == 18 * 4


def test_nb201_index0_cifar10_is_15_65m():
    nb201 = pytest.importorskip("onnxscore.spaces.nb201", reason="NB201 builder not present")
    arch0 = ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
             "skip_connect~2|")
    from onnxscore.spaces import get_space

    model = get_space("nb201", dataset="cifar10").build(arch0)
    r = count_macs(model)
    # hand count (NB201.md §6): stem 27*16*32*32, 2 conv1x1 per cell x 5 cells x 3 stages
    # (C^2 * H^2 each), two reduction blocks (9*Cin*Cout + 9*Cout^2 + Cin*Cout) * Ho^2, linear 64*10+10
    hand = 27 * 16 * 32 * 32
    for c, hw in ((16, 32), (32, 16), (64, 8)):
        hand += 5 * 2 * c * c * hw * hw
    for cin, ho in ((16, 16), (32, 8)):
        cout = 2 * cin
        hand += (9 * cin * cout + 9 * cout * cout + cin * cout) * ho * ho
    hand += 64 * 10 + 10
    assert r.total == hand
    assert round(r.total / 1e6, 2) == 15.65
    assert r.by_op_type["Gemm"] == 650
    assert r.total == nb201.macs(arch0, "cifar10")


def test_run_shapes_skip_sequence_tensors():
    """A sequence-typed tensor (SplitToSequence, as in timm's LeViT) has no shape: it is left out, not a crash."""
    from onnxscore.edge.runshapes import record_shapes

    g = helper.make_graph(
        [helper.make_node("SplitToSequence", ["x"], ["seq"], axis=1),
         helper.make_node("SequenceAt", ["seq", "zero"], ["first"]),
         helper.make_node("Relu", ["first"], ["y"])],
        "seq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0, np.int64), "zero")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    got, err = record_shapes(m, {"x": ([3, 2, 4], TensorProto.FLOAT)}, ["seq", "first"])
    assert err is None and got == {"first": [3, 1, 4]}
