//! Evaluation on a fixed pair list: pair accuracy at 0.5 and at a threshold chosen on
//! validation, confusion counts, ROC AUC, equal error rate, and the time to score 10,000
//! pairs (the paper's Table 4 measure).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use siamese_data::{images_tensor, BatchOptions, ImageSet, Pair, PairBatches};
use siamese_tensor::Tensor;

use crate::error::Result;
use crate::metrics::{equal_error_rate, roc_auc, Confusion};
use crate::siamese::SnLenet5;
use crate::train::score_pairs;

/// Anything that turns image pairs into similarities in evaluation mode: the CPU model
/// ([`SnLenet5::score`]) or a model on a device (`DeviceModel`).
pub trait PairScorer {
    /// Similarities of N pairs (A, B: N×C×H×W), in chunks of `batch` pairs.
    fn similarities(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>>;

    /// Similarities of a pair list of `set`, in its order, `batch` pairs at a time. The
    /// default gathers each batch's images and calls [`PairScorer::similarities`].
    fn pair_similarities(
        &mut self,
        set: &Arc<ImageSet>,
        pairs: &Arc<Vec<Pair>>,
        batch: usize,
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

    /// The tape-free scoring path (same numbers as the taped forward, tested), each image
    /// that a pair uses embedded once, `batch` images converted to f32 at a time.
    fn pair_similarities(
        &mut self,
        set: &Arc<ImageSet>,
        pairs: &Arc<Vec<Pair>>,
        batch: usize,
    ) -> Result<Vec<f32>> {
        let idx: Vec<(u32, u32)> = pairs.iter().map(|p| (p.a, p.b)).collect();
        self.score_indexed_with(set.n, &idx, batch, |ids| {
            let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
            Ok(images_tensor(set, &ids)?)
        })
    }
}

/// Pairs timed for the scoring-speed figure.
pub const TIMED_PAIRS: usize = 10_000;

/// Everything `siamese eval` reports.
#[derive(Clone, Debug, Serialize)]
pub struct PairEvaluation {
    pub pairs: usize,
    pub accuracy_at_half: f64,
    pub confusion_at_half: Confusion,
    /// The threshold chosen on validation pairs.
    pub threshold: f32,
    pub accuracy_at_threshold: f64,
    pub confusion_at_threshold: Confusion,
    pub roc_auc: Option<f64>,
    pub equal_error_rate: Option<f64>,
    /// Pairs in the timed run (10,000 or all pairs if fewer).
    pub timed_pairs: usize,
    /// Median wall seconds over 3 runs to score `timed_pairs` pairs, images already in memory
    /// as f32 tensors, batches of `eval_batch`.
    pub score_seconds: f64,
    pub eval_batch: usize,
}

/// Scores `pairs` of `set` and computes every figure of [`PairEvaluation`].
pub fn evaluate_pairs(
    model: &mut dyn PairScorer,
    set: &Arc<ImageSet>,
    pairs: &Arc<Vec<Pair>>,
    threshold: f32,
    eval_batch: usize,
) -> Result<PairEvaluation> {
    let (s, y) = score_pairs(model, set, pairs, eval_batch)?;
    let score_seconds = time_scoring(model, set, pairs, eval_batch, 3)?;
    let c_half = Confusion::at(&s, &y, 0.5);
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

/// Median seconds over `reps` runs to score the first 10,000 pairs (images prepared as
/// tensors beforehand, so the figure is the network's time).
pub fn time_scoring(
    model: &mut dyn PairScorer,
    set: &ImageSet,
    pairs: &[Pair],
    eval_batch: usize,
    reps: usize,
) -> Result<f64> {
    let timed = &pairs[..pairs.len().min(TIMED_PAIRS)];
    let ia: Vec<u32> = timed.iter().map(|p| p.a).collect();
    let ib: Vec<u32> = timed.iter().map(|p| p.b).collect();
    let a = images_tensor(set, &ia)?;
    let b = images_tensor(set, &ib)?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let s = model.similarities(&a, &b, eval_batch)?;
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(s);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
