//! [`Conv2dGeom`]: the sizes of one convolution, checked once, and what follows from them
//! (output shape, multiply-adds).

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
