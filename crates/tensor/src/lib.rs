//! # siamese-tensor
//!
//! The bottom crate of the workspace: [`Tensor`], an owned, contiguous, row-major f32 array of
//! at most four axes (N, C, H, W), and the ops every model here is built from. This is the one
//! home of every equation: each op family lives in one folder under [`ops`] holding its
//! formulas in the module doc, forward and backward side by side on plain slices (tensor
//! wrappers on top), a slow, obviously-correct `reference` twin where a fast path exists, its
//! tests, and the CUDA source of the same equations (a `.cu` fragment that siamese-cuda
//! gathers):
//!
//! - [`ops::conv2d`]: convolution with stride and zero padding, its three gradients, and the
//!   fused conv → ReLU → 2×2 max block, by im2col + sgemm or a direct SIMD kernel;
//! - [`ops::pool`]: max- and average-pooling and their gradients;
//! - [`ops::gemm`]: C ← α·op(A)·op(B) + β·C on matrixmultiply's sgemm, and the dense layer;
//! - [`ops::elementwise`]: ReLU, tanh, sigmoid and their derivatives, add, mul, square, sums;
//! - [`ops::distance`]: the comparison module (Euclidean distance, cosine similarity);
//! - [`ops::batchnorm`]: batch normalisation, training and evaluation;
//! - [`ops::loss`]: the contrastive loss (both readings), BCE, softmax cross-entropy;
//! - [`ops::adam`]: Adam's update (the paper's Table 2);
//! - [`ops::simd`]: the 8-lane vector abstraction and runtime ISA dispatch (AVX2+FMA, the
//!   same code with AVX-512VL's 32 registers, or portable `wide`), so one binary runs on any
//!   x86-64.
//!
//! Batch-parallel kernels (rayon) split work in fixed chunks and reduce partial gradients in
//! a fixed order: results are bit-identical whatever the thread count. [`par`] keeps the
//! other rayon workers polling for work through a training step instead of sleeping between
//! its parallel regions.
//!
//! [`fpmode`] sets flush-to-zero and denormals-are-zero on the threads that run the kernels
//! (a documented numeric choice; `SIAMESE_IEEE_SUBNORMALS=1` turns it off).
//!
//! [`backend`] puts these ops behind the [`Backend`] trait, on buffers that live on a device;
//! [`CpuBackend`] calls the ops themselves and is the reference for the GPU backend
//! (`siamese-cuda`). Nothing in this crate knows about any particular network.
//!
//! Ops return typed [`TensorError`]s naming the op and the shapes; they never panic on a
//! shape mismatch.

pub mod backend;
pub mod error;
pub mod fpmode;
pub mod ops;
pub mod par;
mod tensor;

pub use backend::{Backend, CpuBackend};
pub use error::{Result, TensorError};
pub use tensor::Tensor;
