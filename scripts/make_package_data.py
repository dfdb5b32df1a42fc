"""Write the compact data an installed onnxscore ships (onnxscore/data/), from ../shared/data.

- nb201_table.npz: every NAS-Bench-201 row of nb201_accuracies.csv, exactly: the arch as 6 op codes
  (index into nb201.OPS, EDGES order), each numeric column as integers scaled by 10**decimals
  (the CSV's own rounding, so reading back gives the same floats as parsing the CSV); empty -> NA.
- cifar10_protocol.npz: the protocol's 128 CIFAR-10 test images (uint8 NHWC) and labels:
  rows default_rng(2027).choice(1000, 128, replace=False) of cifar10_test_1000.npz, in that order.

Usage: python scripts/make_package_data.py [--data ../shared/data]
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from onnxscore.datasets import PROTOCOL_BATCH, PROTOCOL_SEED  # noqa: E402
from onnxscore.spaces.nb201 import OPS, parse_arch  # noqa: E402

NA = np.iinfo(np.int64).min


def _decimals(values: list[str]) -> int:
    return max((len(v.split(".")[1]) if "." in v else 0) for v in values if v)


def table(csv_path: Path) -> dict[str, np.ndarray]:
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if [int(r["arch_index"]) for r in rows] != list(range(len(rows))):
        raise SystemExit(f"{csv_path}: rows are not in arch_index order 0..{len(rows) - 1}")
    out: dict[str, np.ndarray] = {
        "ops": np.array([[OPS.index(o) for o in parse_arch(r["arch_str"])] for r in rows], np.uint8),
    }
    for col in rows[0]:
        if col in ("arch_index", "arch_str"):
            continue
        vals = [r[col] for r in rows]
        dec = _decimals(vals)
        ints = np.array([round(float(v) * 10**dec) if v else NA for v in vals], np.int64)
        for v, i in zip(vals, ints):  # the scaled integer must give back the CSV's float exactly
            if v and float(v) != int(i) / 10**dec:
                raise SystemExit(f"{col}: {v} does not round-trip through {dec} decimals")
        small = ints[ints != NA]
        for dt in (np.int16, np.int32):
            if (ints != NA).all() and np.iinfo(dt).min < small.min() and small.max() < np.iinfo(dt).max:
                ints = ints.astype(dt)
                break
        out[f"col_{dec}_{col}"] = ints
    return out


def protocol_images(npz_path: Path) -> dict[str, np.ndarray]:
    with np.load(npz_path) as f:
        images, labels = f["images"], f["labels"]
    rows = np.random.default_rng(PROTOCOL_SEED).choice(len(images), PROTOCOL_BATCH, replace=False)
    return {"images": images[rows], "labels": labels[rows].astype(np.uint8), "rows": rows.astype(np.int16),
            "seed": np.array(PROTOCOL_SEED), "pool": np.array(len(images))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    out = ROOT / "onnxscore" / "data"
    out.mkdir(exist_ok=True)
    np.savez_compressed(out / "nb201_table.npz", **table(args.data / "nb201_accuracies.csv"))
    np.savez_compressed(out / "cifar10_protocol.npz", **protocol_images(args.data / "cifar10_test_1000.npz"))
    total = sum(p.stat().st_size for p in out.glob("*.npz"))
    print(f"wrote {out}: {', '.join(f'{p.name} {p.stat().st_size / 1024:.0f} KiB' for p in sorted(out.glob('*.npz')))}"
          f"; {total / 1024:.0f} KiB in all")
    if total >= 1 << 20:
        raise SystemExit("package data must stay under 1 MiB")


if __name__ == "__main__":
    main()
