"""Fuzz onnxscore through its CLI (issue 16): mutated ONNX models, single-op models from the ONNX
schemas, a bad-input/bad-option corpus and rank fault scenarios; writes a Markdown report.

    python bench/fuzz.py --out bench/results/fuzz.md [--budget 600] [--seed 0] [--quick] [--minutes 15]
    python bench/fuzz.py --replay mutant-0042 --seed 0      # run one case again, keep its files, print the command

--budget is the number of inputs tried in all (seeds, rank scenarios and the corpus run in full,
the rest is shared between mutants and schema ops); --minutes stops early (mutants and schema ops
are cut first). Each case runs in <workroot>/<case id> (default: a fresh
/tmp/onnxscore-fuzz/run-<date>-<pid> per campaign, /tmp/onnxscore-fuzz/replay/<case id> for --replay);
folders of passing cases are removed, failing ones kept for inspection. See bench/fuzzlib.py for the oracles.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import fuzzlib as F  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(F.RESULTS / "fuzz.md"), help="Markdown report (a .json beside it if small)")
    ap.add_argument("--budget", type=int, default=600, help="inputs to try in all")
    ap.add_argument("--seed", type=int, default=0, help="campaign seed (mutants are a function of seed and index)")
    ap.add_argument("--quick", action="store_true", help="the small campaign of the fast tests")
    ap.add_argument("--minutes", type=float, default=None, help="stop starting new cases after this long")
    ap.add_argument("--jobs", type=int, default=1, help="onnxscore processes at a time (default 1: moderate CPU)")
    ap.add_argument("--no-slow", action="store_true", help="leave out the slow corpus entries (framework converters)")
    ap.add_argument("--workroot", default=None,
                    help=f"folder for the cases' files (default: a new {F.DEFAULT_WORKROOT}/run-<date>-<pid> per "
                         f"campaign, {F.DEFAULT_WORKROOT}/replay for --replay, so runs never share folders)")
    ap.add_argument("--keep-all", action="store_true", help="keep the folders of passing cases too")
    ap.add_argument("--replay", metavar="CASE_ID", help="run one case again (e.g. mutant-0042, corpus-model-fifo)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    log = (lambda s: None) if a.quiet else (lambda s: print(s, flush=True))
    if a.workroot:
        root = Path(a.workroot)
    elif a.replay:
        root = F.DEFAULT_WORKROOT / "replay"
    else:
        root = F.DEFAULT_WORKROOT / time.strftime(f"run-%Y%m%d-%H%M%S-{os.getpid()}")
    camp = F.Campaign(root, seed=a.seed, keep_all=a.keep_all, log=log)
    try:
        if a.replay:
            o = F.replay(camp, a.replay)
            if o is None:
                print(f"{a.replay}: nothing ran")
                return 1
            print(f"\n{o.id}: {o.status} {', '.join(o.kinds)}\n  {o.desc}")
            for k, d in o.failures:
                print(f"  {k}: {d}")
            if o.cmd:
                print(f"  command: {o.cmd}")
            return 0
        t0 = time.time()
        p = F.run_campaign(camp, a.budget, quick=a.quick, minutes=a.minutes, slow=not a.no_slow, jobs=a.jobs)
        out = Path(a.out)
        cmd = "python bench/fuzz.py " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
        summ = F.write_report(camp, p, cmd, out, out.with_suffix(".json"), time.time() - t0)
        t = summ["total"]
        print(f"\ninputs {t['inputs']}: ok {t['ok']}, clean errors {t['clean errors']}, failing {t['failing']} "
              f"(tracebacks {t['traceback']}, signals {t['signal']}, hangs {t['hang']}, wrong {t['wrong']}, "
              f"internal {t['internal']}, stray {t['stray']}, bad exits {t['bad-exit']}, orphans {t['orphan']}); "
              f"report {out}")
        return 0
    finally:
        F.umount_all()


if __name__ == "__main__":
    sys.exit(main())
