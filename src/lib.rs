//! # siamese
//!
//! The facade of the workspace: one import for the whole siamese LeNet-5 stack. Each crate is
//! re-exported under a short name, bottom-up:
//!
//! - [`tensor`]: f32 NCHW tensors and the SIMD kernels (gemm, conv2d, pooling, element-wise);
//! - [`autodiff`]: reverse-mode autodiff on a tape;
//! - [`nn`]: layers, initialisers, the comparison module and the losses;
//! - [`optim`]: Adam (the paper's Table 2) and SGD;
//! - [`data`]: IDX and CIFAR-10 readers, splits, pairs and batches;
//! - [`model`]: SN-LeNet-5, its training loop, evaluation and checkpoints;
//! - `cuda` (with the `cuda` feature): the GPU backend, siamese-cuda.
//!
//! The command-line programs: `siamese` (src/bin/siamese/) and `siamese-bench`
//! (src/bin/siamese-bench/, also run as `siamese bench`).

pub use siamese_autodiff as autodiff;
#[cfg(feature = "cuda")]
pub use siamese_cuda as cuda;
pub use siamese_data as data;
pub use siamese_model as model;
pub use siamese_nn as nn;
pub use siamese_optim as optim;
pub use siamese_tensor as tensor;
