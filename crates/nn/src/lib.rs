//! # siamese-nn
//!
//! The building blocks of SN-LeNet-5 on top of siamese-autodiff, named as in the paper:
//!
//! - [`layers`]: the [`Module`] interface (forward on a [`siamese_autodiff::Tape`], parameters
//!   registered by name in a [`siamese_autodiff::ParamStore`]) and the layers a subnet is made
//!   of: [`Conv2d`], [`Linear`], [`MaxPool2d`], [`AvgPool2d`], [`ReLU`], [`Tanh`], [`Sigmoid`],
//!   [`Flatten`], [`BatchNorm1d`] (train/eval), stacked with [`Sequential`];
//! - [`init`]: Glorot/Xavier uniform (Keras' default) and He initialisers from a seeded RNG;
//! - [`distance`]: the comparison module, Euclidean distance (guarded square root) and
//!   cosine similarity, one value per pair; unit-length rows for the triplet loss;
//! - [`head`]: the output module, BatchNorm + Dense(1) + sigmoid on the distance;
//! - [`loss`]: the contrastive loss with margin (similarity or distance reading), binary
//!   cross-entropy, softmax cross-entropy, the triplet loss with its mining.
//!
//! A siamese step concatenates the A and B images along the batch axis, runs one subnet
//! forward, splits the embeddings, compares them, and scores them; both halves use the same
//! parameters, so backward sums their gradients.

pub mod distance;
pub mod error;
pub mod head;
pub mod init;
pub mod layers;
pub mod loss;

pub use distance::{cosine_similarity, euclidean, unit_rows, KERAS_EPSILON};
pub use error::{NnError, Result};
pub use head::OutputModule;
pub use init::Init;
pub use layers::{
    AvgPool2d, BatchNorm1d, Conv2d, Conv2dSpec, Flatten, Linear, MaxPool2d, Module, ReLU,
    Sequential, Sigmoid, Tanh,
};
pub use loss::{
    binary_cross_entropy, contrastive_loss, softmax_cross_entropy, triplet_loss, ContrastiveReads,
    Mining,
};
