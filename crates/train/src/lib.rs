//! # siamese-train
//!
//! How an SN-LeNet-5 run is made, on top of siamese-model's network: the training loop in
//! named steps (pairs → batches → the step → validation → checkpoints → the final test), its
//! one CPU step ([`train::train_step`]), seeded augmentation ([`augment`]), collapse
//! detection ([`collapse`]), a clean stop and exact resume, the parameter sweep of the
//! paper's Tables 6 and 7 ([`sweep`]), curves.png ([`plot`]) and the plain LeNet-5
//! classifier baseline of its Tables 3 and 4 ([`baseline`]), trained through the same loop.

pub mod augment;
pub mod baseline;
pub mod collapse;
pub mod plot;
pub mod sweep;
pub mod train;

pub use train::{train, train_on, TrainOptions, TrainOutcome};
