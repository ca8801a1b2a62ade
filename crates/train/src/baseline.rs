//! The paper's baseline (its Tables 3 and 4): the same LeNet-5 subnet ending in 10 class
//! logits, softmax cross-entropy L = (1/N) Σ_n [log Σ_k e^{z_nk} − z_{n,label_n}], Adam.
//! Trained on single images of the same split, evaluated by classification accuracy on the
//! test set and the time to classify 10,000 test images.

use std::path::PathBuf;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use siamese_autodiff::{ParamStore, Tape};
use siamese_data::pairs::epoch_seed;
use siamese_data::{images_tensor, ImageSet};
use siamese_nn::loss::softmax_cross_entropy;
use siamese_optim::{Adam, AdamConfig, Optimizer};
use siamese_tensor::Tensor;

use crate::train::Observer;
use siamese_model::checkpoint::{Checkpoint, FORMAT_CLASSIFIER};
use siamese_model::config::{EmbeddingActivation, ModelConfig};
use siamese_model::error::{ModelError, Result};
use siamese_model::lenet::Subnet;
use siamese_model::run::{RunData, TrainConfig};
use siamese_model::score::median_seconds;

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
    /// Median seconds over 3 runs to classify 10,000 test images (or all, if fewer).
    pub seconds_per_10k: f64,
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
        for chunk in indices.chunks(1000) {
            let x = images_tensor(set, chunk)?;
            let p = self.predict(&x, 1000)?;
            correct += p
                .iter()
                .zip(chunk)
                .filter(|(&p, &i)| p == set.labels[i as usize] as usize)
                .count();
        }
        Ok(correct as f64 / indices.len().max(1) as f64)
    }

    /// Test accuracy and the time to classify 10,000 test images.
    pub fn evaluate(&mut self, test: &ImageSet) -> Result<BaselineEvaluation> {
        let all: Vec<u32> = (0..test.len() as u32).collect();
        let accuracy = self.accuracy(test, &all)?;
        let timed = &all[..all.len().min(10_000)];
        let x = images_tensor(test, timed)?;
        let seconds = median_seconds(3, || self.predict(&x, 1000))?;
        Ok(BaselineEvaluation {
            images: test.len(),
            accuracy,
            seconds_per_10k: seconds * 10_000.0 / timed.len().max(1) as f64,
        })
    }
}

/// Trains the baseline with the run's split, seed, batch size and learning rate, and returns
/// it with the weights of its best validation epoch (as SN-LeNet-5's runs keep
/// `best.safetensors`); writes those weights to `baseline.safetensors` and every epoch's line
/// to `baseline.jsonl` in `out` when given.
pub fn train_baseline(
    cfg: &TrainConfig, data: &RunData, out: Option<PathBuf>, obs: &mut dyn Observer,
) -> Result<(Lenet5Classifier, Vec<BaselineEpoch>)> {
    let classes = data.kind.num_classes();
    let mut model = Lenet5Classifier::new(cfg.model.clone(), classes, cfg.seed)?;
    let mut adam = Adam::new(AdamConfig {
        lr: cfg.lr,
        eps: cfg.adam_eps,
        ..AdamConfig::default()
    })?;
    // Validation images: the paper split's held-out part, i.e. the images of the val pairs.
    let mut val_idx: Vec<u32> = data.val_pairs.iter().map(|p| p.a).collect();
    val_idx.sort_unstable();
    val_idx.dedup();
    let mut history: Vec<BaselineEpoch> = Vec::new();
    // The best validation epoch's weights so far (the returned model carries them).
    let mut best: Option<Checkpoint> = None;
    let batches = data.train_idx.len().div_ceil(cfg.batch);
    let schedule = cfg.lr_schedule((batches * cfg.epochs) as u64)?;
    for epoch in 1..=cfg.epochs {
        let mut order = data.train_idx.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed(
            cfg.seed,
            epoch as u64,
        )));
        obs.epoch_start(epoch, cfg.epochs, batches);
        let t = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (i, chunk) in order.chunks(cfg.batch).enumerate() {
            let x = images_tensor(&data.train, chunk)?;
            let labels: Vec<usize> = chunk
                .iter()
                .map(|&k| data.train.labels[k as usize] as usize)
                .collect();
            adam.set_lr(schedule.at(adam.state().step));
            model.store.zero_grads();
            let mut tape = Tape::new();
            let xi = tape.input(x);
            let z = model.subnet.forward(&mut tape, &model.store, xi)?;
            let loss = softmax_cross_entropy(&mut tape, z, &labels)?;
            let zv = tape.value(z)?;
            for (row, &l) in zv.data().chunks(classes).zip(&labels) {
                correct += (argmax(row) == l) as usize;
            }
            loss_sum += tape.scalar(loss)? as f64 * chunk.len() as f64;
            seen += chunk.len();
            tape.backward(loss, &mut model.store)?;
            drop(tape);
            adam.step(&mut model.store)?;
            obs.batch_done(
                i + 1,
                loss_sum / seen as f64,
                seen as f64 / t.elapsed().as_secs_f64().max(1e-9),
            );
        }
        let rec = BaselineEpoch {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            val_acc: model.accuracy(&data.train, &val_idx)?,
            epoch_seconds: t.elapsed().as_secs_f64(),
        };
        obs.message(&format!(
            "epoch {epoch}/{}: train loss {:.4}, train acc {:.2}%, val acc {:.2}%, {:.1} s",
            cfg.epochs,
            rec.train_loss,
            rec.train_acc * 100.0,
            rec.val_acc * 100.0,
            rec.epoch_seconds
        ));
        if history.iter().all(|h| rec.val_acc > h.val_acc) {
            let mut ck = Checkpoint::from_store(FORMAT_CLASSIFIER, &cfg.model, &model.store);
            ck.extra.insert(
                "train".into(),
                // Numbers, strings, Options and unit enums: serde_json cannot fail on them.
                serde_json::to_string(cfg).expect("serialises"),
            );
            ck.extra.insert("epoch".into(), epoch.to_string());
            best = Some(ck);
        }
        history.push(rec);
    }
    if let Some(ck) = &best {
        ck.load_into(&mut model.store, std::path::Path::new("<best weights>"))?;
    }
    if let (Some(dir), Some(ck)) = (out, &best) {
        std::fs::create_dir_all(&dir).map_err(|e| ModelError::io(&dir, e))?;
        ck.save(&dir.join("baseline.safetensors"))?;
        let mut text = String::new();
        for r in &history {
            // Numbers and Options of numbers: serde_json cannot fail on them.
            text.push_str(&serde_json::to_string(r).expect("serialises"));
            text.push('\n');
        }
        let p = dir.join("baseline.jsonl");
        siamese_model::io::atomic_write(&p, text.as_bytes()).map_err(|e| ModelError::io(&p, e))?;
    }
    Ok((model, history))
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
    #[test]
    fn learns_keeps_its_best_epoch_and_round_trips_its_checkpoint() {
        let (mut cfg, data) = siamese_model::testing::tiny_run(6);
        cfg.batch = 8;
        let dir = std::env::temp_dir().join(format!("siamese-baseline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut model, history) =
            train_baseline(&cfg, &data, Some(dir.clone()), &mut crate::train::Silent).unwrap();
        assert_eq!(history.len(), 6);
        let e = model.evaluate(&data.test).unwrap();
        assert!(e.accuracy >= 0.9, "test accuracy {}", e.accuracy);
        assert!(e.seconds_per_10k > 0.0);
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
