"""Ensembles: a named proxy whose value combines member proxies' scores with a rule (rules.py).

Rank-based rules rank each member within the set of models being ranked, so an ensemble is defined on a
set, never on one model: `rank` ranks within the candidates given, `evaluate` within the architectures
evaluated (the rows its metrics use), `search` within the candidates it has evaluated so far. The members
are scored (and cached) per model like any proxy, in one plan; the ensemble value is never stored."""
from __future__ import annotations

from typing import Callable, Sequence

from onnxscore.errors import ProxyError
from onnxscore.proxies import registry
from onnxscore.proxies.ensemble import rules


def _noop(data, ctx):
    raise ProxyError("an ensemble ranks models within a set and has no value for one model")


def register_ensemble(name: str, members: Sequence, rule: str = "log_rank_sum", description: str = "",
                      replace: bool = False) -> None:
    """Register `name` as the `rule` over `members` (proxy names; a tuple of names is one member ranked
    lexicographically). Selectable wherever a proxy is: --proxy NAME."""
    rules.get(rule)
    mem = tuple(tuple(m) if isinstance(m, (list, tuple)) else m for m in members)
    if not mem:
        raise ProxyError(f"ensemble '{name}' has no members")
    for m in mem:
        for n in (m if isinstance(m, tuple) else (m,)):
            if registry.get(n).is_ensemble:
                raise ProxyError(f"ensemble '{name}': member '{n}' is an ensemble; list its members instead")
    text = description or f"{rule} of {', '.join('(' + ','.join(m) + ')' if isinstance(m, tuple) else m for m in mem)}"
    registry.register_spec(registry.ProxySpec(name, _noop, text, ("ensemble",), (), True, mem, rule),
                           replace=replace)


def combine(name: str, table: dict[str, list]) -> list[float | None]:
    """Ensemble `name` over one set: `table` maps each member to its scores (None: unscored), row-aligned."""
    spec = registry.get(name)
    n = len(next(iter(table.values()))) if table else 0
    if n == 0:
        return []
    return rules.get(spec.rule)(spec.members, table, registry.higher_is_better, n)


def add_to_rows(names: Sequence[str], rows: list[dict], get: Callable[[dict, str], object] | None = None,
                put: Callable[[dict, str, object], None] | None = None) -> None:
    """Fill each ensemble of `names` into `rows` (the set it is relative to), reading member values with
    `get(row, proxy)` and writing with `put(row, name, value)` (default: row[proxy])."""
    get = get or (lambda r, p: r.get(p))
    put = put or (lambda r, p, v: r.__setitem__(p, v))
    for name in names:
        if not registry.get(name).is_ensemble:
            continue
        table = {m: [get(r, m) for r in rows] for m in registry.flat_members(name)}
        for r, v in zip(rows, combine(name, table)):
            put(r, name, v)


def describe(name: str) -> dict:
    """What a result's settings record about an ensemble."""
    spec = registry.get(name)
    return {"members": [list(m) if isinstance(m, tuple) else m for m in spec.members], "rule": spec.rule,
            "relative_to": "the set of models ranked together"}


from onnxscore.proxies.ensemble import builtin  # noqa: E402,F401  (registers the built-in ensembles)
