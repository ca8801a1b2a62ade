//! The classical baselines side by side (`siamese classic`, the paper's Table 3): k-NN on raw
//! pixels, k-NN on a siamese model's embeddings, HOG + linear SVM, each trained on the
//! training part of the paper's split (optionally a stratified subsample) and scored on the
//! whole test set.

use std::str::FromStr;
use std::time::Instant;

use siamese_data::{split, ImageSet, Label};
use siamese_model::config::Distance;
use siamese_model::error::{ModelError, Result};
use siamese_model::run::{validation_split, Dataset};
use siamese_model::siamese::SnLenet5;

use super::hog::HogParams;
use super::hog_svm;
use super::svm::SvmParams;
use crate::knn::{knn_report, pixel_rows, ClassifierReport};
use crate::retrieval::embed_images;

/// One baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// k-NN on the pixels scaled to [0, 1], by the Euclidean distance (no model).
    KnnPixels,
    /// k-NN on the embeddings of a siamese model, by the distance it was trained with.
    KnnEmbedding,
    /// HOG descriptors and a one-vs-rest linear SVM.
    HogSvm,
}

impl Method {
    /// The names, as `--method` takes them.
    pub const NAMES: &'static [&'static str] = &["knn-pixels", "knn-embedding", "hog-svm"];

    pub fn name(self) -> &'static str {
        match self {
            Method::KnnPixels => Self::NAMES[0],
            Method::KnnEmbedding => Self::NAMES[1],
            Method::HogSvm => Self::NAMES[2],
        }
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [Method::KnnPixels, Method::KnnEmbedding, Method::HogSvm]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown method '{s}' (expected {})", Self::NAMES.join(", ")))
    }
}

/// What [`run_baselines`] runs.
#[derive(Clone, Debug)]
pub struct BaselineOptions {
    pub methods: Vec<Method>,
    /// Neighbours of the k-NN vote ([`crate::knn::DEFAULT_K`] unless told otherwise).
    pub k: usize,
    /// The seed of the train/validation split (and of the subsample and the SVM).
    pub seed: u64,
    /// Train on a stratified subsample of this many training images.
    pub limit: Option<usize>,
    pub svm: SvmParams,
    pub hog: HogParams,
    /// Images per embedding batch.
    pub batch: usize,
}

/// The training images of the baselines: the training part of the run's split of `train` by
/// `seed` ([`validation_split`]; `val`: a folder's own validation images), subsampled
/// (stratified, seeded) to `limit` images when given.
pub fn training_part(
    dataset: &Dataset, train: &ImageSet, val: Option<&[u32]>, seed: u64, limit: Option<usize>,
) -> Result<Vec<u32>> {
    let (idx, _) = validation_split(dataset, train, val, seed)?;
    Ok(match limit {
        Some(n) => split::limit(&train.labels, &idx, n, seed)?,
        None => idx,
    })
}

/// Runs each method of `o` in order on the training part of `train` ([`training_part`]) and
/// the whole `test` set, handing each report to `done` as it is ready. k-NN on the embedding
/// needs `model`; its `fit_seconds` is the time to embed the training images.
pub fn run_baselines(
    o: &BaselineOptions, model: Option<&SnLenet5>, (dataset, val): (&Dataset, Option<&[u32]>),
    train: &ImageSet, test: &ImageSet, mut done: impl FnMut(&ClassifierReport),
) -> Result<Vec<ClassifierReport>> {
    let idx = training_part(dataset, train, val, o.seed, o.limit)?;
    let labels: Vec<Label> = idx.iter().map(|&i| train.labels[i as usize]).collect();
    let all: Vec<u32> = (0..test.len() as u32).collect();
    let k = o.k;
    let mut reports = Vec::with_capacity(o.methods.len());
    for &m in &o.methods {
        let r = match m {
            Method::KnnPixels => {
                let (x, q) = (pixel_rows(train, &idx), pixel_rows(test, &all));
                let name = format!("knn-pixels (k={k})");
                let dim = train.image_len();
                let euclidean = Distance::Euclidean;
                knn_report(&name, &x, &labels, &q, &test.labels, dim, k, euclidean, 0.0)?
            }
            Method::KnnEmbedding => {
                let model = model.ok_or_else(|| {
                    ModelError::Config("k-NN on the embedding needs a model".into())
                })?;
                let t = Instant::now();
                let x = embed_images(model, train, &idx, o.batch)?;
                let fit = t.elapsed().as_secs_f64();
                let q = embed_images(model, test, &all, o.batch)?;
                let (dim, distance) = (model.subnet.dims.embedding(), model.config.distance);
                let name = format!("knn-embedding (k={k})");
                knn_report(&name, &x, &labels, &q, &test.labels, dim, k, distance, fit)?
            }
            Method::HogSvm => {
                let sp = SvmParams {
                    seed: o.seed,
                    ..o.svm
                };
                hog_svm(train, &idx, test, &o.hog, &sp)?.0
            }
        };
        done(&r);
        reports.push(r);
    }
    Ok(reports)
}
