//! Collapse detection. A siamese run "collapses" when the subnet maps every image to one
//! point: every distance then sits in the √ε clamp of the comparison module, the output
//! module sees one value, every pair gets the same score s = c, no gradient reaches the
//! subnet, and the loss stays at the value a constant score gives on balanced pairs, for good:
//!
//! | loss | dead value (half the pairs same, half different, constant score) |
//! |---|---|
//! | contrastive-sigmoid | ½·max(m − c, 0)² + ½·c², at best 0.25 (c = ½) at margin m = 1 |
//! | bce | −½·ln c − ½·ln(1 − c), at best ln 2 ≈ 0.693 |
//! | contrastive-distance | ½·max(m − d, 0)² + BCE ≈ ½ + ln 2 at m = 1 (d ≈ √ε ≈ 0) |
//! | triplet | m + BCE = m + ln 2 (every D alike, so every hinge is D_ap − D_an + m = m) |
//!
//! [`dead_loss`] computes these values by the loss ops themselves
//! (`siamese_tensor::ops::loss`, what the model's loss calls) on one same and one different
//! pair, minimised over the constant score c ∈ [0, 1] by bisection on the sign of the ops'
//! backward (each loss is convex in c), so they follow the margin and the losses' arithmetic.
//!
//! A wrong-signed output module at the start (see [`siamese_model::siamese`]) or too large a step
//! later can throw a run there. [`detect`] names it; the training loop then stops with
//! `ModelError::Collapsed` instead of spending the remaining epochs at 50%.

use siamese_model::config::LossKind;
use siamese_model::error::{Collapse, ModelError};
use siamese_model::siamese::{BCE_EPS, MARGIN};
use siamese_tensor::ops::loss::{
    bce_backward, bce_forward, contrastive_backward, contrastive_forward, ContrastiveReads,
};
use siamese_tensor::ops::triplet::{triplet_forward, Mining};

/// Scores that differ by at most this are "the same score".
pub const SAME_SCORE: f32 = 1e-5;
/// How far from its dead value a loss may sit and still count as dead.
pub const DEAD_LOSS_TOLERANCE: f64 = 0.02;
/// How far from ½ a validation ROC AUC may sit and still count as chance.
pub const CHANCE_AUC_TOLERANCE: f64 = 0.01;

/// Balanced labels: one same-class and one different-class pair.
const BALANCED: [f32; 2] = [1.0, 0.0];

/// A loss and its derivative (by the loss op's forward and backward) at a constant value for
/// both [`BALANCED`] pairs.
struct OnConstant<F, B> {
    forward: F,
    backward: B,
}

impl<F, B> OnConstant<F, B>
where
    F: Fn(&[f32], &[f32]) -> siamese_tensor::Result<f32>,
    B: Fn(&[f32], &[f32], &mut [f32]) -> siamese_tensor::Result<()>,
{
    /// L(c): the op's forward on [c, c].
    fn loss(&self, c: f32) -> f64 {
        // Two values against two labels in [0, 1]: the op's checks cannot fail.
        f64::from((self.forward)(&[c, c], &BALANCED).expect("two pairs, labels in [0, 1]"))
    }

    /// dL/dc: the sum of the op's gradients on [c, c] (both pairs hold c).
    fn slope(&self, c: f32) -> f32 {
        let mut d = [0f32; 2];
        (self.backward)(&[c, c], &BALANCED, &mut d).expect("two pairs, labels in [0, 1]");
        d[0] + d[1]
    }

    /// min over c ∈ [0, 1] of L(c) (convex in c): bisection on the sign of dL/dc.
    fn minimum(&self) -> f64 {
        let (mut lo, mut hi) = (0f32, 1f32);
        loop {
            let mid = 0.5 * (lo + hi);
            let slope = self.slope(mid);
            if slope == 0.0 || mid == lo || mid == hi {
                return self.loss(mid);
            }
            if slope > 0.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
    }
}

/// The loss of a constant score on balanced pairs, at its best, at `margin` (the loss's own:
/// contrastive or triplet; the table above), by the loss ops.
pub fn dead_loss_at(kind: LossKind, margin: f32) -> f64 {
    let contrastive = |reads| OnConstant {
        forward: move |v: &[f32], y: &[f32]| contrastive_forward(v, y, margin, reads),
        backward: move |v: &[f32], y: &[f32], d: &mut [f32]| {
            contrastive_backward(v, y, margin, reads, 1.0, d)
        },
    };
    let bce = OnConstant {
        forward: |p: &[f32], y: &[f32]| bce_forward(p, y, BCE_EPS),
        backward: |p: &[f32], y: &[f32], d: &mut [f32]| bce_backward(p, y, BCE_EPS, 1.0, d),
    };
    match kind {
        LossKind::ContrastiveSigmoid => contrastive(ContrastiveReads::Similarity).minimum(),
        LossKind::Bce => bce.minimum(),
        // The distance sits at its floor (≈ 0) for every pair; the head's BCE at its best.
        LossKind::ContrastiveDistance => {
            contrastive(ContrastiveReads::Distance).loss(0.0) + bce.minimum()
        }
        // Every embedding at one point: the triplet op on two classes of two such rows.
        LossKind::Triplet => {
            let (l, _) = triplet_forward(4, 1, &[0.0; 4], &[0, 0, 1, 1], margin, Mining::All, 0.0)
                .expect("four one-value rows with their four classes");
            f64::from(l) + bce.minimum()
        }
    }
}

/// The loss of a constant score on balanced pairs, at its best, at the model's margin
/// ([`MARGIN`]).
pub fn dead_loss(kind: LossKind) -> f64 {
    dead_loss_at(kind, MARGIN)
}

/// A run's result where a collapse is a finding, not a failure: `Ok(Err(collapse))` for a
/// run that collapsed, so that a batch of runs (`siamese sweep`, `siamese reproduce`) records
/// it as "collapsed" and goes on to its next setting; any other error stays an error.
pub fn recorded<T>(
    run: siamese_model::error::Result<T>,
) -> siamese_model::error::Result<Result<T, Collapse>> {
    match run {
        Ok(t) => Ok(Ok(t)),
        Err(ModelError::Collapsed(c)) => Ok(Err(c)),
        Err(e) => Err(e),
    }
}

/// Some([`Collapse`]) when `loss` sits within [`DEAD_LOSS_TOLERANCE`] of
/// [`dead_loss_at`]`(kind, margin)` (`margin` the loss's own: contrastive or triplet) and the
/// scores (at least two) tell nothing: every one the same (within [`SAME_SCORE`]), or a little
/// apart but ranking the validation pairs no better than chance (ROC AUC `auc` within
/// [`CHANCE_AUC_TOLERANCE`] of ½: a subnet at one point whose distances differ in their last
/// bits, which the output module's BatchNorm magnifies); None otherwise (a healthy run, or too
/// few scores to tell).
pub fn detect(
    kind: LossKind, margin: f32, epoch: usize, scores: &[f32], loss: f64, auc: Option<f64>,
) -> Option<Collapse> {
    let (&first, rest) = scores.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let (lo, hi) = rest
        .iter()
        .fold((first, first), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    let dead = dead_loss_at(kind, margin);
    if (loss - dead).abs() > DEAD_LOSS_TOLERANCE {
        return None;
    }
    let mean = (scores.iter().map(|&s| s as f64).sum::<f64>() / scores.len() as f64) as f32;
    let collapse = |score, auc| Collapse {
        epoch,
        score,
        loss,
        dead_loss: dead,
        auc,
    };
    if (hi - lo).abs() <= SAME_SCORE {
        return Some(collapse(first, None)); // false for NaN scores
    }
    auc.filter(|a| (a - 0.5).abs() <= CHANCE_AUC_TOLERANCE)
        .map(|a| collapse(mean, Some(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`detect`] at the paper's margin, without a ROC AUC.
    fn detect_m1(kind: LossKind, epoch: usize, scores: &[f32], loss: f64) -> Option<Collapse> {
        detect(kind, MARGIN, epoch, scores, loss, None)
    }

    #[test]
    fn one_score_for_every_pair_at_the_dead_loss_is_a_collapse() {
        let k = LossKind::ContrastiveSigmoid;
        let c = detect_m1(k, 3, &[0.5; 100], 0.2501).expect("collapse");
        assert_eq!((c.epoch, c.score, c.dead_loss), (3, 0.5, 0.25));
        let msg = c.to_string();
        assert!(
            msg.contains("collapsed at epoch 3") && msg.contains("lower --lr"),
            "{msg}"
        );
        let bce = detect_m1(LossKind::Bce, 1, &[0.49; 10], 0.70);
        // ln 2 as the f32 loss op computes it.
        assert!(bce.is_some_and(|c| (c.dead_loss - (0.5f64).ln().abs()).abs() < 1e-7));
    }

    /// The dead values come from the loss ops: the table's at margin 1, and at margin 2
    /// the sigmoid contrastive loss's best constant is c = 1 (½·1² + ½·1² = 1) and the
    /// distance loss's hinge is ½·2² = 2.
    #[test]
    fn dead_values_follow_the_loss_ops_and_the_margin() {
        let ln2 = std::f64::consts::LN_2;
        let at_1 = [
            (LossKind::ContrastiveSigmoid, 0.25),
            (LossKind::Bce, ln2),
            (LossKind::ContrastiveDistance, 0.5 + ln2),
            (LossKind::Triplet, 1.0 + ln2),
        ];
        for (kind, want) in at_1 {
            let got = dead_loss_at(kind, 1.0);
            assert!((got - want).abs() < 1e-6, "{kind}: {got} vs {want}");
            assert_eq!(dead_loss(kind), got);
        }
        let at_2 = [
            (LossKind::ContrastiveSigmoid, 1.0),
            (LossKind::Bce, ln2),
            (LossKind::ContrastiveDistance, 2.0 + ln2),
            (LossKind::Triplet, 2.0 + ln2),
        ];
        for (kind, want) in at_2 {
            let got = dead_loss_at(kind, 2.0);
            assert!((got - want).abs() < 1e-6, "{kind}: {got} vs {want}");
        }
        // At margin ½ the best constant is c = ¼: ½·¼² + ½·¼² = 1/16.
        let got = dead_loss_at(LossKind::ContrastiveSigmoid, 0.5);
        assert!((got - 0.0625).abs() < 1e-6, "{got}");
    }

    /// Issue 25's `--width 3` seed 0 on CIFAR-10: validation loss 0.25007 and ROC AUC 0.50015,
    /// its scores a little apart. Scores that rank the pairs no better than chance at the dead
    /// loss are a collapse; the same spread with an AUC of 0.6, or at a live loss, is not.
    #[test]
    fn scores_a_little_apart_that_tell_nothing_at_the_dead_loss_are_a_collapse() {
        let k = LossKind::ContrastiveSigmoid;
        let s: Vec<f32> = (0..100).map(|i| 0.49 + 0.0002 * i as f32).collect();
        let c = detect(k, MARGIN, 1, &s, 0.25007, Some(0.50015)).expect("collapse");
        assert!(
            (c.score - 0.4999).abs() < 1e-4 && c.auc == Some(0.50015),
            "{c:?}"
        );
        assert!(c.to_string().contains("tell nothing (ROC AUC 0.500"), "{c}");
        assert_eq!(detect(k, MARGIN, 1, &s, 0.25007, Some(0.6)), None);
        assert_eq!(detect(k, MARGIN, 1, &s, 0.20, Some(0.5)), None);
        assert_eq!(detect(k, MARGIN, 1, &s, 0.25007, None), None);
    }

    #[test]
    fn spread_scores_or_a_live_loss_or_too_few_scores_are_not() {
        let k = LossKind::ContrastiveSigmoid;
        let mut s = vec![0.5f32; 100];
        s[7] = 0.5001;
        assert_eq!(detect_m1(k, 1, &s, 0.25), None, "scores differ");
        assert_eq!(
            detect_m1(k, 1, &[0.5; 100], 0.20),
            None,
            "loss below the dead value"
        );
        assert_eq!(
            detect_m1(k, 1, &[0.9; 100], 0.41),
            None,
            "constant but far from dead"
        );
        assert_eq!(
            detect_m1(k, 1, &[0.5], 0.25),
            None,
            "one score tells nothing"
        );
        assert_eq!(detect_m1(k, 1, &[], 0.25), None);
        assert_eq!(detect_m1(k, 1, &[f32::NAN, f32::NAN], 0.25), None);
    }

    /// A subnet with every weight and bias zero embeds every image at one point, the dead
    /// state: the loop must stop after the first epoch with the typed error (and a live run
    /// of the same data must not).
    #[test]
    fn the_training_loop_stops_a_dead_run_with_the_typed_error() {
        use crate::train::{train, Silent, TrainOptions};
        use siamese_model::run::TrainState;
        use siamese_model::testing::tiny_run;
        let (cfg, data) = tiny_run(3);
        let opts = TrainOptions {
            test_at_end: false,
            ..Default::default()
        };
        assert!(train(&cfg, &data, None, &opts, &mut Silent).is_ok());
        let mut model = siamese_model::SnLenet5::new(cfg.model.clone(), 0).unwrap();
        let names: Vec<(String, Vec<usize>)> = model
            .store
            .params()
            .filter(|(n, _)| n.starts_with("subnet."))
            .map(|(n, t)| (n.to_string(), t.shape().to_vec()))
            .collect();
        for (name, shape) in names {
            let zeros = siamese_tensor::Tensor::zeros(&shape).unwrap();
            model.store.set(&name, &zeros).unwrap();
        }
        let resume = Some((model, Default::default(), TrainState::default()));
        match train(&cfg, &data, resume, &opts, &mut Silent) {
            Err(siamese_model::ModelError::Collapsed(c)) => {
                assert_eq!(c.epoch, 1);
                assert!((c.loss - 0.25).abs() <= DEAD_LOSS_TOLERANCE, "{c:?}");
            }
            other => panic!(
                "expected a collapse, got {:?}",
                other.map(|o| o.state.history)
            ),
        }
    }
}
