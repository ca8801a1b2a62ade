//! 2-D convolution (cross-correlation, as in every DL framework), stride s, zero padding p.
//!
//! Forward, for x: N×C×H×W, w: K×C×kh×kw, b: K:
//!   y\[n,k,i,j\] = b\[k\] + Σ_c Σ_u Σ_v w\[k,c,u,v\] · x[n, c, i·s + u − p, j·s + v − p]
//! (x outside the image reads 0), with y: N×K×OH×OW, OH = (H + 2p − kh)/s + 1.
//!
//! Backward, given dy = ∂L/∂y:
//!   dw\[k,c,u,v\] = Σ_n Σ_i Σ_j dy\[n,k,i,j\] · x[n, c, i·s+u−p, j·s+v−p]
//!   db\[k\]       = Σ_n Σ_i Σ_j dy\[n,k,i,j\]
//!   dx\[n,c,h,w\] = Σ_k Σ_u Σ_v dy\[n,k,i,j\] · w\[k,c,u,v\]  over (i,j) with i·s+u−p = h, j·s+v−p = w
//!
//! Two algorithms compute the same thing ([`ConvAlgo`]):
//!
//! - **im2col** (`im2col.rs`): per sample, unfold x into cols (C·KH·KW × OH·OW), then
//!   Y = W·cols (+b) on matrixmultiply's sgemm; backward dW += dY·colsᵀ, dcols = Wᵀ·dY,
//!   then col2im scatters dcols into dx.
//! - **direct** (`direct.rs`): per sample, x is copied into a zero-padded plane whose rows are
//!   laid end to end, so output position p = i·Wp + j reads x at p + u·Wp + v for every
//!   (c, u, v): one contiguous 8-lane load per tap. A register tile of 4 output channels ×
//!   3 vectors (4 × 6 with AVX-512VL registers) accumulates with FMA; the Wp − OW junk
//!   columns per row are computed and dropped. dx is the same kernel run on dy (dilated by
//!   the stride, padded by KH−1−p) with the weights flipped and C↔K swapped; dw is a dot
//!   product of dy with shifted x.
//!
//! Forward caches nothing: backward recomputes cols / the padded plane from x (cheaper than
//! keeping C·KH·KW × OH·OW floats per sample alive between the passes).
//!
//! Parallelism: the batch is cut into fixed chunks of [`CHUNK`] samples, independent of the
//! rayon thread count. Outputs and dx are written per sample; dw and db are summed per chunk,
//! then the chunk partials are added in chunk order, so results are bit-identical for any
//! number of threads.

/// The CUDA twin of this folder's equations (`conv2d.cu` beside this file), the fragment that
/// siamese-cuda gathers into its NVRTC program.
pub const CUDA_SOURCE: &str = include_str!("conv2d.cu");

use crate::error::{check_len, shape_err, Result};
use crate::Tensor;
use rayon::prelude::*;

mod direct;
mod direct_kernels;
mod im2col;
pub mod reference;
#[cfg(test)]
mod tests;

/// The sizes of one convolution: input N×C×H×W, weights K×C×KH×KW, stride and padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Conv2dGeom {
    /// Checks an input shape N×C×H×W against a weight shape K×C×KH×KW.
    pub fn new(x: &[usize], w: &[usize], stride: usize, pad: usize) -> Result<Self> {
        let op = "conv2d";
        if x.len() != 4 || w.len() != 4 {
            return Err(shape_err(
                op,
                format!("input {x:?} and weights {w:?} must both be 4-D (N,C,H,W and K,C,KH,KW)"),
            ));
        }
        if stride == 0 {
            return Err(shape_err(op, "stride must be at least 1"));
        }
        if x[1] != w[1] {
            return Err(shape_err(
                op,
                format!(
                    "input has {} channels but weights {w:?} expect {}",
                    x[1], w[1]
                ),
            ));
        }
        if w[2] == 0 || w[3] == 0 || x[2] + 2 * pad < w[2] || x[3] + 2 * pad < w[3] {
            return Err(shape_err(
                op,
                format!(
                    "kernel {}x{} does not fit input {}x{} with padding {pad}",
                    w[2], w[3], x[2], x[3]
                ),
            ));
        }
        Ok(Self {
            n: x[0],
            c: x[1],
            h: x[2],
            w: x[3],
            k: w[0],
            kh: w[2],
            kw: w[3],
            stride,
            pad,
        })
    }

    /// Output height (H + 2p − KH)/s + 1.
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }

    /// Output width (W + 2p − KW)/s + 1.
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }

    /// Output shape N×K×OH×OW.
    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.k, self.out_h(), self.out_w()]
    }

    /// Multiply-add count of the forward pass (FLOPs = 2 × this).
    pub fn macs(&self) -> usize {
        self.n * self.k * self.out_h() * self.out_w() * self.c * self.kh * self.kw
    }

    pub(crate) fn check_bias(&self, b: Option<usize>) -> Result<()> {
        if let Some(b) = b {
            if b != self.k {
                return Err(shape_err(
                    "conv2d",
                    format!(
                        "bias has {} values, expected {} (one per output channel)",
                        b, self.k
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn check_dy(&self, dy: &Tensor) -> Result<()> {
        if dy.shape() != self.out_shape() {
            return Err(shape_err(
                "conv2d_backward",
                format!("dy is {:?}, expected {:?}", dy.shape(), self.out_shape()),
            ));
        }
        Ok(())
    }
}

/// Gradients of a convolution with respect to its input, weights and bias.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dGrads {
    /// ∂L/∂x, N×C×H×W.
    pub dx: Tensor,
    /// ∂L/∂w, K×C×KH×KW.
    pub dw: Tensor,
    /// ∂L/∂b, K.
    pub db: Tensor,
}

/// Samples per parallel work item; fixed, so the reduction order of dw/db never depends on
/// the thread count.
pub const CHUNK: usize = 8;

/// Which convolution algorithm to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConvAlgo {
    /// Pick per shape: [`ConvAlgo::Direct`] when [`prefers_direct`] holds, else im2col.
    #[default]
    Auto,
    /// Unfold + sgemm, any shape.
    Im2col,
    /// The SIMD direct kernel, any shape (fastest for stride 1 and few channels; a stride s > 1
    /// computes the stride-1 output and subsamples it, s² times the work).
    Direct,
}

/// The `Auto` heuristic, measured by `benches/kernels.rs` (see docs/performance.md): the direct
/// kernel wins for stride 1 with small channel counts (LeNet-5: C ≤ 16, K ≤ 32); im2col wins
/// for strided convolutions and wide layers, where the GEMM's K = C·KH·KW is long enough for
/// matrixmultiply's packed micro-kernel.
pub fn prefers_direct(g: &Conv2dGeom) -> bool {
    g.stride == 1 && g.c <= 16 && g.k <= 32
}

fn resolve(algo: ConvAlgo, g: &Conv2dGeom) -> ConvAlgo {
    match algo {
        ConvAlgo::Auto if prefers_direct(g) => ConvAlgo::Direct,
        ConvAlgo::Auto => ConvAlgo::Im2col,
        a => a,
    }
}

/// y = conv2d(x, w) + b with the [`ConvAlgo::Auto`] choice; see the module doc for the formula.
pub fn conv2d_forward(
    x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: usize,
) -> Result<Tensor> {
    conv2d_forward_with(ConvAlgo::Auto, x, w, b, stride, pad)
}

/// (dx, dw, db) of y = conv2d(x, w) + b given dy, with the [`ConvAlgo::Auto`] choice; see the
/// module doc for the formulas.
pub fn conv2d_backward(
    x: &Tensor, w: &Tensor, dy: &Tensor, stride: usize, pad: usize,
) -> Result<Conv2dGrads> {
    conv2d_backward_with(ConvAlgo::Auto, x, w, dy, stride, pad)
}

/// Forward y\[n,k,i,j\] = b\[k\] + Σ_{c,u,v} w\[k,c,u,v\]·x[n,c,i·s+u−p,j·s+v−p] with a chosen
/// algorithm. Parallel over samples.
pub fn conv2d_forward_with(
    algo: ConvAlgo, x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: usize,
) -> Result<Tensor> {
    let g = Conv2dGeom::new(x.shape(), w.shape(), stride, pad)?;
    let mut y = Tensor::zeros(&g.out_shape())?;
    conv2d_forward_into(algo, x, w, b, stride, pad, y.data_mut())?;
    Ok(y)
}

/// [`conv2d_forward_with`] writing into a caller buffer `y` of N·K·OH·OW values (every value
/// is overwritten). Reusing `y` across steps avoids the allocation and, for outputs above
/// the allocator's mmap threshold, the page faults of a fresh zeroed buffer, which cost as
/// much as the convolution itself at LeNet sizes (see docs/performance.md).
pub fn conv2d_forward_into(
    algo: ConvAlgo, x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: usize,
    y: &mut [f32],
) -> Result<()> {
    let g = Conv2dGeom::new(x.shape(), w.shape(), stride, pad)?;
    g.check_bias(b.map(|b| b.len()))?;
    conv2d_forward_slices(algo, &g, x.data(), w.data(), b.map(|b| b.data()), y)
}

/// The forward on plain slices for the geometry `g` (x: N×C×H×W, w: K×C×KH×KW, b: K,
/// y: N×K×OH×OW, every value overwritten); what [`conv2d_forward_into`] runs.
pub fn conv2d_forward_slices(
    algo: ConvAlgo, g: &Conv2dGeom, x: &[f32], w: &[f32], b: Option<&[f32]>, y: &mut [f32],
) -> Result<()> {
    let g = *g;
    let op = "conv2d_forward";
    let per_x = g.c * g.h * g.w;
    let per_y = g.k * g.out_h() * g.out_w();
    check_len(op, "x", x.len(), g.n * per_x)?;
    check_len(op, "w", w.len(), g.k * g.c * g.kh * g.kw)?;
    g.check_bias(b.map(|b| b.len()))?;
    check_len(op, "y", y.len(), g.n * per_y)?;
    if per_y == 0 {
        return Ok(());
    }
    match resolve(algo, &g) {
        ConvAlgo::Direct => {
            let plan = direct::Plan::forward(&g, w);
            y.par_chunks_mut(per_y).enumerate().for_each_init(
                || plan.scratch(),
                |s, (n, yn)| plan.forward_sample(s, &x[n * per_x..][..per_x], b, yn),
            );
        }
        _ => {
            y.par_chunks_mut(per_y).enumerate().for_each_init(
                || im2col::Scratch::new(&g),
                |s, (n, yn)| im2col::forward_sample(&g, s, &x[n * per_x..][..per_x], w, b, yn),
            );
        }
    }
    Ok(())
}

/// The backward on plain slices for the geometry `g`: dw (K×C×KH×KW) and db (K) are
/// overwritten, and dx (N×C×H×W) too when given; `None` skips dx, the costlier half, for an
/// input that needs no gradient (the images). [`ConvAlgo::Auto`] picks the algorithm.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_slices(
    g: &Conv2dGeom, x: &[f32], w: &[f32], dy: &[f32], dx: Option<&mut [f32]>, dw: &mut [f32],
    db: &mut [f32],
) -> Result<()> {
    let op = "conv2d_backward";
    check_len(op, "x", x.len(), g.n * g.c * g.h * g.w)?;
    check_len(op, "w", w.len(), g.k * g.c * g.kh * g.kw)?;
    check_len(op, "dy", dy.len(), g.out_shape().iter().product())?;
    check_len(op, "dw", dw.len(), w.len())?;
    check_len(op, "db", db.len(), g.k)?;
    if let Some(dx) = dx.as_deref() {
        check_len(op, "dx", dx.len(), x.len())?;
    }
    let (gw, gb) = backward_impl(ConvAlgo::Auto, g, x, w, DySrc::Dense(dy), dx)?;
    dw.copy_from_slice(&gw);
    db.copy_from_slice(&gb);
    Ok(())
}

/// Backward (dx, dw, db) with a chosen algorithm; see the module doc for the formulas.
/// Parallel over fixed chunks of [`CHUNK`] samples; dw/db partials are reduced in chunk order.
pub fn conv2d_backward_with(
    algo: ConvAlgo, x: &Tensor, w: &Tensor, dy: &Tensor, stride: usize, pad: usize,
) -> Result<Conv2dGrads> {
    let g = Conv2dGeom::new(x.shape(), w.shape(), stride, pad)?;
    g.check_dy(dy)?;
    let mut dx = Tensor::zeros(x.shape())?;
    let (dw, db) = backward_impl(
        algo,
        &g,
        x.data(),
        w.data(),
        DySrc::Dense(dy.data()),
        Some(dx.data_mut()),
    )?;
    let (dw, db) = (
        Tensor::from_vec(w.shape(), dw)?,
        Tensor::from_vec(&[g.k], db)?,
    );
    Ok(Conv2dGrads { dx, dw, db })
}

/// Only the parameter gradients of y = conv2d(x, w) + b:
/// dw\[k,c,u,v\] = Σ_{n,i,j} dy\[n,k,i,j\]·x[n,c,i·s+u−p,j·s+v−p], db\[k\] = Σ_{n,i,j} dy\[n,k,i,j\]
/// (the same values, in the same order, as [`conv2d_backward`]), skipping dx: for a first
/// layer, whose input is data and needs no gradient. Returns (dw, db).
pub fn conv2d_backward_params(
    x: &Tensor, w: &Tensor, dy: &Tensor, stride: usize, pad: usize,
) -> Result<(Tensor, Tensor)> {
    let g = Conv2dGeom::new(x.shape(), w.shape(), stride, pad)?;
    g.check_dy(dy)?;
    let (dw, db) = backward_impl(
        ConvAlgo::Auto,
        &g,
        x.data(),
        w.data(),
        DySrc::Dense(dy.data()),
        None,
    )?;
    Ok((
        Tensor::from_vec(w.shape(), dw)?,
        Tensor::from_vec(&[g.k], db)?,
    ))
}

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
/// [`crate::ops::pool::relu_max_pool2d_backward`] followed by [`conv2d_backward`].
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

/// Where the backward reads dy of the conv output.
#[derive(Clone, Copy)]
enum DySrc<'a> {
    /// dy itself, N×K×OH×OW (checked by the caller).
    Dense(&'a [f32]),
    /// Built per sample from the gradient of the fused ReLU → 2×2 max-pool (checked by the
    /// caller: argmax entries lie in their own sample).
    Pooled {
        dy: &'a [f32],
        y: &'a [f32],
        argmax: &'a [u32],
        per_p: usize,
    },
}

impl DySrc<'_> {
    /// dy of sample n (per_y values), in `buf` when it has to be built; an error when an
    /// argmax entry of sample n points outside its own conv output.
    fn sample<'b>(&'b self, n: usize, per_y: usize, buf: &'b mut Vec<f32>) -> Result<&'b [f32]> {
        match *self {
            DySrc::Dense(d) => Ok(&d[n * per_y..][..per_y]),
            DySrc::Pooled {
                dy,
                y,
                argmax,
                per_p,
            } => {
                buf.clear();
                buf.resize(per_y, 0.0);
                let r = n * per_p..(n + 1) * per_p;
                let base = n * per_y;
                let mut inside = true;
                // Branch-free gate (y > 0 is a coin flip per window: a branch mispredicts half
                // the time); adding +0.0 to the zeroed buffer changes nothing. An entry
                // outside the sample is clamped into it, then reported below.
                for ((&a, &d), &v) in argmax[r.clone()].iter().zip(&dy[r.clone()]).zip(&y[r]) {
                    let i = (a as usize).wrapping_sub(base);
                    inside &= i < per_y;
                    buf[i.min(per_y - 1)] += if v > 0.0 { d } else { 0.0 };
                }
                if !inside {
                    return Err(shape_err(
                        "conv2d_relu_maxpool_backward",
                        format!("an argmax entry of sample {n} lies outside its conv output"),
                    ));
                }
                Ok(buf)
            }
        }
    }
}

/// A backward task's buffers, made once per rayon task and reused for every chunk it runs: a
/// chunk's dw lane accumulator is cleared by its flush, and dx_n is zero on entry.
enum Work<'p> {
    /// The direct plan and its scratch.
    Direct(&'p direct::Plan, direct::Scratch),
    /// im2col's scratch, and a spare dx for an input that needs no gradient.
    Im2col(im2col::Scratch, Vec<f32>),
}

fn backward_impl(
    algo: ConvAlgo, g: &Conv2dGeom, xd: &[f32], wd: &[f32], dy: DySrc, dx: Option<&mut [f32]>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let g = *g;
    let mut dw = vec![0.0f32; wd.len()];
    let mut db = vec![0.0f32; g.k];
    let per_x = g.c * g.h * g.w;
    let per_y = g.k * g.out_h() * g.out_w();
    if g.n == 0 || per_x == 0 || per_y == 0 {
        return Ok((dw, db));
    }
    let nw = wd.len();
    let chunks = g.n.div_ceil(CHUNK);
    // dx split into the same chunks as the samples, or no dx at all.
    let dx_chunks: Vec<Option<&mut [f32]>> = match dx {
        Some(d) => d.chunks_mut(CHUNK * per_x).map(Some).collect(),
        None => (0..chunks).map(|_| None).collect(),
    };
    let direct = resolve(algo, &g) == ConvAlgo::Direct;
    let plan = direct.then(|| direct::Plan::backward(&g, wd));
    // One (dw, db) partial per chunk, side by side in one buffer, reduced in chunk order
    // below. Scratch buffers ([`Work`]) are made once per rayon task, not per chunk.
    let per_part = nw + g.k;
    let mut parts = vec![0.0f32; chunks * per_part];
    let buffers = || {
        let work = match &plan {
            Some(plan) => Work::Direct(plan, plan.scratch()),
            None => Work::Im2col(im2col::Scratch::new(&g), Vec::new()),
        };
        (work, Vec::new())
    };
    let run = |(work, dybuf): &mut (Work, Vec<f32>),
               (ci, (part, mut dxc)): (usize, (&mut [f32], Option<&mut [f32]>))|
     -> Result<()> {
        let (pdw, pdb) = part.split_at_mut(nw);
        let n0 = ci * CHUNK;
        let n1 = (n0 + CHUNK).min(g.n);
        for n in n0..n1 {
            let x = &xd[n * per_x..][..per_x];
            let dxn = dxc
                .as_deref_mut()
                .map(|d| &mut d[(n - n0) * per_x..][..per_x]);
            let dyn_ = dy.sample(n, per_y, dybuf)?;
            match work {
                Work::Direct(plan, s) => plan.backward_sample_opt(s, x, dyn_, dxn, pdb),
                Work::Im2col(s, spare) => {
                    let dxn = match dxn {
                        Some(d) => d,
                        None => {
                            spare.clear();
                            spare.resize(per_x, 0.0);
                            &mut spare[..]
                        }
                    };
                    im2col::backward_sample(&g, s, x, wd, dyn_, dxn, pdw, pdb);
                }
            }
        }
        if let Work::Direct(plan, s) = work {
            plan.flush_dw(s, pdw);
        }
        Ok(())
    };
    parts
        .par_chunks_mut(per_part)
        .zip(dx_chunks)
        .enumerate()
        .try_for_each_init(buffers, run)?;
    // Fixed-order reduction: chunk 0, 1, 2, ... whatever thread computed them.
    for part in parts.chunks_exact(per_part) {
        let (pdw, pdb) = part.split_at(nw);
        for (a, b) in dw.iter_mut().zip(pdw) {
            *a += b;
        }
        for (a, b) in db.iter_mut().zip(pdb) {
            *a += b;
        }
    }
    Ok((dw, db))
}
