//! im2col + GEMM convolution, one sample at a time.
//!
//! cols[(c·KH+u)·KW+v, i·OW+j] = x[c, i·s+u−p, j·s+v−p] (0 outside the image), so
//!   forward  Y (K × OH·OW)      = W (K × C·KH·KW) · cols  (+ b[k] on row k)
//!   backward dW (K × C·KH·KW)  += dY · colsᵀ,   dcols = Wᵀ · dY,   dx = col2im(dcols)
//!            db[k]             += Σ_{i,j} dY[k, i·OW+j]

use super::Conv2dGeom;
use crate::ops::gemm::gemm;

/// Per-worker buffers: the unfolded input and its gradient.
pub(super) struct Scratch {
    cols: Vec<f32>,
    dcols: Vec<f32>,
}

impl Scratch {
    pub(super) fn new(g: &Conv2dGeom) -> Self {
        let len = g.c * g.kh * g.kw * g.out_h() * g.out_w();
        Self {
            cols: vec![0.0; len],
            dcols: vec![0.0; len],
        }
    }
}

/// Input coordinate of output index `o` at tap `u`, if inside `0..size`.
#[inline(always)]
fn src(o: usize, u: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (o * stride + u).checked_sub(pad).filter(|&p| p < size)
}

/// Unfolds one sample x (C×H×W) into `cols`.
fn im2col(g: &Conv2dGeom, x: &[f32], cols: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut rows = cols.chunks_exact_mut(oh * ow);
    for c in 0..g.c {
        let plane = &x[c * g.h * g.w..][..g.h * g.w];
        for u in 0..g.kh {
            for v in 0..g.kw {
                // Cannot fail: the buffer holds C·KH·KW rows of OH·OW, one per (c, u, v).
                let row = rows.next().expect("C·KH·KW rows");
                for i in 0..oh {
                    let out = &mut row[i * ow..][..ow];
                    match src(i, u, g.stride, g.pad, g.h) {
                        None => out.fill(0.0),
                        Some(hi) => {
                            let xr = &plane[hi * g.w..][..g.w];
                            for (j, o) in out.iter_mut().enumerate() {
                                *o = src(j, v, g.stride, g.pad, g.w).map_or(0.0, |wi| xr[wi]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds `dcols` back onto one sample's dx (C×H×W): the adjoint of [`im2col`].
fn col2im(g: &Conv2dGeom, dcols: &[f32], dx: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut rows = dcols.chunks_exact(oh * ow);
    for c in 0..g.c {
        let plane = &mut dx[c * g.h * g.w..][..g.h * g.w];
        for u in 0..g.kh {
            for v in 0..g.kw {
                // Cannot fail: the buffer holds C·KH·KW rows of OH·OW, one per (c, u, v).
                let row = rows.next().expect("C·KH·KW rows");
                for i in 0..oh {
                    let Some(hi) = src(i, u, g.stride, g.pad, g.h) else {
                        continue;
                    };
                    let xr = &mut plane[hi * g.w..][..g.w];
                    for (j, &d) in row[i * ow..][..ow].iter().enumerate() {
                        if let Some(wi) = src(j, v, g.stride, g.pad, g.w) {
                            xr[wi] += d;
                        }
                    }
                }
            }
        }
    }
}

/// y_n = W·cols(x_n) + b for one sample.
pub(super) fn forward_sample(
    g: &Conv2dGeom, s: &mut Scratch, x: &[f32], w: &[f32], b: Option<&[f32]>, y: &mut [f32],
) {
    let ohw = g.out_h() * g.out_w();
    let ckk = g.c * g.kh * g.kw;
    im2col(g, x, &mut s.cols);
    // Cannot fail: every length comes from the Conv2dGeom the buffers were checked against.
    gemm(false, false, g.k, ohw, ckk, 1.0, w, &s.cols, 0.0, y).expect("sizes from Conv2dGeom");
    if let Some(b) = b {
        for (row, &bk) in y.chunks_exact_mut(ohw).zip(b) {
            row.iter_mut().for_each(|v| *v += bk);
        }
    }
}

/// Adds one sample's dW, db to `dw`, `db` and writes its dx (which must be zero on entry).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_sample(
    g: &Conv2dGeom, s: &mut Scratch, x: &[f32], w: &[f32], dy: &[f32], dx: &mut [f32],
    dw: &mut [f32], db: &mut [f32],
) {
    let ohw = g.out_h() * g.out_w();
    let ckk = g.c * g.kh * g.kw;
    im2col(g, x, &mut s.cols);
    // dW += dY · colsᵀ
    // Cannot fail: as in forward_sample, the lengths come from the checked Conv2dGeom.
    gemm(false, true, g.k, ckk, ohw, 1.0, dy, &s.cols, 1.0, dw).expect("sizes from Conv2dGeom");
    // dcols = Wᵀ · dY
    gemm(true, false, ckk, ohw, g.k, 1.0, w, dy, 0.0, &mut s.dcols).expect("sizes from Conv2dGeom");
    col2im(g, &s.dcols, dx);
    for (row, d) in dy.chunks_exact(ohw).zip(db.iter_mut()) {
        *d += row.iter().sum::<f32>();
    }
}
