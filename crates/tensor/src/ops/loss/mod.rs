//! The losses, each averaged over the batch, with its gradient beside it. Labels: y = 1 for a
//! pair of the same class, y = 0 for a pair of different classes, in every function here
//! (docs/equations.md explains how the paper's wording maps onto this).
//!
//! Contrastive loss with margin m (the paper uses 1), on one value v per pair, h = max(m − v, 0):
//!   [`ContrastiveReads::Similarity`] (the paper; v = s, the output module's similarity):
//!     L = (1/N) Σ [ y·h² + (1 − y)·v² ],  ∂L/∂v = (−2y·h + 2(1 − y)·v)/N;
//!   [`ContrastiveReads::Distance`] (Hadsell, Chopra & LeCun 2006; v = D, a distance):
//!     L = (1/N) Σ [ y·v² + (1 − y)·h² ],  ∂L/∂v = (2y·v − 2(1 − y)·h)/N.
//! Binary cross-entropy on probabilities p, clipped as Keras does (p̃ = clip(p, ε, 1 − ε)):
//!   L = −(1/N) Σ [ y·ln p̃ + (1 − y)·ln(1 − p̃) ],
//!   ∂L/∂p = −(1/N)·(y/p − (1 − y)/(1 − p)) inside the clip range, 0 outside.
//! Softmax cross-entropy of logits z: N×K against class indices (log-sum-exp shifted by the
//! row maximum, so no overflow):
//!   L = (1/N) Σ_n [ log Σ_k e^{z_nk} − z_{n,label_n} ],  ∂L/∂z = (softmax(z) − onehot)/N.
//!
//! Each forward returns L (summed in f64); each backward takes the upstream dL (1 for a loss
//! that is the objective) and overwrites the gradient. The CUDA twins are in `loss.cu`.

/// The CUDA twin of this folder's equations (`loss.cu` beside this file), the fragment that
/// siamese-cuda gathers into its NVRTC program.
pub const CUDA_SOURCE: &str = include_str!("loss.cu");

use crate::error::{shape_err, Result};

/// What the value fed to the contrastive loss means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContrastiveReads {
    /// A similarity s ∈ [0, 1] (the sigmoid output module of the paper): same-class pairs are
    /// pushed to s ≥ margin, different-class pairs to s = 0.
    Similarity,
    /// A raw distance D ≥ 0 (Hadsell et al.): same-class pairs are pulled to D = 0,
    /// different-class pairs pushed beyond the margin.
    Distance,
}

/// Errors unless v and y hold the same (non-zero) number of values and every y is in [0, 1].
fn check_pairs(op: &'static str, v: &[f32], y: &[f32], grad: Option<usize>) -> Result<()> {
    if v.len() != y.len() || v.is_empty() || grad.is_some_and(|g| g != v.len()) {
        return Err(shape_err(
            op,
            format!(
                "{} values for {} labels (gradient {grad:?}); need the same non-zero count",
                v.len(),
                y.len()
            ),
        ));
    }
    if let Some(bad) = y.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(shape_err(op, format!("label {bad} is outside [0, 1]")));
    }
    Ok(())
}

/// The contrastive loss L of `reads` on v against labels y (see the module doc).
pub fn contrastive_forward(
    v: &[f32], y: &[f32], margin: f32, reads: ContrastiveReads,
) -> Result<f32> {
    check_pairs("contrastive_forward", v, y, None)?;
    let total: f64 = v
        .iter()
        .zip(y)
        .map(|(&v, &y)| {
            let h = (margin - v).max(0.0);
            let (pull, push) = match reads {
                ContrastiveReads::Similarity => (h * h, v * v),
                ContrastiveReads::Distance => (v * v, h * h),
            };
            (y * pull + (1.0 - y) * push) as f64
        })
        .sum();
    Ok((total / v.len() as f64) as f32)
}

/// dv = dl·∂L/∂v of the contrastive loss (see the module doc).
pub fn contrastive_backward(
    v: &[f32], y: &[f32], margin: f32, reads: ContrastiveReads, dl: f32, dv: &mut [f32],
) -> Result<()> {
    check_pairs("contrastive_backward", v, y, Some(dv.len()))?;
    let k = dl / v.len() as f32;
    for ((g, &v), &y) in dv.iter_mut().zip(v).zip(y) {
        let h = (margin - v).max(0.0);
        *g = k * match reads {
            ContrastiveReads::Similarity => -2.0 * y * h + 2.0 * (1.0 - y) * v,
            ContrastiveReads::Distance => 2.0 * y * v - 2.0 * (1.0 - y) * h,
        };
    }
    Ok(())
}

/// Binary cross-entropy L of probabilities p against labels y, p clipped to [ε, 1 − ε].
pub fn bce_forward(p: &[f32], y: &[f32], eps: f32) -> Result<f32> {
    check_pairs("bce_forward", p, y, None)?;
    let total: f64 = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| {
            let pc = p.clamp(eps, 1.0 - eps) as f64;
            -(y as f64 * pc.ln() + (1.0 - y as f64) * (1.0 - pc).ln())
        })
        .sum();
    Ok((total / p.len() as f64) as f32)
}

/// dp = dl·∂L/∂p of the binary cross-entropy: 0 where p is clipped.
pub fn bce_backward(p: &[f32], y: &[f32], eps: f32, dl: f32, dp: &mut [f32]) -> Result<()> {
    check_pairs("bce_backward", p, y, Some(dp.len()))?;
    let k = dl / p.len() as f32;
    for ((g, &p), &y) in dp.iter_mut().zip(p).zip(y) {
        *g = if p <= eps || p >= 1.0 - eps {
            0.0
        } else {
            -k * (y / p - (1.0 - y) / (1.0 - p))
        };
    }
    Ok(())
}

/// softmax(z)_c = e^{z_c − max z} / Σ_k e^{z_k − max z} of one row of logits into `p` (the
/// row maximum subtracted, so no exponential overflows); returns (max z, Σ_k e^{z_k − max z}).
fn softmax_row(row: &[f32], p: &mut [f32]) -> (f32, f64) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0f64;
    for (p, &z) in p.iter_mut().zip(row) {
        let e = ((z - max) as f64).exp();
        *p = e as f32;
        s += e;
    }
    p.iter_mut().for_each(|p| *p = (*p as f64 / s) as f32);
    (max, s)
}

/// softmax of each row of N×K logits z into `probs` (N×K): the class probabilities of the
/// softmax cross-entropy, for the classifier's predictions.
pub fn softmax_forward(n: usize, k: usize, z: &[f32], probs: &mut [f32]) -> Result<()> {
    if n == 0 || k == 0 || z.len() != n * k || probs.len() != n * k {
        return Err(shape_err(
            "softmax_forward",
            format!(
                "logits of {} values and output of {} for N×K = {n}×{k} (N, K ≥ 1)",
                z.len(),
                probs.len()
            ),
        ));
    }
    for (row, prow) in z.chunks_exact(k).zip(probs.chunks_exact_mut(k)) {
        softmax_row(row, prow);
    }
    Ok(())
}

/// Softmax cross-entropy L of logits z (N×K) against `labels`; writes softmax(z) into
/// `probs` (N×K) for the backward pass.
pub fn softmax_ce_forward(
    n: usize, k: usize, z: &[f32], labels: &[u32], probs: &mut [f32],
) -> Result<f32> {
    check_classes("softmax_ce_forward", n, k, z.len(), labels, probs.len())?;
    let mut loss = 0f64;
    for ((row, prow), &label) in z.chunks_exact(k).zip(probs.chunks_exact_mut(k)).zip(labels) {
        let (max, s) = softmax_row(row, prow);
        loss += s.ln() + max as f64 - row[label as usize] as f64;
    }
    Ok((loss / n as f64) as f32)
}

/// dz = dl·(softmax(z) − onehot(label))/N from the forward's `probs`.
pub fn softmax_ce_backward(
    n: usize, k: usize, probs: &[f32], labels: &[u32], dl: f32, dz: &mut [f32],
) -> Result<()> {
    check_classes("softmax_ce_backward", n, k, probs.len(), labels, dz.len())?;
    let s = dl / n as f32;
    for ((g, &p), i) in dz.iter_mut().zip(probs).zip(0..) {
        *g = p * s;
        if labels[i / k] as usize == i % k {
            *g -= s;
        }
    }
    Ok(())
}

/// Errors unless z and the output hold N×K values for N labels, each below K.
fn check_classes(
    op: &'static str, n: usize, k: usize, z: usize, labels: &[u32], out: usize,
) -> Result<()> {
    if n == 0 || k == 0 || z != n * k || out != n * k || labels.len() != n {
        return Err(shape_err(
            op,
            format!("logits of {z} values and output of {out} for {} labels; need N×K = {n}×{k} (N, K ≥ 1)", labels.len()),
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= k) {
        return Err(shape_err(
            op,
            format!("label {bad} is not below the {k} classes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
