//! Typed errors of the tensor crate: each names the operation and the shapes involved.

use thiserror::Error;

/// Everything that can go wrong when building tensors or calling a kernel.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TensorError {
    /// `from_vec` got a buffer whose length does not match the product of the shape.
    #[error("shape {shape:?} holds {expected} values but the buffer has {got}")]
    LengthMismatch {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    /// A shape with more than four axes (tensors are at most NCHW).
    #[error("shape {0:?} has more than 4 axes (tensors are at most N,C,H,W)")]
    TooManyAxes(Vec<usize>),
    /// `reshape` to a shape with another number of elements.
    #[error("cannot reshape {from:?} ({from_len} values) into {to:?} ({to_len} values)")]
    BadReshape {
        from: Vec<usize>,
        to: Vec<usize>,
        from_len: usize,
        to_len: usize,
    },
    /// An operation got operands whose shapes do not fit together.
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TensorError>;

/// Builds a [`TensorError::Shape`] for `op` with a formatted message.
pub(crate) fn shape_err(op: &'static str, msg: impl Into<String>) -> TensorError {
    TensorError::Shape {
        op,
        msg: msg.into(),
    }
}

/// Errors (naming `op`) unless buffer `what` holds `want` values: the length check of every
/// slice-level op and of the backends.
pub fn check_len(op: &'static str, what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(shape_err(
            op,
            format!("{what} has {got} values, expected {want}"),
        ));
    }
    Ok(())
}
