"""ScoreSettings: one frozen, checked object for every scoring setting, and the store's key of it."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import onnxscore
from onnxscore.errors import InputError
from onnxscore.settings import ScoreSettings


def test_frozen_checked_and_the_scorer_reads_it():
    s = ScoreSettings(batch_size=16, seed=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.batch_size = 8
    sc = onnxscore.Scorer(s, sigma=0.5)  # keywords override
    assert sc.config == s.replace(sigma=0.5) and sc.batch_size == 16 and sc.sigma == 0.5
    assert sc.settings() == sc.config.record(sc._providers[0])


@pytest.mark.parametrize("kw,needle", [({"batch_size": 1}, "--batch-size (batch_size)"),
                                       ({"bn": "nope"}, "bn"), ({"nope": 1}, "unknown scoring setting")])
def test_bad_settings_are_named(kw, needle):
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        ScoreSettings.of(kw)


def test_none_means_default_and_the_key_follows_what_changes_a_score():
    assert ScoreSettings.of({"batch_size": None, "seed": 3}) == ScoreSettings(seed=3)
    base = ScoreSettings(batch_size=16)
    assert base.key() == ScoreSettings.of({"batch_size": 16, "threads": 4}).key()  # threads change no score
    assert base.key() != base.replace(sigma=2.0).key()
    a, b = np.zeros((16, 3, 8, 8), np.float32), np.ones((16, 3, 8, 8), np.float32)
    assert base.replace(data=a).key() != base.replace(data=b).key()  # an in-memory batch keyed by its bytes
