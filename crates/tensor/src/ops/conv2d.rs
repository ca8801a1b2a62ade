//! 2-D convolution (cross-correlation, as in every DL framework), stride s, zero padding p.
//!
//! Forward, for x: N×C×H×W, w: K×C×kh×kw, b: K:
//!   y[n,k,i,j] = b[k] + Σ_c Σ_u Σ_v w[k,c,u,v] · x[n, c, i·s + u − p, j·s + v − p]
//! (x outside the image reads 0), with y: N×K×OH×OW, OH = (H + 2p − kh)/s + 1.
//!
//! Backward, given dy = ∂L/∂y:
//!   dw[k,c,u,v] = Σ_n Σ_i Σ_j dy[n,k,i,j] · x[n, c, i·s+u−p, j·s+v−p]
//!   db[k]       = Σ_n Σ_i Σ_j dy[n,k,i,j]
//!   dx[n,c,h,w] = Σ_k Σ_u Σ_v dy[n,k,i,j] · w[k,c,u,v]  over (i,j) with i·s+u−p = h, j·s+v−p = w

use crate::error::{shape_err, Result};
use crate::Tensor;

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

    fn check_bias(&self, b: Option<&Tensor>) -> Result<()> {
        if let Some(b) = b {
            if b.len() != self.k {
                return Err(shape_err(
                    "conv2d",
                    format!(
                        "bias has {} values, expected {} (one per output channel)",
                        b.len(),
                        self.k
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_dy(&self, dy: &Tensor) -> Result<()> {
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

/// y = conv2d(x, w) + b, see the module doc for the formula.
pub fn conv2d_forward(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    pad: usize,
) -> Result<Tensor> {
    reference::conv2d_forward(x, w, b, stride, pad)
}

/// (dx, dw, db) of y = conv2d(x, w) + b given dy, see the module doc for the formulas.
pub fn conv2d_backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    stride: usize,
    pad: usize,
) -> Result<Conv2dGrads> {
    reference::conv2d_backward(x, w, dy, stride, pad)
}

/// The specification: the formulas of the module doc as loops, accumulated in f64.
pub mod reference {
    use super::{Conv2dGeom, Conv2dGrads};
    use crate::error::Result;
    use crate::Tensor;

    /// Input coordinate read by output index `o` at kernel offset `u`, if inside the image.
    fn src(o: usize, u: usize, g: &Conv2dGeom, size: usize) -> Option<usize> {
        let pos = (o * g.stride + u) as isize - g.pad as isize;
        (pos >= 0 && (pos as usize) < size).then_some(pos as usize)
    }

    /// Naive forward.
    pub fn conv2d_forward(
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        stride: usize,
        pad: usize,
    ) -> Result<Tensor> {
        let g = Conv2dGeom::new(x.shape(), w.shape(), stride, pad)?;
        g.check_bias(b)?;
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut y = Tensor::zeros(&g.out_shape())?;
        let (xd, wd, yd) = (x.data(), w.data(), y.data_mut());
        for n in 0..g.n {
            for k in 0..g.k {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut acc = b.map_or(0.0, |b| b.data()[k] as f64);
                        for c in 0..g.c {
                            for u in 0..g.kh {
                                let Some(hi) = src(i, u, &g, g.h) else {
                                    continue;
                                };
                                for v in 0..g.kw {
                                    let Some(wi) = src(j, v, &g, g.w) else {
                                        continue;
                                    };
                                    acc += wd[((k * g.c + c) * g.kh + u) * g.kw + v] as f64
                                        * xd[((n * g.c + c) * g.h + hi) * g.w + wi] as f64;
                                }
                            }
                        }
                        yd[((n * g.k + k) * oh + i) * ow + j] = acc as f32;
                    }
                }
            }
        }
        Ok(y)
    }

    /// Naive backward: scatters each dy element to the inputs and weights it touched.
    pub fn conv2d_backward(
        x: &Tensor,
        w: &Tensor,
        dy: &Tensor,
        stride: usize,
        pad: usize,
    ) -> Result<Conv2dGrads> {
        let g = Conv2dGeom::new(x.shape(), w.shape(), stride, pad)?;
        g.check_dy(dy)?;
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut dx = vec![0.0f64; x.len()];
        let mut dw = vec![0.0f64; w.len()];
        let mut db = vec![0.0f64; g.k];
        let (xd, wd, dyd) = (x.data(), w.data(), dy.data());
        for n in 0..g.n {
            for k in 0..g.k {
                for i in 0..oh {
                    for j in 0..ow {
                        let d = dyd[((n * g.k + k) * oh + i) * ow + j] as f64;
                        db[k] += d;
                        for c in 0..g.c {
                            for u in 0..g.kh {
                                let Some(hi) = src(i, u, &g, g.h) else {
                                    continue;
                                };
                                for v in 0..g.kw {
                                    let Some(wi) = src(j, v, &g, g.w) else {
                                        continue;
                                    };
                                    let xo = ((n * g.c + c) * g.h + hi) * g.w + wi;
                                    let wo = ((k * g.c + c) * g.kh + u) * g.kw + v;
                                    dw[wo] += d * xd[xo] as f64;
                                    dx[xo] += d * wd[wo] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
        Ok(Conv2dGrads {
            dx: Tensor::from_vec(x.shape(), f(dx))?,
            dw: Tensor::from_vec(w.shape(), f(dw))?,
            db: Tensor::from_vec(&[g.k], f(db))?,
        })
    }
}
