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
//! | relu | max(x, 0) | dy · \[x > 0\] (from the input x) |
//! | tanh | tanh x | dy · (1 − y²) (from the output y) |
//! | sigmoid | σ(x) = 1/(1+e^{−x}) | dy · y(1 − y) (from the output y) |
//! | square | x² | dy · 2x |
//! | sqrt | √x | dy / (2y) (from the output y) |
//! | sqrt_guarded | √max(x, ε) | dy / (2y), 0 where x ≤ ε (from the input x and the output y) |
//! | sum | Σ x | dx_i = dy |
//! | mean | (1/n) Σ x | dx_i = dy / n |
//!
//! The maps run on `wide::f32x8` lanes (a partial tail is padded into one more vector, so
//! every element goes through the same instructions); `tanh` stays on the scalar libm `tanhf`
//! (accurate near 0, where e^{−2|x|}-based forms cancel). `sum`/`mean` accumulate in f64 over
//! eight fixed lanes, combined in a fixed order: the result never depends on thread count.
//! Element-wise kernels are memory-bound at LeNet sizes, so they are not parallelised.

/// The CUDA twin of this folder's equations (`elementwise.cu` beside this file), the fragment that
/// siamese-cuda gathers into its NVRTC program.
pub const CUDA_SOURCE: &str = include_str!("elementwise.cu");

use crate::error::{shape_err, Result};
use crate::Tensor;
use wide::f32x8;

/// x ← f(x), 8 lanes at a time; the tail goes through `f` padded with zeros.
#[inline(always)]
fn map_in_place(x: &mut [f32], f: impl Fn(f32x8) -> f32x8) {
    let mut xc = x.chunks_exact_mut(8);
    for xs in &mut xc {
        // Cannot fail: chunks_exact_mut(8) yields slices of exactly 8.
        let v: [f32; 8] = (&*xs).try_into().expect("8 lanes");
        xs.copy_from_slice(&f(f32x8::from(v)).to_array());
    }
    let xt = xc.into_remainder();
    if !xt.is_empty() {
        let mut v = [0.0f32; 8];
        v[..xt.len()].copy_from_slice(xt);
        let r = f(f32x8::from(v)).to_array();
        let n = xt.len();
        xt.copy_from_slice(&r[..n]);
    }
}

/// b ← f(a, b) for two same-length slices, 8 lanes at a time (the tail padded with zeros).
#[inline(always)]
fn zip_into(a: &[f32], b: &mut [f32], f: impl Fn(f32x8, f32x8) -> f32x8) {
    let mut ac = a.chunks_exact(8);
    let mut bc = b.chunks_exact_mut(8);
    for (xa, xb) in (&mut ac).zip(&mut bc) {
        // Cannot fail: chunks_exact(8) yields slices of exactly 8.
        let va: [f32; 8] = xa.try_into().expect("8 lanes");
        let vb: [f32; 8] = (&*xb).try_into().expect("8 lanes");
        xb.copy_from_slice(&f(f32x8::from(va), f32x8::from(vb)).to_array());
    }
    let (at, bt) = (ac.remainder(), bc.into_remainder());
    if !at.is_empty() {
        let (mut va, mut vb) = ([0.0f32; 8], [0.0f32; 8]);
        va[..at.len()].copy_from_slice(at);
        vb[..bt.len()].copy_from_slice(bt);
        let r = f(f32x8::from(va), f32x8::from(vb)).to_array();
        let n = bt.len();
        bt.copy_from_slice(&r[..n]);
    }
}

/// f(a, b) as a new tensor (same shapes).
fn zip_lanes(
    op: &'static str, a: &Tensor, b: &Tensor, f: impl Fn(f32x8, f32x8) -> f32x8,
) -> Result<Tensor> {
    same_shape(op, a, b)?;
    let mut out = b.clone();
    zip_into(a.data(), out.data_mut(), f);
    Ok(out)
}

/// f(a) as a new tensor.
fn map_lanes(a: &Tensor, f: impl Fn(f32x8) -> f32x8) -> Tensor {
    let mut out = a.clone();
    map_in_place(out.data_mut(), f);
    out
}

/// dy ← f(a, dy), 8 lanes at a time; errors (naming `op`) unless the lengths agree.
fn zip_in_place(
    op: &'static str, a: &[f32], dy: &mut [f32], f: impl Fn(f32x8, f32x8) -> f32x8,
) -> Result<()> {
    if a.len() != dy.len() {
        return Err(shape_err(
            op,
            format!("operands differ in length: {} vs {}", a.len(), dy.len()),
        ));
    }
    zip_into(a, dy, f);
    Ok(())
}

/// The tensor form of an in-place backward `f(cached, dy)`: dx = a copy of dy, updated.
fn backward_tensor(
    op: &'static str, cached: &Tensor, dy: &Tensor, f: fn(&[f32], &mut [f32]) -> Result<()>,
) -> Result<Tensor> {
    same_shape(op, cached, dy)?;
    let mut dx = dy.clone();
    f(cached.data(), dx.data_mut())?;
    Ok(dx)
}

/// σ on 8 lanes: t = e^{−|x|} never overflows; σ = 1/(1+t) for x ≥ 0, t/(1+t) for x < 0.
#[inline(always)]
fn sigmoid8(x: f32x8) -> f32x8 {
    let t = (-x.abs()).exp();
    let r = f32x8::ONE / (f32x8::ONE + t);
    x.simd_ge(f32x8::ZERO).select(r, t * r)
}

/// Errors (naming `op`) unless `a` and `b` have the same shape: the check of every
/// element-wise binary op, here and on the autodiff tape.
pub fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
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

/// a + b (same shapes).
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    zip_lanes("add", a, b, |x, y| x + y)
}

/// a − b (same shapes).
pub fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    zip_lanes("sub", a, b, |x, y| x - y)
}

/// a ⊙ b (same shapes).
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    zip_lanes("mul", a, b, |x, y| x * y)
}

/// s · a.
pub fn scale(a: &Tensor, s: f32) -> Tensor {
    map_lanes(a, |x| x * f32x8::splat(s))
}

/// max(x, 0).
pub fn relu(x: &Tensor) -> Tensor {
    map_lanes(x, |v| v.simd_gt(f32x8::ZERO).select(v, f32x8::ZERO))
}

/// x ← max(x, 0) in place, the values of [`relu`] (NaN → 0) without a new tensor: for
/// kernels that clamp their own output (the fused pools) and the device step.
pub fn relu_in_place(x: &mut [f32]) {
    x.iter_mut()
        .for_each(|v| *v = if *v > 0.0 { *v } else { 0.0 });
}

/// dy ← dy·\[x > 0\] in place (the subgradient at 0 is taken as 0). `x` may be ReLU's input
/// or its output: x > 0 exactly where max(x, 0) > 0.
pub fn relu_backward_in_place(x: &[f32], dy: &mut [f32]) -> Result<()> {
    zip_in_place("relu_backward", x, dy, |v, d| {
        v.simd_gt(f32x8::ZERO).select(d, f32x8::ZERO)
    })
}

/// dy · \[x > 0\] (see [`relu_backward_in_place`]).
pub fn relu_backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    backward_tensor("relu_backward", x, dy, relu_backward_in_place)
}

/// x ← tanh x in place (scalar libm, see the module doc).
pub fn tanh_in_place(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.tanh());
}

/// tanh x (see [`tanh_in_place`]).
pub fn tanh(x: &Tensor) -> Tensor {
    let mut y = x.clone();
    tanh_in_place(y.data_mut());
    y
}

/// dy ← dy·(1 − y²) in place, with y = tanh x cached by forward.
pub fn tanh_backward_in_place(y: &[f32], dy: &mut [f32]) -> Result<()> {
    zip_in_place("tanh_backward", y, dy, |t, d| d * (f32x8::ONE - t * t))
}

/// dy · (1 − y²) (see [`tanh_backward_in_place`]).
pub fn tanh_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    backward_tensor("tanh_backward", y, dy, tanh_backward_in_place)
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

/// x ← σ(x) in place (numerically stable, 8 lanes at a time; see [`sigmoid_scalar`]).
pub fn sigmoid_in_place(x: &mut [f32]) {
    map_in_place(x, sigmoid8);
}

/// σ(x) element-wise (see [`sigmoid_in_place`]).
pub fn sigmoid(x: &Tensor) -> Tensor {
    map_lanes(x, sigmoid8)
}

/// dy ← dy·y(1 − y) in place, with y = σ(x) cached by forward.
pub fn sigmoid_backward_in_place(y: &[f32], dy: &mut [f32]) -> Result<()> {
    zip_in_place("sigmoid_backward", y, dy, |s, d| d * s * (f32x8::ONE - s))
}

/// dy · y(1 − y) (see [`sigmoid_backward_in_place`]).
pub fn sigmoid_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    backward_tensor("sigmoid_backward", y, dy, sigmoid_backward_in_place)
}

/// x².
pub fn square(x: &Tensor) -> Tensor {
    map_lanes(x, |v| v * v)
}

/// dy · 2x.
pub fn square_backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    zip_lanes("square_backward", x, dy, |v, d| f32x8::splat(2.0) * v * d)
}

/// √x (NaN for x < 0, as f32::sqrt).
pub fn sqrt(x: &Tensor) -> Tensor {
    map_lanes(x, |v| v.sqrt())
}

/// dy / (2y), with y = √x cached by forward; infinite at y = 0 (callers guard with an ε).
pub fn sqrt_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    zip_lanes("sqrt_backward", y, dy, |s, d| d / (f32x8::splat(2.0) * s))
}

/// Guarded square root y = √max(x, ε), Keras' `sqrt(maximum(s, ε))` (ε = 1e-7 there): the
/// comparison module's √ of a squared distance. ε = 0 gives √x for x ≥ 0 (and 0 for x < 0 or
/// NaN: `f32::max` returns ε for NaN). The guard keeps y ≥ √ε, so for ε > 0 the backward
/// never divides by zero.
pub fn sqrt_guarded(x: &Tensor, eps: f32) -> Tensor {
    let mut y = x.clone();
    // The clamp is scalar (f32::max: NaN → ε), the √ runs on lanes like [`sqrt`].
    y.data_mut().iter_mut().for_each(|v| *v = v.max(eps));
    map_in_place(y.data_mut(), |v| v.sqrt());
    y
}

/// Backward of [`sqrt_guarded`]: dx = dy/(2y) ([`sqrt_backward`], from the output y), except
/// 0 where x ≤ ε, since below ε the guard is flat (at x = ε the subgradient 0 is taken; with
/// ε = 0 that is also the subgradient of √ at 0).
pub fn sqrt_guarded_backward(x: &Tensor, y: &Tensor, dy: &Tensor, eps: f32) -> Result<Tensor> {
    same_shape("sqrt_guarded_backward", x, y)?;
    let mut dx = sqrt_backward(y, dy)?;
    for (d, &xv) in dx.data_mut().iter_mut().zip(x.data()) {
        if xv <= eps {
            *d = 0.0;
        }
    }
    Ok(dx)
}

/// Σ x in f64 over eight fixed lanes (lane l takes elements ≡ l mod 8, the tail goes to
/// lanes 0..), lanes combined pairwise in a fixed order.
fn sum_f64(x: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut c = x.chunks_exact(8);
    for ch in &mut c {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += v as f64;
        }
    }
    for (a, &v) in acc.iter_mut().zip(c.remainder()) {
        *a += v as f64;
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// Σ x (f64 accumulation in a fixed order, so the result never depends on thread count).
/// Backward: dx_i = dy.
pub fn sum(x: &Tensor) -> f32 {
    sum_f64(x.data()) as f32
}

/// (1/n) Σ x (f64 accumulation, fixed order); 0 for an empty tensor. Backward: dx_i = dy/n.
pub fn mean(x: &Tensor) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (sum_f64(x.data()) / x.len() as f64) as f32
}

/// The specification: plain scalar loops (sum and mean in f64, index order).
pub mod reference {
    use super::sigmoid_scalar;
    use crate::error::{shape_err, Result};
    use crate::Tensor;

    fn zip_map(
        op: &'static str, a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32,
    ) -> Result<Tensor> {
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
        // Cannot fail: one value per element of `a`, for `a`'s own shape.
        Tensor::from_vec(a.shape(), data).expect("same length as its source")
    }

    /// a + b.
    pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
        zip_map("add", a, b, |x, y| x + y)
    }
    /// a − b.
    pub fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
        zip_map("sub", a, b, |x, y| x - y)
    }
    /// a ⊙ b.
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
    /// dy · \[x > 0\].
    pub fn relu_backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
        zip_map("relu_backward", x, dy, |v, d| if v > 0.0 { d } else { 0.0 })
    }
    /// tanh x.
    pub fn tanh(x: &Tensor) -> Tensor {
        map(x, f32::tanh)
    }
    /// dy · (1 − y²).
    pub fn tanh_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        zip_map("tanh_backward", y, dy, |t, d| d * (1.0 - t * t))
    }
    /// σ(x), scalar and stable.
    pub fn sigmoid(x: &Tensor) -> Tensor {
        map(x, sigmoid_scalar)
    }
    /// dy · y(1 − y).
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
    /// √x.
    pub fn sqrt(x: &Tensor) -> Tensor {
        map(x, f32::sqrt)
    }
    /// dy / (2y).
    pub fn sqrt_backward(y: &Tensor, dy: &Tensor) -> Result<Tensor> {
        zip_map("sqrt_backward", y, dy, |s, d| d / (2.0 * s))
    }
    /// √max(x, ε).
    pub fn sqrt_guarded(x: &Tensor, eps: f32) -> Tensor {
        map(x, |v| v.max(eps).sqrt())
    }
    /// dy / (2y), except 0 where x ≤ ε.
    pub fn sqrt_guarded_backward(x: &Tensor, y: &Tensor, dy: &Tensor, eps: f32) -> Result<Tensor> {
        let dx = zip_map("sqrt_guarded_backward", y, dy, |s, d| d / (2.0 * s))?;
        zip_map("sqrt_guarded_backward", x, &dx, |v, d| {
            if v <= eps {
                0.0
            } else {
                d
            }
        })
    }
    /// Σ x in f64, index order.
    pub fn sum(x: &Tensor) -> f32 {
        x.data().iter().map(|&v| v as f64).sum::<f64>() as f32
    }
    /// (1/n) Σ x in f64, index order; 0 when empty.
    pub fn mean(x: &Tensor) -> f32 {
        if x.is_empty() {
            return 0.0;
        }
        (x.data().iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// √max(x, ε) at, below and above ε, and its backward: flat (0) at and below ε, 1/(2y)
    /// elsewhere (0.25 at x = 4); NaN clamps to ε in forward, as f32::max does, and is not
    /// ≤ ε in backward (1/(2y)).
    #[test]
    fn guarded_sqrt_and_its_backward() {
        let x = Tensor::from_vec(&[5], vec![0.0, 1e-9, 1e-6, 4.0, f32::NAN]).unwrap();
        let y = sqrt_guarded(&x, 1e-6);
        assert_eq!(y.data(), &[1e-3, 1e-3, 1e-3, 2.0, 1e-3]);
        let dy = Tensor::from_vec(&[5], vec![1.0; 5]).unwrap();
        let dx = sqrt_guarded_backward(&x, &y, &dy, 1e-6).unwrap();
        assert_eq!(dx.data(), &[0.0, 0.0, 0.0, 0.25, 1.0 / (2.0 * y.data()[4])]);
        // ε = 0 is the plain √, with the subgradient 0 at x = 0 instead of 1/0.
        let x0 = Tensor::from_vec(&[2], vec![0.0, 9.0]).unwrap();
        let y0 = sqrt_guarded(&x0, 0.0);
        assert_eq!(y0.data(), &[0.0, 3.0]);
        let dy0 = Tensor::from_vec(&[2], vec![1.0, 3.0]).unwrap();
        let dx0 = sqrt_guarded_backward(&x0, &y0, &dy0, 0.0).unwrap();
        assert_eq!(dx0.data(), &[0.0, 0.5]);
        assert!(sqrt_guarded_backward(&x0, &y, &dy, 0.0).is_err());
    }
}
