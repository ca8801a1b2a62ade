//! Element-wise maps and reductions, each with its derivative. Backward functions take the
//! upstream gradient `dy` and whatever forward cached (the input x or the output y) and
//! return dx = dy ⊙ f'(·).
//!
//! | op | forward | derivative used by backward |
//! |---|---|---|
//! | add | a + b | da = dy, db = dy |
//! | sub | a − b | da = dy, db = −dy |
//! | mul | a ⊙ b | da = dy ⊙ b, db = dy ⊙ a |
//! | scale | s·a | da = s·dy |
//! | relu | max(x, 0) | dy · [x > 0] (from the input x) |
//! | tanh | tanh x | dy · (1 − y²) (from the output y) |
//! | sigmoid | σ(x) = 1/(1+e^{−x}) | dy · y(1 − y) (from the output y) |
//! | square | x² | dy · 2x |
//! | sqrt | √x | dy / (2y) (from the output y) |
//! | sum | Σ x | dx_i = dy |
//! | mean | (1/n) Σ x | dx_i = dy / n |

use crate::error::{shape_err, Result};
use crate::Tensor;

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(shape_err(
            op,
            format!(
                "operands differ in shape: {:?} vs {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    Ok(())
}

fn zip_map(
    op: &'static str,
    a: &Tensor,
    b: &Tensor,
    f: impl Fn(f32, f32) -> f32,
) -> Result<Tensor> {
    same_shape(op, a, b)?;
    let data = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(&x, &y)| f(x, y))
        .collect();
    Tensor::from_vec(a.shape(), data)
}

fn map(a: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    let data = a.data().iter().map(|&x| f(x)).collect();
    Tensor::from_vec(a.shape(), data).expect("same length as its source")
}

/// a + b (same shapes).
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    zip_map("add", a, b, |x, y| x + y)
}

/// a − b (same shapes).
pub fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    zip_map("sub", a, b, |x, y| x - y)
}

/// a ⊙ b (same shapes).
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    zip_map("mul", a, b, |x, y| x * y)
}

/// s · a.
pub fn scale(a: &Tensor, s: f32) -> Tensor {
    map(a, |x| s * x)
}

/// max(x, 0).
pub fn relu(x: &Tensor) -> Tensor {
    map(x, |v| if v > 0.0 { v } else { 0.0 })
}

/// dy · [x > 0] (the subgradient at 0 is taken as 0).
pub fn relu_backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    zip_map("relu_backward", x, dy, |v, d| if v > 0.0 { d } else { 0.0 })
}

/// tanh x.
pub fn tanh(x: &Tensor) -> Tensor {
    map(x, f32::tanh)
}

/// dy · (1 − y²), with y = tanh x cached by forward.
pub fn tanh_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    zip_map("tanh_backward", y, dy, |t, d| d * (1.0 - t * t))
}

/// σ(x) = 1/(1+e^{−x}), computed without overflow: for x < 0 as e^{x}/(1+e^{x}).
pub fn sigmoid_scalar(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// σ(x) element-wise (numerically stable, see [`sigmoid_scalar`]).
pub fn sigmoid(x: &Tensor) -> Tensor {
    map(x, sigmoid_scalar)
}

/// dy · y(1 − y), with y = σ(x) cached by forward.
pub fn sigmoid_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    zip_map("sigmoid_backward", y, dy, |s, d| d * s * (1.0 - s))
}

/// x².
pub fn square(x: &Tensor) -> Tensor {
    map(x, |v| v * v)
}

/// dy · 2x.
pub fn square_backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    zip_map("square_backward", x, dy, |v, d| 2.0 * v * d)
}

/// √x (NaN for x < 0, as f32::sqrt).
pub fn sqrt(x: &Tensor) -> Tensor {
    map(x, f32::sqrt)
}

/// dy / (2y), with y = √x cached by forward; infinite at y = 0 (callers guard with an ε).
pub fn sqrt_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    zip_map("sqrt_backward", y, dy, |s, d| d / (2.0 * s))
}

/// Σ x, accumulated in f64 in index order (so the result never depends on thread count).
pub fn sum(x: &Tensor) -> f32 {
    x.data().iter().map(|&v| v as f64).sum::<f64>() as f32
}

/// (1/n) Σ x, accumulated in f64; 0 for an empty tensor.
pub fn mean(x: &Tensor) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.data().iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64) as f32
}
