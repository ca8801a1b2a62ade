//! The specification of the pooling kernels: the module doc's formulas as plain loops.

use super::Pool2dGeom;
use crate::error::{shape_err, Result};
use crate::Tensor;

/// Naive max-pool forward.
pub fn max_pool2d_forward(x: &Tensor, k: usize, stride: usize) -> Result<(Tensor, Vec<u32>)> {
    let g = Pool2dGeom::new(x.shape(), k, stride)?;
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut y = Tensor::zeros(&g.out_shape())?;
    let mut arg = vec![0u32; y.len()];
    let xd = x.data();
    for nc in 0..g.n * g.c {
        for i in 0..oh {
            for j in 0..ow {
                let mut best = f32::NEG_INFINITY;
                let mut at = usize::MAX;
                for u in 0..k {
                    for v in 0..k {
                        let o = (nc * g.h + i * stride + u) * g.w + j * stride + v;
                        let val = xd[o];
                        // First element, a strictly larger one, or a NaN (which then
                        // propagates, as in PyTorch). Ties keep the first.
                        if at == usize::MAX || val > best || (val.is_nan() && !best.is_nan()) {
                            best = val;
                            at = o;
                        }
                    }
                }
                let out = (nc * oh + i) * ow + j;
                y.data_mut()[out] = best;
                arg[out] = at as u32;
            }
        }
    }
    Ok((y, arg))
}

/// Naive max-pool backward.
pub fn max_pool2d_backward(dy: &Tensor, argmax: &[u32], x_shape: &[usize]) -> Result<Tensor> {
    if argmax.len() != dy.len() {
        return Err(shape_err(
            "max_pool2d_backward",
            format!("{} argmax indices for {} gradients", argmax.len(), dy.len()),
        ));
    }
    let mut dx = Tensor::zeros(x_shape)?;
    for (&a, &d) in argmax.iter().zip(dy.data()) {
        let slot = dx.data_mut().get_mut(a as usize).ok_or_else(|| {
            shape_err(
                "max_pool2d_backward",
                format!("argmax index {a} outside input {x_shape:?}"),
            )
        })?;
        *slot += d;
    }
    Ok(dx)
}

/// Naive average-pool forward.
pub fn avg_pool2d_forward(x: &Tensor, k: usize, stride: usize) -> Result<Tensor> {
    let g = Pool2dGeom::new(x.shape(), k, stride)?;
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut y = Tensor::zeros(&g.out_shape())?;
    let xd = x.data();
    let inv = 1.0 / (k * k) as f64;
    for nc in 0..g.n * g.c {
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = 0.0f64;
                for u in 0..k {
                    for v in 0..k {
                        acc += xd[(nc * g.h + i * stride + u) * g.w + j * stride + v] as f64;
                    }
                }
                y.data_mut()[(nc * oh + i) * ow + j] = (acc * inv) as f32;
            }
        }
    }
    Ok(y)
}

/// Naive average-pool backward.
pub fn avg_pool2d_backward(
    dy: &Tensor, x_shape: &[usize], k: usize, stride: usize,
) -> Result<Tensor> {
    let g = Pool2dGeom::new(x_shape, k, stride)?;
    g.check_dy(dy)?;
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut dx = Tensor::zeros(x_shape)?;
    let inv = 1.0 / (k * k) as f32;
    for nc in 0..g.n * g.c {
        for i in 0..oh {
            for j in 0..ow {
                let d = dy.data()[(nc * oh + i) * ow + j] * inv;
                for u in 0..k {
                    for v in 0..k {
                        dx.data_mut()[(nc * g.h + i * stride + u) * g.w + j * stride + v] += d;
                    }
                }
            }
        }
    }
    Ok(dx)
}
