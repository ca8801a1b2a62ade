// The CUDA twin of ops::batchnorm (mod.rs beside this file): batch normalisation over the
// batch axis of x: N×C, one block per feature c, batch sums in double (fixed tree order).
// Launched by crates/cuda/src/ops/batchnorm.rs.

// Forward. train != 0: the batch statistics
//   μ_c = (1/N) Σ_n x_nc,  σ²_c = (1/N) Σ_n (x_nc − μ_c)²  (biased, in double, then float),
// and the running statistics r ← m·r + (1 − m)·batch (m = momentum); train == 0: μ, σ² are
// the running ones, unchanged. Then
//   x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β,
// with x̂ (N×C) and inv_std = 1/√(σ² + ε) (C) cached for the backward pass.
extern "C" __global__ void batchnorm_forward(
    const float* x, const float* gamma, const float* beta,
    float* running_mean, float* running_var, float* xhat, float* inv_std, float* y,
    int N, int C, int train, float momentum, float eps) {
    __shared__ double sh[BLOCK];
    int c = blockIdx.x;
    float mean, var;
    if (train) {
        double acc = 0.0;
        for (long long n = threadIdx.x; n < N; n += BLOCK) acc += x[(long long)n * C + c];
        double mu = block_sum(acc, sh) / N;
        double acc2 = 0.0;
        for (long long n = threadIdx.x; n < N; n += BLOCK) {
            double t = (double)x[(long long)n * C + c] - mu;
            acc2 += t * t;
        }
        double s2 = block_sum(acc2, sh) / N;
        mean = (float)mu;
        var = (float)s2;
    } else {
        mean = running_mean[c];
        var = running_var[c];
    }
    float inv = 1.0f / sqrtf(var + eps);
    for (long long n = threadIdx.x; n < N; n += BLOCK) {
        long long k = (long long)n * C + c;
        float xh = (x[k] - mean) * inv;
        xhat[k] = xh;
        y[k] = gamma[c] * xh + beta[c];
    }
    if (threadIdx.x == 0) {
        inv_std[c] = inv;
        if (train) {
            running_mean[c] = momentum * running_mean[c] + (1.0f - momentum) * mean;
            running_var[c] = momentum * running_var[c] + (1.0f - momentum) * var;
        }
    }
}

// Backward in training mode, from the forward's cache x̂ and inv_std = 1/√(σ²+ε):
//   dγ = Σ_n dy·x̂,  dβ = Σ_n dy   (in double),
//   dx = (γ/(N·√(σ²+ε)))·(N·dy − Σ_n dy − x̂·Σ_n dy·x̂)   (terms 1, 2, 3).
extern "C" __global__ void batchnorm_backward(
    const float* dy, const float* xhat, const float* inv_std, const float* gamma,
    float* dx, float* dgamma, float* dbeta, int N, int C) {
    __shared__ double sh[BLOCK];
    int c = blockIdx.x;
    double sdy = 0.0, sdyx = 0.0;
    for (long long n = threadIdx.x; n < N; n += BLOCK) {
        long long k = (long long)n * C + c;
        sdy += dy[k];
        sdyx += (double)dy[k] * (double)xhat[k];
    }
    sdy = block_sum(sdy, sh);
    sdyx = block_sum(sdyx, sh);
    if (threadIdx.x == 0) {
        dgamma[c] = (float)sdyx;
        dbeta[c] = (float)sdy;
    }
    double scale = (double)gamma[c] * (double)inv_std[c];
    for (long long n = threadIdx.x; n < N; n += BLOCK) {
        long long k = (long long)n * C + c;
        // term 1, 2, 3
        dx[k] = (float)(scale / N * ((double)N * dy[k] - sdy - (double)xhat[k] * sdyx));
    }
}
