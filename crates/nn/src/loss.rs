//! Losses: the paper's contrastive loss (and Hadsell's distance form of it), binary
//! cross-entropy, softmax cross-entropy for the plain LeNet-5 classifier, and the triplet loss
//! with its mining (metric learning, for classes the network never saw).
//!
//! Labels: y = 1 for a pair of the same class, y = 0 for a pair of different classes, in every
//! function here. docs/equations.md explains how the paper's wording maps onto this.

use siamese_autodiff::{Tape, Var};
use siamese_tensor::Tensor;

use crate::error::{invalid, Result};

/// What the value fed to [`contrastive_loss`] means (see `siamese_tensor::ops::loss`).
pub use siamese_tensor::ops::loss::ContrastiveReads;
/// Which triplets of a batch the triplet loss is taken over (see `siamese_tensor::ops::triplet`).
pub use siamese_tensor::ops::triplet::Mining;

/// Reads a value that must hold one number per pair: shape [N] or [N, 1].
fn per_pair(tape: &mut Tape, v: Var, n: usize, what: &'static str) -> Result<Var> {
    let shape = tape.value(v)?.shape().to_vec();
    match shape[..] {
        [m] if m == n => Ok(v),
        [m, 1] if m == n => Ok(tape.reshape(v, &[n])?),
        _ => Err(invalid(
            what,
            format!("value of shape {shape:?} for {n} labels (need [N] or [N, 1])"),
        )),
    }
}

fn check_labels(y: &Tensor, what: &'static str) -> Result<usize> {
    if y.rank() != 1 || y.is_empty() {
        return Err(invalid(
            what,
            format!("labels must be a non-empty vector, got {:?}", y.shape()),
        ));
    }
    if let Some(bad) = y.data().iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(invalid(what, format!("label {bad} is outside [0, 1]")));
    }
    Ok(y.len())
}

/// The contrastive loss, margin `margin` (the paper uses 1), averaged over the N pairs; `reads`
/// states whether `value` is a similarity or a distance (see [`ContrastiveReads`]). One tape
/// op, `Tape::contrastive_loss`, whose arithmetic is `siamese_tensor::ops::loss`.
///
/// With h = max(margin − v, 0): Similarity L = mean(y·h² + (1−y)·v²), Distance
/// L = mean(y·v² + (1−y)·h²). Backward per pair (times 1/N):
/// ∂/∂v [y·h²] = −2y·h, ∂/∂v [(1−y)·v²] = 2(1−y)·v (and symmetrically for Distance).
/// `value` is \[N\] or [N, 1]; `y` holds N labels in [0, 1], 1 = same class.
pub fn contrastive_loss(
    tape: &mut Tape, value: Var, y: &Tensor, margin: f32, reads: ContrastiveReads,
) -> Result<Var> {
    let n = check_labels(y, "contrastive_loss")?;
    let v = per_pair(tape, value, n, "contrastive_loss")?;
    Ok(tape.contrastive_loss(v, y, margin, reads)?)
}

/// Binary cross-entropy of probabilities p (\[N\] or [N, 1]) against labels y ∈ [0, 1]:
/// L = −(1/N) Σ [y·ln p̃ + (1−y)·ln(1−p̃)], p̃ = clip(p, ε, 1−ε) (Keras clips with ε = 1e-7);
/// backward dp = −(1/N)(y/p̃ − (1−y)/(1−p̃)), 0 where clipped.
pub fn binary_cross_entropy(tape: &mut Tape, p: Var, y: &Tensor, eps: f32) -> Result<Var> {
    let n = check_labels(y, "binary_cross_entropy")?;
    let p = per_pair(tape, p, n, "binary_cross_entropy")?;
    Ok(tape.binary_cross_entropy(p, y, eps)?)
}

/// Softmax cross-entropy of logits N×K against class indices (log-sum-exp stabilised):
/// L = (1/N) Σ_n [log Σ_k e^{z_nk} − z_{n,label_n}]; backward dz = (softmax(z) − onehot)/N.
pub fn softmax_cross_entropy(tape: &mut Tape, logits: Var, labels: &[usize]) -> Result<Var> {
    Ok(tape.softmax_cross_entropy(logits, labels)?)
}

/// The triplet loss of margin m over the M embeddings `e` (M×E) of one batch with their
/// `classes`: L = (1/T) Σ_{(a,p,n)} max(D_ap − D_an + m, 0) over the T triplets (a, p of one
/// class, n of another) that `mining` chooses — every one, per anchor the hardest
/// (batch-hard), or per positive pair the nearest negative beyond it (semi-hard) — with
/// D_ij = √max(‖e_i − e_j‖², ε). One tape op, `Tape::triplet_loss`, whose arithmetic (and the
/// backward, which holds the choice fixed) is `siamese_tensor::ops::triplet`. A batch with no
/// valid triplet costs 0.
pub fn triplet_loss(
    tape: &mut Tape, e: Var, classes: &[u32], margin: f32, mining: Mining, eps: f32,
) -> Result<Var> {
    if !(margin > 0.0 && margin.is_finite()) {
        return Err(invalid(
            "triplet_loss",
            format!("margin {margin} must be > 0"),
        ));
    }
    Ok(tape.triplet_loss(e, classes, margin, mining, eps)?)
}
