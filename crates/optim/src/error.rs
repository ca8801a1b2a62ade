//! Typed errors of the optim crate.

/// What an optimizer can refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptimError {
    /// The store's parameters do not match the optimizer's state (another model, or
    /// parameters added after the first step).
    StateMismatch(String),
    /// A hyper-parameter outside its domain.
    BadConfig(String),
    /// A kernel refused its buffers (cannot happen after the shape checks; kept typed).
    Tensor(siamese_tensor::TensorError),
}

impl std::fmt::Display for OptimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptimError::StateMismatch(msg) => {
                write!(f, "optimizer state does not match the parameters: {msg}")
            }
            OptimError::BadConfig(msg) => write!(f, "invalid hyper-parameter: {msg}"),
            OptimError::Tensor(e) => std::fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for OptimError {}

impl From<siamese_tensor::TensorError> for OptimError {
    fn from(e: siamese_tensor::TensorError) -> Self {
        OptimError::Tensor(e)
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, OptimError>;
