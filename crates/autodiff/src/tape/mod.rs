//! [`Tape`]: a Wengert list of ops on [`Var`] handles, and its single reverse walk.
//!
//! This file is the core every op shares: the node storage, the leaves (inputs, parameters,
//! detach), the value accessors, and [`Tape::backward`], the reverse walk that feeds each
//! node's gradient to its backward rule and adds parameter gradients into the [`ParamStore`].
//! The ops themselves live one family per file, each recording method next to its backward
//! rule:
//!
//! | file | ops |
//! |---|---|
//! | `conv.rs` | `conv2d`, the fused `conv2d_relu_max_pool2d` |
//! | `pool.rs` | `max_pool2d`, `avg_pool2d` |
//! | `linear.rs` | `matmul`, `linear`, `add_bias` |
//! | `elementwise.rs` | `add`, `sub`, `mul`, `div`, `scale`, `add_scalar`, `relu`, `tanh`, `sigmoid`, `square`, `sqrt` |
//! | `shape.rs` | `sum`, `mean`, `sum_axis`, `mean_axis`, `reshape`, `flatten`, `concat`, `slice`, `split` |
//! | `distance.rs` | `euclidean`, `cosine_similarity` (the comparison module), `unit_rows` |
//! | `norm.rs` | `batch_norm` |
//! | `loss.rs` | `contrastive_loss`, `softmax_cross_entropy`, `binary_cross_entropy`, `triplet_loss` |
//!
//! A recording method computes its output with the siamese-tensor op that is the one home of
//! its equation (or, for the tape's own plumbing, a plain loop: bias broadcast, reductions over
//! one axis, concat), then calls
//! [`Tape::push`] with the value, its inputs and its backward rule: a closure that captures the
//! input [`Var`]s and whatever the rule needs cached (an argmax, softmax probabilities, x̂),
//! and, given ∂L/∂y, adds ∂L/∂input into each input through [`Grads`]. The doc comment of
//! every method gives the forward formula and the backward rule; the closure right below it
//! is that rule.
//!
//! Gradients accumulate: a node used twice receives the sum of both uses' gradients, and a
//! parameter's gradient is *added* into its buffer of the [`ParamStore`]. That is exactly what
//! makes the two siamese subnets share weights.

mod conv;
mod distance;
mod elementwise;
mod linear;
mod loss;
mod norm;
mod pool;
mod shape;

use std::fmt;
use std::sync::Arc;

use siamese_tensor::ops::elementwise as ew;
use siamese_tensor::Tensor;

use crate::error::{shape_err, AutodiffError, Result};
use crate::store::{ParamId, ParamStore};

/// Handle to a value recorded on a [`Tape`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) usize);

impl Var {
    /// Position of the node on its tape.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A node value: owned, or shared with the [`ParamStore`] without a copy.
#[derive(Debug)]
enum Value {
    Owned(Tensor),
    Shared(Arc<Tensor>),
}

impl Value {
    fn get(&self) -> &Tensor {
        match self {
            Value::Owned(t) => t,
            Value::Shared(t) => t,
        }
    }
}

/// An op's backward rule: called with the gradient accumulator, the op's output y and
/// ∂L/∂y, it adds ∂L/∂input into every input that needs one.
type BackwardFn = Box<dyn Fn(&mut Grads<'_>, &Tensor, Tensor) -> Result<()> + Send + Sync>;

struct Node {
    value: Value,
    /// None for constants and for leaves that keep their gradient; a parameter's rule adds
    /// into the store.
    backward: Option<BackwardFn>,
    /// Whether any parameter or gradient-keeping leaf flows into this node.
    needs_grad: bool,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("value", &self.value)
            .field("has_backward", &self.backward.is_some())
            .field("needs_grad", &self.needs_grad)
            .finish()
    }
}

/// What a backward rule sees during [`Tape::backward`]: the recorded values, the gradient
/// slots of every node, and the store that parameter gradients are added into.
struct Grads<'a> {
    nodes: &'a [Node],
    grads: &'a mut [Option<Tensor>],
    store: &'a mut ParamStore,
}

impl<'a> Grads<'a> {
    /// The recorded value of an input (borrowed from the tape, not from `self`, so it can be
    /// held while gradients are added).
    fn value(&self, v: Var) -> &'a Tensor {
        self.nodes[v.0].value.get()
    }

    /// Whether `v` wants a gradient (rules skip work for inputs that do not).
    fn needs(&self, v: Var) -> bool {
        self.nodes[v.0].needs_grad
    }

    /// ∂L/∂v += g, when `v` (an input, or an optional bias) wants a gradient.
    fn add(&mut self, v: impl Into<Option<Var>>, g: Tensor) {
        let Some(v) = v.into() else { return };
        if !self.needs(v) {
            return;
        }
        match &mut self.grads[v.0] {
            Some(t) => add_into(t, &g),
            slot @ None => *slot = Some(g),
        }
    }
}

/// A Wengert list: ops recorded in execution order, walked once in reverse by
/// [`Tape::backward`]. Cheap to build; make a new one every step.
///
/// [`Tape::inference`] makes a tape for the forward alone: the same ops, the same kernels,
/// bit-identical values, and no backward state.
#[derive(Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
    /// After backward: the gradients of leaves made by [`Tape::input_with_grad`].
    grads: Vec<Option<Tensor>>,
    /// Made by [`Tape::inference`]: no node needs a gradient, no rule is kept.
    inference: bool,
}

/// dst += src, element by element.
fn add_into(dst: &mut Tensor, src: &Tensor) {
    for (d, s) in dst.data_mut().iter_mut().zip(src.data()) {
        *d += s;
    }
}

/// f(a_i, b_i) for every element of two tensors of the same length, shaped like `a`.
fn zip_map(a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> Tensor {
    let data = std::iter::zip(a.data(), b.data()).map(|(&x, &y)| f(x, y));
    // Cannot fail: callers pass tensors of one shape (the op checked it, or one is the gradient of the
    // other), so the zip yields exactly a.len() values for a.shape().
    Tensor::from_vec(a.shape(), data.collect()).expect("same length as its source")
}

/// f(a_i) for every element.
fn map(a: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    let data = a.data().iter().map(|&x| f(x)).collect();
    // Cannot fail: one value per element of `a`, for `a`'s own shape.
    Tensor::from_vec(a.shape(), data).expect("same length as its source")
}

/// Splits a shape around `axis` into (outer, len, inner) element counts.
fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty inference tape: for scoring, the forward without a training tape's memory.
    ///
    /// Every op computes its value exactly as on [`Tape::new`] (the same kernels, so the same
    /// bits), but no node needs a gradient, so no backward rule is kept and nothing a rule
    /// would read is cached (no pooling argmax, softmax probabilities or x̂ outlive the op
    /// that computed them). Parameters are still shared with the store without a copy, and
    /// values stay readable until the tape is dropped. [`Tape::backward`] on it returns
    /// [`AutodiffError::InferenceTape`].
    pub fn inference() -> Self {
        Self {
            inference: true,
            ..Self::default()
        }
    }

    /// True for a tape made by [`Tape::inference`].
    pub fn is_inference(&self) -> bool {
        self.inference
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn node(&self, v: Var) -> Result<&Node> {
        self.nodes.get(v.0).ok_or(AutodiffError::ForeignVar {
            index: v.0,
            len: self.nodes.len(),
        })
    }

    /// The value of a recorded variable.
    pub fn value(&self, v: Var) -> Result<&Tensor> {
        Ok(self.node(v)?.value.get())
    }

    /// The value of an optional variable (a bias that may be absent).
    fn opt_value(&self, v: Option<Var>) -> Result<Option<&Tensor>> {
        v.map(|v| self.value(v)).transpose()
    }

    /// The single element of a one-element variable (a loss), e.g. for logging.
    pub fn scalar(&self, v: Var) -> Result<f32> {
        let t = self.value(v)?;
        if t.len() != 1 {
            return Err(shape_err(
                "scalar",
                format!("variable has shape {:?}, not one element", t.shape()),
            ));
        }
        Ok(t.data()[0])
    }

    /// After [`Tape::backward`], ∂L/∂v for a leaf made by [`Tape::input_with_grad`] (None
    /// for other variables, or if the loss does not depend on it).
    pub fn grad(&self, v: Var) -> Option<&Tensor> {
        self.grads.get(v.0).and_then(Option::as_ref)
    }

    /// Records an op's output `value`, computed from `inputs`, with its backward rule. The
    /// rule is kept only when a gradient can flow into the node (some input needs one), so
    /// never on an inference tape, whose leaves need none; the rule and what it captured are
    /// dropped here.
    fn push<F>(&mut self, value: Tensor, inputs: &[Var], backward: F) -> Var
    where
        F: Fn(&mut Grads<'_>, &Tensor, Tensor) -> Result<()> + Send + Sync + 'static,
    {
        let needs_grad = inputs.iter().any(|v| self.nodes[v.0].needs_grad);
        let backward = needs_grad.then(|| Box::new(backward) as BackwardFn);
        self.leaf(Value::Owned(value), backward, needs_grad)
    }

    /// [`Tape::push`] for a one-input op whose rule is dx = `rule(x, y, dy)`.
    fn unary<F>(&mut self, x: Var, value: Tensor, rule: F) -> Var
    where
        F: Fn(&Tensor, &Tensor, Tensor) -> Result<Tensor> + Send + Sync + 'static,
    {
        self.push(value, &[x], move |g, y, dy| {
            let dx = rule(g.value(x), y, dy)?;
            g.add(x, dx);
            Ok(())
        })
    }

    fn leaf(&mut self, value: Value, backward: Option<BackwardFn>, needs_grad: bool) -> Var {
        self.nodes.push(Node {
            value,
            backward,
            needs_grad,
        });
        Var(self.nodes.len() - 1)
    }

    // ---------------------------------------------------------------- leaves

    /// A constant input (images, labels): no gradient flows into it.
    pub fn input(&mut self, t: Tensor) -> Var {
        self.leaf(Value::Owned(t), None, false)
    }

    /// An input whose gradient backward keeps, readable with [`Tape::grad`] (on an
    /// inference tape, a plain input).
    pub fn input_with_grad(&mut self, t: Tensor) -> Var {
        let keep = !self.inference;
        self.leaf(Value::Owned(t), None, keep)
    }

    /// A parameter θ of `store`, shared without a copy. Backward adds ∂L/∂θ into
    /// `store.grad(id)`; using the same parameter twice adds both paths' gradients (on an
    /// inference tape, a constant).
    pub fn param(&mut self, store: &ParamStore, id: ParamId) -> Result<Var> {
        let value = store.shared(id)?;
        if self.inference {
            return Ok(self.leaf(Value::Shared(value), None, false));
        }
        let backward: BackwardFn = Box::new(move |g, _, dy| {
            g.store.check(id)?;
            let dst = g.store.grad_mut(id);
            ew::same_shape("backward(param)", dst, &dy)?;
            add_into(dst, &dy);
            Ok(())
        });
        Ok(self.leaf(Value::Shared(value), Some(backward), true))
    }

    /// Stop-gradient: y = x in forward, dx = 0 in backward (a constant copy of x).
    pub fn detach(&mut self, x: Var) -> Result<Var> {
        let t = self.value(x)?.clone();
        Ok(self.input(t))
    }

    // ---------------------------------------------------------------- the reverse walk

    /// Reverse-mode differentiation: seeds ∂L/∂L = 1 (a tensor of ones shaped like `loss`,
    /// normally a scalar), walks the nodes once from `loss` back to the first, and applies each
    /// op's backward rule. Gradients of a node used several times add up. Parameter gradients
    /// are ADDED (+=) into `store`'s gradient buffers (call [`ParamStore::zero_grads`] between
    /// steps); leaves made by [`Tape::input_with_grad`] keep theirs for [`Tape::grad`].
    /// Intermediate gradients are freed as soon as their node is processed.
    /// An inference tape ([`Tape::inference`]) has nothing to walk and returns
    /// [`AutodiffError::InferenceTape`].
    pub fn backward(&mut self, loss: Var, store: &mut ParamStore) -> Result<()> {
        if self.inference {
            return Err(AutodiffError::InferenceTape);
        }
        let seed = Tensor::full(self.value(loss)?.shape(), 1.0)?;
        let mut grads: Vec<Option<Tensor>> = (0..self.nodes.len()).map(|_| None).collect();
        grads[loss.0] = Some(seed);
        for i in (0..=loss.0).rev() {
            let node = &self.nodes[i];
            let Some(rule) = node.backward.as_ref().filter(|_| node.needs_grad) else {
                continue;
            };
            let Some(dy) = grads[i].take() else {
                continue;
            };
            let mut g = Grads {
                nodes: &self.nodes,
                grads: &mut grads,
                store: &mut *store,
            };
            rule(&mut g, node.value.get(), dy)?;
        }
        self.grads = grads;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records relu(x) of a constant, then conv block → flatten → softmax cross-entropy on
    /// a parameter, and counts the nodes that kept a backward rule.
    fn rules_kept(mut t: Tape) -> (usize, bool) {
        let mut store = ParamStore::new();
        let w = Tensor::from_vec(
            &[2, 1, 3, 3],
            (0..18).map(|i| i as f32 * 0.1 - 0.9).collect(),
        );
        let w = store.add_param("w", w.unwrap()).unwrap();
        let x = t.input(Tensor::full(&[2, 1, 4, 4], 0.5).unwrap());
        t.relu(x).unwrap();
        let wv = t.param(&store, w).unwrap();
        let y = t.conv2d_relu_max_pool2d(x, wv, None, 1).unwrap();
        let y = t.flatten(y).unwrap();
        t.softmax_cross_entropy(y, &[0, 1]).unwrap();
        let kept = t.nodes.iter().filter(|n| n.backward.is_some()).count();
        (kept, t.nodes.iter().any(|n| n.needs_grad))
    }

    #[test]
    fn rules_are_kept_only_where_a_gradient_can_flow() {
        // The parameter, the conv block, the reshape and the loss; not the input or its relu.
        assert_eq!(rules_kept(Tape::new()), (4, true));
        assert_eq!(rules_kept(Tape::inference()), (0, false));
    }
}
