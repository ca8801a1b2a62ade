//! The comparison module: how close two embeddings are, one value per pair.
//!
//! Both take embeddings a, b: N×E (row n of a pairs with row n of b) and return an N-vector.
//! They are compositions of tape ops, so their backward is the chain of those ops' rules,
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
/// guarded: d_n = √max(Σ_i (a_ni − b_ni)², ε).
///
/// Backward: ∂d_n/∂a_ni = (a_ni − b_ni)/d_n = −∂d_n/∂b_ni where Σ² > ε, and 0 where the
/// guard is active. Without the guard two identical embeddings (d = 0) would get an infinite
/// (NaN) gradient; with it the smallest distance is √ε (3.2e-4 for Keras' ε = 1e-7).
pub fn euclidean(tape: &mut Tape, a: Var, b: Var, eps: f32) -> Result<Var> {
    check_pair(tape, a, b, "euclidean")?;
    let diff = tape.sub(a, b)?;
    let sq = tape.square(diff)?;
    let ss = tape.sum_axis(sq, 1)?;
    Ok(tape.sqrt(ss, eps)?)
}

/// Cosine similarity: c_n = ⟨a_n, b_n⟩ / √max(‖a_n‖²·‖b_n‖², ε) ∈ [−1, 1].
///
/// Backward (where the guard is inactive): ∂c/∂a = b/(‖a‖‖b‖) − c·a/‖a‖², symmetric in b.
pub fn cosine_similarity(tape: &mut Tape, a: Var, b: Var, eps: f32) -> Result<Var> {
    check_pair(tape, a, b, "cosine_similarity")?;
    let ab = tape.mul(a, b)?;
    let dot = tape.sum_axis(ab, 1)?;
    let a2 = tape.square(a)?;
    let na = tape.sum_axis(a2, 1)?;
    let b2 = tape.square(b)?;
    let nb = tape.sum_axis(b2, 1)?;
    let nn = tape.mul(na, nb)?;
    let den = tape.sqrt(nn, eps)?;
    Ok(tape.div(dot, den)?)
}
