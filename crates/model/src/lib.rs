//! # siamese-model
//!
//! SN-LeNet-5 end to end, on top of the tensor, autodiff, nn, optim and data crates:
//!
//! - [`config`]: the architecture ([`ModelConfig`]) and the loss choices ([`LossKind`]);
//! - [`lenet`]: the subnet, LeNet-5; [`cost`]: its multiply-adds and FLOPs per pair;
//! - [`siamese`]: [`SnLenet5`], the two weight-shared subnets (one batched pass over the 2N
//!   images of N pairs), the comparison module and the output module, and the loss;
//! - [`run`]: what defines a run ([`TrainConfig`]) and its data ([`run::RunData`]);
//! - [`train`](mod@train): the training loop (validation, metrics.jsonl, checkpoints, curves, clean stop
//!   and exact resume) and its one CPU step, [`train::train_step`];
//! - [`sweep`]: the parameter sensitivity of the paper's Tables 6 and 7;
//! - [`reproduce`]: the rows of docs/results.md, run with their seeds, and the tables written
//!   from the runs (`siamese reproduce`);
//! - [`device_step`]: the same network's training step and scoring forward written once over
//!   siamese-tensor's kernel interface `Backend` (explicit backward, Adam on the device), so
//!   it runs on the CPU backend (tested against the tape) or on a GPU (siamese-cuda);
//! - [`eval`] and [`metrics`]: pair accuracy, the threshold chosen on validation, confusion
//!   counts, ROC AUC, EER, and the time to score 10,000 pairs;
//! - [`checkpoint`]: safetensors files in PyTorch's layouts, [`SnLenet5::from_checkpoint`],
//!   exact-resume checkpoints;
//! - [`baseline`]: the plain LeNet-5 classifier of the paper's Tables 3 and 4;
//! - [`augment`]: seeded training-time shifts and flips;
//! - [`collapse`]: detecting a run that fell into the dead state (one score for every pair);
//! - [`plot`] and [`io`]: curves.png and atomic file writes;
//! - [`json`]: JSON outputs without float noise;
//! - beyond the paper: [`retrieval`] (exact nearest neighbours by GEMM, recall@k, mAP),
//!   [`oneshot`] (N-way K-shot episodes), [`knn`] and [`classic`] (k-NN, HOG + linear SVM),
//!   [`pca`] and [`embed`] (the embedding on a picture, CSV and `.npy`).

pub mod augment;
pub mod baseline;
pub mod checkpoint;
pub mod classic;
pub mod collapse;
pub mod config;
pub mod cost;
pub mod device_step;
pub mod embed;
pub mod error;
pub mod eval;
pub mod io;
pub mod json;
pub mod knn;
pub mod lenet;
pub mod metrics;
pub mod oneshot;
pub mod pca;
pub mod plot;
pub mod reproduce;
pub mod retrieval;
pub mod run;
pub mod siamese;
pub mod sweep;
pub mod train;

pub use config::{LossKind, ModelConfig};
pub use error::{ModelError, Result};
pub use siamese::SnLenet5;
pub use train::{train, train_on, TrainConfig, TrainOptions};
