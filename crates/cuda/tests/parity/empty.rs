//! Empty inputs: every op with a batch of N = 0 (no pairs, no rows, no planes, no values)
//! must give the CPU's answer: the same error, or the same (zero-filled or untouched)
//! outputs, without touching the device's kernels.

use siamese_tensor::backend::{AdamHyper, BResult, Backend, BnMode, ContrastiveReads, Conv2dGeom};
use siamese_tensor::CpuBackend;

/// The op's name and what it gave: its outputs, concatenated, or its error.
type Outcome = (&'static str, BResult<Vec<f32>>);

/// Each op at N = 0 on `be`. Outputs that are not empty (dw, db, dγ, dβ, the loss, C of a
/// k = 0 GEMM) start as 7.0, so "left stale" and "written as 0" differ.
fn outcomes<B: Backend>(be: &B) -> Vec<Outcome> {
    let stale = |n: usize| be.upload(&vec![7.0; n]);
    let mut out: Vec<Outcome> = Vec::new();
    out.push((
        "contrastive_loss",
        (|| {
            let (v, y) = (be.zeros(0)?, be.zeros(0)?);
            let (mut l, mut dv) = (stale(1)?, be.zeros(0)?);
            be.contrastive_loss(
                0,
                &v,
                &y,
                1.0,
                ContrastiveReads::Similarity,
                &mut l,
                &mut dv,
            )?;
            be.download(&l)
        })(),
    ));
    out.push((
        "bce_loss",
        (|| {
            let (p, y) = (be.zeros(0)?, be.zeros(0)?);
            let (mut l, mut dp) = (stale(1)?, be.zeros(0)?);
            be.bce_loss(0, &p, &y, 1e-7, &mut l, &mut dp)?;
            be.download(&l)
        })(),
    ));
    out.push((
        "softmax_ce_loss",
        (|| {
            let (z, labels) = (be.zeros(0)?, be.idx_zeros(0)?);
            let (mut p, mut l, mut dz) = (be.zeros(0)?, stale(1)?, be.zeros(0)?);
            be.softmax_ce_loss(0, 3, &z, &labels, &mut p, &mut l, &mut dz)?;
            be.download(&l)
        })(),
    ));
    for (name, mode) in [
        ("batchnorm_forward (train)", BnMode::Train { momentum: 0.9 }),
        ("batchnorm_forward (eval)", BnMode::Eval),
    ] {
        out.push((
            name,
            (|| {
                let (x, g, b) = (be.zeros(0)?, be.upload(&[1.0])?, be.zeros(1)?);
                let (mut rm, mut rv) = (be.upload(&[0.5])?, be.upload(&[2.0])?);
                let (mut xh, mut inv, mut y) = (be.zeros(0)?, stale(1)?, be.zeros(0)?);
                be.batchnorm_forward(
                    0, 1, &x, &g, &b, 1e-3, mode, &mut rm, &mut rv, &mut xh, &mut inv, &mut y,
                )?;
                Ok([be.download(&rm)?, be.download(&rv)?, be.download(&inv)?].concat())
            })(),
        ));
    }
    out.push((
        "batchnorm_backward",
        (|| {
            let (dy, xh, inv, g) = (
                be.zeros(0)?,
                be.zeros(0)?,
                be.upload(&[1.0])?,
                be.upload(&[1.0])?,
            );
            let (mut dx, mut dg, mut db) = (be.zeros(0)?, stale(1)?, stale(1)?);
            be.batchnorm_backward(0, 1, &dy, &xh, &inv, &g, &mut dx, &mut dg, &mut db)?;
            Ok([be.download(&dg)?, be.download(&db)?].concat())
        })(),
    ));
    out.push((
        "linear (m = 0)",
        (|| {
            let (x, w, b, dy) = (
                be.zeros(0)?,
                be.upload(&[0.5])?,
                be.upload(&[0.25])?,
                be.zeros(0)?,
            );
            let mut y = be.zeros(0)?;
            be.linear_forward(0, 1, 1, &x, &w, &b, &mut y)?;
            let (mut dx, mut dw, mut db) = (be.zeros(0)?, stale(1)?, stale(1)?);
            be.linear_backward(0, 1, 1, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db)?;
            Ok([be.download(&dw)?, be.download(&db)?].concat())
        })(),
    ));
    out.push((
        "gemm (k = 0, β = 0.5)",
        (|| {
            let (a, b, mut c) = (be.zeros(0)?, be.zeros(0)?, stale(6)?);
            be.gemm(false, false, 2, 3, 0, 1.0, &a, &b, 0.5, &mut c)?;
            be.download(&c)
        })(),
    ));
    out.push((
        "conv2d (N = 0)",
        (|| {
            let g = Conv2dGeom {
                n: 0,
                c: 1,
                h: 4,
                w: 4,
                k: 2,
                kh: 3,
                kw: 3,
                stride: 1,
                pad: 0,
            };
            let (x, w, b, dy) = (be.zeros(0)?, stale(18)?, stale(2)?, be.zeros(0)?);
            let mut y = be.zeros(0)?;
            be.conv2d_forward(&g, &x, &w, &b, &mut y)?;
            let (mut dx, mut dw, mut db) = (be.zeros(0)?, stale(18)?, stale(2)?);
            be.conv2d_backward(&g, &x, &w, &dy, Some(&mut dx), &mut dw, &mut db)?;
            Ok([be.download(&dw)?, be.download(&db)?].concat())
        })(),
    ));
    out.push((
        "pools (0 planes)",
        (|| {
            let (x, mut y, mut arg, mut dx) =
                (be.zeros(0)?, be.zeros(0)?, be.idx_zeros(0)?, be.zeros(0)?);
            be.max_pool2x2_forward(0, 4, 4, &x, &mut y, &mut arg)?;
            be.max_pool2x2_backward(0, 4, 4, &y, &arg, &mut dx)?;
            be.avg_pool2x2_forward(0, 4, 4, &x, &mut y)?;
            be.avg_pool2x2_backward(0, 4, 4, &y, &mut dx)?;
            be.download(&dx)
        })(),
    ));
    out.push((
        "distances (N = 0)",
        (|| {
            let (emb, d, dd) = (be.zeros(0)?, be.zeros(0)?, be.zeros(0)?);
            let (mut o, mut demb) = (be.zeros(0)?, be.zeros(0)?);
            be.euclidean_forward(0, 3, &emb, 1e-7, &mut o)?;
            be.euclidean_backward(0, 3, &emb, &d, &dd, 1e-7, &mut demb)?;
            be.cosine_forward(0, 3, &emb, 1e-7, &mut o)?;
            be.cosine_backward(0, 3, &emb, &dd, 1e-7, &mut demb)?;
            be.download(&demb)
        })(),
    ));
    out.push((
        "activations and adam (0 values)",
        (|| {
            let (mut x, mut dy) = (be.zeros(0)?, be.zeros(0)?);
            be.relu_inplace(&mut x)?;
            be.tanh_inplace(&mut x)?;
            be.sigmoid_inplace(&mut x)?;
            be.relu_backward_inplace(&x, &mut dy)?;
            be.tanh_backward_inplace(&x, &mut dy)?;
            be.sigmoid_backward_inplace(&x, &mut dy)?;
            let (g, mut m, mut v) = (be.zeros(0)?, be.zeros(0)?, be.zeros(0)?);
            let h = AdamHyper::at_step(1e-3, 0.9, 0.999, 1e-8, 1);
            be.adam_update(&h, &mut x, &g, &mut m, &mut v)?;
            be.download(&x)
        })(),
    ));
    out
}

/// Every op at N = 0 on `dev` against the CPU: both fail, or both give the same values
/// (bit for bit). The seed is unused (the cases are fixed).
pub fn empty<D: Backend>(dev: &D, _seed: u64) -> Result<f32, String> {
    for ((name, d), (_, c)) in outcomes(dev).into_iter().zip(outcomes(&CpuBackend)) {
        match (d, c) {
            (Err(_), Err(_)) => {}
            (Ok(d), Ok(c)) => {
                super::compare(name, &d, &c, super::Tol::Exact)?;
            }
            (Ok(d), Err(e)) => {
                return Err(format!(
                    "{name} with N = 0: the device gave {d:?}, the CPU: {e}"
                ))
            }
            (Err(e), Ok(c)) => {
                return Err(format!(
                    "{name} with N = 0: the device failed ({e}), the CPU gave {c:?}"
                ))
            }
        }
    }
    Ok(0.0)
}
