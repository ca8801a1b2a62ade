// The CUDA twin of ops::loss (mod.rs beside this file): each loss and its gradient (dL = 1)
// in one kernel of one block, the loss summed in double (fixed tree order) into loss[0].
// Labels: y = 1 for a pair of the same class, 0 otherwise. Launched by
// crates/cuda/src/ops/loss.rs.

// Contrastive loss with margin m on one value v per pair, h = max(m − v, 0):
//   reads == 0 (similarity, the paper):  L = (1/N) Σ [ y·h² + (1 − y)·v² ],
//                                        ∂L/∂v = (−2y·h + 2(1 − y)·v)/N;
//   reads == 1 (distance, Hadsell et al.): L = (1/N) Σ [ y·v² + (1 − y)·h² ],
//                                        ∂L/∂v = (2y·v − 2(1 − y)·h)/N.
extern "C" __global__ void contrastive_loss(
    const float* v, const float* y, float* loss, float* dv, int N, float margin, int reads) {
    __shared__ double sh[BLOCK];
    float inv_n = 1.0f / (float)N;  // dL/N with dL = 1
    double acc = 0.0;
    for (long long n = threadIdx.x; n < N; n += BLOCK) {
        float vn = v[n], yn = y[n];
        float h = fmaxf(margin - vn, 0.0f);
        float pull = reads ? vn * vn : h * h;
        float push = reads ? h * h : vn * vn;
        acc += (double)(yn * pull + (1.0f - yn) * push);
        dv[n] = inv_n * (reads ? 2.0f * yn * vn - 2.0f * (1.0f - yn) * h
                           : -2.0f * yn * h + 2.0f * (1.0f - yn) * vn);
    }
    double total = block_sum(acc, sh);
    if (threadIdx.x == 0) loss[0] = (float)(total / N);
}

// Binary cross-entropy on probabilities p, clipped as Keras (p̃ = clip(p, ε, 1 − ε)):
//   L = −(1/N) Σ [ y·ln p̃ + (1 − y)·ln(1 − p̃) ]  (in double),
//   ∂L/∂p = −(1/N)·(y/p − (1 − y)/(1 − p)) inside the clip range, 0 outside.
extern "C" __global__ void bce_loss(
    const float* p, const float* y, float* loss, float* dp, int N, float eps) {
    __shared__ double sh[BLOCK];
    float inv_n = 1.0f / (float)N;  // dL/N with dL = 1
    float hi = 1.0f - eps;
    double acc = 0.0;
    for (long long n = threadIdx.x; n < N; n += BLOCK) {
        float pn = p[n], yn = y[n];
        float clipped = pn < eps ? eps : pn;  // as f32::clamp: a NaN stays NaN
        clipped = clipped > hi ? hi : clipped;
        double pc = clipped, yd = yn;
        acc += -(yd * log(pc) + (1.0 - yd) * log(1.0 - pc));
        dp[n] = (pn <= eps || pn >= hi) ? 0.0f : -inv_n * (yn / pn - (1.0f - yn) / (1.0f - pn));
    }
    double total = block_sum(acc, sh);
    if (threadIdx.x == 0) loss[0] = (float)(total / N);
}

// Softmax cross-entropy of logits z: N×K against class indices, one thread per row (the
// log-sum-exp shifted by the row maximum M, so no overflow):
//   probs_nk = e^{z_nk − M} / Σ_k e^{z_nk − M},
//   L = (1/N) Σ_n [ log Σ_k e^{z_nk − M} + M − z_{n,label_n} ],
//   ∂L/∂z = (softmax(z) − onehot(label))/N.
// A label ≥ K (which the CPU rejects) gives a NaN loss and no one-hot term; nothing is read
// out of range.
extern "C" __global__ void softmax_ce_loss(
    const float* z, const unsigned int* labels, float* probs, float* loss, float* dz,
    int N, int K) {
    __shared__ double sh[BLOCK];
    float inv_n = 1.0f / (float)N;  // dL/N with dL = 1
    double acc = 0.0;
    for (long long n = threadIdx.x; n < N; n += BLOCK) {
        const float* row = z + (long long)n * K;
        float* prow = probs + (long long)n * K;
        float* grow = dz + (long long)n * K;
        float m = __int_as_float(0xff800000);  // −∞
        for (int j = 0; j < K; ++j) m = fmaxf(m, row[j]);
        double s = 0.0;
        for (int j = 0; j < K; ++j) {
            double e = exp((double)(row[j] - m));
            prow[j] = (float)e;
            s += e;
        }
        for (int j = 0; j < K; ++j) prow[j] = (float)((double)prow[j] / s);
        unsigned int label = labels[n];
        bool valid = label < (unsigned int)K;
        acc += valid ? log(s) + (double)m - (double)row[label]
                     : __longlong_as_double(0x7ff8000000000000LL);
        for (int j = 0; j < K; ++j) {
            float g = prow[j] * inv_n;
            if (valid && (unsigned int)j == label) g -= inv_n;
            grow[j] = g;
        }
    }
    double total = block_sum(acc, sh);
    if (threadIdx.x == 0) loss[0] = (float)(total / N);
}
