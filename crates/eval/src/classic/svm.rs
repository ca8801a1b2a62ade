//! A linear support vector machine trained by dual coordinate descent (Hsieh, Chang, Lin,
//! Keerthi and Sundararajan, ICML 2008, the method of LIBLINEAR), one-vs-rest for many
//! classes.
//!
//! **Primal** (L1-loss SVM), with the bias as a last feature fixed at 1 (x̃ = [x, 1], so the
//! bias is regularised, as LIBLINEAR's `-B 1`):
//! min_w ½‖w‖² + C·Σ_i max(0, 1 − y_i·w·x̃_i), y_i ∈ {−1, +1}.
//!
//! **Dual**: min_α ½·αᵀQα − Σ_i α_i subject to 0 ≤ α_i ≤ C, Q_ij = y_i·y_j·x̃_i·x̃_j, with
//! w = Σ_i α_i·y_i·x̃_i kept up to date. One coordinate step on i: the gradient
//! G = y_i·w·x̃_i − 1; its projection PG = min(G, 0) when α_i = 0, max(G, 0) when α_i = C, else
//! G; when PG ≠ 0, α_i ← min(max(α_i − G/Q_ii, 0), C) and w ← w + (Δα_i)·y_i·x̃_i. An epoch
//! visits every i once in a seeded random order; training stops after `epochs` epochs or when
//! the largest |PG| of an epoch falls below `tol`.
//!
//! **One-vs-rest**: one binary machine per class (that class +1, every other −1), trained in
//! parallel; a row gets the class whose machine gives the largest w·x̃.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use siamese_data::Label;

use siamese_model::error::{ModelError, Result};

/// Training settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SvmParams {
    /// The cost C of a margin violation.
    pub c: f32,
    /// Most epochs.
    pub epochs: usize,
    /// Stop when the largest projected gradient of an epoch is below this.
    pub tol: f32,
    pub seed: u64,
}

/// The SVM's cost C unless told otherwise (`siamese classic --svm-c`).
pub const DEFAULT_C: f32 = 1.0;
/// The most epochs of dual coordinate descent unless told otherwise (`--svm-epochs`).
pub const DEFAULT_EPOCHS: usize = 20;
/// The most epochs accepted (`--svm-epochs`): 10,000.
pub const MAX_EPOCHS: usize = 10_000;
/// The largest cost accepted (`--svm-c`, which must also be finite and positive): 10^6.
pub const MAX_C: f32 = 1e6;

impl Default for SvmParams {
    /// C = [`DEFAULT_C`] (1), at most [`DEFAULT_EPOCHS`] (20) epochs, tolerance 0.1
    /// (LIBLINEAR's default), seed 0.
    fn default() -> Self {
        Self {
            c: DEFAULT_C,
            epochs: DEFAULT_EPOCHS,
            tol: 0.1,
            seed: 0,
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One binary machine: the weights (dim values, then the bias), from rows `x` (dim each) with
/// targets `y` (±1), by dual coordinate descent (module doc). Returns (w, epochs run).
pub fn train_binary(x: &[f32], y: &[f32], dim: usize, p: &SvmParams) -> (Vec<f32>, usize) {
    let n = y.len();
    let mut w = vec![0.0f32; dim + 1];
    let mut alpha = vec![0.0f32; n];
    // Q_ii = ‖x̃_i‖² = ‖x_i‖² + 1.
    let qii: Vec<f32> = x.chunks_exact(dim).map(|r| dot(r, r) + 1.0).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut epochs = 0;
    for _ in 0..p.epochs {
        epochs += 1;
        order.shuffle(&mut rng);
        let mut max_pg = 0.0f32;
        for &i in &order {
            let xi = &x[i * dim..(i + 1) * dim];
            let g = y[i] * (dot(&w[..dim], xi) + w[dim]) - 1.0;
            let pg = if alpha[i] <= 0.0 {
                g.min(0.0)
            } else if alpha[i] >= p.c {
                g.max(0.0)
            } else {
                g
            };
            max_pg = max_pg.max(pg.abs());
            if pg != 0.0 {
                let old = alpha[i];
                alpha[i] = (old - g / qii[i]).clamp(0.0, p.c);
                let step = (alpha[i] - old) * y[i];
                w[..dim]
                    .iter_mut()
                    .zip(xi)
                    .for_each(|(w, v)| *w += step * v);
                w[dim] += step;
            }
        }
        if max_pg < p.tol {
            break;
        }
    }
    (w, epochs)
}

/// A one-vs-rest linear SVM.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearSvm {
    pub dim: usize,
    /// One machine per class: dim weights then the bias.
    pub weights: Vec<Vec<f32>>,
    /// Epochs each machine ran.
    pub epochs: Vec<usize>,
}

impl LinearSvm {
    /// Trains one machine per class `0..classes` on rows `x` (dim each) with labels `labels`.
    pub fn fit(
        x: &[f32], labels: &[Label], dim: usize, classes: usize, p: &SvmParams,
    ) -> Result<Self> {
        if dim == 0 || x.len() != labels.len() * dim || labels.is_empty() {
            return Err(ModelError::Config(format!(
                "SVM: {} values are not {} rows of {dim}",
                x.len(),
                labels.len()
            )));
        }
        if !(p.c.is_finite() && p.c > 0.0) {
            return Err(ModelError::Config(format!(
                "SVM: C must be positive, got {}",
                p.c
            )));
        }
        let machines: Vec<(Vec<f32>, usize)> = (0..classes)
            .into_par_iter()
            .map(|k| {
                let y: Vec<f32> = labels
                    .iter()
                    .map(|&l| if l as usize == k { 1.0 } else { -1.0 })
                    .collect();
                train_binary(
                    x,
                    &y,
                    dim,
                    &SvmParams {
                        seed: p.seed ^ k as u64,
                        ..*p
                    },
                )
            })
            .collect();
        let (weights, epochs) = machines.into_iter().unzip();
        Ok(Self {
            dim,
            weights,
            epochs,
        })
    }

    /// The class whose machine gives the largest w·x̃ for each row (ties: the lower class).
    pub fn predict(&self, x: &[f32]) -> Vec<Label> {
        x.par_chunks(self.dim)
            .map(|r| {
                let mut best = (0usize, f32::NEG_INFINITY);
                for (k, w) in self.weights.iter().enumerate() {
                    let s = dot(&w[..self.dim], r) + w[self.dim];
                    if s > best.1 {
                        best = (k, s);
                    }
                }
                best.0 as Label
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_max_margin_separator_of_a_hand_made_set() {
        // (1, 0) and (2, 1) positive, (−1, 0) and (−2, −1) negative. The constraints of the two
        // nearest points give w₁ + b ≥ 1 and w₁ − b ≥ 1, so ‖(w, b)‖² is smallest, 1, at
        // w = (1, 0), b = 0: the hard-margin solution, which a large C reaches.
        let x = [1.0, 0.0, 2.0, 1.0, -1.0, 0.0, -2.0, -1.0];
        let y = [1.0, 1.0, -1.0, -1.0];
        let p = SvmParams {
            c: 1000.0,
            epochs: 500,
            tol: 1e-6,
            seed: 1,
        };
        let (w, _) = train_binary(&x, &y, 2, &p);
        for (got, want) in w.iter().zip([1.0, 0.0, 0.0]) {
            assert!((got - want).abs() < 1e-3, "{w:?}");
        }
        // A small C allows violations: the weights shrink below the hard margin.
        let (w, _) = train_binary(&x, &y, 2, &SvmParams { c: 0.01, ..p });
        assert!(w[0] > 0.0 && w[0] < 0.5, "{w:?}");
    }

    #[test]
    fn one_vs_rest_separates_three_clusters() {
        let centres = [(0.0f32, 5.0f32), (5.0, -3.0), (-5.0, -3.0)];
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for i in 0..60 {
            let (cx, cy) = centres[i % 3];
            let jitter = ((i * 7) % 11) as f32 / 11.0 - 0.5;
            x.extend([cx + jitter, cy - jitter]);
            labels.push((i % 3) as Label);
        }
        let svm = LinearSvm::fit(&x, &labels, 2, 3, &SvmParams::default()).unwrap();
        assert_eq!(svm.predict(&x), labels);
        assert_eq!(svm.predict(&[0.2, 4.0, 4.0, -2.0, -6.0, -2.5]), [0, 1, 2]);
        assert!(LinearSvm::fit(&x, &labels[..5], 2, 3, &SvmParams::default()).is_err());
    }
}
