//! The launch code, one module per op folder of siamese-tensor (`crates/tensor/src/ops/`):
//! each function checks its buffers' lengths as the CPU op does (returning the same kind of
//! [`siamese_tensor::backend::BackendError`]), converts the sizes to the kernels' `int`s and
//! queues the kernel of the `.cu` fragment in that folder.

use crate::buf::DeviceBuf;

pub(crate) mod adam;
pub(crate) mod batchnorm;
pub(crate) mod conv2d;
pub(crate) mod distance;
pub(crate) mod elementwise;
pub(crate) mod gemm;
pub(crate) mod loss;
pub(crate) mod pool;

/// A buffer of f32 values on the device.
pub(crate) type Buf = DeviceBuf<f32>;
/// A buffer of u32 values on the device.
pub(crate) type IdxBuf = DeviceBuf<u32>;
