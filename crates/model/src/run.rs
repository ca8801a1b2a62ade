//! What defines a training run and what it records: [`TrainConfig`] (saved in every
//! checkpoint as JSON), the data of a run prepared once ([`RunData`]: split, `--limit`
//! subsample, fixed validation and test pairs), one epoch's metrics line ([`EpochRecord`]),
//! where a run stands ([`TrainState`], saved for `--resume`) and the files of a run directory
//! ([`RunFiles`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use siamese_data::pairs::{epoch_seed, make_pairs, test_pairs, test_pairs_of};
use siamese_data::{split, DatasetKind, ImageSet, Label, Pair};
use siamese_optim::LrSchedule;
use siamese_tensor::Tensor;

use crate::config::{in_range, LossKind, ModelConfig, TripletConfig};
use crate::error::{ModelError, Result};

/// Seed offset of the fixed validation pairs (they do not change between epochs).
const VAL_PAIR_STREAM: u64 = 0x5641_4C00;

/// Adam's learning rate α in the paper's settings (Table 2), the default of `--lr`.
pub const PAPER_LR: f32 = 1e-3;
/// Pairs per training batch in the paper's settings, the default of `--batch`.
pub const PAPER_BATCH: usize = 64;

/// The most epochs (and the largest `--val-every`) accepted: 100,000.
pub const MAX_EPOCHS: usize = 100_000;
/// The most pairs per training batch accepted: 4096 (the paper uses 32 to 96; a batch holds
/// the tape of 2N images).
pub const MAX_BATCH: usize = 4096;
/// The largest learning rate accepted: 10.
pub const MAX_LR: f32 = 10.0;
/// The largest `--limit` accepted (training images kept): 2^24, above every dataset's size.
pub const MAX_LIMIT: usize = 1 << 24;

/// Claims the output folder `dir` of a command that writes `files` into it (`train`,
/// `train-baseline`), before any work: refuses a path that exists and is not a folder, and a
/// folder already holding any of `files` unless `force` (the message offers `--resume` when
/// the command has it).
pub fn claim_folder(dir: &Path, files: &[PathBuf], force: bool, resumable: bool) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(ModelError::Config(format!(
                "--out {} exists and is not a folder",
                dir.display()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ModelError::io(dir, e)),
    }
    let mut present = Vec::new();
    for f in files {
        match std::fs::symlink_metadata(f) {
            Ok(_) => present.push(
                f.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ModelError::io(f, e)),
        }
    }
    if present.is_empty() || force {
        return Ok(());
    }
    let resume = if resumable {
        format!(", --resume {} to continue it,", dir.display())
    } else {
        String::new()
    };
    Err(ModelError::Config(format!(
        "{} already holds a run ({}): pass --force to overwrite it{resume} or choose another --out",
        dir.display(),
        present.join(", "),
    )))
}

/// A class list as the messages print it: `0,1,2` (what `--train-classes` accepts).
pub fn class_list(classes: &[Label]) -> String {
    let c: Vec<String> = classes.iter().map(Label::to_string).collect();
    c.join(",")
}

/// Everything that defines a training run (saved in checkpoints as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// A benchmark dataset (spelt "mnist", "fashion-mnist" or "cifar-10" in JSON) or a user's
    /// image folder ([`Dataset`]).
    pub dataset: Dataset,
    /// Passes over the training pairs. Default 50 for MNIST (the paper's setting).
    pub epochs: usize,
    /// Pairs per batch. Default 64 (the paper's).
    pub batch: usize,
    /// Adam's learning rate α. Default 0.001 (the paper's).
    pub lr: f32,
    /// Adam's ε. Default 1e-8 (the paper's Table 2).
    pub adam_eps: f32,
    /// Learning-rate schedule over steps: constant (default) or cosine.
    pub schedule: Schedule,
    /// The seed of every random choice. Default 0.
    pub seed: u64,
    /// Train on a stratified subsample of this many training images (None: all 48,000).
    pub limit: Option<usize>,
    /// Validate every this many epochs (and after the last). Default 1.
    pub val_every: usize,
    pub loss: LossKind,
    /// New training pairs every epoch (default) or the same pairs every epoch.
    pub pairs_per_epoch: bool,
    /// Training-time augmentation (default none, the paper's setting).
    #[serde(default)]
    pub augment: Augment,
    pub model: ModelConfig,
    /// Train (and validate and test) on these classes only (`--train-classes`; None: all).
    /// Saved in the checkpoint, so `eval` can score seen, unseen and mixed pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_classes: Option<Vec<Label>>,
    /// The triplet loss's settings: `Some` exactly when `loss` is `triplet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triplet: Option<TripletConfig>,
}

impl TrainConfig {
    /// The paper's settings for `dataset`: Adam 0.001, batch 64, contrastive loss on the
    /// sigmoid output, margin 1; 50 epochs for MNIST, 100 for Fashion-MNIST, 1,500 for CIFAR-10
    /// (a folder: those of its family, [`Dataset::family`]).
    pub fn paper(dataset: impl Into<Dataset>) -> Self {
        let dataset = dataset.into();
        let (c, h, w) = dataset.geometry();
        Self {
            epochs: match dataset.family() {
                DatasetKind::Mnist => 50,
                DatasetKind::FashionMnist => 100,
                DatasetKind::Cifar10 => 1500,
            },
            batch: PAPER_BATCH,
            lr: PAPER_LR,
            adam_eps: siamese_optim::AdamConfig::default().eps,
            schedule: Schedule::Constant,
            seed: 0,
            limit: None,
            val_every: 1,
            loss: LossKind::ContrastiveSigmoid,
            pairs_per_epoch: true,
            augment: Augment::None,
            model: ModelConfig::for_input(c, h, w),
            train_classes: None,
            triplet: None,
            dataset,
        }
    }

    /// Checks every setting before any work (the CLI calls it before the data loads; a
    /// checkpoint's `train` metadata is checked with it too), naming the flag and its valid
    /// range: `--epochs` and `--val-every` 1 to [`MAX_EPOCHS`], `--batch` 1 to [`MAX_BATCH`],
    /// `--lr` and Adam's ε finite and positive (`--lr` at most [`MAX_LR`]), `--limit` at
    /// least 1, and the model ([`ModelConfig::validate`]).
    pub fn validate(&self) -> Result<()> {
        in_range("--epochs", self.epochs, 1, MAX_EPOCHS)?;
        in_range("--batch", self.batch, 1, MAX_BATCH)?;
        in_range("--val-every", self.val_every, 1, MAX_EPOCHS)?;
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= MAX_LR) {
            return Err(ModelError::Config(format!(
                "--lr must be positive, finite and at most {MAX_LR}, got {}",
                self.lr
            )));
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            return Err(ModelError::Config(format!(
                "Adam's epsilon must be positive and finite, got {}",
                self.adam_eps
            )));
        }
        if let Some(l) = self.limit {
            in_range("--limit", l, 1, MAX_LIMIT)?;
        }
        if let Some(c) = &self.train_classes {
            let n = self.dataset.num_classes();
            if c.len() < 2 || c.iter().any(|&k| k as usize >= n) {
                return Err(ModelError::Config(format!(
                    "--train-classes needs at least two classes in 0..{n}, got {}",
                    class_list(c)
                )));
            }
        }
        match (self.loss, &self.triplet) {
            (LossKind::Triplet, Some(t)) => t.validate()?,
            (LossKind::Triplet, None) => {
                return Err(ModelError::Config(
                    "--loss triplet needs its settings (--mining, --margin)".into(),
                ))
            }
            (_, Some(_)) => {
                return Err(ModelError::Config(format!(
                    "--mining and --margin apply to --loss triplet, not --loss {}",
                    self.loss
                )))
            }
            (_, None) => {}
        }
        self.model.validate()
    }

    /// What this run's steps minimise, given the classes of a batch's stacked images (read
    /// only by the triplet loss).
    pub fn objective<'a>(&self, classes: &'a [u32]) -> crate::siamese::Objective<'a> {
        use crate::siamese::Objective;
        match (self.loss, self.triplet) {
            (LossKind::Triplet, Some(t)) => Objective::Triplet(t, classes),
            // `validate` refuses a triplet loss without its settings: take the defaults.
            (LossKind::Triplet, None) => {
                Objective::Triplet(TripletConfig::default_for(self.model.distance), classes)
            }
            (kind, _) => Objective::Pairs(kind),
        }
    }

    /// The learning-rate schedule of this run over `total_steps` steps: the one carrier of
    /// `lr` to the optimiser's steps.
    pub fn lr_schedule(&self, total_steps: u64) -> LrSchedule {
        self.schedule.over(self.lr, total_steps)
    }
}

/// The rule "best validation epoch": validation accuracy `candidate` beats the best so far
/// when it is strictly higher (so the first of equal epochs stays best); anything beats
/// none. The training loop keeps best.safetensors by it, [`best_epoch`] reads a history by it.
pub fn beats(candidate: f64, best_so_far: Option<f64>) -> bool {
    best_so_far.is_none_or(|b| candidate > b)
}

/// The epoch of the highest validation accuracy (the first, on ties: [`beats`]), what
/// best.safetensors holds, from (epoch, validation accuracy if validated) items.
pub fn best_epoch(points: impl IntoIterator<Item = (usize, Option<f64>)>) -> Option<(usize, f64)> {
    points
        .into_iter()
        .filter_map(|(e, v)| v.map(|v| (e, v)))
        .fold(None, |best, (e, v)| {
            if beats(v, best.map(|(_, b)| b)) {
                Some((e, v))
            } else {
                best
            }
        })
}

/// Which augmentation a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Augment {
    /// The paper's setting: images as they are.
    #[default]
    None,
    /// Random shifts of up to 2 pixels each way (digits and clothes must not be mirrored).
    Shift,
    /// Random shifts of up to 4 pixels and horizontal flips (CIFAR-10).
    ShiftFlip,
}

impl Augment {
    /// Every accepted spelling.
    pub const NAMES: &'static [&'static str] = &["none", "shift", "shift-flip"];

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Augment::None => "none",
            Augment::Shift => "shift",
            Augment::ShiftFlip => "shift-flip",
        }
    }

    /// The largest shift in pixels each way, and whether images are flipped.
    pub fn shift_and_flip(self) -> (i64, bool) {
        match self {
            Augment::None => (0, false),
            Augment::Shift => (2, false),
            Augment::ShiftFlip => (4, true),
        }
    }
}

impl std::str::FromStr for Augment {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Augment::None),
            "shift" => Ok(Augment::Shift),
            "shift-flip" => Ok(Augment::ShiftFlip),
            _ => Err(ModelError::Config(format!(
                "unknown augmentation '{s}' (expected one of: {})",
                Augment::NAMES.join(", ")
            ))),
        }
    }
}

impl std::fmt::Display for Augment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One epoch's line of metrics.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// Pair accuracy on the training batches as they were trained (s > 0.5).
    pub train_acc: f64,
    pub val_loss: Option<f64>,
    pub val_acc: Option<f64>,
    pub val_auc: Option<f64>,
    pub epoch_seconds: f64,
    pub pairs_per_second: f64,
    pub lr: f32,
    pub steps: u64,
    /// The run's `--epochs` when this epoch was trained: it grows where a resumed run
    /// extended `--epochs` (0 in metrics written before it was recorded).
    #[serde(default)]
    pub epochs: usize,
}

/// Where a run stands; saved in `last.safetensors` for `--resume`. The default is a run
/// that has not started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs fully done.
    pub epoch: usize,
    /// Batches of the current epoch already trained (0 at an epoch boundary).
    pub batch_in_epoch: usize,
    /// Sums over the trained batches of the current epoch: Σ loss·n, Σ correct, Σ n, seconds.
    pub loss_sum: f64,
    pub correct: u64,
    pub seen: u64,
    pub seconds: f64,
    pub best_val_acc: Option<f64>,
    pub history: Vec<EpochRecord>,
    /// The weights of the best validation epoch so far (name, tensor), what the final test
    /// scores; saved in last.safetensors as `best.<name>` tensors (not in the JSON), so a
    /// resumed run tests them too.
    #[serde(skip)]
    pub best_weights: Option<Vec<(String, Tensor)>>,
}

/// The training images' split into (train, validation) positions: the paper's for a
/// benchmark ([`split::paper_split`]); for a folder its own `val/` images when it has them
/// (`given`, positions in `train`), else [`split::folder_split`] with the run's `seed`.
pub fn validation_split(
    dataset: &Dataset, train: &ImageSet, given: Option<&[u32]>, seed: u64,
) -> Result<(Vec<u32>, Vec<u32>)> {
    Ok(match (dataset.kind(), given) {
        (Some(kind), _) => split::paper_split(kind, train, seed)?,
        (None, Some(val)) => {
            let mut held = vec![false; train.len()];
            for &v in val {
                *held.get_mut(v as usize).ok_or_else(|| {
                    ModelError::Config(format!("validation image {v} outside 0..{}", train.len()))
                })? = true;
            }
            let keep = (0..train.len() as u32).filter(|&i| !held[i as usize]);
            (keep.collect(), val.to_vec())
        }
        (None, None) => {
            let all: Vec<u32> = (0..train.len() as u32).collect();
            split::folder_split(&train.labels, &all, seed)?
        }
    })
}

/// The data of a run, prepared once.
pub struct RunData {
    pub train: Arc<ImageSet>,
    pub test: Arc<ImageSet>,
    pub train_idx: Vec<u32>,
    pub val_pairs: Arc<Vec<Pair>>,
    pub test_pairs: Arc<Vec<Pair>>,
}

impl RunData {
    /// Loads the dataset and makes the split, the `--limit` subsample, the fixed validation
    /// pairs and the fixed test pairs.
    /// A benchmark dataset only: a folder is read by the facade (`siamese::pipeline::data`).
    pub fn prepare(cfg: &TrainConfig, data_dir: Option<&Path>) -> Result<Self> {
        let kind = cfg.dataset.kind().ok_or_else(|| {
            ModelError::Config("RunData::prepare reads benchmark datasets only".into())
        })?;
        let (train, test) = siamese_data::load(kind, data_dir)?;
        Self::from_sets(cfg, train, test, None)
    }

    /// As [`RunData::prepare`], from sets already in memory; `val`: a folder's own validation
    /// images among `train` ([`validation_split`]).
    pub fn from_sets(
        cfg: &TrainConfig, train: ImageSet, test: ImageSet, val: Option<&[u32]>,
    ) -> Result<Self> {
        let (mut train_idx, mut val_idx) = validation_split(&cfg.dataset, &train, val, cfg.seed)?;
        let mut test_pairs = test_pairs(&test)?;
        if let Some(classes) = &cfg.train_classes {
            // The class subset: the split filtered by class (still stratified and seeded).
            train_idx = split::of_classes(&train.labels, &train_idx, classes);
            val_idx = split::of_classes(&train.labels, &val_idx, classes);
            test_pairs = test_pairs_of(&test, classes)?;
        }
        if let Some(limit) = cfg.limit {
            train_idx = split::limit(&train.labels, &train_idx, limit, cfg.seed)?;
        }
        let val_pairs = make_pairs(
            &train.labels,
            &val_idx,
            epoch_seed(cfg.seed ^ VAL_PAIR_STREAM, 0),
        )?;
        Ok(Self {
            train: Arc::new(train),
            test: Arc::new(test),
            train_idx,
            val_pairs: Arc::new(val_pairs),
            test_pairs: Arc::new(test_pairs),
        })
    }
}

/// Output files of a run directory.
#[derive(Debug)]
pub struct RunFiles {
    pub dir: PathBuf,
}

impl RunFiles {
    /// Claims `dir` for a new run: refuses a folder that already holds a run's files (any
    /// of config.json, best.safetensors, last.safetensors, metrics.jsonl, test.json,
    /// curves.png) unless `force`, so that a second `train` never replaces the first run's
    /// results silently; `--resume` continues a run in its folder instead. A path that
    /// exists but is not a folder is refused too ([`claim_folder`]).
    pub fn claim(dir: &Path, force: bool) -> Result<Self> {
        let files = Self {
            dir: dir.to_path_buf(),
        };
        claim_folder(dir, &files.all(), force, true)?;
        Ok(files)
    }

    /// Every file a run writes.
    pub fn all(&self) -> [PathBuf; 6] {
        [
            self.config(),
            self.best(),
            self.last(),
            self.metrics(),
            self.test(),
            self.curves(),
        ]
    }

    pub fn best(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }
    pub fn last(&self) -> PathBuf {
        self.dir.join("last.safetensors")
    }
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    pub fn curves(&self) -> PathBuf {
        self.dir.join("curves.png")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// The final test evaluation ([`crate::score::PairEvaluation`] as JSON).
    pub fn test(&self) -> PathBuf {
        self.dir.join("test.json")
    }
}

mod dataset;
mod recipe;
mod resume;
mod schedule;
#[cfg(test)]
pub(crate) mod tests;

pub use dataset::{Dataset, ImageFolder};
pub use recipe::Recipe;
pub use resume::RunSetting;
pub use schedule::Schedule;
