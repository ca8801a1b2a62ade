//! # siamese-eval
//!
//! What we measure on a trained SN-LeNet-5 beyond a run's own test (whose pair scoring and
//! metrics are siamese-model's [`siamese_model::score`] and [`siamese_model::metrics`]): the
//! test pairs by class group for a run trained on a class subset ([`groups`]), exact
//! nearest-neighbour retrieval ([`retrieval`]), k-NN classification ([`knn`]), N-way K-shot
//! episodes ([`oneshot`]), the classical HOG + linear SVM baseline ([`classic`]), and PCA and
//! embedding export ([`pca`], [`embed`]).

pub mod classic;
pub mod embed;
pub mod groups;
pub mod knn;
pub mod oneshot;
pub mod pca;
pub mod retrieval;

/// Images per embedding (and pair scoring) batch unless told otherwise (`--batch`): the
/// scoring batch of siamese-model.
pub const EMBED_BATCH: usize = siamese_model::score::EVAL_BATCH;
/// The seed of one-shot episodes and of the baselines' split unless told otherwise (`--seed`).
pub const DEFAULT_SEED: u64 = 0;
