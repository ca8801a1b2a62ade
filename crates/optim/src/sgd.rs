//! Stochastic gradient descent with (heavy-ball) momentum, PyTorch's form:
//!   u_t = μ·u_{t−1} + g_t,   θ_t = θ_{t−1} − α·u_t
//! (μ = 0 is plain SGD, θ −= α·g). The velocities u are public state for checkpoints; α is
//! each step's, from the schedule (as for Adam).

use siamese_autodiff::ParamStore;
use siamese_tensor::Tensor;

use crate::error::{OptimError, Result};
use crate::Optimizer;

/// SGD with momentum.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Momentum μ ∈ [0, 1).
    pub momentum: f32,
    /// Velocities u, one per parameter in registration order (empty before the first step).
    pub velocity: Vec<Tensor>,
}

impl Sgd {
    /// SGD with momentum `momentum` (0 for none).
    pub fn new(momentum: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&momentum) {
            return Err(OptimError::BadConfig(format!("momentum {momentum}")));
        }
        Ok(Self {
            momentum,
            velocity: Vec::new(),
        })
    }

    /// One update of every parameter of `store` from its gradient buffer, at learning rate
    /// `lr` (finite and non-negative).
    pub fn step(&mut self, store: &mut ParamStore, lr: f32) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(OptimError::BadConfig(format!("learning rate {lr}")));
        }
        if self.velocity.is_empty() {
            self.velocity = store
                .params()
                // Cannot fail: the shape of an existing tensor is valid.
                .map(|(_, p)| Tensor::zeros(p.shape()).expect("a parameter's own shape"))
                .collect();
        }
        if self.velocity.len() != store.len()
            || self
                .velocity
                .iter()
                .zip(store.params())
                .any(|(u, (_, p))| u.shape() != p.shape())
        {
            return Err(OptimError::StateMismatch(
                "velocities do not match the parameters".into(),
            ));
        }
        let mu = self.momentum;
        for ((_, theta, grad), u) in store.params_and_grads_mut().zip(&mut self.velocity) {
            let it = theta
                .data_mut()
                .iter_mut()
                .zip(grad.data())
                .zip(u.data_mut());
            for ((th, &g), u) in it {
                *u = mu * *u + g; // u_t = μu + g
                *th -= lr * *u; // θ −= α·u_t
            }
        }
        Ok(())
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, store: &mut ParamStore, lr: f32) -> Result<()> {
        Sgd::step(self, store, lr)
    }
}
