// The CUDA twin of ops::distance (mod.rs beside this file): the comparison module, one thread
// per pair n of emb = [A; B] (2N×E: row n of A pairs with row N + n, the layout of one batched
// subnet forward). Sums are accumulated in double, as the Rust home. Launched by
// crates/cuda/src/ops/distance.rs.

// Σ_i (a_i − b_i)² of one pair, in double.
__device__ double pair_sum_sq(const float* a, const float* b, int E) {
    double ss = 0.0;
    for (int i = 0; i < E; ++i) {
        double t = (double)a[i] - (double)b[i];
        ss += t * t;
    }
    return ss;
}

// Euclidean distance:  d_n = √max(Σ_i (a_ni − b_ni)², ε)
extern "C" __global__ void euclidean_forward(const float* emb, float* d, int N, int E, float eps) {
    GRID_STRIDE(n, N) {
        const float* a = emb + n * E;
        const float* b = emb + (N + n) * E;
        float ss = (float)pair_sum_sq(a, b, E);
        d[n] = sqrtf(fmaxf(ss, eps));
    }
}

// Euclidean backward:  ∂d_n/∂a_ni = (a_ni − b_ni)/d_n = −∂d_n/∂b_ni where Σ² > ε, 0 where the
// guard is active;  demb[a_n] = dd_n·∂d_n/∂a_n, demb[b_n] = −demb[a_n].
extern "C" __global__ void euclidean_backward(
    const float* emb, const float* d, const float* dd, float* demb, int N, int E, float eps) {
    GRID_STRIDE(n, N) {
        const float* a = emb + n * E;
        const float* b = emb + (N + n) * E;
        float k = (float)pair_sum_sq(a, b, E) > eps ? dd[n] / d[n] : 0.0f;
        for (int i = 0; i < E; ++i) {
            float g = k * (a[i] - b[i]);
            demb[n * E + i] = g;
            demb[(N + n) * E + i] = -g;
        }
    }
}

// (⟨a, b⟩, ‖a‖², ‖b‖²) of one pair, in double.
__device__ void pair_dots(const float* a, const float* b, int E, double* ab, double* aa, double* bb) {
    *ab = 0.0;
    *aa = 0.0;
    *bb = 0.0;
    for (int i = 0; i < E; ++i) {
        double x = a[i], y = b[i];
        *ab += x * y;
        *aa += x * x;
        *bb += y * y;
    }
}

// Cosine similarity:  c_n = ⟨a_n, b_n⟩ / √max(‖a_n‖²·‖b_n‖², ε)
extern "C" __global__ void cosine_forward(const float* emb, float* c, int N, int E, float eps) {
    GRID_STRIDE(n, N) {
        double ab, aa, bb;
        pair_dots(emb + n * E, emb + (N + n) * E, E, &ab, &aa, &bb);
        c[n] = (float)(ab / sqrt(fmax(aa * bb, (double)eps)));
    }
}

// Cosine backward:  ∂c_n/∂a_n = b_n/den − c_n·a_n/‖a_n‖² where ‖a_n‖²‖b_n‖² > ε
// (den = ‖a_n‖‖b_n‖), b_n/√ε where the guard is active; symmetric in b;
// demb[a_n] = dc_n·∂c_n/∂a_n, demb[b_n] = dc_n·∂c_n/∂b_n.
extern "C" __global__ void cosine_backward(
    const float* emb, const float* dc, float* demb, int N, int E, float eps) {
    GRID_STRIDE(n, N) {
        const float* a = emb + n * E;
        const float* b = emb + (N + n) * E;
        double ab, aa, bb;
        pair_dots(a, b, E, &ab, &aa, &bb);
        bool guarded = aa * bb <= (double)eps;
        double den = sqrt(fmax(aa * bb, (double)eps));
        double c = ab / den;
        double g = dc[n];
        for (int i = 0; i < E; ++i) {
            double x = a[i], y = b[i];
            double ga = guarded ? y / den : y / den - c * x / aa;
            double gb = guarded ? x / den : x / den - c * y / bb;
            demb[n * E + i] = (float)(g * ga);
            demb[(N + n) * E + i] = (float)(g * gb);
        }
    }
}
