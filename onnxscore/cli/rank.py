"""`onnxscore rank INPUTS...`: score many candidates with one batch, cache results, print a ranked table."""
from __future__ import annotations

import math

import click

from onnxscore.cli.options import scorer_kwargs, scoring_options, timeout_option


@click.command("rank")
@click.argument("inputs", nargs=-1, type=click.Path())
@scoring_options
@click.option("--space", default=None, help="Rank a generated search space instead of (or besides) files, e.g. nb201.")
@click.option("--sample", type=int, default=None, help="With --space: number of distinct architectures to draw.")
@click.option("--sample-seed", type=int, default=0, show_default=True, help="With --space: seed of the --sample draw.")
@click.option("--build-seed", type=int, default=0, show_default=True,
              help="With --space: seed of the networks' weights (the same default as evaluate and search, so "
                   "their cached scores are shared).")
@click.option("--dataset", default=None, help="With --space: dataset the networks are built for (nb201: cifar10, cifar100, ImageNet16-120).")
@click.option("--workers", "-w", type=int, default=None,
              help="Worker processes (default: the core count; 0 = in this process).")
@click.option("--threads", type=int, default=1, show_default=True, help="onnxruntime threads per worker.")
@click.option("--top", "-k", type=int, default=None, help="Show only the best K rows (CSV/JSON keep all).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Write one row per candidate.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the rows as a JSON list.")
@click.option("--force", is_flag=True, help="Overwrite existing --csv/--json files (never an input or the store).")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite result store [default: .onnxscore/results.sqlite in the working directory].")
@click.option("--latency", is_flag=True, help="Measure inference latency (median of --latency-runs after warm-up).")
@click.option("--latency-runs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--latency-warmup", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--latency-threads", type=click.IntRange(min=0), default=1, show_default=True, help="onnxruntime threads for latency.")
@click.option("--latency-batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size for latency.")
@click.option("--max-params", default=None, help="Skip candidates with more parameters (e.g. 1.5M).")
@click.option("--max-macs", default=None, help="Skip candidates with more MACs per sample (e.g. 100M).")
@click.option("--max-latency-ms", type=float, default=None, help="Skip slower candidates (implies --latency).")
@click.option("--pareto", is_flag=True, help="Also print the Pareto front of the first proxy against the cost.")
@click.option("--pareto-cost", type=click.Choice(["auto", "latency", "macs", "params"]), default="auto",
              show_default=True, help="Cost axis of --pareto (auto: latency when measured, else MACs).")
@click.option("--ray", "ray_address", default=None,
              help="Run on Ray: an address, 'auto' (running cluster) or 'local' (start one). Needs the ray extra.")
@click.option("--retry-failed", is_flag=True, help="Score again candidates whose stored result is a failure.")
@timeout_option
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def command(inputs, proxy, space, sample, dataset, workers, threads, top, csv_path, json_path, force, store_path,
            latency, latency_runs, latency_warmup, latency_threads, latency_batch, max_params, max_macs,
            max_latency_ms, pareto, pareto_cost, ray_address, retry_failed, quiet, **kw):
    """Rank INPUTS (ONNX files or directories of them, searched recursively) and/or --space NAME --sample N.

    Every candidate sees the same batch and noise. Results are cached in the store keyed by the model's
    content hash, the proxy and the score settings, so a rerun (or a run resumed after a crash) only scores
    what is missing. Failed candidates are recorded with their reason and the run goes on.
    """
    from onnxscore.edge.pareto import Budget, human, parse_count
    from onnxscore.errors import InputError
    from onnxscore.inputs import parse_shape
    from onnxscore.engine import RankSettings, file_candidates, rank, space_candidates
    from onnxscore.store import DEFAULT_STORE

    if not inputs and not space:
        raise InputError("nothing to rank; pass .onnx files or directories, or --space nb201 --sample N")
    if (sample is not None or dataset) and not space:
        raise InputError("--sample and --dataset go with --space (e.g. --space nb201 --sample 100)")
    if workers is not None and workers < 0:
        raise InputError(f"--workers must be 0 or more (got {workers})")
    if threads < 0:
        raise InputError(f"--threads must be 0 or more (got {threads})")
    if max_latency_ms is not None and not (math.isfinite(max_latency_ms) and max_latency_ms > 0):
        raise InputError(f"--max-latency-ms must be a positive number of milliseconds (got {max_latency_ms})")
    if pareto and pareto_cost == "latency" and not latency:
        raise InputError("--pareto-cost latency needs --latency (or use --pareto-cost macs)")
    skw = scorer_kwargs(kw)
    skw["input_shape"] = parse_shape(skw.get("input_shape"))
    budget = Budget(parse_count(max_params), parse_count(max_macs), max_latency_ms)
    if max_latency_ms is not None:
        latency = True
    lat = None
    if latency:
        lat = {"provider": skw.get("provider"), "threads": latency_threads, "runs": latency_runs,
               "warmup": latency_warmup, "batch_size": latency_batch}
    store = store_path or DEFAULT_STORE
    _check_outputs({"--csv": csv_path, "--json": json_path}, force, inputs, store, skw.get("data"))
    cands = file_candidates(inputs) if inputs else []
    if space:
        kwargs = {"dataset": dataset} if dataset else {}
        cands += space_candidates(space, sample, seed=kw["sample_seed"], build_seed=kw["build_seed"], **kwargs)
    settings = RankSettings(proxies=tuple(p for p in str(proxy).split(",") if p.strip()), scorer=skw,
                            threads=threads, input_shape=skw["input_shape"], latency=lat, budget=budget,
                            modules=tuple(kw.get("proxy_modules") or ()))
    try:
        res = rank(cands, settings, store=store, workers=workers, ray_address=ray_address,
                   retry_failed=retry_failed, progress=not quiet, timeout_s=kw["timeout_s"])
    except KeyboardInterrupt:  # one line, instead of this plus the generic "onnxscore: interrupted"
        click.echo(f"onnxscore: interrupted; finished results are in {store}, rerun to resume", err=True)
        raise click.exceptions.Exit(130) from None
    click.echo(res.table(top))
    failed = [r for r in res.rows if r["status"] in ("error", "partial")]
    for r in failed[:10]:
        click.echo(f"onnxscore: {r['status']}: {r['model']}: {r['error']}", err=True)
    if len(failed) > 10:
        click.echo(f"onnxscore: ... {len(failed) - 10} more failures (see --csv)", err=True)
    if pareto:
        cost, front = res.pareto(pareto_cost)
        first = res.proxies[0]
        click.echo(f"\nPareto front ({first} higher is better, {cost} lower is better): {len(front)} model(s)")
        for r in front:
            c = r.get(cost)
            cs = f"{c:.3f} ms" if cost == "latency_ms" else human(c)
            click.echo(f"  {r[first]:.4f}  {cs:>10}  {r['model']}")
    if csv_path:
        res.write_csv(csv_path, force=force)
    if json_path:
        res.write_json(json_path, force=force)
    click.echo(f"ranked {len(res.rows)} candidate(s): scored {res.scored}, cached {res.cached}, "
               f"failed {res.failed}, filtered {res.filtered} in {res.elapsed_s:.1f} s; store {store}", err=True)


def _check_outputs(outputs: dict, force: bool, inputs, store: str, data) -> None:
    """Before any work: refuse outputs that exist (without --force), that name a file this run reads
    (a model, its external data, the store, --data) or whose folder cannot be written."""
    from onnxscore.outputs import check_outputs, run_inputs
    from onnxscore.engine import find_onnx_files

    if not any(outputs.values()):
        return
    models = find_onnx_files(inputs) if inputs else []
    reads = run_inputs(models, store=store, files={data: "the --data batch"} if data else None, outputs=outputs)
    check_outputs(outputs, force=force, inputs=reads)
