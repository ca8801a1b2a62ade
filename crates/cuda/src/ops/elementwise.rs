//! Launches of `ops/elementwise/elementwise.cu`: ReLU, tanh and σ in place, and their
//! backward from the forward's output.

use cudarc::driver::PushKernelArg;
use siamese_tensor::backend::{check_len, BResult};

use super::Buf;
use crate::launch::{count, expect_kernel, grid};
use crate::sources::K;
use crate::CudaBackend;

/// The forward kernel `k(float* x, long long total)`: x ← f(x).
pub(crate) fn forward(be: &CudaBackend, k: K, x: &mut Buf) -> BResult<()> {
    expect_kernel(k, &[K::ReluInplace, K::TanhInplace, K::SigmoidInplace])?;
    let total = x.len();
    if total == 0 {
        return Ok(());
    }
    let (t, cfg) = (count(k.name(), total)?, grid(k.name(), total)?);
    // SAFETY: the activation kernels take (float* x, long long total): one buffer of `total`
    // values, then `total` as i64; the grid-stride loop touches indices below `total` only.
    unsafe {
        be.launch(k, cfg, |lb| {
            lb.arg(x).arg(&t);
        })
    }
}

/// The backward kernel `k(const float* y, float* dy, long long total)`: dy ← dy·f'(y).
pub(crate) fn backward(be: &CudaBackend, k: K, y: &Buf, dy: &mut Buf) -> BResult<()> {
    let family = [
        K::ReluBackwardInplace,
        K::TanhBackwardInplace,
        K::SigmoidBackwardInplace,
    ];
    expect_kernel(k, &family)?;
    let total = dy.len();
    check_len(k.name(), "y", y.len(), total)?;
    if total == 0 {
        return Ok(());
    }
    let (t, cfg) = (count(k.name(), total)?, grid(k.name(), total)?);
    // SAFETY: the backward kernels take (const float* y, float* dy, long long total): two
    // buffers of `total` values each (checked), then `total` as i64; the grid-stride loop
    // touches indices below `total` only.
    unsafe {
        be.launch(k, cfg, |lb| {
            lb.arg(y).arg(dy).arg(&t);
        })
    }
}
