//! Central finite differences: the check every op and layer of the workspace is tested with.
//!
//! For a scalar loss L(θ) built by a closure from the parameters of a [`ParamStore`], the
//! analytic gradient g = ∂L/∂θ_i from [`Tape::backward`] is compared with
//!   ĝ_i = (L(θ + h·e_i) − L(θ − h·e_i)) / (θ_i⁺ − θ_i⁻),
//! where θ_i± are the perturbed values as actually stored in f32 (so the step is exact) and the
//! difference and quotient are taken in f64. The forward itself runs in f32 (the kernels are
//! f32), so h must be large enough for f32 rounding: the default h = 1e-2 with a relative
//! tolerance of 1e-2 separates a correct backward from a wrong one by orders of magnitude.
//! An element passes when |g − ĝ| ≤ atol + rtol·max(|g|, |ĝ|).

use std::fmt;

use siamese_tensor::Tensor;

use crate::error::{shape_err, AutodiffError, Result};
use crate::store::ParamStore;
use crate::tape::{Tape, Var};

/// Step and tolerances of [`check_gradients`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheck {
    /// Finite-difference step h. Default 1e-2.
    pub h: f32,
    /// Relative tolerance. Default 1e-2.
    pub rtol: f64,
    /// Absolute tolerance. Default 1e-3.
    pub atol: f64,
    /// At most this many elements per parameter are checked (evenly spaced). Default 64.
    pub max_per_param: usize,
}

impl Default for GradCheck {
    fn default() -> Self {
        Self {
            h: 1e-2,
            rtol: 1e-2,
            atol: 1e-3,
            max_per_param: 64,
        }
    }
}

/// The worst element of a gradient check.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Parameter name.
    pub name: String,
    /// Flat element index.
    pub index: usize,
    /// Gradient from backward.
    pub analytic: f64,
    /// Gradient from central differences.
    pub numeric: f64,
}

/// Outcome of [`check_gradients`].
#[derive(Clone, Debug, PartialEq)]
pub struct GradCheckReport {
    /// Number of elements compared.
    pub checked: usize,
    /// Number of elements outside the tolerance.
    pub failed: usize,
    /// The element with the largest error relative to its tolerance.
    pub worst: Option<Mismatch>,
    /// Largest |g − ĝ| / (atol + rtol·max(|g|,|ĝ|)) seen; ≤ 1 means pass.
    pub worst_ratio: f64,
}

impl GradCheckReport {
    /// True when every element is within tolerance and at least one was checked.
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.checked > 0
    }
}

impl fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} elements failed; worst error/tolerance {:.3}",
            self.failed, self.checked, self.worst_ratio
        )?;
        if let Some(m) = &self.worst {
            write!(
                f,
                " at {}[{}]: backward {:.6e}, finite difference {:.6e}",
                m.name, m.index, m.analytic, m.numeric
            )?;
        }
        Ok(())
    }
}

fn eval<F, E>(store: &mut ParamStore, f: &mut F) -> std::result::Result<f64, E>
where
    F: FnMut(&mut Tape, &mut ParamStore) -> std::result::Result<Var, E>,
    E: From<AutodiffError>,
{
    let mut tape = Tape::new();
    let loss = f(&mut tape, store)?;
    Ok(tape.scalar(loss)? as f64)
}

/// Compares backward's gradient of the scalar built by `f` with central differences, for every
/// parameter of `store` (up to `cfg.max_per_param` elements each). `f` records the loss on a
/// fresh tape from the store's parameters; it is called 1 + 2·(checked elements) times.
/// The store's gradients are zeroed first and hold the analytic gradient afterwards.
/// `f` may return any error type an [`AutodiffError`] converts into (e.g. a layer crate's).
pub fn check_gradients<F, E>(
    store: &mut ParamStore, mut f: F, cfg: &GradCheck,
) -> std::result::Result<GradCheckReport, E>
where
    F: FnMut(&mut Tape, &mut ParamStore) -> std::result::Result<Var, E>,
    E: From<AutodiffError>,
{
    store.zero_grads();
    let mut tape = Tape::new();
    let loss = f(&mut tape, store)?;
    tape.scalar(loss)?;
    tape.backward(loss, store)?;
    drop(tape);
    let mut report = GradCheckReport {
        checked: 0,
        failed: 0,
        worst: None,
        worst_ratio: 0.0,
    };
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let len = store.value(id).len();
        let stride = len.div_ceil(cfg.max_per_param.max(1)).max(1);
        for index in (0..len).step_by(stride) {
            let x0 = store.value(id).data()[index];
            let (xp, xm) = (x0 + cfg.h, x0 - cfg.h);
            store.value_mut(id).data_mut()[index] = xp;
            let lp = eval(store, &mut f)?;
            store.value_mut(id).data_mut()[index] = xm;
            let lm = eval(store, &mut f)?;
            store.value_mut(id).data_mut()[index] = x0;
            let numeric = (lp - lm) / (xp as f64 - xm as f64);
            let analytic = store.grad(id).data()[index] as f64;
            let tol = cfg.atol + cfg.rtol * analytic.abs().max(numeric.abs());
            let ratio = (analytic - numeric).abs() / tol;
            report.checked += 1;
            // NaN counts as a failure (and as the worst), hence the explicit is_nan.
            if ratio.is_nan() || ratio > 1.0 {
                report.failed += 1;
            }
            if ratio.is_nan() || ratio > report.worst_ratio {
                report.worst_ratio = ratio;
                report.worst = Some(Mismatch {
                    name: store.name(id).to_string(),
                    index,
                    analytic,
                    numeric,
                });
            }
        }
    }
    Ok(report)
}

/// Reduces any variable to a scalar with fixed pseudo-random weights r (seeded by `seed`):
/// L = Σ_i r_i·y_i, r_i ∈ [−1, 1]. Every output element then gets a distinct upstream
/// gradient, so a backward that mixes up elements cannot pass a check.
pub fn project_to_scalar(tape: &mut Tape, y: Var, seed: u64) -> Result<Var> {
    let shape = tape.value(y)?.shape().to_vec();
    let n: usize = shape.iter().product();
    if n == 0 {
        return Err(shape_err("project_to_scalar", "empty variable"));
    }
    // SplitMix64: a tiny fixed generator, so this crate needs no rand dependency.
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let r: Vec<f32> = (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let r = tape.input(Tensor::from_vec(&shape, r)?);
    let p = tape.mul(y, r)?;
    tape.sum(p)
}
