//! Adam, exactly as the paper's Table 2 (Kingma & Ba, bias-corrected), steps (a)–(f):
//!
//! | step | equation |
//! |---|---|
//! | (a) | g_t = ∇_θ L(θ_{t−1}), t ← t + 1 (the caller's gradient and step count) |
//! | (b) | m_t = β₁·m_{t−1} + (1 − β₁)·g_t |
//! | (c) | v_t = β₂·v_{t−1} + (1 − β₂)·g_t² |
//! | (d) | m̂_t = m_t / (1 − β₁ᵗ) |
//! | (e) | v̂_t = v_t / (1 − β₂ᵗ) |
//! | (f) | θ_t = θ_{t−1} − α·m̂_t / (√v̂_t + ε) |
//!
//! [`AdamHyper::at_step`] computes the two bias-correction denominators of (d) and (e) once per
//! step (in f64, then f32); [`adam_update`] applies (b)–(f) element-wise to one parameter
//! tensor, and [`adam_update_all`] runs it over every tensor of a model in one parallel
//! region. siamese-optim's `Adam` and the device step both call these; the CUDA twin is
//! `adam.cu` beside this file.

/// The CUDA twin of this folder's equations (`adam.cu` beside this file), the fragment that
/// siamese-cuda gathers into its NVRTC program.
pub const CUDA_SOURCE: &str = include_str!("adam.cu");

use crate::error::{shape_err, Result};

/// Adam's hyper-parameters for one update, with the bias corrections of step t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    /// Learning rate α.
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    /// ε added to √v̂.
    pub eps: f32,
    /// 1 − β₁ᵗ, the denominator of (d).
    pub bc1: f32,
    /// 1 − β₂ᵗ, the denominator of (e).
    pub bc2: f32,
}

impl AdamHyper {
    /// The hyper-parameters of step t ≥ 1 (t counts updates, the first is t = 1), with
    /// bc1 = 1 − β₁ᵗ and bc2 = 1 − β₂ᵗ computed in f64.
    pub fn at_step(lr: f32, beta1: f32, beta2: f32, eps: f32, t: u64) -> Self {
        let t = t.min(i32::MAX as u64) as i32;
        Self {
            lr,
            beta1,
            beta2,
            eps,
            bc1: (1.0 - (beta1 as f64).powi(t)) as f32,
            bc2: (1.0 - (beta2 as f64).powi(t)) as f32,
        }
    }
}

/// θ, g, m and v must have one length.
fn check_lengths(n: usize, grad: usize, m: usize, v: usize) -> Result<()> {
    if grad != n || m != n || v != n {
        return Err(shape_err(
            "adam_update",
            format!("θ has {n} values but g, m, v have {grad}, {m}, {v}"),
        ));
    }
    Ok(())
}

/// Steps (b)–(f) in place on one parameter tensor θ with its gradient g and moments m, v
/// (all of one length).
pub fn adam_update(
    h: &AdamHyper, theta: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32],
) -> Result<()> {
    check_lengths(theta.len(), grad.len(), m.len(), v.len())?;
    let it = theta
        .iter_mut()
        .zip(grad)
        .zip(m.iter_mut().zip(v.iter_mut()));
    for ((th, &g), (m, v)) in it {
        *m = h.beta1 * *m + (1.0 - h.beta1) * g; // (b) m_t = β₁m + (1−β₁)g
        *v = h.beta2 * *v + (1.0 - h.beta2) * g * g; // (c) v_t = β₂v + (1−β₂)g²
        let m_hat = *m / h.bc1; // (d) m̂ = m_t/(1−β₁ᵗ)
        let v_hat = *v / h.bc2; // (e) v̂ = v_t/(1−β₂ᵗ)
        *th -= h.lr * m_hat / (v_hat.sqrt() + h.eps); // (f) θ −= α·m̂/(√v̂+ε)
    }
    Ok(())
}

/// Elements per task of [`adam_update_all`]: big enough that a task outweighs its scheduling,
/// small enough that the 48,000 weights of LeNet-5's fc1 split over two threads.
const CHUNK: usize = 8192;

/// One parameter tensor's (θ, g, m, v) for [`adam_update_all`].
pub type AdamSlices<'a> = (&'a mut [f32], &'a [f32], &'a mut [f32], &'a mut [f32]);

/// [`adam_update`] on every parameter tensor of a model in one parallel region: each tensor
/// is cut into chunks of `CHUNK` elements and the chunks of all tensors run on the rayon
/// workers. The update is element-wise, so every value is the one [`adam_update`] per tensor
/// gives, for any thread count. Lengths are checked for every tensor before any is updated.
pub fn adam_update_all<'a>(
    h: &AdamHyper, tensors: impl IntoIterator<Item = AdamSlices<'a>>,
) -> Result<()> {
    use rayon::prelude::*;
    let mut tasks: Vec<AdamSlices<'a>> = Vec::new();
    for (theta, grad, m, v) in tensors {
        check_lengths(theta.len(), grad.len(), m.len(), v.len())?;
        let it = theta
            .chunks_mut(CHUNK)
            .zip(grad.chunks(CHUNK))
            .zip(m.chunks_mut(CHUNK).zip(v.chunks_mut(CHUNK)));
        tasks.extend(it.map(|((t, g), (m, v))| (t, g, m, v)));
    }
    tasks
        .into_par_iter()
        .try_for_each(|(t, g, m, v)| adam_update(h, t, g, m, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bias correction makes the first step exactly α·sign(g), whatever |g|.
    #[test]
    fn first_step_is_lr_times_sign() {
        let h = AdamHyper::at_step(0.01, 0.9, 0.999, 0.0, 1);
        let (mut th, mut m, mut v) = (vec![1.0, 1.0, 1.0], vec![0.0; 3], vec![0.0; 3]);
        adam_update(&h, &mut th, &[3.0, -1e-3, 250.0], &mut m, &mut v).unwrap();
        assert_eq!(th, [0.99, 1.01, 0.99]);
    }

    /// Two steps of (b)–(f) against the formulas written out in f64.
    #[test]
    fn two_steps_by_hand() {
        let (b1, b2, lr, eps) = (0.9f64, 0.999f64, 1e-3f64, 1e-8f64);
        let (mut th, mut m, mut v) = ([0.5f32], [0.0f32], [0.0f32]);
        let (mut wt, mut wm, mut wv) = (0.5f64, 0.0f64, 0.0f64);
        for (t, g) in [(1u64, 0.2f64), (2, -0.4)] {
            let h = AdamHyper::at_step(lr as f32, b1 as f32, b2 as f32, eps as f32, t);
            adam_update(&h, &mut th, &[g as f32], &mut m, &mut v).unwrap();
            wm = b1 * wm + (1.0 - b1) * g;
            wv = b2 * wv + (1.0 - b2) * g * g;
            let (mh, vh) = (
                wm / (1.0 - b1.powi(t as i32)),
                wv / (1.0 - b2.powi(t as i32)),
            );
            wt -= lr * mh / (vh.sqrt() + eps);
        }
        assert!((m[0] as f64 - wm).abs() < 1e-7 && (v[0] as f64 - wv).abs() < 1e-8);
        assert!((th[0] as f64 - wt).abs() < 2e-7, "{} vs {wt}", th[0]);
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let h = AdamHyper::at_step(0.1, 0.9, 0.999, 1e-8, 1);
        let e =
            adam_update(&h, &mut [0.0; 2], &[0.0; 2], &mut [0.0; 1], &mut [0.0; 2]).unwrap_err();
        assert!(e.to_string().contains("adam_update"), "{e}");
    }

    /// The one-region update of several tensors equals one update per tensor, bit for bit,
    /// on tensors longer and shorter than a chunk; a bad length fails before any update.
    #[test]
    fn update_all_equals_one_update_per_tensor() {
        let h = AdamHyper::at_step(0.01, 0.9, 0.999, 1e-8, 3);
        let lens = [3 * CHUNK + 17, 5, CHUNK];
        let make = |seed: usize, n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0)
                .collect()
        };
        let mut one: Vec<[Vec<f32>; 4]> = lens
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                [
                    make(k, n),
                    make(k + 10, n),
                    make(k + 20, n),
                    make(k + 30, n).iter().map(|x| x.abs()).collect(),
                ]
            })
            .collect();
        let mut all = one.clone();
        for [t, g, m, v] in &mut one {
            adam_update(&h, t, g, m, v).unwrap();
        }
        adam_update_all(
            &h,
            all.iter_mut()
                .map(|[t, g, m, v]| (&mut t[..], &g[..], &mut m[..], &mut v[..])),
        )
        .unwrap();
        assert_eq!(one, all);
        let before = all.clone();
        all[2][3].pop();
        let e = adam_update_all(
            &h,
            all.iter_mut()
                .map(|[t, g, m, v]| (&mut t[..], &g[..], &mut m[..], &mut v[..])),
        )
        .unwrap_err();
        assert!(e.to_string().contains("adam_update"), "{e}");
        assert_eq!(all[0], before[0], "nothing updated before the check failed");
    }
}
