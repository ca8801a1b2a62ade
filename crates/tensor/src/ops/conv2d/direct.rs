//! Direct SIMD convolution on "flattened padded planes".
//!
//! A sample is copied into a zero plane of Cin × Hp × Wp (+ [`SLACK`] zeros at the end), so
//! for a stride-1 convolution the output position p = i·Wp + j reads the plane at
//! p + u·Wp + v for tap (u, v): for fixed (c, u, v) N consecutive outputs (one vector of the
//! plan's [`Path`], N = 8 or 16 lanes) read N consecutive inputs. Positions with j ≥ OW (the
//! Wp − OW "junk" columns of each row) are computed and dropped; they cost (Wp − OW)/Wp of the
//! work (12.5 % for 28→32, 29 % for 10→14). Where they would exceed a fifth of the positions
//! ([`prefers_columns`]: LeNet's conv2) the forward runs without them, on the padded plane
//! copied once per tap column at the output's width (a KH × 1 kernel over C·KW channels: 104
//! positions instead of 136); dw with its taps along u was tried and not kept
//! (docs/performance.md).
//!
//! Register tile of the forward kernel (KB = 4 output channels × PB = 3 vectors, 12 ymm
//! accumulators + 3 loads + 1 broadcast = 16 registers; with AVX-512's 32 registers, ymm or
//! zmm, the tile is 4 × 6 = 24 accumulators, and dw uses 4 channels × 5 taps):
//!
//! ```text
//!            p0..p0+8   p0+8..+16  p0+16..+24     ← x[c, p + u·Wp + v] (3 loads per tap)
//!   w[k0  ]  acc00      acc01      acc02
//!   w[k0+1]  acc10      acc11      acc12          ← one broadcast weight per row
//!   w[k0+2]  acc20      acc21      acc22
//!   w[k0+3]  acc30      acc31      acc32
//! ```
//!
//! - forward: plane = x padded by p; y[k,i,j] = out[k, i·s·Wp + j·s] (stride s > 1 computes
//!   the dense stride-1 output and keeps every s-th row and column);
//! - dx: plane = dy dilated by s and offset by KH−1−p; weights flipped and C↔K swapped:
//!   dx[c,h,w] = Σ_{k,u,v} w[k,c,KH−1−u,KW−1−v] · plane[k, h+u, w+v]; a position tile skips
//!   the tap rows u that read only the plane's zero rows ([`live_rows`]; dx on tap columns
//!   was tried and not kept: docs/performance.md);
//! - dw[k,c,u,v] += Σ_p dyf[k,p] · xplane[c, p + u·Wp + v], with dyf the (dilated) dy laid out
//!   on the forward plane's row pitch, zero in the junk columns; tile KB = 4 channels ×
//!   VB = 3 taps, horizontal sums in a fixed order.
//!
//! The path is read once per plan ([`crate::ops::simd::path`], on the thread that builds it);
//! every worker runs that path's kernels, so results do not depend on the thread count.

use super::direct_kernels::{conv_plane, dw_plane, hsum_lanes, lane_sum, L};
use super::Conv2dGeom;
use crate::ops::elementwise::relu_in_place;
use crate::ops::pool::max_plane_2x2;
use crate::ops::simd::{self, Path};

/// Zeros after each plane so the last 16-lane loads of a row never leave the buffer.
const SLACK: usize = 16;

/// A flattened padded plane: `ch` channels of `hp × wp`, and the stride-1 "dense" output of a
/// kh × kw kernel over it: `npos` positions rounded up to `lp` (a multiple of the lanes).
#[derive(Clone, Copy, Debug)]
struct Plane {
    ch: usize,
    hp: usize,
    wp: usize,
    oh: usize,
    ow: usize,
    lp: usize,
}

impl Plane {
    fn new(ch: usize, hp: usize, wp: usize, kh: usize, kw: usize, lanes: usize) -> Self {
        let (oh, ow) = (hp + 1 - kh, wp + 1 - kw);
        let npos = (oh - 1) * wp + ow;
        Self {
            ch,
            hp,
            wp,
            oh,
            ow,
            lp: npos.div_ceil(lanes) * lanes,
        }
    }
    fn len(&self) -> usize {
        self.ch * self.hp * self.wp + SLACK
    }
}

/// Geometry and re-laid-out weights of one convolution, shared by all workers.
pub(super) struct Plan {
    g: Conv2dGeom,
    /// The kernels' instantiation, read when the plan was built.
    path: Path,
    /// x padded by p (forward and dw).
    fwd: Plane,
    /// The forward's tap-column plane, where [`Plan::forward`] chose it ([`prefers_columns`]).
    cols: Option<Plane>,
    /// Weights as [c][u][v][k] (K contiguous), for the forward kernel; [c][v][u][k] with `cols`.
    wt: Vec<f32>,
    /// dy dilated by s, offset by KH−1−p (dx); only for backward plans.
    bwd: Option<Plane>,
    /// Flipped, C↔K-swapped weights as [k][u][v][c] (C contiguous), for dx.
    wflip: Vec<f32>,
}

/// Per-worker buffers.
pub(super) struct Scratch {
    xp: Vec<f32>,
    /// The tap-column copy of `xp` (forward plans with `cols`).
    xcol: Vec<f32>,
    out: Vec<f32>,
    dyp: Vec<f32>,
    dyf: Vec<f32>,
    /// dw in N lanes per weight (lane l sums positions p ≡ l mod N) over all samples
    /// of this worker's chunk: horizontal sums once per chunk ([`Plan::flush_dw`]), not once
    /// per sample.
    dwv: Vec<f32>,
}

/// dst = src for the short rows of these planes (5 to 32 values): 8-value blocks, the last
/// one overlapping, so that each row is a few vector moves instead of a `memcpy` call (the
/// calls were a visible share of a training step: docs/performance.md, "Measurements behind
/// the code's choices").
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    let n = src.len();
    let dst = &mut dst[..n];
    if n < L {
        dst.copy_from_slice(src);
        return;
    }
    let mut i = 0;
    while i + L <= n {
        dst[i..i + L].copy_from_slice(&src[i..i + L]);
        i += L;
    }
    if i < n {
        dst[n - L..].copy_from_slice(&src[n - L..]);
    }
}

/// Copies `src` (ch × h × w) into the zeroed plane `dst` (ch × hp × wp) at row i·dil + off_h,
/// column j·dil + off_w; values landing outside the plane are dropped.
#[allow(clippy::too_many_arguments)]
fn place(
    src: &[f32], h: usize, w: usize, dil: usize, off_h: isize, off_w: isize, p: &Plane,
    dst: &mut [f32],
) {
    dst.fill(0.0);
    for c in 0..p.ch {
        let sp = &src[c * h * w..][..h * w];
        let dp = &mut dst[c * p.hp * p.wp..][..p.hp * p.wp];
        for i in 0..h {
            let r = (i * dil) as isize + off_h;
            if r < 0 || r >= p.hp as isize {
                continue;
            }
            let drow = &mut dp[r as usize * p.wp..][..p.wp];
            if dil == 1 && off_w >= 0 && off_w as usize + w <= p.wp {
                // The whole row lands inside: one copy.
                copy_row(&mut drow[off_w as usize..][..w], &sp[i * w..][..w]);
                continue;
            }
            for (j, &val) in sp[i * w..][..w].iter().enumerate() {
                let col = (j * dil) as isize + off_w;
                if col >= 0 && col < p.wp as isize {
                    drow[col as usize] = val;
                }
            }
        }
    }
}

/// The rows r0..r1 of a plane of `hp` rows that [`place`] can fill from `h` source rows at
/// i·dil + off_h (the others stay zero): the conv kernel skips taps that read only zeros.
fn live_rows(h: usize, dil: usize, off_h: isize, hp: usize) -> (usize, usize) {
    if h == 0 {
        return (0, 0);
    }
    let clamp = |r: isize| r.clamp(0, hp as isize) as usize;
    let end = off_h + ((h - 1) * dil) as isize + 1;
    (clamp(off_h), clamp(end))
}

/// Whether the forward runs on the tap-column plane: where the flattened plane's junk columns
/// would be more than a fifth of its positions (LeNet's conv2: 136 positions for 100 outputs,
/// against 104 on columns; conv1's 896 for 784 stays flat). The column plane holds, for each
/// input channel c and tap column v, the padded rows cut to the dense output's width OW at
/// offset v: xcol[c·KW + v, r, j] = xp[c, r, j + v]; on it the convolution is a KH × 1 one
/// over C·KW channels with row pitch OW, so no position is junk, for a copy of C·KW·Hp·OW
/// values per sample.
pub(super) fn prefers_columns(g: &Conv2dGeom, lanes: usize) -> bool {
    let (hp, wp) = (g.h + 2 * g.pad, g.w + 2 * g.pad);
    let flat = Plane::new(g.c, hp, wp, g.kh, g.kw, lanes);
    let cols = Plane::new(g.c * g.kw, hp, flat.ow, g.kh, 1, lanes);
    5 * cols.lp < 4 * flat.lp
}

/// The tap-column plane `q` (see [`prefers_columns`]) of one sample x (C × H × W, padded by
/// p) in one pass from x: xcol[c·KW + v, r, j] = x[c, r − p, j + v − p], zero outside x; the
/// zeros after `q`'s planes are left as they are.
fn place_columns(x: &[f32], g: &Conv2dGeom, q: &Plane, dst: &mut [f32]) {
    let (h, w, p, kw) = (g.h, g.w, g.pad, g.kw);
    let qw = q.hp * q.wp;
    if p > 0 {
        // Without padding every value of the planes is written below.
        dst[..q.ch * qw].fill(0.0);
    }
    for (c, xc) in x.chunks_exact(h * w).take(g.c).enumerate() {
        for v in 0..kw {
            // The output columns j whose source column j + v − p lies in 0..W.
            let (j0, j1) = (p.saturating_sub(v), q.wp.min((w + p).saturating_sub(v)));
            if j0 >= j1 {
                continue;
            }
            let d = &mut dst[(c * kw + v) * qw..][..qw];
            for (i, src) in xc.chunks_exact(w).enumerate() {
                let row = &mut d[(i + p) * q.wp..][..q.wp];
                copy_row(&mut row[j0..j1], &src[j0 + v - p..][..j1 - j0]);
            }
        }
    }
}

impl Plan {
    pub(super) fn forward(g: &Conv2dGeom, w: &[f32]) -> Self {
        let cols = prefers_columns(g, simd::path().lanes());
        Self::forward_with(g, w, cols)
    }

    /// [`Plan::forward`] with the layout given (`cols`: the tap-column plane).
    pub(super) fn forward_with(g: &Conv2dGeom, w: &[f32], cols: bool) -> Self {
        let mut plan = Self::build(g, None);
        let (n, f) = (plan.path.lanes(), plan.fwd);
        plan.cols = cols.then(|| Plane::new(g.c * g.kw, f.hp, f.ow, g.kh, 1, n));
        // [c][u][v][k] ([c][v][u][k] for columns): the KB weights of one tap are adjacent.
        plan.wt = vec![0.0; w.len()];
        for k in 0..g.k {
            for c in 0..g.c {
                for u in 0..g.kh {
                    for v in 0..g.kw {
                        let t = if cols { v * g.kh + u } else { u * g.kw + v };
                        plan.wt[(c * g.kh * g.kw + t) * g.k + k] =
                            w[((k * g.c + c) * g.kh + u) * g.kw + v];
                    }
                }
            }
        }
        plan
    }

    pub(super) fn backward(g: &Conv2dGeom, w: &[f32]) -> Self {
        Self::build(g, Some(w))
    }

    fn build(g: &Conv2dGeom, bwd_w: Option<&[f32]>) -> Self {
        let path = simd::path();
        let n = path.lanes();
        let fwd = Plane::new(g.c, g.h + 2 * g.pad, g.w + 2 * g.pad, g.kh, g.kw, n);
        let bwd = bwd_w.map(|_| Plane::new(g.k, g.h + g.kh - 1, g.w + g.kw - 1, g.kh, g.kw, n));
        let mut wflip = Vec::new();
        if let Some(w) = bwd_w {
            wflip = vec![0.0; w.len()];
            for k in 0..g.k {
                for c in 0..g.c {
                    for u in 0..g.kh {
                        for v in 0..g.kw {
                            let src = ((k * g.c + c) * g.kh + u) * g.kw + v;
                            let (fu, fv) = (g.kh - 1 - u, g.kw - 1 - v);
                            wflip[((k * g.kh + fu) * g.kw + fv) * g.c + c] = w[src];
                        }
                    }
                }
            }
        }
        Self {
            g: *g,
            path,
            fwd,
            cols: None,
            wt: Vec::new(),
            bwd,
            wflip,
        }
    }

    pub(super) fn scratch(&self) -> Scratch {
        let g = &self.g;
        let (dyp, out_b) = match &self.bwd {
            Some(b) => (b.len(), g.c * b.lp),
            None => (0, 0),
        };
        Scratch {
            xp: vec![0.0; self.fwd.len()],
            xcol: vec![0.0; self.cols.map_or(0, |p| p.len())],
            out: vec![0.0; (g.k * self.fwd.lp).max(out_b)],
            dyp: vec![0.0; dyp],
            dyf: vec![
                0.0;
                if self.bwd.is_some() {
                    g.k * self.fwd.lp
                } else {
                    0
                }
            ],
            dwv: vec![
                0.0;
                if self.bwd.is_some() {
                    g.k * g.c * g.kh * g.kw * self.path.lanes()
                } else {
                    0
                }
            ],
        }
    }

    /// The plane of the forward's output: its `lp` and row pitch `wp`.
    fn out_plane(&self) -> &Plane {
        self.cols.as_ref().unwrap_or(&self.fwd)
    }

    /// The dense stride-1 output of sample x_n (C × H × W) in `s.out`: K planes of `lp`
    /// values, row pitch `wp` of [`Plan::out_plane`], junk columns included. Returns that slice.
    fn dense_output<'s>(&self, s: &'s mut Scratch, x: &[f32], b: Option<&[f32]>) -> &'s [f32] {
        let g = &self.g;
        let p = &self.fwd;
        let (path, q) = (self.path, self.out_plane());
        let out = &mut s.out[..g.k * q.lp];
        let rows = live_rows(g.h, 1, g.pad as isize, p.hp);
        let wt = &self.wt;
        match &self.cols {
            None => {
                place(x, g.h, g.w, 1, g.pad as isize, g.pad as isize, p, &mut s.xp);
                conv_plane(
                    path, &s.xp, p.ch, p.hp, p.wp, p.lp, rows, wt, g.k, g.kh, g.kw, b, out,
                );
            }
            Some(q) => {
                place_columns(x, g, q, &mut s.xcol);
                conv_plane(
                    path, &s.xcol, q.ch, q.hp, q.wp, q.lp, rows, wt, g.k, g.kh, 1, b, out,
                );
            }
        }
        out
    }

    /// y_n (K × OH × OW) of one sample x_n (C × H × W).
    pub(super) fn forward_sample(
        &self, s: &mut Scratch, x: &[f32], b: Option<&[f32]>, y: &mut [f32],
    ) {
        let (g, p) = (&self.g, *self.out_plane());
        let out = self.dense_output(s, x, b);
        let (oh, ow, st) = (g.out_h(), g.out_w(), g.stride);
        for k in 0..g.k {
            let o = &out[k * p.lp..];
            let yk = &mut y[k * oh * ow..][..oh * ow];
            for i in 0..oh {
                let src = &o[i * st * p.wp..];
                let row = &mut yk[i * ow..][..ow];
                if st == 1 {
                    copy_row(row, &src[..ow]);
                } else {
                    for (j, yv) in row.iter_mut().enumerate() {
                        *yv = src[j * st];
                    }
                }
            }
        }
    }

    /// The fused y_n = max(maxpool2×2(conv(x_n)), 0) (K × ⌊OH/2⌋ × ⌊OW/2⌋) straight from the
    /// conv's flattened output plane, never writing the K × OH × OW conv output; `arg`
    /// receives each window's argmax as `base + k·OH·OW + i·OW + j`, an index into the conv
    /// output of the batch (as [`crate::ops::pool::max_pool2d_forward`] would give).
    pub(super) fn forward_sample_relu_pool(
        &self, s: &mut Scratch, x: &[f32], b: Option<&[f32]>, y: &mut [f32], arg: &mut [u32],
        base: u32,
    ) {
        let (g, p) = (&self.g, *self.out_plane());
        let out = self.dense_output(s, x, b);
        let (oh, ow) = (g.out_h(), g.out_w());
        let per = (oh / 2) * (ow / 2);
        for k in 0..g.k {
            let (yk, ak) = (&mut y[k * per..][..per], &mut arg[k * per..][..per]);
            let kbase = base + (k * oh * ow) as u32;
            let plane = &out[k * p.lp..][..p.lp];
            max_plane_2x2(self.path, plane, p.wp, ow / 2, yk, ak, kbase, ow);
            relu_in_place(yk);
        }
    }

    /// Writes dx_n (zero on entry), adds this sample's db and its dw to the scratch's lane
    /// accumulator (added to a dw by [`Plan::flush_dw`]); `dx = None` skips the input gradient
    /// (a network's first layer, whose input is data).
    pub(super) fn backward_sample_opt(
        &self, s: &mut Scratch, x: &[f32], dy: &[f32], dx: Option<&mut [f32]>, db: &mut [f32],
    ) {
        let g = &self.g;
        let (oh, ow, st) = (g.out_h(), g.out_w(), g.stride);
        if let Some(dx) = dx {
            self.backward_dx(s, dy, dx);
        }
        self.backward_dw(s, x, dy, db, oh, ow, st);
    }

    /// dw += the lane accumulator's horizontal sums (fixed order), and clears it.
    pub(super) fn flush_dw(&self, s: &mut Scratch, dw: &mut [f32]) {
        for (d, lanes) in dw.iter_mut().zip(s.dwv.chunks_exact(self.path.lanes())) {
            *d += hsum_lanes(lanes);
        }
        s.dwv.fill(0.0);
    }

    fn backward_dx(&self, s: &mut Scratch, dy: &[f32], dx: &mut [f32]) {
        let g = &self.g;
        let (oh, ow, st) = (g.out_h(), g.out_w(), g.stride);
        // Cannot fail: backward_dx is only reached through a plan built for backward (with `bwd`).
        let bp = self.bwd.as_ref().expect("backward plan");
        // dx: dy dilated by s, offset by KH−1−p, convolved with the flipped weights.
        let (oh_off, ow_off) = (
            g.kh as isize - 1 - g.pad as isize,
            g.kw as isize - 1 - g.pad as isize,
        );
        place(dy, oh, ow, st, oh_off, ow_off, bp, &mut s.dyp);
        let out = &mut s.out[..g.c * bp.lp];
        conv_plane(
            self.path,
            &s.dyp,
            g.k,
            bp.hp,
            bp.wp,
            bp.lp,
            live_rows(oh, st, oh_off, bp.hp),
            &self.wflip,
            g.c,
            g.kh,
            g.kw,
            None,
            out,
        );
        debug_assert_eq!((bp.oh, bp.ow), (g.h, g.w));
        for c in 0..g.c {
            for h in 0..g.h {
                copy_row(
                    &mut dx[(c * g.h + h) * g.w..][..g.w],
                    &out[c * bp.lp + h * bp.wp..][..g.w],
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_dw(
        &self, s: &mut Scratch, x: &[f32], dy: &[f32], db: &mut [f32], oh: usize, ow: usize,
        st: usize,
    ) {
        let g = &self.g;
        // dw: dy on the forward plane's row pitch against shifted x.
        let p = &self.fwd;
        place(x, g.h, g.w, 1, g.pad as isize, g.pad as isize, p, &mut s.xp);
        s.dyf.fill(0.0);
        for k in 0..g.k {
            for i in 0..oh {
                let src = &dy[(k * oh + i) * ow..][..ow];
                let dst = &mut s.dyf[k * p.lp + i * st * p.wp..];
                if st == 1 {
                    copy_row(&mut dst[..ow], src);
                } else {
                    for (j, &d) in src.iter().enumerate() {
                        dst[j * st] = d;
                    }
                }
            }
        }
        dw_plane(
            self.path, &s.xp, p.ch, p.hp, p.wp, p.lp, &s.dyf, g.k, g.kh, g.kw, &mut s.dwv,
        );
        // db[k] += Σ dy[k, ·], in eight fixed lanes (vectorised, same order on any thread).
        for (row, d) in dy.chunks_exact(oh * ow).zip(db.iter_mut()) {
            *d += lane_sum(row);
        }
    }
}
