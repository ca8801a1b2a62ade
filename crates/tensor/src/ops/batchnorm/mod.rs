//! Batch normalisation over the batch axis of x: N×C (per feature c), with scale γ and shift
//! β of C values (the output module normalises the N distances: C = 1).
//!
//! Training ([`BnMode::Train`]): the batch statistics
//!   μ_c = (1/N) Σ_n x_nc,  σ²_c = (1/N) Σ_n (x_nc − μ_c)²  (biased, accumulated in f64),
//!   x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β,
//! and the running statistics r ← m·r + (1 − m)·batch for mean and variance (m = momentum,
//! 0.99 as Keras; PyTorch's `momentum=0.01` is this m = 0.99).
//! Evaluation ([`BnMode::Eval`]): the same affine map with the running statistics.
//!
//! Backward, with g = dy (sums over the batch in f64, fixed order):
//!   dγ = Σ_n dy·x̂,  dβ = Σ_n dy,
//!   training: dx = (γ/(N·√(σ²+ε)))·(N·dy − Σ_n dy − x̂·Σ_n dy·x̂)   (terms 1, 2, 3),
//!   evaluation (statistics are constants): dx = dy·γ/√(σ²+ε).
//!
//! Forward caches x̂ (N×C) and 1/√(σ²+ε) (C) for the backward pass. The CUDA twins are in
//! `batchnorm.cu` beside this file.

/// The CUDA twin of this folder's equations (`batchnorm.cu` beside this file), the fragment that
/// siamese-cuda gathers into its NVRTC program.
pub const CUDA_SOURCE: &str = include_str!("batchnorm.cu");

use crate::error::{check_len, shape_err, Result};

/// Which statistics [`batchnorm_forward`] normalises with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BnMode {
    /// The batch's own statistics; the running ones are updated as r ← m·r + (1 − m)·batch.
    Train { momentum: f32 },
    /// The running statistics, unchanged.
    Eval,
}

impl BnMode {
    /// Training mode with `momentum`, or evaluation mode.
    pub fn new(training: bool, momentum: f32) -> Self {
        if training {
            BnMode::Train { momentum }
        } else {
            BnMode::Eval
        }
    }
}

/// Buffers of one batch-norm call: x, y, x̂ hold N×C values; γ, β, the running statistics and
/// 1/√(σ²+ε) hold C.
fn check(
    op: &'static str, n: usize, c: usize, rows: &[(&str, usize)], cols: &[(&str, usize)],
) -> Result<()> {
    for &(what, len) in rows {
        check_len(op, what, len, n * c)?;
    }
    for &(what, len) in cols {
        check_len(op, what, len, c)?;
    }
    Ok(())
}

/// Batch-norm forward (see the module doc): writes y, the cache x̂ and inv_std = 1/√(σ²+ε),
/// and in training mode updates `running_mean`/`running_var`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(
    n: usize, c: usize, x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, mode: BnMode,
    running_mean: &mut [f32], running_var: &mut [f32], xhat: &mut [f32], inv_std: &mut [f32],
    y: &mut [f32],
) -> Result<()> {
    let op = "batchnorm_forward";
    check(
        op,
        n,
        c,
        &[("x", x.len()), ("x̂", xhat.len()), ("y", y.len())],
        &[
            ("γ", gamma.len()),
            ("β", beta.len()),
            ("running_mean", running_mean.len()),
            ("running_var", running_var.len()),
            ("inv_std", inv_std.len()),
        ],
    )?;
    for j in 0..c {
        let (mean, var) = match mode {
            BnMode::Train { momentum } => {
                if n == 0 {
                    return Err(shape_err(op, "training mode needs a batch"));
                }
                let mu = (0..n).map(|i| x[i * c + j] as f64).sum::<f64>() / n as f64;
                let s2 = (0..n)
                    .map(|i| (x[i * c + j] as f64 - mu).powi(2))
                    .sum::<f64>()
                    / n as f64;
                let (mu, s2) = (mu as f32, s2 as f32);
                running_mean[j] = momentum * running_mean[j] + (1.0 - momentum) * mu;
                running_var[j] = momentum * running_var[j] + (1.0 - momentum) * s2;
                (mu, s2)
            }
            BnMode::Eval => (running_mean[j], running_var[j]),
        };
        inv_std[j] = 1.0 / (var + eps).sqrt();
        for i in 0..n {
            let k = i * c + j;
            xhat[k] = (x[k] - mean) * inv_std[j];
            y[k] = gamma[j] * xhat[k] + beta[j];
        }
    }
    Ok(())
}

/// Batch-norm backward (see the module doc) from the forward's cache x̂ and inv_std: dγ and
/// dβ are overwritten; dx (when asked for) is overwritten with the training-mode formula
/// when `train`, else with dy·γ·inv_std.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    n: usize, c: usize, dy: &[f32], xhat: &[f32], inv_std: &[f32], gamma: &[f32], train: bool,
    dx: Option<&mut [f32]>, dgamma: &mut [f32], dbeta: &mut [f32],
) -> Result<()> {
    let op = "batchnorm_backward";
    let dx_len = dx.as_ref().map_or(n * c, |d| d.len());
    check(
        op,
        n,
        c,
        &[("dy", dy.len()), ("x̂", xhat.len()), ("dx", dx_len)],
        &[
            ("inv_std", inv_std.len()),
            ("γ", gamma.len()),
            ("dγ", dgamma.len()),
            ("dβ", dbeta.len()),
        ],
    )?;
    let mut dx = dx;
    for j in 0..c {
        let (mut sum_dy, mut sum_dy_xhat) = (0f64, 0f64);
        for i in 0..n {
            sum_dy += dy[i * c + j] as f64;
            sum_dy_xhat += dy[i * c + j] as f64 * xhat[i * c + j] as f64;
        }
        dgamma[j] = sum_dy_xhat as f32;
        dbeta[j] = sum_dy as f32;
        if let Some(dx) = dx.as_deref_mut() {
            let scale = gamma[j] as f64 * inv_std[j] as f64;
            for i in 0..n {
                let k = i * c + j;
                dx[k] = if train {
                    // (γ/(N√(σ²+ε)))·(N·dy − Σdy − x̂·Σdy·x̂): term 1, 2, 3
                    (scale / n as f64
                        * (n as f64 * dy[k] as f64 - sum_dy - xhat[k] as f64 * sum_dy_xhat))
                        as f32
                } else {
                    (scale * dy[k] as f64) as f32
                };
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
