//! The training loop of SN-LeNet-5: pairs → batches → forward of 2N images → loss →
//! backward → Adam, with per-epoch validation, metrics.jsonl, checkpoints (best and last),
//! curves.png, the final test evaluation (test.json), a clean stop on request (Ctrl-C) and
//! bit-exact `--resume`.
//!
//! Every random choice is a function of `--seed` and the epoch number (the split, the
//! `--limit` subsample, the pairs of each epoch, the batch order), and the kernels reduce in
//! a fixed order, so a run is reproducible whatever the number of threads, and a resumed
//! run continues exactly where the interrupted one stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use siamese_autodiff::Tape;
use siamese_data::pairs::{epoch_seed, pairs_for_epoch};
use siamese_data::{BatchOptions, PairBatches, PairMode};
use siamese_optim::{Adam, AdamConfig, AdamState, Optimizer};
use siamese_tensor::ops::loss::{self, ContrastiveReads};
use siamese_tensor::par::with_warm_workers;
use siamese_tensor::{Backend, Tensor};

use crate::augment::augment_batch;
use crate::plot::{plot_curves, CurvePoint};
use siamese_model::checkpoint::Checkpoint;
use siamese_model::config::LossKind;
use siamese_model::device_step::{check_supported, DeviceModel};
use siamese_model::error::{ModelError, Result};
use siamese_model::score::{evaluate_with_threshold, PairEvaluation, PairScorer};
use siamese_model::siamese::{stack_pairs, SnLenet5, BCE_EPS, MARGIN};

use siamese_model::run::{EpochRecord, RunData, RunFiles, TrainConfig, TrainState};
use siamese_model::score::score_pairs;

/// Seed offset of the augmentation draws.
const AUGMENT_STREAM: u64 = 0xA116_0000;

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

/// Mean contrastive (sigmoid) or BCE loss of similarities `s` against labels `y`, for the
/// validation line, by the loss ops themselves (`siamese_tensor::ops::loss`); `None` for the
/// distance loss (which needs d, not s) and for an empty list.
fn loss_of_scores(kind: LossKind, s: &[f32], y: &[f32]) -> Option<f64> {
    let l = match kind {
        LossKind::ContrastiveSigmoid => {
            loss::contrastive_forward(s, y, MARGIN, ContrastiveReads::Similarity)
        }
        LossKind::Bce => loss::bce_forward(s, y, BCE_EPS),
        LossKind::ContrastiveDistance => return None,
    };
    l.ok().map(f64::from)
}

/// Writes metrics.jsonl and curves.png from the history (both atomically).
fn write_history(
    files: &RunFiles, cfg: &TrainConfig, opts: &TrainOptions, history: &[EpochRecord],
) -> Result<()> {
    let mut text = String::new();
    for r in history {
        // Numbers and Options of numbers: serde_json cannot fail on them (a non-finite
        // float becomes null).
        text.push_str(&siamese_model::json::to_line(r).expect("serialises"));
        text.push('\n');
    }
    siamese_model::io::atomic_write(&files.metrics(), text.as_bytes())
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
    let name = match &opts.dataset_title {
        Some(t) => t.clone(),
        None => cfg
            .kind()
            .map_or(cfg.dataset.clone(), |k| k.title().to_string()),
    };
    let title = format!("SN-LeNet-5 on {name} (seed {})", cfg.seed);
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

/// What computes a run's steps: the tape on the CPU ([`TapeEngine`]) or a model on a
/// [`Backend`] ([`DeviceModel`]). The loop around it (pairs, batches, validation, metrics,
/// checkpoints, stop and resume) is the same for both.
trait Engine {
    /// One step on the stacked batch [A; B] with labels y at learning rate `lr`: returns the
    /// loss and the N training-mode similarities.
    fn step(
        &mut self, model: &mut SnLenet5, stacked: Tensor, y: &[f32], lr: f32,
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

/// One training step on the CPU, the step [`train`] runs for every batch (and `siamese bench`
/// times): zero the gradients → taped forward of the stacked batch [A; B] (2N images) →
/// `loss` against the labels `y` (N) → backward → Adam at its current learning rate.
/// Returns the loss and the N training-mode similarities. A non-finite loss skips the
/// backward and the update (the loop then stops with an error naming the batch).
pub fn train_step(
    model: &mut SnLenet5, adam: &mut Adam, stacked: Tensor, y: &Tensor, loss: LossKind,
) -> Result<(f64, Vec<f32>)> {
    // A step's parallel regions are a few hundred microseconds apart: the other workers poll
    // for them instead of falling asleep between them (siamese_tensor::par).
    with_warm_workers(|| step_on_this_worker(model, adam, stacked, y, loss))
}

/// The body of [`train_step`], run by [`with_warm_workers`].
fn step_on_this_worker(
    model: &mut SnLenet5, adam: &mut Adam, stacked: Tensor, y: &Tensor, loss: LossKind,
) -> Result<(f64, Vec<f32>)> {
    model.store.zero_grads();
    let mut tape = Tape::new();
    let out = model.forward(&mut tape, stacked)?;
    let loss = model.loss(&mut tape, out, y, loss)?;
    let loss_value = tape.scalar(loss)? as f64;
    let s = tape.value(out.similarity)?.data().to_vec();
    if loss_value.is_finite() {
        tape.backward(loss, &mut model.store)?;
        // The tape shares the parameters; drop it so Adam updates them in place.
        drop(tape);
        adam.step(&mut model.store)?;
    }
    Ok((loss_value, s))
}

/// The CPU engine: [`train_step`] (forward on the tape, backward, `siamese_optim::Adam`).
struct TapeEngine {
    adam: Adam,
    loss: LossKind,
}

impl Engine for TapeEngine {
    fn step(
        &mut self, model: &mut SnLenet5, stacked: Tensor, y: &[f32], lr: f32,
    ) -> Result<(f64, Vec<f32>)> {
        self.adam.set_lr(lr);
        let y = Tensor::from_vec(&[y.len()], y.to_vec())?;
        train_step(model, &mut self.adam, stacked, &y, self.loss)
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
        &mut self, _model: &mut SnLenet5, stacked: Tensor, y: &[f32], lr: f32,
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
    cfg: &TrainConfig, data: &RunData, resume: Option<(SnLenet5, AdamState, TrainState)>,
    opts: &TrainOptions, obs: &mut dyn Observer,
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

/// The training loop around an [`Engine`] made by `make` from the (fresh or resumed) model
/// and optimiser state.
fn run<E: Engine>(
    cfg: &TrainConfig, data: &RunData, resume: Option<(SnLenet5, AdamState, TrainState)>,
    opts: &TrainOptions, obs: &mut dyn Observer,
    make: impl FnOnce(&SnLenet5, AdamState) -> Result<E>,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    // Subnormals flushed on this thread and the pool's (siamese_tensor::fpmode).
    siamese_tensor::fpmode::apply_to_pool();
    let files = match &opts.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
            let f = RunFiles { dir: dir.clone() };
            // Numbers, strings, Options and unit enums: serde_json cannot fail on them.
            let json = serde_json::to_string_pretty(cfg).expect("serialises");
            siamese_model::io::atomic_write(&f.config(), json.as_bytes())
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
            (model, AdamState::default(), TrainState::default())
        }
    };
    let mut engine = make(&model, adam_state)?;
    // The learning rate of the latest step (the configured one before any).
    let mut lr = cfg.lr;
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
                    Checkpoint::resumable(cfg, &model, &adam_state, &state).save(&f.last())?;
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
        let mut val_scores = Vec::new();
        let (val_loss, val_acc, val_auc) = if validate && !data.val_pairs.is_empty() {
            let scorer = engine.scorer(&mut model);
            let (s, y) = score_pairs(scorer, &data.train, &data.val_pairs, opts.eval_batch)?;
            val_scores = s;
            let s = &val_scores;
            (
                loss_of_scores(cfg.loss, s, &y),
                Some(siamese_model::metrics::accuracy(s, &y, 0.5)),
                siamese_model::metrics::roc_auc(s, &y),
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
            epochs: cfg.epochs,
        };
        obs.epoch_done(&record);
        let loss = record.val_loss.unwrap_or(record.train_loss);
        let collapse = crate::collapse::detect(cfg.loss, epoch, &val_scores, loss);
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
            let mut best = Checkpoint::of_run(cfg, &model.store);
            best.extra.insert("epoch".into(), epoch.to_string());
            if let Some(f) = &files {
                best.save(&f.best())?;
            }
            // Kept in the run state (and so in last.safetensors): the final test scores
            // these weights, in this process or after --resume.
            state.best_weights = Some(best.tensors);
        }
        if let Some(f) = &files {
            let adam_state = engine.adam_state(&model)?;
            Checkpoint::resumable(cfg, &model, &adam_state, &state).save(&f.last())?;
            write_history(f, cfg, opts, &state.history)?;
        }
        if let Some(c) = collapse {
            obs.message(&format!(
                "epoch {epoch}: COLLAPSED (every validation pair scores {:.4}, loss at its dead value {:.4}); stopping",
                c.score, c.dead_loss
            ));
            return Err(ModelError::Collapsed(c));
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
        // The best validation epoch's weights, as in best.safetensors, also after a resume
        // that saw no improvement since (they come back from last.safetensors).
        if let Some(best) = &state.best_weights {
            let best = Checkpoint {
                format: siamese_model::checkpoint::FORMAT_SIAMESE.into(),
                model: cfg.model.clone(),
                tensors: best.clone(),
                extra: Default::default(),
            };
            best.load_into(&mut model.store, Path::new("<best weights>"))?;
            engine.sync_from(&model)?;
        }
        let test = evaluate_with_threshold(engine.scorer(&mut model), data, opts.eval_batch)?;
        if let Some(f) = &files {
            // Numbers and vectors of numbers: serde_json cannot fail on them.
            let json = siamese_model::json::to_pretty(&test).expect("PairEvaluation serialises");
            siamese_model::io::atomic_write(&f.test(), json.as_bytes())
                .map_err(|e| ModelError::io(f.test(), e))?;
        }
        Some(test)
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

#[cfg(test)]
mod tests;
