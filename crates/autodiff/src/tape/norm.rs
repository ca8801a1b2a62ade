//! Batch normalisation on the tape (the output module's BatchNorm), training and eval mode:
//! forward and backward are `siamese_tensor::ops::batchnorm` (the formulas are there).

use siamese_tensor::ops::batchnorm::{batchnorm_backward, batchnorm_forward, BnMode};
use siamese_tensor::Tensor;

use super::{Tape, Var};
use crate::error::{shape_err, Result};

impl Tape {
    /// Batch normalisation over the batch axis of x: N×C, per feature c, with γ, β: C, as
    /// `ops::batchnorm::batchnorm_forward`: x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β, with the
    /// batch's statistics in [`BnMode::Train`] (which also updates `running_mean` and
    /// `running_var`: r ← m·r + (1 − m)·batch) or the running ones in [`BnMode::Eval`].
    /// Backward (`ops::batchnorm::batchnorm_backward`): dγ = Σ dy·x̂, dβ = Σ dy, and
    /// dx = (γ/(N√(σ²+ε)))·(N·dy − Σdy − x̂·Σdy·x̂) in training mode, dy·γ/√(σ²+ε) in eval
    /// mode (the statistics are constants there). Caches x̂ and 1/√(σ²+ε).
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &mut self, x: Var, gamma: Var, beta: Var, eps: f32, mode: BnMode, running_mean: &mut [f32],
        running_var: &mut [f32],
    ) -> Result<Var> {
        let (xt, gt, bt) = (self.value(x)?, self.value(gamma)?, self.value(beta)?);
        if xt.rank() != 2 {
            return Err(shape_err(
                "batch_norm",
                format!("input {:?} must be N×C", xt.shape()),
            ));
        }
        let (n, c) = (xt.shape()[0], xt.shape()[1]);
        let mut xhat = vec![0f32; n * c];
        let mut inv_std = vec![0f32; c];
        let mut y = Tensor::zeros(&[n, c])?;
        batchnorm_forward(
            n,
            c,
            xt.data(),
            gt.data(),
            bt.data(),
            eps,
            mode,
            running_mean,
            running_var,
            &mut xhat,
            &mut inv_std,
            y.data_mut(),
        )?;
        let train = mode != BnMode::Eval;
        Ok(self.push(y, &[x, gamma, beta], move |g, _, dy| {
            let mut dx = g.needs(x).then(|| Tensor::zeros(&[n, c])).transpose()?;
            let (mut dgamma, mut dbeta) = (Tensor::zeros(&[c])?, Tensor::zeros(&[c])?);
            batchnorm_backward(
                n,
                c,
                dy.data(),
                &xhat,
                &inv_std,
                g.value(gamma).data(),
                train,
                dx.as_mut().map(|t| t.data_mut()),
                dgamma.data_mut(),
                dbeta.data_mut(),
            )?;
            if let Some(dx) = dx {
                g.add(x, dx);
            }
            g.add(gamma, dgamma.reshape(g.value(gamma).shape())?);
            g.add(beta, dbeta.reshape(g.value(beta).shape())?);
            Ok(())
        }))
    }
}
