//! # siamese-optim
//!
//! Optimizers that update a [`siamese_autodiff::ParamStore`] in place from the gradients a
//! tape's backward added into it:
//!
//! - [`Adam`]: the paper's Table 2, steps (a)–(f), each labelled in the code, with readable and
//!   writable state ([`AdamState`]: t, m, v) for exact checkpoint resume;
//! - [`Sgd`]: SGD with momentum;
//! - [`LrSchedule`]: constant and cosine learning rates, applied through
//!   [`Optimizer::set_lr`].
//!
//! Both optimizers walk the store's parameters in registration order, so their state vectors
//! line up with `ParamStore::params()` names. A step is: `store.zero_grads()`, forward on a
//! fresh tape, `tape.backward(loss, &mut store)`, drop the tape, `opt.step(&mut store)`.

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
    /// Updates every parameter of `store` from its gradient buffer.
    fn step(&mut self, store: &mut ParamStore) -> Result<()>;
    /// Sets the learning rate (for a schedule).
    fn set_lr(&mut self, lr: f32);
}
