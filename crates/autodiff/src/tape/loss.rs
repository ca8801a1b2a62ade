//! Losses on the tape: the contrastive loss (both readings), binary cross-entropy, softmax
//! cross-entropy and the triplet loss. Each returns a scalar; forward and backward are `siamese_tensor::ops::loss`
//! (the formulas are there), the backward scaled by the upstream dL.

use siamese_tensor::ops::loss::{self, ContrastiveReads};
use siamese_tensor::ops::triplet::{self, Mining};
use siamese_tensor::Tensor;

use super::{Tape, Var};
use crate::error::{shape_err, Result};

/// The labels/targets must match the values one for one.
fn check_targets(op: &'static str, v: &Tensor, y: &Tensor) -> Result<()> {
    if v.len() != y.len() || v.is_empty() {
        return Err(shape_err(
            op,
            format!("values {:?} vs targets {:?}", v.shape(), y.shape()),
        ));
    }
    Ok(())
}

impl Tape {
    /// The contrastive loss with `margin` of the values v (one per pair) against labels y ∈
    /// \[0, 1\] (1 = same class), read as a similarity or a distance (`ops::loss`):
    /// Similarity L = (1/N) Σ [y·h² + (1−y)·v²], Distance L = (1/N) Σ [y·v² + (1−y)·h²],
    /// h = max(margin − v, 0); backward dv = dL·∂L/∂v. Keeps a copy of the labels.
    pub fn contrastive_loss(
        &mut self, v: Var, y: &Tensor, margin: f32, reads: ContrastiveReads,
    ) -> Result<Var> {
        let vt = self.value(v)?;
        check_targets("contrastive_loss", vt, y)?;
        let out = Tensor::scalar(loss::contrastive_forward(
            vt.data(),
            y.data(),
            margin,
            reads,
        )?);
        let target = y.clone();
        Ok(self.unary(v, out, move |vt, _, dl| {
            let mut dv = Tensor::zeros(vt.shape())?;
            let (vd, yd, dl) = (vt.data(), target.data(), dl.data()[0]);
            loss::contrastive_backward(vd, yd, margin, reads, dl, dv.data_mut())?;
            Ok(dv)
        }))
    }

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
        let labels: Vec<u32> = labels
            .iter()
            .map(|&l| l.min(u32::MAX as usize) as u32)
            .collect();
        let mut probs = vec![0f32; n * k];
        let l = loss::softmax_ce_forward(n, k, zt.data(), &labels, &mut probs)?;
        Ok(self.unary(logits, Tensor::scalar(l), move |_, _, dl| {
            let mut dz = Tensor::zeros(&[n, k])?;
            loss::softmax_ce_backward(n, k, &probs, &labels, dl.data()[0], dz.data_mut())?;
            Ok(dz)
        }))
    }

    /// Binary cross-entropy of probabilities p against targets y (same size, y ∈ \[0, 1\]),
    /// with p clipped to [ε, 1−ε] as Keras does:
    /// L = −(1/n) Σ [y·ln p̃ + (1−y)·ln(1−p̃)], p̃ = clip(p, ε, 1−ε);
    /// backward: dp = −(dL/n)·(y/p − (1−y)/(1−p)) inside the clip range, 0 outside.
    /// Keeps a copy of the targets for backward.
    pub fn binary_cross_entropy(&mut self, p: Var, y: &Tensor, eps: f32) -> Result<Var> {
        let pt = self.value(p)?;
        check_targets("binary_cross_entropy", pt, y)?;
        let out = Tensor::scalar(loss::bce_forward(pt.data(), y.data(), eps)?);
        let target = y.clone();
        Ok(self.unary(p, out, move |pt, _, dl| {
            let mut dp = Tensor::zeros(pt.shape())?;
            loss::bce_backward(pt.data(), target.data(), eps, dl.data()[0], dp.data_mut())?;
            Ok(dp)
        }))
    }

    /// The triplet loss of margin m over the rows of the M×E embeddings `e` with their
    /// `classes`, over the triplets `mining` chooses (`siamese_tensor::ops::triplet`):
    /// L = (1/T) Σ max(D_ap − D_an + m, 0), D the guarded Euclidean distance; backward holds
    /// the chosen triplets fixed. Keeps them and a copy of the classes.
    pub fn triplet_loss(
        &mut self, e: Var, classes: &[u32], margin: f32, mining: Mining, eps: f32,
    ) -> Result<Var> {
        let et = self.value(e)?;
        if et.rank() != 2 || et.shape()[0] != classes.len() {
            return Err(shape_err(
                "triplet_loss",
                format!("embeddings {:?} for {} classes", et.shape(), classes.len()),
            ));
        }
        let (m, width) = (et.shape()[0], et.shape()[1]);
        let (l, chosen) =
            triplet::triplet_forward(m, width, et.data(), classes, margin, mining, eps)?;
        let classes = classes.to_vec();
        Ok(self.unary(e, Tensor::scalar(l), move |et, _, dl| {
            let mut de = Tensor::zeros(&[m, width])?;
            let (ed, dl) = (et.data(), dl.data()[0]);
            triplet::triplet_backward(
                m,
                width,
                ed,
                &classes,
                &chosen,
                margin,
                eps,
                dl,
                de.data_mut(),
            )?;
            Ok(de)
        }))
    }
}
