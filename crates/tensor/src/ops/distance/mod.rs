//! The comparison module's two measures of how close two embeddings are, one value per pair.
//!
//! Rows n of a and b (both N×E, row-major) form pair n.
//!
//! Euclidean distance (the paper's d(x, y) = √(Σ_i (x_i − y_i)²)), with the square root
//! guarded as Keras does (`sqrt(maximum(sum_square, ε))`):
//!   d_n = √max(Σ_i (a_ni − b_ni)², ε);
//!   ∂d_n/∂a_ni = (a_ni − b_ni)/d_n = −∂d_n/∂b_ni where Σ² > ε, 0 where the guard is active.
//! Without the guard two identical embeddings (d = 0) would get an infinite slope.
//!
//! Cosine similarity, guarded the same way:
//!   c_n = ⟨a_n, b_n⟩ / √max(‖a_n‖²·‖b_n‖², ε) ∈ [−1, 1];
//!   ∂c_n/∂a_n = b_n/den − c_n·a_n/‖a_n‖² where ‖a_n‖²‖b_n‖² > ε (den = ‖a_n‖‖b_n‖), and
//!   b_n/√ε where the guard is active (den constant); symmetric in b.
//!
//! Unit length (L2 normalisation) of each row e_n of an N×E matrix, guarded the same way, what
//! the triplet loss compares when the comparison module is the cosine similarity (then
//! ‖ê_a − ê_b‖ = √(2 − 2·c)):
//!   ê_n = e_n / r_n, r_n = √max(‖e_n‖², ε);
//!   ∂L/∂e_n = (g_n − ê_n·⟨ê_n, g_n⟩)/r_n where ‖e_n‖² > ε (g_n = ∂L/∂ê_n), g_n/√ε otherwise.
//!
//! Sums are accumulated in f64 in index order, so the values never depend on the thread
//! count. The CUDA twins are in `distance.cu` beside this file.
//!
//! [`cross`] holds the forward-only cross-distance matrix (every query against every gallery
//! row by one GEMM: squared Euclidean, Euclidean, or 1 − the cosine similarity above), which
//! retrieval, k-NN and one-shot prototypes use.

pub mod cross;
pub use cross::{cross_distance_forward, CrossDistance};

/// The CUDA twin of this folder's equations (`distance.cu`), the fragment that siamese-cuda
/// gathers into its NVRTC program.
pub const CUDA_SOURCE: &str = include_str!("distance.cu");

use crate::error::{check_len, shape_err, Result};

/// Checks a, b (N×E each) and one per-pair buffer of N values per entry of `per_pair`.
fn check(
    op: &'static str, n: usize, e: usize, a: &[f32], b: &[f32], per_pair: &[(&str, usize)],
) -> Result<()> {
    if a.len() != n * e || b.len() != n * e {
        return Err(shape_err(
            op,
            format!(
                "a and b must hold N×E = {n}×{e} values, got {} and {}",
                a.len(),
                b.len()
            ),
        ));
    }
    for &(what, len) in per_pair {
        check_len(op, what, len, n)?;
    }
    Ok(())
}

/// Σ_i (a_i − b_i)² of one pair, in f64.
fn sum_sq(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let t = x as f64 - y as f64;
            t * t
        })
        .sum()
}

/// ‖x‖² of one row, in f64.
fn norm_sq(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum()
}

/// (⟨a, b⟩, ‖a‖², ‖b‖²) of one pair, in f64.
fn dots(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    a.iter()
        .zip(b)
        .fold((0.0, 0.0, 0.0), |(ab, aa, bb), (&x, &y)| {
            let (x, y) = (x as f64, y as f64);
            (ab + x * y, aa + x * x, bb + y * y)
        })
}

/// Euclidean distance d_n = √max(Σ_i (a_ni − b_ni)², ε) of N pairs of E-vectors.
pub fn euclidean_forward(
    n: usize, e: usize, a: &[f32], b: &[f32], eps: f32, d: &mut [f32],
) -> Result<()> {
    check("euclidean_forward", n, e, a, b, &[("d", d.len())])?;
    for (i, dv) in d.iter_mut().enumerate() {
        let ss = sum_sq(&a[i * e..][..e], &b[i * e..][..e]) as f32;
        *dv = ss.max(eps).sqrt();
    }
    Ok(())
}

/// Euclidean backward: da_n = dd_n·(a_n − b_n)/d_n, db_n = −da_n where Σ² > ε, else 0
/// (da and db are overwritten).
#[allow(clippy::too_many_arguments)]
pub fn euclidean_backward(
    n: usize, e: usize, a: &[f32], b: &[f32], d: &[f32], dd: &[f32], eps: f32, da: &mut [f32],
    db: &mut [f32],
) -> Result<()> {
    let op = "euclidean_backward";
    check(op, n, e, a, b, &[("d", d.len()), ("dd", dd.len())])?;
    check(op, n, e, da, db, &[])?;
    for i in 0..n {
        let (ai, bi) = (&a[i * e..][..e], &b[i * e..][..e]);
        let k = if sum_sq(ai, bi) as f32 > eps {
            dd[i] / d[i]
        } else {
            0.0
        };
        for j in 0..e {
            let g = k * (ai[j] - bi[j]);
            da[i * e + j] = g;
            db[i * e + j] = -g;
        }
    }
    Ok(())
}

/// Cosine similarity c_n = ⟨a_n, b_n⟩/√max(‖a_n‖²‖b_n‖², ε) of N pairs of E-vectors.
pub fn cosine_forward(
    n: usize, e: usize, a: &[f32], b: &[f32], eps: f32, c: &mut [f32],
) -> Result<()> {
    check("cosine_forward", n, e, a, b, &[("c", c.len())])?;
    for (i, cv) in c.iter_mut().enumerate() {
        let (ab, aa, bb) = dots(&a[i * e..][..e], &b[i * e..][..e]);
        *cv = (ab / (aa * bb).max(eps as f64).sqrt()) as f32;
    }
    Ok(())
}

/// Cosine backward: da_n = dc_n·(b_n/den − c_n·a_n/‖a_n‖²) and symmetrically db_n, where
/// ‖a‖²‖b‖² > ε; with the guard active den = √ε is a constant and da_n = dc_n·b_n/√ε
/// (da and db are overwritten).
#[allow(clippy::too_many_arguments)]
pub fn cosine_backward(
    n: usize, e: usize, a: &[f32], b: &[f32], dc: &[f32], eps: f32, da: &mut [f32], db: &mut [f32],
) -> Result<()> {
    let op = "cosine_backward";
    check(op, n, e, a, b, &[("dc", dc.len())])?;
    check(op, n, e, da, db, &[])?;
    for i in 0..n {
        let (ai, bi) = (&a[i * e..][..e], &b[i * e..][..e]);
        let (ab, aa, bb) = dots(ai, bi);
        let guarded = aa * bb <= eps as f64;
        let den = (aa * bb).max(eps as f64).sqrt();
        let c = ab / den;
        let g = dc[i] as f64;
        for j in 0..e {
            let (x, y) = (ai[j] as f64, bi[j] as f64);
            let (ga, gb) = if guarded {
                (y / den, x / den)
            } else {
                (y / den - c * x / aa, x / den - c * y / bb)
            };
            da[i * e + j] = (g * ga) as f32;
            db[i * e + j] = (g * gb) as f32;
        }
    }
    Ok(())
}

/// Unit rows ê_n = e_n/√max(‖e_n‖², ε) of N×E values `x` into `y`.
pub fn unit_rows_forward(n: usize, e: usize, x: &[f32], eps: f32, y: &mut [f32]) -> Result<()> {
    check("unit_rows_forward", n, e, x, y, &[])?;
    for (xr, yr) in x.chunks_exact(e).zip(y.chunks_exact_mut(e)) {
        let r = norm_sq(xr).max(eps as f64).sqrt();
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = (v as f64 / r) as f32;
        }
    }
    Ok(())
}

/// Unit-rows backward: dx_n = (dy_n − ê_n·⟨ê_n, dy_n⟩)/r_n where ‖x_n‖² > ε, dy_n/√ε where
/// the guard is active (dx is overwritten).
pub fn unit_rows_backward(
    n: usize, e: usize, x: &[f32], dy: &[f32], eps: f32, dx: &mut [f32],
) -> Result<()> {
    check("unit_rows_backward", n, e, x, dy, &[])?;
    check("unit_rows_backward", n, e, x, dx, &[])?;
    for ((xr, gr), dr) in x
        .chunks_exact(e)
        .zip(dy.chunks_exact(e))
        .zip(dx.chunks_exact_mut(e))
    {
        let ss = norm_sq(xr);
        let r = ss.max(eps as f64).sqrt();
        let proj: f64 = if ss > eps as f64 {
            xr.iter()
                .zip(gr)
                .map(|(&v, &g)| v as f64 / r * g as f64)
                .sum()
        } else {
            0.0
        };
        for ((d, &v), &g) in dr.iter_mut().zip(xr).zip(gr) {
            *d = ((g as f64 - v as f64 / r * proj) / r) as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
