// The CUDA twin of ops::gemm's dense-layer helpers (linear.rs beside this file). The GEMM
// C ← α·op(A)·op(B) + β·C itself is cuBLAS's sgemm on the GPU (crates/cuda/src/ops/gemm.rs
// holds the row-major ↔ column-major mapping); these two kernels are the bias of
// y = x·Wᵀ + b and its gradient db = Σ_rows dy.

// Bias broadcast over rows, one thread per element of y: rows×cols:
//   y[r, j] += b[j]
extern "C" __global__ void add_bias_rows(const float* b, float* y, int rows, int cols) {
    long long total = (long long)rows * cols;
    GRID_STRIDE(idx, total) {
        y[idx] += b[idx % cols];
    }
}

// Column sums, one block per column j, summed in double (the bias gradient):
//   db[j] = Σ_r dy[r, j]   for dy: rows×cols
extern "C" __global__ void sum_rows(const float* dy, float* db, int rows, int cols) {
    __shared__ double sh[BLOCK];
    int j = blockIdx.x;
    double acc = 0.0;
    for (long long r = threadIdx.x; r < rows; r += BLOCK) acc += dy[(long long)r * cols + j];
    double s = block_sum(acc, sh);
    if (threadIdx.x == 0) db[j] = (float)s;
}
