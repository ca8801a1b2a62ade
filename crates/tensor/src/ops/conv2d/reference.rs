//! The specification: the formulas of the module doc as loops, accumulated in f64.

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
    x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: usize,
) -> Result<Tensor> {
    let g = Conv2dGeom::new(x.shape(), w.shape(), stride, pad)?;
    g.check_bias(b.map(|b| b.len()))?;
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
    x: &Tensor, w: &Tensor, dy: &Tensor, stride: usize, pad: usize,
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
