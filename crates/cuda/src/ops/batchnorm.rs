//! Launches of `ops/batchnorm/batchnorm.cu`: batch normalisation over x: N×C (one block per
//! feature) and its training-mode backward.

use cudarc::driver::PushKernelArg;
use siamese_tensor::backend::{check_lens, BResult, BnMode};

use super::Buf;
use crate::launch::{ints, per_block, shape_err};
use crate::sources::K;
use crate::CudaBackend;

/// Checks the N×C buffers `rows` and the C-value buffers `cols`; returns (N, C) as ints.
fn check(
    op: &'static str, (n, c): (usize, usize), rows: &[(&str, &Buf)], cols: &[(&str, &Buf)],
) -> BResult<[i32; 2]> {
    let lens: Vec<_> = rows
        .iter()
        .map(|(what, b)| (*what, b.len(), n * c))
        .chain(cols.iter().map(|(what, b)| (*what, b.len(), c)))
        .collect();
    check_lens(op, &lens)?;
    ints(op, [n, c])
}

/// The buffers of one batch-norm forward: the running statistics it reads (and, in
/// training, updates) and the cache it writes for the backward pass.
pub(crate) struct BnState<'a> {
    pub(crate) running_mean: &'a mut Buf,
    pub(crate) running_var: &'a mut Buf,
    pub(crate) xhat: &'a mut Buf,
    pub(crate) inv_std: &'a mut Buf,
}

/// [`siamese_tensor::ops::batchnorm::batchnorm_forward`]: y = γ·x̂ + β with the batch's
/// statistics (training, which also moves the running ones) or the running ones.
pub(crate) fn forward(
    be: &CudaBackend, (n, c): (usize, usize), (x, gamma, beta): (&Buf, &Buf, &Buf),
    (eps, mode): (f32, BnMode), st: BnState<'_>, y: &mut Buf,
) -> BResult<()> {
    let op = "batchnorm_forward";
    let [ni, ci] = check(
        op,
        (n, c),
        &[("x", x), ("x̂", &*st.xhat), ("y", &*y)],
        &[
            ("γ", gamma),
            ("β", beta),
            ("running_mean", &*st.running_mean),
            ("running_var", &*st.running_var),
            ("inv_std", &*st.inv_std),
        ],
    )?;
    let (train, momentum) = match mode {
        BnMode::Train { .. } if n == 0 => return Err(shape_err(op, "training mode needs a batch")),
        BnMode::Train { momentum } => (1i32, momentum),
        BnMode::Eval => (0i32, 0.0f32),
    };
    if c == 0 {
        return Ok(());
    }
    let cfg = per_block(op, c)?;
    // SAFETY: `batchnorm_forward(const float* x, gamma, beta, float* running_mean,
    // running_var, xhat, inv_std, y, int N, int C, int train, float momentum, float eps)`:
    // eight buffers, three i32, two f32, in order. One block per feature c < C (= the length
    // of γ, β, the running statistics and inv_std, checked); its threads index x, x̂ and y at
    // n·C + c for n < N, inside their N·C values (checked).
    unsafe {
        be.launch(K::BatchnormForward, cfg, |lb| {
            lb.arg(x).arg(gamma).arg(beta);
            lb.arg(st.running_mean).arg(st.running_var);
            lb.arg(st.xhat).arg(st.inv_std).arg(y);
            lb.arg(&ni).arg(&ci).arg(&train).arg(&momentum).arg(&eps);
        })
    }
}

/// [`siamese_tensor::ops::batchnorm::batchnorm_backward`] in training mode: dx, dγ, dβ.
pub(crate) fn backward(
    be: &CudaBackend, (n, c): (usize, usize), (dy, xhat, inv_std, gamma): (&Buf, &Buf, &Buf, &Buf),
    (dx, dgamma, dbeta): (&mut Buf, &mut Buf, &mut Buf),
) -> BResult<()> {
    let op = "batchnorm_backward";
    let [ni, ci] = check(
        op,
        (n, c),
        &[("dy", dy), ("x̂", xhat), ("dx", &*dx)],
        &[
            ("inv_std", inv_std),
            ("γ", gamma),
            ("dγ", &*dgamma),
            ("dβ", &*dbeta),
        ],
    )?;
    if c == 0 {
        return Ok(());
    }
    let cfg = per_block(op, c)?;
    // SAFETY: `batchnorm_backward(const float* dy, xhat, inv_std, gamma, float* dx, dgamma,
    // dbeta, int N, int C)`: seven buffers and two i32, in order. One block per feature c < C
    // (= the length of inv_std, γ, dγ, dβ, checked); its threads index dy, x̂ and dx at
    // n·C + c for n < N, inside their N·C values (checked).
    unsafe {
        be.launch(K::BatchnormBackward, cfg, |lb| {
            lb.arg(dy).arg(xhat).arg(inv_std).arg(gamma);
            lb.arg(dx).arg(dgamma).arg(dbeta).arg(&ni).arg(&ci);
        })
    }
}
