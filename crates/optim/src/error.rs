//! Typed errors of the optim crate.

use thiserror::Error;

/// What an optimizer can refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OptimError {
    /// The store's parameters do not match the optimizer's state (another model, or
    /// parameters added after the first step).
    #[error("optimizer state does not match the parameters: {0}")]
    StateMismatch(String),
    /// A hyper-parameter outside its domain.
    #[error("invalid hyper-parameter: {0}")]
    BadConfig(String),
    /// A kernel refused its buffers (cannot happen after the shape checks; kept typed).
    #[error(transparent)]
    Tensor(#[from] siamese_tensor::TensorError),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, OptimError>;
