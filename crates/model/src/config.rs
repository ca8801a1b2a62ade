//! What defines a model and a training run. Both are saved in every checkpoint (as JSON in
//! the safetensors metadata), so `eval`, `compare`, `show` and `--resume` rebuild exactly the
//! network that was trained.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($(#[$vm])* $var),+ }
        impl $name {
            /// Every accepted spelling, for error messages and `--help`.
            pub const NAMES: &'static [&'static str] = &[$($s),+];
            /// The command-line spelling.
            pub fn name(self) -> &'static str { match self { $(Self::$var => $s),+ } }
        }
        impl std::str::FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self> {
                match s { $($s => Ok(Self::$var),)+
                    _ => Err(ModelError::Config(format!(
                        "unknown {} '{s}' (expected one of: {})", stringify!($name), Self::NAMES.join(", ")))) }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.name()) }
        }
    };
}

named_enum!(
    /// The non-linearity after each conv and hidden dense layer of the subnet.
    Activation { Relu = "relu", Tanh = "tanh" }
);
named_enum!(
    /// The 2×2/2 pooling after each conv.
    Pooling { Max = "max", Avg = "avg" }
);
named_enum!(
    /// What follows the subnet's last dense layer.
    EmbeddingActivation { Tanh = "tanh", Linear = "linear" }
);
named_enum!(
    /// The comparison module.
    Distance { Euclidean = "euclidean", Cosine = "cosine" }
);
named_enum!(
    /// The training loss. y = 1 means "same class" for all three.
    ///
    /// - `contrastive-sigmoid` (default, the paper): reads the output module's similarity
    ///   s = σ(w·BN(d) + b) ∈ (0,1): L = mean(y·max(1 − s, 0)² + (1 − y)·s²), margin 1.
    /// - `contrastive-distance` (Hadsell et al. 2006): reads the raw distance d:
    ///   L = mean(y·d² + (1 − y)·max(1 − d, 0)²); the output module is then trained on top
    ///   with BCE on s so that s stays a calibrated similarity.
    /// - `bce`: binary cross-entropy on s: L = −mean(y·ln s + (1 − y)·ln(1 − s)).
    LossKind { ContrastiveSigmoid = "contrastive-sigmoid", ContrastiveDistance = "contrastive-distance", Bce = "bce" }
);

/// The architecture of SN-LeNet-5 (or of the LeNet-5 baseline classifier, which uses the same
/// subnet with `embedding` = number of classes and no output module).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Input channels (1 for MNIST-like, 3 for CIFAR-10).
    pub channels: usize,
    /// Input height and width (28 or 32).
    pub height: usize,
    pub width: usize,
    /// Zero padding of the first conv: 2 for 28×28 inputs (the classic 32×32 geometry), 0 for 32×32.
    pub pad1: usize,
    pub activation: Activation,
    pub pooling: Pooling,
    /// Embedding size E (default 10).
    pub embedding: usize,
    pub embedding_activation: EmbeddingActivation,
    pub distance: Distance,
}

impl ModelConfig {
    /// The paper's SN-LeNet-5 for inputs of `channels`×`height`×`width`.
    pub fn for_input(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
            pad1: if height < 32 { 2 } else { 0 },
            activation: Activation::Relu,
            pooling: Pooling::Max,
            embedding: 10,
            embedding_activation: EmbeddingActivation::Tanh,
            distance: Distance::Euclidean,
        }
    }

    /// Side of the feature map after conv1 → pool → conv2 → pool, or an error when the input
    /// is too small for LeNet-5.
    pub fn feature_side(&self) -> Result<(usize, usize)> {
        let side = |s: usize| -> Option<usize> {
            let c1 = (s + 2 * self.pad1).checked_sub(4)?;
            let c2 = (c1 / 2).checked_sub(4)?;
            (c2 / 2 > 0).then_some(c2 / 2)
        };
        match (side(self.height), side(self.width)) {
            (Some(h), Some(w)) => Ok((h, w)),
            _ => Err(ModelError::Config(format!(
                "input {}x{} (padding {}) is too small for LeNet-5",
                self.height, self.width, self.pad1
            ))),
        }
    }

    /// Checks the sizes are usable.
    pub fn validate(&self) -> Result<()> {
        if self.channels == 0 || self.embedding == 0 {
            return Err(ModelError::Config(
                "channels and embedding size must be at least 1".into(),
            ));
        }
        self.feature_side().map(|_| ())
    }
}
