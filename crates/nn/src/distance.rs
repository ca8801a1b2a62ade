//! The comparison module: how close two embeddings are, one value per pair.
//!
//! Both take embeddings a, b: N×E (row n of a pairs with row n of b) and return an N-vector.
//! Each is one tape op whose forward and backward are `siamese_tensor::ops::distance`,
//! checked by finite differences in the tests.

use siamese_autodiff::{Tape, Var};

use crate::error::{invalid, Result};

/// Keras' `backend.epsilon()`, the guard of its Euclidean distance: 1e-7.
pub const KERAS_EPSILON: f32 = 1e-7;

fn check_pair(tape: &Tape, a: Var, b: Var, what: &'static str) -> Result<()> {
    let (sa, sb) = (tape.value(a)?.shape(), tape.value(b)?.shape());
    if sa.len() != 2 || sa != sb {
        return Err(invalid(
            what,
            format!("embeddings must both be N×E, got {sa:?} and {sb:?}"),
        ));
    }
    Ok(())
}

/// Euclidean distance, the paper's d(x, y) = √(Σ_i (x_i − y_i)²), with the square root
/// guarded: d_n = √max(Σ_i (a_ni − b_ni)², ε) (`Tape::euclidean`, whose arithmetic is
/// `siamese_tensor::ops::distance`).
///
/// Backward: ∂d_n/∂a_ni = (a_ni − b_ni)/d_n = −∂d_n/∂b_ni where Σ² > ε, and 0 where the
/// guard is active. Without the guard two identical embeddings (d = 0) would get an infinite
/// (NaN) gradient; with it the smallest distance is √ε (3.2e-4 for Keras' ε = 1e-7).
pub fn euclidean(tape: &mut Tape, a: Var, b: Var, eps: f32) -> Result<Var> {
    check_pair(tape, a, b, "euclidean")?;
    Ok(tape.euclidean(a, b, eps)?)
}

/// Cosine similarity: c_n = ⟨a_n, b_n⟩ / √max(‖a_n‖²·‖b_n‖², ε) ∈ [−1, 1]
/// (`Tape::cosine_similarity`, arithmetic in `siamese_tensor::ops::distance`).
///
/// Backward (where the guard is inactive): ∂c/∂a = b/(‖a‖‖b‖) − c·a/‖a‖², symmetric in b.
pub fn cosine_similarity(tape: &mut Tape, a: Var, b: Var, eps: f32) -> Result<Var> {
    check_pair(tape, a, b, "cosine_similarity")?;
    Ok(tape.cosine_similarity(a, b, eps)?)
}

/// Unit-length rows: ê_n = e_n/√max(‖e_n‖², ε) of N×E embeddings (`Tape::unit_rows`,
/// arithmetic in `siamese_tensor::ops::distance`): what the triplet loss compares when the
/// comparison module is the cosine similarity, since ‖ê_a − ê_b‖ = √(2 − 2·cos(a, b)).
///
/// Backward: ∂/∂e_n = (g_n − ê_n·⟨ê_n, g_n⟩)/‖e_n‖ (g_n the gradient at ê_n).
pub fn unit_rows(tape: &mut Tape, e: Var, eps: f32) -> Result<Var> {
    Ok(tape.unit_rows(e, eps)?)
}
