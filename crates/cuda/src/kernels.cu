// The CUDA kernels of siamese-cuda, compiled at start-up by NVRTC (src/lib.rs). Each kernel
// implements one method of siamese_tensor::backend::Backend; its equation is beside it, in
// the notation of that trait (row-major, NCHW). The CPU implementation (CpuBackend) is the
// specification; crates/cuda/tests/gpu.rs holds every kernel to it.
//
// Launch conventions (src/lib.rs): element-wise kernels use grid-stride loops over `total`
// elements with 256-thread blocks; reductions use one 256-thread block per output (BLOCK),
// accumulate in double, and reduce in a fixed tree order, so results are deterministic.

#define BLOCK 256

// Sum of one value per thread over the block (blockDim.x == BLOCK), fixed tree order; every
// thread gets the result.
__device__ double block_sum(double v, double* sh) {
    int t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (int s = BLOCK / 2; s > 0; s >>= 1) {
        if (t < s) sh[t] += sh[t + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

// σ(x) = 1/(1+e^{−x}), without overflow: e^{x}/(1+e^{x}) for x < 0.
__device__ float sigmoid_stable(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

// Convolution forward, one thread per output y[n,k,i,j]:
//   y[n,k,i,j] = b[k] + Σ_{c,u,v} w[k,c,u,v]·x[n,c,i·s+u−p,j·s+v−p]   (x outside reads 0)
extern "C" __global__ void conv2d_forward(
    const float* x, const float* w, const float* b, float* y,
    int N, int C, int H, int W, int K, int KH, int KW, int S, int P, int OH, int OW) {
    long long total = (long long)N * K * OH * OW;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        int j = idx % OW;
        long long t = idx / OW;
        int i = t % OH;
        t /= OH;
        int k = t % K;
        int n = t / K;
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

// Convolution weight gradient, one block per weight (k,c,u,v):
//   dw[k,c,u,v] = Σ_{n,i,j} dy[n,k,i,j]·x[n,c,i·s+u−p,j·s+v−p]
extern "C" __global__ void conv2d_backward_dw(
    const float* x, const float* dy, float* dw,
    int N, int C, int H, int W, int K, int KH, int KW, int S, int P, int OH, int OW) {
    __shared__ double sh[BLOCK];
    int widx = blockIdx.x;
    int v = widx % KW;
    int u = (widx / KW) % KH;
    int c = (widx / (KW * KH)) % C;
    int k = widx / (KW * KH * C);
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

// Convolution bias gradient, one block per output channel k:
//   db[k] = Σ_{n,i,j} dy[n,k,i,j]
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

// Convolution input gradient, one thread per input element dx[n,c,h,w] (a gather, no atomics):
//   dx[n,c,h,w] = Σ_{k,u,v} dy[n,k,i,j]·w[k,c,u,v]  over i·s+u−p = h, j·s+v−p = w
extern "C" __global__ void conv2d_backward_dx(
    const float* w, const float* dy, float* dx,
    int N, int C, int H, int W, int K, int KH, int KW, int S, int P, int OH, int OW) {
    long long total = (long long)N * C * H * W;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        int iw = idx % W;
        long long t = idx / W;
        int ih = t % H;
        t /= H;
        int c = t % C;
        int n = t / C;
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

// 2×2/2 max-pool forward, one thread per output of `planes` planes of H×W:
//   y[p,i,j] = max_{u,v<2} x[p,2i+u,2j+v], argmax[p,i,j] = its flat index into x
//   (row-major visiting order; a strictly larger value or a NaN over a number wins).
extern "C" __global__ void max_pool2x2_forward(
    const float* x, float* y, unsigned int* argmax, int planes, int H, int W) {
    int OH = H / 2, OW = W / 2;
    long long total = (long long)planes * OH * OW;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        int j = idx % OW;
        int i = (idx / OW) % OH;
        long long p = idx / ((long long)OW * OH);
        long long base = p * H * W + (long long)(2 * i) * W + 2 * j;
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
        y[idx] = best;
        argmax[idx] = (unsigned int)at;
    }
}

// 2×2/2 max-pool backward, one thread per input element (windows do not overlap, so a gather):
//   dx[q] = dy[o] if q lies in window o and argmax[o] = q, else 0.
extern "C" __global__ void max_pool2x2_backward(
    const float* dy, const unsigned int* argmax, float* dx, int planes, int H, int W) {
    int OH = H / 2, OW = W / 2;
    long long total = (long long)planes * H * W;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        int w = idx % W;
        int h = (idx / W) % H;
        long long p = idx / ((long long)W * H);
        int i = h / 2, j = w / 2;
        float g = 0.0f;
        if (i < OH && j < OW) {
            long long o = (p * OH + i) * OW + j;
            if ((long long)argmax[o] == idx) g = dy[o];
        }
        dx[idx] = g;
    }
}

// Bias broadcast over rows: y[i,j] += b[j], y: rows×cols.
extern "C" __global__ void add_bias_rows(const float* b, float* y, int rows, int cols) {
    long long total = (long long)rows * cols;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        y[idx] += b[idx % cols];
    }
}

// Column sums, one block per column j: db[j] = Σ_i dy[i,j], dy: rows×cols.
extern "C" __global__ void sum_rows(const float* dy, float* db, int rows, int cols) {
    __shared__ double sh[BLOCK];
    int j = blockIdx.x;
    double acc = 0.0;
    for (int i = threadIdx.x; i < rows; i += BLOCK) acc += dy[(long long)i * cols + j];
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) db[j] = (float)s;
}

// ReLU in place: x ← max(x, 0).
extern "C" __global__ void relu_inplace(float* x, long long total) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        float v = x[idx];
        x[idx] = v > 0.0f ? v : 0.0f;
    }
}

// ReLU backward from y = relu(x): dy ← dy·[y > 0].
extern "C" __global__ void relu_backward_inplace(const float* y, float* dy, long long total) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        if (!(y[idx] > 0.0f)) dy[idx] = 0.0f;
    }
}

// tanh in place: x ← tanh x.
extern "C" __global__ void tanh_inplace(float* x, long long total) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        x[idx] = tanhf(x[idx]);
    }
}

// tanh backward from y = tanh x: dy ← dy·(1 − y²).
extern "C" __global__ void tanh_backward_inplace(const float* y, float* dy, long long total) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        float t = y[idx];
        dy[idx] *= 1.0f - t * t;
    }
}

// Euclidean distance, one thread per pair n of emb = [A; B] (2N×E):
//   d_n = √max(Σ_i (a_ni − b_ni)², ε)
extern "C" __global__ void euclidean_forward(const float* emb, float* d, int N, int E, float eps) {
    for (int n = blockIdx.x * blockDim.x + threadIdx.x; n < N; n += gridDim.x * blockDim.x) {
        const float* a = emb + (long long)n * E;
        const float* b = emb + ((long long)N + n) * E;
        float ss = 0.0f;
        for (int i = 0; i < E; ++i) {
            float t = a[i] - b[i];
            ss += t * t;
        }
        d[n] = sqrtf(fmaxf(ss, eps));
    }
}

// Euclidean backward, one thread per pair n:
//   demb[a_ni] = dd_n·(a_ni − b_ni)/d_n = −demb[b_ni] where Σ_i (a_ni − b_ni)² > ε, else 0.
extern "C" __global__ void euclidean_backward(
    const float* emb, const float* d, const float* dd, float* demb, int N, int E, float eps) {
    for (int n = blockIdx.x * blockDim.x + threadIdx.x; n < N; n += gridDim.x * blockDim.x) {
        const float* a = emb + (long long)n * E;
        const float* b = emb + ((long long)N + n) * E;
        float ss = 0.0f;
        for (int i = 0; i < E; ++i) {
            float t = a[i] - b[i];
            ss += t * t;
        }
        float k = ss > eps ? dd[n] / d[n] : 0.0f;
        for (int i = 0; i < E; ++i) {
            float g = k * (a[i] - b[i]);
            demb[(long long)n * E + i] = g;
            demb[((long long)N + n) * E + i] = -g;
        }
    }
}

// The output module, one block: x̂_n = (d_n − μ)/√(σ² + ε), h_n = γ·x̂_n + β,
// s_n = σ(w·h_n + b). train != 0: μ, σ² are the batch's (biased, in double) and the running
// statistics move r ← momentum·r + (1 − momentum)·batch; train == 0: the running ones.
// cache[0..N) = x̂, cache[N] = 1/√(σ² + ε).
extern "C" __global__ void head_forward(
    const float* d, const float* gamma, const float* beta, const float* w, const float* b,
    float* running_mean, float* running_var, float* cache, float* s,
    int N, int train, float momentum, float eps) {
    __shared__ double sh[BLOCK];
    float mean, var;
    if (train) {
        double acc = 0.0;
        for (int i = threadIdx.x; i < N; i += BLOCK) acc += d[i];
        double mu = block_sum(acc, sh) / N;
        double acc2 = 0.0;
        for (int i = threadIdx.x; i < N; i += BLOCK) {
            double t = d[i] - mu;
            acc2 += t * t;
        }
        double s2 = block_sum(acc2, sh) / N;
        mean = (float)mu;
        var = (float)s2;
    } else {
        mean = running_mean[0];
        var = running_var[0];
    }
    float inv_std = 1.0f / sqrtf(var + eps);
    float g = gamma[0], bt = beta[0], wv = w[0], bv = b[0];
    for (int i = threadIdx.x; i < N; i += BLOCK) {
        float xhat = (d[i] - mean) * inv_std;
        cache[i] = xhat;
        float h = g * xhat + bt;
        s[i] = sigmoid_stable(h * wv + bv);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        cache[N] = inv_std;
        if (train) {
            running_mean[0] = momentum * running_mean[0] + (1.0f - momentum) * mean;
            running_var[0] = momentum * running_var[0] + (1.0f - momentum) * var;
        }
    }
}

// Output module backward (training-mode BatchNorm), one block:
//   dz = ds·s(1 − s); dw = Σ dz·h; db = Σ dz; dh = dz·w; dγ = Σ dh·x̂; dβ = Σ dh;
//   dd = (γ/(N√(σ²+ε)))·(N·dh − Σ dh − x̂·Σ dh·x̂)   (term 1, 2, 3; sums in double)
extern "C" __global__ void head_backward(
    const float* ds, const float* s, const float* cache,
    const float* gamma, const float* beta, const float* w,
    float* dgamma, float* dbeta, float* dw, float* db, float* dd, int N) {
    __shared__ double sh[BLOCK];
    float g = gamma[0], bt = beta[0], wv = w[0];
    float inv_std = cache[N];
    double sw = 0.0, sb = 0.0, sdh = 0.0, sdhx = 0.0;
    for (int i = threadIdx.x; i < N; i += BLOCK) {
        float xhat = cache[i];
        float h = g * xhat + bt;
        float dz = ds[i] * (s[i] * (1.0f - s[i]));
        float dh = dz * wv;
        sw += (double)dz * (double)h;
        sb += dz;
        sdh += dh;
        sdhx += (double)dh * (double)xhat;
    }
    sw = block_sum(sw, sh);
    sb = block_sum(sb, sh);
    sdh = block_sum(sdh, sh);
    sdhx = block_sum(sdhx, sh);
    if (threadIdx.x == 0) {
        dw[0] = (float)sw;
        db[0] = (float)sb;
        dgamma[0] = (float)sdhx;
        dbeta[0] = (float)sdh;
    }
    double scale = (double)g * (double)inv_std;
    for (int i = threadIdx.x; i < N; i += BLOCK) {
        float xhat = cache[i];
        float dz = ds[i] * (s[i] * (1.0f - s[i]));
        float dh = dz * wv;
        dd[i] = (float)(scale / N * ((double)N * dh - sdh - (double)xhat * sdhx));
    }
}

// The paper's contrastive loss and its gradient, one block: h_n = max(margin − s_n, 0),
//   L = (1/N) Σ [y_n·h_n² + (1 − y_n)·s_n²]  (double sum) → loss[0],
//   ds_n = (−2·y_n·h_n + 2·(1 − y_n)·s_n)/N.
extern "C" __global__ void contrastive_loss(
    const float* s, const float* y, float* loss, float* ds, int N, float margin) {
    __shared__ double sh[BLOCK];
    float inv_n = 1.0f / (float)N;
    double acc = 0.0;
    for (int i = threadIdx.x; i < N; i += BLOCK) {
        float h = fmaxf(margin - s[i], 0.0f);
        acc += (double)(y[i] * h * h + (1.0f - y[i]) * s[i] * s[i]);
        ds[i] = (-2.0f * y[i] * h + 2.0f * (1.0f - y[i]) * s[i]) * inv_n;
    }
    double total = block_sum(acc, sh);
    if (threadIdx.x == 0) loss[0] = (float)(total / N);
}

// Adam (the paper's Table 2, b–f), in place, one thread per element:
//   m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; m̂ = m/bc1; v̂ = v/bc2; θ ← θ − α·m̂/(√v̂ + ε)
// with bc1 = 1 − β₁ᵗ, bc2 = 1 − β₂ᵗ computed by the host.
extern "C" __global__ void adam_update(
    float* theta, const float* grad, float* m, float* v, long long total,
    float lr, float beta1, float beta2, float eps, float bc1, float bc2) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        float g = grad[idx];
        float mi = beta1 * m[idx] + (1.0f - beta1) * g;         // (b)
        float vi = beta2 * v[idx] + (1.0f - beta2) * g * g;     // (c)
        m[idx] = mi;
        v[idx] = vi;
        float m_hat = mi / bc1;                                  // (d)
        float v_hat = vi / bc2;                                  // (e)
        theta[idx] -= lr * m_hat / (sqrtf(v_hat) + eps);         // (f)
    }
}
