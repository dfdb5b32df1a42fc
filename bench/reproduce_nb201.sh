#!/usr/bin/env bash
# Reproduce the README's NAS-Bench-201 table: Kendall tau / Spearman rho of ePADS, NASWOT, SWAP and the
# parameter count against 200-epoch test accuracy, B = 128 real CIFAR-10 test images (rows
# default_rng(2027).choice(1000, 128) of ../shared/data/cifar10_test_1000.npz; pooled to 16x16 as
# ImageNet16-120 stand-ins), sigma = 1.0, BN batch statistics, weights drawn from build seed 0,
# noise/permutation seed 0, architectures = rows default_rng(2026).choice(15625, N) of nb201_accuracies.csv.
#
# Usage: bash bench/reproduce_nb201.sh [N ...]          (default: 300 1000)
#        DATASETS="cifar10" bash bench/reproduce_nb201.sh 300
# Each row writes bench/results/nb201-<dataset>-<N>.json (the --json object plus elapsed_s) and uses its own
# fresh result store under $STORE_DIR, so the time reported is an uncached run. Rows run one after another
# with 2 worker processes (this machine has 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${*:-300 1000}
DATASETS=${DATASETS:-"cifar10 cifar100 ImageNet16-120"}
OUT=${OUT:-bench/results}
STORE_DIR=${STORE_DIR:-/tmp/onnxscore-nb201}
WORKERS=${WORKERS:-2}
mkdir -p "$OUT" "$STORE_DIR"
for n in $SIZES; do
  for ds in $DATASETS; do
    store="$STORE_DIR/nb201-$ds-$n.sqlite"
    rm -f "$store" "$store-wal" "$store-shm"   # fresh store: time an uncached run
    echo "== NAS-Bench-201 $ds, $n architectures =="
    onnxscore evaluate --space nb201 --dataset "$ds" --sample "$n" --sample-seed 2026 \
      --proxy epads,naswot,swap --batch-size 128 --sigma 1.0 --batch-seed 2027 --build-seed 0 --noise-seed 0 \
      --workers "$WORKERS" --store "$store" --output "$OUT/nb201-$ds-$n.json"
  done
done
