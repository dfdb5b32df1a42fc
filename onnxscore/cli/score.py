"""`onnxscore score MODEL...`: print each model's proxy scores with the settings behind them.

The scoring runs in a supervised child process (onnxscore.isolate): a model that crashes native code
(onnx shape inference, onnxruntime) or overruns --timeout costs only its own line, and a fresh child
scores the rest. ONNXSCORE_NO_ISOLATION=1 scores in this process instead (no crash protection).
"""
from __future__ import annotations

import json
import os

import click

from onnxscore.cli.options import scorer_kwargs, scoring_options
from onnxscore.isolate import DEFAULT_TIMEOUT_S

NO_ISOLATION_ENV = "ONNXSCORE_NO_ISOLATION"
_CHILD: dict = {}  # the child process's Scorer and proxy list


def _fmt(value) -> str:
    return "null" if value is None else f"{value:.6g}" if abs(value) < 1e6 else f"{value:.6e}"


def _print_human(res) -> None:
    click.echo(res.model)
    width = max(len(n) for n in res.scores)
    for name, value in res.scores.items():
        line = f"  {name:<{width}}  {_fmt(value)}"
        if name in res.errors:
            line += f"   ({res.errors[name]})"
        click.echo(line)
    click.echo(f"  sites {res.sites}  units {res.units}  params {res.params}")
    click.echo("  settings: " + " ".join(f"{k}={v}" for k, v in res.settings.items()))


def _setup(scorer_kw: dict, proxy: str, modules: tuple = ()) -> None:
    """Build the Scorer once (a bad setting or proxy fails the whole run, not each model)."""
    from onnxscore import Scorer
    from onnxscore.modules import import_spec

    for spec in modules:  # a spawned child starts without the user's proxies
        import_spec(spec, "--proxy-module")

    scorer = Scorer(**scorer_kw)
    scorer.check_proxies(proxy)
    _CHILD.update(scorer=scorer, proxy=proxy)


def _score(path: str):
    return _CHILD["scorer"].score(path, _CHILD["proxy"])


def _debugging() -> bool:
    from onnxscore.runtime import DEBUG_ENV

    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _failure_line(path: str, out) -> tuple[str, int]:
    """The one stderr line for a model that gave no result, and its exit code (2 user error, 1 our bug)."""
    from onnxscore.isolate import death_reason, limit_reason

    if out.timed_out is not None:
        return f"onnxscore: error: {path}: {limit_reason(out.timed_out)}", 2
    if out.exitcode is not None:
        hint = ("; onnx or onnxruntime cannot handle this model (simplify it, or report it with the file)"
                if "native code" in death_reason(out.exitcode) else "")
        return f"onnxscore: error: {path}: the scoring process {death_reason(out.exitcode)}{hint}", 2
    err = out.raised
    if err.user_error:
        msg = err.line()
        return f"onnxscore: error: {msg if path in msg else f'{path}: {msg}'}", 2
    return (f"onnxscore: internal error: {path}: {err.line()} (rerun with --debug for the traceback and "
            "report it)"), 1


def _in_process(models, scorer_kw: dict, proxy: str, timeout_s: float, on_done, modules: tuple = ()) -> None:
    """The opt-out: score here, one model after another. An exception is still one model's failure, but a
    crash ends the run and the time limit can only stop onnxruntime runs."""
    from onnxscore.isolate import Outcome, Raised, call_with_limit

    _setup(scorer_kw, proxy, modules)
    for path in models:
        try:
            out = call_with_limit(_score, path, timeout_s)
        except Exception as exc:  # noqa: BLE001 - reported per model, as the isolated path does
            out = Outcome(raised=Raised.of(exc))
        on_done(path, out)


@click.command("score")
@click.argument("models", nargs=-1, required=True)
@scoring_options
@click.option("--from", "fmt", type=click.Choice(["onnx", "keras", "tensorflow", "paddle", "torch"]),
              default=None, help="Source format when the path does not tell (converted in memory).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model, one per line.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT_S,
              show_default=True, metavar="SECONDS",
              help="Per-model time limit (0 = none): a model still being scored after it is stopped and "
                   "reported as failed.")
def command(models, proxy, fmt, as_json, timeout_s, proxy_modules, **kw):
    """Score MODELS (ONNX files, or framework models converted in memory) with the same batch.

    A model that fails (a bad file, a crash in native code, over --timeout) gets one error line and
    the others are still scored; the exit code is then non-zero.
    """
    from onnxscore import validation
    from onnxscore.isolate import Pool
    from onnxscore.proxies import registry

    registry.refuse_ensembles(registry.parse(validation.proxies(proxy)))  # before any child starts
    scorer_kw = {"fmt": fmt, **scorer_kwargs(kw)}
    warned: set[str] = set()
    codes: list[int] = []

    def on_done(path: str, out) -> None:
        if not out.ok:
            if out.raised is not None and _debugging():
                click.echo(out.raised.traceback.rstrip(), err=True)
            line, code = _failure_line(path, out)
            click.echo(line, err=True)
            codes.append(code)
            return
        res = out.value
        for w in res.warnings:
            if w not in warned:
                warned.add(w)
                click.echo(f"onnxscore: warning: {w}", err=True)
        if as_json:
            click.echo(json.dumps(res.to_dict()))
        else:
            _print_human(res)

    if os.environ.get(NO_ISOLATION_ENV, "") not in ("", "0"):
        _in_process(models, scorer_kw, proxy, timeout_s, on_done, proxy_modules)
    else:
        with Pool(_score, 1, setup=_setup, setup_args=(scorer_kw, proxy, proxy_modules), timeout_s=timeout_s,
                  start_method="auto") as pool:
            pool.run(models, on_done)
    if codes:
        return min(codes)  # 1 (a bug of ours) outranks 2 (a bad model)
