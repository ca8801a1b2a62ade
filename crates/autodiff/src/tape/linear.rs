//! Matrix products on the tape: `matmul`, the fully-connected `linear` (and `linear_relu`, the
//! same with its ReLU fused in), and the bias broadcast `add_bias`. Every product, forward and
//! backward, is `siamese_tensor::ops::gemm`.

use siamese_tensor::ops::{elementwise, gemm};
use siamese_tensor::Tensor;

use super::{around, Grads, Tape, Var};
use crate::error::{shape_err, Result};

/// Backward of Y = op(A)·op(B) (m×n, inner size k): each operand's gradient, in its own
/// storage layout, is a product of dY with the other operand:
/// A stored m×k: dA = dY·op(B)ᵀ; A stored k×m (`ta`): dA = op(B)·dYᵀ;
/// B stored k×n: dB = op(A)ᵀ·dY; B stored n×k (`tb`): dB = dYᵀ·op(A).
fn matmul_backward(
    g: &mut Grads<'_>, (a, ta): (Var, bool), (b, tb): (Var, bool), dy: &Tensor,
) -> Result<()> {
    let (at, bt) = (g.value(a), g.value(b));
    if g.needs(a) {
        let da = if ta {
            gemm::matmul(bt, dy, tb, true)?
        } else {
            gemm::matmul(dy, bt, false, !tb)?
        };
        g.add(a, da);
    }
    if g.needs(b) {
        let db = if tb {
            gemm::matmul(dy, at, true, ta)?
        } else {
            gemm::matmul(at, dy, !ta, false)?
        };
        g.add(b, db);
    }
    Ok(())
}

/// Backward of a bias broadcast along axis 1 (y[n,c,…] = … + b[c]):
/// db[c] = Σ_{n,…} dy[n,c,…], accumulated in f64 in index order, shaped like the bias.
fn bias_grad(dy: &Tensor, bias_shape: &[usize]) -> Result<Tensor> {
    let c: usize = bias_shape.iter().product();
    let (_, _, inner) = around(dy.shape(), 1);
    let mut db = vec![0f64; c];
    if c * inner > 0 {
        for sample in dy.data().chunks_exact(c * inner) {
            for (s, chunk) in db.iter_mut().zip(sample.chunks_exact(inner)) {
                *s += chunk.iter().map(|&v| v as f64).sum::<f64>();
            }
        }
    }
    let db = db.into_iter().map(|v| v as f32).collect();
    Ok(Tensor::from_vec(bias_shape, db)?)
}

impl Tape {
    /// Y = op(A)·op(B) for 2-D A, B (op = identity or transpose);
    /// backward: d op(A) = dY·op(B)ᵀ, d op(B) = op(A)ᵀ·dY (transposed back to A's and B's
    /// storage), all through `ops::gemm`. Caches nothing.
    pub fn matmul(&mut self, a: Var, b: Var, trans_a: bool, trans_b: bool) -> Result<Var> {
        let y = gemm::matmul(self.value(a)?, self.value(b)?, trans_a, trans_b)?;
        Ok(self.push(y, &[a, b], move |g, _, dy| {
            matmul_backward(g, (a, trans_a), (b, trans_b), &dy)
        }))
    }

    /// Fully-connected layer, PyTorch layout: x: N×I, w: O×I, b: O,
    /// y = x·wᵀ + b (`y[n,o] = b[o] + Σ_i x[n,i]·w[o,i]`);
    /// backward: dx = dy·w, dw = dyᵀ·x, `db[o] = Σ_n dy[n,o]`: both directions are
    /// `siamese_tensor::ops::gemm::{linear_forward, linear_backward}`. Caches nothing.
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        self.dense(x, w, b, false)
    }

    /// [`Tape::linear`] then ReLU as one op: y = max(x·wᵀ + b, 0), the ReLU applied to y in
    /// place right after the GEMM (no second node, no second tensor); backward: dy ← dy·\[y > 0\]
    /// (`ops::elementwise::relu_backward_in_place`, which reads y as well as x), then the dense
    /// layer's backward. The same values and gradients as `linear` followed by `relu`.
    pub fn linear_relu(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        self.dense(x, w, b, true)
    }

    /// [`Tape::linear`], followed by ReLU in place when `relu`.
    fn dense(&mut self, x: Var, w: Var, b: Option<Var>, relu: bool) -> Result<Var> {
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
        let bt = self.opt_value(b)?;
        let mut y = Tensor::zeros(&[n, o])?;
        gemm::linear_forward(
            n,
            i,
            o,
            xt.data(),
            wt.data(),
            bt.map(|t| t.data()),
            y.data_mut(),
        )?;
        if relu {
            elementwise::relu_in_place(y.data_mut());
        }
        let mut ins = vec![x, w];
        ins.extend(b);
        Ok(self.push(y, &ins, move |g, y, mut dy| {
            if relu {
                elementwise::relu_backward_in_place(y.data(), dy.data_mut())?;
            }
            let (xt, wt) = (g.value(x), g.value(w));
            let mut dx = g.needs(x).then(|| Tensor::zeros(xt.shape())).transpose()?;
            let mut dw = g.needs(w).then(|| Tensor::zeros(wt.shape())).transpose()?;
            let bias = b.filter(|&b| g.needs(b));
            let mut db = bias.map(|_| Tensor::zeros(&[o])).transpose()?;
            let grads = gemm::LinearGrads {
                dx: dx.as_mut().map(|t| t.data_mut()),
                dw: dw.as_mut().map(|t| t.data_mut()),
                db: db.as_mut().map(|t| t.data_mut()),
            };
            gemm::linear_backward(n, i, o, xt.data(), wt.data(), dy.data(), grads)?;
            if let Some(dx) = dx {
                g.add(x, dx);
            }
            if let Some(dw) = dw {
                g.add(w, dw);
            }
            if let (Some(b), Some(db)) = (bias, db) {
                let shape = g.value(b).shape().to_vec();
                g.add(b, db.reshape(&shape)?);
            }
            Ok(())
        }))
    }

    /// Bias broadcast along axis 1: x: N×C(×…), b: C, `y[n,c,…] = x[n,c,…] + b[c]`;
    /// backward: dx = dy, `db[c] = Σ_{n,…} dy[n,c,…]` (in f64, fixed order). Caches nothing.
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
        // An empty trailing axis (inner = 0) has nothing to add to.
        for (blk, chunk) in y.data_mut().chunks_exact_mut(inner.max(1)).enumerate() {
            let bias = bt.data()[blk % c];
            chunk.iter_mut().for_each(|v| *v += bias);
        }
        Ok(self.push(y, &[x, b], move |g, _, dy| {
            if g.needs(b) {
                let db = bias_grad(&dy, g.value(b).shape())?;
                g.add(b, db);
            }
            g.add(x, dy);
            Ok(())
        }))
    }
}
