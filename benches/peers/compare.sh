#!/usr/bin/env bash
# Ours vs the PyTorch and Keras peers, run alternately (A B C A B C ...) so that machine load
# hits all three alike; prints medians and ratios.
#
#   benches/peers/compare.sh                 # defaults below
#   ROUNDS=3 LIMIT=6000 benches/peers/compare.sh
#
# Env: PEERS_PY (default ~/.venvs/peers/bin/python, as in the install steps of
# ../shared/peers/README.md), PEERS_DIR (default ../shared/peers beside the checkout), DATA
# (data root holding mnist/, default $SIAMESE_DATA_DIR, else ../shared/datasets), THREADS (2),
# ROUNDS (2), LIMIT (training images per peer epoch, 2000), EPOCHS (2; the last epoch's pairs/s
# is the steady figure), SKIP ("keras" or "torch" to leave one out), COMPILED (1: also run the
# peers compiled, torch.compile and Keras jit_compile; 0: eager only). Ours: `siamese bench
# --json` (release build, MNIST, batch 64). The fastest peer, eager or compiled, is what the
# ratios are taken against.
set -euo pipefail
cd "$(dirname "$0")/../.."
PEERS_PY=${PEERS_PY:-$HOME/.venvs/peers/bin/python}
PEERS_DIR=${PEERS_DIR:-../shared/peers}
DATA=${DATA:-${SIAMESE_DATA_DIR:-../shared/datasets}}
COMPILED=${COMPILED:-1}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
LIMIT=${LIMIT:-2000}
EPOCHS=${EPOCHS:-2}
SKIP=${SKIP:-}
OUT=$(mktemp -d)
export OMP_NUM_THREADS=$THREADS TF_NUM_INTRAOP_THREADS=$THREADS TF_NUM_INTEROP_THREADS=1
export RAYON_NUM_THREADS=$THREADS TF_CPP_MIN_LOG_LEVEL=2

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/siamese
have_py=1
[ -x "$PEERS_PY" ] || { echo "no peer python at $PEERS_PY: comparing against the peers README figures only" >&2; have_py=0; }

peer() { # name script [extra flags]
    local name=$1 script=$2
    shift 2
    "$PEERS_PY" "$PEERS_DIR/$script" --data "$DATA/mnist" --epochs "$EPOCHS" --limit "$LIMIT" \
        --no-val --threads "$THREADS" --pad 2 --seed 2 --infer-reps 3 "$@" 2>/dev/null \
        | grep '^{' >> "$OUT/$name.jsonl" || echo "$name failed" >&2
}
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
echo "CPU: ${CPU:-unknown}, $(nproc) cores visible, $THREADS threads" >&2

for r in $(seq "$ROUNDS"); do
    echo "round $r/$ROUNDS: ours" >&2
    "$BIN" bench --data-dir "$DATA" --threads "$THREADS" --json --reps 3 --late-steps 0 >> "$OUT/ours.jsonl"
    if [ $have_py = 1 ]; then
        [ "$SKIP" = torch ] || { echo "round $r/$ROUNDS: torch" >&2; peer torch torch_siamese.py; }
        [ "$SKIP" = keras ] || { echo "round $r/$ROUNDS: keras" >&2; peer keras keras_siamese.py; }
        if [ "$COMPILED" = 1 ]; then
            [ "$SKIP" = torch ] || { echo "round $r/$ROUNDS: torch.compile" >&2; peer torch-compiled torch_siamese.py --compile; }
            [ "$SKIP" = keras ] || { echo "round $r/$ROUNDS: keras jit" >&2; peer keras-jit keras_siamese.py --jit; }
        fi
    fi
done

python3 - "$OUT" "$EPOCHS" "${CPU:-unknown CPU}" <<'PY'
import json, os, statistics, sys
out, epochs, cpu = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def lines(name):
    p = os.path.join(out, name + ".jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
ours = lines("ours")
rows = {"ours": (statistics.median(o["train_pairs_per_s"] for o in ours),
                 statistics.median(o["score_s"] for o in ours))}
# The same 10,000 pairs with each distinct image embedded once (SnLenet5::score_indexed).
shared = [o["score_shared_s"] for o in ours if "score_shared_s" in o]
for name in ("torch", "keras", "torch-compiled", "keras-jit"):
    ls = lines(name)
    tr = [l["pairs_per_s"] for l in ls if l.get("event") == "epoch" and l.get("epoch") == epochs]
    inf = [l["call_median_s"] for l in ls if l.get("event") == "infer"]
    if tr and inf:
        rows[name] = (statistics.median(tr), statistics.median(inf))
# README figures (2-core Zen machine, medians) for reference.
readme = {"torch (README)": (11816, 0.136), "keras (README)": (13137, 0.139)}
peak = statistics.median(o["peak_gflops"] for o in ours) if all("peak_gflops" in o for o in ours) else None
print(f"CPU: {cpu}; measured FMA peak on these threads: "
      + (f"{peak:.0f} GFLOP/s; ours trains at {statistics.median(o['train_gflops'] for o in ours):.1f} GFLOP/s "
         f"({100 * statistics.median(o['train_peak_fraction'] for o in ours):.1f}% of it)" if peak else "not reported"))
print(f"{'who':<16}{'train pairs/s':>15}{'score 10k s':>13}{'ours/them train':>17}{'them/ours score':>17}")
o_tr, o_sc = rows["ours"]
for name, (tr, sc) in list(rows.items()) + list(readme.items()):
    print(f"{name:<16}{tr:>15.0f}{sc:>13.4f}{o_tr / tr:>17.2f}{sc / o_sc:>17.2f}")
peers = {n: v for n, v in rows.items() if n != "ours"}
if peers:
    ft = max(peers, key=lambda n: peers[n][0])
    fs = min(peers, key=lambda n: peers[n][1])
    print(f"against the fastest peer: training {o_tr / peers[ft][0]:.2f}x ({ft}), "
          f"per-pair scoring {peers[fs][1] / o_sc:.2f}x ({fs})")
if shared:
    s = statistics.median(shared)
    print(f"ours, scoring with shared embeddings: {s:.4f} s for the same 10,000 pairs "
          f"({o_sc / s:.2f}x faster than per-pair scoring; peers' best / this: "
          + ", ".join(f"{n} {sc / s:.2f}" for n, (_, sc) in rows.items() if n != "ours") + ")")
print("per run (ours): train " + ", ".join(f"{o['train_pairs_per_s']:.0f}" for o in ours)
      + "; score " + ", ".join(f"{o['score_s']:.3f}" for o in ours))
PY
echo "raw JSON lines: $OUT" >&2
