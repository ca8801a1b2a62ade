//! The training loop of SN-LeNet-5: pairs → batches → forward of 2N images → loss →
//! backward → Adam, with per-epoch validation, metrics.jsonl, checkpoints (best and last),
//! curves.png, a clean stop on request (Ctrl-C) and bit-exact `--resume`.
//!
//! Every random choice is a function of `--seed` and the epoch number (the split, the
//! `--limit` subsample, the pairs of each epoch, the batch order), and the kernels reduce in
//! a fixed order, so a run is reproducible whatever the number of threads, and a resumed
//! run continues exactly where the interrupted one stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use siamese_autodiff::Tape;
use siamese_data::pairs::{epoch_seed, make_pairs, pairs_for_epoch, test_pairs};
use siamese_data::{split, BatchOptions, DatasetKind, ImageSet, Pair, PairBatches, PairMode};
use siamese_optim::{Adam, AdamConfig, AdamState, LrSchedule, Optimizer};
use siamese_tensor::{Backend, Tensor};

use crate::augment::{augment_batch, Augment};
use crate::checkpoint::{Checkpoint, FORMAT_SIAMESE};
use crate::config::{LossKind, ModelConfig};
use crate::device_step::{check_supported, DeviceModel};
use crate::error::{ModelError, Result};
use crate::eval::{evaluate_pairs, PairEvaluation, PairScorer};
use crate::plot::{plot_curves, CurvePoint};
use crate::siamese::{stack_pairs, SnLenet5};

/// Seed offset of the fixed validation pairs (they do not change between epochs).
const VAL_PAIR_STREAM: u64 = 0x5641_4C00;
/// Seed offset of the augmentation draws.
const AUGMENT_STREAM: u64 = 0xA116_0000;

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
        }
    }

    /// The dataset as a [`DatasetKind`].
    pub fn kind(&self) -> Result<DatasetKind> {
        self.dataset
            .parse()
            .map_err(|e: siamese_data::DataError| ModelError::Config(e.to_string()))
    }

    fn validate(&self) -> Result<()> {
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

/// Where a run stands; saved in `last.safetensors` for `--resume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// Progress reports from the loop (the CLI draws bars from them).
pub trait Observer {
    /// Start of an epoch of `batches` batches.
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    /// After each batch: batches done in this epoch, running mean loss, pairs per second.
    fn batch_done(&mut self, _done: usize, _loss: f64, _pairs_per_s: f64) {}
    /// After each epoch.
    fn epoch_done(&mut self, _record: &EpochRecord) {}
    /// A free-form status line.
    fn message(&mut self, _msg: &str) {}
}

/// An observer that reports nothing.
pub struct Silent;
impl Observer for Silent {}

/// How a run ended.
#[derive(Debug)]
pub struct TrainOutcome {
    pub model: SnLenet5,
    pub state: TrainState,
    /// True when a stop was requested and the run saved its state and returned early.
    pub interrupted: bool,
    /// The test evaluation with the best validation epoch's weights and the threshold chosen
    /// on validation (None when interrupted or not asked for).
    pub test: Option<PairEvaluation>,
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
        cfg: &TrainConfig,
        kind: DatasetKind,
        train: ImageSet,
        test: ImageSet,
    ) -> Result<Self> {
        let (mut train_idx, val_idx) = split::paper_split(kind, &train, cfg.seed)?;
        if let Some(limit) = cfg.limit {
            train_idx = split::limit(&train.labels, &train_idx, limit, cfg.seed)?;
        }
        let val_pairs = make_pairs(
            &train.labels,
            &val_idx,
            epoch_seed(cfg.seed ^ VAL_PAIR_STREAM, 0),
        )?;
        let test_pairs = test_pairs(&test)?;
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
}

/// Mean contrastive (sigmoid) or BCE loss of similarities `s` against labels `y`, for the
/// validation line; `None` for the distance loss (which needs d, not s).
fn loss_of_scores(kind: LossKind, s: &[f32], y: &[f32]) -> Option<f64> {
    let per: fn(f64, f64) -> f64 = match kind {
        LossKind::ContrastiveSigmoid => |s, y| y * (1.0 - s).max(0.0).powi(2) + (1.0 - y) * s * s,
        LossKind::Bce => |s, y| {
            let p = s.clamp(1e-7, 1.0 - 1e-7);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        },
        LossKind::ContrastiveDistance => return None,
    };
    if s.is_empty() {
        return None;
    }
    Some(
        s.iter()
            .zip(y)
            .map(|(&s, &y)| per(s as f64, y as f64))
            .sum::<f64>()
            / s.len() as f64,
    )
}

/// Scores a pair list in evaluation mode, batches of `batch` pairs, returning (similarities,
/// labels). `model` is the CPU model (its tape-free scoring path, the same numbers as the
/// taped forward, tested) or a model on a device.
pub fn score_pairs(
    model: &mut dyn PairScorer,
    set: &Arc<ImageSet>,
    pairs: &Arc<Vec<Pair>>,
    batch: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let s = model.pair_similarities(set, pairs, batch)?;
    let y = pairs.iter().map(|p| f32::from(p.y)).collect();
    Ok((s, y))
}

/// Builds the resumable checkpoint of a run.
fn resume_checkpoint(
    cfg: &TrainConfig,
    model: &SnLenet5,
    st: &AdamState,
    state: &TrainState,
) -> Checkpoint {
    let mut ck = Checkpoint::from_store(FORMAT_SIAMESE, &cfg.model, &model.store);
    let names: Vec<String> = model.store.params().map(|(n, _)| n.to_string()).collect();
    for (i, name) in names.iter().enumerate() {
        if let (Some(m), Some(v)) = (st.m.get(i), st.v.get(i)) {
            ck.tensors.push((format!("optim.m.{name}"), m.clone()));
            ck.tensors.push((format!("optim.v.{name}"), v.clone()));
        }
    }
    ck.extra.insert(
        "train".into(),
        serde_json::to_string(cfg).expect("serialises"),
    );
    ck.extra.insert(
        "state".into(),
        serde_json::to_string(state).expect("serialises"),
    );
    ck.extra.insert("adam_step".into(), st.step.to_string());
    ck
}

/// Restores (config, model, optimizer state, run state) from a resumable checkpoint.
pub fn load_resume(path: &Path) -> Result<(TrainConfig, SnLenet5, AdamState, TrainState)> {
    let ck = Checkpoint::load(path)?;
    let bad = |m: &str| ModelError::checkpoint(path, m.to_string());
    if ck.format != FORMAT_SIAMESE {
        return Err(bad("is not an SN-LeNet-5 checkpoint"));
    }
    let cfg: TrainConfig = serde_json::from_str(
        ck.extra
            .get("train")
            .ok_or_else(|| bad("has no training state (resume from last.safetensors)"))?,
    )
    .map_err(|e| bad(&format!("bad 'train' metadata: {e}")))?;
    let state: TrainState = serde_json::from_str(
        ck.extra
            .get("state")
            .ok_or_else(|| bad("has no 'state' metadata"))?,
    )
    .map_err(|e| bad(&format!("bad 'state' metadata: {e}")))?;
    let step: u64 = ck
        .extra
        .get("adam_step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("has no 'adam_step' metadata"))?;
    let mut model = SnLenet5::new(cfg.model.clone(), cfg.seed)?;
    model.detach_head = cfg.loss == LossKind::ContrastiveDistance;
    ck.load_into(&mut model.store, path)?;
    let mut adam_state = AdamState {
        step,
        m: Vec::new(),
        v: Vec::new(),
    };
    if step > 0 {
        for (name, _) in model.store.params() {
            let get = |p: &str| {
                ck.tensor(&format!("optim.{p}.{name}"))
                    .cloned()
                    .ok_or_else(|| bad(&format!("has no optimiser moment optim.{p}.{name}")))
            };
            adam_state.m.push(get("m")?);
            adam_state.v.push(get("v")?);
        }
    }
    Ok((cfg, model, adam_state, state))
}

/// Writes metrics.jsonl and curves.png from the history (both atomically).
fn write_history(files: &RunFiles, cfg: &TrainConfig, history: &[EpochRecord]) -> Result<()> {
    let mut text = String::new();
    for r in history {
        text.push_str(&serde_json::to_string(r).expect("serialises"));
        text.push('\n');
    }
    crate::io::atomic_write(&files.metrics(), text.as_bytes())
        .map_err(|e| ModelError::io(files.metrics(), e))?;
    let points: Vec<CurvePoint> = history
        .iter()
        .map(|r| CurvePoint {
            epoch: r.epoch,
            train_loss: r.train_loss,
            val_loss: r.val_loss,
            train_acc: r.train_acc,
            val_acc: r.val_acc,
        })
        .collect();
    let title = format!("SN-LeNet-5 on {} (seed {})", cfg.dataset, cfg.seed);
    plot_curves(&files.curves(), &title, &points).map_err(|e| ModelError::io(files.curves(), e))
}

/// Options of [`train`] that are not part of the run's identity.
pub struct TrainOptions<'a> {
    /// Output directory (created); None writes nothing.
    pub out: Option<PathBuf>,
    /// Set to request a clean stop after the current batch.
    pub stop: Option<&'a AtomicBool>,
    /// Evaluate on the test pairs at the end.
    pub test_at_end: bool,
    /// Pairs per scoring batch in validation and test.
    pub eval_batch: usize,
}

impl Default for TrainOptions<'_> {
    fn default() -> Self {
        Self {
            out: None,
            stop: None,
            test_at_end: true,
            eval_batch: 1000,
        }
    }
}

/// What computes a run's steps: the tape on the CPU ([`TapeEngine`]) or a model on a
/// [`Backend`] ([`DeviceModel`]). The loop around it (pairs, batches, validation, metrics,
/// checkpoints, stop and resume) is the same for both.
trait Engine {
    /// One step on the stacked batch [A; B] with labels y at learning rate `lr`: returns the
    /// loss and the N training-mode similarities.
    fn step(
        &mut self,
        model: &mut SnLenet5,
        stacked: Tensor,
        y: &[f32],
        lr: f32,
    ) -> Result<(f64, Vec<f32>)>;
    /// Optimiser steps taken so far.
    fn steps(&self) -> u64;
    /// What scores pairs in evaluation mode with the current weights (validation, test).
    fn scorer<'a>(&'a mut self, model: &'a mut SnLenet5) -> &'a mut dyn PairScorer;
    /// Brings the current weights into `model.store` (before a checkpoint).
    fn sync_to(&mut self, model: &mut SnLenet5) -> Result<()>;
    /// Takes the weights of `model.store` (after loading the best epoch's).
    fn sync_from(&mut self, model: &SnLenet5) -> Result<()>;
    /// The optimiser's state, for resumable checkpoints.
    fn adam_state(&self, model: &SnLenet5) -> Result<AdamState>;
}

/// The CPU engine: forward on the tape, backward, `siamese_optim::Adam`.
struct TapeEngine {
    adam: Adam,
    loss: LossKind,
}

impl Engine for TapeEngine {
    fn step(
        &mut self,
        model: &mut SnLenet5,
        stacked: Tensor,
        y: &[f32],
        lr: f32,
    ) -> Result<(f64, Vec<f32>)> {
        self.adam.set_lr(lr);
        let y = Tensor::from_vec(&[y.len()], y.to_vec())?;
        model.store.zero_grads();
        let mut tape = Tape::new();
        let out = model.forward(&mut tape, stacked)?;
        let loss = model.loss(&mut tape, out, &y, self.loss)?;
        let loss_value = tape.scalar(loss)? as f64;
        let s = tape.value(out.similarity)?.data().to_vec();
        if loss_value.is_finite() {
            tape.backward(loss, &mut model.store)?;
            // The tape shares the parameters; drop it so Adam updates them in place.
            drop(tape);
            self.adam.step(&mut model.store)?;
        }
        Ok((loss_value, s))
    }

    fn steps(&self) -> u64 {
        self.adam.state().step
    }

    fn scorer<'a>(&'a mut self, model: &'a mut SnLenet5) -> &'a mut dyn PairScorer {
        model
    }

    fn sync_to(&mut self, _model: &mut SnLenet5) -> Result<()> {
        Ok(())
    }

    fn sync_from(&mut self, _model: &SnLenet5) -> Result<()> {
        Ok(())
    }

    fn adam_state(&self, _model: &SnLenet5) -> Result<AdamState> {
        Ok(self.adam.state().clone())
    }
}

impl<B: Backend> Engine for DeviceModel<B> {
    fn step(
        &mut self,
        _model: &mut SnLenet5,
        stacked: Tensor,
        y: &[f32],
        lr: f32,
    ) -> Result<(f64, Vec<f32>)> {
        let (loss, s) = self.train_step(&stacked, y, lr)?;
        Ok((loss as f64, s))
    }

    fn steps(&self) -> u64 {
        self.adam_step()
    }

    fn scorer<'a>(&'a mut self, _model: &'a mut SnLenet5) -> &'a mut dyn PairScorer {
        self
    }

    fn sync_to(&mut self, model: &mut SnLenet5) -> Result<()> {
        self.write_to(model)
    }

    fn sync_from(&mut self, model: &SnLenet5) -> Result<()> {
        self.read_from(model)
    }

    fn adam_state(&self, model: &SnLenet5) -> Result<AdamState> {
        DeviceModel::adam_state(self, model)
    }
}

fn adam_config(cfg: &TrainConfig) -> AdamConfig {
    AdamConfig {
        lr: cfg.lr,
        eps: cfg.adam_eps,
        ..AdamConfig::default()
    }
}

/// Trains from scratch (`resume` None) or continues a resumable checkpoint, on the CPU (the
/// tape).
pub fn train(
    cfg: &TrainConfig,
    data: &RunData,
    resume: Option<(SnLenet5, AdamState, TrainState)>,
    opts: &TrainOptions,
    obs: &mut dyn Observer,
) -> Result<TrainOutcome> {
    run(cfg, data, resume, opts, obs, |model, adam_state| {
        let mut adam = Adam::new(adam_config(cfg))?;
        adam.set_state(adam_state, &model.store)?;
        Ok(TapeEngine {
            adam,
            loss: cfg.loss,
        })
    })
}

/// [`train`] with every step on `backend` (the device step of [`crate::device_step`]): the
/// same pairs, batches, schedule, validation, metrics and checkpoints. Only the paper's
/// configuration is supported (an error names it otherwise).
pub fn train_on<B: Backend>(
    backend: B,
    cfg: &TrainConfig,
    data: &RunData,
    resume: Option<(SnLenet5, AdamState, TrainState)>,
    opts: &TrainOptions,
    obs: &mut dyn Observer,
) -> Result<TrainOutcome> {
    check_supported(&cfg.model, cfg.loss)?;
    run(cfg, data, resume, opts, obs, |model, adam_state| {
        DeviceModel::from_model(backend, model, adam_config(cfg), Some(&adam_state))
    })
}

/// The training loop around an [`Engine`] made by `make` from the (fresh or resumed) model
/// and optimiser state.
fn run<E: Engine>(
    cfg: &TrainConfig,
    data: &RunData,
    resume: Option<(SnLenet5, AdamState, TrainState)>,
    opts: &TrainOptions,
    obs: &mut dyn Observer,
    make: impl FnOnce(&SnLenet5, AdamState) -> Result<E>,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    let files = match &opts.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
            let f = RunFiles { dir: dir.clone() };
            let json = serde_json::to_string_pretty(cfg).expect("serialises");
            crate::io::atomic_write(&f.config(), json.as_bytes())
                .map_err(|e| ModelError::io(f.config(), e))?;
            Some(f)
        }
        None => None,
    };
    let pairs_per_epoch = data.train_idx.len() * 2;
    let batches = pairs_per_epoch.div_ceil(cfg.batch);
    let schedule = cfg.lr_schedule((batches * cfg.epochs) as u64)?;
    let (mut model, adam_state, mut state) = match resume {
        Some((model, adam_state, state)) => (model, adam_state, state),
        None => {
            let mut model = SnLenet5::new(cfg.model.clone(), cfg.seed)?;
            model.detach_head = cfg.loss == LossKind::ContrastiveDistance;
            let state = TrainState {
                epoch: 0,
                batch_in_epoch: 0,
                loss_sum: 0.0,
                correct: 0,
                seen: 0,
                seconds: 0.0,
                best_val_acc: None,
                history: Vec::new(),
            };
            (model, AdamState::default(), state)
        }
    };
    let mut engine = make(&model, adam_state)?;
    // The learning rate of the latest step (the configured one before any).
    let mut lr = cfg.lr;
    // The weights of the best validation epoch so far (the final test uses them).
    let mut best_weights: Option<Checkpoint> = None;
    let stop_requested = || opts.stop.is_some_and(|s| s.load(Ordering::SeqCst));

    while state.epoch < cfg.epochs {
        let epoch = state.epoch + 1;
        let mode = if cfg.pairs_per_epoch {
            PairMode::PerEpoch
        } else {
            PairMode::Fixed
        };
        let pairs = Arc::new(pairs_for_epoch(
            mode,
            &data.train.labels,
            &data.train_idx,
            cfg.seed,
            epoch as u64,
        )?);
        let it = PairBatches::new(
            data.train.clone(),
            pairs,
            BatchOptions::train(cfg.batch, cfg.seed, epoch as u64),
        )?;
        obs.epoch_start(epoch, cfg.epochs, batches);
        model.set_training(true);
        let started = Instant::now();
        let seconds_before = state.seconds;
        for (i, batch) in it.enumerate() {
            if i < state.batch_in_epoch {
                continue; // trained before the interruption
            }
            lr = schedule.at(engine.steps());
            let n = batch.len();
            let mut stacked = stack_pairs(&batch.a, &batch.b)?;
            // One seed per (run, epoch, batch): a resumed run augments identically.
            let aug_seed = epoch_seed(cfg.seed ^ AUGMENT_STREAM, (epoch * 1_000_000 + i) as u64);
            augment_batch(cfg.augment, &mut stacked, aug_seed);
            let (loss_value, s) = engine.step(&mut model, stacked, &batch.y, lr)?;
            if !loss_value.is_finite() {
                return Err(ModelError::Config(format!(
                    "the loss became {loss_value} at epoch {epoch}, batch {}: lower --lr",
                    i + 1
                )));
            }
            state.correct += s
                .iter()
                .zip(&batch.y)
                .filter(|(&s, &y)| (s > 0.5) == (y > 0.5))
                .count() as u64;
            state.loss_sum += loss_value * n as f64;
            state.seen += n as u64;
            state.batch_in_epoch = i + 1;
            let secs = seconds_before + started.elapsed().as_secs_f64();
            obs.batch_done(
                i + 1,
                state.loss_sum / state.seen as f64,
                state.seen as f64 / secs.max(1e-9),
            );
            if stop_requested() && i + 1 < batches {
                state.seconds = secs;
                if let Some(f) = &files {
                    engine.sync_to(&mut model)?;
                    let adam_state = engine.adam_state(&model)?;
                    resume_checkpoint(cfg, &model, &adam_state, &state).save(&f.last())?;
                    obs.message(&format!(
                        "stopped at epoch {epoch}, batch {}/{batches}; saved {} (continue with --resume {})",
                        i + 1,
                        f.last().display(),
                        f.dir.display()
                    ));
                }
                engine.sync_to(&mut model)?;
                return Ok(TrainOutcome {
                    model,
                    state,
                    interrupted: true,
                    test: None,
                });
            }
        }
        engine.sync_to(&mut model)?;
        let epoch_seconds = seconds_before + started.elapsed().as_secs_f64();
        let validate = epoch % cfg.val_every == 0 || epoch == cfg.epochs;
        let (val_loss, val_acc, val_auc) = if validate && !data.val_pairs.is_empty() {
            let scorer = engine.scorer(&mut model);
            let (s, y) = score_pairs(scorer, &data.train, &data.val_pairs, opts.eval_batch)?;
            (
                loss_of_scores(cfg.loss, &s, &y),
                Some(crate::metrics::accuracy(&s, &y, 0.5)),
                crate::metrics::roc_auc(&s, &y),
            )
        } else {
            (None, None, None)
        };
        let record = EpochRecord {
            epoch,
            train_loss: state.loss_sum / state.seen.max(1) as f64,
            train_acc: state.correct as f64 / state.seen.max(1) as f64,
            val_loss,
            val_acc,
            val_auc,
            epoch_seconds,
            pairs_per_second: state.seen as f64 / epoch_seconds.max(1e-9),
            lr,
            steps: engine.steps(),
        };
        obs.epoch_done(&record);
        state.history.push(record);
        state.epoch = epoch;
        state.batch_in_epoch = 0;
        state.loss_sum = 0.0;
        state.correct = 0;
        state.seen = 0;
        state.seconds = 0.0;
        let improved = val_acc.is_some_and(|a| state.best_val_acc.is_none_or(|b| a > b));
        if improved {
            state.best_val_acc = val_acc;
            best_weights = Some(Checkpoint::from_store(
                FORMAT_SIAMESE,
                &cfg.model,
                &model.store,
            ));
        }
        if let Some(f) = &files {
            if improved {
                let mut best = Checkpoint::from_store(FORMAT_SIAMESE, &cfg.model, &model.store);
                best.extra.insert(
                    "train".into(),
                    serde_json::to_string(cfg).expect("serialises"),
                );
                best.extra.insert("epoch".into(), epoch.to_string());
                best.save(&f.best())?;
            }
            let adam_state = engine.adam_state(&model)?;
            resume_checkpoint(cfg, &model, &adam_state, &state).save(&f.last())?;
            write_history(f, cfg, &state.history)?;
        }
        if stop_requested() && state.epoch < cfg.epochs {
            obs.message("stopped at an epoch boundary; continue with --resume");
            return Ok(TrainOutcome {
                model,
                state,
                interrupted: true,
                test: None,
            });
        }
    }

    let test = if opts.test_at_end {
        // The best validation epoch's weights, as in best.safetensors; a resumed run that
        // saw no improvement since keeps its current weights (best.safetensors has the best).
        if let Some(best) = &best_weights {
            best.load_into(&mut model.store, Path::new("<best weights>"))?;
            engine.sync_from(&model)?;
        }
        let scorer = engine.scorer(&mut model);
        // Threshold chosen on validation, applied to test.
        let (vs, vy) = score_pairs(scorer, &data.train, &data.val_pairs, opts.eval_batch)?;
        let threshold = crate::metrics::best_threshold(&vs, &vy);
        Some(evaluate_pairs(
            scorer,
            &data.test,
            &data.test_pairs,
            threshold,
            opts.eval_batch,
        )?)
    } else {
        None
    };
    Ok(TrainOutcome {
        model,
        state,
        interrupted: false,
        test,
    })
}
