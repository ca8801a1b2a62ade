//! Adam, exactly as the paper's Table 2 (Kingma & Ba, bias-corrected), steps (a)–(f):
//!
//! | step | equation |
//! |---|---|
//! | (a) | g_t = ∇_θ L(θ_{t−1}) (read from the store's gradient buffers), t ← t + 1 |
//! | (b) | m_t = β₁·m_{t−1} + (1 − β₁)·g_t |
//! | (c) | v_t = β₂·v_{t−1} + (1 − β₂)·g_t² |
//! | (d) | m̂_t = m_t / (1 − β₁ᵗ) |
//! | (e) | v̂_t = v_t / (1 − β₂ᵗ) |
//! | (f) | θ_t = θ_{t−1} − α·m̂_t / (√v̂_t + ε) |
//!
//! The arithmetic of (b)–(f) and of the bias corrections is `siamese_tensor::ops::adam` (one
//! home, shared with the device step); this type holds the state and walks the parameters.
//!
//! The learning rate α is not part of [`AdamConfig`]: each [`Adam::step`] takes the rate of
//! that step, read from the run's [`crate::LrSchedule`] (its one carrier; the paper's α = 0.001
//! is `siamese_model::run::PAPER_LR`). Defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (Keras uses
//! ε = 1e-7). The state
//! (m, v, t) is public through [`Adam::state`] / [`Adam::set_state`], so a checkpoint resumes
//! bit-exactly.

use siamese_autodiff::ParamStore;
use siamese_tensor::ops::adam::{adam_update_all, AdamHyper};
use siamese_tensor::Tensor;

use crate::error::{OptimError, Result};
use crate::Optimizer;

/// Hyper-parameters of [`Adam`] other than the learning rate (which each step takes from
/// the schedule).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Decay of the first moment, β₁. Defaults to 0.9.
    pub beta1: f32,
    /// Decay of the second moment, β₂. Defaults to 0.999.
    pub beta2: f32,
    /// ε added to √v̂. Defaults to 1e-8.
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// The moving state of Adam: step count t and one m and v per parameter, in the store's
/// registration order (empty before the first step).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AdamState {
    /// Number of steps taken, t.
    pub step: u64,
    /// First moments m, shaped like the parameters.
    pub m: Vec<Tensor>,
    /// Second moments v, shaped like the parameters.
    pub v: Vec<Tensor>,
}

/// The Adam optimizer of the paper (Table 2).
#[derive(Clone, Debug)]
pub struct Adam {
    pub config: AdamConfig,
    state: AdamState,
}

fn check_config(c: &AdamConfig) -> Result<()> {
    let ok = (0.0..1.0).contains(&c.beta1)
        && (0.0..1.0).contains(&c.beta2)
        && c.eps.is_finite()
        && c.eps >= 0.0;
    if !ok {
        return Err(OptimError::BadConfig(format!("{c:?}")));
    }
    Ok(())
}

fn check_shapes(what: &str, moments: &[Tensor], store: &ParamStore) -> Result<()> {
    if moments.len() != store.len() {
        return Err(OptimError::StateMismatch(format!(
            "{} {what} tensors for {} parameters",
            moments.len(),
            store.len()
        )));
    }
    for (m, (name, p)) in moments.iter().zip(store.params()) {
        if m.shape() != p.shape() {
            return Err(OptimError::StateMismatch(format!(
                "{what} of `{name}` is {:?}, the parameter {:?}",
                m.shape(),
                p.shape()
            )));
        }
    }
    Ok(())
}

impl Adam {
    /// A fresh optimizer (t = 0, moments created at the first step).
    pub fn new(config: AdamConfig) -> Result<Self> {
        check_config(&config)?;
        Ok(Self {
            config,
            state: AdamState::default(),
        })
    }

    /// The state (t, m, v), e.g. for a checkpoint.
    pub fn state(&self) -> &AdamState {
        &self.state
    }

    /// Restores a state saved by [`Adam::state`]; its moments must match `store`'s parameters
    /// in number, order and shape (or be empty with t = 0).
    pub fn set_state(&mut self, state: AdamState, store: &ParamStore) -> Result<()> {
        if !(state.m.is_empty() && state.v.is_empty() && state.step == 0) {
            check_shapes("m", &state.m, store)?;
            check_shapes("v", &state.v, store)?;
        }
        self.state = state;
        Ok(())
    }

    /// One update of every parameter of `store` from its gradient buffer, steps (a)–(f), at
    /// learning rate `lr` (α of this step, from the schedule; finite and non-negative).
    pub fn step(&mut self, store: &mut ParamStore, lr: f32) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(OptimError::BadConfig(format!("learning rate {lr}")));
        }
        if self.state.m.is_empty() {
            let zeros = |s: &ParamStore| -> Vec<Tensor> {
                s.params()
                    // Cannot fail: the shape of an existing tensor is valid.
                    .map(|(_, p)| Tensor::zeros(p.shape()).expect("a parameter's own shape"))
                    .collect()
            };
            self.state.m = zeros(store);
            self.state.v = zeros(store);
        }
        check_shapes("m", &self.state.m, store)?;
        check_shapes("v", &self.state.v, store)?;
        let AdamConfig { beta1, beta2, eps } = self.config;
        // (a) t ← t + 1; g_t is each parameter's gradient buffer below.
        self.state.step += 1;
        // (d), (e): the bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ of this step.
        let h = AdamHyper::at_step(lr, beta1, beta2, eps, self.state.step);
        let moments = self.state.m.iter_mut().zip(self.state.v.iter_mut());
        let tensors =
            store
                .params_and_grads_mut()
                .zip(moments)
                .map(|((_, theta, grad), (m, v))| {
                    (theta.data_mut(), grad.data(), m.data_mut(), v.data_mut())
                });
        // (b)–(f) element-wise, in the one home of the update, on every tensor in one
        // parallel region.
        adam_update_all(&h, tensors)?;
        Ok(())
    }
}

impl Optimizer for Adam {
    fn step(&mut self, store: &mut ParamStore, lr: f32) -> Result<()> {
        Adam::step(self, store, lr)
    }
}
