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
use crate::ops::elementwise::relu_in_place;
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
    let take = (val > best) | (val.is_nan() & !best.is_nan());
    (if take { val } else { best }, if take { idx } else { at })
}

/// 2×2/2 max-pool of one plane (LeNet-5): the first maximum of each window in row-major
/// order (NaN counts as the largest). `xp` has row pitch `w`; the argmax of input (r, c) is
/// written as `base + r·wi + c` (`wi` = w for a dense plane; the fused conv passes its
/// output width, its plane having junk columns; fits u32, checked by the callers). On AVX2,
/// 8 windows per step; elsewhere the scalar [`max_row_2x2`].
pub(crate) fn max_plane_2x2(
    xp: &[f32],
    w: usize,
    ow: usize,
    y: &mut [f32],
    arg: &mut [u32],
    base: u32,
    wi: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::ops::simd::avx2_fma() {
        // SAFETY: avx2_fma() checked at runtime that this CPU has AVX2, the only
        // requirement of the target_feature function; its memory accesses are slice-checked.
        unsafe { max_plane_2x2_avx2(xp, w, ow, y, arg, base, wi) };
        return;
    }
    for (i, (yr, ar)) in y
        .chunks_exact_mut(ow)
        .zip(arg.chunks_exact_mut(ow))
        .enumerate()
    {
        let r0 = &xp[2 * i * w..][..2 * ow];
        let r1 = &xp[(2 * i + 1) * w..][..2 * ow];
        max_row_2x2(r0, r1, base + (2 * i * wi) as u32, wi as u32, yr, ar);
    }
}

/// 2×2/2 max-pool, optionally clamped at 0 (the fused ReLU), of `planes` h×w planes stored
/// back to back, into `y` (planes × ⌊h/2⌋ × ⌊w/2⌋), on the calling thread: for callers that
/// already split the work (the tape-free scoring path). Same values as
/// [`max_pool2d_forward`] / [`relu_max_pool2d_forward`]; the argmax is not kept.
pub fn max_pool2x2_planes(
    x: &[f32],
    planes: usize,
    h: usize,
    w: usize,
    relu: bool,
    y: &mut [f32],
) -> Result<()> {
    let (oh, ow) = (h / 2, w / 2);
    if x.len() != planes * h * w || y.len() != planes * oh * ow || oh == 0 || ow == 0 {
        return Err(shape_err(
            "max_pool2x2_planes",
            format!(
                "{planes} planes of {h}x{w} need x of {} and y of {} values, got {} and {}",
                planes * h * w,
                planes * oh * ow,
                x.len(),
                y.len()
            ),
        ));
    }
    let mut arg = vec![0u32; oh * ow];
    for (xp, yp) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(oh * ow)) {
        max_plane_2x2(xp, w, ow, yp, &mut arg, 0, w);
        if relu {
            relu_in_place(yp);
        }
    }
    Ok(())
}

/// One output row of the 2×2/2 max-pool, scalar: windows (r0[2j], r0[2j+1], r1[2j],
/// r1[2j+1]) visited in that order with branch-free selects; `b0` is r0's flat offset.
fn max_row_2x2(r0: &[f32], r1: &[f32], b0: u32, w: u32, yr: &mut [f32], ar: &mut [u32]) {
    let b1 = b0 + w;
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

/// [`max_plane_2x2`] with 8 windows per step. The first maximum of a window in
/// row-major order is the first maximum of (first maximum of its top pair, first maximum of
/// its bottom pair), since "keep unless strictly larger, NaN largest" picks the earliest
/// maximal element whatever the bracketing. So: deinterleave 16 columns of each row into
/// even/odd lanes, pick within each row, then between the rows. A row whose width is not a
/// multiple of 8 ends with one step at j = ow − 8, overlapping the previous one (it writes
/// the same values again); a row narrower than 8 goes through zero-padded copies.
///
/// # Safety
/// The CPU must have AVX2 (the caller checks `avx2_fma()`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_plane_2x2_avx2(
    xp: &[f32],
    w: usize,
    ow: usize,
    y: &mut [f32],
    arg: &mut [u32],
    base: u32,
    wi: usize,
) {
    use std::arch::x86_64::*;
    // Lanes → (even, odd) columns of 16 consecutive values a ++ b, in column order.
    #[inline(always)]
    fn split(a: __m256, b: __m256) -> (__m256, __m256) {
        // SAFETY: only called from the avx2 function below (AVX2 available); register-only.
        unsafe {
            // Per 128-bit half: [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit permute (0,2,1,3)
            // restores column order [a0 a2 a4 a6 b0 b2 b4 b6].
            let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let o = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            let fix = |v: __m256| {
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
            };
            (fix(e), fix(o))
        }
    }
    // Mask of lanes where `v` replaces `best`: v > best, or v is NaN and best is not.
    #[inline(always)]
    fn takes(best: __m256, v: __m256) -> __m256 {
        // SAFETY: as `split`.
        unsafe {
            let gt = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
            let nan = _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
                _mm256_cmp_ps::<_CMP_ORD_Q>(best, best),
            );
            _mm256_or_ps(gt, nan)
        }
    }
    let even_cols = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    let wv = _mm256_set1_epi32(wi as i32);
    // Eight windows whose top-left corners are s0[0], s0[2], …, s0[14] (s1: the row below);
    // `tl` is the flat index of s0[0]. Returns the maxima and their flat indices.
    let step = |s0: &[f32], s1: &[f32], tl: u32| -> (__m256, __m256i) {
        let (s0, s1) = (&s0[..16], &s1[..16]);
        // SAFETY: s0 and s1 hold 16 f32 (sliced above), so the unaligned 32-byte loads at
        // offsets 0 and 8 stay in bounds; AVX2 is enabled in this function.
        unsafe {
            let (e0, o0) = split(
                _mm256_loadu_ps(s0.as_ptr()),
                _mm256_loadu_ps(s0.as_ptr().add(8)),
            );
            let (e1, o1) = split(
                _mm256_loadu_ps(s1.as_ptr()),
                _mm256_loadu_ps(s1.as_ptr().add(8)),
            );
            let (t0, t1) = (takes(e0, o0), takes(e1, o1));
            let (m0, m1) = (_mm256_blendv_ps(e0, o0, t0), _mm256_blendv_ps(e1, o1, t1));
            let tr = takes(m0, m1);
            // Indices: top-left of the window, +1 where the odd column won (mask = −1),
            // +w where the bottom row won.
            let top_left = _mm256_add_epi32(_mm256_set1_epi32(tl as i32), even_cols);
            let i0 = _mm256_sub_epi32(top_left, _mm256_castps_si256(t0));
            let i1 = _mm256_add_epi32(_mm256_sub_epi32(top_left, _mm256_castps_si256(t1)), wv);
            let idx = _mm256_blendv_epi8(i0, i1, _mm256_castps_si256(tr));
            (_mm256_blendv_ps(m0, m1, tr), idx)
        }
    };
    for (i, (yr, ar)) in y
        .chunks_exact_mut(ow)
        .zip(arg.chunks_exact_mut(ow))
        .enumerate()
    {
        let r0 = &xp[2 * i * w..][..2 * ow];
        let r1 = &xp[(2 * i + 1) * w..][..2 * ow];
        let b0 = base + (2 * i * wi) as u32;
        if ow < 8 {
            // A short row (LeNet's 10 → 5): through zero-padded copies; lanes ≥ ow dropped.
            let (mut t0, mut t1) = ([0.0f32; 16], [0.0f32; 16]);
            t0[..2 * ow].copy_from_slice(r0);
            t1[..2 * ow].copy_from_slice(r1);
            let (m, idx) = step(&t0, &t1, b0);
            let (mut ys, mut is) = ([0.0f32; 8], [0u32; 8]);
            // SAFETY: ys and is are 8-value arrays, the 32-byte stores fit; AVX is enabled.
            unsafe {
                _mm256_storeu_ps(ys.as_mut_ptr(), m);
                _mm256_storeu_si256(is.as_mut_ptr().cast(), idx);
            }
            yr.copy_from_slice(&ys[..ow]);
            ar.copy_from_slice(&is[..ow]);
            continue;
        }
        let mut j = 0;
        loop {
            let (m, idx) = step(&r0[2 * j..], &r1[2 * j..], b0 + 2 * j as u32);
            let (yo, ao) = (&mut yr[j..][..8], &mut ar[j..][..8]);
            // SAFETY: yo and ao hold 8 values (sliced above), the 32-byte stores stay in
            // bounds; AVX is enabled.
            unsafe {
                _mm256_storeu_ps(yo.as_mut_ptr(), m);
                _mm256_storeu_si256(ao.as_mut_ptr().cast(), idx);
            }
            if j + 8 == ow {
                break;
            }
            j = (j + 8).min(ow - 8);
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
                max_plane_2x2(xp, g.w, g.out_w(), yp, ap, (nc * hw) as u32, g.w);
            } else {
                max_plane(&g, xp, k, stride, yp, ap, nc * hw);
            }
            if relu {
                relu_in_place(yp);
            }
        });
    Ok((y, arg))
}

/// Max-pool backward: dx (shaped like x) with each dy added at its cached argmax.
/// Parallel over planes when dy is N×C×OH×OW for x N×C×H×W and every argmax lies in its own
/// plane (always true for argmax from [`max_pool2d_forward`]); otherwise the sequential
/// reference scatter. Same per-element addition order either way.
pub fn max_pool2d_backward(dy: &Tensor, argmax: &[u32], x_shape: &[usize]) -> Result<Tensor> {
    scatter_backward(dy, argmax, x_shape, None)
}

/// Backward of the fused y = max(maxpool(x), 0) given its output `y`:
/// dx[argmax] += dy · [y > 0], in one parallel pass (no masked copy of dy).
pub fn relu_max_pool2d_backward(
    dy: &Tensor,
    y: &Tensor,
    argmax: &[u32],
    x_shape: &[usize],
) -> Result<Tensor> {
    if y.shape() != dy.shape() {
        return Err(shape_err(
            "relu_max_pool2d_backward",
            format!("y is {:?}, dy {:?}", y.shape(), dy.shape()),
        ));
    }
    scatter_backward(dy, argmax, x_shape, Some(y.data()))
}

/// dx[argmax[o]] += dy[o] for every output o (where `gate[o] > 0` when a gate is given).
fn scatter_backward(
    dy: &Tensor,
    argmax: &[u32],
    x_shape: &[usize],
    gate: Option<&[f32]>,
) -> Result<Tensor> {
    let planar = x_shape.len() == 4 && dy.rank() == 4 && dy.shape()[..2] == x_shape[..2];
    // Range compares, not divisions: this check touches every argmax.
    let in_plane = |hw: usize, ohw: usize| {
        argmax.chunks_exact(ohw).enumerate().all(|(nc, a)| {
            let plane = nc * hw..(nc + 1) * hw;
            a.iter().all(|&i| plane.contains(&(i as usize)))
        })
    };
    if !planar
        || argmax.len() != dy.len()
        || dy.is_empty()
        || !in_plane(x_shape[2] * x_shape[3], dy.shape()[2] * dy.shape()[3])
    {
        return match gate {
            None => reference::max_pool2d_backward(dy, argmax, x_shape),
            Some(g) => {
                let mut masked = dy.clone();
                for (d, &v) in masked.data_mut().iter_mut().zip(g) {
                    if v <= 0.0 {
                        *d = 0.0;
                    }
                }
                reference::max_pool2d_backward(&masked, argmax, x_shape)
            }
        };
    }
    let hw = x_shape[2] * x_shape[3];
    let ohw = dy.shape()[2] * dy.shape()[3];
    let mut dx = Tensor::zeros(x_shape)?;
    let dyd = dy.data();
    dx.data_mut()
        .par_chunks_mut(hw)
        .enumerate()
        .with_min_len(PLANES_PER_TASK)
        .for_each(|(nc, dp)| {
            let (a, d) = (&argmax[nc * ohw..][..ohw], &dyd[nc * ohw..][..ohw]);
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
