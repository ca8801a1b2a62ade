//! # siamese
//!
//! A siamese LeNet-5 network (SN-LeNet-5), every equation from scratch: train it, load a
//! checkpoint, embed images and score image pairs, from Rust code. The command-line program
//! `siamese` is this crate's binary, behind the default feature `cli`; a library user turns
//! the default features off and builds none of its dependencies:
//!
//! ```toml
//! [dependencies]
//! siamese = { path = "…/siamese", default-features = false }
//! ```
//!
//! Features: `cli` (default: the programs, and all of the below), `images` (image files as
//! model inputs: [`load_image`]), `plot` (curves.png, pair pictures), `fetch` (dataset
//! download), `cuda` (the GPU backend).
//!
//! Score a pair of test images with a trained checkpoint (examples/score_pair.rs):
//!
//! ```no_run
//! let (mut model, cfg) = siamese::SnLenet5::from_checkpoint("runs/mnist/best.safetensors".as_ref())?;
//! let test = siamese::test_images(&cfg, None)?;
//! let (a, b) = (siamese::image(&test, 0)?, siamese::image(&test, 1)?);
//! println!("similarity {:.4}", siamese::similarity(&mut model, &a, &b)?);
//! # Ok::<(), siamese::ModelError>(())
//! ```
//!
//! The layers of the stack, each re-exported under a short name, bottom-up:
//!
//! - [`tensor`]: f32 NCHW tensors and the SIMD kernels (gemm, conv2d, pooling, element-wise);
//! - [`autodiff`]: reverse-mode autodiff on a tape;
//! - [`nn`]: layers, initialisers, the comparison module and the losses;
//! - [`optim`]: Adam (the paper's Table 2) and SGD;
//! - [`data`]: IDX and CIFAR-10 readers, splits, pairs and batches;
//! - [`model`]: SN-LeNet-5: the network, scoring pairs and their metrics, checkpoints;
//! - [`train`](mod@train): how a run is made: the training loop, augmentation, resume, sweep,
//!   curves, the classifier baseline;
//! - [`eval`]: what we measure beyond a run's test: class groups, retrieval, k-NN, one-shot,
//!   HOG + SVM, PCA and embedding export;
//! - `cuda` (with the `cuda` feature): the GPU backend, siamese-cuda.
//!
//! Speed: the kernels need optimisation. The workspace's profiles do not reach a dependent, so
//! in a debug build of your program add to its Cargo.toml
//! `[profile.dev.package."*"] opt-level = 3` (or build with `--release`); unoptimised, training
//! is tens of times slower.
//!
//! The command-line programs: `siamese` (src/bin/siamese/) and `siamese-bench`
//! (src/bin/siamese-bench/, also run as `siamese bench`).

use std::path::{Path, PathBuf};

pub use siamese_autodiff as autodiff;
#[cfg(feature = "cuda")]
pub use siamese_cuda as cuda;
pub use siamese_data as data;
pub use siamese_eval as eval;
pub use siamese_model as model;
pub use siamese_nn as nn;
pub use siamese_optim as optim;
pub use siamese_tensor as tensor;
pub use siamese_train as train;

pub use siamese_data::{DatasetKind, ImageSet};
pub use siamese_model::run::EpochRecord;
pub use siamese_model::{ModelError, SnLenet5, TrainConfig};
pub use siamese_tensor::Tensor;
pub use siamese_train::TrainOutcome;

#[cfg(feature = "cli")]
pub mod pipeline;

/// The result of this crate's functions: every failure is one [`ModelError`] whose message
/// is one line naming the file or the setting at fault.
pub type Result<T> = std::result::Result<T, ModelError>;

/// Reads an image file (PNG, JPEG, BMP or PNM) as `model`'s input: a 1×C×H×W tensor in
/// [0, 1], converted to the model's channels and resized (bilinear) to its H×W when the size
/// differs. Feature `images`.
///
/// ```no_run
/// let (mut model, _) = siamese::SnLenet5::from_checkpoint("best.safetensors".as_ref())?;
/// let a = siamese::load_image("a.png", &model)?;
/// let b = siamese::load_image("b.png", &model)?;
/// let s = siamese::similarity(&mut model, &a, &b)?;
/// # Ok::<(), siamese::ModelError>(())
/// ```
#[cfg(feature = "images")]
pub fn load_image(path: impl AsRef<Path>, model: &SnLenet5) -> Result<Tensor> {
    let m = &model.config;
    let img = siamese_data::read_image(path.as_ref(), (m.channels, m.height, m.width))?;
    Ok(img.tensor()?)
}

/// The test images of the dataset a checkpoint was trained on (`cfg` from
/// [`SnLenet5::from_checkpoint`]), read from `data_dir`, else `$SIAMESE_DATA_DIR`, else
/// `./datasets`.
///
/// A benchmark dataset only: a run on an image folder reads it through
/// `siamese::pipeline::data::load` (feature `cli`).
pub fn test_images(cfg: &TrainConfig, data_dir: Option<&Path>) -> Result<ImageSet> {
    let kind = cfg.dataset.kind().ok_or_else(|| {
        ModelError::Config(format!(
            "{} is an image folder, not a benchmark dataset",
            cfg.dataset
        ))
    })?;
    Ok(siamese_data::load(kind, data_dir)?.1)
}

/// Image `index` of `set` as a model input: a 1×C×H×W tensor in [0, 1].
pub fn image(set: &ImageSet, index: u32) -> Result<Tensor> {
    Ok(siamese_data::images_tensor(set, &[index])?)
}

/// The similarity s ∈ (0, 1) of one pair of images (each 1×C×H×W) in evaluation mode: the
/// subnets' embeddings, the comparison module and the output module.
/// [`model::metrics::says_same`]`(s, t)` (s > t, t = 0.5 or the validation threshold stored
/// by `siamese eval`) reads "same class".
///
/// ```
/// use siamese::{model::ModelConfig, SnLenet5, Tensor};
/// let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 0)?; // untrained
/// let x = Tensor::zeros(&[1, 1, 28, 28])?;
/// let s = siamese::similarity(&mut model, &x, &x)?;
/// assert!(s > 0.0 && s < 1.0);
/// # Ok::<(), siamese::ModelError>(())
/// ```
pub fn similarity(model: &mut SnLenet5, a: &Tensor, b: &Tensor) -> Result<f32> {
    model
        .score(a, b, 1)?
        .first()
        .copied()
        .ok_or_else(|| ModelError::Config("similarity: the images hold no image".into()))
}

/// The embeddings of N images (N×C×H×W → N×E, E = the embedding size): the subnet's output,
/// what the comparison module measures distances between.
///
/// ```
/// use siamese::{model::ModelConfig, SnLenet5, Tensor};
/// let model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 0)?;
/// let e = siamese::embed(&model, &Tensor::zeros(&[3, 1, 28, 28])?)?;
/// assert_eq!(e.shape(), &[3, 10]);
/// # Ok::<(), siamese::ModelError>(())
/// ```
pub fn embed(model: &SnLenet5, images: &Tensor) -> Result<Tensor> {
    model.embed(images)
}

/// What [`train()`] reports while it runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// An epoch of `batches` batches starts (epochs count from 1).
    EpochStart {
        epoch: usize,
        epochs: usize,
        batches: usize,
    },
    /// A batch is done: batches done in this epoch, running mean loss, pairs per second.
    Batch {
        done: usize,
        loss: f64,
        pairs_per_second: f64,
    },
    /// An epoch is done (and validated, when due).
    Epoch(&'a EpochRecord),
    /// A status line (saved checkpoints, the test evaluation).
    Message(&'a str),
}

/// Adapts a closure to the training loop's [`train::train::Observer`].
struct Callback<F>(F);

impl<F: FnMut(Progress)> train::train::Observer for Callback<F> {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        (self.0)(Progress::EpochStart {
            epoch,
            epochs,
            batches,
        })
    }
    fn batch_done(&mut self, done: usize, loss: f64, pairs_per_second: f64) {
        (self.0)(Progress::Batch {
            done,
            loss,
            pairs_per_second,
        })
    }
    fn epoch_done(&mut self, record: &EpochRecord) {
        (self.0)(Progress::Epoch(record))
    }
    fn message(&mut self, msg: &str) {
        (self.0)(Progress::Message(msg))
    }
}

/// Trains SN-LeNet-5 as `cfg` says ([`TrainConfig::paper`] gives the paper's settings) on
/// the dataset read from `data_dir` (else `$SIAMESE_DATA_DIR`, else `./datasets`), calling
/// `on_progress` as it goes. With `out`, the run folder is written as `siamese train` writes
/// it (metrics.jsonl, best/last.safetensors, config.json, test.json, and curves.png with the
/// `plot` feature). The outcome holds the trained model and, unless stopped, the test
/// evaluation at the best validation epoch's weights.
///
/// ```no_run
/// let mut cfg = siamese::TrainConfig::paper(siamese::DatasetKind::Mnist);
/// cfg.epochs = 1;
/// cfg.limit = Some(2000);
/// let outcome = siamese::train(&cfg, None, None, |p| {
///     if let siamese::Progress::Epoch(r) = p {
///         println!("epoch {}: val acc {:?}", r.epoch, r.val_acc);
///     }
/// })?;
/// # Ok::<(), siamese::ModelError>(())
/// ```
pub fn train(
    cfg: &TrainConfig, data_dir: Option<&Path>, out: Option<PathBuf>,
    on_progress: impl FnMut(Progress),
) -> Result<TrainOutcome> {
    let data = model::run::RunData::prepare(cfg, data_dir)?;
    train_on_data(cfg, &data, out, on_progress)
}

/// [`train()`] on data already prepared ([`model::run::RunData::from_sets`] builds it from
/// image sets in memory, e.g. synthetic ones).
pub fn train_on_data(
    cfg: &TrainConfig, data: &model::run::RunData, out: Option<PathBuf>,
    on_progress: impl FnMut(Progress),
) -> Result<TrainOutcome> {
    let opts = train::TrainOptions {
        out,
        ..Default::default()
    };
    train::train(cfg, data, None, &opts, &mut Callback(on_progress))
}
