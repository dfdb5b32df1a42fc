"""The proxy registry: needs, direction, duplicate names, and user modules reaching every process."""
from __future__ import annotations

import json
import re
import textwrap

import pytest

from pathlib import Path

from onnxscore.errors import ProxyError
from onnxscore.proxies import registry

ROOT = Path(__file__).resolve().parents[2]
USER_PROXY = textwrap.dedent('''
    import numpy as np
    import onnxscore

    @onnxscore.register_proxy("active-fraction", "fraction of active units on the clean batch",
                              higher_is_better=False)
    def active_fraction(codes, ctx):
        total = sum(c.units * c.rows for c in codes)
        return float(sum(int(c.unpacked().sum()) for c in codes)) / total
''')


@pytest.fixture
def scratch():
    made = []
    yield made
    for name in made:
        registry.unregister(name)


def test_needs_and_direction_are_recorded(scratch):
    @registry.register("t-lower", "test", needs=("codes", "outputs"), higher_is_better=False)
    def fn(data, ctx):
        return 0.0

    scratch.append("t-lower")
    spec = registry.get("t-lower")
    assert spec.needs == ("codes", "outputs") and not spec.higher_is_better and not spec.paired
    assert spec.data({"codes": 1, "outputs": 2, "paired_codes": 3}) == {"codes": 1, "outputs": 2}
    assert registry.get("epads").paired and registry.get("epads").needs == ("paired_codes",)


def test_a_taken_name_is_refused_unless_replaced(scratch):
    def first(data, ctx):
        return 1.0

    def second(data, ctx):
        return 2.0

    registry.register("t-dup", "one")(first)
    scratch.append("t-dup")
    registry.register("t-dup", "one again")(first)  # the same function re-imported: fine
    with pytest.raises(ProxyError, match="already registered"):
        registry.register("t-dup", "other")(second)
    with pytest.raises(ProxyError, match="already registered"):
        registry.register("naswot", "mine")(second)
    registry.register("t-dup", "other", replace=True)(second)
    assert registry.get("t-dup").fn is second


@pytest.mark.parametrize("name,needs", [("t-bad", ("gradients-of-everything",)), ("a,b", ("codes",)),
                                        ("all", ("codes",)), ("t-none", ())])
def test_bad_registrations_are_refused(name, needs):
    with pytest.raises(ProxyError):
        registry.register(name, "x", needs=needs)(lambda d, c: 0.0)


def test_user_proxy_module_in_score_rank_and_proxies(tmp_path, capsys):
    from onnxscore.cli.main import main

    mod = tmp_path / "myproxy.py"
    mod.write_text(USER_PROXY)
    model = ROOT / "samples" / "tiny_cnn.onnx"
    try:
        assert main(["proxies", "--proxy-module", str(mod)]) in (0, None)
        out = capsys.readouterr().out
        assert re.search(r"active-fraction +lower is better  needs codes", out)
        assert main(["score", "--proxy-module", str(mod), "--help"]) in (0, None)  # help read from the registry
        helptext = "".join(capsys.readouterr().out.split())  # click wraps lines (and at hyphens)
        assert "epads,naswot,swap,reg-swap,active-fraction;gradient:fisher,grad_norm" in helptext
        assert main(["score", str(model), "-p", "active-fraction,naswot", "-b", "8", "--json",
                     "--proxy-module", str(mod)]) in (0, None)
        obj = json.loads(capsys.readouterr().out)
        assert 0.0 < obj["scores"]["active-fraction"] < 1.0 and obj["scores"]["naswot"] is not None
        # a spawned worker starts without the module: it must import it from the spec
        assert main(["rank", str(model), "-p", "active-fraction", "-b", "8", "--workers", "1", "-q",
                     "--store", str(tmp_path / "s.sqlite"), "--json", str(tmp_path / "r.json"),
                     "--proxy-module", str(mod)]) in (0, None)
        rows = json.loads((tmp_path / "r.json").read_text())
        assert rows[0]["status"] == "ok" and rows[0]["active-fraction"] == pytest.approx(obj["scores"]["active-fraction"])
    finally:
        registry.unregister("active-fraction")


def test_a_broken_proxy_module_is_one_line(tmp_path, capsys):
    from onnxscore.cli.main import main

    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    code = main(["proxies", "--proxy-module", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "boom" in err and "Traceback" not in err
