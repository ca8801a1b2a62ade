//! Typed errors of the autodiff crate: each names the operation and the shapes or names involved.

use siamese_tensor::TensorError;
use thiserror::Error;

/// Everything that can go wrong when recording ops on a tape, running backward or touching a
/// [`crate::ParamStore`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AutodiffError {
    /// A kernel of siamese-tensor refused its operands.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// Operands whose shapes do not fit an op of this crate.
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
    /// A name that is neither a parameter nor a buffer of the store.
    #[error("no parameter or buffer is named `{0}`")]
    UnknownName(String),
    /// A name registered twice in a store.
    #[error("the name `{0}` is already registered in the parameter store")]
    DuplicateName(String),
    /// A [`crate::Var`] that was not made by this tape (index past its end).
    #[error("variable #{index} does not belong to this tape ({len} nodes)")]
    ForeignVar { index: usize, len: usize },
    /// A [`crate::ParamId`] that the store does not hold.
    #[error("parameter id #{index} is outside the store ({len} parameters)")]
    ForeignParam { index: usize, len: usize },
    /// [`crate::Tape::backward`] on a tape made by [`crate::Tape::inference`].
    #[error("an inference tape records no backward pass (record the loss on Tape::new() to differentiate it)")]
    InferenceTape,
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, AutodiffError>;

/// Builds an [`AutodiffError::Shape`] for `op` with a formatted message.
pub(crate) fn shape_err(op: &'static str, msg: impl Into<String>) -> AutodiffError {
    AutodiffError::Shape {
        op,
        msg: msg.into(),
    }
}
