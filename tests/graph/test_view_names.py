"""view.NameIndex answers fresh_prefix's question like a scan of the names does, by bisection."""
from __future__ import annotations

import pytest

from onnxscore.graph.view import NameIndex, fresh_prefix

NAMES = {"conv1", "conv1__onnxscore_bn_mean", "relu", "a", "onnxscore_site_0", "onnxscore_site_1_", "zz"}


@pytest.mark.parametrize("prefix", ["conv1", "conv1_", "conv1__onnxscore_bn", "conv2", "onnxscore_site_",
                                    "onnxscore_site_1", "onnxscore_site_2", "", "z", "zzz", "0"])
def test_has_prefix_is_any_startswith(prefix):
    assert NameIndex(NAMES).has_prefix(prefix) == any(n.startswith(prefix) for n in NAMES)


@pytest.mark.parametrize("base", ["conv1__onnxscore_bn", "onnxscore_site_", "relu", "fresh_"])
def test_fresh_prefix_is_the_same_for_a_set_and_an_index(base):
    chosen = fresh_prefix(NameIndex(NAMES), base)
    assert chosen == fresh_prefix(NAMES, base)
    assert not any(n.startswith(chosen) for n in NAMES)
