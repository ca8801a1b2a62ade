//! Test pairs scored by class group, for a run trained on a class subset (`--train-classes`):
//! seen (both images of training classes), unseen (both of the other classes: identities never
//! seen in training), mixed (one of each, so all different-class pairs: accuracy is the rate of
//! calling them different, and ROC AUC and EER are undefined) and all (the usual test pairs
//! over every class).

use std::sync::Arc;

use serde::Serialize;
use siamese_data::pairs::{cross_pairs, test_pairs_of, TEST_PAIR_SEED};
use siamese_data::split::of_classes;
use siamese_data::{test_pairs, ImageSet, Label, Pair};
use siamese_model::metrics::{
    accuracy, equal_error_rate, is_same_label, roc_auc, DEFAULT_THRESHOLD,
};
use siamese_model::score::{score_pairs, PairScorer};
use siamese_model::Result;

/// Pair metrics of one group of test pairs (see [`evaluate_class_groups`]).
#[derive(Clone, Debug, Serialize)]
pub struct GroupEvaluation {
    /// "seen", "unseen", "mixed" or "all".
    pub group: &'static str,
    pub pairs: usize,
    /// Same-class pairs among them.
    pub positives: usize,
    pub accuracy_at_half: f64,
    /// At the threshold chosen on the (seen-class) validation pairs.
    pub accuracy_at_threshold: f64,
    pub roc_auc: Option<f64>,
    pub equal_error_rate: Option<f64>,
}

/// Seed offset of the mixed (seen × unseen) test pairs.
const MIXED_PAIR_STREAM: u64 = 0x4D49_5845_4400;

/// Scores the test pairs of a run trained on `classes` in the groups seen, unseen, mixed and
/// all (module doc), at 0.5 and at `threshold`. The pairs are fixed: every test image of the
/// group is an anchor ([`test_pairs_of`], [`cross_pairs`], seeded from [`TEST_PAIR_SEED`]). A
/// group that cannot be formed (unseen needs two unseen classes, mixed one) is left out.
pub fn evaluate_class_groups(
    model: &mut dyn PairScorer, test: &Arc<ImageSet>, classes: &[Label], threshold: f32,
    batch: usize,
) -> Result<Vec<GroupEvaluation>> {
    let unseen: Vec<Label> = (0..test.num_classes() as Label)
        .filter(|c| !classes.contains(c))
        .collect();
    let all: Vec<u32> = (0..test.len() as u32).collect();
    let mut groups: Vec<(&'static str, Vec<Pair>)> = vec![("seen", test_pairs_of(test, classes)?)];
    if unseen.len() >= 2 {
        groups.push(("unseen", test_pairs_of(test, &unseen)?));
    }
    if !unseen.is_empty() {
        let (s, u) = (
            of_classes(&test.labels, &all, classes),
            of_classes(&test.labels, &all, &unseen),
        );
        let seed = TEST_PAIR_SEED ^ MIXED_PAIR_STREAM;
        groups.push(("mixed", cross_pairs(&test.labels, &s, &u, seed)?));
    }
    groups.push(("all", test_pairs(test)?));
    let mut out = Vec::with_capacity(groups.len());
    for (group, pairs) in groups {
        let (s, y) = score_pairs(model, test, &Arc::new(pairs), batch)?;
        out.push(GroupEvaluation {
            group,
            pairs: s.len(),
            positives: y.iter().filter(|&&v| is_same_label(v)).count(),
            accuracy_at_half: accuracy(&s, &y, DEFAULT_THRESHOLD),
            accuracy_at_threshold: accuracy(&s, &y, threshold),
            roc_auc: roc_auc(&s, &y),
            equal_error_rate: equal_error_rate(&s, &y).map(|e| e.0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use siamese_model::testing::{tiny_run, BlockReader};

    #[test]
    fn class_groups_score_seen_unseen_mixed_and_all_pairs() {
        let (_, data) = tiny_run(1);
        let g = evaluate_class_groups(&mut BlockReader, &data.test, &[0, 1, 2, 3, 4, 5, 6], 0.2, 8)
            .unwrap();
        let names: Vec<&str> = g.iter().map(|e| e.group).collect();
        assert_eq!(names, ["seen", "unseen", "mixed", "all"]);
        // 40 test images: 28 of classes 0-6, 12 of 7-9; two pairs per anchor in a group.
        let sizes: Vec<(usize, usize)> = g.iter().map(|e| (e.pairs, e.positives)).collect();
        assert_eq!(sizes, [(56, 28), (24, 12), (40, 0), (80, 40)]);
        // The block reader is right on every pair at 0.2, right on negatives only at 0.5.
        assert!(g.iter().all(|e| e.accuracy_at_threshold == 1.0));
        assert_eq!(g[0].accuracy_at_half, 0.5);
        assert_eq!(g[2].accuracy_at_half, 1.0);
        assert_eq!(
            (g[1].roc_auc, g[1].equal_error_rate),
            (Some(1.0), Some(0.0))
        );
        assert_eq!((g[2].roc_auc, g[2].equal_error_rate), (None, None));
        // One unseen class: no unseen group; no unseen class: no unseen and no mixed group.
        let g = evaluate_class_groups(
            &mut BlockReader,
            &data.test,
            &[0, 1, 2, 3, 4, 5, 6, 7, 8],
            0.2,
            8,
        )
        .unwrap();
        assert_eq!(
            g.iter().map(|e| e.group).collect::<Vec<_>>(),
            ["seen", "mixed", "all"]
        );
    }
}
