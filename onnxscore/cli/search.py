"""`onnxscore search`: find the architecture of a search space with the best proxy score (random search or
regularised evolution), write it as ONNX and print its arch string, score, params and MACs."""
from __future__ import annotations

import json
from pathlib import Path

import click

from onnxscore.cli.options import legacy_seed_option, scoring_options, timeout_option


def _import_space_module(spec: str) -> None:
    """Import a module (dotted name or .py path) whose @register_space classes add spaces."""
    from onnxscore.modules import import_spec

    import_spec(spec, "--space-module")


def _outputs(output, no_onnx, space, dataset, algo, proxy, budget, seeds) -> list:
    if no_onnx:
        return [None] * len(seeds)
    tag = f"{space}-{dataset}" if dataset else space
    if output is None:
        return [f"search-{tag}-{algo}-{proxy}-b{budget}-seed{s}.onnx" for s in seeds]
    if len(seeds) == 1:
        return [output]
    p = Path(output)
    return [str(p.with_name(f"{p.stem}-seed{s}{p.suffix or '.onnx'}")) for s in seeds]


def _human(n) -> str:
    from onnxscore.edge.pareto import human

    return human(n)


def _print_result(res, proxy: str) -> None:
    s = res.settings
    kw = s.get("space_kwargs") or {}
    tag = " ".join([s["space"], *(str(v) for v in kw.values())])
    click.echo(f"{tag} | {s['algo']} | {proxy} | budget {s['budget']} | seed {s['seed']}")
    if res.arch is None:
        click.echo("  nothing found: every candidate scored null")
    else:
        click.echo(f"  best   {res.arch}")
        shown = "-" if res.score is None else f"{res.score:.6g}"
        line = f"  params {_human(res.params)}   MACs {_human(res.macs)}"
        if s.get("proxy") is not None:
            line = f"  {proxy} {shown} " + line
        if "test_accuracy" in res.extra:
            line += f"   test accuracy {res.extra['test_accuracy']:.2f} % (NAS-Bench-201 table)"
        click.echo(line)
    if "queries" in res.extra:
        x = res.extra
        acc = "-" if x.get("oracle_accuracy") is None else f"{x['oracle_accuracy']:.2f}"
        click.echo(f"  oracle {acc} (best answer)   queries {x['queries']} of {x['queries_limit']} "
                   f"(new {x['new_queries']}, {x['oracle_seconds']:.1f} s)   proxy CPU {x['proxy_cpu_seconds']:.1f} s")
    click.echo(f"  evaluated {res.evaluated} (newly scored {res.scored}, from the store {res.cached}), "
               f"rejected by size limits {res.rejected}, dead {res.dead}; {res.seconds:.1f} s "
               f"(CPU {res.cpu_seconds:.1f} s)")
    for n in res.notes:
        click.echo(f"  note: {n}")
    if res.onnx:
        click.echo(f"  wrote {res.onnx}")


def _ms(d: dict, fmt: str = "{:.4g}") -> str:
    if d["mean"] is None:
        return "-"
    return f"{fmt.format(d['mean'])} ± {fmt.format(d['std'])}"


@click.command("search")
@click.option("--space", default="nb201", show_default=True,
              help="Registered search space: nb201, mobilenet-like, toy, or one added by --space-module.")
@click.option("--dataset", default=None, help="nb201: cifar10, cifar100 or ImageNet16-120 [default: cifar10].")
@click.option("--space-module", default=None,
              help="Import this module (dotted name or .py file) first; its @register_space classes become spaces.")
@click.option("--algo", type=click.Choice(["random", "evolution", "shortlist", "hnas", "prenas"]), default="evolution",
              show_default=True,
              help="random: best of BUDGET distinct samples; evolution: regularised evolution (ageing). With an "
                   "oracle, random/evolution spend the queries directly, and shortlist (onnxscore's own), hnas and "
                   "prenas combine the proxy with the oracle (README: hybrid search).")
@click.option("--budget", "-n", type=int, default=100, show_default=True,
              help="Distinct candidates evaluated per search (store hits count; size-rejected draws do not).")
@click.option("--oracle", type=click.Choice(["nb201"]), default=None,
              help="What a training answers: nb201 = NAS-Bench-201's CIFAR-10 validation accuracy (the test "
                   "accuracy is only looked up for what the search found).")
@click.option("--train-cmd", default=None,
              help="Your training instead: a command run per query with {onnx} (the candidate as ONNX) and {arch} "
                   "filled in; the last line it prints is the accuracy.")
@click.option("--queries", "-k", type=int, default=20, show_default=True,
              help="With an oracle: at most K answers per search (answers already in the store are reused, not retrained).")
@click.option("--train-timeout", type=float, default=None, help="--train-cmd: seconds per training (default: none).")
@click.option("--hnas-cond", default=None,
              help="hnas: the condition-number term's proxy (ntk_cond in the paper; add it to --score-also).")
@click.option("--search-seed", type=int, default=0, show_default=True,
              help="Seed of the search (sampling, tournaments, mutations).")
@legacy_seed_option("--search-seed", "search seed")
@scoring_options(seed_alias=False)
@click.option("--repeat", "-r", type=int, default=1, show_default=True,
              help="Run R independent searches (seeds S..S+R-1) and report mean and std of what they found.")
@click.option("--population", type=int, default=None,
              help="evolution: population size [default: 10]; prenas: [default: ceil(K/4), at least 2].")
@click.option("--tournament", type=int, default=3, show_default=True, help="evolution: tournament (sample) size.")
@click.option("--max-params", default=None, help="Only consider architectures with at most this many parameters (e.g. 500k).")
@click.option("--max-macs", default=None, help="Only consider architectures with at most this many MACs per sample (e.g. 100M).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="ONNX file for the best architecture [default: search-<space>-<algo>-<proxy>-b<N>-seed<S>.onnx]; "
                   "with --repeat, -seed<S> is added to the name.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option("--no-onnx", is_flag=True, help="Do not write the ONNX file(s).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per search (and a final {\"summary\": ...} object with --repeat).")
@click.option("--score-also", default=None,
              help="Also compute and store these proxies for every new candidate (e.g. naswot,swap): one forward "
                   "serves them all, and later searches with them hit the store.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite result store shared with rank/evaluate [default: .onnxscore/results.sqlite].")
@click.option("--batch-source", type=click.Choice(["auto", "cifar10", "random"]), default="auto", show_default=True,
              help="Images scored: cifar10 = the CIFAR-10 test subset (16x16 pooled for 16-pixel inputs), random = "
                   "seeded normal noise; auto = the space's benchmark batch (nb201: CIFAR-10), random otherwise. --data overrides.")
@click.option("--batch-seed", type=int, default=2027, show_default=True,
              help="The image batch: rows default_rng(S).choice(1000, max(B, 128))[:B] of the CIFAR-10 test subset.")
@click.option("--build-seed", type=int, default=0, show_default=True, help="Seed of the candidates' weights.")
@click.option("--accuracies", type=click.Path(dir_okay=False), default=None,
              help="nb201: accuracy table to report the found architecture's test accuracy [default: shared data].")
@click.option("--workers", "-w", type=int, default=0, show_default=True,
              help="Worker processes for scoring, started once per search (0 = in this process, the default).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="onnxruntime threads per process (1 is the most CPU-efficient on a busy machine).")
@timeout_option
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
def command(space, dataset, space_module, algo, proxy, budget, oracle, train_cmd, queries, train_timeout, hnas_cond,
            search_seed, legacy_seed, repeat, population,
            tournament, max_params, max_macs, output, force, no_onnx, as_json, score_also, store_path, batch_source,
            data, batch_size, batch_seed, build_seed, accuracies, workers, threads, timeout_s, proxy_modules, quiet,
            **scoring):
    """Search a space for the architecture with the best training-free score.

    Random search scores BUDGET distinct random architectures and keeps the best; regularised evolution keeps
    a population, mutates the winner of a tournament and drops the oldest member. Every candidate is scored
    through the ranking engine's store, so architectures already scored (by rank, evaluate or an earlier
    search with the same settings) are free. The best architecture is written as ONNX.
    """
    from onnxscore import searching as S
    from onnxscore.errors import InputError
    from onnxscore.store import DEFAULT_STORE

    modules = tuple(proxy_modules)
    if space_module:
        _import_space_module(space_module)
        modules += (space_module,)  # workers import it too
    if workers < 0 or threads < 0:
        raise InputError("--workers and --threads must be 0 or more")
    if budget < 1:
        raise InputError(f"--budget must be at least 1 (got {budget})")
    seed = search_seed if legacy_seed is None else legacy_seed
    seeds = S.repeat_seeds(seed, repeat)
    space_kwargs = {"dataset": dataset} if dataset else {}
    name, sp, space_kwargs = S.resolve_space(space, space_kwargs)
    hybrid = oracle is not None or train_cmd is not None
    tag = proxy if not hybrid else (f"oracle-k{queries}" if algo in S.ALGOS else f"{proxy}-k{queries}")
    outs = _outputs(output, no_onnx, name, getattr(sp, "dataset", None), algo, tag, budget, seeds)
    store = store_path or DEFAULT_STORE
    for o in outs:
        S.check_output(o, force, store=store, data=data)  # before any work
    from onnxscore.cli.options import scorer_kwargs
    from onnxscore.inputs import parse_shape

    scorer = {**scorer_kwargs(scoring), "batch_size": batch_size, "data": data}
    scorer["input_shape"] = parse_shape(scorer.get("input_shape"))
    also = [p for p in (score_also or "").split(",") if p.strip()]
    table = None
    bench = getattr(sp, "benchmark", None)
    if bench is not None:
        try:
            table = bench.table(accuracies)
        except InputError:
            if accuracies:
                raise
    if not hybrid and algo not in S.ALGOS:
        raise InputError(f"--algo {algo} spends oracle queries: give --oracle nb201 or --train-cmd \"CMD {{onnx}}\" "
                         "(and --queries K)")
    opts = {"population": population} if population and algo == "prenas" else {}
    if hnas_cond:
        opts["cond"] = hnas_cond
    results = []
    for s, out in zip(seeds, outs):
        res = S.search(name, algo=algo, proxy=proxy, budget=budget, seed=s, space_kwargs=space_kwargs,
                       score_also=also, max_params=max_params, max_macs=max_macs,
                       population=population or S.POPULATION, tournament=tournament, store=store, scorer=scorer,
                       build_seed=build_seed, workers=workers, threads=threads, timeout_s=timeout_s, output=out,
                       force=force, modules=modules, batch_source=batch_source, batch_seed=batch_seed,
                       on_step=None if quiet else S.progress_printer(), oracle=oracle, train_cmd=train_cmd,
                       queries=queries, hybrid_options=opts, train_timeout_s=train_timeout,
                       table=table if oracle == "nb201" else None)
        if table is not None:
            res.extra.update(S.benchmark_accuracy(sp, res.arch, table))
        results.append(res)
        if as_json:
            click.echo(json.dumps(res.to_dict()))
        else:
            _print_result(res, res.settings["proxy"] or "no proxy")
    if len(results) > 1:
        summ = S.summarize(results)
        if as_json:
            click.echo(json.dumps({"summary": summ}))
        else:
            click.echo(f"over {len(results)} searches (seeds {seeds[0]}..{seeds[-1]}), mean ± std (ddof=1):")
            click.echo(f"  score {_ms(summ['score'])}   params {_ms(summ['params'], '{:.0f}')}   "
                       f"MACs {_ms(summ['macs'], '{:.0f}')}   seconds {_ms(summ['seconds'], '{:.1f}')}")
            if "oracle_accuracy" in summ:
                click.echo(f"  oracle answer {_ms(summ['oracle_accuracy'], '{:.2f}')}   queries "
                           f"{_ms(summ['queries'], '{:.3g}')} (new {_ms(summ['new_queries'], '{:.3g}')})")
            if "test_accuracy" in summ:
                click.echo(f"  test accuracy {_ms(summ['test_accuracy'], '{:.2f}')} % (NAS-Bench-201 table)")
            click.echo(f"  {summ['distinct_archs']} distinct architecture(s) found")
    if all(r.arch is None for r in results):
        raise InputError("every candidate scored null (dead, failed or undefined); try another proxy or a larger budget")
