//! # siamese-tensor
//!
//! The bottom crate of the workspace: [`Tensor`], an owned, contiguous, row-major f32 array of
//! at most four axes (N, C, H, W), and the numeric kernels SN-LeNet-5 is built from. Each op
//! family lives in one module under [`ops`] with its forward and backward side by side, the
//! equation in the module doc, and a slow, obviously-correct `reference` twin that the tests
//! hold the fast path to:
//!
//! - [`ops::gemm`]: C ← α·op(A)·op(B) + β·C on matrixmultiply's sgemm;
//! - [`ops::conv2d`]: convolution with stride and zero padding, and its three gradients;
//! - [`ops::pool`]: max- and average-pooling and their gradients;
//! - [`ops::elementwise`]: add, sub, mul, scale, relu, tanh, sigmoid, square, sqrt, sum, mean.
//!
//! Kernels return typed [`TensorError`]s naming the op and the shapes; they never panic on
//! a shape mismatch.

pub mod error;
pub mod ops;
mod tensor;

pub use error::{Result, TensorError};
pub use tensor::Tensor;
