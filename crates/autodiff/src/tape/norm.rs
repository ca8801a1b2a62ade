//! Batch normalisation on the tape (the output module's BatchNorm), training and eval mode.

use siamese_tensor::Tensor;

use super::{Tape, Var};
use crate::error::{shape_err, Result};

/// Batch statistics a training-mode batch norm computed, for the layer's running averages.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStats {
    /// Per-feature batch mean μ_c.
    pub mean: Vec<f32>,
    /// Per-feature biased batch variance σ²_c = (1/N) Σ_n (x_nc − μ_c)².
    pub var: Vec<f32>,
}

impl Tape {
    /// Batch normalisation over the batch axis of x: N×C, per feature c, with γ, β: C.
    ///
    /// Training mode (`running = None`): μ = (1/N) Σ_n x, σ² = (1/N) Σ_n (x − μ)² (biased),
    /// x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β; backward, with g = dy·γ:
    /// dx = (1/(N·√(σ²+ε)))·(N·g − Σ_n g − x̂·Σ_n g·x̂) (term 1, 2, 3),
    /// dγ = Σ_n dy·x̂, dβ = Σ_n dy. Returns the batch statistics for the running averages.
    ///
    /// Eval mode (`running = Some((mean, var))`): the same affine map with the running
    /// statistics, which are constants: dx = dy·γ/√(var+ε), dγ = Σ dy·x̂, dβ = Σ dy.
    ///
    /// Caches x̂ and 1/√(σ²+ε) per feature for backward.
    pub fn batch_norm(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        eps: f32,
        running: Option<(&[f32], &[f32])>,
    ) -> Result<(Var, Option<BatchStats>)> {
        let (xt, gt, bt) = (self.value(x)?, self.value(gamma)?, self.value(beta)?);
        if xt.rank() != 2 || gt.len() != xt.shape()[1] || bt.len() != xt.shape()[1] {
            return Err(shape_err(
                "batch_norm",
                format!(
                    "input {:?} must be N×C with γ ({}) and β ({}) of C values",
                    xt.shape(),
                    gt.len(),
                    bt.len()
                ),
            ));
        }
        let (n, c) = (xt.shape()[0], xt.shape()[1]);
        let d = xt.data();
        let (mean, var, stats) = match running {
            Some((m, v)) => {
                if m.len() != c || v.len() != c {
                    return Err(shape_err(
                        "batch_norm",
                        "running statistics must have C values",
                    ));
                }
                (m.to_vec(), v.to_vec(), None)
            }
            None => {
                if n == 0 {
                    return Err(shape_err("batch_norm", "training mode needs a batch"));
                }
                let mut mean = vec![0f32; c];
                let mut var = vec![0f32; c];
                for j in 0..c {
                    let mu = (0..n).map(|i| d[i * c + j] as f64).sum::<f64>() / n as f64;
                    let s2 = (0..n)
                        .map(|i| (d[i * c + j] as f64 - mu).powi(2))
                        .sum::<f64>()
                        / n as f64;
                    mean[j] = mu as f32;
                    var[j] = s2 as f32;
                }
                let stats = BatchStats {
                    mean: mean.clone(),
                    var: var.clone(),
                };
                (mean, var, Some(stats))
            }
        };
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        let mut xhat = Tensor::zeros(&[n, c])?;
        let mut y = Tensor::zeros(&[n, c])?;
        for i in 0..n {
            for j in 0..c {
                let h = (d[i * c + j] - mean[j]) * inv_std[j];
                xhat.data_mut()[i * c + j] = h;
                y.data_mut()[i * c + j] = gt.data()[j] * h + bt.data()[j];
            }
        }
        let train = running.is_none();
        let v = self.push(y, &[x, gamma, beta], move |g, _, dy| {
            let (dyd, xh, gam) = (dy.data(), xhat.data(), g.value(gamma).data());
            // per feature: Σ_n dy, Σ_n dy·x̂ (f64, fixed order)
            let mut sum_dy = vec![0f64; c];
            let mut sum_dy_xhat = vec![0f64; c];
            for r in 0..n {
                for j in 0..c {
                    sum_dy[j] += dyd[r * c + j] as f64;
                    sum_dy_xhat[j] += dyd[r * c + j] as f64 * xh[r * c + j] as f64;
                }
            }
            if g.needs(x) {
                let mut dx = Tensor::zeros(&[n, c])?;
                let dd = dx.data_mut();
                for r in 0..n {
                    for j in 0..c {
                        let k = r * c + j;
                        let scale = gam[j] as f64 * inv_std[j] as f64;
                        dd[k] = if train {
                            // (γ/(N√(σ²+ε)))·(N·dy − Σdy − x̂·Σdy·x̂): term 1, 2, 3
                            (scale / n as f64
                                * (n as f64 * dyd[k] as f64
                                    - sum_dy[j]
                                    - xh[k] as f64 * sum_dy_xhat[j]))
                                as f32
                        } else {
                            (scale * dyd[k] as f64) as f32
                        };
                    }
                }
                g.add(x, dx);
            }
            let to_t =
                |v: Vec<f64>| Tensor::from_vec(&[c], v.into_iter().map(|x| x as f32).collect());
            g.add(gamma, to_t(sum_dy_xhat)?);
            g.add(beta, to_t(sum_dy)?);
            Ok(())
        });
        Ok((v, stats))
    }
}
