//! The training loop of SN-LeNet-5: pairs → batches → forward of 2N images → loss →
//! backward → Adam, with per-epoch validation, metrics.jsonl, checkpoints (best and last),
//! curves.png, the final test evaluation (test.json), a clean stop on request (Ctrl-C) and
//! bit-exact `--resume`.
//!
//! In named steps: [`train`] / [`train_on`] → `run`: prepare the run folder →
//! start or resume → the epochs (`epochs::run_epochs`, the loop every model trains through,
//! the classifier baseline too: per batch the schedule's learning rate → the step
//! (`pairs::PairLearner` over a `step::Engine`: the tape's [`train_step`] or the device
//! step) → running metrics → a requested stop; per epoch validation → the metrics line →
//! best.safetensors when validation beats the best so far → last.safetensors and the
//! config.json that goes with it, metrics.jsonl, curves.png → collapse check) → the final
//! test (test.json).
//!
//! Every random choice is a function of `--seed` and the epoch number (the split, the
//! `--limit` subsample, the pairs of each epoch, the batch order), and the kernels reduce in
//! a fixed order, so a run is reproducible whatever the number of threads, and a resumed
//! run continues exactly where the interrupted one stopped.

mod epochs;
mod pairs;
mod step;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use siamese_optim::{Adam, AdamConfig, AdamState};
use siamese_tensor::Backend;

use siamese_model::checkpoint::Checkpoint;
use siamese_model::device_step::{check_supported, DeviceModel};
use siamese_model::error::{ModelError, Result};
use siamese_model::run::{EpochRecord, RunData, RunFiles, TrainConfig, TrainState};
use siamese_model::score::{evaluate_with_threshold, PairEvaluation};
use siamese_model::siamese::SnLenet5;

use epochs::Ended;
pub(crate) use epochs::{run_epochs, Learner, StepOutcome, Validation};
use pairs::PairLearner;
pub use step::train_step;
use step::{Engine, TapeEngine};

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
    /// The dataset's name in curves.png (default: its title, "MNIST"; the CLI passes
    /// "CIFAR-10 (JPEG stand-in)" for the stand-in).
    pub dataset_title: Option<String>,
}

impl Default for TrainOptions<'_> {
    fn default() -> Self {
        Self {
            out: None,
            stop: None,
            test_at_end: true,
            eval_batch: siamese_model::score::EVAL_BATCH,
            dataset_title: None,
        }
    }
}

/// Trains from scratch (`resume` None) or continues a resumable checkpoint, on the CPU (the
/// tape).
pub fn train(
    cfg: &TrainConfig, data: &RunData, resume: Option<(SnLenet5, AdamState, TrainState)>,
    opts: &TrainOptions, obs: &mut dyn Observer,
) -> Result<TrainOutcome> {
    run(cfg, data, resume, opts, obs, |model, adam_state| {
        let mut adam = Adam::new(adam_config(cfg))?;
        adam.set_state(adam_state, &model.store)?;
        Ok(TapeEngine { adam, cfg })
    })
}

/// [`train`] with every step on `backend` (the device step of [`siamese_model::device_step`]): the
/// same pairs, batches, schedule, validation, metrics and checkpoints. Only the paper's
/// configuration is supported (an error names it otherwise).
pub fn train_on<B: Backend>(
    backend: B, cfg: &TrainConfig, data: &RunData,
    resume: Option<(SnLenet5, AdamState, TrainState)>, opts: &TrainOptions, obs: &mut dyn Observer,
) -> Result<TrainOutcome> {
    check_supported(&cfg.model, cfg.loss)?;
    run(cfg, data, resume, opts, obs, |model, adam_state| {
        DeviceModel::from_model(backend, model, adam_config(cfg), Some(&adam_state))
    })
}

/// Adam's hyper-parameters for a run (its ε; the learning rate comes from the schedule at
/// every step).
pub(crate) fn adam_config(cfg: &TrainConfig) -> AdamConfig {
    AdamConfig {
        eps: cfg.adam_eps,
        ..AdamConfig::default()
    }
}

/// The training loop around an [`Engine`] made by `make` from the (fresh or resumed) model
/// and optimiser state: the run folder, the epochs ([`run_epochs`]), the final test.
fn run<E: Engine>(
    cfg: &TrainConfig, data: &RunData, resume: Option<(SnLenet5, AdamState, TrainState)>,
    opts: &TrainOptions, obs: &mut dyn Observer,
    make: impl FnOnce(&SnLenet5, AdamState) -> Result<E>,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    // Subnormals flushed on this thread and the pool's (siamese_tensor::fpmode).
    siamese_tensor::fpmode::apply_to_pool();
    let files = prepare_run_folder(opts)?;
    let (model, adam_state, mut state) = start_or_resume(cfg, resume)?;
    let engine = make(&model, adam_state)?;
    let mut learner = PairLearner {
        cfg,
        data,
        opts,
        files,
        model,
        engine,
    };
    let stop = || opts.stop.is_some_and(|s| s.load(Ordering::SeqCst));
    let ended = run_epochs(&mut learner, cfg, &mut state, obs, &stop)?;
    let test = match ended {
        Ended::Done if opts.test_at_end => Some(final_test(&mut learner, &state)?),
        _ => None,
    };
    Ok(TrainOutcome {
        model: learner.model,
        state,
        interrupted: ended == Ended::Stopped,
        test,
    })
}

/// Creates the output folder (when there is one). Its config.json is written with each
/// last.safetensors ([`write_config`]), not here: a run that fails before its first
/// checkpoint (a full disk under `--force`) leaves the folder's previous config beside the
/// previous checkpoints it describes.
fn prepare_run_folder(opts: &TrainOptions) -> Result<Option<RunFiles>> {
    let Some(dir) = &opts.out else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    Ok(Some(RunFiles { dir: dir.clone() }))
}

/// Writes the run's config.json (after its last.safetensors has been saved).
fn write_config(files: &RunFiles, cfg: &TrainConfig) -> Result<()> {
    // Numbers, strings, Options and unit enums: serde_json cannot fail on them.
    let json = serde_json::to_string_pretty(cfg).expect("serialises");
    siamese_model::io::atomic_write(&files.config(), json.as_bytes())
        .map_err(|e| ModelError::io(files.config(), e))
}

/// The model, optimiser state and run state to start from: the resumed ones, or a fresh
/// model from the run's seed.
fn start_or_resume(
    cfg: &TrainConfig, resume: Option<(SnLenet5, AdamState, TrainState)>,
) -> Result<(SnLenet5, AdamState, TrainState)> {
    if let Some(resumed) = resume {
        return Ok(resumed);
    }
    let mut model = SnLenet5::new(cfg.model.clone(), cfg.seed)?;
    model.detach_head = cfg.loss.trains_head_apart();
    Ok((model, AdamState::default(), TrainState::default()))
}

/// The test evaluation with the best validation epoch's weights (as in best.safetensors,
/// also after a resume that saw no improvement since: they come back from
/// last.safetensors) and the threshold chosen on validation; written to test.json.
fn final_test<E: Engine>(l: &mut PairLearner<E>, state: &TrainState) -> Result<PairEvaluation> {
    if let Some(best) = &state.best_weights {
        let best = Checkpoint {
            format: siamese_model::checkpoint::FORMAT_SIAMESE.into(),
            model: l.cfg.model.clone(),
            tensors: best.clone(),
            extra: Default::default(),
        };
        best.load_into(&mut l.model.store, Path::new("<best weights>"))?;
        l.engine.sync_from(&l.model)?;
    }
    let scorer = l.engine.scorer(&mut l.model);
    let test = evaluate_with_threshold(scorer, l.data, l.opts.eval_batch)?;
    if let Some(f) = &l.files {
        // Numbers and vectors of numbers: serde_json cannot fail on them.
        let json = siamese_model::json::to_pretty(&test).expect("PairEvaluation serialises");
        siamese_model::io::atomic_write(&f.test(), json.as_bytes())
            .map_err(|e| ModelError::io(f.test(), e))?;
    }
    Ok(test)
}

#[cfg(test)]
mod tests;
