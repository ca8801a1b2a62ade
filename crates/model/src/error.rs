//! The model crate's typed errors; the CLI prints them as one line.

/// Anything that can stop training, evaluation or a checkpoint load. Its `Debug` is its
/// message, as `Display`.
pub enum ModelError {
    Tensor(siamese_tensor::TensorError),
    Backend(siamese_tensor::backend::BackendError),
    Autodiff(siamese_autodiff::AutodiffError),
    Nn(siamese_nn::NnError),
    Data(siamese_data::DataError),
    Optim(siamese_optim::OptimError),
    Config(String),
    /// Every pair scores the same and the loss sits at its dead value (detected by the training loop).
    Collapsed(Collapse),
    Checkpoint {
        path: String,
        msg: String,
    },
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Tensor(e) => std::fmt::Display::fmt(e, f),
            ModelError::Backend(e) => std::fmt::Display::fmt(e, f),
            ModelError::Autodiff(e) => std::fmt::Display::fmt(e, f),
            ModelError::Nn(e) => std::fmt::Display::fmt(e, f),
            ModelError::Data(e) => std::fmt::Display::fmt(e, f),
            ModelError::Optim(e) => std::fmt::Display::fmt(e, f),
            ModelError::Config(msg) => f.write_str(msg),
            ModelError::Collapsed(c) => std::fmt::Display::fmt(c, f),
            ModelError::Checkpoint { path, msg } => write!(f, "checkpoint {path}: {msg}"),
            ModelError::Io { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

/// `Debug` prints the message, as `Display` does: what a program whose `main` returns
/// `Result<(), Box<dyn std::error::Error>>` shows on failure (`Error: <message>`), and what
/// `unwrap` shows, rather than the enum's fields.
impl std::fmt::Debug for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // The wrapped errors stand in for this one (their Display is this one's).
            ModelError::Data(e) => e.source(),
            ModelError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `From` for each wrapped error of the crates below, so that `?` converts them.
macro_rules! wrap {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for ModelError {
            fn from(e: $ty) -> Self {
                ModelError::$variant(e)
            }
        }
    )*};
}

wrap!(
    Tensor(siamese_tensor::TensorError),
    Backend(siamese_tensor::backend::BackendError),
    Autodiff(siamese_autodiff::AutodiffError),
    Nn(siamese_nn::NnError),
    Data(siamese_data::DataError),
    Optim(siamese_optim::OptimError)
);

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

/// A run that collapsed (found by siamese-train's collapse detection): the epoch, the one score every pair got, the loss and its dead value.
#[derive(Clone, Debug, PartialEq)]
pub struct Collapse {
    pub epoch: usize,
    /// The validation pairs' score (their mean, when they differ a little).
    pub score: f32,
    pub loss: f64,
    pub dead_loss: f64,
    /// When the scores differ but tell nothing: the validation ROC AUC, at chance.
    pub auc: Option<f64>,
}

impl std::fmt::Display for Collapse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "training collapsed at epoch {}: ", self.epoch)?;
        match self.auc {
            None => write!(f, "every validation pair scores {:.4}", self.score)?,
            Some(auc) => write!(
                f,
                "the validation pairs score {:.4} on average and tell nothing (ROC AUC {auc:.4})",
                self.score
            )?,
        }
        write!(
            f,
            " and the loss sits at {:.4}, its dead value {:.4}, so no gradient reaches the \
             subnet; lower --lr or raise --batch",
            self.loss, self.dead_loss
        )
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A library error returned from `main` prints its message, not its fields.
    #[test]
    fn debug_is_the_message_main_prints() {
        let e = ModelError::io(
            "runs/x/best.safetensors",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(
            format!("{e:?}"),
            "runs/x/best.safetensors: entity not found"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert_eq!(format!("{boxed:?}"), boxed.to_string());
        let data = ModelError::from(siamese_data::DataError::Empty {
            path: "a.gz".into(),
        });
        assert_eq!(format!("{data:?}"), data.to_string());
        assert!(!format!("{data:?}").contains("Empty"), "{data:?}");
    }
}
