// The CUDA twin of ops::conv2d (mod.rs beside this file): 2-D convolution (cross-correlation),
// stride s, zero padding p, for x: N×C×H×W, w: K×C×KH×KW, b: K, y: N×K×OH×OW. Launched by
// crates/cuda/src/ops/conv2d.rs. The Rust side also has an im2col and a direct SIMD path;
// these kernels are the plain loops of conv2d/reference.rs, one thread or block per output.

// (a, b, c, d) of the flat index idx of a row-major array of shape ·×B×C×D.
__device__ void unravel4(long long idx, int B, int C, int D, int* a, int* b, int* c, int* d) {
    *d = idx % D;
    idx /= D;
    *c = idx % C;
    idx /= C;
    *b = idx % B;
    *a = idx / B;
}

// Forward, one thread per output y[n,k,i,j]:
//   y[n,k,i,j] = b[k] + Σ_c Σ_u Σ_v w[k,c,u,v] · x[n, c, i·s + u − p, j·s + v − p]
//   (x outside the image reads 0)
extern "C" __global__ void conv2d_forward(
    const float* x, const float* w, const float* b, float* y,
    int N, int C, int H, int W, int K, int KH, int KW, int S, int P, int OH, int OW) {
    long long total = (long long)N * K * OH * OW;
    GRID_STRIDE(idx, total) {
        int n, k, i, j;
        unravel4(idx, K, OH, OW, &n, &k, &i, &j);
        float acc = b[k];
        for (int c = 0; c < C; ++c) {
            const float* xp = x + ((long long)n * C + c) * H * W;
            const float* wp = w + ((long long)k * C + c) * KH * KW;
            for (int u = 0; u < KH; ++u) {
                int ih = i * S + u - P;
                if (ih < 0 || ih >= H) continue;
                for (int v = 0; v < KW; ++v) {
                    int iw = j * S + v - P;
                    if (iw < 0 || iw >= W) continue;
                    acc += wp[u * KW + v] * xp[ih * W + iw];
                }
            }
        }
        y[idx] = acc;
    }
}

// Weight gradient, one block per weight (k,c,u,v), summed in double:
//   dw[k,c,u,v] = Σ_n Σ_i Σ_j dy[n,k,i,j] · x[n, c, i·s+u−p, j·s+v−p]
extern "C" __global__ void conv2d_backward_dw(
    const float* x, const float* dy, float* dw,
    int N, int C, int H, int W, int K, int KH, int KW, int S, int P, int OH, int OW) {
    __shared__ double sh[BLOCK];
    int widx = blockIdx.x;
    int k, c, u, v;
    unravel4(widx, C, KH, KW, &k, &c, &u, &v);
    long long terms = (long long)N * OH * OW;
    double acc = 0.0;
    for (long long t = threadIdx.x; t < terms; t += BLOCK) {
        int j = t % OW;
        int i = (t / OW) % OH;
        int n = t / ((long long)OW * OH);
        int ih = i * S + u - P, iw = j * S + v - P;
        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
        acc += (double)dy[(((long long)n * K + k) * OH + i) * OW + j] *
               (double)x[(((long long)n * C + c) * H + ih) * W + iw];
    }
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) dw[widx] = (float)s;
}

// Bias gradient, one block per output channel k, summed in double:
//   db[k] = Σ_n Σ_i Σ_j dy[n,k,i,j]
extern "C" __global__ void conv2d_backward_db(const float* dy, float* db, int N, int K, int OHW) {
    __shared__ double sh[BLOCK];
    int k = blockIdx.x;
    long long terms = (long long)N * OHW;
    double acc = 0.0;
    for (long long t = threadIdx.x; t < terms; t += BLOCK) {
        long long n = t / OHW, q = t % OHW;
        acc += dy[(n * K + k) * OHW + q];
    }
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) db[k] = (float)s;
}

// Input gradient, one thread per input element dx[n,c,h,w] (a gather, no atomics):
//   dx[n,c,h,w] = Σ_k Σ_u Σ_v dy[n,k,i,j] · w[k,c,u,v]  over (i,j) with i·s+u−p = h, j·s+v−p = w
extern "C" __global__ void conv2d_backward_dx(
    const float* w, const float* dy, float* dx,
    int N, int C, int H, int W, int K, int KH, int KW, int S, int P, int OH, int OW) {
    long long total = (long long)N * C * H * W;
    GRID_STRIDE(idx, total) {
        int n, c, ih, iw;
        unravel4(idx, C, H, W, &n, &c, &ih, &iw);
        float acc = 0.0f;
        for (int k = 0; k < K; ++k) {
            const float* dyp = dy + ((long long)n * K + k) * OH * OW;
            const float* wp = w + ((long long)k * C + c) * KH * KW;
            for (int u = 0; u < KH; ++u) {
                int a = ih + P - u;  // = i·s
                if (a < 0 || a % S != 0) continue;
                int i = a / S;
                if (i >= OH) continue;
                for (int v = 0; v < KW; ++v) {
                    int bb = iw + P - v;  // = j·s
                    if (bb < 0 || bb % S != 0) continue;
                    int j = bb / S;
                    if (j >= OW) continue;
                    acc += dyp[i * OW + j] * wp[u * KW + v];
                }
            }
        }
        dx[idx] = acc;
    }
}
