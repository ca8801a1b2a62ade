#!/usr/bin/env python3
"""PyTorch's own CPU convolutions (oneDNN where torch picks it) on our LeNet-5 layer shapes.

Times forward, dx (input gradient) and dw (weight gradient, with db) of
torch.nn.functional.conv2d's backward, each alone, through the op autograd calls
(aten.convolution_backward with an output mask), and dx + dw together, on the shapes of
benches/kernels.rs (`CONVS`): conv1 1x28x28 -> 6, 5x5, pad 2; conv2 6x14x14 -> 16, 5x5, no pad.

GFLOP/s = 2 * MACs / time, MACs = N*K*OH*OW*C*KH*KW for each of forward, dx and dw (dx + dw:
twice that), the count benches/kernels.rs gives criterion. Per (threads, layer, op): `--reps`
medians, each rep the mean of as many calls as fill `--rep-s` seconds, in wall time and in
the process's CPU time (time.process_time: all threads; on one thread it is what a busy
neighbour does not inflate, like our SIAMESE_BENCH_CPU_TIME=1). One JSON line per row; the
first line names torch, its oneDNN and the aten kernels the ops reached (profiler).

    ~/.venvs/peers/bin/python benches/peers/conv_torch.py --threads 1 2 --reps 7
"""
import argparse
import json
import statistics
import time

import torch

# (name, C, H, W, K, pad) as in benches/kernels.rs.
CONVS = [("mnist_conv1_c1_28x28_k6_p2", 1, 28, 28, 6, 2),
         ("mnist_conv2_c6_14x14_k16_p0", 6, 14, 14, 16, 0)]
KS = 5


def ops(x, w, b, dy, pad):
    """name -> (call, FLOP multiplier of the layer's 2*MACs)."""
    bwd = torch.ops.aten.convolution_backward

    def back(mask):
        return lambda: bwd(dy, x, w, [w.shape[0]], [1, 1], [pad, pad], [1, 1], False, [0, 0],
                           1, mask)
    return {
        "fwd": (lambda: torch.nn.functional.conv2d(x, w, b, padding=pad), 1),
        "dx": (back([True, False, False]), 1),
        "dw": (back([False, True, True]), 1),
        "bwd": (back([True, True, True]), 2),
    }


def time_op(f, reps, rep_s):
    for _ in range(3):
        f()
    t0 = time.perf_counter()
    calls = 0
    while time.perf_counter() - t0 < 0.05 or calls < 3:
        f()
        calls += 1
    per = max(1, int(rep_s * calls / (time.perf_counter() - t0)))
    wall, cpu = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(per):
            f()
        wall.append((time.perf_counter() - w0) / per)
        cpu.append((time.process_time() - c0) / per)
    return statistics.median(wall), statistics.median(cpu), per


def kernels_used(fns):
    """The aten ops under each call (mkldnn_convolution = oneDNN)."""
    names = {}
    for name, f in fns.items():
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            f()
        names[name] = sorted({e.key for e in prof.key_averages()
                              if "conv" in e.key or "mkldnn" in e.key})
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--rep-s", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    data = {}
    for name, c, h, wd, k, pad in CONVS:
        oh, ow = h + 2 * pad - KS + 1, wd + 2 * pad - KS + 1
        x = torch.rand(a.batch, c, h, wd) * 2 - 1
        w = torch.rand(k, c, KS, KS) * 2 - 1
        b = torch.rand(k) * 2 - 1
        dy = torch.rand(a.batch, k, oh, ow) * 2 - 1
        macs = a.batch * k * oh * ow * c * KS * KS
        data[name] = (ops(x, w, b, dy, pad), macs)
    first = next(iter(data.values()))[0]
    print(json.dumps({"event": "config", "torch": torch.__version__,
                      "mkldnn": torch.backends.mkldnn.is_available(),
                      "onednn": torch.backends.mkldnn.version()
                      if hasattr(torch.backends.mkldnn, "version") else None,
                      "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                      "batch": a.batch, "reps": a.reps,
                      "aten": kernels_used({n: f for n, (f, _) in first.items()})}), flush=True)
    for t in a.threads:
        torch.set_num_threads(t)
        for name, (fns, macs) in data.items():
            for op, (f, mult) in fns.items():
                wall, cpu, per = time_op(f, a.reps, a.rep_s)
                flop = 2 * macs * mult
                print(json.dumps({"event": "conv", "threads": t, "layer": name, "op": op,
                                  "wall_us": wall * 1e6, "cpu_us": cpu * 1e6, "calls": per,
                                  "gflops_wall": flop / wall / 1e9,
                                  "gflops_cpu": flop / cpu / 1e9}), flush=True)


if __name__ == "__main__":
    main()
