// The prelude of siamese-cuda's NVRTC program: the device helpers every kernel fragment may
// use. The program is this file followed by one fragment per op folder of siamese-tensor
// (crates/tensor/src/ops/<family>/<family>.cu), each beside the Rust function that holds the
// same equation; crates/cuda/src/sources.rs gathers them.
//
// Launch conventions (crates/cuda/src/launch.rs): element-wise kernels run a grid-stride loop
// over `total` elements with BLOCK-thread blocks; a reduction runs one BLOCK-thread block per
// output, accumulates in double where the Rust home uses f64, and reduces in a fixed tree
// order, so every result is deterministic. Every loop counter over elements or rows is a
// long long, so `i += stride` cannot overflow an int near INT_MAX.
//
// Compiled with --fmad=false (no a·b + c contracted into one rounding: each operation
// rounds as the Rust twin's does, so GPU and CPU agree to the last bit where the formula's
// order is the same, and a guard such as `ss > eps` sees the same value on both) and
// --ftz after siamese-tensor's subnormal policy (by default true: f32 subnormals flushed to
// zero, as the CPU's flush-to-zero and denormals-are-zero); see crates/cuda/src/sources.rs.

#define BLOCK 256

// for (idx over [0, total)) as a grid-stride loop: each thread visits idx, idx + grid size, …
#define GRID_STRIDE(idx, total)                                                          \
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < (total); \
         idx += (long long)gridDim.x * blockDim.x)

// Sum of one value per thread over the block (blockDim.x == BLOCK), fixed tree order; every
// thread gets the result. `sh` is a __shared__ double[BLOCK].
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

// σ(x) = 1/(1+e^{−x}) without overflow, as the Rust lanes compute it (ops::elementwise):
// t = e^{−|x|} ≤ 1, σ = 1/(1+t) for x ≥ 0 and t/(1+t) for x < 0 (NaN stays NaN).
__device__ float sigmoid_stable(float x) {
    float t = expf(-fabsf(x));
    float r = 1.0f / (1.0f + t);
    return x >= 0.0f ? r : t * r;
}
