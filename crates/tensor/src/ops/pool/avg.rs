//! Average pooling: y = (1/k²)·Σ window, dx = dy/k² spread over each window; parallel over
//! planes.

use super::{Pool2dGeom, PLANES_PER_TASK};
use crate::error::check_len;
use crate::error::Result;
use crate::Tensor;
use rayon::prelude::*;

/// One plane of avg-pool; `K` > 0 fixes the window at compile time (K = 0: runtime `k`).
#[inline(always)]
fn avg_plane<const K: usize>(
    xp: &[f32], w: usize, ow: usize, k: usize, stride: usize, inv: f32, yp: &mut [f32],
) {
    let k = if K > 0 { K } else { k };
    for (i, yr) in yp.chunks_exact_mut(ow).enumerate() {
        let rows = &xp[i * stride * w..];
        for (j, yv) in yr.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            for u in 0..k {
                acc += rows[u * w + j * stride..][..k].iter().sum::<f32>();
            }
            *yv = acc * inv;
        }
    }
}

/// One plane of avg-pool backward: dx[i·s+u, j·s+v] += dy[i,j]·inv, in (i, j, u, v) order.
#[inline(always)]
fn avg_plane_backward<const K: usize>(
    dyp: &[f32], w: usize, ow: usize, k: usize, stride: usize, inv: f32, dp: &mut [f32],
) {
    let k = if K > 0 { K } else { k };
    for (i, dyr) in dyp.chunks_exact(ow).enumerate() {
        let rows = &mut dp[i * stride * w..];
        for (j, &d) in dyr.iter().enumerate() {
            let d = d * inv;
            for u in 0..k {
                rows[u * w + j * stride..][..k]
                    .iter_mut()
                    .for_each(|v| *v += d);
            }
        }
    }
}

/// Runs `f(plane index, plane)` over the planes of `out` (`len` values each) in parallel.
fn for_planes(out: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Send + Sync) {
    out.par_chunks_mut(len)
        .enumerate()
        .with_min_len(PLANES_PER_TASK)
        .for_each(|(nc, p)| f(nc, p));
}

/// Average-pool forward, parallel over planes (f32 window sums times 1/k²).
pub fn avg_pool2d_forward(x: &Tensor, k: usize, stride: usize) -> Result<Tensor> {
    let g = Pool2dGeom::new(x.shape(), k, stride)?;
    let mut y = Tensor::zeros(&g.out_shape())?;
    avg_pool2d_forward_into(&g, x.data(), y.data_mut())?;
    Ok(y)
}

/// Average-pool forward on slices for the geometry `g` (y: N×C×OH×OW, overwritten).
pub fn avg_pool2d_forward_into(g: &Pool2dGeom, x: &[f32], y: &mut [f32]) -> Result<()> {
    let (hw, ohw, ow) = (g.h * g.w, g.out_h() * g.out_w(), g.out_w());
    check_len("avg_pool2d_forward", "x", x.len(), g.n * g.c * hw)?;
    check_len("avg_pool2d_forward", "y", y.len(), g.n * g.c * ohw)?;
    if y.is_empty() {
        return Ok(());
    }
    let (k, stride) = (g.k, g.stride);
    let inv = 1.0 / (k * k) as f32;
    for_planes(y, ohw, |nc, yp| {
        let xp = &x[nc * hw..][..hw];
        if k == 2 && stride == 2 {
            avg_plane::<2>(xp, g.w, ow, 2, 2, inv, yp);
        } else {
            avg_plane::<0>(xp, g.w, ow, k, stride, inv, yp);
        }
    });
    Ok(())
}

/// Average-pool backward: dx (shaped `x_shape`) with dy/k² spread over each window;
/// parallel over planes.
pub fn avg_pool2d_backward(
    dy: &Tensor, x_shape: &[usize], k: usize, stride: usize,
) -> Result<Tensor> {
    let g = Pool2dGeom::new(x_shape, k, stride)?;
    g.check_dy(dy)?;
    let mut dx = Tensor::zeros(x_shape)?;
    avg_pool2d_backward_into(&g, dy.data(), dx.data_mut())?;
    Ok(dx)
}

/// Average-pool backward on slices for the geometry `g` (dx: N×C×H×W, overwritten).
pub fn avg_pool2d_backward_into(g: &Pool2dGeom, dy: &[f32], dx: &mut [f32]) -> Result<()> {
    let (hw, ohw, ow) = (g.h * g.w, g.out_h() * g.out_w(), g.out_w());
    check_len("avg_pool2d_backward", "dx", dx.len(), g.n * g.c * hw)?;
    check_len("avg_pool2d_backward", "dy", dy.len(), g.n * g.c * ohw)?;
    dx.iter_mut().for_each(|v| *v = 0.0);
    if dx.is_empty() || dy.is_empty() {
        return Ok(());
    }
    let (k, stride) = (g.k, g.stride);
    let inv = 1.0 / (k * k) as f32;
    for_planes(dx, hw, |nc, dp| {
        let dyp = &dy[nc * ohw..][..ohw];
        if k == 2 && stride == 2 {
            avg_plane_backward::<2>(dyp, g.w, ow, 2, 2, inv, dp);
        } else {
            avg_plane_backward::<0>(dyp, g.w, ow, k, stride, inv, dp);
        }
    });
    Ok(())
}
