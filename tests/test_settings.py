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


def test_a_batch_file_is_keyed_by_its_bytes_not_its_path(tmp_path):
    x = np.random.default_rng(0).standard_normal((16, 3, 8, 8)).astype(np.float32)
    y = np.arange(16, dtype=np.int64) % 10
    here, there = tmp_path / "a", tmp_path / "b"
    for d in (here, there):
        d.mkdir()
        np.save(d / "x.npy", x)
        np.save(d / "y.npy", y)
    k = [ScoreSettings(batch_size=16, data=str(d / "x.npy"), labels=str(d / "y.npy")).key() for d in (here, there)]
    assert k[0] == k[1] and str(here) not in k[0]  # a moved store still finds its scores
    np.save(there / "x.npy", x + 1)
    np.save(here / "y.npy", (y + 1) % 10)
    assert ScoreSettings(batch_size=16, data=str(there / "x.npy"), labels=str(there / "y.npy")).key() != k[1]
    assert ScoreSettings(batch_size=16, data=str(here / "x.npy"), labels=str(here / "y.npy")).key() != k[0]
    # the reported settings still say which file it was
    assert ScoreSettings(data=str(here / "x.npy")).record()["data"] == str(here / "x.npy")
