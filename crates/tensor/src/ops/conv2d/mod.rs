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
//! The sizes of one convolution are a [`Conv2dGeom`] (`geom.rs`); the fused LeNet block
//! conv → ReLU → 2×2 max-pool ([`conv2d_relu_maxpool_forward`], its backward) is `fused.rs`.
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
mod fused;
mod geom;
mod im2col;
pub mod reference;
#[cfg(test)]
mod tests;

pub use fused::{conv2d_relu_maxpool_backward, conv2d_relu_maxpool_forward};
pub use geom::Conv2dGeom;

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
