//! The kernels, one folder per equation family. Each folder holds the family's formulas in its
//! module doc, forward and backward side by side on plain slices (tensor wrappers on top), a
//! naive `reference` twin where a fast path exists, tests beside them, and the CUDA source of
//! the same equations (a `.cu` fragment, exposed as the folder's `CUDA_SOURCE`, that
//! siamese-cuda gathers). This is the one home of
//! every equation: the tape, the layers, the losses, Adam, validation and the CPU backend all
//! call these functions.
//!
//! | folder | equations |
//! |---|---|
//! | [`conv2d`] | convolution forward, dw/db, dx; the fused conv → ReLU → 2×2 max block |
//! | [`pool`] | max (argmax) and average pooling and their backward |
//! | [`gemm`] | C ← α·op(A)·op(B) + β·C; the dense layer y = x·Wᵀ + b and its backward |
//! | [`elementwise`] | ReLU, tanh, sigmoid (and backward), add, mul, square, sqrt, sums |
//! | [`distance`] | the comparison module: Euclidean distance, cosine similarity; the cross-distance matrix |
//! | [`batchnorm`] | batch normalisation (train / eval) and its backward |
//! | [`loss`] | contrastive (similarity or distance reading), BCE, softmax cross-entropy |
//! | [`triplet`] | the triplet loss over a batch, its mining (all, batch-hard, semi-hard) |
//! | [`adam`] | Adam's update, the paper's Table 2 |
//!
//! [`simd`] is the 8-lane vector abstraction and runtime ISA dispatch the SIMD kernels share.

pub mod adam;
pub mod batchnorm;
pub mod conv2d;
pub mod distance;
pub mod elementwise;
pub mod gemm;
pub mod loss;
pub mod pool;
pub mod simd;
#[cfg(test)]
mod testutil;
pub mod triplet;
