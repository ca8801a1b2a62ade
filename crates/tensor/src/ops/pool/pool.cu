// The CUDA twin of ops::pool (mod.rs, avg.rs beside this file) for the 2×2 window, stride 2,
// of `planes` planes of H×W (N·C planes of an NCHW tensor), OH = ⌊H/2⌋, OW = ⌊W/2⌋; windows
// past the edge are dropped. Launched by crates/cuda/src/ops/pool.rs.

// The flat index into x of the top-left element of output o's window, x[p, 2i, 2j].
__device__ long long window_base(long long o, int H, int W) {
    int OH = H / 2, OW = W / 2;
    int j = o % OW;
    int i = (o / OW) % OH;
    long long p = o / ((long long)OW * OH);
    return p * H * W + (long long)(2 * i) * W + 2 * j;
}

// The output o whose window holds input element q = x[p, h, w] (o = (p, ⌊h/2⌋, ⌊w/2⌋)), or
// −1 in the dropped edge row or column.
__device__ long long window_of(long long q, int H, int W) {
    int OH = H / 2, OW = W / 2;
    int w = q % W;
    int h = (q / W) % H;
    long long p = q / ((long long)W * H);
    int i = h / 2, j = w / 2;
    return (i < OH && j < OW) ? (p * OH + i) * OW + j : -1;
}

// Max-pool forward, one thread per output:
//   y[p,i,j] = max_{u,v<2} x[p, 2i+u, 2j+v],  argmax[p,i,j] = its flat index into x
//   (row-major visiting order: a strictly larger value, or a NaN over a number, wins; ties
//   keep the first, as ops::pool's window_max).
extern "C" __global__ void max_pool2x2_forward(
    const float* x, float* y, unsigned int* argmax, int planes, int H, int W) {
    long long total = (long long)planes * (H / 2) * (W / 2);
    GRID_STRIDE(o, total) {
        long long base = window_base(o, H, W);
        long long cand[4] = {base, base + 1, base + W, base + W + 1};
        float best = x[cand[0]];
        long long at = cand[0];
        for (int q = 1; q < 4; ++q) {
            float val = x[cand[q]];
            if (val > best || (val != val && best == best)) {  // NaN: x != x
                best = val;
                at = cand[q];
            }
        }
        y[o] = best;
        argmax[o] = (unsigned int)at;
    }
}

// Max-pool backward, one thread per input element (windows do not overlap: a gather):
//   dx[q] = dy[o] where q lies in window o and argmax[o] = q, 0 elsewhere.
extern "C" __global__ void max_pool2x2_backward(
    const float* dy, const unsigned int* argmax, float* dx, int planes, int H, int W) {
    GRID_STRIDE(q, (long long)planes * H * W) {
        long long o = window_of(q, H, W);
        dx[q] = (o >= 0 && (long long)argmax[o] == q) ? dy[o] : 0.0f;
    }
}

// Average-pool forward, one thread per output (the window summed row by row, as avg.rs):
//   y[p,i,j] = (1/4) Σ_{u,v<2} x[p, 2i+u, 2j+v]
extern "C" __global__ void avg_pool2x2_forward(const float* x, float* y, int planes, int H, int W) {
    GRID_STRIDE(o, (long long)planes * (H / 2) * (W / 2)) {
        const float* r0 = x + window_base(o, H, W);
        const float* r1 = r0 + W;
        y[o] = ((r0[0] + r0[1]) + (r1[0] + r1[1])) * 0.25f;
    }
}

// Average-pool backward, one thread per input element (windows do not overlap):
//   dx[p, 2i+u, 2j+v] = dy[p,i,j]/4 inside a window, 0 in the dropped edge rows/columns.
extern "C" __global__ void avg_pool2x2_backward(const float* dy, float* dx, int planes, int H, int W) {
    GRID_STRIDE(q, (long long)planes * H * W) {
        long long o = window_of(q, H, W);
        dx[q] = o >= 0 ? dy[o] * 0.25f : 0.0f;
    }
}
