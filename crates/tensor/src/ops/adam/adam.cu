// The CUDA twin of ops::adam::adam_update (mod.rs beside this file): Adam as the paper's
// Table 2, steps (b)–(f), in place on one parameter tensor, one thread per element. The host
// passes bc1 = 1 − β₁ᵗ and bc2 = 1 − β₂ᵗ (AdamHyper::at_step). Launched by
// crates/cuda/src/ops/adam.rs.
//   (b) m_t = β₁·m_{t−1} + (1 − β₁)·g_t
//   (c) v_t = β₂·v_{t−1} + (1 − β₂)·g_t²
//   (d) m̂_t = m_t / (1 − β₁ᵗ)
//   (e) v̂_t = v_t / (1 − β₂ᵗ)
//   (f) θ_t = θ_{t−1} − α·m̂_t / (√v̂_t + ε)
extern "C" __global__ void adam_update(
    float* theta, const float* grad, float* m, float* v, long long total,
    float lr, float beta1, float beta2, float eps, float bc1, float bc2) {
    GRID_STRIDE(idx, total) {
        float g = grad[idx];
        float mi = beta1 * m[idx] + (1.0f - beta1) * g;      // (b)
        float vi = beta2 * v[idx] + (1.0f - beta2) * g * g;  // (c)
        m[idx] = mi;
        v[idx] = vi;
        float m_hat = mi / bc1;                              // (d)
        float v_hat = vi / bc2;                              // (e)
        theta[idx] -= lr * m_hat / (sqrtf(v_hat) + eps);     // (f)
    }
}
