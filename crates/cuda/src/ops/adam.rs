//! Launch of `ops/adam/adam.cu`: Adam's steps (b)–(f) in place on one parameter tensor.

use cudarc::driver::PushKernelArg;
use siamese_tensor::backend::{check_lens, AdamHyper, BResult};

use super::Buf;
use crate::launch::{count, grid};
use crate::sources::K;
use crate::CudaBackend;

/// [`siamese_tensor::ops::adam::adam_update`] on the device.
pub(crate) fn update(
    be: &CudaBackend, (h, grad): (&AdamHyper, &Buf), (theta, m, v): (&mut Buf, &mut Buf, &mut Buf),
) -> BResult<()> {
    let total = theta.len();
    check_lens(
        "adam_update",
        &[
            ("grad", grad.len(), total),
            ("m", m.len(), total),
            ("v", v.len(), total),
        ],
    )?;
    if total == 0 {
        return Ok(());
    }
    let t = count("adam_update", total)?;
    let cfg = grid("adam_update", total)?;
    // SAFETY: `adam_update(float* theta, const float* grad, float* m, float* v, long long
    // total, float lr, beta1, beta2, eps, bc1, bc2)`: four buffers, one i64 and six f32, in
    // order. One thread per element below `total`, the length of all four (checked).
    unsafe {
        be.launch(K::AdamUpdate, cfg, |lb| {
            lb.arg(theta).arg(grad).arg(m).arg(v).arg(&t);
            for x in [&h.lr, &h.beta1, &h.beta2, &h.eps, &h.bc1, &h.bc2] {
                lb.arg(x);
            }
        })
    }
}
