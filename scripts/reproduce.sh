#!/usr/bin/env bash
# Reproduces the tables of docs/results.md: builds the release binary, then trains every row
# with its seeds (run folders under runs/reproduce/, finished ones kept) and rewrites the
# tables between the doc's <!-- reproduce:begin --> and <!-- reproduce:end --> markers.
#
#   scripts/reproduce.sh --data-dir ../shared/datasets          # the rows of docs/results.md
#   scripts/reproduce.sh --quick --data-dir ../shared/datasets  # CI smoke test (runs/reproduce-quick/results.md)
#
# Every other flag goes to `siamese reproduce` (see `siamese reproduce --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin siamese
exec "${CARGO_TARGET_DIR:-target}/release/siamese" reproduce "$@"
