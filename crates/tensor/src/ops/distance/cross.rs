//! The cross-distance matrix: every query against every gallery row, forward only (search,
//! k-NN, prototypes; nothing is trained through it).
//!
//! Queries Q (M×E) and a gallery G (N×E), both row-major, give the M×N matrix
//! D_ij = dist(q_i, g_j), computed through one GEMM (siamese-tensor's [`gemm`]) and the
//! row norms:
//!
//! ```text
//! squared Euclidean  D_ij = max(‖q_i‖² + ‖g_j‖² − 2·q_i·g_j, 0)
//! Euclidean          D_ij = √max(‖q_i‖² + ‖g_j‖² − 2·q_i·g_j, 0)
//! cosine             D_ij = 1 − c_ij,  c_ij = q_i·g_j / √max(‖q_i‖²·‖g_j‖², ε)
//! ```
//!
//! The expansion ‖q − g‖² = ‖q‖² + ‖g‖² − 2·q·g can round a tiny distance below 0: it is
//! clamped at 0 before the √. c is exactly the comparison module's cosine similarity
//! ([`super::cosine_forward`], the same ε guard), so 1 − c orders pairs as the model's cosine
//! head does. The squared form orders pairs exactly as the Euclidean distance and skips the
//! √ (and the ties the √ would create between neighbouring f32 values): a search ranks by it
//! and takes the √ of what it reports. The pairwise op's guard √max(Σ², ε) exists for its
//! gradient at d = 0; this forward-only op needs none, so its Euclidean value differs from
//! the pairwise one only below √ε ≈ 3.2e-4.
//!
//! Arithmetic: q·g comes from the f32 GEMM (one value per entry, the same for any thread
//! count). The Euclidean norms are f32 sums in index order; the cosine norms and the quotient
//! are f64. The naive twin is [`reference::cross_distance_forward`] (every entry in f64).

use crate::error::{shape_err, Result};
use crate::ops::gemm::gemm;

/// Which distance the cross matrix holds (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossDistance {
    /// ‖q − g‖², clamped at 0: the Euclidean order without the √.
    SquaredEuclidean,
    /// ‖q − g‖.
    Euclidean,
    /// 1 − the comparison module's guarded cosine similarity, in [0, 2] up to rounding.
    Cosine,
}

fn check(m: usize, n: usize, e: usize, q: &[f32], g: &[f32], out: &[f32]) -> Result<()> {
    if q.len() != m * e || g.len() != n * e || out.len() != m * n {
        return Err(shape_err(
            "cross_distance_forward",
            format!(
                "M={m} N={n} E={e} need Q {}, G {}, D {} values; got {}, {}, {}",
                m * e,
                n * e,
                m * n,
                q.len(),
                g.len(),
                out.len()
            ),
        ));
    }
    Ok(())
}

/// ‖x‖² of every row of `e` values, summed in f32 in index order.
fn sq_norms_f32(x: &[f32], e: usize) -> Vec<f32> {
    x.chunks_exact(e.max(1))
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// ‖x‖² of every row of `e` values, in f64.
fn sq_norms_f64(x: &[f32], e: usize) -> Vec<f64> {
    x.chunks_exact(e.max(1))
        .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect()
}

/// D (M×N) of queries `q` (M×E) against the gallery `g` (N×E) by `kind` (module doc); `eps`
/// is the cosine guard (the comparison module's, `siamese_model::siamese::DISTANCE_EPS`) and
/// is not used by the Euclidean kinds. `out` is overwritten.
#[allow(clippy::too_many_arguments)]
pub fn cross_distance_forward(
    kind: CrossDistance, m: usize, n: usize, e: usize, q: &[f32], g: &[f32], eps: f32,
    out: &mut [f32],
) -> Result<()> {
    check(m, n, e, q, g, out)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    match kind {
        CrossDistance::SquaredEuclidean | CrossDistance::Euclidean => {
            let (qn, gn) = (sq_norms_f32(q, e), sq_norms_f32(g, e));
            // D = −2·Q·Gᵀ, then + ‖q‖² + ‖g‖², clamped at 0.
            gemm(false, true, m, n, e, -2.0, q, g, 0.0, out)?;
            for (row, &qi) in out.chunks_exact_mut(n).zip(&qn) {
                for (v, &gj) in row.iter_mut().zip(&gn) {
                    *v = (*v + qi + gj).max(0.0);
                    if kind == CrossDistance::Euclidean {
                        *v = v.sqrt();
                    }
                }
            }
        }
        CrossDistance::Cosine => {
            let (qn, gn) = (sq_norms_f64(q, e), sq_norms_f64(g, e));
            // D = Q·Gᵀ, then 1 − q·g/√max(‖q‖²‖g‖², ε).
            gemm(false, true, m, n, e, 1.0, q, g, 0.0, out)?;
            for (row, &qi) in out.chunks_exact_mut(n).zip(&qn) {
                for (v, &gj) in row.iter_mut().zip(&gn) {
                    let c = f64::from(*v) / (qi * gj).max(f64::from(eps)).sqrt();
                    *v = (1.0 - c) as f32;
                }
            }
        }
    }
    Ok(())
}

/// The naive twin: every entry from its own sums, in f64.
pub mod reference {
    use super::{check, CrossDistance};
    use crate::error::Result;

    /// [`super::cross_distance_forward`] entry by entry: Σ_k (q_ik − g_jk)² (then √), or
    /// 1 − Σ q·g / √max(Σ q²·Σ g², ε), each sum in f64.
    #[allow(clippy::too_many_arguments)]
    pub fn cross_distance_forward(
        kind: CrossDistance, m: usize, n: usize, e: usize, q: &[f32], g: &[f32], eps: f32,
        out: &mut [f32],
    ) -> Result<()> {
        check(m, n, e, q, g, out)?;
        for i in 0..m {
            for j in 0..n {
                let (qi, gj) = (&q[i * e..][..e], &g[j * e..][..e]);
                let (mut ss, mut qg, mut qq, mut gg) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
                for (&a, &b) in qi.iter().zip(gj) {
                    let (a, b) = (f64::from(a), f64::from(b));
                    ss += (a - b) * (a - b);
                    qg += a * b;
                    qq += a * a;
                    gg += b * b;
                }
                out[i * n + j] = match kind {
                    CrossDistance::SquaredEuclidean => ss as f32,
                    CrossDistance::Euclidean => ss.sqrt() as f32,
                    CrossDistance::Cosine => {
                        (1.0 - qg / (qq * gg).max(f64::from(eps)).sqrt()) as f32
                    }
                };
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::distance::{cosine_forward, euclidean_forward};
    use crate::ops::testutil::uniform;
    use proptest::prelude::*;

    const EPS: f32 = 1e-7;
    const KINDS: [CrossDistance; 3] = [
        CrossDistance::SquaredEuclidean,
        CrossDistance::Euclidean,
        CrossDistance::Cosine,
    ];

    fn cross(kind: CrossDistance, m: usize, n: usize, e: usize, q: &[f32], g: &[f32]) -> Vec<f32> {
        let mut out = vec![f32::NAN; m * n];
        cross_distance_forward(kind, m, n, e, q, g, EPS, &mut out).unwrap();
        out
    }

    #[test]
    fn hand_values() {
        // Queries (3, 4), (0, 0); gallery (0, 0), (3, 4), (−6, −8).
        let (q, g) = ([3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 3.0, 4.0, -6.0, -8.0]);
        let sq = cross(CrossDistance::SquaredEuclidean, 2, 3, 2, &q, &g);
        assert_eq!(sq, [25.0, 0.0, 225.0, 0.0, 25.0, 100.0]);
        let d = cross(CrossDistance::Euclidean, 2, 3, 2, &q, &g);
        assert_eq!(d, [5.0, 0.0, 15.0, 0.0, 5.0, 10.0]);
        // Cosine: (3, 4) is parallel to itself (0), opposite to (−6, −8) (2); a zero vector
        // sits in the guard: c = 0, distance 1.
        let c = cross(CrossDistance::Cosine, 2, 3, 2, &q, &g);
        assert_eq!(c, [1.0, 0.0, 2.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn entries_equal_the_pairwise_ops_of_the_comparison_module() {
        // Tolerance: 1e-5 absolute plus 1e-5 relative (the GEMM's f32 dot against the
        // pairwise op's f64 sums, E = 10 and 64).
        for (m, n, e, seed) in [(7, 13, 10, 1), (3, 5, 64, 2)] {
            let (q, g) = (
                uniform(m * e, -1.0, 1.0, seed),
                uniform(n * e, -2.0, 2.0, seed + 9),
            );
            let d = cross(CrossDistance::Euclidean, m, n, e, &q, &g);
            let c = cross(CrossDistance::Cosine, m, n, e, &q, &g);
            for i in 0..m {
                for j in 0..n {
                    let (a, b) = (&q[i * e..][..e], &g[j * e..][..e]);
                    let (mut pd, mut pc) = ([0.0f32], [0.0f32]);
                    euclidean_forward(1, e, a, b, EPS, &mut pd).unwrap();
                    cosine_forward(1, e, a, b, EPS, &mut pc).unwrap();
                    let (gd, gc) = (d[i * n + j], c[i * n + j]);
                    assert!(
                        (gd - pd[0]).abs() <= 1e-5 + 1e-5 * pd[0],
                        "{gd} vs {}",
                        pd[0]
                    );
                    let want = 1.0 - pc[0];
                    assert!(
                        (gc - want).abs() <= 1e-5 + 1e-5 * want.abs(),
                        "{gc} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let mut out = [0.0; 6];
        let err = cross_distance_forward(
            CrossDistance::Cosine,
            2,
            3,
            2,
            &[0.0; 4],
            &[0.0; 5],
            EPS,
            &mut out,
        )
        .unwrap_err();
        assert!(err.to_string().contains("cross_distance_forward"), "{err}");
        assert!(reference::cross_distance_forward(
            CrossDistance::Euclidean,
            2,
            3,
            2,
            &[0.0; 4],
            &[0.0; 6],
            EPS,
            &mut out[..5],
        )
        .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The GEMM expansion against the naive twin on random shapes (odd sizes, E = 1,
        /// queries and gallery rows of different scales). Squared distances within
        /// 1e-5·(‖q‖² + ‖g‖²) + 1e-6, their √ within the √ of that, cosine distances within 1e-5.
        #[test]
        fn cross_matches_the_reference(
            m in 1usize..20, n in 1usize..40, e in 1usize..48, seed in any::<u64>(), scale in 0.01f32..10.0
        ) {
            let q = uniform(m * e, -1.0, 1.0, seed);
            let g: Vec<f32> = uniform(n * e, -1.0, 1.0, seed ^ 0x5eed).iter().map(|v| v * scale).collect();
            let (qn, gn) = (sq_norms_f64(&q, e), sq_norms_f64(&g, e));
            for kind in KINDS {
                let got = cross(kind, m, n, e, &q, &g);
                let mut want = vec![0.0; m * n];
                reference::cross_distance_forward(kind, m, n, e, &q, &g, EPS, &mut want).unwrap();
                for i in 0..m {
                    for j in 0..n {
                        let (x, w) = (got[i * n + j], want[i * n + j]);
                        let sq_tol = 1e-5 * (qn[i] + gn[j]) + 1e-6;
                        let tol = match kind {
                            CrossDistance::SquaredEuclidean => sq_tol,
                            CrossDistance::Euclidean => sq_tol.sqrt(),
                            CrossDistance::Cosine => 1e-5,
                        };
                        prop_assert!(((x - w) as f64).abs() <= tol, "{kind:?} [{i},{j}] {x} vs {w}");
                    }
                }
            }
        }
    }
}
