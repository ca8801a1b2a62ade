//! Cross-entropy losses on the tape: softmax cross-entropy (the LeNet-5 baseline classifier)
//! and binary cross-entropy (the BCE reading of the output module). Each returns a scalar,
//! accumulated in f64.

use siamese_tensor::ops::elementwise as ew;
use siamese_tensor::Tensor;

use super::{zip_map, Tape, Var};
use crate::error::{shape_err, Result};

impl Tape {
    /// Softmax cross-entropy of logits z: N×K against class labels, averaged over the batch:
    /// L = (1/N) Σ_n [log Σ_k e^{z_nk} − z_{n,y_n}] (log-sum-exp shifted by the row max, so
    /// no overflow); backward: dz = dL·(softmax(z) − onehot(y))/N, softmax cached.
    pub fn softmax_cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Result<Var> {
        let zt = self.value(logits)?;
        if zt.rank() != 2 || zt.shape()[0] != labels.len() || zt.shape()[0] == 0 {
            return Err(shape_err(
                "softmax_cross_entropy",
                format!("logits {:?} for {} labels", zt.shape(), labels.len()),
            ));
        }
        let (n, k) = (zt.shape()[0], zt.shape()[1]);
        if let Some(&bad) = labels.iter().find(|&&l| l >= k) {
            return Err(shape_err(
                "softmax_cross_entropy",
                format!("label {bad} is not below the {k} classes"),
            ));
        }
        let mut probs = Tensor::zeros(&[n, k])?;
        let mut loss = 0f64;
        for (r, (row, prow)) in zt
            .data()
            .chunks_exact(k)
            .zip(probs.data_mut().chunks_exact_mut(k))
            .enumerate()
        {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut s = 0f64;
            for (p, &z) in prow.iter_mut().zip(row) {
                let e = ((z - max) as f64).exp();
                *p = e as f32;
                s += e;
            }
            prow.iter_mut().for_each(|p| *p = (*p as f64 / s) as f32);
            loss += s.ln() + max as f64 - row[labels[r]] as f64;
        }
        let y = Tensor::scalar((loss / n as f64) as f32);
        let labels = labels.to_vec();
        Ok(self.unary(logits, y, move |_, _, dy| {
            let s = dy.data()[0] / n as f32;
            let mut dz = ew::scale(&probs, s);
            for (r, &l) in labels.iter().enumerate() {
                dz.data_mut()[r * k + l] -= s;
            }
            Ok(dz)
        }))
    }

    /// Binary cross-entropy of probabilities p against targets y (same shape, y ∈ \[0, 1\]),
    /// with p clipped to [ε, 1−ε] as Keras does:
    /// L = −(1/n) Σ [y·ln p̃ + (1−y)·ln(1−p̃)], p̃ = clip(p, ε, 1−ε);
    /// backward: dp = −(dL/n)·(y/p̃ − (1−y)/(1−p̃)) inside the clip range, 0 outside.
    /// Keeps a copy of the targets for backward.
    pub fn binary_cross_entropy(&mut self, p: Var, y: &Tensor, eps: f32) -> Result<Var> {
        let pt = self.value(p)?;
        if pt.len() != y.len() || pt.is_empty() {
            return Err(shape_err(
                "binary_cross_entropy",
                format!("predictions {:?} vs targets {:?}", pt.shape(), y.shape()),
            ));
        }
        let mut loss = 0f64;
        for (&pv, &yv) in pt.data().iter().zip(y.data()) {
            let pc = pv.clamp(eps, 1.0 - eps) as f64;
            loss -= yv as f64 * pc.ln() + (1.0 - yv as f64) * (1.0 - pc).ln();
        }
        let out = Tensor::scalar((loss / pt.len() as f64) as f32);
        let target = y.clone();
        Ok(self.unary(p, out, move |pt, _, dy| {
            let s = dy.data()[0] / pt.len() as f32;
            Ok(zip_map(pt, &target, |pv, yv| {
                if pv <= eps || pv >= 1.0 - eps {
                    0.0
                } else {
                    -s * (yv / pv - (1.0 - yv) / (1.0 - pv))
                }
            }))
        }))
    }
}
