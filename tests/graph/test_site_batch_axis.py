"""A site holds one row per sample of the batch input: activations of constants are not sites, and a
site whose first axis is not the batch is refused in one line (never an IndexError)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxscore
from onnxscore.cli.main import main
from onnxscore.errors import ProxyError
from onnxscore.graph.sites import find_sites, input_dependent
from onnxscore.graph.view import GraphView
from tests.models import make_model
from tests.proxies import naive

V = helper.make_tensor_value_info
RNG = np.random.default_rng(0)
W = numpy_helper.from_array(RNG.standard_normal((8, 16)).astype(np.float32), "w")
C = numpy_helper.from_array(RNG.standard_normal((4, 5)).astype(np.float32), "c")
HIDDEN = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["r"])]


def model(tail, inits=(), x_dims=("N", 8), y_dims=("a", "b")) -> onnx.ModelProto:
    return make_model(HIDDEN + tail, [V("x", TensorProto.FLOAT, list(x_dims))],
                      [V("y", TensorProto.FLOAT, list(y_dims))], [W, *inits])


def const(name, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def test_relu_of_constants_is_not_a_site_and_the_score_ignores_it():
    with_const = model([helper.make_node("Relu", ["c"], ["rc"]),
                        helper.make_node("ReduceSum", ["rc"], ["s"], keepdims=0),
                        helper.make_node("Add", ["r", "s"], ["y"])], [C])
    plain = model([helper.make_node("Identity", ["r"], ["y"])])
    view = GraphView(with_const)
    assert "rc" not in input_dependent(view, "x") and "r" in input_dependent(view, "x")
    x = RNG.standard_normal((16, 8)).astype(np.float32)
    res = onnxscore.score(with_const, ["naswot"], batch_size=16, data=x)
    ref = onnxscore.score(plain, ["naswot"], batch_size=16, data=x)
    assert res.sites == 1 and res.units == 16
    assert any("constants only" in w for w in res.warnings)
    hand = (x.astype(np.float64) @ numpy_helper.to_array(W) > 0)  # the one real site, by hand
    assert res.scores["naswot"] == ref.scores["naswot"] == pytest.approx(naive.naswot([hand]), rel=1e-9)


def test_zeros_of_the_input_shape_keep_their_site():
    """NB201's `none` edges: ConstantOfShape(Shape(x)) then ReLU-Conv-BN; the authors' code counts that ReLU."""
    zeros = [helper.make_node("Shape", ["r"], ["sh"]),
             helper.make_node("ConstantOfShape", ["sh"], ["z"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])),
             helper.make_node("Relu", ["z"], ["rz"]), helper.make_node("Add", ["r", "rz"], ["y"])]
    m = model(zeros)
    assert len(find_sites(GraphView(m))) == 2
    assert onnxscore.score(m, ["epads"], batch_size=8).sites == 2


def test_every_relu_of_an_nb201_net_with_none_edges_is_a_site():
    from onnxscore.spaces import get_space

    m = get_space("nb201").build("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    relus = sum(n.op_type == "Relu" for n in m.graph.node)
    assert onnxscore.score(m, ["epads"], batch_size=8).sites == relus


@pytest.mark.parametrize("tail,inits,x_dims,needle", [
    ([helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]), helper.make_node("Relu", ["t"], ["y"])], [],
     ("N", 8), "static size 16, while the batch of input 'x' is symbolic"),
    ([helper.make_node("Reshape", ["r", "shp"], ["t"]), helper.make_node("Relu", ["t"], ["y"])],
     [const("shp", [4, -1])], ("N", 8), "static size 4"),
    ([helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]), helper.make_node("Relu", ["t"], ["y"])], [],
     (1, 8), "static size 16, while the batch of input 'x' is the fixed 1"),
])
def test_site_whose_first_axis_is_not_the_batch_is_refused(tail, inits, x_dims, needle):
    m = model(tail, inits, x_dims)
    with pytest.raises(ProxyError, match=needle):
        onnxscore.score(m, ["epads"], batch_size=8)


def test_scalar_site_is_refused():
    m = model([helper.make_node("ReduceSum", ["r"], ["s"], keepdims=0), helper.make_node("Relu", ["s"], ["y"])],
              y_dims=())
    with pytest.raises(ProxyError, match="is a scalar"):
        onnxscore.score(m, ["naswot"], batch_size=8)


def test_rows_are_checked_at_run_time_when_inference_cannot_tell(tmp_path, capsys):
    """Reshape to [1, -1] through a shape shape inference does not propagate (Max): the first axis is unknown."""
    tail = [helper.make_node("Max", ["one", "one"], ["lead"]), helper.make_node("Concat", ["lead", "rest"], ["ns"], axis=0),
            helper.make_node("Reshape", ["r", "ns"], ["t"]), helper.make_node("Relu", ["t"], ["y"])]
    m = model(tail, [const("one", [1]), const("rest", [-1])])
    with pytest.raises(ProxyError, match="has 1 row"):
        onnxscore.score(m, ["naswot"], batch_size=8)
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    assert main([str(p), "-b", "8", "-p", "naswot"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("onnxscore: error: activation site")
    assert "IndexError" not in err[0] and "internal error" not in err[0]
