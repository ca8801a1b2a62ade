//! Typed errors of the nn crate.

use siamese_autodiff::AutodiffError;
use siamese_tensor::TensorError;
use thiserror::Error;

/// Everything a layer, a distance or a loss can refuse.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NnError {
    /// An op on the tape failed (shapes, unknown variable, duplicate parameter name...).
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    /// A tensor could not be built.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// An argument outside its domain (a zero-sized layer, a label outside [0, 1]...).
    #[error("{what}: {msg}")]
    Invalid { what: &'static str, msg: String },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, NnError>;

pub(crate) fn invalid(what: &'static str, msg: impl Into<String>) -> NnError {
    NnError::Invalid {
        what,
        msg: msg.into(),
    }
}
