//! What defines a training run and what it records: [`TrainConfig`] (saved in every
//! checkpoint as JSON), the data of a run prepared once ([`RunData`]: split, `--limit`
//! subsample, fixed validation and test pairs), one epoch's metrics line ([`EpochRecord`]),
//! where a run stands ([`TrainState`], saved for `--resume`) and the files of a run directory
//! ([`RunFiles`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use siamese_data::pairs::{epoch_seed, make_pairs, test_pairs, test_pairs_of};
use siamese_data::{split, DatasetKind, ImageSet, Pair};
use siamese_optim::LrSchedule;

use crate::augment::Augment;
use crate::config::{LossKind, ModelConfig};
use crate::error::{ModelError, Result};

/// Seed offset of the fixed validation pairs (they do not change between epochs).
const VAL_PAIR_STREAM: u64 = 0x5641_4C00;

/// Everything that defines a training run (saved in checkpoints as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// "mnist", "fashion-mnist" or "cifar-10".
    pub dataset: String,
    /// Passes over the training pairs. Default 50 for MNIST (the paper's setting).
    pub epochs: usize,
    /// Pairs per batch. Default 64 (the paper's).
    pub batch: usize,
    /// Adam's learning rate α. Default 0.001 (the paper's).
    pub lr: f32,
    /// Adam's ε. Default 1e-8 (the paper's Table 2).
    pub adam_eps: f32,
    /// Learning-rate schedule over steps: "constant" (default) or "cosine".
    pub schedule: String,
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
    pub train_classes: Option<Vec<u8>>,
}

impl TrainConfig {
    /// The paper's settings for `dataset`: Adam 0.001, batch 64, contrastive loss on the
    /// sigmoid output, margin 1; 50 epochs for MNIST, 100 for Fashion-MNIST, 1,500 for CIFAR-10.
    pub fn paper(dataset: DatasetKind) -> Self {
        let (c, h, w) = dataset.geometry();
        Self {
            dataset: dataset.name().into(),
            epochs: match dataset {
                DatasetKind::Mnist => 50,
                DatasetKind::FashionMnist => 100,
                DatasetKind::Cifar10 => 1500,
            },
            batch: 64,
            lr: 1e-3,
            adam_eps: 1e-8,
            schedule: "constant".into(),
            seed: 0,
            limit: None,
            val_every: 1,
            loss: LossKind::ContrastiveSigmoid,
            pairs_per_epoch: true,
            augment: Augment::None,
            model: ModelConfig::for_input(c, h, w),
            train_classes: None,
        }
    }

    /// The dataset as a [`DatasetKind`].
    pub fn kind(&self) -> Result<DatasetKind> {
        self.dataset
            .parse()
            .map_err(|e: siamese_data::DataError| ModelError::Config(e.to_string()))
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch == 0 || self.val_every == 0 {
            return Err(ModelError::Config(
                "--epochs, --batch and --val-every must be at least 1".into(),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ModelError::Config(format!(
                "--lr must be positive, got {}",
                self.lr
            )));
        }
        if self.limit == Some(0) {
            return Err(ModelError::Config("--limit must be at least 1".into()));
        }
        if let Some(c) = &self.train_classes {
            let n = self.kind()?.num_classes();
            if c.len() < 2 || c.iter().any(|&k| k as usize >= n) {
                return Err(ModelError::Config(format!(
                    "--train-classes needs at least two classes in 0..{n}, got {c:?}"
                )));
            }
        }
        self.lr_schedule(1)?;
        self.model.validate()
    }

    /// The learning-rate schedule of this run over `total_steps` steps.
    pub fn lr_schedule(&self, total_steps: u64) -> Result<LrSchedule> {
        match self.schedule.as_str() {
            "constant" => Ok(LrSchedule::Constant { lr: self.lr }),
            "cosine" => Ok(LrSchedule::Cosine {
                lr: self.lr,
                min_lr: self.lr * 0.01,
                total: total_steps,
            }),
            other => Err(ModelError::Config(format!(
                "unknown schedule '{other}' (expected constant or cosine)"
            ))),
        }
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
}

/// The data of a run, prepared once.
pub struct RunData {
    pub kind: DatasetKind,
    pub train: Arc<ImageSet>,
    pub test: Arc<ImageSet>,
    pub train_idx: Vec<u32>,
    pub val_pairs: Arc<Vec<Pair>>,
    pub test_pairs: Arc<Vec<Pair>>,
}

impl RunData {
    /// Loads the dataset and makes the split, the `--limit` subsample, the fixed validation
    /// pairs and the fixed test pairs.
    pub fn prepare(cfg: &TrainConfig, data_dir: Option<&Path>) -> Result<Self> {
        let kind = cfg.kind()?;
        let (train, test) = siamese_data::load(kind, data_dir)?;
        Self::from_sets(cfg, kind, train, test)
    }

    /// As [`RunData::prepare`], from sets already in memory.
    pub fn from_sets(
        cfg: &TrainConfig, kind: DatasetKind, train: ImageSet, test: ImageSet,
    ) -> Result<Self> {
        let (mut train_idx, mut val_idx) = split::paper_split(kind, &train, cfg.seed)?;
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
            kind,
            train: Arc::new(train),
            test: Arc::new(test),
            train_idx,
            val_pairs: Arc::new(val_pairs),
            test_pairs: Arc::new(test_pairs),
        })
    }
}

/// Output files of a run directory.
pub struct RunFiles {
    pub dir: PathBuf,
}

impl RunFiles {
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
    /// The final test evaluation ([`crate::eval::PairEvaluation`] as JSON).
    pub fn test(&self) -> PathBuf {
        self.dir.join("test.json")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A hand-made MNIST-shaped set: image i shows a 6×6 bright block at a place fixed by its
    /// class (i mod 10) over seeded noise, so a few steps learn something.
    pub(crate) fn tiny_set(n: usize, seed: u64) -> ImageSet {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut images = vec![0u8; n * 784];
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        for (i, img) in images.chunks_mut(784).enumerate() {
            for p in img.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *p = (state >> 58) as u8; // noise in 0..64
            }
            let k = labels[i] as usize;
            let (r0, c0) = (2 + (k / 4) * 8, 2 + (k % 4) * 6);
            for r in r0..r0 + 6 {
                for c in c0..c0 + 6 {
                    img[r * 28 + c] = 255;
                }
            }
        }
        let names = (0..10).map(|k| k.to_string()).collect();
        ImageSet::new(images, labels, (1, 28, 28), names).unwrap()
    }

    /// The paper's MNIST configuration for `epochs` epochs on 100 training and 40 test
    /// images of [`tiny_set`].
    pub(crate) fn tiny_run(epochs: usize) -> (TrainConfig, RunData) {
        let mut cfg = TrainConfig::paper(DatasetKind::Mnist);
        cfg.epochs = epochs;
        let data = RunData::from_sets(&cfg, DatasetKind::Mnist, tiny_set(100, 1), tiny_set(40, 2))
            .unwrap();
        (cfg, data)
    }

    #[test]
    fn run_data_holds_the_split_the_limit_and_both_pair_lists() {
        let (mut cfg, data) = tiny_run(1);
        // 20 % held out, stratified; one positive and one negative pair per image.
        assert_eq!((data.train_idx.len(), data.val_pairs.len()), (80, 40));
        assert_eq!(data.test_pairs.len(), 80);
        assert!(data
            .val_pairs
            .iter()
            .all(|p| !data.train_idx.contains(&p.a)));
        cfg.limit = Some(30);
        let limited =
            RunData::from_sets(&cfg, DatasetKind::Mnist, tiny_set(100, 1), tiny_set(40, 2))
                .unwrap();
        assert_eq!(limited.train_idx.len(), 30);
        assert_eq!(limited.val_pairs, data.val_pairs);
    }

    #[test]
    fn a_class_subset_keeps_split_validation_and_test_pairs_inside_it() {
        let (mut cfg, _) = tiny_run(1);
        cfg.train_classes = Some(vec![0, 1, 2, 3, 4, 5, 6]);
        let data = RunData::from_sets(&cfg, DatasetKind::Mnist, tiny_set(100, 1), tiny_set(40, 2))
            .unwrap();
        let seen = |set: &ImageSet, i: u32| set.labels[i as usize] < 7;
        assert_eq!(data.train_idx.len(), 56);
        assert!(data.train_idx.iter().all(|&i| seen(&data.train, i)));
        assert_eq!(data.val_pairs.len(), 28);
        assert!(data
            .val_pairs
            .iter()
            .all(|p| seen(&data.train, p.a) && seen(&data.train, p.b)));
        assert_eq!(data.test_pairs.len(), 56);
        assert!(data
            .test_pairs
            .iter()
            .all(|p| seen(&data.test, p.a) && seen(&data.test, p.b)));
        // Stored with the config; an old config without the field reads as all classes.
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), cfg);
        cfg.train_classes = None;
        assert!(!serde_json::to_string(&cfg)
            .unwrap()
            .contains("train_classes"));
        for bad in [vec![3], vec![0, 10]] {
            cfg.train_classes = Some(bad);
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains("--train-classes"), "{e}");
        }
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let (cfg, _) = tiny_run(1);
        assert!(cfg.validate().is_ok());
        type Change = fn(&mut TrainConfig);
        let cases: [(Change, &str); 4] = [
            (|c| c.epochs = 0, "at least 1"),
            (|c| c.lr = -1.0, "--lr must be positive"),
            (|c| c.limit = Some(0), "--limit"),
            (|c| c.schedule = "step".into(), "unknown schedule 'step'"),
        ];
        for (change, needle) in cases {
            let mut c = cfg.clone();
            change(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
