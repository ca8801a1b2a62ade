//! SN-LeNet-5 as a [`Learner`]: the epoch's pairs in batches, augmented, through an
//! [`Engine`]'s step; validation on the fixed validation pairs; best.safetensors,
//! last.safetensors, metrics.jsonl and curves.png in the run folder; collapse detection.

use std::sync::Arc;

use siamese_data::pairs::{epoch_seed, pairs_for_epoch};
use siamese_data::{BatchOptions, PairBatch, PairBatches, PairMode};
use siamese_tensor::ops::loss::{self, ContrastiveReads};

use siamese_model::checkpoint::Checkpoint;
use siamese_model::config::LossKind;
use siamese_model::error::{ModelError, Result};
use siamese_model::metrics::{decided_right, DEFAULT_THRESHOLD};
use siamese_model::run::{EpochRecord, RunData, RunFiles, TrainConfig, TrainState};
use siamese_model::score::score_pairs;
use siamese_model::siamese::{stack_pairs, SnLenet5, BCE_EPS, MARGIN};

use super::epochs::{Learner, StepOutcome, Validation};
use super::step::Engine;
use super::{Observer, TrainOptions};
use crate::augment::augment_batch;
use crate::plot::{plot_curves, CurvePoint};

/// Seed offset of the augmentation draws.
const AUGMENT_STREAM: u64 = 0xA116_0000;

/// The siamese network trained on pairs by an [`Engine`], with the run folder it writes.
pub(super) struct PairLearner<'a, E: Engine> {
    pub cfg: &'a TrainConfig,
    pub data: &'a RunData,
    pub opts: &'a TrainOptions<'a>,
    pub files: Option<RunFiles>,
    pub model: SnLenet5,
    pub engine: E,
}

impl<E: Engine> PairLearner<'_, E> {
    /// Saves last.safetensors (when there is a run folder): the weights, Adam's state and
    /// where the run stands; then config.json, which goes with it.
    fn save_last(&self, state: &TrainState) -> Result<()> {
        let Some(f) = &self.files else {
            return Ok(());
        };
        let adam_state = self.engine.adam_state(&self.model)?;
        Checkpoint::resumable(self.cfg, &self.model, &adam_state, state).save(&f.last())?;
        super::write_config(f, self.cfg)
    }
}

impl<E: Engine> PairLearner<'_, E> {
    /// The classes of the batch's stacked images [A; B] (what the triplet loss reads; empty
    /// for the pair losses, which read only y).
    fn batch_classes(&self, batch: &PairBatch) -> Vec<u32> {
        if self.cfg.loss != LossKind::Triplet {
            return Vec::new();
        }
        let labels = &self.data.train.labels;
        let a = batch.pairs.iter().map(|p| labels[p.a as usize]);
        a.chain(batch.pairs.iter().map(|p| labels[p.b as usize]))
            .collect()
    }
}

impl<E: Engine> Learner for PairLearner<'_, E> {
    type Batch = PairBatch;

    fn batches(&self) -> usize {
        // One positive and one negative pair per training image.
        (self.data.train_idx.len() * 2).div_ceil(self.cfg.batch)
    }

    fn epoch_batches(&mut self, epoch: usize) -> Result<Box<dyn Iterator<Item = PairBatch>>> {
        let (cfg, data) = (self.cfg, self.data);
        let mode = if cfg.pairs_per_epoch {
            PairMode::PerEpoch
        } else {
            PairMode::Fixed
        };
        let pairs = pairs_for_epoch(
            mode,
            &data.train.labels,
            &data.train_idx,
            cfg.seed,
            epoch as u64,
        )?;
        let opts = BatchOptions::train(cfg.batch, cfg.seed, epoch as u64);
        let it = PairBatches::new(data.train.clone(), Arc::new(pairs), opts)?;
        self.model.set_training(true);
        Ok(Box::new(it))
    }

    fn step(&mut self, batch: PairBatch, epoch: usize, i: usize, lr: f32) -> Result<StepOutcome> {
        let mut stacked = stack_pairs(&batch.a, &batch.b)?;
        // One seed per (run, epoch, batch): a resumed run augments identically.
        let aug_seed = epoch_seed(
            self.cfg.seed ^ AUGMENT_STREAM,
            (epoch * 1_000_000 + i) as u64,
        );
        augment_batch(self.cfg.augment, &mut stacked, aug_seed);
        let classes = self.batch_classes(&batch);
        let (loss, s) = self
            .engine
            .step(&mut self.model, stacked, &batch.y, &classes, lr)?;
        let correct = s
            .iter()
            .zip(&batch.y)
            .filter(|(&s, &y)| decided_right(s, y, DEFAULT_THRESHOLD))
            .count() as u64;
        Ok(StepOutcome {
            loss,
            n: batch.len(),
            correct,
        })
    }

    fn steps(&self) -> u64 {
        self.engine.steps()
    }

    fn epoch_trained(&mut self) -> Result<()> {
        self.engine.sync_to(&mut self.model)
    }

    fn validates(&self, epoch: usize) -> bool {
        epoch.is_multiple_of(self.cfg.val_every) || epoch == self.cfg.epochs
    }

    fn validate(&mut self) -> Result<Validation> {
        let data = self.data;
        if data.val_pairs.is_empty() {
            return Ok(Validation::default());
        }
        let scorer = self.engine.scorer(&mut self.model);
        let (s, y) = score_pairs(scorer, &data.train, &data.val_pairs, self.opts.eval_batch)?;
        Ok(Validation {
            loss: loss_of_scores(self.cfg.loss, &s, &y),
            acc: Some(siamese_model::metrics::accuracy(&s, &y, DEFAULT_THRESHOLD)),
            auc: siamese_model::metrics::roc_auc(&s, &y),
            scores: s,
        })
    }

    fn keep_best(&mut self, epoch: usize, state: &mut TrainState) -> Result<()> {
        let mut best = Checkpoint::of_run(self.cfg, &self.model.store);
        best.extra.insert("epoch".into(), epoch.to_string());
        if let Some(f) = &self.files {
            best.save(&f.best())?;
        }
        // Kept in the run state (and so in last.safetensors): the final test scores these
        // weights, in this process or after --resume.
        state.best_weights = Some(best.tensors);
        Ok(())
    }

    fn epoch_recorded(
        &mut self, state: &TrainState, val: &Validation, obs: &mut dyn Observer,
    ) -> Result<()> {
        if let Some(f) = &self.files {
            self.save_last(state)?;
            write_history(f, self.cfg, self.opts, &state.history)?;
        }
        let Some(record) = state.history.last() else {
            return Ok(());
        };
        let loss = record.val_loss.unwrap_or(record.train_loss);
        let epoch = record.epoch;
        let margin = self.cfg.triplet.map_or(MARGIN, |t| t.margin);
        let kind = self.cfg.loss;
        if let Some(c) = crate::collapse::detect(kind, margin, epoch, &val.scores, loss, val.auc) {
            obs.message(&format!(
                "epoch {epoch}: COLLAPSED (validation pairs score {:.4}{}, loss at its dead value {:.4}); stopping",
                c.score,
                c.auc.map_or(String::new(), |a| format!(" on average, ROC AUC {a:.4}")),
                c.dead_loss
            ));
            return Err(ModelError::Collapsed(c));
        }
        Ok(())
    }

    fn stopped_mid_epoch(&mut self, state: &TrainState, obs: &mut dyn Observer) -> Result<()> {
        if self.files.is_some() {
            self.engine.sync_to(&mut self.model)?;
            self.save_last(state)?;
        }
        if let Some(f) = &self.files {
            obs.message(&format!(
                "stopped at epoch {}, batch {}/{}; saved {} (continue with --resume {})",
                state.epoch + 1,
                state.batch_in_epoch,
                self.batches(),
                f.last().display(),
                f.dir.display()
            ));
        }
        self.engine.sync_to(&mut self.model)
    }
}

/// Mean contrastive (sigmoid) or BCE loss of similarities `s` against labels `y`, for the
/// validation line, by the loss ops themselves (`siamese_tensor::ops::loss`); `None` for the
/// distance and triplet losses (which need d or the embeddings, not s) and for an empty list.
pub(super) fn loss_of_scores(kind: LossKind, s: &[f32], y: &[f32]) -> Option<f64> {
    let l = match kind {
        LossKind::ContrastiveSigmoid => {
            loss::contrastive_forward(s, y, MARGIN, ContrastiveReads::Similarity)
        }
        LossKind::Bce => loss::bce_forward(s, y, BCE_EPS),
        LossKind::ContrastiveDistance | LossKind::Triplet => return None,
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
    let title = curves_title(cfg, opts);
    plot_curves(&files.curves(), &title, &points).map_err(|e| ModelError::io(files.curves(), e))
}

/// curves.png's title: the dataset, the seed, the recipe the run is closest to and every
/// setting beyond it ([`TrainConfig::as_recipe`]), as the command line spells them.
pub(crate) fn curves_title(cfg: &TrainConfig, opts: &TrainOptions) -> String {
    let name = match &opts.dataset_title {
        Some(t) => t.clone(),
        None => cfg.dataset.title().to_string(),
    };
    let (recipe, flags) = cfg.as_recipe();
    let mut run = format!("--recipe {recipe}");
    for f in flags {
        run.push(' ');
        run.push_str(&f);
    }
    format!("SN-LeNet-5 on {name} (seed {}; {run})", cfg.seed)
}
