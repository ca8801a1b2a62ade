#!/usr/bin/env bash
# llvm-mca's view of the direct convolution's innermost loops on two CPU models: Intel
# Sapphire Rapids (LLVM 14's llvm-mca, -mcpu=sapphirerapids) and AMD Zen 4 (llvm-mca-19,
# -mcpu=znver4; Debian: apt-get install llvm-19).
#
#   benches/mca/conv_loops.sh            # build the asm, print the table of the hot loops
#
# Builds siamese-tensor's release assembly (`cargo rustc --release -- --emit asm,link`, into
# TARGET_DIR, default target-asm: the `#[target_feature]` entry points of every SIMD path are
# in it whatever the host), cuts the innermost FMA loops of conv_plane (forward and dx) and
# dw_plane (dw) per path (avx2, avx512vl, avx512) with conv_loops.py, runs both models on each
# (ITERATIONS, default 100) and prints a Markdown table of the loops LeNet-5 runs most; every
# loop's body, llvm-mca report and the table of all loops (all_loops.md) are left in OUT
# (default TARGET_DIR/mca). Env: MCA_SPR (default llvm-mca-14, else llvm-mca), MCA_ZEN
# (default llvm-mca-19).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET_DIR=${TARGET_DIR:-target-asm}
OUT=${OUT:-$TARGET_DIR/mca}
ITERATIONS=${ITERATIONS:-100}
MCA_SPR=${MCA_SPR:-$(command -v llvm-mca-14 || command -v llvm-mca)}
MCA_ZEN=${MCA_ZEN:-llvm-mca-19}
command -v "$MCA_ZEN" > /dev/null || { echo "no $MCA_ZEN (apt-get install llvm-19)" >&2; exit 1; }
cargo rustc --quiet --release -p siamese-tensor --lib --target-dir "$TARGET_DIR" -- --emit asm,link
ASM=$(ls -t "$TARGET_DIR"/release/deps/siamese_tensor-*.s | head -1)
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (crates/ modified)');" \
    "$("$MCA_SPR" --version | sed -n 's/.*LLVM version //p' | head -1) -mcpu=sapphirerapids," \
    "$("$MCA_ZEN" --version | sed -n 's/.*LLVM version //p' | head -1) -mcpu=znver4;" \
    "-iterations=$ITERATIONS; $ASM" >&2
rm -rf "$OUT"
python3 benches/mca/conv_loops.py "$ASM" "$OUT" "$MCA_SPR" "$MCA_ZEN" "$ITERATIONS"
echo "every loop: $OUT/all_loops.md" >&2
