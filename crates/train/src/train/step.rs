//! What computes SN-LeNet-5's steps: the tape on the CPU ([`TapeEngine`], around
//! [`train_step`]) or a model on a [`Backend`] ([`DeviceModel`]). The loop around them is the
//! same ([`super::pairs::PairLearner`] in [`super::epochs::run_epochs`]).

use siamese_autodiff::Tape;
use siamese_optim::{Adam, AdamState};
use siamese_tensor::par::with_warm_workers;
use siamese_tensor::{Backend, Tensor};

use siamese_model::device_step::DeviceModel;
use siamese_model::error::Result;
use siamese_model::run::TrainConfig;
use siamese_model::score::PairScorer;
use siamese_model::siamese::{Objective, SnLenet5};

/// What computes a run's steps: the tape on the CPU ([`TapeEngine`]) or a model on a
/// [`Backend`] ([`DeviceModel`]).
pub(super) trait Engine {
    /// One step on the stacked batch [A; B] with labels y (and the classes of the 2N images,
    /// for the triplet loss) at learning rate `lr` (the schedule's): returns the loss and the
    /// N training-mode similarities.
    fn step(
        &mut self, model: &mut SnLenet5, stacked: Tensor, y: &[f32], classes: &[u32], lr: f32,
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

/// One training step on the CPU, the step [`super::train`] runs for every batch (and
/// `siamese bench` times): zero the gradients → taped forward of the stacked batch [A; B]
/// (2N images) → the `objective`'s loss against the labels `y` (N) or the images' classes →
/// backward → Adam at learning rate `lr` (the schedule's). Returns the loss and the N
/// training-mode similarities. A non-finite loss skips the backward and the update (the
/// loop then stops with an error naming the batch).
pub fn train_step(
    model: &mut SnLenet5, adam: &mut Adam, stacked: Tensor, y: &Tensor, objective: Objective,
    lr: f32,
) -> Result<(f64, Vec<f32>)> {
    // A step's parallel regions are a few hundred microseconds apart: the other workers poll
    // for them instead of falling asleep between them (siamese_tensor::par).
    with_warm_workers(|| step_on_this_worker(model, adam, stacked, y, objective, lr))
}

/// The body of [`train_step`], run by [`with_warm_workers`].
fn step_on_this_worker(
    model: &mut SnLenet5, adam: &mut Adam, stacked: Tensor, y: &Tensor, objective: Objective,
    lr: f32,
) -> Result<(f64, Vec<f32>)> {
    model.store.zero_grads();
    let mut tape = Tape::new();
    let out = model.forward(&mut tape, stacked)?;
    let loss = model.objective_loss(&mut tape, out, y, objective)?;
    let loss_value = tape.scalar(loss)? as f64;
    let s = tape.value(out.similarity)?.data().to_vec();
    if loss_value.is_finite() {
        tape.backward(loss, &mut model.store)?;
        // The tape shares the parameters; drop it so Adam updates them in place.
        drop(tape);
        adam.step(&mut model.store, lr)?;
    }
    Ok((loss_value, s))
}

/// The CPU engine: [`train_step`] (forward on the tape, backward, `siamese_optim::Adam`).
pub(super) struct TapeEngine<'c> {
    pub adam: Adam,
    /// The run, whose loss ([`TrainConfig::objective`]) each step minimises.
    pub cfg: &'c TrainConfig,
}

impl Engine for TapeEngine<'_> {
    fn step(
        &mut self, model: &mut SnLenet5, stacked: Tensor, y: &[f32], classes: &[u32], lr: f32,
    ) -> Result<(f64, Vec<f32>)> {
        let y = Tensor::from_vec(&[y.len()], y.to_vec())?;
        let objective = self.cfg.objective(classes);
        train_step(model, &mut self.adam, stacked, &y, objective, lr)
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
        &mut self, _model: &mut SnLenet5, stacked: Tensor, y: &[f32], _classes: &[u32], lr: f32,
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
