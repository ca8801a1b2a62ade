//! Element-wise ops on the tape: binary (add, sub, mul, div on equal shapes) and unary
//! (scale, add_scalar, relu, tanh, sigmoid, square, the guarded sqrt). Forward and backward
//! call `siamese_tensor::ops::elementwise` where it has the op.

use siamese_tensor::ops::elementwise as ew;
use siamese_tensor::Tensor;

use super::{map, zip_map, Tape, Var};
use crate::error::Result;

/// An element-wise forward kernel, y = f(x).
type Forward = fn(&Tensor) -> Tensor;
/// Its backward kernel, dx = df(x or y, dy).
type BackwardKernel = fn(&Tensor, &Tensor) -> siamese_tensor::Result<Tensor>;

/// Which value an element-wise backward kernel reads besides dy.
#[derive(Clone, Copy)]
enum Reads {
    /// The input x (relu, square).
    Input,
    /// The output y (tanh, sigmoid).
    Output,
}

impl Tape {
    // ---------------------------------------------------------------- binary

    /// y = a + b (same shapes); backward: da = dy, db = dy.
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        let y = ew::add(self.value(a)?, self.value(b)?)?;
        Ok(self.push(y, &[a, b], move |g, _, dy| {
            // dy moves into the one input that needs it; it is copied only when both do.
            if g.needs(a) && g.needs(b) {
                g.add(a, dy.clone());
            }
            g.add(if g.needs(b) { b } else { a }, dy);
            Ok(())
        }))
    }

    /// y = a − b (same shapes); backward: da = dy, db = −dy.
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        let y = ew::sub(self.value(a)?, self.value(b)?)?;
        Ok(self.push(y, &[a, b], move |g, _, dy| {
            if g.needs(b) {
                g.add(b, ew::scale(&dy, -1.0));
            }
            g.add(a, dy);
            Ok(())
        }))
    }

    /// y = a ⊙ b (same shapes); backward: da = dy ⊙ b, db = dy ⊙ a.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        let y = ew::mul(self.value(a)?, self.value(b)?)?;
        Ok(self.push(y, &[a, b], move |g, _, dy| {
            if g.needs(a) {
                g.add(a, ew::mul(&dy, g.value(b))?);
            }
            if g.needs(b) {
                g.add(b, ew::mul(&dy, g.value(a))?);
            }
            Ok(())
        }))
    }

    /// y = a / b (same shapes; the caller keeps b away from 0);
    /// backward: da = dy / b, db = −dy·a/b² = −dy·y/b (from the output y).
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var> {
        let (at, bt) = (self.value(a)?, self.value(b)?);
        ew::same_shape("div", at, bt)?;
        let y = zip_map(at, bt, |x, y| x / y);
        Ok(self.push(y, &[a, b], move |g, y, dy| {
            let bt = g.value(b);
            if g.needs(b) {
                // db = −dy·y/b
                let mut db = zip_map(&dy, y, |d, q| -d * q);
                db.data_mut()
                    .iter_mut()
                    .zip(bt.data())
                    .for_each(|(d, &bv)| *d /= bv);
                g.add(b, db);
            }
            g.add(a, zip_map(&dy, bt, |d, bv| d / bv));
            Ok(())
        }))
    }

    // ---------------------------------------------------------------- unary

    /// y = s·x; backward: dx = s·dy.
    pub fn scale(&mut self, x: Var, s: f32) -> Result<Var> {
        let y = ew::scale(self.value(x)?, s);
        Ok(self.unary(x, y, move |_, _, dy| Ok(ew::scale(&dy, s))))
    }

    /// y = x + c for a constant c; backward: dx = dy.
    pub fn add_scalar(&mut self, x: Var, c: f32) -> Result<Var> {
        let y = map(self.value(x)?, |v| v + c);
        Ok(self.unary(x, y, |_, _, dy| Ok(dy)))
    }

    /// y = max(0, x) (ReLU; also the `max(margin − d, 0)` of the contrastive loss);
    /// backward: `dx = dy·[x > 0]` (subgradient 0 at x = 0).
    pub fn relu(&mut self, x: Var) -> Result<Var> {
        self.activation(x, ew::relu, ew::relu_backward, Reads::Input)
    }

    /// y = tanh x; backward: dx = dy·(1 − y²), from the output y.
    pub fn tanh(&mut self, x: Var) -> Result<Var> {
        self.activation(x, ew::tanh, ew::tanh_backward, Reads::Output)
    }

    /// y = σ(x) = 1/(1 + e^{−x}); backward: dx = dy·y(1 − y), from the output y.
    pub fn sigmoid(&mut self, x: Var) -> Result<Var> {
        self.activation(x, ew::sigmoid, ew::sigmoid_backward, Reads::Output)
    }

    /// y = x²; backward: dx = 2x·dy.
    pub fn square(&mut self, x: Var) -> Result<Var> {
        self.activation(x, ew::square, ew::square_backward, Reads::Input)
    }

    /// Records y = f(x) for an element-wise kernel pair of siamese-tensor, whose backward
    /// dx = df(·, dy) reads either the input x or the output y.
    fn activation(&mut self, x: Var, f: Forward, df: BackwardKernel, reads: Reads) -> Result<Var> {
        let y = f(self.value(x)?);
        Ok(self.unary(x, y, move |x, y, dy| {
            let cached = match reads {
                Reads::Input => x,
                Reads::Output => y,
            };
            Ok(df(cached, &dy)?)
        }))
    }

    /// Guarded square root y = √max(x, ε); backward: dx = dy/(2y), except 0 where x ≤ ε
    /// (`ops::elementwise::sqrt_guarded` and its backward).
    ///
    /// The guard keeps y ≥ √ε > 0, so the derivative 1/(2y) never divides by zero: at a
    /// distance of exactly 0 (two identical embeddings) plain √ has an infinite slope. Below
    /// ε the op is flat, as `sqrt(maximum(s, ε))` in Keras (ε = 1e-7 there). ε = 0 gives the
    /// unguarded √x, with the subgradient 0 taken at x = 0.
    pub fn sqrt(&mut self, x: Var, eps: f32) -> Result<Var> {
        let y = ew::sqrt_guarded(self.value(x)?, eps);
        Ok(self.unary(x, y, move |x, y, dy| {
            Ok(ew::sqrt_guarded_backward(x, y, &dy, eps)?)
        }))
    }
}
