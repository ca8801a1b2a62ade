#!/usr/bin/env python3
"""The innermost FMA loops of the direct-convolution kernels, cut from siamese-tensor's
release assembly and run through llvm-mca on two CPU models (see conv_loops.sh).

    conv_loops.py ASM OUTDIR MCA_SPR MCA_ZEN ITERATIONS

A loop is the span from a label to the last jump back to it; innermost loops (no other loop
inside) with at least one FMA are kept, per entry point of `simd_dispatch!`
(conv_plane::{avx2,avx512vl,avx512}, dw_plane::{…}). Each is described by what it does per
iteration (FMAs, vector loads, broadcasts, taps) and named by the register tile that gives
those counts. Side exits (bounds checks) stay in the body: llvm-mca reads straight-line code.
"""
import os
import re
import subprocess
import sys

FUNC = re.compile(r"^(_ZN\S*direct_kernels\d+(conv_plane|dw_plane)\d+(avx2|avx512vl|avx512)"
                  r"17h[0-9a-f]+E):$")
MEM = re.compile(r"-?\w*\(%\w+(?:,%\w+)?(?:,\d)?\)(\{1to\d+\})?")


def functions(lines):
    """(kernel, path) -> the lines of that entry point."""
    out, cur = {}, None
    for line in lines:
        m = FUNC.match(line)
        if m:
            cur = (m.group(2), m.group(3))
            out[cur] = []
        elif cur is not None:
            if line.startswith(".Lfunc_end"):
                cur = None
            else:
                out[cur].append(line)
    return out


def items(lines):
    """[('label', name) | ('ins', text)] without directives and comments."""
    res = []
    for line in lines:
        s = line.split("#")[0].strip()
        if not s:
            continue
        if re.match(r"^\.L\w+:$", s):
            res.append(("label", s[:-1]))
        elif not s.startswith("."):
            res.append(("ins", s))
    return res


def innermost_loops(its):
    at = {v: i for i, (t, v) in enumerate(its) if t == "label"}
    back = {}
    for i, (t, v) in enumerate(its):
        if t == "ins" and v.startswith("j"):
            tgt = v.split()[-1]
            if tgt in at and at[tgt] < i:
                back[at[tgt]] = i
    loops = sorted(back.items())
    return [(a, b) for a, b in loops
            if not any((c, d) != (a, b) and a <= c and d <= b for c, d in loops)]


def describe(body):
    """FMAs, vector loads (distinct memory sources of loads and FMAs, not broadcasts, not the
    stack), broadcasts per iteration, and whether the loop counts to 5 (the KW = 5 taps)."""
    fma = [x for x in body if x.startswith("vfmadd")]
    loads, bcasts, n_loads = set(), set(), 0
    for x in body:
        ops = x.split("\t", 1)[-1]
        m = MEM.match(ops)
        if not x.startswith("v") or not m or "%rsp" in m.group(0):
            continue
        if "broadcast" in x or m.group(1):
            bcasts.add(m.group(0))
        elif x.startswith(("vmovups", "vmovaps", "vfmadd")):
            loads.add(m.group(0))
            n_loads += 1
    return len(fma), (len(loads), n_loads), len(bcasts), any(x.startswith("cmpq\t$5,") for x in body)


def tile(kernel, fma, loads, bcasts, kw5):
    """The register tile those counts come from (direct_kernels.rs), or "-": forward KB
    channels (broadcasts) × PB vectors (distinct loads) per tap, for the loops that step
    through the 5 taps; dw KB channels (dy loads) × VB taps (x loads), VB in 5, 3, 1."""
    distinct, total = loads
    if kernel == "conv_plane" and kw5 and bcasts and distinct * bcasts == fma:
        return f"{bcasts}x{distinct}"
    if kernel == "dw_plane":
        for vb in (1, 3, 5):
            if fma % vb == 0 and fma // vb <= 4 and total == fma // vb + vb:
                return f"{fma // vb}x{vb}"
    return "-"


def mca(tool, cpu, path, iters):
    r = subprocess.run([tool, f"-mcpu={cpu}", f"-iterations={iters}", "-bottleneck-analysis",
                        path], capture_output=True, text=True)
    txt = r.stdout
    num = lambda k: float(re.search(k + r":\s+([\d.]+)", txt).group(1))
    return {"rthru": num("Block RThroughput"), "upc": num("uOps Per Cycle"),
            "ipc": num("IPC"), "cycles": num("Total Cycles"),
            "bottleneck": bottleneck(txt)}, txt


def bottleneck(txt):
    """llvm-mca's own verdict (-bottleneck-analysis), in a few words: the share of cycles with
    back-end pressure from resources (the three busiest) and from data dependencies."""
    if "No resource or data dependency bottlenecks discovered" in txt:
        return "none (front end / dispatch)"
    parts = []
    m = re.search(r"Resource Pressure\s+\[\s*([\d.]+)%\s*\]", txt)
    if m:
        parts.append(f"resources {m.group(1)}%")
        res = re.findall(r"^\s+- (\S+)\s+\[\s*([\d.]+)%\s*\]", txt.split("Resource Pressure")[1],
                         re.M)
        if res:
            parts[-1] += " (" + ", ".join(f"{n} {p}%" for n, p in res[:3]) + ")"
    m = re.search(r"Data Dependencies:\s+\[\s*([\d.]+)%\s*\]", txt)
    if m:
        parts.append(f"data deps {m.group(1)}%")
    return "; ".join(parts) or "?"


# The tiles LeNet-5's layers run most (direct_kernels.rs): forward and dx run K = 16, 6 output
# channels in tiles of 4 then 2 (4 × 6 or, with 16 registers, 4 × 3 vectors; 2 × 6); dw runs
# 3 (K = 6) or 4 (K = 16) channels × 5 taps, or 3 + 1 + 1 taps with 16 registers.
HOT = {"conv_plane": {"avx2": ("4x3", "2x6"), "avx512vl": ("4x6", "2x6"), "avx512": ("4x6", "2x6")},
       "dw_plane": {"avx2": ("3x3", "3x1", "4x3", "4x1"), "avx512vl": ("3x5", "4x5"),
                    "avx512": ("3x5", "4x5")}}


def main():
    asm, outdir, spr, zen, iters = sys.argv[1:6]
    os.makedirs(outdir, exist_ok=True)
    funcs = functions(open(asm).read().split("\n"))
    models = [("SPR", spr, "sapphirerapids", 2 * 16), ("Zen4", zen, "znver4", 2 * 8)]
    head = ("| kernel | path | loop | instrs | tile | FMAs/iter | CPU | block rthru (cycles) "
            "| uOps/cycle | FMAs/cycle (of 2) | FP lanes/cycle (of peak) | bottleneck |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    hot, every = [head], [head]
    for (kernel, path), lines in sorted(funcs.items()):
        its = items(lines)
        lanes = 16 if path == "avx512" else 8
        for a, b in innermost_loops(its):
            body = [v for t, v in its[a:b + 1] if t == "ins"]
            fma, loads, bcasts, kw5 = describe(body)
            if fma == 0:
                continue
            name = f"{kernel}_{path}_{its[a][1].lstrip('.')}"
            t = tile(kernel, fma, loads, bcasts, kw5)
            src = os.path.join(outdir, name + ".s")
            with open(src, "w") as f:
                f.write("\n".join(body) + "\n")
            for cpu, tool, mcpu, peak_lanes in models:
                r, txt = mca(tool, mcpu, src, iters)
                with open(os.path.join(outdir, f"{name}.{cpu}.txt"), "w") as f:
                    f.write(txt)
                per_cycle = fma / r["rthru"]
                row = (f"| {kernel} | {path} | {its[a][1]} | {len(body)} "
                       f"| {t} | {fma} | {cpu} | {r['rthru']:.2f} "
                       f"| {r['upc']:.2f} | {per_cycle:.2f} "
                       f"| {100 * per_cycle * lanes / peak_lanes:.0f}% | {r['bottleneck']} |")
                every.append(row)
                if t in HOT[kernel][path]:
                    hot.append(row)
    with open(os.path.join(outdir, "all_loops.md"), "w") as f:
        f.write("\n".join(every) + "\n")
    print("\n".join(hot))


if __name__ == "__main__":
    main()
