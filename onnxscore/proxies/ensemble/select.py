"""Choose an ensemble's members on a development sample: greedy forward selection by Kendall tau.

For a space where a few architectures have been trained: start from the best single proxy on them, add the
member that raises the ensemble's Kendall most, stop when no member raises it by `min_gain`. The result is
only as honest as the split: report it on architectures that took no part in the choice (see the README's
NAS-Bench-101 cross-validation)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from onnxscore.errors import InputError
from onnxscore.proxies import registry
from onnxscore.proxies.ensemble import rules


@dataclass
class Selection:
    """The chosen members in the order added, the rule, and each step's (member added, dev Kendall)."""
    members: list
    rule: str
    kendall: float | None
    steps: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"members": [list(m) if isinstance(m, tuple) else m for m in self.members], "rule": self.rule,
                "kendall": self.kendall, "steps": [[m if isinstance(m, str) else list(m), k] for m, k in self.steps]}


def ensemble_values(members: Sequence, table: dict[str, Sequence], rule: str = "log_rank_sum") -> list:
    """The rule over `members` on the rows of `table` (the set it is relative to)."""
    n = len(next(iter(table.values())))
    return rules.get(rule)(list(members), table, registry.higher_is_better, n)


def greedy_select(table: dict[str, Sequence], accuracy: Sequence[float], candidates: Sequence | None = None,
                  rule: str = "log_rank_sum", min_gain: float = 0.005, max_members: int = 8) -> Selection:
    """Members chosen from `candidates` (default: every column of `table`, in its order) on the rows of
    `table` against `accuracy`; ties go to the earlier candidate, so the result is deterministic."""
    from onnxscore.evaluation import kendall

    candidates = list(table) if candidates is None else list(candidates)
    flat = [m for c in candidates for m in (c if isinstance(c, tuple) else (c,))]
    missing = [m for m in flat if m not in table]
    if missing:
        raise InputError(f"no scores for {', '.join(missing)}; score them first or leave them out of the candidates")
    if any(len(v) != len(accuracy) for v in table.values()):
        raise InputError("every column of scores needs one value per accuracy")
    if len(accuracy) < 3:
        raise InputError(f"a development sample of {len(accuracy)} architectures cannot rank; give at least 3")
    chosen: list = []
    best: float | None = None
    steps: list = []
    while len(chosen) < max_members:
        trial = None
        for c in candidates:
            if c in chosen:
                continue
            k = kendall(ensemble_values(chosen + [c], table, rule), accuracy)
            if k is not None and (trial is None or k > trial[1]):
                trial = (c, k)
        if trial is None or (best is not None and trial[1] < best + min_gain):
            break
        chosen.append(trial[0])
        best = trial[1]
        steps.append(trial)
    if not chosen:
        raise InputError(f"no candidate's Kendall tau is defined on these {len(accuracy)} architectures "
                         "(constant scores or accuracies); give architectures whose accuracies differ")
    return Selection(chosen, rule, best, steps)


def read_scores_csv(path, accuracy: str) -> tuple[dict[str, list], list[float], list[str]]:
    """({proxy: scores}, accuracies, models) from a CSV such as `onnxscore rank --csv` writes, with the
    trained accuracies added as column `accuracy`; rows with that cell empty are left out (not trained).
    Every column named like a registered proxy is a candidate; `params` becomes `param_count`."""
    import csv
    import math
    from pathlib import Path

    p = Path(path)
    try:
        with p.open(newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            raw = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {p}: {exc}; give a CSV such as `onnxscore rank --csv` writes") from None
    if accuracy not in header:
        raise InputError(f"{p} has no column '{accuracy}' (its columns: {', '.join(header) or 'none'}); add the "
                         f"trained accuracies as a column and name it with --accuracy")
    known = set(registry.names())
    cols = [c for c in header if c != accuracy and c in known and not registry.get(c).is_ensemble]
    if "params" in header and "param_count" not in cols:
        cols.append("params")
    table: dict[str, list] = {("param_count" if c == "params" else c): [] for c in cols}
    acc, models = [], []
    for i, row in enumerate(raw, start=2):
        cell = (row.get(accuracy) or "").strip()
        if not cell:
            continue
        try:
            a = float(cell)
        except ValueError:
            raise InputError(f"{p}, line {i}: accuracy '{cell}' is not a number") from None
        if not math.isfinite(a):
            raise InputError(f"{p}, line {i}: accuracy '{cell}' is not finite")
        acc.append(a)
        models.append(row.get("model") or f"line {i}")
        for c in cols:
            v = (row.get(c) or "").strip()
            try:
                table["param_count" if c == "params" else c].append(float(v) if v else None)
            except ValueError:
                raise InputError(f"{p}, line {i}: {c} '{v}' is not a number") from None
    if not table:
        raise InputError(f"{p} has no column named like a proxy (`onnxscore proxies` lists them); score the "
                         f"models with `onnxscore rank --csv` first")
    return table, acc, models


def module_text(name: str, selection: Selection, source: str = "") -> str:
    """A --proxy-module file that registers `selection` as ensemble `name`."""
    members = repr([tuple(m) if isinstance(m, (list, tuple)) else m for m in selection.members])
    where = f" on {source}" if source else ""
    return ('"""Ensemble chosen by `onnxscore select`' + where + f': dev Kendall {selection.kendall:.4f}."""\n'
            "from onnxscore.proxies.ensemble import register_ensemble\n\n"
            f"register_ensemble({name!r}, {members}, {selection.rule!r}, replace=True)\n")
