"""`onnxscore evaluate`: how well each proxy (and the parameter count) ranks models by their real accuracy."""
from __future__ import annotations

import json

import click

from onnxscore.cli.options import legacy_seed_option, scoring_options, timeout_option


@click.command("evaluate")
@click.argument("csv_path", required=False, type=click.Path(dir_okay=False))
@click.option("--space", default=None,
              help="Evaluate a benchmark space with its accuracy table instead of a CSV: nb201 or nb101.")
@click.option("--dataset", default=None,
              help="nb201: cifar10, cifar100 or ImageNet16-120 (test accuracy; ImageNet16-120 uses CIFAR-10 "
                   "images pooled to 16x16 as stand-ins); nb101: cifar10, the default (NASLib's validation "
                   "accuracy). With a CSV: a label for the report.")
@click.option("--sample", type=int, default=None,
              help="Rows default_rng(--sample-seed).choice(rows, N, replace=False) of the table or CSV [default: all].")
@click.option("--sample-seed", type=int, default=2026, show_default=True, help="Seed of --sample.")
@legacy_seed_option("--sample-seed", "sample seed")
@scoring_options(proxy_default="epads,naswot,swap", seed_alias=False)
@click.option("--build-seed", type=int, default=0, show_default=True,
              help="--space: seed of the generated networks' weights (PyTorch-default init drawn with numpy).")
@click.option("--batch-seed", type=int, default=2027, show_default=True,
              help="The image batch: rows default_rng(S).choice(1000, max(B, 128))[:B] of the CIFAR-10 test subset.")
@click.option("--image-size", type=click.Choice(["32", "16"]), default=None,
              help="Image side of the built-in batch (16 = 2x2-pooled stand-ins) [default: the dataset's; CSV: 32].")
@click.option("--images", type=click.Path(), default=None,
              help="Images to draw the batch from: cifar10_test_1000.npz, or the CIFAR-10 python version "
                   "(cifar-10-batches-py folder or cifar-10-python.tar.gz, as Keras/torchvision cache it) "
                   "[default: $ONNXSCORE_DATA, ../shared/data, else the 128 protocol images shipped].")
@click.option("--accuracies", type=click.Path(dir_okay=False), default=None,
              help="--space: the accuracy table (nb201_accuracies.csv, nb101_zc_naslib.csv) "
                   "[default: the shared data folder].")
@click.option("--exclude-dead", is_flag=True,
              help="nb201: leave dead architectures (no cell input-output path) out of the correlations.")
@click.option("--workers", "-w", type=int, default=None,
              help="Worker processes (default: the core count; 0 = in this process).")
@click.option("--threads", type=int, default=1, show_default=True, help="onnxruntime threads per worker.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite result store (cache) [default: .onnxscore/results.sqlite in the working directory].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text report.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Also write the JSON object to this file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Draw score against accuracy, one panel per proxy, to this image (needs the plot extra: matplotlib).")
@click.option("--force", is_flag=True, help="Overwrite existing -o/--plot files (never an input or the store).")
@timeout_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(csv_path, space, dataset, sample, sample_seed, legacy_seed, proxy, seed, build_seed, batch_seed,
            image_size, images, data, accuracies, exclude_dead, input_shape, workers, threads, store_path, as_json,
            output, plot_path, force, timeout_s, proxy_modules, quiet, **scoring):
    """Score models and report Kendall tau, Spearman rho and top-10% precision against their accuracy,
    with the parameter count as the baseline.

    Either CSV_PATH, a CSV of (model path, accuracy) rows for any models you have, or
    --space nb201 --dataset cifar10|cifar100|ImageNet16-120 --sample N --sample-seed S (rows of the
    NAS-Bench-201 accuracy table), or --space nb101 (NASLib's 500 NAS-Bench-101 cells, one row per
    distinct network). Every model sees the same real-image batch and the same noise.
    Scores are cached in the store, so a rerun only scores what is missing; Ctrl-C prints the
    metrics of what was finished. A null score ranks last.
    """
    from onnxscore import evaluation as ev
    from onnxscore.errors import InputError
    from onnxscore.inputs import parse_shape

    if bool(csv_path) == bool(space):
        raise InputError("pass either a CSV of (model path, accuracy) or --space nb201 --dataset D --sample N "
                         "(or --space nb101)")
    if space and not dataset:
        from onnxscore.spaces import get_space

        choices = tuple(getattr(get_space(space), "datasets", ()) or ())
        if len(choices) != 1:
            raise InputError(f"--space {space} needs --dataset ({', '.join(choices) or 'the space names them'})")
        dataset = choices[0]  # a space with one dataset (nb101: cifar10)
    if space:
        ev.benchmark_of(space, dataset)  # a space without an accuracy table is refused before any work
    if accuracies and not space:
        raise InputError("--accuracies goes with --space; a CSV carries its own accuracies")
    if workers is not None and workers < 0:
        raise InputError(f"--workers must be 0 or more (got {workers})")
    if data and (image_size or images):
        raise InputError("--data replaces the built-in CIFAR-10 batch; drop --image-size/--images")
    if plot_path:  # fail before a long run, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            from onnxscore.errors import MissingExtraError

            raise MissingExtraError("matplotlib", "plot") from None
    _check_outputs({"-o": output, "--plot": plot_path}, force, csv_path, store_path,
                   {data: "the --data batch", images: "the --images file", accuracies: "the --accuracies table"})
    if legacy_seed is not None:
        sample_seed = legacy_seed
    seed_s = sample_seed
    kw = dict(proxies=proxy, noise_seed=seed, data=data, batch_seed=batch_seed, images=images,
              input_shape=parse_shape(input_shape), exclude_dead=exclude_dead, store=store_path, workers=workers,
              threads=threads, progress=not quiet, timeout_s=timeout_s, modules=proxy_modules, **scoring)
    if image_size:
        kw["image_size"] = int(image_size)
    try:
        if space:
            res = ev.evaluate_space(space, dataset, sample, seed_s, build_seed=build_seed, table=accuracies, **kw)
        else:
            res = ev.evaluate_csv(csv_path, sample, seed_s, dataset=dataset, **kw)
    except ev.EvaluationInterrupted as exc:
        part = exc.partial
        click.echo(f"onnxscore: interrupted: {part.n} of {part.total} models finished; metrics over those "
                   "(rerun the same command to resume from the store):", err=True)
        click.echo(json.dumps(part.to_dict()) if as_json else part.text())
        raise click.exceptions.Exit(130) from None  # the line above says it: no second "interrupted"
    _emit(res, as_json, output, force)
    if plot_path:
        ev.plot(res, plot_path, force=force)
        click.echo(f"plot written to {plot_path}", err=True)
    if res.failed and res.failed >= res.n:  # nothing was scored: the report above is all nulls
        first = res.errors[0] if res.errors else "see the report"
        click.echo(f"onnxscore: error: none of the {res.n} models could be scored ({first})", err=True)
        return 2
    return 0


def _check_outputs(outputs: dict, force: bool, csv_path, store_path, files: dict) -> None:
    """Before any work: refuse outputs that exist (without --force), that name a file this run reads
    (the CSV, a model in it or its external data, the store, --data/--images/--accuracies) or whose
    folder cannot be written."""
    from onnxscore.evaluation import read_accuracy_csv
    from onnxscore.outputs import check_outputs, run_inputs
    from onnxscore.store import DEFAULT_STORE

    if not any(outputs.values()):
        return
    models = [m for m, _ in read_accuracy_csv(csv_path)] if csv_path else []
    files = {p: what for p, what in files.items() if p}
    if csv_path:
        files[csv_path] = f"the accuracy CSV {csv_path}"
    reads = run_inputs(models, store=store_path or DEFAULT_STORE, files=files, outputs=outputs)
    check_outputs(outputs, force=force, inputs=reads)


def _emit(res, as_json: bool, output: str | None, force: bool) -> None:
    """Print the report, then write the JSON object to `output` atomically (printed first, so a full
    disk does not cost the results)."""
    from onnxscore.outputs import write_text

    obj = res.to_dict()
    click.echo(json.dumps(obj) if as_json else res.text())
    if output:
        write_text(output, json.dumps(obj, indent=2) + "\n", force=force)
