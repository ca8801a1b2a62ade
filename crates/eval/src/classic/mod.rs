//! Classical baselines of the paper's Table 3, from scratch: HOG features ([`mod@hog`]) with a
//! linear SVM ([`svm`]), beside the k-NN classifiers of [`crate::knn`]. Each reports test
//! classification accuracy and the time it took ([`ClassifierReport`]).

pub mod baselines;
pub mod hog;
pub mod svm;

use std::time::Instant;

use rayon::prelude::*;
use siamese_data::{ImageSet, Label};

use crate::knn::{classification_accuracy, ClassifierReport};
use hog::{hog, HogParams};
use siamese_model::error::Result;
use svm::{LinearSvm, SvmParams};

/// The HOG descriptors of images `ids` of `set` (pixels scaled to [0, 1]), one row each, in
/// parallel.
pub fn hog_rows(set: &ImageSet, ids: &[u32], p: &HogParams) -> Result<Vec<f32>> {
    let (c, h, w) = (set.channels, set.height, set.width);
    p.check(h, w)?;
    let rows: Vec<Vec<f32>> = ids
        .par_iter()
        .map(|&i| {
            let img: Vec<f32> = set
                .image(i as usize)
                .unwrap_or(&[])
                .iter()
                .map(|&v| siamese_data::scale_pixel(v))
                .collect();
            if img.len() == c * h * w {
                hog(&img, c, h, w, p)
            } else {
                vec![0.0; p.len(h, w)]
            }
        })
        .collect();
    Ok(rows.concat())
}

/// HOG + one-vs-rest linear SVM: descriptors of the training images `train_idx` and of every
/// test image, the SVM fitted on the former, accuracy on the latter. `fit_seconds` covers the
/// training descriptors and the SVM; `predict_seconds` the test descriptors and the decisions.
pub fn hog_svm(
    train: &ImageSet, train_idx: &[u32], test: &ImageSet, hp: &HogParams, sp: &SvmParams,
) -> Result<(ClassifierReport, LinearSvm)> {
    let t = Instant::now();
    let dim = hp.len(train.height, train.width);
    let x = hog_rows(train, train_idx, hp)?;
    let y: Vec<Label> = train_idx
        .iter()
        .map(|&i| train.labels[i as usize])
        .collect();
    let svm = LinearSvm::fit(&x, &y, dim, train.num_classes(), sp)?;
    let fit_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let all: Vec<u32> = (0..test.len() as u32).collect();
    let pred = svm.predict(&hog_rows(test, &all, hp)?);
    let report = ClassifierReport {
        method: "hog-svm".into(),
        train: train_idx.len(),
        test: test.len(),
        accuracy: classification_accuracy(&pred, &test.labels),
        fit_seconds,
        predict_seconds: t.elapsed().as_secs_f64(),
    };
    Ok((report, svm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use siamese_model::testing::tiny_set;

    #[test]
    fn hog_svm_learns_the_tiny_blocks() {
        // Each class of the tiny set is a bright block at its own place: HOG + SVM gets the
        // held-out images right.
        let (train, test) = (tiny_set(200, 1), tiny_set(50, 2));
        let idx: Vec<u32> = (0..200).collect();
        let (r, svm) = hog_svm(
            &train,
            &idx,
            &test,
            &HogParams::default(),
            &SvmParams::default(),
        )
        .unwrap();
        assert_eq!((r.train, r.test, svm.weights.len()), (200, 50, 10));
        assert!(r.accuracy > 0.95, "{}", r.accuracy);
    }
}
