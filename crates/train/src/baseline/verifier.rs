//! The LeNet-5 classifier used as a pair verifier (issue 25's CIFAR-10 ceiling question): the
//! classifier's class probabilities p = softmax(logits) of the two images of a pair become
//! the pair's similarity, and the pairs are scored as SN-LeNet-5's are, through
//! [`PairScorer`] and [`evaluate_with_threshold`]: the same fixed test pairs, the threshold
//! chosen on the same validation pairs, the same metrics.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use siamese_data::{images_tensor, ImageSet, Pair};
use siamese_model::error::Result;
use siamese_model::run::RunData;
use siamese_model::score::{evaluate_with_threshold, PairEvaluation, PairScorer};
use siamese_tensor::ops::loss::softmax_forward;
use siamese_tensor::Tensor;

use super::{argmax, Lenet5Classifier};

/// How a classifier's two predictions become a pair's similarity in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifierRule {
    /// [`same_class_probability`]: s = Σ_c p_a(c)·p_b(c).
    SameClassProbability,
    /// The hard rule: s = 1 when both images get the same predicted class (argmax), else 0.
    SamePredictedClass,
}

/// softmax(z)_c = e^{z_c − max z} / Σ_k e^{z_k − max z}: a row of logits as class
/// probabilities, by the softmax cross-entropy's own (`siamese_tensor::ops::loss`).
pub fn softmax(z: &[f32]) -> Vec<f32> {
    let mut p = vec![0f32; z.len()];
    if !z.is_empty() {
        // One row of z.len() values into as many: the op's shape check cannot fail.
        softmax_forward(1, z.len(), z, &mut p).expect("one row");
    }
    p
}

/// The pair similarity of the soft rule: s(a, b) = Σ_c p_a(c)·p_b(c), the probability that
/// the two images have the same class if their classes are drawn independently from the
/// classifier's predictions p_a and p_b. In [0, 1]; 1 only when both are certain of one class.
pub fn same_class_probability(pa: &[f32], pb: &[f32]) -> f32 {
    pa.iter().zip(pb).map(|(&x, &y)| x * y).sum()
}

/// The pair similarity of `rule` from the two images' class probabilities.
pub fn pair_similarity(rule: VerifierRule, pa: &[f32], pb: &[f32]) -> f32 {
    match rule {
        VerifierRule::SameClassProbability => same_class_probability(pa, pb),
        VerifierRule::SamePredictedClass => f32::from(u8::from(argmax(pa) == argmax(pb))),
    }
}

/// Pair accuracy on balanced pairs (as many same-class as different-class pairs) of the hard
/// rule for a classifier of accuracy `a` on `k` classes whose errors spread evenly over the
/// k − 1 wrong classes, independently for the two images:
///
/// - same class: P(same prediction) = a² + (1 − a)²/(k − 1);
/// - classes i ≠ j: P(same prediction) = 2·a·(1 − a)/(k − 1) + (k − 2)·((1 − a)/(k − 1))²;
/// - pair accuracy = ½·[P_same + 1 − P_different].
///
/// It is 1 at a = 1 and ½ at chance (a = 1/k). A model, not a measurement: the measured hard
/// rule ([`VerifierRule::SamePredictedClass`]) says how far real errors are from even.
pub fn even_error_pair_accuracy(a: f64, k: usize) -> f64 {
    let w = (1.0 - a) / (k as f64 - 1.0);
    let same = a * a + (1.0 - a) * w;
    let different = 2.0 * a * w + (k as f64 - 2.0) * w * w;
    0.5 * (same + 1.0 - different)
}

/// The classifier accuracy a in [1/k, 1] at which [`even_error_pair_accuracy`] reaches
/// `pair_accuracy` (increasing in a there; bisection), or `None` outside [½, 1].
pub fn even_error_accuracy_for(pair_accuracy: f64, k: usize) -> Option<f64> {
    if !(0.5..=1.0).contains(&pair_accuracy) || k < 2 {
        return None;
    }
    let (mut lo, mut hi) = (1.0 / k as f64, 1.0);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if even_error_pair_accuracy(mid, k) < pair_accuracy {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

/// A classifier scoring pairs by `rule` (a [`PairScorer`]).
pub struct Verifier<'a> {
    pub model: &'a Lenet5Classifier,
    pub rule: VerifierRule,
}

impl Verifier<'_> {
    /// Class probabilities of the images `x`, one row per image.
    fn probabilities(&self, x: &Tensor, batch: usize) -> Result<Vec<Vec<f32>>> {
        let z = self.model.logits(x, batch)?;
        Ok(z.chunks(self.model.classes).map(softmax).collect())
    }
}

impl PairScorer for Verifier<'_> {
    fn similarities(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>> {
        let (pa, pb) = (self.probabilities(a, batch)?, self.probabilities(b, batch)?);
        Ok(pa
            .iter()
            .zip(&pb)
            .map(|(x, y)| pair_similarity(self.rule, x, y))
            .collect())
    }

    /// Each image that a pair uses classified once.
    fn pair_similarities(
        &mut self, set: &Arc<ImageSet>, pairs: &Arc<Vec<Pair>>, batch: usize,
    ) -> Result<Vec<f32>> {
        set.check_pairs(pairs)?;
        let mut ids: Vec<u32> = pairs.iter().flat_map(|p| [p.a, p.b]).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut probs = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(batch.max(1)) {
            let p = self.probabilities(&images_tensor(set, chunk)?, batch)?;
            probs.extend(chunk.iter().copied().zip(p));
        }
        Ok(pairs
            .iter()
            .map(|p| pair_similarity(self.rule, &probs[&p.a], &probs[&p.b]))
            .collect())
    }
}

/// The classifier as a verifier on a run's pairs.
#[derive(Clone, Debug, Serialize)]
pub struct VerifierEvaluation {
    /// [`VerifierRule::SameClassProbability`] on the test pairs: at 0.5, at the threshold
    /// chosen on the validation pairs, ROC AUC and EER.
    pub same_class_probability: PairEvaluation,
    /// [`VerifierRule::SamePredictedClass`] on the test pairs (scores 0 or 1: its accuracy
    /// at 0.5 is the rule's).
    pub same_predicted_class: PairEvaluation,
    /// [`even_error_pair_accuracy`] of the classifier's test accuracy: the hard rule's pair
    /// accuracy if its errors spread evenly.
    pub even_error_pair_accuracy: f64,
}

/// Scores `data`'s fixed test pairs with `model` as a verifier by both rules, each threshold
/// chosen on `data`'s validation pairs ([`evaluate_with_threshold`], as `siamese train` does);
/// `accuracy`: the classifier's test accuracy, for [`even_error_pair_accuracy`].
pub fn evaluate_verifier(
    model: &Lenet5Classifier, data: &RunData, accuracy: f64, batch: usize,
) -> Result<VerifierEvaluation> {
    let eval = |rule| evaluate_with_threshold(&mut Verifier { model, rule }, data, batch);
    Ok(VerifierEvaluation {
        same_class_probability: eval(VerifierRule::SameClassProbability)?,
        same_predicted_class: eval(VerifierRule::SamePredictedClass)?,
        even_error_pair_accuracy: even_error_pair_accuracy(accuracy, model.classes),
    })
}

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;
