//! # siamese-tensor
//!
//! The bottom crate of the workspace: [`Tensor`], an owned, contiguous, row-major f32 array of
//! at most four axes (N, C, H, W), and the numeric kernels SN-LeNet-5 is built from. Each op
//! family lives in one module under [`ops`] with its forward and backward side by side, the
//! equation in the module doc, and a slow, obviously-correct `reference` twin that the tests
//! hold the fast path to:
//!
//! - [`ops::gemm`]: C ← α·op(A)·op(B) + β·C on matrixmultiply's sgemm, and `gemm_batched`;
//! - [`ops::conv2d`]: convolution with stride and zero padding, and its three gradients, by
//!   im2col + sgemm or by a direct SIMD kernel ([`ops::conv2d::ConvAlgo`]; `Auto` picks);
//! - [`ops::pool`]: max- and average-pooling and their gradients;
//! - [`ops::elementwise`]: add, sub, mul, scale, relu, tanh, sigmoid, square, sqrt, sum, mean;
//! - [`ops::simd`]: the 8-lane vector abstraction and runtime ISA dispatch (AVX2+FMA, the
//!   same code with AVX-512VL's 32 registers, or portable `wide`), so one binary runs on any
//!   x86-64.
//!
//! Batch-parallel kernels (rayon) split work in fixed chunks and reduce partial gradients in
//! a fixed order: results are bit-identical whatever the thread count.
//!
//! [`backend`] gathers the kernels one SN-LeNet-5 training step needs behind the [`Backend`]
//! trait, with [`CpuBackend`] as its CPU implementation and the reference for the GPU one
//! (`siamese-cuda`), so the model's device step is written once for both.
//!
//! Kernels return typed [`TensorError`]s naming the op and the shapes; they never panic on
//! a shape mismatch.

pub mod backend;
pub mod error;
pub mod ops;
mod tensor;

pub use backend::{Backend, CpuBackend};
pub use error::{Result, TensorError};
pub use tensor::Tensor;
