//! 2-D pooling over k×k windows with stride s (LeNet-5 uses k = s = 2), no padding.
//!
//! Output size OH = (H − k)/s + 1, OW = (W − k)/s + 1; windows that would run past the edge
//! are dropped (floor), as in PyTorch and Keras "valid".
//!
//! Max-pool:  y[n,c,i,j] = max_{u,v<k} x[n,c,i·s+u,j·s+v];
//!            backward routes dy to the argmax: dx[argmax] += dy (ties: the first in
//!            row-major order), which forward caches as a flat input index.
//! Avg-pool:  y[n,c,i,j] = (1/k²) Σ_{u,v<k} x[n,c,i·s+u,j·s+v];
//!            backward: dx[n,c,i·s+u,j·s+v] += dy[n,c,i,j] / k².
//!
//! Max-pool forward caches the argmax (a u32 flat index into x per output) for backward;
//! avg-pool caches nothing. The fast kernels split work by (n, c) plane, so every output and
//! every dx element is produced by one worker in the reference's order: results are
//! identical for any thread count.

use crate::error::{shape_err, Result};
use crate::Tensor;
use rayon::prelude::*;

/// The sizes of one pooling: input N×C×H×W, window k×k, stride s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
}

impl Pool2dGeom {
    /// Checks a 4-D input shape against the window and stride.
    pub fn new(x: &[usize], k: usize, stride: usize) -> Result<Self> {
        if x.len() != 4 {
            return Err(shape_err(
                "pool2d",
                format!("input {x:?} must be 4-D (N,C,H,W)"),
            ));
        }
        if k == 0 || stride == 0 {
            return Err(shape_err("pool2d", "window and stride must be at least 1"));
        }
        if x[2] < k || x[3] < k {
            return Err(shape_err(
                "pool2d",
                format!("window {k}x{k} does not fit input {}x{}", x[2], x[3]),
            ));
        }
        Ok(Self {
            n: x[0],
            c: x[1],
            h: x[2],
            w: x[3],
            k,
            stride,
        })
    }

    /// Output height (H − k)/s + 1.
    pub fn out_h(&self) -> usize {
        (self.h - self.k) / self.stride + 1
    }

    /// Output width (W − k)/s + 1.
    pub fn out_w(&self) -> usize {
        (self.w - self.k) / self.stride + 1
    }

    /// Output shape N×C×OH×OW.
    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.out_h(), self.out_w()]
    }

    fn check_dy(&self, dy: &Tensor) -> Result<()> {
        if dy.shape() != self.out_shape() {
            return Err(shape_err(
                "pool2d_backward",
                format!("dy is {:?}, expected {:?}", dy.shape(), self.out_shape()),
            ));
        }
        Ok(())
    }
}

/// Planes per rayon task: a 28×28 plane is ~1 µs of work, too little to pay for a task.
const PLANES_PER_TASK: usize = 16;

/// Max over one window of plane `xp` (row pitch `w`) starting at (r0, c0); NaN propagates,
/// ties keep the first in row-major order (exactly as `reference`). Returns (max, in-plane index).
#[inline(always)]
fn window_max(xp: &[f32], w: usize, r0: usize, c0: usize, k: usize) -> (f32, usize) {
    let mut best = xp[r0 * w + c0];
    let mut at = r0 * w + c0;
    for u in 0..k {
        let row = &xp[(r0 + u) * w + c0..][..k];
        for (v, &val) in row.iter().enumerate() {
            if val > best || (val.is_nan() && !best.is_nan()) {
                best = val;
                at = (r0 + u) * w + c0 + v;
            }
        }
    }
    (best, at)
}

/// Keeps (best, at) or takes (val, idx): a strictly larger value, or a NaN over a number;
/// branch-free selects, the same rule as `reference`.
#[inline(always)]
fn pick(best: f32, at: u32, val: f32, idx: u32) -> (f32, u32) {
    let take = val > best || (val.is_nan() && !best.is_nan());
    (if take { val } else { best }, if take { idx } else { at })
}

/// 2×2/2 max-pool of one plane (LeNet-5): windows visited in row-major order with branch-free
/// selects; `base` is the plane's flat offset in x (fits u32, checked by the caller).
fn max_plane_2x2(xp: &[f32], w: usize, ow: usize, y: &mut [f32], arg: &mut [u32], base: u32) {
    for (i, (yr, ar)) in y
        .chunks_exact_mut(ow)
        .zip(arg.chunks_exact_mut(ow))
        .enumerate()
    {
        let r0 = &xp[2 * i * w..][..2 * ow];
        let r1 = &xp[(2 * i + 1) * w..][..2 * ow];
        let b0 = base + (2 * i * w) as u32;
        let b1 = b0 + w as u32;
        for (j, (yv, av)) in yr.iter_mut().zip(ar.iter_mut()).enumerate() {
            let c = 2 * j;
            let cu = c as u32;
            let (mut best, mut at) = (r0[c], b0 + cu);
            (best, at) = pick(best, at, r0[c + 1], b0 + cu + 1);
            (best, at) = pick(best, at, r1[c], b1 + cu);
            (best, at) = pick(best, at, r1[c + 1], b1 + cu + 1);
            *yv = best;
            *av = at;
        }
    }
}

/// One plane of max-pool: y and in-plane argmax.
#[inline(always)]
fn max_plane(
    g: &Pool2dGeom,
    xp: &[f32],
    k: usize,
    s: usize,
    y: &mut [f32],
    arg: &mut [u32],
    base: usize,
) {
    let ow = g.out_w();
    for (i, (yr, ar)) in y
        .chunks_exact_mut(ow)
        .zip(arg.chunks_exact_mut(ow))
        .enumerate()
    {
        for (j, (yv, av)) in yr.iter_mut().zip(ar.iter_mut()).enumerate() {
            let (m, at) = window_max(xp, g.w, i * s, j * s, k);
            *yv = m;
            *av = (base + at) as u32;
        }
    }
}

/// Max-pool forward: the pooled tensor and, per output, the flat index into x of its argmax.
/// Parallel over the N·C planes; 2×2/2 (LeNet-5) is a constant-folded fast path.
/// Errors if x has more than u32::MAX elements (argmax is u32).
pub fn max_pool2d_forward(x: &Tensor, k: usize, stride: usize) -> Result<(Tensor, Vec<u32>)> {
    let g = Pool2dGeom::new(x.shape(), k, stride)?;
    if x.len() > u32::MAX as usize {
        return Err(shape_err(
            "max_pool2d_forward",
            "input too large for u32 argmax",
        ));
    }
    let mut y = Tensor::zeros(&g.out_shape())?;
    let mut arg = vec![0u32; y.len()];
    let (hw, ohw) = (g.h * g.w, g.out_h() * g.out_w());
    if y.is_empty() {
        return Ok((y, arg));
    }
    let xd = x.data();
    y.data_mut()
        .par_chunks_mut(ohw)
        .zip(arg.par_chunks_mut(ohw))
        .enumerate()
        .with_min_len(PLANES_PER_TASK)
        .for_each(|(nc, (yp, ap))| {
            let xp = &xd[nc * hw..][..hw];
            if k == 2 && stride == 2 {
                max_plane_2x2(xp, g.w, g.out_w(), yp, ap, (nc * hw) as u32);
            } else {
                max_plane(&g, xp, k, stride, yp, ap, nc * hw);
            }
        });
    Ok((y, arg))
}

/// Max-pool backward: dx (shaped like x) with each dy added at its cached argmax.
/// Parallel over planes when dy is N×C×OH×OW for x N×C×H×W and every argmax lies in its own
/// plane (always true for argmax from [`max_pool2d_forward`]); otherwise the sequential
/// reference scatter. Same per-element addition order either way.
pub fn max_pool2d_backward(dy: &Tensor, argmax: &[u32], x_shape: &[usize]) -> Result<Tensor> {
    let planar = x_shape.len() == 4 && dy.rank() == 4 && dy.shape()[..2] == x_shape[..2];
    if !planar || argmax.len() != dy.len() || dy.is_empty() {
        return reference::max_pool2d_backward(dy, argmax, x_shape);
    }
    let hw = x_shape[2] * x_shape[3];
    let ohw = dy.shape()[2] * dy.shape()[3];
    let in_plane = argmax
        .chunks_exact(ohw)
        .enumerate()
        .all(|(nc, a)| a.iter().all(|&i| (i as usize) / hw.max(1) == nc && hw > 0));
    if !in_plane {
        return reference::max_pool2d_backward(dy, argmax, x_shape);
    }
    let mut dx = Tensor::zeros(x_shape)?;
    let dyd = dy.data();
    dx.data_mut()
        .par_chunks_mut(hw)
        .enumerate()
        .with_min_len(PLANES_PER_TASK)
        .for_each(|(nc, dp)| {
            for (&a, &d) in argmax[nc * ohw..][..ohw]
                .iter()
                .zip(&dyd[nc * ohw..][..ohw])
            {
                dp[a as usize - nc * hw] += d;
            }
        });
    Ok(dx)
}

/// One plane of avg-pool; `K` > 0 fixes the window at compile time (K = 0: runtime `k`).
#[inline(always)]
fn avg_plane<const K: usize>(
    xp: &[f32],
    w: usize,
    ow: usize,
    k: usize,
    stride: usize,
    inv: f32,
    yp: &mut [f32],
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
    dyp: &[f32],
    w: usize,
    ow: usize,
    k: usize,
    stride: usize,
    inv: f32,
    dp: &mut [f32],
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

/// Average-pool forward, parallel over planes (f32 window sums times 1/k²).
pub fn avg_pool2d_forward(x: &Tensor, k: usize, stride: usize) -> Result<Tensor> {
    let g = Pool2dGeom::new(x.shape(), k, stride)?;
    let mut y = Tensor::zeros(&g.out_shape())?;
    let (hw, ohw, ow) = (g.h * g.w, g.out_h() * g.out_w(), g.out_w());
    if y.is_empty() {
        return Ok(y);
    }
    let inv = 1.0 / (k * k) as f32;
    let xd = x.data();
    y.data_mut()
        .par_chunks_mut(ohw)
        .enumerate()
        .with_min_len(PLANES_PER_TASK)
        .for_each(|(nc, yp)| {
            let xp = &xd[nc * hw..][..hw];
            if k == 2 && stride == 2 {
                avg_plane::<2>(xp, g.w, ow, 2, 2, inv, yp);
            } else {
                avg_plane::<0>(xp, g.w, ow, k, stride, inv, yp);
            }
        });
    Ok(y)
}

/// Average-pool backward: dx (shaped `x_shape`) with dy/k² spread over each window;
/// parallel over planes.
pub fn avg_pool2d_backward(
    dy: &Tensor,
    x_shape: &[usize],
    k: usize,
    stride: usize,
) -> Result<Tensor> {
    let g = Pool2dGeom::new(x_shape, k, stride)?;
    g.check_dy(dy)?;
    let mut dx = Tensor::zeros(x_shape)?;
    let (hw, ohw, ow) = (g.h * g.w, g.out_h() * g.out_w(), g.out_w());
    if dx.is_empty() || dy.is_empty() {
        return Ok(dx);
    }
    let inv = 1.0 / (k * k) as f32;
    let dyd = dy.data();
    dx.data_mut()
        .par_chunks_mut(hw)
        .enumerate()
        .with_min_len(PLANES_PER_TASK)
        .for_each(|(nc, dp)| {
            let dyp = &dyd[nc * ohw..][..ohw];
            if k == 2 && stride == 2 {
                avg_plane_backward::<2>(dyp, g.w, ow, 2, 2, inv, dp);
            } else {
                avg_plane_backward::<0>(dyp, g.w, ow, k, stride, inv, dp);
            }
        });
    Ok(dx)
}

/// The specification: the module doc's formulas as plain loops.
pub mod reference {
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
        dy: &Tensor,
        x_shape: &[usize],
        k: usize,
        stride: usize,
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
}
