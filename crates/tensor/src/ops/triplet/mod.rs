//! The triplet loss over one batch of M embeddings with their classes, and the three ways of
//! choosing its triplets (the "mining").
//!
//! Distances: D_ij = √max(‖e_i − e_j‖², ε) between rows i and j of the M×E embeddings (the
//! Euclidean distance of [`super::distance`], guarded the same way; for unit-length rows
//! D_ij = √(2 − 2·cos_ij)). A triplet (a, p, n) has p ≠ a of a's class and n of another class:
//!
//!   L = (1/T) Σ_{(a,p,n) chosen} max(D_ap − D_an + m, 0)      (Schroff et al. 2015, margin m)
//!
//! averaged over the T chosen triplets (the ones that already satisfy the margin included).
//! Which triplets [`Mining`] chooses:
//! - `all`: every valid (a, p, n) of the batch ("batch all");
//! - `batch-hard` (Hermans, Beyer & Leibe 2017): one per anchor a that has a positive and a
//!   negative: its farthest positive p* = argmax_p D_ap and its nearest negative
//!   n* = argmin_n D_an;
//! - `semi-hard` (Schroff et al. 2015, as TensorFlow Addons chooses): one per ordered positive
//!   pair (a, p): the nearest negative farther than the positive,
//!   n* = argmin {D_an : D_an > D_ap}, or, when every negative is nearer than p, the farthest
//!   negative n* = argmax_n D_an.
//!
//! Ties go to the lowest index. The choice is a selection, not a function to differentiate:
//! the backward holds it fixed. For each chosen triplet whose hinge is open (D_ap − D_an + m > 0),
//! with u = (e_a − e_p)/D_ap and v = (e_a − e_n)/D_an (each 0 where its guard is active):
//!
//!   ∂/∂e_a += (u − v)/T,   ∂/∂e_p −= u/T,   ∂/∂e_n += v/T      (times the upstream dL).
//!
//! The forward returns L and the chosen triplets, which the backward takes back. Sums run in
//! f64 in index order, so the values never depend on the thread count. There is no CUDA twin:
//! the device step refuses this loss (siamese-model's `check_supported`).

use crate::error::{shape_err, Result};

/// Which triplets of a batch the loss is taken over (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mining {
    /// Every valid triplet of the batch.
    All,
    /// Per anchor: the farthest positive and the nearest negative.
    BatchHard,
    /// Per positive pair: the nearest negative farther than the positive (else the farthest).
    SemiHard,
}

/// One chosen triplet: anchor, positive, negative (row indices).
pub type Triplet = (u32, u32, u32);

/// Errors unless `emb` holds M×E values for M class labels (M ≥ 1, E ≥ 1).
fn check(op: &'static str, m: usize, e: usize, emb: usize, classes: &[u32]) -> Result<()> {
    if m == 0 || e == 0 || emb != m * e || classes.len() != m {
        return Err(shape_err(
            op,
            format!(
                "{emb} embedding values and {} classes; need M×E = {m}×{e} (M, E ≥ 1)",
                classes.len()
            ),
        ));
    }
    Ok(())
}

/// The M×M matrix of guarded distances D_ij (see the module doc), row-major.
pub fn distance_matrix(m: usize, e: usize, emb: &[f32], eps: f32) -> Vec<f32> {
    let mut d = vec![0f32; m * m];
    for i in 0..m {
        for j in i + 1..m {
            let (a, b) = (&emb[i * e..][..e], &emb[j * e..][..e]);
            let s: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
                .sum();
            let dij = s.max(eps as f64).sqrt() as f32;
            d[i * m + j] = dij;
            d[j * m + i] = dij;
        }
        d[i * m + i] = (eps as f64).sqrt() as f32;
    }
    d
}

/// The triplets `mining` chooses from the distances `d` (M×M) and the classes (see the module
/// doc), in order of anchor, then positive.
pub fn choose(mining: Mining, d: &[f32], classes: &[u32]) -> Vec<Triplet> {
    let m = classes.len();
    let row = |a: usize| &d[a * m..][..m];
    let pos = |a: usize| (0..m).filter(move |&p| p != a && classes[p] == classes[a]);
    let neg = |a: usize| (0..m).filter(move |&n| classes[n] != classes[a]);
    let mut out = Vec::new();
    for a in 0..m {
        let r = row(a);
        match mining {
            Mining::All => {
                for p in pos(a) {
                    out.extend(neg(a).map(|n| (a as u32, p as u32, n as u32)));
                }
            }
            Mining::BatchHard => {
                let p = pos(a).reduce(|x, y| if r[y] > r[x] { y } else { x });
                let n = neg(a).reduce(|x, y| if r[y] < r[x] { y } else { x });
                if let (Some(p), Some(n)) = (p, n) {
                    out.push((a as u32, p as u32, n as u32));
                }
            }
            Mining::SemiHard => {
                for p in pos(a) {
                    let farther =
                        neg(a)
                            .filter(|&n| r[n] > r[p])
                            .reduce(|x, y| if r[y] < r[x] { y } else { x });
                    let farthest = || neg(a).reduce(|x, y| if r[y] > r[x] { y } else { x });
                    if let Some(n) = farther.or_else(farthest) {
                        out.push((a as u32, p as u32, n as u32));
                    }
                }
            }
        }
    }
    out
}

/// The triplet loss L of margin `margin` over the M×E embeddings `emb` with their classes,
/// the triplets chosen by `mining` (see the module doc). Returns L (0 when the batch holds no
/// valid triplet: no class with two images, or a single class) and the chosen triplets.
pub fn triplet_forward(
    m: usize, e: usize, emb: &[f32], classes: &[u32], margin: f32, mining: Mining, eps: f32,
) -> Result<(f32, Vec<Triplet>)> {
    check("triplet_forward", m, e, emb.len(), classes)?;
    let d = distance_matrix(m, e, emb, eps);
    let chosen = choose(mining, &d, classes);
    if chosen.is_empty() {
        return Ok((0.0, chosen));
    }
    let total: f64 = chosen
        .iter()
        .map(|&(a, p, n)| {
            let (a, p, n) = (a as usize, p as usize, n as usize);
            (d[a * m + p] - d[a * m + n] + margin).max(0.0) as f64
        })
        .sum();
    Ok(((total / chosen.len() as f64) as f32, chosen))
}

/// d(emb) = dl·∂L/∂emb of the triplet loss over the forward's `chosen` triplets (see the
/// module doc); overwrites `demb` (M×E).
#[allow(clippy::too_many_arguments)]
pub fn triplet_backward(
    m: usize, e: usize, emb: &[f32], classes: &[u32], chosen: &[Triplet], margin: f32, eps: f32,
    dl: f32, demb: &mut [f32],
) -> Result<()> {
    check("triplet_backward", m, e, emb.len(), classes)?;
    check("triplet_backward", m, e, demb.len(), classes)?;
    demb.iter_mut().for_each(|g| *g = 0.0);
    if chosen.is_empty() {
        return Ok(());
    }
    let k = dl as f64 / chosen.len() as f64;
    let mut acc = vec![0f64; m * e];
    let (mut u, mut v) = (vec![0f64; e], vec![0f64; e]);
    // The triplets come in order of anchor, then positive (`choose`): u and D_ap are computed
    // once per (a, p), not once per negative.
    let (mut last_ap, mut dap) = (None, 0f64);
    for &(a, p, n) in chosen {
        let (a, p, n) = (a as usize, p as usize, n as usize);
        if last_ap != Some((a, p)) {
            dap = unit(emb, e, a, p, eps, &mut u);
            last_ap = Some((a, p));
        }
        let dan = unit(emb, e, a, n, eps, &mut v);
        // The same f32 distances the forward compared.
        if (dap as f32 - dan as f32 + margin) <= 0.0 {
            continue;
        }
        for i in 0..e {
            acc[a * e + i] += k * (u[i] - v[i]);
            acc[p * e + i] -= k * u[i];
            acc[n * e + i] += k * v[i];
        }
    }
    for (g, &s) in demb.iter_mut().zip(&acc) {
        *g = s as f32;
    }
    Ok(())
}

/// Writes (e_i − e_j)/D_ij into `out` (0 where the guard is active) and returns
/// D_ij = √max(‖e_i − e_j‖², ε), in f64.
fn unit(emb: &[f32], e: usize, i: usize, j: usize, eps: f32, out: &mut [f64]) -> f64 {
    let (x, y) = (&emb[i * e..][..e], &emb[j * e..][..e]);
    let mut s = 0f64;
    for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
        *o = a as f64 - b as f64;
        s += *o * *o;
    }
    let dist = s.max(eps as f64).sqrt();
    let scale = if s > eps as f64 { 1.0 / dist } else { 0.0 };
    out.iter_mut().for_each(|o| *o *= scale);
    dist
}

#[cfg(test)]
mod tests;
