//! Test helpers of the op folders: seeded inputs and a finite-difference check of a backward
//! function against central differences of its forward.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `len` values uniform in [lo, hi), from `seed`.
pub fn uniform(len: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| r.gen_range(lo..hi)).collect()
}

/// Central differences (f(x + h·e_i) − f(x − h·e_i))/(2h) of a scalar function of `x`, one per
/// element, evaluated in f64 from an f32 forward.
pub fn numeric_grad(x: &[f32], h: f32, mut f: impl FnMut(&[f32]) -> f64) -> Vec<f32> {
    let mut xs = x.to_vec();
    (0..x.len())
        .map(|i| {
            xs[i] = x[i] + h;
            let up = f(&xs);
            xs[i] = x[i] - h;
            let down = f(&xs);
            xs[i] = x[i];
            ((up - down) / (2.0 * h as f64)) as f32
        })
        .collect()
}

/// Asserts |got − want| ≤ atol + rtol·|want| element-wise, naming `what` and the index.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32, atol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}[{i}]: analytic {g} vs numeric {w}"
        );
    }
}

/// Σ_i w_i·v_i in f64: projects an op's output to a scalar with distinct upstream weights.
pub fn dot(w: &[f32], v: &[f32]) -> f64 {
    w.iter().zip(v).map(|(&a, &b)| a as f64 * b as f64).sum()
}
