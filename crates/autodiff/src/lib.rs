//! # siamese-autodiff
//!
//! Reverse-mode automatic differentiation on a tape, over the kernels of siamese-tensor.
//!
//! - [`ParamStore`] holds the trained parameters by name (`subnet.conv1.weight`, PyTorch
//!   layouts), one gradient buffer per parameter, and untrained buffers such as BatchNorm
//!   running statistics. It outlives every tape; an optimizer walks it in a fixed order.
//! - [`Tape`] is a Wengert list: each op method (conv2d, pooling, linear/matmul, element-wise,
//!   reductions, concat/split along the batch, batch norm, cross-entropies) computes its value,
//!   records an [`Var`] handle and the data its backward needs. The doc comment of every method
//!   states the forward formula and the backward rule side by side.
//! - [`Tape::backward`] walks the tape once in reverse; gradients of a value used twice add up,
//!   and parameter gradients are added (+=) into the store. That sum is how the two siamese
//!   subnets share weights: run A and B through the same parameters and each parameter gets
//!   the sum of both paths' gradients.
//! - [`gradcheck`] compares backward with central finite differences; every op and layer of the
//!   workspace is tested with it.
//!
//! A training step is: `zero_grads`, build a new tape from the store, `backward`, drop the
//! tape, let the optimizer update the store in place.

pub mod error;
pub mod gradcheck;
mod store;
mod tape;

pub use error::{AutodiffError, Result};
pub use gradcheck::{check_gradients, project_to_scalar, GradCheck, GradCheckReport};
pub use store::{BufferId, ParamId, ParamStore};
pub use tape::{BatchStats, Tape, Var};
