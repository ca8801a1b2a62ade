//! Collapse detection. A siamese run "collapses" when the subnet maps every image to one
//! point: every distance then sits in the √ε clamp of the comparison module, the output
//! module sees one value, every pair gets the same score s = c, no gradient reaches the
//! subnet, and the loss stays at the value a constant score gives on balanced pairs, for good:
//!
//! | loss | dead value (half the pairs same, half different, constant score) |
//! |---|---|
//! | contrastive-sigmoid | ½·(1 − c)² + ½·c², at best 0.25 (c = ½) |
//! | bce | −½·ln c − ½·ln(1 − c), at best ln 2 ≈ 0.693 |
//! | contrastive-distance | ½·(1 − d)² + BCE ≈ ½ + ln 2 (d ≈ √ε ≈ 0) |
//!
//! A wrong-signed output module at the start (see [`siamese_model::siamese`]) or too large a step
//! later can throw a run there. [`detect`] names it; the training loop then stops with
//! `ModelError::Collapsed` instead of spending the remaining epochs at 50%.

use siamese_model::config::LossKind;
use siamese_model::error::Collapse;

/// Scores that differ by at most this are "the same score".
pub const SAME_SCORE: f32 = 1e-5;
/// How far from its dead value a loss may sit and still count as dead.
pub const DEAD_LOSS_TOLERANCE: f64 = 0.02;

/// The loss of a constant score on balanced pairs, at its best (the table above).
pub fn dead_loss(kind: LossKind) -> f64 {
    match kind {
        LossKind::ContrastiveSigmoid => 0.25,
        LossKind::Bce => std::f64::consts::LN_2,
        LossKind::ContrastiveDistance => 0.5 + std::f64::consts::LN_2,
    }
}

/// Some([`Collapse`]) when every one of `scores` (at least two) is the same (within
/// [`SAME_SCORE`]) and `loss` sits within [`DEAD_LOSS_TOLERANCE`] of [`dead_loss`]`(kind)`;
/// None otherwise (a healthy run, or too few scores to tell).
pub fn detect(kind: LossKind, epoch: usize, scores: &[f32], loss: f64) -> Option<Collapse> {
    let (&first, rest) = scores.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let (lo, hi) = rest
        .iter()
        .fold((first, first), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    let dead = dead_loss(kind);
    let same = (hi - lo).abs() <= SAME_SCORE; // false for NaN scores
    (same && (loss - dead).abs() <= DEAD_LOSS_TOLERANCE).then_some(Collapse {
        epoch,
        score: first,
        loss,
        dead_loss: dead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_score_for_every_pair_at_the_dead_loss_is_a_collapse() {
        let k = LossKind::ContrastiveSigmoid;
        let c = detect(k, 3, &[0.5; 100], 0.2501).expect("collapse");
        assert_eq!((c.epoch, c.score, c.dead_loss), (3, 0.5, 0.25));
        let msg = c.to_string();
        assert!(
            msg.contains("collapsed at epoch 3") && msg.contains("lower --lr"),
            "{msg}"
        );
        let bce = detect(LossKind::Bce, 1, &[0.49; 10], 0.70);
        assert!(bce.is_some_and(|c| (c.dead_loss - (0.5f64).ln().abs()).abs() < 1e-12));
    }

    #[test]
    fn spread_scores_or_a_live_loss_or_too_few_scores_are_not() {
        let k = LossKind::ContrastiveSigmoid;
        let mut s = vec![0.5f32; 100];
        s[7] = 0.5001;
        assert_eq!(detect(k, 1, &s, 0.25), None, "scores differ");
        assert_eq!(
            detect(k, 1, &[0.5; 100], 0.20),
            None,
            "loss below the dead value"
        );
        assert_eq!(
            detect(k, 1, &[0.9; 100], 0.41),
            None,
            "constant but far from dead"
        );
        assert_eq!(detect(k, 1, &[0.5], 0.25), None, "one score tells nothing");
        assert_eq!(detect(k, 1, &[], 0.25), None);
        assert_eq!(detect(k, 1, &[f32::NAN, f32::NAN], 0.25), None);
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
