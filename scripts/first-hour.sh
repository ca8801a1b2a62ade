#!/usr/bin/env bash
# The first hour of a new user, in README.md's order, on a fresh clone of this checkout's
# commit (HEAD: uncommitted changes are not in it); fails as soon as one step fails:
#   1. the README's main job (with a small --epochs), which leaves runs/mnist/ in the clone;
#   2. the README's test command, in the same folder (the tests must not meet runs/mnist);
#   3. `siamese bench --help` after that set-up (`cargo run --release` builds only `siamese`);
#   4. the README's library snippet, as a new project depending on the clone (default
#      features off, offline: the dependencies are in the cargo cache by then), run in the
#      clone, and run where there is no checkpoint (its error must print as one clean line);
#   5. each example.
#
# Environment: SIAMESE_DATA_DIR (required: the datasets; nothing is downloaded),
# FIRST_HOUR_EPOCHS (default 1), FIRST_HOUR_DIR (where the clone goes; default a temporary
# folder, removed at the end), CARGO_TARGET_DIR (set it to share one target folder with the
# caller, as .ci/run does, so that nothing builds twice). The examples run in the test profile
# that step 2 built (the README runs them with --release: the same code, another profile).
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
: "${SIAMESE_DATA_DIR:?set SIAMESE_DATA_DIR to a folder holding mnist/ (the first hour never downloads)}"
export SIAMESE_DATA_DIR SIAMESE_OFFLINE=1
epochs="${FIRST_HOUR_EPOCHS:-1}"
if [ -n "${FIRST_HOUR_DIR:-}" ]; then
  work="$FIRST_HOUR_DIR"
  rm -rf "$work"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
step() { echo "first hour: $*"; }

clone="$work/siamese"
git clone --quiet "$src" "$clone"
cd "$clone"
step "fresh clone of $(git rev-parse --short HEAD) in $clone"

# The README's two commands, in order, as README.md spells them (but for --epochs).
main_job="$(grep -m1 -E '^cargo run --release -- train' README.md)"
test_cmd="$(grep -m1 -E '^SIAMESE_DATA_DIR=.* cargo test ' README.md)"
[ -n "$main_job" ] && [ -n "$test_cmd" ] || { echo "error: README.md lost its two commands" >&2; exit 1; }
step "1. $main_job --epochs $epochs"
eval "$main_job --epochs $epochs"
for f in best.safetensors last.safetensors metrics.jsonl curves.png config.json test.json; do
  [ -f "runs/mnist/$f" ] || { echo "error: the main job left no runs/mnist/$f" >&2; exit 1; }
done
# The README's test command reads the datasets from SIAMESE_DATA_DIR, as here.
step "2. ${test_cmd#SIAMESE_DATA_DIR=* } (SIAMESE_DATA_DIR=$SIAMESE_DATA_DIR), beside runs/mnist"
eval "${test_cmd#SIAMESE_DATA_DIR=* }"
[ -f runs/mnist/best.safetensors ] || { echo "error: the tests touched runs/mnist" >&2; exit 1; }

step "3. siamese bench --help"
cargo run --release -- bench --help | grep -- '--synthetic' >/dev/null

step "4. the README's library snippet as a new project"
snippet="$work/snippet"
mkdir -p "$snippet/src"
cat >"$snippet/Cargo.toml" <<EOF
[package]
name = "first-hour-snippet"
version = "0.1.0"
edition = "2021"

[dependencies]
siamese = { path = "$clone", default-features = false }

# A project of its own, even where its folder is inside another workspace (CI puts it under
# the checkout's target/).
[workspace]

# The checkout's release profile, so that the crates both builds share are built once.
[profile.release]
lto = "thin"
codegen-units = 1
opt-level = 3
EOF
awk '/^## Use it as a library/ {lib = 1} lib && /^```rust$/ {on = 1; next} on && /^```$/ {exit} on' \
  README.md >"$snippet/src/main.rs"
grep -q 'fn main()' "$snippet/src/main.rs" || { echo "error: no complete program in README's library section" >&2; exit 1; }
cp Cargo.lock "$snippet/"
cargo build --offline --release --quiet --manifest-path "$snippet/Cargo.toml"
cargo run --offline --release --quiet --manifest-path "$snippet/Cargo.toml" | grep -E '^similarity [0-9.]+$'
# Where there is no checkpoint: the library's error, as main returns it, is one clean line.
mkdir -p "$work/empty"
if (cd "$work/empty" && cargo run --offline --release --quiet --manifest-path "$snippet/Cargo.toml") 2>"$work/err"; then
  echo "error: the snippet succeeded without a checkpoint" >&2; exit 1
fi
[ "$(cat "$work/err")" = "Error: runs/mnist/best.safetensors: No such file or directory (os error 2)" ] \
  || { echo "error: the library's error printed as:" >&2; cat "$work/err" >&2; exit 1; }

step "5. the examples"
cargo run --profile test --quiet --example score_pair -- runs/mnist/best.safetensors
cargo run --profile test --quiet --example train_tiny
mkdir -p "$work/images"
cargo run --release --quiet -- pairs --out "$work/images/pairs.png" >/dev/null
cp runs/mnist/curves.png "$work/images/"
cargo run --profile test --quiet --example embed_folder -- runs/mnist/best.safetensors "$work/images"
step "all steps passed"
