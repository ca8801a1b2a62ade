//! Reductions and shape ops on the tape: sum and mean (whole tensor or one axis), reshape,
//! flatten, and concat / slice / split along the batch axis (how the A and B images of a
//! batch of pairs go through one batched forward). Plain loops; reductions accumulate in f64
//! in index order, so the result does not depend on the thread count.

use siamese_tensor::ops::elementwise as ew;
use siamese_tensor::Tensor;

use super::{around, Tape, Var};
use crate::error::{shape_err, Result};

impl Tape {
    // ---------------------------------------------------------------- reductions

    /// y = Σ_i x_i (a scalar, f64 accumulation in index order); backward: dx_i = dy.
    pub fn sum(&mut self, x: Var) -> Result<Var> {
        let y = Tensor::scalar(ew::sum(self.value(x)?));
        Ok(self.unary(x, y, |x, _, dy| Ok(Tensor::full(x.shape(), dy.data()[0])?)))
    }

    /// y = (1/n) Σ_i x_i (a scalar); backward: dx_i = dy/n.
    pub fn mean(&mut self, x: Var) -> Result<Var> {
        let y = Tensor::scalar(ew::mean(self.value(x)?));
        Ok(self.unary(x, y, |x, _, dy| {
            Ok(Tensor::full(x.shape(), dy.data()[0] / x.len() as f32)?)
        }))
    }

    /// y[o,i] = s·Σ_l x[o,l,i] over `axis` (s = 1, or 1/L for the mean);
    /// backward: dx[o,l,i] = s·dy[o,i].
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
        Ok(self.unary(x, y, move |x, _, dy| {
            let s = if mean { 1.0 / len as f32 } else { 1.0 };
            let mut dx = Tensor::zeros(x.shape())?;
            let (dd, g) = (dx.data_mut(), dy.data());
            for o in 0..outer {
                for l in 0..len {
                    let dst = &mut dd[(o * len + l) * inner..(o * len + l + 1) * inner];
                    let src = &g[o * inner..(o + 1) * inner];
                    dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v * s);
                }
            }
            Ok(dx)
        }))
    }

    /// Sum over one axis, which disappears: `y[o,i] = Σ_l x[o,l,i]` (f64, fixed order);
    /// backward: `dx[o,l,i] = dy[o,i]`.
    pub fn sum_axis(&mut self, x: Var, axis: usize) -> Result<Var> {
        self.reduce_axis(x, axis, false)
    }

    /// Mean over one axis, which disappears: `y[o,i] = (1/L) Σ_l x[o,l,i]`;
    /// backward: `dx[o,l,i] = dy[o,i]/L`.
    pub fn mean_axis(&mut self, x: Var, axis: usize) -> Result<Var> {
        self.reduce_axis(x, axis, true)
    }

    // ---------------------------------------------------------------- shapes

    /// The same values under another shape (same element count); backward reshapes dy back.
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Result<Var> {
        let y = self.value(x)?.clone().reshape(shape)?;
        Ok(self.unary(x, y, |x, _, dy| Ok(dy.reshape(x.shape())?)))
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
        let owned = parts.to_vec();
        Ok(self.push(y, parts, move |g, _, dy| {
            let mut off = 0;
            for &p in &owned {
                let pt = g.value(p);
                let len = pt.len();
                if g.needs(p) {
                    let part = Tensor::from_vec(pt.shape(), dy.data()[off..off + len].to_vec())?;
                    g.add(p, part);
                }
                off += len;
            }
            Ok(())
        }))
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
        Ok(self.unary(x, y, move |x, _, dy| {
            let mut dx = Tensor::zeros(x.shape())?;
            dx.data_mut()[start * row..start * row + dy.len()].copy_from_slice(dy.data());
            Ok(dx)
        }))
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
}
