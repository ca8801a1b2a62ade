//! Pair metrics: accuracy at a threshold, confusion counts, the validation-chosen threshold,
//! ROC AUC and the equal error rate.
//!
//! Convention everywhere: a pair's score s is the output module's similarity in [0, 1]; the
//! model says "same class" when s > t ([`says_same`], t = [`DEFAULT_THRESHOLD`] unless one is
//! chosen on validation); label y = 1 means same class ([`is_same_label`]).

use serde::{Deserialize, Serialize};

/// The decision threshold of "accuracy at 0.5": the training accuracy, the validation
/// accuracy of every epoch and the test's `accuracy_at_half`.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// The pair decision, its one home: the model says "same class" for score `s` at threshold
/// `t` when s > t.
pub fn says_same(s: f32, t: f32) -> bool {
    s > t
}

/// Reading a pair label: y = 1 is "same class", y = 0 "different" (anything above ½ reads as 1).
pub fn is_same_label(y: f32) -> bool {
    y > 0.5
}

/// Whether the decision at `t` on score `s` is right for label `y`.
pub fn decided_right(s: f32, y: f32, t: f32) -> bool {
    says_same(s, t) == is_same_label(y)
}

/// Counts of a binary decision, "positive" meaning "same class".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Same-class pairs called same.
    pub tp: usize,
    /// Different-class pairs called same.
    pub fp: usize,
    /// Different-class pairs called different.
    pub tn: usize,
    /// Same-class pairs called different (`fn` in JSON).
    #[serde(rename = "fn")]
    pub fn_: usize,
}

impl Confusion {
    /// Counts the decisions [`says_same`]`(score, threshold)` against the labels
    /// ([`is_same_label`]).
    pub fn at(scores: &[f32], labels: &[f32], threshold: f32) -> Self {
        let mut c = Confusion::default();
        for (&s, &y) in scores.iter().zip(labels) {
            match (says_same(s, threshold), is_same_label(y)) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        c
    }

    /// Fraction of pairs decided right, (tp + tn) / total; 0 for no pairs.
    pub fn accuracy(&self) -> f64 {
        let total = self.tp + self.fp + self.tn + self.fn_;
        if total == 0 {
            return 0.0;
        }
        (self.tp + self.tn) as f64 / total as f64
    }
}

/// Pair accuracy at `threshold`: mean of [(s > t) == (y = 1)].
pub fn accuracy(scores: &[f32], labels: &[f32], threshold: f32) -> f64 {
    Confusion::at(scores, labels, threshold).accuracy()
}

/// Sorts (score, label) by score, ascending; NaN scores sort first (treated as lowest).
fn sorted(scores: &[f32], labels: &[f32]) -> Vec<(f32, bool)> {
    let mut v: Vec<(f32, bool)> = scores
        .iter()
        .zip(labels)
        .map(|(&s, &y)| {
            let s = if s.is_nan() { f32::NEG_INFINITY } else { s };
            (s, is_same_label(y))
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// The threshold that maximises accuracy on these pairs (chosen on validation, applied to
/// test). Candidates are midpoints between consecutive distinct scores, plus both ends;
/// ties in accuracy go to the candidate closest to [`DEFAULT_THRESHOLD`] (0.5).
pub fn best_threshold(scores: &[f32], labels: &[f32]) -> f32 {
    let v = sorted(scores, labels);
    if v.is_empty() {
        return DEFAULT_THRESHOLD;
    }
    let positives = v.iter().filter(|p| p.1).count();
    // Threshold below everything: all called same → correct = positives.
    let mut correct = positives as i64;
    let mut best = (
        correct,
        -(DEFAULT_THRESHOLD - (v[0].0 - 1e-6)).abs(),
        v[0].0 - 1e-6,
    );
    let mut i = 0;
    while i < v.len() {
        // Move the threshold past every pair with this score: they become "different".
        let s = v[i].0;
        while i < v.len() && v[i].0 == s {
            correct += if v[i].1 { -1 } else { 1 };
            i += 1;
        }
        let t = if i < v.len() { 0.5 * (s + v[i].0) } else { s };
        let key = (correct, -(DEFAULT_THRESHOLD - t).abs(), t);
        if key.0 > best.0 || (key.0 == best.0 && key.1 > best.1) {
            best = key;
        }
    }
    best.2
}

/// Area under the ROC curve: the probability that a random same-class pair scores above a
/// random different-class pair (ties count one half), by the Mann-Whitney rank sum.
/// `None` when either class is absent.
pub fn roc_auc(scores: &[f32], labels: &[f32]) -> Option<f64> {
    let v = sorted(scores, labels);
    let pos = v.iter().filter(|p| p.1).count();
    let neg = v.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Average ranks (1-based) over ties, summed over positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg_rank * v[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// Equal error rate: the point where the false-accept rate (different pairs called same)
/// equals the false-reject rate (same pairs called different), linearly interpolated between
/// the two thresholds that bracket it. Returns (EER, threshold); `None` when a class is absent.
pub fn equal_error_rate(scores: &[f32], labels: &[f32]) -> Option<(f64, f32)> {
    let v = sorted(scores, labels);
    let pos = v.iter().filter(|p| p.1).count() as f64;
    let neg = v.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Threshold below everything: FAR = 1, FRR = 0. Raising it past each score lowers FAR
    // (for a negative) or raises FRR (for a positive).
    let (mut far, mut frr) = (1.0f64, 0.0f64);
    let mut prev = (far, frr, v[0].0);
    let mut i = 0;
    while i < v.len() {
        let s = v[i].0;
        while i < v.len() && v[i].0 == s {
            if v[i].1 {
                frr += 1.0 / pos;
            } else {
                far -= 1.0 / neg;
            }
            i += 1;
        }
        if frr >= far {
            // Crossed between prev and now: interpolate on the difference far - frr.
            let (d0, d1) = (prev.0 - prev.1, far - frr);
            let w = if d0 - d1 > 0.0 { d0 / (d0 - d1) } else { 0.0 };
            let eer = prev.0 + w * (far - prev.0);
            return Some((eer, s));
        }
        prev = (far, frr, s);
    }
    Some((0.0, prev.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_by_hand() {
        let s = [0.9, 0.8, 0.3, 0.6, 0.1];
        let y = [1.0, 0.0, 1.0, 1.0, 0.0];
        let c = Confusion::at(&s, &y, 0.5);
        assert_eq!(
            c,
            Confusion {
                tp: 2,
                fp: 1,
                tn: 1,
                fn_: 1
            }
        );
        assert!((c.accuracy() - 0.6).abs() < 1e-12);
        assert_eq!(Confusion::default().accuracy(), 0.0);
    }

    #[test]
    fn auc_perfect_random_and_inverted() {
        let y = [0.0, 0.0, 1.0, 1.0];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &y), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &y), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &y), Some(0.5));
        // One inversion out of 4 positive-negative pairs.
        assert_eq!(roc_auc(&[0.1, 0.7, 0.6, 0.9], &y), Some(0.75));
        assert_eq!(roc_auc(&[0.1, 0.2], &[1.0, 1.0]), None);
    }

    #[test]
    fn auc_matches_brute_force() {
        let s: Vec<f32> = (0..40).map(|i| ((i * 37) % 17) as f32 / 17.0).collect();
        let y: Vec<f32> = (0..40).map(|i| ((i * 7) % 3 == 0) as u8 as f32).collect();
        let mut num = 0.0;
        let mut den = 0.0;
        for i in 0..40 {
            for j in 0..40 {
                if y[i] == 1.0 && y[j] == 0.0 {
                    den += 1.0;
                    num += if s[i] > s[j] {
                        1.0
                    } else if s[i] == s[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        assert!((roc_auc(&s, &y).unwrap() - num / den).abs() < 1e-12);
    }

    #[test]
    fn threshold_separates_shifted_scores() {
        // Perfectly separable around 0.2: accuracy 1 there, 0.5 at the default 0.5.
        let s = [0.05, 0.1, 0.15, 0.25, 0.3, 0.35];
        let y = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let t = best_threshold(&s, &y);
        assert!(t > 0.15 && t < 0.25, "{t}");
        assert_eq!(accuracy(&s, &y, t), 1.0);
        assert_eq!(accuracy(&s, &y, 0.5), 0.5);
    }

    #[test]
    fn eer_of_separable_and_overlapping_scores() {
        let y = [0.0, 0.0, 1.0, 1.0];
        let (eer, _) = equal_error_rate(&[0.1, 0.2, 0.8, 0.9], &y).unwrap();
        assert!(eer.abs() < 1e-12, "{eer}");
        // Fully inverted: every decision wrong at the crossing.
        let (eer, _) = equal_error_rate(&[0.9, 0.8, 0.2, 0.1], &y).unwrap();
        assert!((eer - 1.0).abs() < 1e-9, "{eer}");
        // One negative above one positive among 2+2: EER 0.5.
        let (eer, _) = equal_error_rate(&[0.1, 0.7, 0.6, 0.9], &y).unwrap();
        assert!((eer - 0.5).abs() < 1e-9, "{eer}");
    }
}
