//! Typed errors of the tensor crate: each names the operation and the shapes involved.

/// Everything that can go wrong when building tensors or calling a kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorError {
    /// `from_vec` got a buffer whose length does not match the product of the shape.
    LengthMismatch {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    /// A shape with more than four axes (tensors are at most NCHW).
    TooManyAxes(Vec<usize>),
    /// `reshape` to a shape with another number of elements.
    BadReshape {
        from: Vec<usize>,
        to: Vec<usize>,
        from_len: usize,
        to_len: usize,
    },
    /// An operation got operands whose shapes do not fit together.
    Shape { op: &'static str, msg: String },
}

impl std::fmt::Display for TensorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TensorError::LengthMismatch {
                shape,
                expected,
                got,
            } => write!(
                f,
                "shape {shape:?} holds {expected} values but the buffer has {got}"
            ),
            TensorError::TooManyAxes(shape) => write!(
                f,
                "shape {shape:?} has more than 4 axes (tensors are at most N,C,H,W)"
            ),
            TensorError::BadReshape {
                from,
                to,
                from_len,
                to_len,
            } => write!(
                f,
                "cannot reshape {from:?} ({from_len} values) into {to:?} ({to_len} values)"
            ),
            TensorError::Shape { op, msg } => write!(f, "{op}: {msg}"),
        }
    }
}

impl std::error::Error for TensorError {}

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
