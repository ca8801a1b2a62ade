// The CUDA twin of ops::elementwise's in-place activations (mod.rs beside this file), one
// thread per element; every backward reads the forward's output y. Launched by
// crates/cuda/src/ops/elementwise.rs.

// The kernel `name(float* x, long long total)`: x ← f(x), with the element read as `v`.
#define MAP_KERNEL(name, v, f)                                            \
    extern "C" __global__ void name(float* x, long long total) {          \
        GRID_STRIDE(idx, total) {                                         \
            float v = x[idx];                                             \
            x[idx] = (f);                                                 \
        }                                                                 \
    }

// The kernel `name(const float* y, float* dy, long long total)`: dy ← g(y, dy), with the
// forward's output read as `t` and the gradient as `d`.
#define GRAD_KERNEL(name, t, d, g)                                                  \
    extern "C" __global__ void name(const float* y, float* dy, long long total) {   \
        GRID_STRIDE(idx, total) {                                                   \
            float t = y[idx], d = dy[idx];                                          \
            dy[idx] = (g);                                                          \
        }                                                                           \
    }

// ReLU: x ← max(x, 0) (NaN → 0, as relu_in_place).
MAP_KERNEL(relu_inplace, v, v > 0.0f ? v : 0.0f)
// ReLU backward from y = relu(x): dy ← dy·[y > 0].
GRAD_KERNEL(relu_backward_inplace, t, d, t > 0.0f ? d : 0.0f)

// tanh: x ← tanh x.
MAP_KERNEL(tanh_inplace, v, tanhf(v))
// tanh backward from y = tanh x: dy ← dy·(1 − y²).
GRAD_KERNEL(tanh_backward_inplace, t, d, d * (1.0f - t * t))

// Sigmoid: x ← σ(x) = 1/(1+e^{−x}) (the stable form of the prelude, as sigmoid_in_place).
MAP_KERNEL(sigmoid_inplace, v, sigmoid_stable(v))
// Sigmoid backward from y = σ(x): dy ← dy·y(1 − y).
GRAD_KERNEL(sigmoid_backward_inplace, t, d, d * t * (1.0f - t))
