"""timm-style registry: each proxy is one module that registers a function under its name, with what
it needs from the model's runs, its own settings and its direction.

Needs (the scorer builds one capture plan from the union of the requested proxies' needs):
- "codes": sign codes of the sites on the clean batch of B (a list of SiteCodes)
- "paired_codes": sign codes of [X; X + E], 2B rows (ePADS)
- "site_values": the float pre-activation tensors of the sites on the clean batch (arrays, B rows)
- "outputs": the model's outputs on the clean batch (arrays)
- "gradients": computed by the gradient plan (onnxscore.proxies.gradient), never called with data
- "graph": the model's own ModelProto, no run (structural baselines: layers, flops)
- "model": the model's own ModelProto; the proxy makes its own runs on the authors' fresh network and
  random batch (AZ-NAS's components, VKDNW), sharing them between the proxies of one family
- "ensemble": never called with data: the value combines the scores of `members` over the set of models
  being ranked with `rule` (onnxscore.proxies.ensemble)
A proxy with one need gets that need's data as its first argument; with several, a dict need -> data.
The second argument is the ProxyContext (seed, batch size, params, threads and the proxy's settings).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from onnxscore.errors import ProxyError

NEEDS = ("codes", "paired_codes", "site_values", "outputs", "gradients", "graph", "model", "ensemble")
GROUPS = ("all", "gradient")  # all: the activation-pattern proxies (and user ones); gradient: the HNAS family


@dataclass(frozen=True)
class ProxySpec:
    """A registered proxy: its function, a one-line description, its needs, settings and direction."""

    name: str
    fn: Callable
    description: str
    needs: tuple[str, ...] = ("codes",)
    params: tuple[str, ...] = field(default=())  # settings it requires (reg-swap: mu, sigma_params)
    higher_is_better: bool = True
    members: tuple = ()  # an ensemble's members: proxy names, or tuples of names ranked lexicographically
    rule: str | None = None  # an ensemble's combination rule (onnxscore.proxies.ensemble.rules)

    @property
    def is_ensemble(self) -> bool:
        return "ensemble" in self.needs

    @property
    def paired(self) -> bool:
        """Needs the clean + perturbed 2B forward."""
        return "paired_codes" in self.needs

    def data(self, captured: dict):
        """What `fn` is called with, from the captured needs."""
        return captured[self.needs[0]] if len(self.needs) == 1 else {n: captured[n] for n in self.needs}


_REGISTRY: dict[str, ProxySpec] = {}


def _same_definition(a: Callable, b: Callable) -> bool:
    """A module imported again (a worker, a re-run notebook cell) re-registers the same function."""
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == \
        (getattr(b, "__module__", None), getattr(b, "__qualname__", None))


def register(name: str, description: str, *, needs: tuple[str, ...] | None = None, paired: bool = False,
             params: tuple[str, ...] = (), higher_is_better: bool = True,
             replace: bool = False) -> Callable[[Callable], Callable]:
    """Decorator adding a proxy `fn(data, ctx) -> float` under `name` (see the module docstring for
    `needs`; `paired=True` is short for needs=("paired_codes",)). A name already taken by another
    function is refused unless `replace=True`."""
    if needs is None:
        needs = ("paired_codes",) if paired else ("codes",)
    needs = tuple(needs)
    unknown = [n for n in needs if n not in NEEDS]
    if not needs or unknown:
        raise ProxyError(f"proxy '{name}' needs {unknown or 'nothing'}; each need must be one of {', '.join(NEEDS)}")
    if not name or any(c in name for c in ", ") or name in GROUPS:
        raise ProxyError(f"proxy name {name!r} is not usable on the command line; use letters, digits, - and _")

    def deco(fn):
        old = _REGISTRY.get(name)
        if old is not None and not replace and not _same_definition(old.fn, fn):
            raise ProxyError(f"a proxy named '{name}' is already registered ({old.fn.__module__}."
                             f"{old.fn.__qualname__}); choose another name or pass replace=True")
        _REGISTRY[name] = ProxySpec(name, fn, description, needs, tuple(params), bool(higher_is_better))
        return fn

    return deco


def register_spec(spec: ProxySpec, replace: bool = False) -> None:
    """Add a ready ProxySpec (ensembles are registered this way); a taken name needs `replace`."""
    old = _REGISTRY.get(spec.name)
    if old is not None and not replace and (old.members, old.rule) != (spec.members, spec.rule):
        raise ProxyError(f"a proxy named '{spec.name}' is already registered; choose another name or pass replace=True")
    _REGISTRY[spec.name] = spec


def unregister(name: str) -> None:
    """Remove a proxy (tests, notebooks); built-ins come back only with a new process."""
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    from onnxscore.proxies import (  # noqa: F401  (they register)
        aznas_family, ensemble, epads, flops, gradients, layers, naswot, param_count, reg_swap, swap, vkdnw_family)


def names() -> list[str]:
    _load_builtins()
    return list(_REGISTRY)


def get(name: str) -> ProxySpec:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ProxyError(
            f"unknown proxy '{name}'; choose from {', '.join(_REGISTRY)}, 'all' or 'gradient' "
            "(see `onnxscore proxies`; your own with --proxy-module FILE.py)"
        ) from None


def _items(spec) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    return [s.strip() for s in items if s.strip()]


def higher_is_better(name: str) -> bool:
    """A proxy's registered direction; True for a name that is not a proxy (params, macs, ...)."""
    _load_builtins()
    spec = _REGISTRY.get(name)
    return True if spec is None else spec.higher_is_better


def is_gradient(name: str) -> bool:
    return "gradients" in get(name).needs


def is_structural(name: str) -> bool:
    """Computed from the graph alone (needs only "graph"): no run, no batch."""
    return get(name).needs == ("graph",)


def is_ensemble(name: str) -> bool:
    return get(name).is_ensemble


def runs_itself(name: str) -> bool:
    """Computed from the model by the proxy's own runs (need "model")."""
    return "model" in get(name).needs


def group(name: str) -> list[str]:
    """'all': the activation-pattern proxies and user ones (what `all` always meant: not gradient,
    structural, own-run or ensemble); 'gradient': the gradient family."""
    if name == "gradient":
        return [n for n in names() if is_gradient(n)]
    return [n for n in names() if not is_gradient(n) and not is_structural(n) and not runs_itself(n)
            and not is_ensemble(n)]


def refuse_ensembles(names_: list[str]) -> None:
    """Scoring one model: an ensemble has no value there; say why and what to run instead."""
    ensembles = [n for n in names_ if is_ensemble(n)]
    if ensembles:
        raise ProxyError(
            f"{ensembles[0]} is an ensemble: it ranks each model within a set, so one model has no value; "
            f"rank several models (onnxscore rank / evaluate / search -p {ensembles[0]}) or score its "
            f"members: -p {','.join(computed(ensembles))}")


def flat_members(name: str) -> list[str]:
    """An ensemble's member proxies, flattened, in order (a proxy: itself)."""
    spec = get(name)
    if not spec.is_ensemble:
        return [name]
    out: list[str] = []
    for m in spec.members:
        for n in (m if isinstance(m, tuple) else (m,)):
            if n not in out:
                out.append(n)
    return out


def computed(names_: list[str]) -> list[str]:
    """What must be scored per model for `names_`: each proxy, and each ensemble's members instead of it."""
    out: list[str] = []
    for name in names_:
        for n in flat_members(name):
            if n not in out:
                out.append(n)
    return out


def explicit(spec) -> list[str]:
    """Proxies named one by one in `spec` (not brought in by a group)."""
    return [get(item).name for item in _items(spec) if item not in GROUPS]


def parse(spec) -> list[str]:
    """'epads,naswot' / 'all' / a list -> validated proxy names, in order, without repeats."""
    out: list[str] = []
    for item in _items(spec):
        for name in group(item) if item in GROUPS else [get(item).name]:
            if name not in out:
                out.append(name)
    if not out:
        raise ProxyError("no proxy given; pass --proxy epads (or a comma list, or all)")
    return out
