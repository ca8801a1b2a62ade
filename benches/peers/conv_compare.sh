#!/usr/bin/env bash
# Our direct convolutions (every SIMD path this CPU has) beside PyTorch's own CPU convolutions
# on the LeNet-5 layer shapes, batch 64, run alternately (ours, torch, ours, torch, ...) so that
# the machine's load hits both alike; prints one table of medians.
#
#   benches/peers/conv_compare.sh
#   ROUNDS=3 benches/peers/conv_compare.sh
#
# Ours: `cargo bench --bench kernels` on one thread in CPU time (SIAMESE_BENCH_CPU_TIME=1),
# forward, backward (dx + dw) and dw alone (conv2d_f32_dw); dx alone is the backward less dw.
# Torch: benches/peers/conv_torch.py on 1 thread (CPU time) and 2 threads (wall time).
# Fractions are of the one-thread FMA peak the kernels bench measured at its start (the
# median over the rounds). Env: PEERS_PY (default ~/.venvs/peers/bin/python), ROUNDS (2),
# PATHS (regex of our paths, default avx2|avx512vl|avx512), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
PEERS_PY=${PEERS_PY:-$HOME/.venvs/peers/bin/python}
ROUNDS=${ROUNDS:-2}
PATHS=${PATHS:-avx2|avx512vl|avx512}
OUT=$(mktemp -d)
[ -x "$PEERS_PY" ] || { echo "no peer python at $PEERS_PY (see ../shared/peers/README.md)" >&2; exit 1; }
FILTER="conv2d_f32_(fwd|bwd|dw)/mnist.*_n64/Direct_($PATHS)\$"
cargo bench --bench kernels --no-run --quiet
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
echo "CPU: ${CPU:-unknown}, $(nproc) cores visible; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
    echo "round $r/$ROUNDS: ours" >&2
    SIAMESE_BENCH_CPU_TIME=1 RAYON_NUM_THREADS=1 cargo bench --quiet --bench kernels -- "$FILTER" \
        --warm-up-time 1 --measurement-time 2 > "$OUT/ours.$r.txt" 2>/dev/null
    echo "round $r/$ROUNDS: torch" >&2
    OMP_NUM_THREADS=2 "$PEERS_PY" benches/peers/conv_torch.py --threads 1 2 2>/dev/null \
        | grep '^{' > "$OUT/torch.$r.jsonl"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ours, peaks, torch, config = {}, [], {}, None
for r in range(1, rounds + 1):
    for line in open(f"{out}/ours.{r}.txt"):
        m = re.match(r"FMA peak: ([\d.]+) GFLOP/s on 1 thread", line)
        if m:
            peaks.append(float(m.group(1)))
        m = re.match(r"conv2d_f32_(\w+)/(mnist_conv\d)\S*_n64/Direct_(\w+)\s+([\d.]+) us", line)
        if m:
            ours.setdefault((m.group(2), m.group(1), m.group(3)), []).append(float(m.group(4)))
    for line in open(f"{out}/torch.{r}.jsonl"):
        j = json.loads(line)
        if j["event"] == "config":
            config = j
        else:
            layer = re.match(r"mnist_conv\d", j["layer"]).group(0)
            key = "cpu_us" if j["threads"] == 1 else "wall_us"
            torch.setdefault((layer, j["op"], j["threads"]), []).append(j[key])
peak = statistics.median(peaks)
med = lambda v: statistics.median(v)
macs = {"mnist_conv1": 64 * 6 * 28 * 28 * 25, "mnist_conv2": 64 * 16 * 10 * 10 * 6 * 25}
paths = sorted({p for (_, _, p) in ours}, key=lambda p: (len(p), p))
print(f"one-thread FMA peak (kernels bench, median of {len(peaks)}): {peak:.1f} GFLOP/s; "
      f"torch {config and config['torch']}, cpu capability {config and config['cpu_capability']}")
print("| layer | op | " + " | ".join(f"ours {p}, 1 thr" for p in paths)
      + " | torch, 1 thr | torch, 2 thr (wall) | best ours / torch 1 thr |")
print("|---|---|" + "---|" * (len(paths) + 3))
for layer in ("mnist_conv1", "mnist_conv2"):
    for op, mult in (("fwd", 1), ("dx", 1), ("dw", 1), ("bwd", 2)):
        flop = 2 * macs[layer] * mult
        cells, best = [], 0.0
        for p in paths:
            if op == "dx":
                us = med(ours[(layer, "bwd", p)]) - med(ours[(layer, "dw", p)])
            else:
                us = med(ours[(layer, op, p)])
            g = flop / us / 1e3
            best = max(best, g)
            cells.append(f"{us:.0f} µs, {g:.1f} ({100 * g / peak:.0f} %)")
        t1 = flop / med(torch[(layer, op, 1)]) / 1e3
        t2 = flop / med(torch[(layer, op, 2)]) / 1e3
        print(f"| {layer} | {op} | " + " | ".join(cells)
              + f" | {med(torch[(layer, op, 1)]):.0f} µs, {t1:.1f} ({100 * t1 / peak:.0f} %)"
              + f" | {med(torch[(layer, op, 2)]):.0f} µs, {t2:.1f} | {best / t1:.2f}× |")
PY
echo "raw: $OUT" >&2
