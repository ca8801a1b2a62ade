//! Typed errors of the nn crate.

use siamese_autodiff::AutodiffError;
use siamese_tensor::TensorError;

/// Everything a layer, a distance or a loss can refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum NnError {
    /// An op on the tape failed (shapes, unknown variable, duplicate parameter name...).
    Autodiff(AutodiffError),
    /// A tensor could not be built.
    Tensor(TensorError),
    /// An argument outside its domain (a zero-sized layer, a label outside [0, 1]...).
    Invalid { what: &'static str, msg: String },
}

impl std::fmt::Display for NnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NnError::Autodiff(e) => std::fmt::Display::fmt(e, f),
            NnError::Tensor(e) => std::fmt::Display::fmt(e, f),
            NnError::Invalid { what, msg } => write!(f, "{what}: {msg}"),
        }
    }
}

impl std::error::Error for NnError {}

impl From<AutodiffError> for NnError {
    fn from(e: AutodiffError) -> Self {
        NnError::Autodiff(e)
    }
}

impl From<TensorError> for NnError {
    fn from(e: TensorError) -> Self {
        NnError::Tensor(e)
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, NnError>;

pub(crate) fn invalid(what: &'static str, msg: impl Into<String>) -> NnError {
    NnError::Invalid {
        what,
        msg: msg.into(),
    }
}
