"""Click options shared by the commands that score (score, rank, evaluate, search)."""
from __future__ import annotations

import click

from onnxscore.graph.init import INIT_MODES


def _import_proxy_modules(ctx, param, value) -> tuple[str, ...]:
    """Import every --proxy-module now, so its proxies are known to --proxy and to `onnxscore proxies`."""
    from onnxscore.errors import InputError
    from onnxscore.modules import import_spec

    try:
        for spec in value:
            import_spec(spec, "--proxy-module")
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None
    return tuple(value)


class ProxyOption(click.Option):
    """--proxy, whose help lists the registered proxies when help is shown (not at import: loading the
    proxies costs ~0.4 s that `onnxscore --help` need not pay)."""

    def get_help_record(self, ctx):
        from onnxscore.proxies import registry

        activation, gradient = registry.group("all"), registry.group("gradient")
        self.help = (f"{', '.join(activation)}; gradient: {', '.join(gradient)} (`onnxscore proxies`); "
                     "one from --proxy-module, a comma list, all (the activation proxies) or gradient.")
        return super().get_help_record(ctx)


def proxy_module_option(fn):
    """--proxy-module FILE.py|MODULE (repeatable): user code that registers proxies (onnxscore.register_proxy);
    imported here and in every worker."""
    return click.option("--proxy-module", "proxy_modules", multiple=True, metavar="FILE.py|MODULE",
                        callback=_import_proxy_modules, is_eager=True, expose_value=True,
                        help="A .py file or module that registers proxies with onnxscore.register_proxy "
                             "(repeatable); workers import it too.")(fn)


def scoring_options(fn=None, *, proxy_default: str = "epads", seed_alias: bool = True):
    """Every setting that changes a score, with the papers' defaults (and the memory limit, which only
    refuses): the same flags with the same meaning in score, rank, evaluate and search.

    The scoring seed is --noise-seed everywhere; score and rank also take its first spelling, --seed
    (`seed_alias`); evaluate and search use --seed-free names for their own seeds (--sample-seed,
    --search-seed). `proxy_default`: evaluate compares three proxies, the others score one."""
    if fn is None:
        return lambda f: scoring_options(f, proxy_default=proxy_default, seed_alias=seed_alias)
    seed_flags = ("--seed", "--noise-seed") if seed_alias else ("--noise-seed",)
    opts = [
        click.option("--proxy", "-p", "proxy", cls=ProxyOption, default=proxy_default, show_default=True),
        click.option("--batch-size", "-b", type=int, default=128, show_default=True,
                     help="Samples per batch (ePADS runs 2B: clean + perturbed)."),
        click.option(*seed_flags, "seed", type=int, default=0, show_default=True,
                     help="Seed of the random batch, the noise, the permutations and re-init (shared by every model)."),
        click.option("--sigma", type=float, default=1.0, show_default=True,
                     help="Std of ePADS's input noise."),
        click.option("--data", type=click.Path(dir_okay=False), default=None,
                     help="float32 .npy already in the model's layout and normalisation; first B rows used."),
        click.option("--bn", type=click.Choice(["batch", "exported"]), default="batch", show_default=True,
                     help="batch: BatchNorm uses batch statistics (the papers); exported: as in the file."),
        click.option("--init", type=click.Choice(list(INIT_MODES)), default="keep", show_default=True,
                     help="keep the file's weights, or re-draw them (normal: N(0,1); kaiming) from the noise seed."),
        click.option("--provider", default=None,
                     help="Force an onnxruntime execution provider (cpu, cuda, or a full name). Default: CUDA if it works, else CPU."),
        click.option("--input", "input_name", default=None, help="Input to feed, for models with several."),
        click.option("--input-shape", default=None,
                     help="One sample's shape, e.g. 3,32,32 (for symbolic sizes; also for PyTorch factories)."),
        click.option("--mu", type=float, default=None, help="reg-swap: target size in thousands of parameters."),
        click.option("--sigma-params", type=float, default=None, help="reg-swap: width of the size penalty."),
        click.option("--activations", type=click.Choice(["relu", "extended"]), default="relu", show_default=True,
                     help="relu: ReLU, ReLU6 (Clip), LeakyReLU, PReLU (the papers); extended adds GELU, Swish, ..."),
        click.option("--merged-sites", type=click.Choice(["once", "per-consumer"]), default="once",
                     show_default=True,
                     help="A Relu read by several convolutions (merged at export) counts once, or once per convolution."),
        click.option("--labels", type=click.Path(dir_okay=False), default=None, metavar="FILE.npy",
                     help="Integer labels of the batch's rows, for the gradient proxies (-p gradient); default: "
                          "the CIFAR-10 labels of evaluate's batch, or drawn from the seed for a random batch."),
        click.option("--grad-batch-size", type=int, default=64, show_default=True,
                     help="The gradient proxies use the batch's first N rows (docs/GRADIENTS.md: 64)."),
        click.option("--max-memory", default=None, metavar="SIZE",
                     help="Refuse a model whose estimated memory exceeds SIZE (e.g. 8G, 512M; 0: no check). "
                          "Default: the memory available to this process. Never changes a score."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return proxy_module_option(fn)


def legacy_seed_option(name: str, meaning: str):
    """The old `--seed` of evaluate/search, which meant `meaning` there: still taken, with a note."""

    def callback(ctx, param, value):
        if value is not None:
            click.echo(f"onnxscore: note: --seed in `{ctx.info_name}` is its {meaning}, now spelled {name}; "
                       "--noise-seed is the scoring seed, as in score and rank", err=True)
        return value

    return click.option("--seed", "legacy_seed", type=int, default=None, hidden=True, callback=callback)


SCORER_KEYS = ("batch_size", "seed", "sigma", "data", "bn", "init", "provider", "input_name",
               "input_shape", "mu", "sigma_params", "activations", "merged_sites", "max_memory", "labels",
               "grad_batch_size")


def scorer_kwargs(kw: dict) -> dict:
    """The subset of parsed CLI options that onnxscore.Scorer takes."""
    return {k: kw[k] for k in SCORER_KEYS if k in kw}


def timeout_option(fn):
    """--timeout SECONDS: the per-model time limit of the supervised scoring processes."""
    from onnxscore.isolate import DEFAULT_TIMEOUT_S

    return click.option(
        "--timeout", "timeout_s", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT_S, show_default=True,
        metavar="SECONDS",
        help="Per-model time limit (0 = none): a model still being scored after it is stopped and recorded as "
             "failed with that reason (in this process, --workers 0, only onnxruntime runs can be stopped).")(fn)
