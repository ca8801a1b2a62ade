//! Launches of `ops/conv2d/conv2d.cu`: the convolution forward and its three gradients.

use cudarc::driver::PushKernelArg;
use siamese_tensor::backend::{check_lens, BResult, Conv2dGeom};

use super::Buf;
use crate::launch::{grid, ints, per_block, push_ints};
use crate::sources::K;
use crate::CudaBackend;

/// Checks the geometry (the CPU's own validation) and the lengths of x and w, and returns
/// the kernels' sizes N, C, H, W, K, KH, KW, S, P, OH, OW.
fn check(op: &'static str, g: &Conv2dGeom, x: &Buf, w: &Buf) -> BResult<[i32; 11]> {
    Conv2dGeom::new(
        &[g.n, g.c, g.h, g.w],
        &[g.k, g.c, g.kh, g.kw],
        g.stride,
        g.pad,
    )?;
    check_lens(
        op,
        &[
            ("x", x.len(), g.n * g.c * g.h * g.w),
            ("w", w.len(), g.k * g.c * g.kh * g.kw),
        ],
    )?;
    let (oh, ow) = (g.out_h(), g.out_w());
    ints(
        op,
        [g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.stride, g.pad, oh, ow],
    )
}

/// [`siamese_tensor::ops::conv2d::conv2d_forward_slices`]: y = conv2d(x, w) + b.
pub(crate) fn forward(
    be: &CudaBackend, g: &Conv2dGeom, (x, w, b): (&Buf, &Buf, &Buf), y: &mut Buf,
) -> BResult<()> {
    let op = "conv2d_forward";
    let d = check(op, g, x, w)?;
    let total: usize = g.out_shape().iter().product();
    check_lens(op, &[("b", b.len(), g.k), ("y", y.len(), total)])?;
    if total == 0 {
        return Ok(());
    }
    let cfg = grid(op, total)?;
    // SAFETY: `conv2d_forward(const float* x, const float* w, const float* b, float* y,
    // int N, C, H, W, K, KH, KW, S, P, OH, OW)`: four buffers then the 11 i32 of `check` in
    // that order. x holds N·C·H·W, w K·C·KH·KW, b K and y N·K·OH·OW values (checked); the
    // kernel reads x only at 0 ≤ ih < H, 0 ≤ iw < W and writes y[idx] for idx < N·K·OH·OW.
    unsafe {
        be.launch(K::Conv2dForward, cfg, |lb| {
            lb.arg(x).arg(w).arg(b).arg(y);
            push_ints(lb, &d);
        })
    }
}

/// [`siamese_tensor::ops::conv2d::conv2d_backward_slices`]: dw, db and, when given, dx.
pub(crate) fn backward(
    be: &CudaBackend, g: &Conv2dGeom, (x, w, dy): (&Buf, &Buf, &Buf), dx: Option<&mut Buf>,
    (dw, db): (&mut Buf, &mut Buf),
) -> BResult<()> {
    let op = "conv2d_backward";
    let d = check(op, g, x, w)?;
    let ohw = g.out_h() * g.out_w();
    check_lens(
        op,
        &[
            ("dy", dy.len(), g.n * g.k * ohw),
            ("dw", dw.len(), w.len()),
            ("db", db.len(), g.k),
            ("dx", dx.as_ref().map_or(x.len(), |d| d.len()), x.len()),
        ],
    )?;
    // Every size and launch geometry is converted before the first launch.
    let dw_cfg = (!w.is_empty())
        .then(|| per_block(op, w.len()))
        .transpose()?;
    let db_cfg = (g.k > 0).then(|| per_block(op, g.k)).transpose()?;
    let [n, k, ohw] = ints(op, [g.n, g.k, ohw])?;
    let dx = dx.filter(|d| !d.is_empty());
    let dx_cfg = dx.as_ref().map(|d| grid(op, d.len())).transpose()?;
    if let Some(cfg) = dw_cfg {
        // SAFETY: `conv2d_backward_dw(const float* x, const float* dy, float* dw, int N, C, H,
        // W, K, KH, KW, S, P, OH, OW)`: three buffers and the 11 i32 in order. One block per
        // weight (K·C·KH·KW blocks = dw.len(), checked), each writing dw[block]; x (N·C·H·W)
        // and dy (N·K·OH·OW) are read in range (checked lengths, bounds tests).
        unsafe {
            be.launch(K::Conv2dBackwardDw, cfg, |lb| {
                lb.arg(x).arg(dy).arg(dw);
                push_ints(lb, &d);
            })?;
        }
    }
    if let Some(cfg) = db_cfg {
        // SAFETY: `conv2d_backward_db(const float* dy, float* db, int N, int K, int OHW)`: two
        // buffers and three i32. K blocks (= db.len(), checked), each summing
        // dy[(n·K + k)·OHW + q] for n < N, q < OHW, inside dy's N·K·OHW values (checked).
        unsafe {
            be.launch(K::Conv2dBackwardDb, cfg, |lb| {
                lb.arg(dy).arg(db).arg(&n).arg(&k).arg(&ohw);
            })?;
        }
    }
    match (dx, dx_cfg) {
        (Some(dx), Some(cfg)) => {
            // SAFETY: `conv2d_backward_dx(const float* w, const float* dy, float* dx, int N,
            // C, H, W, K, KH, KW, S, P, OH, OW)`: three buffers and the 11 i32 in order. One
            // thread per dx element (N·C·H·W = dx.len(), checked); dy is read at 0 ≤ i < OH,
            // 0 ≤ j < OW and w within K·C·KH·KW.
            unsafe {
                be.launch(K::Conv2dBackwardDx, cfg, |lb| {
                    lb.arg(w).arg(dy).arg(dx);
                    push_ints(lb, &d);
                })
            }
        }
        _ => Ok(()),
    }
}
