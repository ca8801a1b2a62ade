//! The model crate's typed errors; the CLI prints them as one line.

use thiserror::Error;

/// Anything that can stop training, evaluation or a checkpoint load.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error(transparent)]
    Tensor(#[from] siamese_tensor::TensorError),
    #[error(transparent)]
    Backend(#[from] siamese_tensor::backend::BackendError),
    #[error(transparent)]
    Autodiff(#[from] siamese_autodiff::AutodiffError),
    #[error(transparent)]
    Nn(#[from] siamese_nn::NnError),
    #[error(transparent)]
    Data(#[from] siamese_data::DataError),
    #[error(transparent)]
    Optim(#[from] siamese_optim::OptimError),
    #[error("{0}")]
    Config(String),
    /// Every pair scores the same and the loss sits at its dead value (see [`crate::collapse`]).
    #[error("{0}")]
    Collapsed(crate::collapse::Collapse),
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: String, msg: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ModelError {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// A checkpoint problem on `path`.
    pub fn checkpoint(path: impl AsRef<std::path::Path>, msg: impl Into<String>) -> Self {
        ModelError::Checkpoint {
            path: path.as_ref().display().to_string(),
            msg: msg.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
