//! The loop every model trains through, in named steps: [`run_epochs`] walks the epochs,
//! [`train_epoch`] the batches of one (learning rate from the schedule → the learner's step
//! → running loss and accuracy → progress → a requested stop), then [`end_epoch`] validates,
//! records the epoch's line and keeps the best validation epoch's weights ([`beats`]).
//!
//! What is trained and how it is validated is a [`Learner`]: the siamese network on pairs
//! ([`super::pairs::PairLearner`], on the tape or a device) and the classifier baseline on
//! single images ([`crate::baseline`]).

use std::time::Instant;

use siamese_model::error::{ModelError, Result};
use siamese_model::run::{beats, EpochRecord, TrainConfig, TrainState};
use siamese_optim::LrSchedule;

use super::Observer;

/// The numbers of one trained batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepOutcome {
    /// The batch's mean loss.
    pub loss: f64,
    /// Items (pairs or images) in the batch.
    pub n: usize,
    /// Items decided right.
    pub correct: u64,
}

/// The numbers of one validation pass (all None when it was skipped).
#[derive(Clone, Debug, Default)]
pub(crate) struct Validation {
    pub loss: Option<f64>,
    pub acc: Option<f64>,
    pub auc: Option<f64>,
    /// The validation scores (for collapse detection; empty where there are none).
    pub scores: Vec<f32>,
}

/// How the epochs ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Every epoch was trained.
    Done,
    /// A stop was requested; the learner saved what it saves.
    Stopped,
}

/// What a run trains, one batch at a time, and how it is validated and kept. The loop around
/// it (epochs, batches, the learning-rate schedule, metrics, the best epoch, a clean stop) is
/// [`run_epochs`], the same for every learner.
pub(crate) trait Learner {
    /// One batch as the epoch's iterator yields it.
    type Batch;
    /// Batches in one epoch.
    fn batches(&self) -> usize;
    /// The batches of `epoch` (1-based), in training order; every random choice is a
    /// function of the run's seed and `epoch`.
    fn epoch_batches(&mut self, epoch: usize) -> Result<Box<dyn Iterator<Item = Self::Batch>>>;
    /// Trains batch `i` (0-based) of `epoch` at learning rate `lr` (the schedule's).
    fn step(&mut self, batch: Self::Batch, epoch: usize, i: usize, lr: f32) -> Result<StepOutcome>;
    /// Optimiser steps taken so far (the schedule's t).
    fn steps(&self) -> u64;
    /// Called after an epoch's last batch, before validation.
    fn epoch_trained(&mut self) -> Result<()>;
    /// Whether `epoch` is validated.
    fn validates(&self, epoch: usize) -> bool;
    /// Scores the validation set with the current weights.
    fn validate(&mut self) -> Result<Validation>;
    /// The current weights are the best validation epoch's (`epoch`): keep them.
    fn keep_best(&mut self, epoch: usize, state: &mut TrainState) -> Result<()>;
    /// After the epoch's line is in `state.history` and the best weights are kept.
    fn epoch_recorded(
        &mut self, state: &TrainState, val: &Validation, obs: &mut dyn Observer,
    ) -> Result<()>;
    /// A stop was requested after batch `state.batch_in_epoch` of epoch `state.epoch + 1`.
    fn stopped_mid_epoch(&mut self, state: &TrainState, obs: &mut dyn Observer) -> Result<()>;
}

/// Trains `l` from where `state` stands to `cfg.epochs`, or until `stop` says so.
pub(crate) fn run_epochs<L: Learner>(
    l: &mut L, cfg: &TrainConfig, state: &mut TrainState, obs: &mut dyn Observer,
    stop: &dyn Fn() -> bool,
) -> Result<Ended> {
    let schedule = cfg.lr_schedule((l.batches() * cfg.epochs) as u64);
    // The learning rate of the latest step (the configured one before any).
    let mut lr = cfg.lr;
    while state.epoch < cfg.epochs {
        let Some(epoch_seconds) = train_epoch(l, cfg, &schedule, state, obs, stop, &mut lr)? else {
            return Ok(Ended::Stopped);
        };
        end_epoch(l, cfg, state, obs, epoch_seconds, lr)?;
        if stop() && state.epoch < cfg.epochs {
            obs.message("stopped at an epoch boundary; continue with --resume");
            return Ok(Ended::Stopped);
        }
    }
    Ok(Ended::Done)
}

/// Trains the batches of epoch `state.epoch + 1` not trained yet, accounting each in
/// `state`; `lr` follows the schedule. Returns the epoch's seconds, or None when a stop was
/// requested before its last batch (the learner has saved its state).
fn train_epoch<L: Learner>(
    l: &mut L, cfg: &TrainConfig, schedule: &LrSchedule, state: &mut TrainState,
    obs: &mut dyn Observer, stop: &dyn Fn() -> bool, lr: &mut f32,
) -> Result<Option<f64>> {
    let epoch = state.epoch + 1;
    let batches = l.batches();
    let it = l.epoch_batches(epoch)?;
    obs.epoch_start(epoch, cfg.epochs, batches);
    let started = Instant::now();
    let seconds_before = state.seconds;
    for (i, batch) in it.enumerate() {
        if i < state.batch_in_epoch {
            continue; // trained before the interruption
        }
        *lr = schedule.at(l.steps());
        let step = l.step(batch, epoch, i, *lr)?;
        if !step.loss.is_finite() {
            return Err(ModelError::Config(format!(
                "the loss became {} at epoch {epoch}, batch {}: lower --lr",
                step.loss,
                i + 1
            )));
        }
        state.correct += step.correct;
        state.loss_sum += step.loss * step.n as f64;
        state.seen += step.n as u64;
        state.batch_in_epoch = i + 1;
        let secs = seconds_before + started.elapsed().as_secs_f64();
        obs.batch_done(
            i + 1,
            state.loss_sum / state.seen as f64,
            state.seen as f64 / secs.max(1e-9),
        );
        if stop() && i + 1 < batches {
            state.seconds = secs;
            l.stopped_mid_epoch(state, obs)?;
            return Ok(None);
        }
    }
    l.epoch_trained()?;
    Ok(Some(seconds_before + started.elapsed().as_secs_f64()))
}

/// After an epoch's batches: validation (when due), the epoch's line in `state.history`, the
/// running sums reset, the best weights kept when validation [`beats`] the best so far, and
/// the learner's own recording.
fn end_epoch<L: Learner>(
    l: &mut L, cfg: &TrainConfig, state: &mut TrainState, obs: &mut dyn Observer,
    epoch_seconds: f64, lr: f32,
) -> Result<()> {
    let epoch = state.epoch + 1;
    let val = if l.validates(epoch) {
        l.validate()?
    } else {
        Validation::default()
    };
    let record = EpochRecord {
        epoch,
        train_loss: state.loss_sum / state.seen.max(1) as f64,
        train_acc: state.correct as f64 / state.seen.max(1) as f64,
        val_loss: val.loss,
        val_acc: val.acc,
        val_auc: val.auc,
        epoch_seconds,
        pairs_per_second: state.seen as f64 / epoch_seconds.max(1e-9),
        lr,
        steps: l.steps(),
        epochs: cfg.epochs,
    };
    obs.epoch_done(&record);
    state.history.push(record);
    state.epoch = epoch;
    state.batch_in_epoch = 0;
    state.loss_sum = 0.0;
    state.correct = 0;
    state.seen = 0;
    state.seconds = 0.0;
    if let Some(acc) = val.acc.filter(|&a| beats(a, state.best_val_acc)) {
        state.best_val_acc = Some(acc);
        l.keep_best(epoch, state)?;
    }
    l.epoch_recorded(state, &val, obs)
}
