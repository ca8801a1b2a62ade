//! Principal component analysis, by our own code: the covariance matrix and its
//! eigenvectors by the cyclic Jacobi method.
//!
//! For n rows x_i of d values with mean μ, the covariance is
//! C = (1/(n−1))·Σ_i (x_i − μ)(x_i − μ)ᵀ (d×d, symmetric). Jacobi diagonalises it by plane
//! rotations: for each off-diagonal pair (p, q), with θ = (C_qq − C_pp)/(2·C_pq),
//! t = sign(θ)/(|θ| + √(θ² + 1)), c = 1/√(t² + 1), s = t·c, the rotation J zeroes C_pq in
//! Jᵀ·C·J; sweeps repeat until the off-diagonal sum of squares is below 1e-24 of the total
//! (at most 100 sweeps). The eigenvalues are the diagonal left, the eigenvectors the columns of
//! the accumulated rotations. The components are sorted by decreasing eigenvalue (variance);
//! each component's sign is fixed so that its largest-magnitude entry is positive, so the
//! projection is deterministic.

use siamese_data::Label;
use siamese_model::error::{ModelError, Result};

/// A fitted PCA: the mean and the components (largest variance first).
#[derive(Clone, Debug, PartialEq)]
pub struct Pca {
    pub mean: Vec<f64>,
    /// Eigenvalues of the covariance (variances along the components), descending.
    pub variances: Vec<f64>,
    /// Unit eigenvectors, `components[j]` of length d.
    pub components: Vec<Vec<f64>>,
}

/// The sample covariance (d×d, row-major) and mean of `n` rows of `dim` values.
pub fn covariance(x: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / dim.max(1);
    let mut mean = vec![0.0f64; dim];
    for r in x.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(r) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut c = vec![0.0f64; dim * dim];
    for r in x.chunks_exact(dim) {
        for p in 0..dim {
            let dp = f64::from(r[p]) - mean[p];
            for q in p..dim {
                c[p * dim + q] += dp * (f64::from(r[q]) - mean[q]);
            }
        }
    }
    let denom = (n.max(2) - 1) as f64;
    for p in 0..dim {
        for q in p..dim {
            c[p * dim + q] /= denom;
            c[q * dim + p] = c[p * dim + q];
        }
    }
    (c, mean)
}

/// Eigenvalues and eigenvectors (as columns of the returned row-major d×d matrix) of the
/// symmetric matrix `a` (d×d, row-major) by cyclic Jacobi rotations (module doc).
pub fn jacobi_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0f64; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|p| (0..d).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * d + q].powi(2))
            .sum();
        if off <= 1e-24 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ·A·J: rotate rows and columns p, q.
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                // V ← V·J.
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

impl Pca {
    /// Fits the mean and the components of `n` rows of `dim` values (at least two rows).
    pub fn fit(x: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 || !x.len().is_multiple_of(dim) || x.len() / dim < 2 {
            return Err(ModelError::Config(format!(
                "PCA needs at least two rows of {dim} values, got {} values",
                x.len()
            )));
        }
        let (c, mean) = covariance(x, dim);
        let (vals, vecs) = jacobi_eigen(&c, dim);
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
        let components = order
            .iter()
            .map(|&j| {
                let mut col: Vec<f64> = (0..dim).map(|k| vecs[k * dim + j]).collect();
                let big = col
                    .iter()
                    .copied()
                    .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
                if big < 0.0 {
                    col.iter_mut().for_each(|v| *v = -*v);
                }
                col
            })
            .collect();
        Ok(Self {
            mean,
            variances: order.iter().map(|&j| vals[j]).collect(),
            components,
        })
    }

    /// The coordinates of each row on the first `k` components: (x − μ)·w_j.
    pub fn project(&self, x: &[f32], k: usize) -> Vec<Vec<f64>> {
        let dim = self.mean.len();
        x.chunks_exact(dim)
            .map(|r| {
                self.components[..k.min(dim)]
                    .iter()
                    .map(|w| {
                        r.iter()
                            .zip(&self.mean)
                            .zip(w)
                            .map(|((&v, m), w)| (f64::from(v) - m) * w)
                            .sum()
                    })
                    .collect()
            })
            .collect()
    }
}

/// Rows on the plane of their first two principal components (`siamese embed`'s scatter).
#[derive(Clone, Debug, PartialEq)]
pub struct Scatter2d {
    /// (PC 1, PC 2, label) per row; PC 2 is 0 for one-value rows.
    pub points: Vec<(f64, f64, Label)>,
    /// The share of the total variance on PC 1 and PC 2, in percent.
    pub shares: [f64; 2],
}

impl Pca {
    /// Component `j`'s share of the total variance, in percent (0 past the last component).
    pub fn share(&self, j: usize) -> f64 {
        let total: f64 = self.variances.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        self.variances.get(j).copied().unwrap_or(0.0) / total * 100.0
    }
}

/// Fits a PCA to the rows `x` (`dim` values each) and projects them, labelled `labels`, on
/// its first two components.
pub fn scatter_2d(x: &[f32], dim: usize, labels: &[Label]) -> Result<Scatter2d> {
    let pca = Pca::fit(x, dim)?;
    let points = pca
        .project(x, 2)
        .into_iter()
        .zip(labels)
        .map(|(p, &c)| (p[0], p.get(1).copied().unwrap_or(0.0), c))
        .collect();
    Ok(Scatter2d {
        points,
        shares: [pca.share(0), pca.share(1)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_finds_known_eigenvalues() {
        // [[2, 1], [1, 2]]: eigenvalues 3 (along (1, 1)/√2) and 1.
        let (vals, vecs) = jacobi_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        let mut sorted = vals.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-12 && (sorted[1] - 3.0).abs() < 1e-12);
        let j = if vals[0] > vals[1] { 0 } else { 1 };
        let (x, y) = (vecs[j], vecs[2 + j]);
        assert!((x.abs() - 0.5f64.sqrt()).abs() < 1e-12 && (x - y).abs() < 1e-12);
        // A 3×3 with eigenvalues 4, 2, 1 under a known rotation: A = R·diag·Rᵀ.
        let r = [[0.6, -0.8, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]];
        let dg = [4.0, 2.0, 1.0];
        let mut a = [0.0f64; 9];
        for i in 0..3 {
            for k in 0..3 {
                a[i * 3 + k] = (0..3).map(|m| r[i][m] * dg[m] * r[k][m]).sum();
            }
        }
        let (mut vals, _) = jacobi_eigen(&a, 3);
        vals.sort_by(|a, b| b.total_cmp(a));
        for (v, w) in vals.iter().zip(dg) {
            assert!((v - w).abs() < 1e-10, "{vals:?}");
        }
    }

    #[test]
    fn pca_of_points_on_a_line_finds_the_line() {
        // Points t·(3, 4)/5 + (1, 1), t = −23.5 … 23.5, plus a perpendicular wiggle
        // (+, −, −, + repeating) uncorrelated with t: the first component is (0.6, 0.8).
        let x: Vec<f32> = (0..48)
            .flat_map(|i| {
                let t = i as f32 - 23.5;
                let w = if i % 4 == 0 || i % 4 == 3 {
                    0.01
                } else {
                    -0.01
                };
                [1.0 + 0.6 * t - 0.8 * w, 1.0 + 0.8 * t + 0.6 * w]
            })
            .collect();
        let p = Pca::fit(&x, 2).unwrap();
        let w = &p.components[0];
        assert!(
            (w[0] - 0.6).abs() < 1e-6 && (w[1] - 0.8).abs() < 1e-6,
            "{p:?}"
        );
        assert!(p.variances[0] > 1e4 * p.variances[1]);
        assert!((p.mean[0] - 1.0).abs() < 1e-6 && (p.mean[1] - 1.0).abs() < 1e-6);
        // The first coordinate is t.
        let proj = p.project(&x, 1);
        assert!((proj[0][0] + 23.5).abs() < 1e-4, "{}", proj[0][0]);
        assert!(Pca::fit(&[1.0, 2.0], 2).is_err());
    }
}
