//! Evaluation on a fixed pair list: pair accuracy at 0.5 and at a threshold chosen on
//! validation, confusion counts, ROC AUC, equal error rate, and the time to score 10,000
//! pairs (the paper's Table 4 measure).
//!
//! Everything here works through [`PairScorer`], so it scores the same way on the CPU model
//! ([`SnLenet5`]) and on a model on a device (`DeviceModel`): [`score_pairs`] for a pair
//! list, [`evaluate_pairs`] at a given threshold, [`evaluate_with_threshold`] for the
//! threshold-then-test evaluation of `siamese train` and `siamese eval`.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize};
use siamese_data::{images_tensor, BatchOptions, ImageSet, Pair, PairBatches};
use siamese_tensor::Tensor;

use crate::error::{ModelError, Result};
use crate::metrics::{best_threshold, equal_error_rate, roc_auc, Confusion};
use crate::run::RunData;
use crate::siamese::SnLenet5;

/// Anything that turns image pairs into similarities in evaluation mode: the CPU model
/// ([`SnLenet5::score`]) or a model on a device (`DeviceModel`).
pub trait PairScorer {
    /// Similarities of N pairs (A, B: N×C×H×W), in chunks of `batch` pairs.
    fn similarities(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>>;

    /// Similarities of a pair list of `set`, in its order, `batch` pairs at a time. The
    /// default gathers each batch's images and calls [`PairScorer::similarities`].
    fn pair_similarities(
        &mut self, set: &Arc<ImageSet>, pairs: &Arc<Vec<Pair>>, batch: usize,
    ) -> Result<Vec<f32>> {
        let mut s = Vec::with_capacity(pairs.len());
        for b in PairBatches::new(set.clone(), pairs.clone(), BatchOptions::eval(batch))? {
            s.extend(self.similarities(&b.a, &b.b, batch)?);
        }
        Ok(s)
    }
}

impl PairScorer for SnLenet5 {
    fn similarities(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>> {
        self.score(a, b, batch)
    }

    /// The scoring path (the subnet forward on inference tapes, the same numbers as the
    /// training forward, tested), each image
    /// that a pair uses embedded once, `batch` images converted to f32 at a time.
    fn pair_similarities(
        &mut self, set: &Arc<ImageSet>, pairs: &Arc<Vec<Pair>>, batch: usize,
    ) -> Result<Vec<f32>> {
        let idx: Vec<(u32, u32)> = pairs.iter().map(|p| (p.a, p.b)).collect();
        self.score_indexed_with(set.n, &idx, batch, |ids| {
            let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
            Ok(images_tensor(set, &ids)?)
        })
    }
}

/// Scores a pair list in evaluation mode, batches of `batch` pairs, returning (similarities,
/// labels). `model` is the CPU model (its scoring path on inference tapes, the same numbers as the
/// taped forward, tested) or a model on a device.
pub fn score_pairs(
    model: &mut dyn PairScorer, set: &Arc<ImageSet>, pairs: &Arc<Vec<Pair>>, batch: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    // Subnormals flushed on this thread and the pool's (siamese_tensor::fpmode).
    siamese_tensor::fpmode::apply_to_pool();
    let s = model.pair_similarities(set, pairs, batch)?;
    let y = pairs.iter().map(|p| f32::from(p.y)).collect();
    Ok((s, y))
}

/// Pairs per scoring batch in validation, test and `eval` unless chosen otherwise (the
/// default of `--eval-batch`).
pub const EVAL_BATCH: usize = 1000;

/// Pairs timed for the scoring-speed figure.
pub const TIMED_PAIRS: usize = 10_000;

/// Everything `siamese eval` reports; a run's test.json holds it ([`PairEvaluation::read`]
/// reads it back).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PairEvaluation {
    pub pairs: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub accuracy_at_half: f64,
    pub confusion_at_half: Confusion,
    /// The threshold chosen on validation pairs.
    pub threshold: f32,
    #[serde(deserialize_with = "nan_if_null")]
    pub accuracy_at_threshold: f64,
    pub confusion_at_threshold: Confusion,
    pub roc_auc: Option<f64>,
    pub equal_error_rate: Option<f64>,
    /// Pairs in the timed run (10,000 or all pairs if fewer).
    pub timed_pairs: usize,
    /// Median wall seconds over 3 runs to score `timed_pairs` pairs, images already in memory
    /// as f32 tensors, batches of `eval_batch`.
    #[serde(deserialize_with = "nan_if_null")]
    pub score_seconds: f64,
    pub eval_batch: usize,
}

/// A float written as `null` (JSON has no NaN: serde_json writes NaN so) read back as NaN.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl PairEvaluation {
    /// Reads a run's test.json (`RunFiles::test`, written from this struct by the training
    /// loop): `None` when the file is absent, an error naming the file when it cannot be read
    /// or is not a test evaluation, or when its threshold is not in [0, 1]
    /// ([`crate::config::check_threshold`]): it calls pairs "same" for `compare` and `show`.
    pub fn read(path: &std::path::Path) -> Result<Option<PairEvaluation>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ModelError::io(path, e)),
        };
        let e: PairEvaluation = serde_json::from_str(&text).map_err(|e| {
            ModelError::Config(format!(
                "{}: not a test evaluation written by `siamese train` ({e})",
                path.display()
            ))
        })?;
        crate::config::check_threshold(e.threshold)
            .map_err(|m| ModelError::Config(format!("{}: its threshold {m}", path.display())))?;
        Ok(Some(e))
    }
}

/// Scores `pairs` of `set` and computes every figure of [`PairEvaluation`].
pub fn evaluate_pairs(
    model: &mut dyn PairScorer, set: &Arc<ImageSet>, pairs: &Arc<Vec<Pair>>, threshold: f32,
    eval_batch: usize,
) -> Result<PairEvaluation> {
    let (s, y) = score_pairs(model, set, pairs, eval_batch)?;
    let score_seconds = time_scoring(model, set, pairs, eval_batch, 3)?;
    let c_half = Confusion::at(&s, &y, crate::metrics::DEFAULT_THRESHOLD);
    let c_t = Confusion::at(&s, &y, threshold);
    Ok(PairEvaluation {
        pairs: s.len(),
        accuracy_at_half: c_half.accuracy(),
        confusion_at_half: c_half,
        threshold,
        accuracy_at_threshold: c_t.accuracy(),
        confusion_at_threshold: c_t,
        roc_auc: roc_auc(&s, &y),
        equal_error_rate: equal_error_rate(&s, &y).map(|e| e.0),
        timed_pairs: pairs.len().min(TIMED_PAIRS),
        score_seconds,
        eval_batch,
    })
}

/// The threshold-then-test evaluation: the threshold t* that maximises pair accuracy on the
/// validation pairs ([`best_threshold`]), then [`evaluate_pairs`] on the test pairs at 0.5
/// and at t* (confusion counts, ROC AUC, EER, seconds to score 10,000 pairs). The test pairs
/// play no part in choosing t*.
pub fn evaluate_with_threshold(
    model: &mut dyn PairScorer, data: &RunData, batch: usize,
) -> Result<PairEvaluation> {
    let (vs, vy) = score_pairs(model, &data.train, &data.val_pairs, batch)?;
    let threshold = best_threshold(&vs, &vy);
    evaluate_pairs(model, &data.test, &data.test_pairs, threshold, batch)
}

/// Median seconds over `reps` runs to score the first 10,000 pairs (images prepared as
/// tensors beforehand, so the figure is the network's time).
pub fn time_scoring(
    model: &mut dyn PairScorer, set: &ImageSet, pairs: &[Pair], eval_batch: usize, reps: usize,
) -> Result<f64> {
    let timed = &pairs[..pairs.len().min(TIMED_PAIRS)];
    let ia: Vec<u32> = timed.iter().map(|p| p.a).collect();
    let ib: Vec<u32> = timed.iter().map(|p| p.b).collect();
    let a = images_tensor(set, &ia)?;
    let b = images_tensor(set, &ib)?;
    median_seconds(reps, || model.similarities(&a, &b, eval_batch))
}

/// The median of `v`, the timing rule of every speed figure (the upper middle value for an
/// even count); NaN for no values.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median wall seconds over `reps` runs of `f` (at least one), each result kept alive until
/// its time is taken.
pub fn median_seconds<T, E>(
    reps: usize, mut f: impl FnMut() -> std::result::Result<T, E>,
) -> std::result::Result<f64, E> {
    let mut times = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        std::hint::black_box(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::accuracy;
    use crate::testing::{tiny_run, BlockReader};

    #[test]
    fn score_pairs_returns_each_pairs_similarity_and_label_in_order() {
        let (_, data) = tiny_run(1);
        let (s, y) = score_pairs(&mut BlockReader, &data.test, &data.test_pairs, 7).unwrap();
        assert_eq!((s.len(), y.len()), (80, 80));
        for ((p, s), y) in data.test_pairs.iter().zip(&s).zip(&y) {
            assert_eq!(*y, f32::from(p.y));
            assert_eq!(*s, if p.y == 1 { 0.3 } else { 0.1 });
        }
    }

    #[test]
    fn the_threshold_comes_from_validation_and_is_applied_to_test() {
        let (_, data) = tiny_run(1);
        let e = evaluate_with_threshold(&mut BlockReader, &data, 16).unwrap();
        let (vs, vy) = score_pairs(&mut BlockReader, &data.train, &data.val_pairs, 16).unwrap();
        assert_eq!(e.threshold, best_threshold(&vs, &vy));
        assert!(e.threshold > 0.1 && e.threshold < 0.3, "{}", e.threshold);
        assert_eq!(e.pairs, data.test_pairs.len());
        assert_eq!(e.accuracy_at_threshold, 1.0);
        // At 0.5 every pair is called different: right on the 40 negatives only.
        assert_eq!(e.accuracy_at_half, 0.5);
        let c = &e.confusion_at_half;
        assert_eq!((c.tp, c.fp, c.tn, c.fn_), (0, 0, 40, 40));
        assert_eq!(e.roc_auc, Some(1.0));
        assert_eq!(e.equal_error_rate, Some(0.0));
        assert_eq!((e.timed_pairs, e.eval_batch), (80, 16));
        assert!(e.score_seconds >= 0.0);
    }

    #[test]
    fn test_json_reads_back_typed_absent_is_none_and_damage_names_the_file() {
        let (_, data) = tiny_run(1);
        let e = evaluate_with_threshold(&mut BlockReader, &data, 16).unwrap();
        let dir = std::env::temp_dir().join(format!("siamese-test-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.json");
        std::fs::write(&path, crate::json::to_pretty(&e).unwrap()).unwrap();
        let back = PairEvaluation::read(&path).unwrap().unwrap();
        assert_eq!(back.threshold, e.threshold);
        assert_eq!(back.confusion_at_half, e.confusion_at_half);
        assert_eq!((back.pairs, back.timed_pairs), (e.pairs, e.timed_pairs));
        assert!(PairEvaluation::read(&dir.join("absent.json"))
            .unwrap()
            .is_none());
        std::fs::write(&path, b"{\"threshold\": ").unwrap();
        let err = PairEvaluation::read(&path).unwrap_err().to_string();
        assert!(err.contains("test.json"), "{err}");
        // Issue 27, cause 5: a threshold outside [0, 1] (2 called an image a different class
        // from itself in `compare`) is refused, not used.
        for bad in [2.0f32, -1.0] {
            let mut b = e.clone();
            b.threshold = bad;
            std::fs::write(&path, crate::json::to_pretty(&b).unwrap()).unwrap();
            let err = PairEvaluation::read(&path).unwrap_err().to_string();
            assert!(err.contains("must be a number from 0 to 1"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn median_takes_the_middle_value() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(Vec::new()).is_nan());
        let mut calls = 0;
        let s = median_seconds(4, || {
            calls += 1;
            Ok::<_, ()>(calls)
        })
        .unwrap();
        assert_eq!(calls, 4);
        assert!(s >= 0.0);
    }

    #[test]
    fn the_cpu_model_scores_the_same_through_every_path() {
        let (cfg, data) = tiny_run(1);
        let mut model = SnLenet5::new(cfg.model.clone(), 5).unwrap();
        let (s, _) = score_pairs(&mut model, &data.test, &data.test_pairs, 32).unwrap();
        let e = evaluate_with_threshold(&mut model, &data, 32).unwrap();
        let y: Vec<f32> = data.test_pairs.iter().map(|p| f32::from(p.y)).collect();
        assert_eq!(e.accuracy_at_half, accuracy(&s, &y, 0.5));
        assert_eq!(e.accuracy_at_threshold, accuracy(&s, &y, e.threshold));
    }
}
