//! What defines a model and a training run. Both are saved in every checkpoint (as JSON in
//! the safetensors metadata), so `eval`, `compare`, `show` and `--resume` rebuild exactly the
//! network that was trained.

use serde::{Deserialize, Serialize};
use siamese_tensor::ops::conv2d::Conv2dGeom;
use siamese_tensor::ops::pool::Pool2dGeom;

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
    /// The training loss. y = 1 means "same class" for the pair losses.
    ///
    /// - `contrastive-sigmoid` (default, the paper): reads the output module's similarity
    ///   s = σ(w·BN(d) + b) ∈ (0,1): L = mean(y·max(1 − s, 0)² + (1 − y)·s²), margin 1.
    /// - `contrastive-distance` (Hadsell et al. 2006): reads the raw distance d:
    ///   L = mean(y·d² + (1 − y)·max(1 − d, 0)²); the output module is then trained on top
    ///   with BCE on s so that s stays a calibrated similarity.
    /// - `bce`: binary cross-entropy on s: L = −mean(y·ln s + (1 − y)·ln(1 − s)).
    /// - `triplet` (metric learning, for classes never seen in training): over the 2N images of
    ///   the batch with their classes, L = mean over the triplets that [`Mining`] chooses of
    ///   max(D_ap − D_an + m, 0), D the Euclidean distance of the embeddings (of the
    ///   unit-length embeddings when the comparison module is the cosine similarity); the
    ///   output module is trained on top with BCE on s, as for `contrastive-distance`.
    LossKind { ContrastiveSigmoid = "contrastive-sigmoid", ContrastiveDistance = "contrastive-distance", Bce = "bce", Triplet = "triplet" }
);

impl LossKind {
    /// Whether the output module reads a detached copy of the distance, so that the loss
    /// shapes the embedding through the distance alone and a BCE term trains the head
    /// (`contrastive-distance`, `triplet`): the one home of that rule.
    pub fn trains_head_apart(self) -> bool {
        matches!(self, LossKind::ContrastiveDistance | LossKind::Triplet)
    }
}

mod triplet;
pub use triplet::{Mining, TripletConfig};

named_enum!(
    /// The output module's layers. The paper says only "a sigmoid output"; which layers sit
    /// between the distance and the sigmoid is our choice (`--head`):
    /// - `bn` (default, as the Keras siamese example): s = σ(w·BN(d) + b);
    /// - `plain`: s = σ(w·d + b), no BatchNorm.
    Head { Bn = "bn", Plain = "plain" }
);
named_enum!(
    /// How the output module's weight w starts (`--init`; the paper does not say, so this is
    /// ours). Every other weight is Glorot-uniform either way.
    /// - `sign-aware` (default): w = −max(|w₀|, 0.5) for the Euclidean distance (+ for the
    ///   cosine similarity), so that similarity falls as distance grows from the first step;
    /// - `glorot`: w = w₀ as drawn (Glorot-uniform), whatever its sign: the negative control,
    ///   with which some seeds fall into the collapse trap (see [`crate::siamese`]).
    HeadInit { SignAware = "sign-aware", Glorot = "glorot" }
);

impl Default for Head {
    /// `bn`, what every checkpoint without the field was trained with.
    fn default() -> Self {
        Head::Bn
    }
}

impl Default for HeadInit {
    /// `sign-aware`, what every checkpoint without the field was trained with.
    fn default() -> Self {
        HeadInit::SignAware
    }
}

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
    /// The output module's layers (ours; absent in older checkpoints: `bn`).
    #[serde(default)]
    pub head: Head,
    /// The output module's initial weight (ours; absent in older checkpoints: `sign-aware`).
    #[serde(default)]
    pub init: HeadInit,
    /// K of `--width K`: LeNet-5 with K× the channels and dense units ([`LenetDims::new`]);
    /// 1, the paper's, in every checkpoint without the field. (`width` above is the image's.)
    #[serde(default = "paper_widen")]
    pub widen: usize,
}

/// The paper's LeNet-5 widths: K = 1 (`--width 1`).
fn paper_widen() -> usize {
    1
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
            head: Head::Bn,
            init: HeadInit::SignAware,
            widen: paper_widen(),
        }
    }

    /// The sizes of the LeNet-5 subnet for this input, ending in the embedding E (see
    /// [`LenetDims`]), or an error when the input is too small for LeNet-5.
    pub fn dims(&self) -> Result<LenetDims> {
        LenetDims::new(self, self.embedding)
    }

    /// Checks the sizes are usable and within the limits below, before anything is
    /// allocated (a size read from a flag or from a checkpoint's metadata is never taken on
    /// trust): channels 1 to [`MAX_CHANNELS`], height and width 1 to [`MAX_SIDE`], first-conv
    /// padding at most [`MAX_PAD`], embedding 1 to [`MAX_EMBEDDING`]; then that LeNet-5 fits
    /// the input, at a width K of 1 to [`MAX_WIDEN`] ([`LenetDims::new`]).
    pub fn validate(&self) -> Result<()> {
        in_range("channels", self.channels, 1, MAX_CHANNELS)?;
        in_range("input height", self.height, 1, MAX_SIDE)?;
        in_range("input width", self.width, 1, MAX_SIDE)?;
        in_range("first-conv padding", self.pad1, 0, MAX_PAD)?;
        in_range("--embedding", self.embedding, 1, MAX_EMBEDDING)?;
        self.dims().map(|_| ())
    }
}

/// The largest width multiplier K accepted (`--width`, checkpoint metadata): 8.
pub const MAX_WIDEN: usize = 8;
/// The largest embedding E accepted (`--embedding`, checkpoint metadata): 4096.
pub const MAX_EMBEDDING: usize = 4096;
/// The most input channels accepted: 4.
pub const MAX_CHANNELS: usize = 4;
/// The largest input side accepted: 512 pixels.
pub const MAX_SIDE: usize = 512;
/// The largest zero padding of the first conv accepted: 8.
pub const MAX_PAD: usize = 8;

/// Errors unless `lo <= value <= hi`, naming the setting and its valid range.
pub fn in_range(what: &str, value: usize, lo: usize, hi: usize) -> Result<()> {
    check_range(value, lo, hi).map_err(|e| ModelError::Config(format!("{what} {e}")))
}

/// The words of every range check, flags and files alike: `Err("must be at least {lo} and at
/// most {hi}, got {value}")` unless `lo <= value <= hi` ([`in_range`] puts the setting's name
/// before them; the command line's parsers let clap name the flag).
pub fn check_range(value: usize, lo: usize, hi: usize) -> std::result::Result<(), String> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "must be at least {lo} and at most {hi}, got {value}"
        ))
    }
}

/// The words of every threshold check (`show --threshold`, a run's test.json): a similarity
/// threshold is finite and in [0, 1].
pub fn check_threshold(t: f32) -> std::result::Result<(), String> {
    if t.is_finite() && (0.0..=1.0).contains(&t) {
        Ok(())
    } else {
        Err(format!("must be a number from 0 to 1, got {t}"))
    }
}

/// One conv → act → 2×2/2 pool block of LeNet-5 for one image: C planes of H×W in, K
/// filters of kernel×kernel (stride 1, zero padding p), K planes of OH×OW out of the conv and
/// of (OH/2)×(OW/2) out of the pool. The output sides are those of
/// [`Conv2dGeom::out_h`] ((H + 2p − kernel) + 1) and [`Pool2dGeom::out_h`] ((OH − 2)/2 + 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvBlockDims {
    /// Input planes C.
    pub in_channels: usize,
    /// Input side H×W.
    pub in_side: (usize, usize),
    /// Filters K (output planes).
    pub out_channels: usize,
    /// The square kernel's side.
    pub kernel: usize,
    /// Zero padding on each side.
    pub pad: usize,
    /// Conv output side OH×OW (what the pool reads).
    pub conv_side: (usize, usize),
    /// Pool output side (OH/2)×(OW/2).
    pub pool_side: (usize, usize),
}

impl ConvBlockDims {
    /// The block's sizes, or None when the kernel or the pool window does not fit.
    fn new(
        in_channels: usize, in_side: (usize, usize), out_channels: usize, kernel: usize, pad: usize,
    ) -> Option<Self> {
        let x = [1, in_channels, in_side.0, in_side.1];
        let conv =
            Conv2dGeom::new(&x, &[out_channels, in_channels, kernel, kernel], 1, pad).ok()?;
        let pool = Pool2dGeom::new(&conv.out_shape(), 2, 2).ok()?;
        Some(Self {
            in_channels,
            in_side,
            out_channels,
            kernel,
            pad,
            conv_side: (conv.out_h(), conv.out_w()),
            pool_side: (pool.out_h(), pool.out_w()),
        })
    }

    /// The conv's geometry over a batch of `m` images.
    pub fn geom(&self, m: usize) -> Conv2dGeom {
        Conv2dGeom {
            n: m,
            c: self.in_channels,
            h: self.in_side.0,
            w: self.in_side.1,
            k: self.out_channels,
            kh: self.kernel,
            kw: self.kernel,
            stride: 1,
            pad: self.pad,
        }
    }

    /// What the pool reads for `m` images: (planes m·K, OH, OW).
    pub fn pool_planes(&self, m: usize) -> (usize, usize, usize) {
        (m * self.out_channels, self.conv_side.0, self.conv_side.1)
    }

    /// Elements of the conv output of `m` images, m·K·OH·OW.
    pub fn conv_len(&self, m: usize) -> usize {
        m * self.out_channels * self.conv_side.0 * self.conv_side.1
    }

    /// Elements of the pool output of `m` images, m·K·(OH/2)·(OW/2).
    pub fn pool_len(&self, m: usize) -> usize {
        m * self.out_channels * self.pool_side.0 * self.pool_side.1
    }
}

/// Every size of the LeNet-5 subnet for one input geometry: the one place they are computed.
/// Config validation, [`crate::lenet::Subnet`] (its layers, training and scoring forward), the
/// baseline, checkpoints, ONNX export, the cost count and the device step all read them from
/// here.
///
/// ```text
/// x: C×H×W → conv1 6K@5×5 (pad1) → pool → conv2 16K@5×5 → pool → flat 16K·h·w
///          → fc1 120K → fc2 84K → fc3 E
/// ```
///
/// K is [`ModelConfig::widen`] (`--width K`): every hidden layer K times as wide, K = 1 the
/// paper's LeNet-5. The input C and the outputs E do not change with K.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenetDims {
    /// conv1 → act → pool: C×H×W in, 6K planes out.
    pub conv1: ConvBlockDims,
    /// conv2 → act → pool: 6K planes in, 16K planes of h×w out.
    pub conv2: ConvBlockDims,
    /// Flattened features after the second block, 16K·h·w.
    pub flat: usize,
    /// (inputs, outputs) of fc1, fc2, fc3: flat → 120K → 84K → E.
    pub fc1: (usize, usize),
    pub fc2: (usize, usize),
    pub fc3: (usize, usize),
}

impl LenetDims {
    /// Filters of conv1 and conv2, their kernel side, and the widths of fc1 and fc2 of the
    /// paper's LeNet-5 (K = 1; `--width K` multiplies all but the kernel by K).
    pub const CONV1_FILTERS: usize = 6;
    pub const CONV2_FILTERS: usize = 16;
    pub const KERNEL: usize = 5;
    pub const FC1: usize = 120;
    pub const FC2: usize = 84;

    /// The sizes for `cfg`'s input, ending in `outputs` values (the embedding E, or the
    /// number of classes for the baseline classifier); an error when the input is too small
    /// for LeNet-5 or a size is zero, or when the width K is not 1 to [`MAX_WIDEN`].
    pub fn new(cfg: &ModelConfig, outputs: usize) -> Result<Self> {
        if cfg.channels == 0 || outputs == 0 {
            return Err(ModelError::Config(
                "channels and embedding size (or classes) must be at least 1".into(),
            ));
        }
        in_range("--width", cfg.widen, 1, MAX_WIDEN)?;
        let k = cfg.widen;
        let blocks = ConvBlockDims::new(
            cfg.channels,
            (cfg.height, cfg.width),
            k * Self::CONV1_FILTERS,
            Self::KERNEL,
            cfg.pad1,
        )
        .and_then(|b1| {
            let b2 = ConvBlockDims::new(
                b1.out_channels,
                b1.pool_side,
                k * Self::CONV2_FILTERS,
                Self::KERNEL,
                0,
            )?;
            Some((b1, b2))
        });
        let Some((conv1, conv2)) = blocks else {
            return Err(ModelError::Config(format!(
                "input {}x{} (padding {}) is too small for LeNet-5",
                cfg.height, cfg.width, cfg.pad1
            )));
        };
        let flat = conv2.pool_len(1);
        Ok(Self {
            conv1,
            conv2,
            flat,
            fc1: (flat, k * Self::FC1),
            fc2: (k * Self::FC1, k * Self::FC2),
            fc3: (k * Self::FC2, outputs),
        })
    }

    /// One image's shape C×H×W.
    pub fn image(&self) -> [usize; 3] {
        let (h, w) = self.conv1.in_side;
        [self.conv1.in_channels, h, w]
    }

    /// Values per image, C·H·W.
    pub fn image_len(&self) -> usize {
        self.image().iter().product()
    }

    /// Errors unless `shape` is N×C×H×W with this input's C×H×W; returns N.
    pub fn check_images(&self, shape: &[usize]) -> Result<usize> {
        let [c, h, w] = self.image();
        if shape.len() != 4 || shape[1..] != [c, h, w] {
            return Err(ModelError::Config(format!(
                "images must be N×{c}×{h}×{w}, got {shape:?}"
            )));
        }
        Ok(shape[0])
    }

    /// The embedding size E (fc3's outputs).
    pub fn embedding(&self) -> usize {
        self.fc3.1
    }

    /// The subnet's parameters under `prefix` with their PyTorch shapes, as a checkpoint
    /// holds them: `{prefix}.conv1.weight` \[6K, C, 5, 5\], `{prefix}.conv1.bias` \[6K\], …,
    /// `{prefix}.fc3.weight` \[E, 84K\], `{prefix}.fc3.bias` \[E\]. A checkpoint is checked
    /// against these before any model is built from its metadata.
    pub fn subnet_shapes(&self, prefix: &str) -> Vec<(String, Vec<usize>)> {
        let k = Self::KERNEL;
        let convs = [("conv1", &self.conv1), ("conv2", &self.conv2)]
            .map(|(n, b)| (n, vec![b.out_channels, b.in_channels, k, k], b.out_channels));
        let fcs = [("fc1", self.fc1), ("fc2", self.fc2), ("fc3", self.fc3)]
            .map(|(n, (i, o))| (n, vec![o, i], o));
        convs
            .into_iter()
            .chain(fcs)
            .flat_map(|(n, w, o)| {
                [
                    (format!("{prefix}.{n}.weight"), w),
                    (format!("{prefix}.{n}.bias"), vec![o]),
                ]
            })
            .collect()
    }
}

/// The most worker threads accepted (`--threads`): 4 per available core, at most 1024.
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cores).min(1024)
}

/// Checks a `--threads` value: 1 to [`max_threads`].
pub fn validate_threads(threads: usize) -> Result<()> {
    in_range("--threads", threads, 1, max_threads())
}

/// The most pairs per scoring batch accepted (`eval --batch`): 16384.
pub const MAX_EVAL_BATCH: usize = 16_384;

/// Checks a scoring batch size (`eval --batch`): 1 to [`MAX_EVAL_BATCH`].
pub fn validate_eval_batch(batch: usize) -> Result<()> {
    in_range("--batch", batch, 1, MAX_EVAL_BATCH)
}

#[cfg(test)]
mod tests;
