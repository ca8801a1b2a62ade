//! The paper's baseline (its Tables 3 and 4): the same LeNet-5 subnet ending in 10 class
//! logits, softmax cross-entropy L = (1/N) Σ_n [log Σ_k e^{z_nk} − z_{n,label_n}], Adam.
//! Trained on single images of the same split through the same loop as SN-LeNet-5
//! ([`mod@crate::train`]'s epochs: schedule, batches, validation, best epoch), evaluated by
//! classification accuracy on the test set and the time to classify 10,000
//! ([`TIMED_PAIRS`]) test images, and as a pair verifier on SN-LeNet-5's test pairs
//! ([`verifier`]).

pub mod verifier;

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use siamese_autodiff::{ParamStore, Tape};
use siamese_data::pairs::epoch_seed;
use siamese_data::{images_tensor, ImageSet};
use siamese_nn::loss::softmax_cross_entropy;
use siamese_optim::Adam;
use siamese_tensor::Tensor;

use crate::train::{adam_config, run_epochs, Learner, Observer, StepOutcome, Validation};
use siamese_model::checkpoint::{Checkpoint, FORMAT_CLASSIFIER};
use siamese_model::config::{EmbeddingActivation, ModelConfig};
use siamese_model::error::{ModelError, Result};
use siamese_model::lenet::Subnet;
use siamese_model::run::{EpochRecord, RunData, TrainConfig, TrainState};
use siamese_model::score::{median_seconds, EVAL_BATCH, TIMED_PAIRS};
use verifier::{evaluate_verifier, VerifierEvaluation};

/// Index of the largest logit (the first one on ties): the predicted class.
fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        )
        .0
}

/// LeNet-5 with a 10-way (number of classes) linear output.
#[derive(Debug)]
pub struct Lenet5Classifier {
    pub config: ModelConfig,
    pub classes: usize,
    pub store: ParamStore,
    pub subnet: Subnet,
}

/// One epoch of the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineEpoch {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
    pub epoch_seconds: f64,
}

/// Test figures of the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineEvaluation {
    pub images: usize,
    pub accuracy: f64,
    /// Median seconds over 3 runs to classify 10,000 ([`TIMED_PAIRS`]) test images (or all,
    /// if fewer), scaled to 10,000.
    pub seconds_per_10k: f64,
    /// The classifier as a pair verifier on the run's fixed test pairs.
    pub verifier: VerifierEvaluation,
}

impl Lenet5Classifier {
    /// A fresh classifier (Glorot-uniform weights, zero biases) from `seed`.
    pub fn new(config: ModelConfig, classes: usize, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (store, subnet) =
            Subnet::in_new_store(&config, classes, EmbeddingActivation::Linear, &mut rng)?;
        Ok(Self {
            config,
            classes,
            store,
            subnet,
        })
    }

    /// Rebuilds a classifier from a checkpoint.
    pub fn from_checkpoint(ck: &Checkpoint, path: &std::path::Path) -> Result<Self> {
        if ck.format != FORMAT_CLASSIFIER {
            return Err(ModelError::checkpoint(
                path,
                "is not a LeNet-5 classifier checkpoint",
            ));
        }
        let classes = ck
            .tensor("subnet.fc3.bias")
            .map(|t| t.len())
            .ok_or_else(|| ModelError::checkpoint(path, "has no subnet.fc3.bias"))?;
        let mut m = Self::new(ck.model.clone(), classes, 0)?;
        ck.load_into(&mut m.store, path)?;
        Ok(m)
    }

    /// Class logits of `x` (N×C×H×W → N·classes values, row by row), `batch` images at a
    /// time, through the subnet's tape-free scoring path [`Subnet::infer`] (the one that
    /// scores SN-LeNet-5's pairs), so both models are timed through the same code.
    pub fn logits(&self, x: &Tensor, batch: usize) -> Result<Vec<f32>> {
        let n = x.shape().first().copied().unwrap_or(0);
        let mut out = Vec::with_capacity(n * self.classes);
        let mut start = 0;
        while start < n {
            let m = batch.max(1).min(n - start);
            let z = self.subnet.infer(&self.store, &x.batch_slice(start, m)?)?;
            out.extend_from_slice(z.data());
            start += m;
        }
        Ok(out)
    }

    /// Predicted classes of `x` (N×C×H×W), scored in batches of `batch`: the largest of
    /// each image's [`Lenet5Classifier::logits`].
    pub fn predict(&mut self, x: &Tensor, batch: usize) -> Result<Vec<usize>> {
        let z = self.logits(x, batch)?;
        Ok(z.chunks(self.classes).map(argmax).collect())
    }

    /// Accuracy on `indices` of `set`.
    pub fn accuracy(&mut self, set: &ImageSet, indices: &[u32]) -> Result<f64> {
        let mut correct = 0usize;
        for chunk in indices.chunks(EVAL_BATCH) {
            let x = images_tensor(set, chunk)?;
            let p = self.predict(&x, EVAL_BATCH)?;
            correct += p
                .iter()
                .zip(chunk)
                .filter(|(&p, &i)| p == set.labels[i as usize] as usize)
                .count();
        }
        Ok(correct as f64 / indices.len().max(1) as f64)
    }

    /// Test accuracy and the time to classify 10,000 ([`TIMED_PAIRS`]) test images, on the
    /// test images of `classes` only (a run's `--train-classes`: it trains, validates and
    /// tests on those classes), or on all of them for `None`; and the classifier as a pair
    /// verifier on `data`'s test pairs ([`evaluate_verifier`]).
    pub fn evaluate(
        &mut self, data: &RunData, classes: Option<&[siamese_data::Label]>,
    ) -> Result<BaselineEvaluation> {
        let test = &data.test;
        let all: Vec<u32> = (0..test.len() as u32)
            .filter(|&i| classes.is_none_or(|c| c.contains(&test.labels[i as usize])))
            .collect();
        let accuracy = self.accuracy(test, &all)?;
        let timed = &all[..all.len().min(TIMED_PAIRS)];
        let x = images_tensor(test, timed)?;
        let seconds = median_seconds(3, || self.predict(&x, EVAL_BATCH))?;
        Ok(BaselineEvaluation {
            images: all.len(),
            accuracy,
            seconds_per_10k: seconds * TIMED_PAIRS as f64 / timed.len().max(1) as f64,
            verifier: evaluate_verifier(self, data, accuracy, EVAL_BATCH)?,
        })
    }
}

/// The classifier as a [`Learner`]: shuffled training images in batches, softmax
/// cross-entropy and Adam; validation accuracy on the held-out images.
struct ClassifierLearner<'a> {
    cfg: &'a TrainConfig,
    data: &'a RunData,
    model: Lenet5Classifier,
    adam: Adam,
    /// Validation images: the paper split's held-out part, i.e. the images of the val pairs.
    val_idx: Vec<u32>,
    /// The best validation epoch's weights so far (the returned model carries them).
    best: Option<Checkpoint>,
}

impl Learner for ClassifierLearner<'_> {
    type Batch = Vec<u32>;

    fn batches(&self) -> usize {
        self.data.train_idx.len().div_ceil(self.cfg.batch)
    }

    fn epoch_batches(&mut self, epoch: usize) -> Result<Box<dyn Iterator<Item = Vec<u32>>>> {
        let mut order = self.data.train_idx.clone();
        let seed = epoch_seed(self.cfg.seed, epoch as u64);
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let chunks: Vec<Vec<u32>> = order.chunks(self.cfg.batch).map(<[u32]>::to_vec).collect();
        Ok(Box::new(chunks.into_iter()))
    }

    fn step(&mut self, chunk: Vec<u32>, _: usize, _: usize, lr: f32) -> Result<StepOutcome> {
        let train = &self.data.train;
        let x = images_tensor(train, &chunk)?;
        let labels: Vec<usize> = chunk
            .iter()
            .map(|&k| train.labels[k as usize] as usize)
            .collect();
        let model = &mut self.model;
        model.store.zero_grads();
        let mut tape = Tape::new();
        let xi = tape.input(x);
        let z = model.subnet.forward(&mut tape, &model.store, xi)?;
        let loss = softmax_cross_entropy(&mut tape, z, &labels)?;
        let zv = tape.value(z)?;
        let correct = zv
            .data()
            .chunks(model.classes)
            .zip(&labels)
            .filter(|(row, &l)| argmax(row) == l)
            .count() as u64;
        let loss_value = tape.scalar(loss)? as f64;
        if loss_value.is_finite() {
            tape.backward(loss, &mut model.store)?;
            drop(tape);
            self.adam.step(&mut model.store, lr)?;
        }
        Ok(StepOutcome {
            loss: loss_value,
            n: chunk.len(),
            correct,
        })
    }

    fn steps(&self) -> u64 {
        self.adam.state().step
    }

    fn epoch_trained(&mut self) -> Result<()> {
        Ok(())
    }

    fn validates(&self, _epoch: usize) -> bool {
        true
    }

    fn validate(&mut self) -> Result<Validation> {
        let acc = self.model.accuracy(&self.data.train, &self.val_idx)?;
        Ok(Validation {
            acc: Some(acc),
            ..Validation::default()
        })
    }

    fn keep_best(&mut self, epoch: usize, _: &mut TrainState) -> Result<()> {
        let mut ck = Checkpoint::from_store(FORMAT_CLASSIFIER, &self.cfg.model, &self.model.store);
        ck.extra.insert(
            "train".into(),
            // Numbers, strings, Options and unit enums: serde_json cannot fail on them.
            serde_json::to_string(self.cfg).expect("serialises"),
        );
        ck.extra.insert("epoch".into(), epoch.to_string());
        self.best = Some(ck);
        Ok(())
    }

    fn epoch_recorded(
        &mut self, _: &TrainState, _: &Validation, _: &mut dyn Observer,
    ) -> Result<()> {
        Ok(()) // the loop's epoch_done reports the epoch (its line counts images per second)
    }

    fn stopped_mid_epoch(&mut self, _: &TrainState, _: &mut dyn Observer) -> Result<()> {
        Ok(()) // the baseline takes no stop request
    }
}

impl From<&EpochRecord> for BaselineEpoch {
    fn from(r: &EpochRecord) -> Self {
        Self {
            epoch: r.epoch,
            train_loss: r.train_loss,
            train_acc: r.train_acc,
            // The baseline validates every epoch.
            val_acc: r.val_acc.unwrap_or(f64::NAN),
            epoch_seconds: r.epoch_seconds,
        }
    }
}

/// Trains the baseline with the run's split, seed, batch size and learning-rate schedule,
/// through the loop SN-LeNet-5 trains through, and returns it with the weights of its best
/// validation epoch (as SN-LeNet-5's runs keep `best.safetensors`); writes those weights to
/// `baseline.safetensors` and every epoch's line to `baseline.jsonl` in `out` when given.
pub fn train_baseline(
    cfg: &TrainConfig, data: &RunData, out: Option<PathBuf>, obs: &mut dyn Observer,
) -> Result<(Lenet5Classifier, Vec<BaselineEpoch>)> {
    let classes = data.train.num_classes();
    let mut val_idx: Vec<u32> = data.val_pairs.iter().map(|p| p.a).collect();
    val_idx.sort_unstable();
    val_idx.dedup();
    let mut learner = ClassifierLearner {
        cfg,
        data,
        model: Lenet5Classifier::new(cfg.model.clone(), classes, cfg.seed)?,
        adam: Adam::new(adam_config(cfg))?,
        val_idx,
        best: None,
    };
    let mut state = TrainState::default();
    run_epochs(&mut learner, cfg, &mut state, obs, &|| false)?;
    let ClassifierLearner {
        mut model, best, ..
    } = learner;
    let history: Vec<BaselineEpoch> = state.history.iter().map(BaselineEpoch::from).collect();
    if let Some(ck) = &best {
        ck.load_into(&mut model.store, std::path::Path::new("<best weights>"))?;
    }
    if let (Some(dir), Some(ck)) = (out, &best) {
        write_baseline_files(&dir, ck, &history)?;
    }
    Ok((model, history))
}

/// The files a baseline run writes in its folder: baseline.safetensors (the best epoch's
/// weights), baseline.jsonl (every epoch's line) and baseline-test.json (its
/// [`BaselineEvaluation`], written by `train-baseline` once tested).
pub fn baseline_files(dir: &Path) -> [PathBuf; 3] {
    [
        dir.join("baseline.safetensors"),
        dir.join("baseline.jsonl"),
        dir.join("baseline-test.json"),
    ]
}

/// [`baseline_files`] in `dir` (created).
fn write_baseline_files(dir: &Path, best: &Checkpoint, history: &[BaselineEpoch]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let [weights, lines, _] = baseline_files(dir);
    best.save(&weights)?;
    let mut text = String::new();
    for r in history {
        // Numbers and Options of numbers: serde_json cannot fail on them.
        text.push_str(&serde_json::to_string(r).expect("serialises"));
        text.push('\n');
    }
    siamese_model::io::atomic_write(&lines, text.as_bytes()).map_err(|e| ModelError::io(&lines, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use siamese_model::testing::images;

    /// `logits` (the subnet on an inference tape, in batches) gives the logits that the
    /// training forward records on a full tape, and `predict` their argmax, for the fused
    /// default and the unfused tanh/avg subnet.
    #[test]
    fn logits_match_the_training_forward() {
        let mut tanh_avg = ModelConfig::for_input(1, 28, 28);
        tanh_avg.activation = siamese_model::config::Activation::Tanh;
        tanh_avg.pooling = siamese_model::config::Pooling::Avg;
        for cfg in [ModelConfig::for_input(1, 28, 28), tanh_avg] {
            let mut model = Lenet5Classifier::new(cfg, 10, 7).unwrap();
            let x = images(37, 1, 28, 9);
            let mut tape = Tape::new();
            let xi = tape.input(x.clone());
            let z = model.subnet.forward(&mut tape, &model.store, xi).unwrap();
            let want = tape.value(z).unwrap().data().to_vec();
            let got = model.logits(&x, 16).unwrap();
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-6, "logit {i}: {g} vs {w}");
            }
            assert!(
                want.iter().any(|&w| (w - want[0]).abs() > 1e-4),
                "logits vary"
            );
            let classes: Vec<usize> = want.chunks(10).map(argmax).collect();
            assert_eq!(model.predict(&x, 16).unwrap(), classes);
        }
    }

    /// On the tiny hand-made set (a bright block placed by class over noise) the classifier
    /// learns: far above chance (10%) on the held-out test images. The returned weights are
    /// those of the best validation epoch, and `baseline.safetensors` holds them: rebuilt
    /// from the file, the classifier gives the same logits.
    /// One report per epoch: the loop's `epoch_done` (the baseline used to add a status line
    /// of its own, so `train-baseline` printed each epoch twice).
    #[test]
    fn each_epoch_is_reported_once() {
        #[derive(Default)]
        struct Count {
            epochs: usize,
            messages: usize,
        }
        impl Observer for Count {
            fn epoch_done(&mut self, _: &EpochRecord) {
                self.epochs += 1;
            }
            fn message(&mut self, _: &str) {
                self.messages += 1;
            }
        }
        let (mut cfg, data) = siamese_model::testing::tiny_run(2);
        cfg.batch = 8;
        let mut count = Count::default();
        train_baseline(&cfg, &data, None, &mut count).unwrap();
        assert_eq!((count.epochs, count.messages), (2, 0));
    }

    #[test]
    fn learns_keeps_its_best_epoch_and_round_trips_its_checkpoint() {
        let (mut cfg, data) = siamese_model::testing::tiny_run(6);
        cfg.batch = 8;
        let dir = std::env::temp_dir().join(format!("siamese-baseline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut model, history) =
            train_baseline(&cfg, &data, Some(dir.clone()), &mut crate::train::Silent).unwrap();
        assert_eq!(history.len(), 6);
        let e = model.evaluate(&data, None).unwrap();
        assert!(e.accuracy >= 0.9, "test accuracy {}", e.accuracy);
        assert!(e.seconds_per_10k > 0.0);
        assert_eq!(e.images, data.test.len());
        // Issue 27, cause 7: a run on a class subset is tested on those classes' images only.
        let some = [data.test.labels[0]];
        let on_some = model.evaluate(&data, Some(&some)).unwrap();
        let n = data.test.labels.iter().filter(|&&l| l == some[0]).count();
        assert!(n < data.test.len());
        assert_eq!(on_some.images, n);
        // The best validation epoch (the first of equals) is the one kept.
        let best = history.iter().fold(
            &history[0],
            |b, h| if h.val_acc > b.val_acc { h } else { b },
        );
        let mut val_idx: Vec<u32> = data.val_pairs.iter().map(|p| p.a).collect();
        val_idx.sort_unstable();
        val_idx.dedup();
        assert_eq!(model.accuracy(&data.train, &val_idx).unwrap(), best.val_acc);
        let path = dir.join("baseline.safetensors");
        let ck = Checkpoint::load(&path).unwrap();
        assert_eq!(ck.extra.get("epoch"), Some(&best.epoch.to_string()));
        let loaded = Lenet5Classifier::from_checkpoint(&ck, &path).unwrap();
        let x = images_tensor(&data.test, &[0, 1, 2, 3, 4]).unwrap();
        assert_eq!(loaded.logits(&x, 2).unwrap(), model.logits(&x, 5).unwrap());
        assert!(dir.join("baseline.jsonl").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
