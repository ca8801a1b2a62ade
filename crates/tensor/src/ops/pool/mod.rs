//! 2-D pooling over k×k windows with stride s (LeNet-5 uses k = s = 2), no padding.
//!
//! Output size OH = (H − k)/s + 1, OW = (W − k)/s + 1; windows that would run past the edge
//! are dropped (floor), as in PyTorch and Keras "valid".
//!
//! Max-pool:  y\[n,c,i,j\] = max_{u,v<k} x[n,c,i·s+u,j·s+v];
//!            backward routes dy to the argmax: dx\[argmax\] += dy (ties: the first in
//!            row-major order), which forward caches as a flat input index.
//! Avg-pool:  y\[n,c,i,j\] = (1/k²) Σ_{u,v<k} x[n,c,i·s+u,j·s+v];
//!            backward: dx[n,c,i·s+u,j·s+v] += dy\[n,c,i,j\] / k².
//!
//! Max-pool forward caches the argmax (a u32 flat index into x per output) for backward;
//! avg-pool caches nothing. The fast kernels split work by (n, c) plane, so every output and
//! every dx element is produced by one worker in the reference's order: results are
//! identical for any thread count.

/// The CUDA twin of this folder's equations (`pool.cu` beside this file), the fragment that
/// siamese-cuda gathers into its NVRTC program.
pub const CUDA_SOURCE: &str = include_str!("pool.cu");

use crate::error::{check_len, shape_err, Result};
use crate::ops::elementwise::relu_in_place;
use crate::Tensor;
use rayon::prelude::*;

mod avg;
mod max2x2;
#[cfg(target_arch = "x86_64")]
mod max2x2_avx512;
pub mod reference;
mod rows;

pub use avg::{
    avg_pool2d_backward, avg_pool2d_backward_into, avg_pool2d_forward, avg_pool2d_forward_into,
};
pub(crate) use max2x2::max_plane_2x2;

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

    pub(crate) fn check_dy(&self, dy: &Tensor) -> Result<()> {
        if dy.shape() != self.out_shape() {
            return Err(shape_err(
                "pool2d_backward",
                format!("dy is {:?}, expected {:?}", dy.shape(), self.out_shape()),
            ));
        }
        Ok(())
    }
}

/// Planes per rayon task: one 28×28 plane is too little work to pay for a task
/// (docs/performance.md, "Measurements behind the code's choices").
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

/// One plane of max-pool: y and in-plane argmax.
#[inline(always)]
fn max_plane(
    g: &Pool2dGeom, xp: &[f32], k: usize, s: usize, y: &mut [f32], arg: &mut [u32], base: usize,
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
    max_forward(x, k, stride, false)
}

/// The fused y = max(maxpool(x), 0) (ReLU after max-pool equals max-pool after ReLU, and
/// touches a quarter of the values), with the max-pool's argmax; clamped inside the same
/// parallel pass over planes.
pub fn relu_max_pool2d_forward(x: &Tensor, k: usize, stride: usize) -> Result<(Tensor, Vec<u32>)> {
    max_forward(x, k, stride, true)
}

fn max_forward(x: &Tensor, k: usize, stride: usize, relu: bool) -> Result<(Tensor, Vec<u32>)> {
    let g = Pool2dGeom::new(x.shape(), k, stride)?;
    let mut y = Tensor::zeros(&g.out_shape())?;
    let mut arg = vec![0u32; y.len()];
    max_pool2d_forward_into(&g, x.data(), relu, y.data_mut(), &mut arg)?;
    Ok((y, arg))
}

/// Max-pool forward on slices for the geometry `g` (x: N×C×H×W, y and argmax: N×C×OH×OW,
/// both overwritten), optionally clamped at 0 (the fused ReLU). Parallel over the N·C
/// planes; 2×2/2 (LeNet-5) is the vectorised fast path. Errors if x has more than u32::MAX
/// elements (argmax is u32).
pub fn max_pool2d_forward_into(
    g: &Pool2dGeom, x: &[f32], relu: bool, y: &mut [f32], argmax: &mut [u32],
) -> Result<()> {
    let op = "max_pool2d_forward";
    let (hw, ohw) = (g.h * g.w, g.out_h() * g.out_w());
    check_len(op, "x", x.len(), g.n * g.c * hw)?;
    check_len(op, "y", y.len(), g.n * g.c * ohw)?;
    check_len(op, "argmax", argmax.len(), y.len())?;
    if x.len() > u32::MAX as usize {
        return Err(shape_err(op, "input too large for u32 argmax"));
    }
    if y.is_empty() {
        return Ok(());
    }
    let (k, stride) = (g.k, g.stride);
    // Read here, on the calling thread (crate::ops::simd::with_path), for every worker.
    let path = crate::ops::simd::path();
    y.par_chunks_mut(ohw)
        .zip(argmax.par_chunks_mut(ohw))
        .enumerate()
        .with_min_len(PLANES_PER_TASK)
        .for_each(|(nc, (yp, ap))| {
            let xp = &x[nc * hw..][..hw];
            if k == 2 && stride == 2 {
                max_plane_2x2(path, xp, g.w, g.out_w(), yp, ap, (nc * hw) as u32, g.w);
            } else {
                max_plane(g, xp, k, stride, yp, ap, nc * hw);
            }
            if relu {
                relu_in_place(yp);
            }
        });
    Ok(())
}

/// Max-pool backward: dx (shaped like x) with each dy added at its cached argmax.
/// Parallel over planes when dy is N×C×OH×OW for x N×C×H×W and every argmax lies in its own
/// plane (always true for argmax from [`max_pool2d_forward`]); otherwise the sequential
/// reference scatter. Same per-element addition order either way.
pub fn max_pool2d_backward(dy: &Tensor, argmax: &[u32], x_shape: &[usize]) -> Result<Tensor> {
    scatter_backward(dy, argmax, x_shape, None)
}

/// Backward of the fused y = max(maxpool(x), 0) given its output `y`:
/// dx\[argmax\] += dy · \[y > 0\], in one parallel pass (no masked copy of dy).
pub fn relu_max_pool2d_backward(
    dy: &Tensor, y: &Tensor, argmax: &[u32], x_shape: &[usize],
) -> Result<Tensor> {
    if y.shape() != dy.shape() {
        return Err(shape_err(
            "relu_max_pool2d_backward",
            format!("y is {:?}, dy {:?}", y.shape(), dy.shape()),
        ));
    }
    scatter_backward(dy, argmax, x_shape, Some(y.data()))
}

/// The tensor form of [`max_pool2d_backward_into`]; shapes that are not planar N×C×… go
/// through the reference scatter.
fn scatter_backward(
    dy: &Tensor, argmax: &[u32], x_shape: &[usize], gate: Option<&[f32]>,
) -> Result<Tensor> {
    let planar = x_shape.len() == 4 && dy.rank() == 4 && dy.shape()[..2] == x_shape[..2];
    let mut dx = Tensor::zeros(x_shape)?;
    if planar && x_shape[2] > 0 && x_shape[3] > 0 {
        let g = Pool2dGeom {
            n: x_shape[0],
            c: x_shape[1],
            h: x_shape[2],
            w: x_shape[3],
            k: 1,
            stride: 1,
        };
        let out = [dy.shape()[2], dy.shape()[3]];
        max_backward_planes(&g, out, dy.data(), argmax, gate, dx.data_mut())?;
        return Ok(dx);
    }
    let masked;
    let dy = match gate {
        None => dy,
        Some(g) => {
            let mut m = dy.clone();
            m.data_mut().iter_mut().zip(g).for_each(|(d, &v)| {
                if v <= 0.0 {
                    *d = 0.0
                }
            });
            masked = m;
            &masked
        }
    };
    reference::max_pool2d_backward(dy, argmax, x_shape)
}

/// Max-pool backward on slices for the geometry `g`: dx (N×C×H×W, overwritten) gets
/// dx[argmax\[o\]] += dy\[o\] for every output o, or += dy\[o\]·[gate\[o\] > 0] with a gate (the
/// output y of the fused ReLU pool). Every argmax must lie inside the plane of its output.
pub fn max_pool2d_backward_into(
    g: &Pool2dGeom, dy: &[f32], argmax: &[u32], gate: Option<&[f32]>, dx: &mut [f32],
) -> Result<()> {
    dx.iter_mut().for_each(|v| *v = 0.0);
    max_backward_planes(g, [g.out_h(), g.out_w()], dy, argmax, gate, dx)
}

/// dx[argmax[o]] += dy[o] (gated) per plane of `out` = [OH, OW] outputs, into a zeroed dx.
fn max_backward_planes(
    g: &Pool2dGeom, out: [usize; 2], dy: &[f32], argmax: &[u32], gate: Option<&[f32]>,
    dx: &mut [f32],
) -> Result<()> {
    let op = "max_pool2d_backward";
    let (hw, ohw) = (g.h * g.w, out[0] * out[1]);
    let planes = g.n * g.c;
    check_len(op, "dx", dx.len(), planes * hw)?;
    check_len(op, "dy", dy.len(), planes * ohw)?;
    check_len(op, "argmax", argmax.len(), dy.len())?;
    if let Some(gt) = gate {
        check_len(op, "y", gt.len(), dy.len())?;
    }
    if dy.is_empty() {
        return Ok(());
    }
    // Range compares, not divisions: this check touches every argmax.
    let in_plane = argmax.chunks_exact(ohw).enumerate().all(|(nc, a)| {
        let plane = nc * hw..(nc + 1) * hw;
        a.iter().all(|&i| plane.contains(&(i as usize)))
    });
    if !in_plane {
        return Err(shape_err(
            op,
            format!("an argmax index lies outside its plane of {hw} values"),
        ));
    }
    dx.par_chunks_mut(hw)
        .enumerate()
        .with_min_len(PLANES_PER_TASK)
        .for_each(|(nc, dp)| {
            let (a, d) = (&argmax[nc * ohw..][..ohw], &dy[nc * ohw..][..ohw]);
            match gate {
                None => a
                    .iter()
                    .zip(d)
                    .for_each(|(&a, &d)| dp[a as usize - nc * hw] += d),
                Some(g) => {
                    // Branch-free gate, as the fused conv block's backward: adding +0.0 to
                    // a sum that started at +0.0 changes no value.
                    for ((&a, &d), &y) in a.iter().zip(d).zip(&g[nc * ohw..][..ohw]) {
                        dp[a as usize - nc * hw] += if y > 0.0 { d } else { 0.0 };
                    }
                }
            }
        });
    Ok(())
}
