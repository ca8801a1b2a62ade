//! The dense (fully connected) layer on top of [`gemm`], W stored out×in as PyTorch:
//!
//!   forward   y = x·Wᵀ + b          (x: m×i, W: o×i, b: o, y: m×o)
//!   backward  dx = dy·W  (m×o · o×i),  dW = dyᵀ·x  (o×m · m×i),  db[j] = Σ_rows dy[·, j]
//!
//! and the two bias helpers the GPU backend also launches as kernels (`gemm.cu` beside this
//! file): [`add_bias_rows`] (y[r, j] += b[j]) and [`sum_rows`] (column sums, the bias
//! gradient). The GEMMs themselves run on matrixmultiply here and on cuBLAS on the GPU.

use super::{gemm, gemm_on_this_thread, PAR_MACS};
use crate::error::{check_len, Result};

/// Bias broadcast over rows: y[r, j] += b\[j\] for y: rows×cols.
pub fn add_bias_rows(rows: usize, cols: usize, b: &[f32], y: &mut [f32]) -> Result<()> {
    check_len("add_bias_rows", "bias", b.len(), cols)?;
    check_len("add_bias_rows", "y", y.len(), rows * cols)?;
    for row in y.chunks_exact_mut(cols.max(1)) {
        row.iter_mut().zip(b).for_each(|(v, &bj)| *v += bj);
    }
    Ok(())
}

/// Column sums db\[j\] = Σ_r dy[r, j] of dy: rows×cols (f64, row order): the bias gradient of
/// a dense layer. db is overwritten.
pub fn sum_rows(rows: usize, cols: usize, dy: &[f32], db: &mut [f32]) -> Result<()> {
    check_len("sum_rows", "dy", dy.len(), rows * cols)?;
    check_len("sum_rows", "db", db.len(), cols)?;
    let mut acc = vec![0f64; cols];
    for row in dy.chunks_exact(cols.max(1)) {
        acc.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
    }
    db.iter_mut().zip(acc).for_each(|(d, s)| *d = s as f32);
    Ok(())
}

/// y = x·Wᵀ + b for m rows of i inputs and o outputs (y overwritten): the bias rows first,
/// then one GEMM with β = 1 (β = 0 without a bias).
#[allow(clippy::too_many_arguments)]
pub fn linear_forward(
    m: usize, i: usize, o: usize, x: &[f32], w: &[f32], b: Option<&[f32]>, y: &mut [f32],
) -> Result<()> {
    check_len("linear_forward", "y", y.len(), m * o)?;
    let beta = match b {
        Some(b) => {
            check_len("linear_forward", "bias", b.len(), o)?;
            for row in y.chunks_exact_mut(o.max(1)) {
                row.copy_from_slice(b);
            }
            1.0
        }
        None => 0.0,
    };
    gemm(false, true, m, o, i, 1.0, x, w, beta, y)
}

/// A GEMM entry point: [`gemm`] or [`gemm_on_this_thread`].
type Mm = fn(bool, bool, usize, usize, usize, f32, &[f32], &[f32], f32, &mut [f32]) -> Result<()>;

/// The gradients a caller asks for of y = x·Wᵀ + b given dy (each overwritten):
/// dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy.
pub struct LinearGrads<'a> {
    pub dx: Option<&'a mut [f32]>,
    pub dw: Option<&'a mut [f32]>,
    pub db: Option<&'a mut [f32]>,
}

/// Dense backward (see the module doc) for m rows, i inputs, o outputs.
///
/// When both dx and dW are asked for, the two GEMMs (the same m·i·o multiply-adds each) run
/// side by side in one parallel region ([`rayon::join`]), each on one thread: half the
/// regions of two split GEMMs, and perfectly balanced on two threads. Every value is the
/// same single-threaded sgemm arithmetic whichever way it runs.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    m: usize, i: usize, o: usize, x: &[f32], w: &[f32], dy: &[f32], grads: LinearGrads<'_>,
) -> Result<()> {
    // dx = dy·W and dW = dyᵀ·x, by `gemm` (split over the workers) or one thread each.
    let dx = |g: &mut [f32], mm: Mm| mm(false, false, m, i, o, 1.0, dy, w, 0.0, g);
    let dw = |g: &mut [f32], mm: Mm| mm(true, false, o, i, m, 1.0, dy, x, 0.0, g);
    match (grads.dx, grads.dw) {
        (Some(gx), Some(gw)) if m * i * o >= PAR_MACS => {
            let one = gemm_on_this_thread as Mm;
            let (rx, rw) = rayon::join(|| dx(gx, one), || dw(gw, one));
            rx?;
            rw?;
        }
        (gx, gw) => {
            if let Some(gx) = gx {
                dx(gx, gemm)?;
            }
            if let Some(gw) = gw {
                dw(gw, gemm)?;
            }
        }
    }
    if let Some(db) = grads.db {
        sum_rows(m, o, dy, db)?; // db = Σ_rows dy
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{assert_close, dot, numeric_grad, uniform};

    fn forward(m: usize, i: usize, o: usize, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut y = vec![f32::NAN; m * o];
        linear_forward(m, i, o, x, w, Some(b), &mut y).unwrap();
        y
    }

    #[test]
    fn forward_by_hand() {
        // x = [1 2], W = [[1 0] [0 1] [1 1]], b = (0.5, 0, −1): y = (1.5, 2, 2).
        let y = forward(
            1,
            2,
            3,
            &[1.0, 2.0],
            &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
            &[0.5, 0.0, -1.0],
        );
        assert_eq!(y, [1.5, 2.0, 2.0]);
        let mut y = vec![f32::NAN; 3];
        linear_forward(
            1,
            2,
            3,
            &[1.0, 2.0],
            &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
            None,
            &mut y,
        )
        .unwrap();
        assert_eq!(y, [1.0, 2.0, 3.0], "no bias: β = 0 overwrites the NaNs");
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (m, i, o) = (4, 5, 3);
        let (x, w, b) = (
            uniform(m * i, -1.0, 1.0, 1),
            uniform(o * i, -1.0, 1.0, 2),
            uniform(o, -1.0, 1.0, 3),
        );
        let up = uniform(m * o, -1.0, 1.0, 4);
        let (mut dx, mut dw, mut db) = (vec![0.0; m * i], vec![0.0; o * i], vec![0.0; o]);
        let grads = LinearGrads {
            dx: Some(&mut dx),
            dw: Some(&mut dw),
            db: Some(&mut db),
        };
        linear_backward(m, i, o, &x, &w, &up, grads).unwrap();
        let loss = |x: &[f32], w: &[f32], b: &[f32]| dot(&up, &forward(m, i, o, x, w, b));
        assert_close(
            "dx",
            &dx,
            &numeric_grad(&x, 1e-2, |v| loss(v, &w, &b)),
            1e-2,
            1e-3,
        );
        assert_close(
            "dw",
            &dw,
            &numeric_grad(&w, 1e-2, |v| loss(&x, v, &b)),
            1e-2,
            1e-3,
        );
        assert_close(
            "db",
            &db,
            &numeric_grad(&b, 1e-2, |v| loss(&x, &w, v)),
            1e-2,
            1e-3,
        );
    }

    #[test]
    fn bias_helpers_by_hand_and_errors() {
        let mut y = [1.0, 2.0, 3.0, 4.0];
        add_bias_rows(2, 2, &[10.0, 20.0], &mut y).unwrap();
        assert_eq!(y, [11.0, 22.0, 13.0, 24.0]);
        let mut db = [0.0; 2];
        sum_rows(2, 2, &y, &mut db).unwrap();
        assert_eq!(db, [24.0, 46.0]);
        assert!(add_bias_rows(2, 2, &[1.0], &mut y).is_err());
        assert!(sum_rows(3, 2, &y, &mut db).is_err());
    }
}
