#!/usr/bin/env bash
# The GPU check of the CUDA backend, in two halves (see docs/cuda.md):
#
#   scripts/gpu-check.sh build   where cargo is installed (no GPU needed): builds the release
#                                `siamese` binary with --features cuda and the GPU test
#                                binaries, strips them, and copies them with the four MNIST
#                                files into target/gpu-bundle/ (git-ignored, well under 64 MiB).
#   scripts/gpu-check.sh run     on the GPU machine, no Rust needed: the NVRTC compile check and
#                                the GPU tests (every Backend method and the device step
#                                against the CPU, SIAMESE_REQUIRE_GPU=1),
#                                then `siamese train --device cuda` for 2 epochs on MNIST with
#                                the 10,000-pair scoring time, then the same on --device cpu with
#                                the same seed, and a summary (epoch seconds, 10k-pair seconds,
#                                validation accuracy of both and their difference).
#
# Every stage of `run` has a timeout (45 + 30 + 120 + 120 + 150 s = 7.75 minutes at most). Results are also
# written to $OUT (when set) or target/gpu-bundle/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=target/gpu-bundle

build() {
    local data="${SIAMESE_DATA_DIR:-../shared/datasets}"
    for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
        [ -f "$data/mnist/$f" ] || { echo "error: $data/mnist/$f not found (set SIAMESE_DATA_DIR)" >&2; exit 1; }
    done
    local target="${CARGO_TARGET_DIR:-target}"
    cargo build --release --features cuda --bin siamese
    # The test binaries of siamese-cuda (unit tests, tests/gpu.rs, tests/nvrtc.rs), found from
    # cargo's JSON messages.
    local exes
    exes=$(cargo test --release --no-run -p siamese-cuda --message-format=json \
        | jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .executable != null)
                 | "\(.target.kind[0]) \(.target.name) \(.executable)"')
    rm -rf "$BUNDLE"
    mkdir -p "$BUNDLE/datasets/mnist"
    cp "$target/release/siamese" "$BUNDLE/siamese"
    while read -r kind name exe; do
        case "$kind:$name" in
            lib:*) cp "$exe" "$BUNDLE/cuda-unit-tests" ;;
            test:gpu) cp "$exe" "$BUNDLE/gpu-tests" ;;
            test:nvrtc) cp "$exe" "$BUNDLE/nvrtc-tests" ;;
        esac
    done <<<"$exes"
    for t in cuda-unit-tests gpu-tests nvrtc-tests; do
        [ -x "$BUNDLE/$t" ] || { echo "error: test binary $t not found" >&2; exit 1; }
    done
    strip "$BUNDLE/siamese" "$BUNDLE/gpu-tests" "$BUNDLE/cuda-unit-tests" "$BUNDLE/nvrtc-tests"
    cp "$data"/mnist/*-ubyte.gz "$BUNDLE/datasets/mnist/"
    echo "bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1))"
    ls -l "$BUNDLE"
}

run() {
    [ -x "$BUNDLE/siamese" ] || { echo "error: no $BUNDLE/siamese; run 'scripts/gpu-check.sh build' where cargo is installed and carry $BUNDLE" >&2; exit 1; }
    local res="${OUT:-$BUNDLE/results}"
    mkdir -p "$res"
    # The CUDA libraries: the driver's, the toolkit's lib64, and pip's nvidia-* wheels.
    local ld="${LD_LIBRARY_PATH:-}"
    for d in /usr/local/nvidia/lib64 /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -d "$d" ] && ld="$ld:$d"
    done
    if command -v python3 >/dev/null 2>&1; then
        for d in $(python3 -c 'import site,glob; print(" ".join(d for s in site.getsitepackages() for d in glob.glob(s + "/nvidia/*/lib")))' 2>/dev/null); do
            ld="$ld:$d"
        done
    fi
    export LD_LIBRARY_PATH="${ld#:}"
    export SIAMESE_REQUIRE_GPU=1
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

    echo "== 1. GPU tests (each prints max |gpu - cpu|)"
    timeout 45 "$BUNDLE/cuda-unit-tests" 2>&1 | tee "$res/cuda-unit-tests.log" || echo "== unit tests FAILED"
    SIAMESE_REQUIRE_NVRTC=1 timeout 30 "$BUNDLE/nvrtc-tests" --nocapture 2>&1 | tee "$res/nvrtc-tests.log" || echo "== NVRTC test FAILED"
    timeout 120 "$BUNDLE/gpu-tests" --include-ignored 2>&1 | tee "$res/gpu-tests.log" || echo "== GPU tests FAILED"

    echo "== 2. siamese train --device cuda, 2 epochs on MNIST, seed 0"
    timeout 120 "$BUNDLE/siamese" train --device cuda --dataset mnist --epochs 2 --seed 0 \
        --data-dir "$BUNDLE/datasets" --out "$res/cuda" --quiet 2>&1 | tee "$res/train-cuda.log" || echo "== CUDA training FAILED"

    echo "== 3. siamese train --device cpu, same run"
    timeout 150 "$BUNDLE/siamese" train --device cpu --dataset mnist --epochs 2 --seed 0 \
        --data-dir "$BUNDLE/datasets" --out "$res/cpu" --quiet 2>&1 | tee "$res/train-cpu.log" \
        || echo "(the CPU run did not finish in its time; the comparison below is partial)"

    echo "== summary"
    python3 - "$res" <<'EOF' | tee "$res/summary.txt"
import json, os, sys
res = sys.argv[1]
acc = {}
for dev in ("cuda", "cpu"):
    m = os.path.join(res, dev, "metrics.jsonl")
    if not os.path.exists(m):
        print(f"{dev}: no metrics")
        continue
    for line in open(m):
        r = json.loads(line)
        print(f"{dev}: epoch {r['epoch']}: {r['epoch_seconds']:.2f} s ({r['pairs_per_second']:.0f} pairs/s), "
              f"train loss {r['train_loss']:.4f}, val acc {100 * (r['val_acc'] or 0):.2f}%")
        acc[dev] = r["val_acc"]
    t = os.path.join(res, dev, "test.json")
    if os.path.exists(t):
        e = json.load(open(t))
        print(f"{dev}: test accuracy {100 * e['accuracy_at_half']:.2f}% at 0.5; "
              f"{e['timed_pairs']} pairs scored in {e['score_seconds']:.4f} s (median of 3, batch {e['eval_batch']})")
if "cuda" in acc and "cpu" in acc:
    d = 100 * abs(acc["cuda"] - acc["cpu"])
    print(f"validation accuracy after the last epoch: cuda {100 * acc['cuda']:.2f}%, cpu {100 * acc['cpu']:.2f}%, "
          f"difference {d:.2f} points ({'within' if d <= 0.3 else 'OUTSIDE'} 0.3)")
EOF
}

case "${1:-}" in
    build) build ;;
    run) run ;;
    *) echo "usage: scripts/gpu-check.sh build|run (see the header of this script)" >&2; exit 2 ;;
esac
