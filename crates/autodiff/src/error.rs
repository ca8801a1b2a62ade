//! Typed errors of the autodiff crate: each names the operation and the shapes or names involved.

use siamese_tensor::TensorError;

/// Everything that can go wrong when recording ops on a tape, running backward or touching a
/// [`crate::ParamStore`].
#[derive(Debug, Clone, PartialEq)]
pub enum AutodiffError {
    /// A kernel of siamese-tensor refused its operands.
    Tensor(TensorError),
    /// Operands whose shapes do not fit an op of this crate.
    Shape { op: &'static str, msg: String },
    /// A name that is neither a parameter nor a buffer of the store.
    UnknownName(String),
    /// A name registered twice in a store.
    DuplicateName(String),
    /// A [`crate::Var`] that was not made by this tape (index past its end).
    ForeignVar { index: usize, len: usize },
    /// A [`crate::ParamId`] that the store does not hold.
    ForeignParam { index: usize, len: usize },
    /// [`crate::Tape::backward`] on a tape made by [`crate::Tape::inference`].
    InferenceTape,
}

impl std::fmt::Display for AutodiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AutodiffError::Tensor(e) => std::fmt::Display::fmt(e, f),
            AutodiffError::Shape { op, msg } => write!(f, "{op}: {msg}"),
            AutodiffError::UnknownName(name) => {
                write!(f, "no parameter or buffer is named `{name}`")
            }
            AutodiffError::DuplicateName(name) => write!(
                f,
                "the name `{name}` is already registered in the parameter store"
            ),
            AutodiffError::ForeignVar { index, len } => write!(
                f,
                "variable #{index} does not belong to this tape ({len} nodes)"
            ),
            AutodiffError::ForeignParam { index, len } => write!(
                f,
                "parameter id #{index} is outside the store ({len} parameters)"
            ),
            AutodiffError::InferenceTape => f.write_str(
                "an inference tape records no backward pass \
                 (record the loss on Tape::new() to differentiate it)",
            ),
        }
    }
}

impl std::error::Error for AutodiffError {}

impl From<TensorError> for AutodiffError {
    fn from(e: TensorError) -> Self {
        AutodiffError::Tensor(e)
    }
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
