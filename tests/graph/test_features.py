"""Feature taps declared in a model's metadata: the builders' declarations and the round trip."""
from __future__ import annotations

import numpy as np

from onnxscore.graph.features import FEATURES_KEY, declare_features, declared_features
from onnxscore.spaces import nb101, nb201
from onnxscore.graph.view import GraphView

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"


def test_nb201_declares_the_stem_and_every_cell_in_order():
    m = nb201.build_model(ARCH)
    taps = declared_features(m)
    produced = {o: n.name for n in m.graph.node for o in n.output}
    assert len(taps) == 18 and taps[0] == "stem.1"
    assert [produced[t].split(".")[1] for t in taps[1:]] == [str(i) for i in range(17)]  # cells.0 ... cells.16
    order = {o: i for i, idx in enumerate(GraphView(m).order) for o in m.graph.node[idx].output}
    assert [order[t] for t in taps] == sorted(order[t] for t in taps)


def test_a_pass_through_cell_repeats_its_input_and_nb101_declares_stem_and_cells():
    taps = declared_features(nb201.build_model("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"))
    assert taps[1] == taps[0] == "stem.1"  # cell 0 returns its input
    enc = nb101.NB101Space().sample(np.random.default_rng(0))
    assert len(declared_features(nb101.build_model(enc))) == 1 + 9


def test_declare_replaces_and_a_model_without_taps_has_none():
    m = nb201.build_model(ARCH)
    declare_features(m, ["a", "b"])
    assert declared_features(m) == ["a", "b"]
    assert sum(p.key == FEATURES_KEY for p in m.metadata_props) == 1
    del m.metadata_props[:]
    assert declared_features(m) is None
