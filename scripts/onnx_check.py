#!/usr/bin/env python3
"""Hold ONNX Runtime to `siamese` on real test pairs (docs/onnx.md).

    python3 scripts/onnx_check.py PAIR.onnx SUBNET.onnx REFERENCE_DIR [--threads 2] [--reps 5]

REFERENCE_DIR is what `siamese::pipeline::export::write_reference` writes (the ONNX test
and `cargo run --release --example onnx_reference` call it): test images as raw pixels, pair
indices, labels, and our similarities and embeddings. This script checks both files with
onnx.checker, feeds ONNX Runtime (CPU provider) the images as the metadata says
(x = pixel / 255, float32), and compares:
  - embeddings of every image (SUBNET.onnx) and similarities of every pair (PAIR.onnx) with
    ours: the largest absolute difference must be at most --tol (default 1e-4);
  - the pair accuracy each gives at the validation threshold (the file's metadata): equal;
and times ONNX Runtime on the pairs that `reference.json` says we timed (batches of its
eval_batch, median of --reps, --threads intra-op threads), beside our time. Prints one JSON
object; exits 1 when a check fails. Needs onnx, onnxruntime and numpy.
"""
import argparse
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def session(path, threads):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    meta = {p.key: p.value for p in model.metadata_props}
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"]), meta


def batched(sess, feeds, batch):
    n = len(next(iter(feeds.values())))
    outs = [sess.run(None, {k: v[i:i + batch] for k, v in feeds.items()})[0] for i in range(0, n, batch)]
    return np.concatenate(outs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pair")
    ap.add_argument("subnet")
    ap.add_argument("reference")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    ref = json.load(open(f"{a.reference}/reference.json"))
    load = lambda name: np.load(f"{a.reference}/{name}.npy")
    pair, meta = session(a.pair, a.threads)
    subnet, _ = session(a.subnet, a.threads)
    c, h, w = (int(v) for v in meta["input_shape"].split("x"))
    # The preprocessing the metadata states: x = pixel / 255 as float32.
    x = (load("pixels") / np.float32(255)).astype(np.float32).reshape(-1, c, h, w)
    idx = load("pairs").astype(np.int64)
    y = load("labels")[:, 0]
    ours_s, ours_e = load("similarity")[:, 0], load("embedding")
    batch = ref["eval_batch"]
    ort_e = batched(subnet, {"image": x}, batch)
    xa, xb = x[idx[:, 0]], x[idx[:, 1]]
    ort_s = batched(pair, {"a": xa, "b": xb}, batch)
    t = float(meta["threshold"])
    acc = lambda s: float(np.mean((s > t) == (y == 1)))
    timed = ref["timed_pairs"]
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        batched(pair, {"a": xa[:timed], "b": xb[:timed]}, batch)
        times.append(time.perf_counter() - t0)
    out = {
        "dataset": ref["dataset"], "pairs": len(y), "images": len(x), "threshold": t,
        "max_abs_diff_similarity": float(np.max(np.abs(ort_s - ours_s))),
        "max_abs_diff_embedding": float(np.max(np.abs(ort_e - ours_e))),
        "decisions_that_differ": int(np.sum((ort_s > t) != (ours_s > t))),
        "accuracy_ours": acc(ours_s), "accuracy_onnxruntime": acc(ort_s),
        "timed_pairs": timed, "seconds_ours": ref["score_seconds"],
        "seconds_onnxruntime": sorted(times)[len(times) // 2], "threads_ours": ref["threads"],
        "threads_onnxruntime": a.threads, "onnxruntime": ort.__version__, "onnx": onnx.__version__,
    }
    print(json.dumps(out))
    bad = [k for k in ("max_abs_diff_similarity", "max_abs_diff_embedding") if not out[k] <= a.tol]
    if out["accuracy_ours"] != out["accuracy_onnxruntime"]:
        bad.append("accuracy")
    if bad:
        print(f"onnx_check: FAILED ({', '.join(bad)}; tolerance {a.tol})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
