"""`onnxscore select`: choose an ensemble's members on architectures you have trained."""
from __future__ import annotations

import click

from onnxscore.cli.options import proxy_module_option


@click.command("select")
@click.argument("scores", type=click.Path(dir_okay=False))
@click.option("--accuracy", "accuracy", required=True, metavar="COLUMN",
              help="The CSV column of trained accuracies (rows left empty are not used).")
@click.option("--candidates", default=None, metavar="LIST",
              help="Comma list of proxies to choose from [default: every proxy column of the CSV].")
@click.option("--rule", default="log_rank_sum", show_default=True, help="The ensemble's combination rule.")
@click.option("--min-gain", type=float, default=0.005, show_default=True,
              help="Stop when no member raises Kendall tau by this much.")
@click.option("--max-members", type=int, default=8, show_default=True)
@click.option("--name", default="selected", show_default=True, help="The ensemble's name in --module.")
@click.option("--module", "module_path", type=click.Path(dir_okay=False), default=None,
              help="Write a --proxy-module file that registers the ensemble.")
@click.option("--force", is_flag=True, help="Overwrite an existing --module file.")
@proxy_module_option
def command(scores, accuracy, candidates, rule, min_gain, max_members, name, module_path, force,
            proxy_modules):  # noqa: ARG001  (imported by the option itself)
    """Choose an ensemble's members greedily by Kendall tau on SCORES.csv (e.g. `onnxscore rank --csv` with
    a column of trained accuracies added). The choice fits these architectures: judge it on others.
    Columns of your own proxies count when their --proxy-module is given (it carries their direction)."""
    from onnxscore.errors import InputError
    from onnxscore.outputs import check_outputs, write_text
    from onnxscore.proxies.ensemble import rules
    from onnxscore.proxies.ensemble.select import greedy_select, module_text, read_scores_csv

    rules.get(rule)
    if module_path:
        check_outputs({"--module": module_path}, force=force, inputs={scores: "the scores CSV"})
    table, acc, _ = read_scores_csv(scores, accuracy)
    pool = [c.strip() for c in candidates.split(",") if c.strip()] if candidates else list(table)
    if not pool:
        raise InputError("--candidates is empty; give a comma list of proxy columns")
    sel = greedy_select(table, acc, pool, rule=rule, min_gain=min_gain, max_members=max_members)
    click.echo(f"{len(acc)} architectures with accuracies; candidates: {', '.join(pool)}")
    click.echo(f"rule {rule}, min gain {min_gain}, at most {max_members} members")
    for i, (m, k) in enumerate(sel.steps, start=1):
        click.echo(f"  {i}. + {m:<20} Kendall {k:.4f}")
    click.echo(f"chosen: {', '.join(sel.members)} (Kendall {sel.kendall:.4f} on these architectures, which "
               "chose it: report it on others)")
    if module_path:
        write_text(module_path, module_text(name, sel, scores), force=force)
        click.echo(f"wrote {module_path}: onnxscore rank MODELS --proxy-module {module_path} -p {name}")
