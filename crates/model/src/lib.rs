//! # siamese-model
//!
//! SN-LeNet-5, the network itself, on top of the tensor, autodiff, nn, optim and data crates:
//! its description ([`ModelConfig`], [`LossKind`]), the LeNet-5 subnet and the two
//! weight-shared subnets with the comparison and output modules and the loss ([`SnLenet5`]),
//! its cost in multiply-adds, scoring pairs and the pair metrics that read its output
//! ([`score`], [`metrics`]), the checkpoint format and what a run records in it ([`run`],
//! [`checkpoint`]), its ONNX export ([`onnx`]), and the same network's step written over the
//! kernel interface for a device ([`device_step`]). How a run is made lives in siamese-train; what we measure beyond
//! a run's own test lives in siamese-eval.

pub mod checkpoint;
pub mod config;
pub mod cost;
pub mod device_step;
pub mod error;
pub mod io;
pub mod json;
pub mod lenet;
pub mod metrics;
pub mod onnx;
pub mod run;
pub mod score;
pub mod siamese;
pub mod testing;

pub use config::{LossKind, ModelConfig};
pub use error::{ModelError, Result};
pub use run::TrainConfig;
pub use siamese::SnLenet5;
