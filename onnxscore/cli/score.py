"""`onnxscore score MODEL...`: print each model's proxy scores with the settings behind them."""
from __future__ import annotations

import json

import click

from onnxscore.cli.options import scorer_kwargs, scoring_options


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


@click.command("score")
@click.argument("models", nargs=-1, required=True)
@scoring_options
@click.option("--from", "fmt", type=click.Choice(["onnx", "keras", "tensorflow", "paddle", "torch"]),
              default=None, help="Source format when the path does not tell (converted in memory).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model, one per line.")
def command(models, proxy, fmt, as_json, **kw):
    """Score MODELS (ONNX files, or framework models converted in memory) with the same batch."""
    from onnxscore import Scorer

    scorer = Scorer(fmt=fmt, **scorer_kwargs(kw))
    warned: set[str] = set()
    for path in models:
        res = scorer.score(path, proxy)
        for w in res.warnings:
            if w not in warned:
                warned.add(w)
                click.echo(f"onnxscore: warning: {w}", err=True)
        if as_json:
            click.echo(json.dumps(res.to_dict()))
        else:
            _print_human(res)
