//! [`Tape`]: a Wengert list of ops on [`Var`] handles, and its single reverse walk.
//!
//! Each recording method computes its output with a siamese-tensor kernel (or a plain loop
//! here when the kernel library lacks it: bias broadcast, reductions over one axis, concat),
//! pushes a node holding the value and an [`Op`] with whatever backward needs cached, and
//! returns the new [`Var`]. The doc comment of every method gives the forward formula and the
//! backward rule side by side; [`Tape::backward`] applies the rule.
//!
//! Gradients accumulate: a node used twice receives the sum of both uses' gradients, and a
//! parameter's gradient is *added* into its buffer of the [`ParamStore`]. That is exactly what
//! makes the two siamese subnets share weights.

use std::sync::Arc;

use siamese_tensor::ops::{conv2d, elementwise as ew, gemm, pool};
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

/// What produced a node, with the data its backward needs.
#[derive(Debug)]
enum Op {
    /// A constant, or a leaf whose gradient is kept ([`Tape::input_with_grad`]).
    Leaf,
    Param(ParamId),
    Conv2d {
        x: Var,
        w: Var,
        b: Option<Var>,
        stride: usize,
        pad: usize,
    },
    MaxPool2d {
        x: Var,
        argmax: Vec<u32>,
    },
    Conv2dReluMaxPool {
        x: Var,
        w: Var,
        b: Option<Var>,
        pad: usize,
        argmax: Vec<u32>,
    },
    AvgPool2d {
        x: Var,
        k: usize,
        stride: usize,
    },
    MatMul {
        a: Var,
        b: Var,
        ta: bool,
        tb: bool,
    },
    Linear {
        x: Var,
        w: Var,
        b: Option<Var>,
    },
    Add(Var, Var),
    Sub(Var, Var),
    Mul(Var, Var),
    Div(Var, Var),
    AddBias {
        x: Var,
        b: Var,
    },
    Scale(Var, f32),
    AddScalar(Var),
    Relu(Var),
    Tanh(Var),
    Sigmoid(Var),
    Square(Var),
    Sqrt {
        x: Var,
        eps: f32,
    },
    Sum(Var),
    Mean(Var),
    SumAxis {
        x: Var,
        axis: usize,
        mean: bool,
    },
    Reshape(Var),
    Concat(Vec<Var>),
    Slice {
        x: Var,
        start: usize,
    },
    BatchNorm {
        x: Var,
        gamma: Var,
        beta: Var,
        xhat: Tensor,
        inv_std: Vec<f32>,
        train: bool,
    },
    SoftmaxCrossEntropy {
        logits: Var,
        labels: Vec<usize>,
        probs: Tensor,
    },
    BinaryCrossEntropy {
        p: Var,
        y: Tensor,
        eps: f32,
    },
}

#[derive(Debug)]
struct Node {
    value: Value,
    op: Op,
    needs_grad: bool,
}

/// Batch statistics a training-mode batch norm computed, for the layer's running averages.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStats {
    /// Per-feature batch mean μ_c.
    pub mean: Vec<f32>,
    /// Per-feature biased batch variance σ²_c = (1/N) Σ_n (x_nc − μ_c)².
    pub var: Vec<f32>,
}

/// A Wengert list: ops recorded in execution order, walked once in reverse by
/// [`Tape::backward`]. Cheap to build; make a new one every step.
#[derive(Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
    /// After backward: the gradients of leaves made by [`Tape::input_with_grad`].
    grads: Vec<Option<Tensor>>,
}

fn add_into(dst: &mut Tensor, src: &Tensor) {
    for (d, s) in dst.data_mut().iter_mut().zip(src.data()) {
        *d += s;
    }
}

fn accumulate(grads: &mut [Option<Tensor>], v: Var, g: Tensor) {
    match &mut grads[v.0] {
        Some(t) => add_into(t, &g),
        slot @ None => *slot = Some(g),
    }
}

fn zip_map(a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> Tensor {
    let data = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(&x, &y)| f(x, y))
        .collect();
    Tensor::from_vec(a.shape(), data).expect("same length as its source")
}

fn map(a: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    let data = a.data().iter().map(|&x| f(x)).collect();
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

    fn push(&mut self, value: Tensor, op: Op, inputs: &[Var]) -> Var {
        let needs_grad = inputs.iter().any(|v| self.nodes[v.0].needs_grad);
        self.nodes.push(Node {
            value: Value::Owned(value),
            op,
            needs_grad,
        });
        Var(self.nodes.len() - 1)
    }

    fn leaf(&mut self, value: Value, op: Op, needs_grad: bool) -> Var {
        self.nodes.push(Node {
            value,
            op,
            needs_grad,
        });
        Var(self.nodes.len() - 1)
    }

    // ---------------------------------------------------------------- leaves

    /// A constant input (images, labels): no gradient flows into it.
    pub fn input(&mut self, t: Tensor) -> Var {
        self.leaf(Value::Owned(t), Op::Leaf, false)
    }

    /// An input whose gradient backward keeps, readable with [`Tape::grad`].
    pub fn input_with_grad(&mut self, t: Tensor) -> Var {
        self.leaf(Value::Owned(t), Op::Leaf, true)
    }

    /// A parameter of `store`, shared without a copy. Backward adds ∂L/∂θ into
    /// `store.grad(id)`; using the same parameter twice adds both paths' gradients.
    pub fn param(&mut self, store: &ParamStore, id: ParamId) -> Result<Var> {
        let value = store.shared(id)?;
        Ok(self.leaf(Value::Shared(value), Op::Param(id), true))
    }

    /// Stop-gradient: y = x in forward, dx = 0 in backward (a constant copy of x).
    pub fn detach(&mut self, x: Var) -> Result<Var> {
        let t = self.value(x)?.clone();
        Ok(self.input(t))
    }

    // ---------------------------------------------------------------- convolution, pooling

    /// Convolution, kernel `ops::conv2d`:
    /// y[n,k,i,j] = b[k] + Σ_{c,u,v} w[k,c,u,v]·x[n,c,i·s+u−p,j·s+v−p];
    /// backward: dx, dw, db from `conv2d_backward` (dw = Σ dy·x, db = Σ dy, dx = Σ dy·w).
    /// x: N×C×H×W, w: K×C×KH×KW, b: K.
    pub fn conv2d(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        stride: usize,
        pad: usize,
    ) -> Result<Var> {
        let bt = match b {
            Some(b) => Some(self.value(b)?),
            None => None,
        };
        let y = conv2d::conv2d_forward(self.value(x)?, self.value(w)?, bt, stride, pad)?;
        let mut ins = vec![x, w];
        ins.extend(b);
        Ok(self.push(
            y,
            Op::Conv2d {
                x,
                w,
                b,
                stride,
                pad,
            },
            &ins,
        ))
    }

    /// Max-pooling over k×k windows, stride s: y = max over the window; backward routes dy to
    /// the cached argmax (dx[argmax] += dy).
    pub fn max_pool2d(&mut self, x: Var, k: usize, stride: usize) -> Result<Var> {
        let (y, argmax) = pool::max_pool2d_forward(self.value(x)?, k, stride)?;
        Ok(self.push(y, Op::MaxPool2d { x, argmax }, &[x]))
    }

    /// A LeNet-5 block in one op: stride-1 conv, ReLU, 2×2/2 max-pool,
    /// y = max(maxpool₂ₓ₂(conv2d(x, w) + b), 0) (`conv2d_relu_maxpool_forward`), without the
    /// batch-size conv output; backward: dc[argmax] += dy where y > 0, then the conv backward
    /// (dx only when x needs a gradient). Values and gradients equal
    /// `max_pool2d(relu(conv2d(x, w, b, 1, pad)), 2, 2)` bit for bit.
    pub fn conv2d_relu_max_pool2d(
        &mut self,
        x: Var,
        w: Var,
        b: Option<Var>,
        pad: usize,
    ) -> Result<Var> {
        let bt = match b {
            Some(b) => Some(self.value(b)?),
            None => None,
        };
        let (y, argmax) =
            conv2d::conv2d_relu_maxpool_forward(self.value(x)?, self.value(w)?, bt, pad)?;
        let mut ins = vec![x, w];
        ins.extend(b);
        Ok(self.push(
            y,
            Op::Conv2dReluMaxPool {
                x,
                w,
                b,
                pad,
                argmax,
            },
            &ins,
        ))
    }

    /// Average-pooling: y = (1/k²) Σ_window x; backward: dx = dy/k² over each window.
    pub fn avg_pool2d(&mut self, x: Var, k: usize, stride: usize) -> Result<Var> {
        let y = pool::avg_pool2d_forward(self.value(x)?, k, stride)?;
        Ok(self.push(y, Op::AvgPool2d { x, k, stride }, &[x]))
    }

    // ---------------------------------------------------------------- matrix products

    /// Y = op(A)·op(B) for 2-D A, B (op = identity or transpose);
    /// backward: d op(A) = dY·op(B)ᵀ, d op(B) = op(A)ᵀ·dY (transposed back to A's and B's
    /// storage), all through `ops::gemm`.
    pub fn matmul(&mut self, a: Var, b: Var, trans_a: bool, trans_b: bool) -> Result<Var> {
        let y = gemm::matmul(self.value(a)?, self.value(b)?, trans_a, trans_b)?;
        Ok(self.push(
            y,
            Op::MatMul {
                a,
                b,
                ta: trans_a,
                tb: trans_b,
            },
            &[a, b],
        ))
    }

    /// Fully-connected layer, PyTorch layout: x: N×I, w: O×I, b: O,
    /// y = x·wᵀ + b (y[n,o] = b[o] + Σ_i x[n,i]·w[o,i]);
    /// backward: dx = dy·w, dw = dyᵀ·x, db[o] = Σ_n dy[n,o] (one gemm each, db in f64).
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        let (xt, wt) = (self.value(x)?, self.value(w)?);
        if xt.rank() != 2 || wt.rank() != 2 || xt.shape()[1] != wt.shape()[1] {
            return Err(shape_err(
                "linear",
                format!(
                    "input {:?} must be N×I and weight {:?} O×I with the same I",
                    xt.shape(),
                    wt.shape()
                ),
            ));
        }
        let (n, i, o) = (xt.shape()[0], xt.shape()[1], wt.shape()[0]);
        let mut y = Tensor::zeros(&[n, o])?;
        if let Some(b) = b {
            let bt = self.value(b)?;
            if bt.len() != o {
                return Err(shape_err(
                    "linear",
                    format!("bias has {} values, expected {o}", bt.len()),
                ));
            }
            for row in y.data_mut().chunks_exact_mut(o) {
                row.copy_from_slice(bt.data());
            }
        }
        let beta = if b.is_some() { 1.0 } else { 0.0 };
        gemm::gemm(
            false,
            true,
            n,
            o,
            i,
            1.0,
            xt.data(),
            wt.data(),
            beta,
            y.data_mut(),
        )?;
        let mut ins = vec![x, w];
        ins.extend(b);
        Ok(self.push(y, Op::Linear { x, w, b }, &ins))
    }

    // ---------------------------------------------------------------- element-wise binary

    /// y = a + b (same shapes); backward: da = dy, db = dy.
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        let y = ew::add(self.value(a)?, self.value(b)?)?;
        Ok(self.push(y, Op::Add(a, b), &[a, b]))
    }

    /// y = a − b (same shapes); backward: da = dy, db = −dy.
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        let y = ew::sub(self.value(a)?, self.value(b)?)?;
        Ok(self.push(y, Op::Sub(a, b), &[a, b]))
    }

    /// y = a ⊙ b (same shapes); backward: da = dy ⊙ b, db = dy ⊙ a.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        let y = ew::mul(self.value(a)?, self.value(b)?)?;
        Ok(self.push(y, Op::Mul(a, b), &[a, b]))
    }

    /// y = a / b (same shapes; the caller keeps b away from 0);
    /// backward: da = dy / b, db = −dy·a/b² = −dy·y/b.
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var> {
        let (at, bt) = (self.value(a)?, self.value(b)?);
        ew::same_shape("div", at, bt)?;
        let y = zip_map(at, bt, |x, y| x / y);
        Ok(self.push(y, Op::Div(a, b), &[a, b]))
    }

    /// Bias broadcast along axis 1: x: N×C(×…), b: C, y[n,c,…] = x[n,c,…] + b[c];
    /// backward: dx = dy, db[c] = Σ_{n,…} dy[n,c,…] (in f64, fixed order).
    pub fn add_bias(&mut self, x: Var, b: Var) -> Result<Var> {
        let (xt, bt) = (self.value(x)?, self.value(b)?);
        if xt.rank() < 2 || bt.len() != xt.shape()[1] {
            return Err(shape_err(
                "add_bias",
                format!(
                    "input {:?} needs a channel axis 1 matching the bias's {} values",
                    xt.shape(),
                    bt.len()
                ),
            ));
        }
        let (_, c, inner) = around(xt.shape(), 1);
        let mut y = xt.clone();
        for (blk, chunk) in y.data_mut().chunks_exact_mut(inner).enumerate() {
            let bias = bt.data()[blk % c];
            chunk.iter_mut().for_each(|v| *v += bias);
        }
        Ok(self.push(y, Op::AddBias { x, b }, &[x, b]))
    }

    // ---------------------------------------------------------------- element-wise unary

    /// y = s·x; backward: dx = s·dy.
    pub fn scale(&mut self, x: Var, s: f32) -> Result<Var> {
        let y = ew::scale(self.value(x)?, s);
        Ok(self.push(y, Op::Scale(x, s), &[x]))
    }

    /// y = x + c for a constant c; backward: dx = dy.
    pub fn add_scalar(&mut self, x: Var, c: f32) -> Result<Var> {
        let y = map(self.value(x)?, |v| v + c);
        Ok(self.push(y, Op::AddScalar(x), &[x]))
    }

    /// y = max(0, x) (ReLU; also the `max(margin − d, 0)` of the contrastive loss);
    /// backward: dx = dy·[x > 0] (subgradient 0 at x = 0).
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        let y = ew::relu(self.value(x)?);
        Ok(self.push(y, Op::Relu(x), &[x]))
    }

    /// y = tanh x; backward: dx = dy·(1 − y²), from the cached output y.
    pub fn tanh(&mut self, x: Var) -> Result<Var> {
        let y = ew::tanh(self.value(x)?);
        Ok(self.push(y, Op::Tanh(x), &[x]))
    }

    /// y = σ(x) = 1/(1 + e^{−x}); backward: dx = dy·y(1 − y), from the cached output y.
    pub fn sigmoid(&mut self, x: Var) -> Result<Var> {
        let y = ew::sigmoid(self.value(x)?);
        Ok(self.push(y, Op::Sigmoid(x), &[x]))
    }

    /// y = x²; backward: dx = 2x·dy.
    pub fn square(&mut self, x: Var) -> Result<Var> {
        let y = ew::square(self.value(x)?);
        Ok(self.push(y, Op::Square(x), &[x]))
    }

    /// Guarded square root y = √max(x, ε); backward: dx = dy/(2y) where x > ε, else 0.
    ///
    /// The guard keeps y ≥ √ε > 0, so the derivative 1/(2y) never divides by zero: at a
    /// distance of exactly 0 (two identical embeddings) plain √ has an infinite slope. Below
    /// ε the op is flat, as `sqrt(maximum(s, ε))` in Keras (ε = 1e-7 there). ε = 0 gives the
    /// unguarded √x, with the subgradient 0 taken at x = 0.
    pub fn sqrt(&mut self, x: Var, eps: f32) -> Result<Var> {
        let y = map(self.value(x)?, |v| v.max(eps).sqrt());
        Ok(self.push(y, Op::Sqrt { x, eps }, &[x]))
    }

    // ---------------------------------------------------------------- reductions, shapes

    /// y = Σ_i x_i (a scalar, f64 accumulation in index order); backward: dx_i = dy.
    pub fn sum(&mut self, x: Var) -> Result<Var> {
        let y = Tensor::scalar(ew::sum(self.value(x)?));
        Ok(self.push(y, Op::Sum(x), &[x]))
    }

    /// y = (1/n) Σ_i x_i (a scalar); backward: dx_i = dy/n.
    pub fn mean(&mut self, x: Var) -> Result<Var> {
        let y = Tensor::scalar(ew::mean(self.value(x)?));
        Ok(self.push(y, Op::Mean(x), &[x]))
    }

    fn reduce_axis(&mut self, x: Var, axis: usize, mean: bool) -> Result<Var> {
        let xt = self.value(x)?;
        if axis >= xt.rank() || xt.shape()[axis] == 0 {
            return Err(shape_err(
                "sum_axis",
                format!("cannot reduce axis {axis} of {:?}", xt.shape()),
            ));
        }
        let (outer, len, inner) = around(xt.shape(), axis);
        let mut shape = xt.shape().to_vec();
        shape.remove(axis);
        let scale = if mean { 1.0 / len as f64 } else { 1.0 };
        let d = xt.data();
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let s: f64 = (0..len).map(|l| d[(o * len + l) * inner + i] as f64).sum();
                out.push((s * scale) as f32);
            }
        }
        let y = Tensor::from_vec(&shape, out)?;
        Ok(self.push(y, Op::SumAxis { x, axis, mean }, &[x]))
    }

    /// Sum over one axis, which disappears: y[o,i] = Σ_l x[o,l,i] (f64, fixed order);
    /// backward: dx[o,l,i] = dy[o,i].
    pub fn sum_axis(&mut self, x: Var, axis: usize) -> Result<Var> {
        self.reduce_axis(x, axis, false)
    }

    /// Mean over one axis, which disappears: y[o,i] = (1/L) Σ_l x[o,l,i];
    /// backward: dx[o,l,i] = dy[o,i]/L.
    pub fn mean_axis(&mut self, x: Var, axis: usize) -> Result<Var> {
        self.reduce_axis(x, axis, true)
    }

    /// The same values under another shape (same element count); backward reshapes dy back.
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        let y = self.value(x)?.clone().reshape(shape)?;
        Ok(self.push(y, Op::Reshape(x), &[x]))
    }

    /// N×(anything) → N×(product of the rest), as before a linear layer.
    pub fn flatten(&mut self, x: Var) -> Result<Var> {
        let shape = self.value(x)?.shape().to_vec();
        if shape.is_empty() {
            return Err(shape_err("flatten", "a scalar has no batch axis"));
        }
        let rest = shape[1..].iter().product();
        self.reshape(x, &[shape[0], rest])
    }

    /// Concatenation along the batch axis 0 (parts agree on every other axis), e.g. the A
    /// and B images of a batch of pairs, so both go through one batched forward;
    /// backward: each part gets its rows of dy.
    pub fn concat(&mut self, parts: &[Var]) -> Result<Var> {
        let first = self.value(
            *parts
                .first()
                .ok_or_else(|| shape_err("concat", "no parts"))?,
        )?;
        if first.rank() == 0 {
            return Err(shape_err("concat", "scalars have no batch axis"));
        }
        let tail = first.shape()[1..].to_vec();
        let mut rows = 0;
        let mut data = Vec::new();
        for &p in parts {
            let t = self.value(p)?;
            if t.rank() == 0 || t.shape()[1..] != tail[..] {
                return Err(shape_err(
                    "concat",
                    format!("part {:?} does not match [_, {tail:?}]", t.shape()),
                ));
            }
            rows += t.shape()[0];
            data.extend_from_slice(t.data());
        }
        let mut shape = vec![rows];
        shape.extend_from_slice(&tail);
        let y = Tensor::from_vec(&shape, data)?;
        Ok(self.push(y, Op::Concat(parts.to_vec()), parts))
    }

    /// Rows [start, start+len) of the batch axis 0; backward: dy placed into those rows of a
    /// zero dx.
    pub fn slice(&mut self, x: Var, start: usize, len: usize) -> Result<Var> {
        let xt = self.value(x)?;
        if xt.rank() == 0 || start + len > xt.shape()[0] {
            return Err(shape_err(
                "slice",
                format!("rows {start}..{} of {:?}", start + len, xt.shape()),
            ));
        }
        let row: usize = xt.shape()[1..].iter().product();
        let mut shape = xt.shape().to_vec();
        shape[0] = len;
        let y = Tensor::from_vec(&shape, xt.data()[start * row..(start + len) * row].to_vec())?;
        Ok(self.push(y, Op::Slice { x, start }, &[x]))
    }

    /// Splits the batch axis into consecutive parts of the given sizes (the inverse of
    /// [`Tape::concat`]); the sizes must add up to the batch.
    pub fn split(&mut self, x: Var, sizes: &[usize]) -> Result<Vec<Var>> {
        let n = self.value(x)?.shape().first().copied().unwrap_or(0);
        if sizes.iter().sum::<usize>() != n {
            return Err(shape_err(
                "split",
                format!("sizes {sizes:?} do not add up to the batch {n}"),
            ));
        }
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for &s in sizes {
            out.push(self.slice(x, start, s)?);
            start += s;
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- normalisation, losses

    /// Batch normalisation over the batch axis of x: N×C, per feature c, with γ, β: C.
    ///
    /// Training mode (`running = None`): μ = (1/N) Σ_n x, σ² = (1/N) Σ_n (x − μ)² (biased),
    /// x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β; backward, with g = dy·γ:
    /// dx = (1/(N·√(σ²+ε)))·(N·g − Σ_n g − x̂·Σ_n g·x̂) (term 1, 2, 3),
    /// dγ = Σ_n dy·x̂, dβ = Σ_n dy. Returns the batch statistics for the running averages.
    ///
    /// Eval mode (`running = Some((mean, var))`): the same affine map with the running
    /// statistics, which are constants: dx = dy·γ/√(var+ε), dγ = Σ dy·x̂, dβ = Σ dy.
    pub fn batch_norm(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        eps: f32,
        running: Option<(&[f32], &[f32])>,
    ) -> Result<(Var, Option<BatchStats>)> {
        let (xt, gt, bt) = (self.value(x)?, self.value(gamma)?, self.value(beta)?);
        if xt.rank() != 2 || gt.len() != xt.shape()[1] || bt.len() != xt.shape()[1] {
            return Err(shape_err(
                "batch_norm",
                format!(
                    "input {:?} must be N×C with γ ({}) and β ({}) of C values",
                    xt.shape(),
                    gt.len(),
                    bt.len()
                ),
            ));
        }
        let (n, c) = (xt.shape()[0], xt.shape()[1]);
        let d = xt.data();
        let (mean, var, stats) = match running {
            Some((m, v)) => {
                if m.len() != c || v.len() != c {
                    return Err(shape_err(
                        "batch_norm",
                        "running statistics must have C values",
                    ));
                }
                (m.to_vec(), v.to_vec(), None)
            }
            None => {
                if n == 0 {
                    return Err(shape_err("batch_norm", "training mode needs a batch"));
                }
                let mut mean = vec![0f32; c];
                let mut var = vec![0f32; c];
                for j in 0..c {
                    let mu = (0..n).map(|i| d[i * c + j] as f64).sum::<f64>() / n as f64;
                    let s2 = (0..n)
                        .map(|i| (d[i * c + j] as f64 - mu).powi(2))
                        .sum::<f64>()
                        / n as f64;
                    mean[j] = mu as f32;
                    var[j] = s2 as f32;
                }
                let stats = BatchStats {
                    mean: mean.clone(),
                    var: var.clone(),
                };
                (mean, var, Some(stats))
            }
        };
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        let mut xhat = Tensor::zeros(&[n, c])?;
        let mut y = Tensor::zeros(&[n, c])?;
        for i in 0..n {
            for j in 0..c {
                let h = (d[i * c + j] - mean[j]) * inv_std[j];
                xhat.data_mut()[i * c + j] = h;
                y.data_mut()[i * c + j] = gt.data()[j] * h + bt.data()[j];
            }
        }
        let train = running.is_none();
        let v = self.push(
            y,
            Op::BatchNorm {
                x,
                gamma,
                beta,
                xhat,
                inv_std,
                train,
            },
            &[x, gamma, beta],
        );
        Ok((v, stats))
    }

    /// Softmax cross-entropy of logits z: N×K against class labels, averaged over the batch:
    /// L = (1/N) Σ_n [log Σ_k e^{z_nk} − z_{n,y_n}] (log-sum-exp shifted by the row max, so
    /// no overflow); backward: dz = dL·(softmax(z) − onehot(y))/N, softmax cached.
    pub fn softmax_cross_entropy(&mut self, logits: Var, labels: &[usize]) -> Result<Var> {
        let zt = self.value(logits)?;
        if zt.rank() != 2 || zt.shape()[0] != labels.len() || zt.shape()[0] == 0 {
            return Err(shape_err(
                "softmax_cross_entropy",
                format!("logits {:?} for {} labels", zt.shape(), labels.len()),
            ));
        }
        let (n, k) = (zt.shape()[0], zt.shape()[1]);
        if let Some(&bad) = labels.iter().find(|&&l| l >= k) {
            return Err(shape_err(
                "softmax_cross_entropy",
                format!("label {bad} is not below the {k} classes"),
            ));
        }
        let mut probs = Tensor::zeros(&[n, k])?;
        let mut loss = 0f64;
        for (r, (row, prow)) in zt
            .data()
            .chunks_exact(k)
            .zip(probs.data_mut().chunks_exact_mut(k))
            .enumerate()
        {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut s = 0f64;
            for (p, &z) in prow.iter_mut().zip(row) {
                let e = ((z - max) as f64).exp();
                *p = e as f32;
                s += e;
            }
            prow.iter_mut().for_each(|p| *p = (*p as f64 / s) as f32);
            loss += s.ln() + max as f64 - row[labels[r]] as f64;
        }
        let y = Tensor::scalar((loss / n as f64) as f32);
        Ok(self.push(
            y,
            Op::SoftmaxCrossEntropy {
                logits,
                labels: labels.to_vec(),
                probs,
            },
            &[logits],
        ))
    }

    /// Binary cross-entropy of probabilities p against targets y (same shape, y ∈ [0,1]),
    /// with p clipped to [ε, 1−ε] as Keras does:
    /// L = −(1/n) Σ [y·ln p̃ + (1−y)·ln(1−p̃)], p̃ = clip(p, ε, 1−ε);
    /// backward: dp = −(dL/n)·(y/p̃ − (1−y)/(1−p̃)) inside the clip range, 0 outside.
    pub fn binary_cross_entropy(&mut self, p: Var, y: &Tensor, eps: f32) -> Result<Var> {
        let pt = self.value(p)?;
        if pt.len() != y.len() || pt.is_empty() {
            return Err(shape_err(
                "binary_cross_entropy",
                format!("predictions {:?} vs targets {:?}", pt.shape(), y.shape()),
            ));
        }
        let mut loss = 0f64;
        for (&pv, &yv) in pt.data().iter().zip(y.data()) {
            let pc = pv.clamp(eps, 1.0 - eps) as f64;
            loss -= yv as f64 * pc.ln() + (1.0 - yv as f64) * (1.0 - pc).ln();
        }
        let out = Tensor::scalar((loss / pt.len() as f64) as f32);
        Ok(self.push(
            out,
            Op::BinaryCrossEntropy {
                p,
                y: y.clone(),
                eps,
            },
            &[p],
        ))
    }
}

impl Tape {
    /// Reverse-mode differentiation: seeds ∂L/∂L = 1 (a tensor of ones shaped like `loss`,
    /// normally a scalar), walks the nodes once from `loss` back to the first, and applies each
    /// op's backward rule. Gradients of a node used several times add up. Parameter gradients
    /// are ADDED (+=) into `store`'s gradient buffers (call [`ParamStore::zero_grads`] between
    /// steps); leaves made by [`Tape::input_with_grad`] keep theirs for [`Tape::grad`].
    /// Intermediate gradients are freed as soon as their node is processed.
    pub fn backward(&mut self, loss: Var, store: &mut ParamStore) -> Result<()> {
        let seed = Tensor::full(self.value(loss)?.shape(), 1.0)?;
        let mut grads: Vec<Option<Tensor>> = (0..self.nodes.len()).map(|_| None).collect();
        grads[loss.0] = Some(seed);
        for i in (0..=loss.0).rev() {
            let node = &self.nodes[i];
            if !node.needs_grad || matches!(node.op, Op::Leaf) {
                continue;
            }
            let Some(dy) = grads[i].take() else {
                continue;
            };
            self.backward_node(i, dy, &mut grads, store)?;
        }
        self.grads = grads;
        Ok(())
    }

    fn backward_node(
        &self,
        i: usize,
        dy: Tensor,
        grads: &mut [Option<Tensor>],
        store: &mut ParamStore,
    ) -> Result<()> {
        let val = |v: Var| self.nodes[v.0].value.get();
        let need = |v: Var| self.nodes[v.0].needs_grad;
        let y = self.nodes[i].value.get();
        let mut acc = |v: Var, g: Tensor| {
            if need(v) {
                accumulate(grads, v, g);
            }
        };
        match &self.nodes[i].op {
            Op::Leaf => {}
            Op::Param(id) => {
                store.check(*id)?;
                let g = store.grad_mut(*id);
                ew::same_shape("backward(param)", g, &dy)?;
                add_into(g, &dy);
            }
            Op::Conv2d {
                x,
                w,
                b,
                stride,
                pad,
            } => {
                if need(*x) {
                    let g = conv2d::conv2d_backward(val(*x), val(*w), &dy, *stride, *pad)?;
                    acc(*x, g.dx);
                    acc(*w, g.dw);
                    if let Some(b) = b {
                        acc(*b, g.db);
                    }
                } else {
                    // The input (images) needs no gradient: skip dx, the costlier half.
                    let (dw, db) =
                        conv2d::conv2d_backward_params(val(*x), val(*w), &dy, *stride, *pad)?;
                    acc(*w, dw);
                    if let Some(b) = b {
                        acc(*b, db);
                    }
                }
            }
            Op::MaxPool2d { x, argmax } => {
                acc(*x, pool::max_pool2d_backward(&dy, argmax, val(*x).shape())?);
            }
            Op::Conv2dReluMaxPool {
                x,
                w,
                b,
                pad,
                argmax,
            } => {
                let (dx, dw, db) = conv2d::conv2d_relu_maxpool_backward(
                    val(*x),
                    val(*w),
                    y,
                    argmax,
                    &dy,
                    *pad,
                    need(*x),
                )?;
                if let Some(dx) = dx {
                    acc(*x, dx);
                }
                acc(*w, dw);
                if let Some(b) = b {
                    acc(*b, db);
                }
            }
            Op::AvgPool2d { x, k, stride } => {
                acc(
                    *x,
                    pool::avg_pool2d_backward(&dy, val(*x).shape(), *k, *stride)?,
                );
            }
            Op::MatMul { a, b, ta, tb } => {
                let (at, bt) = (val(*a), val(*b));
                let (m, n) = (y.shape()[0], y.shape()[1]);
                let k = if *ta { at.shape()[0] } else { at.shape()[1] };
                if need(*a) {
                    let mut da = Tensor::zeros(at.shape())?;
                    if *ta {
                        // A stored k×m: dA = op(B)·dYᵀ
                        gemm::gemm(
                            *tb,
                            true,
                            k,
                            m,
                            n,
                            1.0,
                            bt.data(),
                            dy.data(),
                            0.0,
                            da.data_mut(),
                        )?;
                    } else {
                        // A stored m×k: dA = dY·op(B)ᵀ
                        gemm::gemm(
                            false,
                            !tb,
                            m,
                            k,
                            n,
                            1.0,
                            dy.data(),
                            bt.data(),
                            0.0,
                            da.data_mut(),
                        )?;
                    }
                    acc(*a, da);
                }
                if need(*b) {
                    let mut db = Tensor::zeros(bt.shape())?;
                    if *tb {
                        // B stored n×k: dB = dYᵀ·op(A)
                        gemm::gemm(
                            true,
                            *ta,
                            n,
                            k,
                            m,
                            1.0,
                            dy.data(),
                            at.data(),
                            0.0,
                            db.data_mut(),
                        )?;
                    } else {
                        // B stored k×n: dB = op(A)ᵀ·dY
                        gemm::gemm(
                            !ta,
                            false,
                            k,
                            n,
                            m,
                            1.0,
                            at.data(),
                            dy.data(),
                            0.0,
                            db.data_mut(),
                        )?;
                    }
                    acc(*b, db);
                }
            }
            Op::Linear { x, w, b } => {
                let (xt, wt) = (val(*x), val(*w));
                let (n, inp, out) = (xt.shape()[0], xt.shape()[1], wt.shape()[0]);
                if need(*x) {
                    // dx = dy·w  (N×O · O×I)
                    let mut dx = Tensor::zeros(xt.shape())?;
                    gemm::gemm(
                        false,
                        false,
                        n,
                        inp,
                        out,
                        1.0,
                        dy.data(),
                        wt.data(),
                        0.0,
                        dx.data_mut(),
                    )?;
                    acc(*x, dx);
                }
                if need(*w) {
                    // dw = dyᵀ·x  (O×N · N×I)
                    let mut dw = Tensor::zeros(wt.shape())?;
                    gemm::gemm(
                        true,
                        false,
                        out,
                        inp,
                        n,
                        1.0,
                        dy.data(),
                        xt.data(),
                        0.0,
                        dw.data_mut(),
                    )?;
                    acc(*w, dw);
                }
                if let Some(b) = b {
                    if need(*b) {
                        // db[o] = Σ_n dy[n,o]
                        let mut db = vec![0f64; out];
                        for row in dy.data().chunks_exact(out) {
                            db.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
                        }
                        let db = db.into_iter().map(|v| v as f32).collect();
                        acc(*b, Tensor::from_vec(&[out], db)?);
                    }
                }
            }
            Op::Add(a, b) => {
                if need(*a) && need(*b) {
                    acc(*a, dy.clone());
                }
                if need(*a) && !need(*b) {
                    acc(*a, dy);
                } else {
                    acc(*b, dy);
                }
            }
            Op::Sub(a, b) => {
                if need(*b) {
                    acc(*b, ew::scale(&dy, -1.0));
                }
                acc(*a, dy);
            }
            Op::Mul(a, b) => {
                if need(*a) {
                    acc(*a, ew::mul(&dy, val(*b))?);
                }
                if need(*b) {
                    acc(*b, ew::mul(&dy, val(*a))?);
                }
            }
            Op::Div(a, b) => {
                let bt = val(*b);
                if need(*b) {
                    // db = −dy·y/b
                    let mut db = zip_map(&dy, y, |d, q| -d * q);
                    db.data_mut()
                        .iter_mut()
                        .zip(bt.data())
                        .for_each(|(g, &bv)| *g /= bv);
                    acc(*b, db);
                }
                acc(*a, zip_map(&dy, bt, |d, bv| d / bv));
            }
            Op::AddBias { x, b } => {
                if need(*b) {
                    let bt = val(*b);
                    let c = bt.len();
                    let (_, _, inner) = around(y.shape(), 1);
                    let mut db = vec![0f64; c];
                    for (blk, chunk) in dy.data().chunks_exact(inner).enumerate() {
                        db[blk % c] += chunk.iter().map(|&v| v as f64).sum::<f64>();
                    }
                    let db = db.into_iter().map(|v| v as f32).collect();
                    acc(*b, Tensor::from_vec(bt.shape(), db)?);
                }
                acc(*x, dy);
            }
            Op::Scale(x, s) => acc(*x, ew::scale(&dy, *s)),
            Op::AddScalar(x) => acc(*x, dy),
            Op::Relu(x) => acc(*x, ew::relu_backward(val(*x), &dy)?),
            Op::Tanh(x) => acc(*x, ew::tanh_backward(y, &dy)?),
            Op::Sigmoid(x) => acc(*x, ew::sigmoid_backward(y, &dy)?),
            Op::Square(x) => acc(*x, ew::square_backward(val(*x), &dy)?),
            Op::Sqrt { x, eps } => {
                let mut dx = zip_map(&dy, y, |d, r| d / (2.0 * r));
                dx.data_mut()
                    .iter_mut()
                    .zip(val(*x).data())
                    .for_each(|(g, &xv)| {
                        if xv <= *eps {
                            *g = 0.0;
                        }
                    });
                acc(*x, dx);
            }
            Op::Sum(x) => acc(*x, Tensor::full(val(*x).shape(), dy.data()[0])?),
            Op::Mean(x) => {
                let xt = val(*x);
                acc(
                    *x,
                    Tensor::full(xt.shape(), dy.data()[0] / xt.len() as f32)?,
                );
            }
            Op::SumAxis { x, axis, mean } => {
                let xt = val(*x);
                let (outer, len, inner) = around(xt.shape(), *axis);
                let s = if *mean { 1.0 / len as f32 } else { 1.0 };
                let mut dx = Tensor::zeros(xt.shape())?;
                let (dd, g) = (dx.data_mut(), dy.data());
                for o in 0..outer {
                    for l in 0..len {
                        let dst = &mut dd[(o * len + l) * inner..(o * len + l + 1) * inner];
                        let src = &g[o * inner..(o + 1) * inner];
                        dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v * s);
                    }
                }
                acc(*x, dx);
            }
            Op::Reshape(x) => acc(*x, dy.reshape(val(*x).shape())?),
            Op::Concat(parts) => {
                let mut off = 0;
                for p in parts {
                    let pt = val(*p);
                    let len = pt.len();
                    if need(*p) {
                        let g = Tensor::from_vec(pt.shape(), dy.data()[off..off + len].to_vec())?;
                        acc(*p, g);
                    }
                    off += len;
                }
            }
            Op::Slice { x, start } => {
                let xt = val(*x);
                let row: usize = xt.shape()[1..].iter().product();
                let mut dx = Tensor::zeros(xt.shape())?;
                dx.data_mut()[start * row..start * row + dy.len()].copy_from_slice(dy.data());
                acc(*x, dx);
            }
            Op::BatchNorm {
                x,
                gamma,
                beta,
                xhat,
                inv_std,
                train,
            } => {
                let c = inv_std.len();
                let n = dy.len() / c.max(1);
                let (g, xh, gam) = (dy.data(), xhat.data(), val(*gamma).data());
                // per feature: Σ_n dy, Σ_n dy·x̂ (f64, fixed order)
                let mut sum_dy = vec![0f64; c];
                let mut sum_dy_xhat = vec![0f64; c];
                for r in 0..n {
                    for j in 0..c {
                        sum_dy[j] += g[r * c + j] as f64;
                        sum_dy_xhat[j] += g[r * c + j] as f64 * xh[r * c + j] as f64;
                    }
                }
                if need(*x) {
                    let mut dx = Tensor::zeros(&[n, c])?;
                    let dd = dx.data_mut();
                    for r in 0..n {
                        for j in 0..c {
                            let k = r * c + j;
                            let scale = gam[j] as f64 * inv_std[j] as f64;
                            dd[k] = if *train {
                                // (γ/(N√(σ²+ε)))·(N·dy − Σdy − x̂·Σdy·x̂): term 1, 2, 3
                                (scale / n as f64
                                    * (n as f64 * g[k] as f64
                                        - sum_dy[j]
                                        - xh[k] as f64 * sum_dy_xhat[j]))
                                    as f32
                            } else {
                                (scale * g[k] as f64) as f32
                            };
                        }
                    }
                    acc(*x, dx);
                }
                let to_t =
                    |v: Vec<f64>| Tensor::from_vec(&[c], v.into_iter().map(|x| x as f32).collect());
                acc(*gamma, to_t(sum_dy_xhat)?);
                acc(*beta, to_t(sum_dy)?);
            }
            Op::SoftmaxCrossEntropy {
                logits,
                labels,
                probs,
            } => {
                let (n, k) = (probs.shape()[0], probs.shape()[1]);
                let s = dy.data()[0] / n as f32;
                let mut dz = ew::scale(probs, s);
                for (r, &l) in labels.iter().enumerate() {
                    dz.data_mut()[r * k + l] -= s;
                }
                acc(*logits, dz);
            }
            Op::BinaryCrossEntropy { p, y: t, eps } => {
                let pt = val(*p);
                let s = dy.data()[0] / pt.len() as f32;
                let dp = zip_map(pt, t, |pv, yv| {
                    if pv <= *eps || pv >= 1.0 - *eps {
                        0.0
                    } else {
                        -s * (yv / pv - (1.0 - yv) / (1.0 - pv))
                    }
                });
                acc(*p, dp);
            }
        }
        Ok(())
    }
}
