//! Launches of `ops/loss/loss.cu`: each loss and its gradient (dL = 1) in one single-block
//! kernel; the loss stays on the device (one value) until the caller downloads it.
//!
//! The CPU rejects labels outside [0, 1] (contrastive, BCE) or not below K (softmax), which
//! needs the labels on the host: these launches do not read them back. Out-of-range labels
//! give a meaningless (contrastive, BCE) or NaN (softmax) loss, never an access out of range;
//! the device step checks its labels before uploading them.

use cudarc::driver::PushKernelArg;
use siamese_tensor::backend::{check_lens, BResult, ContrastiveReads};

use super::{Buf, IdxBuf};
use crate::launch::{int, ints, per_block, shape_err};
use crate::sources::K;
use crate::CudaBackend;

/// Checks one loss call: `n` ≥ 1 values in every buffer of `per_pair`, one in `loss`.
fn check(op: &'static str, n: usize, per_pair: &[(&str, &Buf)], loss: &Buf) -> BResult<i32> {
    if n == 0 {
        return Err(shape_err(op, "no pairs: need the same non-zero count"));
    }
    let mut lens: Vec<_> = per_pair.iter().map(|(w, b)| (*w, b.len(), n)).collect();
    lens.push(("loss", loss.len(), 1));
    check_lens(op, &lens)?;
    int(op, n)
}

/// [`siamese_tensor::ops::loss::contrastive_forward`] into `loss` and
/// [`siamese_tensor::ops::loss::contrastive_backward`] (dL = 1) into dv.
pub(crate) fn contrastive(
    be: &CudaBackend, n: usize, (v, y): (&Buf, &Buf), (margin, reads): (f32, ContrastiveReads),
    (loss, dv): (&mut Buf, &mut Buf),
) -> BResult<()> {
    let op = "contrastive_loss";
    let ni = check(op, n, &[("v", v), ("y", y), ("dv", &*dv)], loss)?;
    let reads = match reads {
        ContrastiveReads::Similarity => 0i32,
        ContrastiveReads::Distance => 1i32,
    };
    // SAFETY: `contrastive_loss(const float* v, const float* y, float* loss, float* dv, int
    // N, float margin, int reads)`: four buffers, one i32, one f32, one i32. One block; its
    // threads index v, y, dv below N (N values each) and loss at 0 (one value), all checked.
    unsafe {
        be.launch(K::ContrastiveLoss, per_block(op, 1)?, |lb| {
            lb.arg(v).arg(y).arg(loss).arg(dv);
            lb.arg(&ni).arg(&margin).arg(&reads);
        })
    }
}

/// [`siamese_tensor::ops::loss::bce_forward`] into `loss` and
/// [`siamese_tensor::ops::loss::bce_backward`] (dL = 1) into dp.
pub(crate) fn bce(
    be: &CudaBackend, n: usize, (p, y, eps): (&Buf, &Buf, f32), (loss, dp): (&mut Buf, &mut Buf),
) -> BResult<()> {
    let op = "bce_loss";
    let ni = check(op, n, &[("p", p), ("y", y), ("dp", &*dp)], loss)?;
    // SAFETY: `bce_loss(const float* p, const float* y, float* loss, float* dp, int N, float
    // eps)`: four buffers, one i32, one f32. One block; its threads index p, y, dp below N
    // (N values each) and loss at 0 (one value), all checked.
    unsafe {
        be.launch(K::BceLoss, per_block(op, 1)?, |lb| {
            lb.arg(p).arg(y).arg(loss).arg(dp).arg(&ni).arg(&eps);
        })
    }
}

/// [`siamese_tensor::ops::loss::softmax_ce_forward`] (probs, loss) and
/// [`siamese_tensor::ops::loss::softmax_ce_backward`] (dL = 1) into dz, for logits z: N×K.
pub(crate) fn softmax_ce(
    be: &CudaBackend, (n, k): (usize, usize), (z, labels): (&Buf, &IdxBuf),
    (probs, loss, dz): (&mut Buf, &mut Buf, &mut Buf),
) -> BResult<()> {
    let op = "softmax_ce_loss";
    if n == 0 || k == 0 {
        return Err(shape_err(op, format!("need N, K ≥ 1, got N×K = {n}×{k}")));
    }
    check_lens(
        op,
        &[
            ("z", z.len(), n * k),
            ("labels", labels.len(), n),
            ("probs", probs.len(), n * k),
            ("dz", dz.len(), n * k),
            ("loss", loss.len(), 1),
        ],
    )?;
    let [ni, ki] = ints(op, [n, k])?;
    // SAFETY: `softmax_ce_loss(const float* z, const unsigned* labels, float* probs, float*
    // loss, float* dz, int N, int K)`: five buffers and two i32. One block; its threads take
    // rows n < N (labels: N values) and index z, probs, dz at n·K + j for j < K (N·K values
    // each) and loss at 0, all checked; a label is used as a column only when it is below K.
    unsafe {
        be.launch(K::SoftmaxCeLoss, per_block(op, 1)?, |lb| {
            lb.arg(z).arg(labels).arg(probs).arg(loss).arg(dz);
            lb.arg(&ni).arg(&ki);
        })
    }
}
