//! # siamese-optim
//!
//! Optimizers that update a [`siamese_autodiff::ParamStore`] in place from the gradients a
//! tape's backward added into it:
//!
//! - [`Adam`]: the paper's Table 2, steps (a)–(f), each labelled in the code, with readable and
//!   writable state ([`AdamState`]: t, m, v) for exact checkpoint resume;
//! - [`Sgd`]: SGD with momentum;
//! - [`LrSchedule`]: constant and cosine learning rates, the one carrier of the learning
//!   rate: the loop reads α(t) from it and hands it to [`Optimizer::step`].
//!
//! Both optimizers walk the store's parameters in registration order, so their state vectors
//! line up with `ParamStore::params()` names. A step is: `store.zero_grads()`, forward on a
//! fresh tape, `tape.backward(loss, &mut store)`, drop the tape, `opt.step(&mut store, schedule.at(t))`.

pub mod adam;
pub mod error;
pub mod schedule;
pub mod sgd;

pub use adam::{Adam, AdamConfig, AdamState};
pub use error::{OptimError, Result};
pub use schedule::LrSchedule;
pub use sgd::Sgd;

use siamese_autodiff::ParamStore;

/// What the training loop needs from an optimizer.
pub trait Optimizer {
    /// Updates every parameter of `store` from its gradient buffer at learning rate `lr`
    /// (the schedule's α for this step).
    fn step(&mut self, store: &mut ParamStore, lr: f32) -> Result<()>;
}
