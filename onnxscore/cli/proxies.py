"""`onnxscore proxies`: list every registered proxy with its description and direction."""
from __future__ import annotations

import click

from onnxscore.cli.options import proxy_module_option


@click.command("proxies")
@proxy_module_option
def command(proxy_modules):
    """List the proxies: name, direction and what each measures."""
    from onnxscore.proxies import registry

    specs = [registry.get(n) for n in registry.names()]
    width = max(len(s.name) for s in specs)
    for s in specs:
        direction = "higher is better" if s.higher_is_better else "lower is better"
        needs = "ensemble (relative to the set ranked)" if s.is_ensemble else f"needs {'+'.join(s.needs)}"
        click.echo(f"{s.name:<{width}}  {direction}  {needs}  {s.description}")
