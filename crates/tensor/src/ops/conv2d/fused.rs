//! The fused LeNet block conv → ReLU → 2×2 max-pool, forward and backward: the direct kernel
//! pools straight from each sample's output plane, and the backward builds each sample's conv
//! gradient in a worker's buffer; other shapes take the unfused composition.

use rayon::prelude::*;

use super::{backward_impl, conv2d_forward, direct, resolve, Conv2dGeom, ConvAlgo, DySrc};
use crate::error::{shape_err, Result};
use crate::Tensor;

/// The fused LeNet block, stride 1: y = max(maxpool₂ₓ₂(conv2d(x, w) + b), 0), i.e.
/// y\[n,k,i,j\] = max(max_{u,v<2} c[n,k,2i+u,2j+v], 0) with c the convolution of the module
/// doc; y is N×K×⌊OH/2⌋×⌊OW/2⌋. Returns y and, per output, the flat index into the
/// (never stored) N×K×OH×OW conv output c of its window's first maximum, exactly what
/// `conv2d_forward` then [`crate::ops::pool::relu_max_pool2d_forward`] return, with the same
/// values. The direct kernel pools straight from its per-sample output plane, so the
/// batch-size conv output is neither allocated nor written nor read back; other shapes
/// take that unfused composition.
pub fn conv2d_relu_maxpool_forward(
    x: &Tensor, w: &Tensor, b: Option<&Tensor>, pad: usize,
) -> Result<(Tensor, Vec<u32>)> {
    let g = Conv2dGeom::new(x.shape(), w.shape(), 1, pad)?;
    g.check_bias(b.map(|b| b.len()))?;
    let (oh, ow) = (g.out_h(), g.out_w());
    let conv_len: usize = g.out_shape().iter().product();
    if oh < 2 || ow < 2 || conv_len > u32::MAX as usize {
        return Err(shape_err(
            "conv2d_relu_maxpool_forward",
            format!(
                "conv output {:?} must be at least 2×2 per plane and index in u32",
                g.out_shape()
            ),
        ));
    }
    if resolve(ConvAlgo::Auto, &g) != ConvAlgo::Direct {
        let c = conv2d_forward(x, w, b, 1, pad)?;
        return crate::ops::pool::relu_max_pool2d_forward(&c, 2, 2);
    }
    let per_p = g.k * (oh / 2) * (ow / 2);
    let mut y = Tensor::zeros(&[g.n, g.k, oh / 2, ow / 2])?;
    let mut arg = vec![0u32; y.len()];
    if per_p == 0 {
        return Ok((y, arg));
    }
    let per_x = g.c * g.h * g.w;
    let (xd, bd) = (x.data(), b.map(|b| b.data()));
    let plan = direct::Plan::forward(&g, w.data());
    y.data_mut()
        .par_chunks_mut(per_p)
        .zip(arg.par_chunks_mut(per_p))
        .enumerate()
        .for_each_init(
            || plan.scratch(),
            |s, (n, (yn, an))| {
                let base = (n * g.k * oh * ow) as u32;
                plan.forward_sample_relu_pool(s, &xd[n * per_x..][..per_x], bd, yn, an, base);
            },
        );
    Ok((y, arg))
}

/// Backward of [`conv2d_relu_maxpool_forward`] given dy of its output y: the conv-output
/// gradient dc[argmax\[o\]] += dy\[o\]·[y\[o\] > 0] (pool and ReLU backward), then the conv
/// backward of the module doc on dc (dx only when `need_dx`). dc is built one sample at a
/// time in a worker's buffer, never as a batch-size tensor. Returns (dx, dw, db), equal to
/// [`crate::ops::pool::relu_max_pool2d_backward`] followed by
/// [`conv2d_backward`](super::conv2d_backward).
pub fn conv2d_relu_maxpool_backward(
    x: &Tensor, w: &Tensor, y: &Tensor, argmax: &[u32], dy: &Tensor, pad: usize, need_dx: bool,
) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    let g = Conv2dGeom::new(x.shape(), w.shape(), 1, pad)?;
    let (oh, ow) = (g.out_h(), g.out_w());
    let pooled = [g.n, g.k, oh / 2, ow / 2];
    let per_p = g.k * (oh / 2) * (ow / 2);
    // That every argmax lies inside its own sample's conv output is checked where each
    // sample's dy is built (DySrc::sample), inside the parallel region: a serial pass here
    // touched every argmax of the batch on one thread.
    if y.shape() != pooled || dy.shape() != pooled || argmax.len() != y.len() {
        return Err(shape_err(
            "conv2d_relu_maxpool_backward",
            format!(
                "y {:?}, dy {:?} and {} argmax entries must match the pooled shape {pooled:?}",
                y.shape(),
                dy.shape(),
                argmax.len()
            ),
        ));
    }
    let src = DySrc::Pooled {
        dy: dy.data(),
        y: y.data(),
        argmax,
        per_p,
    };
    let mut dx = if need_dx {
        Some(Tensor::zeros(x.shape())?)
    } else {
        None
    };
    let dxs = dx.as_mut().map(|d| d.data_mut());
    let (dw, db) = backward_impl(ConvAlgo::Auto, &g, x.data(), w.data(), src, dxs)?;
    Ok((
        dx,
        Tensor::from_vec(w.shape(), dw)?,
        Tensor::from_vec(&[g.k], db)?,
    ))
}
