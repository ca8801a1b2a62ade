//! # siamese-autodiff
//!
//! Reverse-mode automatic differentiation on a tape, over the kernels of siamese-tensor.
//!
//! ## Layout
//!
//! - `store.rs`: [`ParamStore`] holds the trained parameters by name (`subnet.conv1.weight`,
//!   PyTorch layouts), one gradient buffer per parameter, and untrained buffers such as
//!   BatchNorm running statistics. It outlives every tape; an optimizer walks it in a fixed
//!   order.
//! - `tape/mod.rs`: the [`Tape`] core, a Wengert list of nodes (value, whether a gradient
//!   can reach it, and its backward rule), the leaves ([`Tape::input`], [`Tape::param`],
//!   [`Tape::detach`]), the value accessors and [`Tape::backward`].
//! - one file per op family under `tape/`, each op's recording method (forward formula and
//!   backward rule in its doc comment) directly above its backward rule: `conv.rs` (conv2d,
//!   the fused conv → ReLU → 2×2 max-pool block), `pool.rs` (max and average pooling),
//!   `linear.rs` (matmul, linear, bias broadcast), `elementwise.rs` (add, sub, mul, div,
//!   scale, add_scalar, relu, tanh, sigmoid, square, guarded sqrt), `shape.rs` (sum, mean,
//!   per-axis reductions, reshape, flatten, concat, slice, split along the batch),
//!   `norm.rs` (batch norm), `loss.rs` (softmax and binary cross-entropy).
//! - `gradcheck.rs`: [`check_gradients`] compares backward with central finite differences;
//!   every op and layer of the workspace is tested with it.
//! - `error.rs`: [`AutodiffError`], naming the op and the shapes.
//!
//! ## How the pieces fit
//!
//! An op method computes its value with a siamese-tensor kernel and pushes a node whose
//! backward rule is a closure capturing the input [`Var`]s and what the rule reads (a pooling
//! argmax, softmax probabilities, x̂). The rule is kept only where a gradient can flow, i.e.
//! downstream of a parameter or of [`Tape::input_with_grad`]. [`Tape::backward`] walks the
//! nodes once in reverse and calls each rule with ∂L/∂y; gradients of a value used twice add
//! up, and parameter gradients are added (+=) into the store. That sum is how the two siamese
//! subnets share weights: run A and B through the same parameters and each parameter gets
//! the sum of both paths' gradients.
//!
//! A training step is: `zero_grads`, build a new tape from the store, `backward`, drop the
//! tape, let the optimizer update the store in place.
//!
//! Scoring uses [`Tape::inference`]: the same op methods, the same kernels and so the same
//! values bit for bit, but no rule is kept and nothing is cached for a backward pass;
//! [`Tape::backward`] on it returns [`AutodiffError::InferenceTape`]. A layer's or a model's
//! forward written once against `&mut Tape` therefore serves both training and scoring.

pub mod error;
pub mod gradcheck;
mod store;
mod tape;

pub use error::{AutodiffError, Result};
pub use gradcheck::{check_gradients, project_to_scalar, GradCheck, GradCheckReport};
pub use store::{BufferId, ParamId, ParamStore};
pub use tape::{BatchStats, Tape, Var};
