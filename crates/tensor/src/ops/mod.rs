//! The kernels, one module per op family, each with forward and backward side by side and a
//! naive `reference` twin that is the specification the fast path is tested against.

pub mod conv2d;
pub mod elementwise;
pub mod gemm;
pub mod pool;
pub mod simd;
