//! The k-nearest-neighbour classifier of the classical baselines (the paper's Table 3), on any
//! features: raw pixels scaled to [0, 1] or the siamese subnet's embeddings.
//!
//! **Vote.** A test image gets the class held by most of its k nearest training rows (the
//! exact blocked search of [`crate::retrieval::knn_search`]), by the distance the caller names:
//! on a model's embeddings the distance the model was trained with (its `config.distance`,
//! Euclidean or cosine); on raw pixels (the classical baseline, no model) always the Euclidean
//! distance.
//! A tie between classes goes to the tied class whose nearest member comes first in the
//! neighbour list (so k = 1 and ties reduce to the nearest neighbour's class).

use std::time::Instant;

use serde::Serialize;
use siamese_data::{ImageSet, Label};

use crate::retrieval::{knn_search, Neighbour};
use siamese_model::config::Distance;
use siamese_model::error::{ModelError, Result};

/// Neighbours of the k-NN vote unless told otherwise (`siamese classic --k`).
pub const DEFAULT_K: usize = 3;
/// The most neighbours of the vote accepted (`siamese classic --k`): 1024.
pub const MAX_K: usize = 1024;

/// The class voted by `neighbours` (nearest first) whose labels are `labels[index]` (module
/// doc); `None` for no neighbour.
pub fn vote(neighbours: &[Neighbour], labels: &[Label]) -> Option<Label> {
    // (class, votes, rank of its nearest neighbour), in order of first appearance: k is small.
    let mut tally: Vec<(Label, usize, usize)> = Vec::new();
    for (rank, n) in neighbours.iter().enumerate() {
        let c = labels[n.index as usize];
        match tally.iter_mut().find(|t| t.0 == c) {
            Some(t) => t.1 += 1,
            None => tally.push((c, 1, rank)),
        }
    }
    tally
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
        .map(|t| t.0)
}

/// Test accuracy and timing of one classifier.
#[derive(Clone, Debug, Serialize)]
pub struct ClassifierReport {
    pub method: String,
    pub train: usize,
    pub test: usize,
    pub accuracy: f64,
    /// Seconds spent fitting (features and training; 0 for k-NN beyond feature extraction).
    pub fit_seconds: f64,
    /// Seconds spent predicting the whole test set.
    pub predict_seconds: f64,
}

/// Predicts every test row by the k-NN vote over the training rows (all rows of `dim`), the
/// neighbours by `distance` (module doc).
pub fn knn_predict(
    train: &[f32], train_labels: &[Label], test: &[f32], dim: usize, k: usize, distance: Distance,
) -> Result<Vec<Label>> {
    if k == 0 || train_labels.is_empty() {
        return Err(ModelError::Config(
            "k-NN needs k >= 1 and at least one training row".into(),
        ));
    }
    let nbrs = knn_search(test, train, dim, k, distance)?;
    Ok(nbrs
        .iter()
        .map(|n| vote(n, train_labels).unwrap_or(0))
        .collect())
}

/// Fraction of `predicted` equal to `truth`.
pub fn classification_accuracy(predicted: &[Label], truth: &[Label]) -> f64 {
    let right = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    right as f64 / truth.len().max(1) as f64
}

/// The pixels of images `ids` of `set` scaled to [0, 1], one row each.
pub fn pixel_rows(set: &ImageSet, ids: &[u32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(ids.len() * set.image_len());
    for &i in ids {
        if let Some(img) = set.image(i as usize) {
            out.extend(img.iter().map(|&p| siamese_data::scale_pixel(p)));
        }
    }
    out
}

/// k-NN on given features: predicts `test` from `train` by `distance`, timed, and scored
/// against `test_labels`. `fit_seconds` is passed in (the time spent making the features).
#[allow(clippy::too_many_arguments)]
pub fn knn_report(
    method: &str, train: &[f32], train_labels: &[Label], test: &[f32], test_labels: &[Label],
    dim: usize, k: usize, distance: Distance, fit_seconds: f64,
) -> Result<ClassifierReport> {
    let t = Instant::now();
    let pred = knn_predict(train, train_labels, test, dim, k, distance)?;
    Ok(ClassifierReport {
        method: method.into(),
        train: train_labels.len(),
        test: test_labels.len(),
        accuracy: classification_accuracy(&pred, test_labels),
        fit_seconds,
        predict_seconds: t.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Distance = Distance::Euclidean;

    fn n(index: u32) -> Neighbour {
        Neighbour {
            index,
            distance: 0.0,
        }
    }

    #[test]
    fn the_vote_takes_the_majority_and_breaks_ties_by_the_nearest() {
        let labels = [3, 5, 5, 3, 7];
        // 5 5 3: majority 5.
        assert_eq!(vote(&[n(1), n(2), n(0)], &labels), Some(5));
        // 3 5 5 3: tie 2-2, class 3 has the nearest member.
        assert_eq!(vote(&[n(0), n(1), n(2), n(3)], &labels), Some(3));
        // 7 5 3: three-way tie, nearest is 7.
        assert_eq!(vote(&[n(4), n(1), n(0)], &labels), Some(7));
        assert_eq!(vote(&[], &labels), None);
    }

    #[test]
    fn knn_on_hand_made_points_has_known_predictions() {
        // Class 0 around x = 0, class 1 around x = 10, one class-1 outlier at x = 1.
        let train = [0.0, 0.5, -0.5, 10.0, 10.5, 9.5, 1.0];
        let labels = [0, 0, 0, 1, 1, 1, 1];
        let test = [0.9, 9.0, 5.2];
        // k = 1: the outlier wins for 0.9; 5.2 is nearer 9.5 than 1.0.
        assert_eq!(
            knn_predict(&train, &labels, &test, 1, 1, E).unwrap(),
            [1, 1, 1]
        );
        // k = 3: 0.9 sees 1.0 (1), 0.5 (0), 0.0 (0): class 0.
        assert_eq!(
            knn_predict(&train, &labels, &test, 1, 3, E).unwrap(),
            [0, 1, 1]
        );
        assert_eq!(classification_accuracy(&[0, 1, 1], &[0, 1, 0]), 2.0 / 3.0);
        assert!(knn_predict(&train, &labels, &test, 1, 0, E).is_err());
    }
}
