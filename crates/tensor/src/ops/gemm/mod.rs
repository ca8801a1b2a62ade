//! GEMM: C ← α·op(A)·op(B) + β·C (row-major, f32), on matrixmultiply's sgemm.
//!
//! `op(X)` is `X` or `Xᵀ`. With op(A) of shape m×k and op(B) of shape k×n, C is m×n.
//! A is stored as m×k when `trans_a` is false and as k×m when it is true (likewise B).
//! Backward of C = A·B with upstream dC: dA = dC·Bᵀ, dB = Aᵀ·dC — the same kernel with
//! transposes, so no separate backward routine exists.
//!
//! [`gemm_batched`] runs independent problems in parallel with rayon. No own micro-kernel is
//! kept: matrixmultiply's packed sgemm (AVX2/FMA/AVX-512-dispatched at runtime) is the GEMM
//! (see docs/performance.md); the hand-written SIMD work lives in the direct convolution.

/// The CUDA twin of this folder's equations (`gemm.cu` beside this file), the fragment that
/// siamese-cuda gathers into its NVRTC program.
pub const CUDA_SOURCE: &str = include_str!("gemm.cu");

mod linear;
pub use linear::{add_bias_rows, linear_backward, linear_forward, sum_rows, LinearGrads};

use crate::error::{shape_err, Result};
use crate::Tensor;

#[allow(clippy::too_many_arguments)]
fn check(
    op: &'static str, trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, a: &[f32],
    b: &[f32], c: &[f32],
) -> Result<()> {
    let _ = (trans_a, trans_b);
    if a.len() != m * k || b.len() != k * n || c.len() != m * n {
        return Err(shape_err(
            op,
            format!(
                "m={m} n={n} k={k} need A {}, B {}, C {} values; got {}, {}, {}",
                m * k,
                k * n,
                m * n,
                a.len(),
                b.len(),
                c.len()
            ),
        ));
    }
    Ok(())
}

/// [`gemm`] on the calling thread only, whatever its size: for callers that run several
/// GEMMs side by side themselves (the dense layer's backward).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_on_this_thread(
    trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32, a: &[f32], b: &[f32],
    beta: f32, c: &mut [f32],
) -> Result<()> {
    check("gemm", trans_a, trans_b, m, n, k, a, b, c)?;
    if m > 0 && n > 0 {
        sgemm_rows(trans_a, trans_b, m, n, k, alpha, a, b, beta, c, 0, m);
    }
    Ok(())
}

/// Rows of C per rayon task when one GEMM is split (fixed, so the split, and every value,
/// is the same for any thread count).
const ROW_BLOCK: usize = 64;
/// GEMMs of at least this many multiply-adds are split into [`ROW_BLOCK`]-row tasks.
pub(crate) const PAR_MACS: usize = 1 << 18;

/// C ← α·op(A)·op(B) + β·C. When β = 0, C is overwritten (NaNs in it do not propagate).
///
/// Large problems (≥ `PAR_MACS` multiply-adds, as the fc layers of a training batch) run
/// as independent blocks of `ROW_BLOCK` rows of C on the rayon workers; each C element is
/// computed by the same single-threaded sgemm arithmetic either way.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32, a: &[f32], b: &[f32],
    beta: f32, c: &mut [f32],
) -> Result<()> {
    check("gemm", trans_a, trans_b, m, n, k, a, b, c)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if m * n * k < PAR_MACS || m <= ROW_BLOCK {
        sgemm_rows(trans_a, trans_b, m, n, k, alpha, a, b, beta, c, 0, m);
        return Ok(());
    }
    use rayon::prelude::*;
    c.par_chunks_mut(ROW_BLOCK * n)
        .enumerate()
        .for_each(|(i, cb)| {
            let rows = cb.len() / n;
            sgemm_rows(
                trans_a,
                trans_b,
                m,
                n,
                k,
                alpha,
                a,
                b,
                beta,
                cb,
                i * ROW_BLOCK,
                rows,
            );
        });
    Ok(())
}

/// Rows r0..r0+rows of C ← α·op(A)·op(B) + β·C, with `c` holding exactly those rows and
/// a, b the whole (checked) operands.
#[allow(clippy::too_many_arguments)]
fn sgemm_rows(
    trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32, a: &[f32], b: &[f32],
    beta: f32, c: &mut [f32], r0: usize, rows: usize,
) {
    assert!(r0 + rows <= m && c.len() == rows * n && a.len() == m * k && b.len() == k * n);
    // Row/column strides of A and B as stored; a transpose is just swapped strides. Row i of
    // op(A) starts at i·rsa.
    let (rsa, csa) = if trans_a { (1, m) } else { (k, 1) };
    let (rsb, csb) = if trans_b { (1, k) } else { (n, 1) };
    if rows == 0 {
        return;
    }
    let a_rows = &a[r0 * rsa..];
    // SAFETY: the assert above gives a.len() == m*k, b.len() == k*n, c.len() == rows*n and
    // r0 + rows <= m. Element (i, p) of the op(A) block, i < rows, p < k, is
    // a_rows[i*rsa + p*csa] = a[(r0+i)*rsa + p*csa], the in-bounds element (r0+i, p) of
    // op(A) (max index (m−1)·rsa + (k−1)·csa = m·k − 1 for both layouts). B is read at
    // p*rsb + j*csb < k·n, C at i*n + j < rows·n. C is a unique &mut borrow, so it does not
    // alias A or B. matrixmultiply does not read C when beta == 0.
    unsafe {
        matrixmultiply::sgemm(
            rows,
            k,
            n,
            alpha,
            a_rows.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `batch` independent GEMMs C_i ← α·op(A_i)·op(B_i) + β·C_i, in parallel over i (rayon).
///
/// `a`, `b`, `c` hold the problems back to back: A_i = a[i·m·k..]\[..m·k\], likewise B_i (k·n)
/// and C_i (m·n). Each problem is computed by [`gemm`] on one worker, so the result does not
/// depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub fn gemm_batched(
    batch: usize, trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32,
    a: &[f32], b: &[f32], beta: f32, c: &mut [f32],
) -> Result<()> {
    if a.len() != batch * m * k || b.len() != batch * k * n || c.len() != batch * m * n {
        return Err(shape_err(
            "gemm_batched",
            format!(
                "{batch} problems of m={m} n={n} k={k} need A {}, B {}, C {} values; got {}, {}, {}",
                batch * m * k,
                batch * k * n,
                batch * m * n,
                a.len(),
                b.len(),
                c.len()
            ),
        ));
    }
    if batch == 0 || m == 0 || n == 0 {
        return Ok(());
    }
    use rayon::prelude::*;
    c.par_chunks_mut(m * n).enumerate().try_for_each(|(i, ci)| {
        let ai = &a[i * m * k..][..m * k];
        let bi = &b[i * k * n..][..k * n];
        gemm(trans_a, trans_b, m, n, k, alpha, ai, bi, beta, ci)
    })
}

/// `op(a)·op(b)` for 2-D tensors, a new m×n tensor.
pub fn matmul(a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
    if a.rank() != 2 || b.rank() != 2 {
        return Err(shape_err(
            "matmul",
            format!(
                "needs 2-D operands, got {:?} and {:?}",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let (m, ka) = if trans_a {
        (a.shape()[1], a.shape()[0])
    } else {
        (a.shape()[0], a.shape()[1])
    };
    let (kb, n) = if trans_b {
        (b.shape()[1], b.shape()[0])
    } else {
        (b.shape()[0], b.shape()[1])
    };
    if ka != kb {
        return Err(shape_err(
            "matmul",
            format!(
                "inner sizes differ: op(A) is {m}x{ka}, op(B) is {kb}x{n} (A {:?}, B {:?})",
                a.shape(),
                b.shape()
            ),
        ));
    }
    let mut c = Tensor::zeros(&[m, n])?;
    gemm(
        trans_a,
        trans_b,
        m,
        n,
        ka,
        1.0,
        a.data(),
        b.data(),
        0.0,
        c.data_mut(),
    )?;
    Ok(c)
}

/// The specification: three nested loops, accumulated in f64.
pub mod reference {
    use crate::error::Result;

    /// C ← α·op(A)·op(B) + β·C, naively.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32, a: &[f32],
        b: &[f32], beta: f32, c: &mut [f32],
    ) -> Result<()> {
        super::check("reference::gemm", trans_a, trans_b, m, n, k, a, b, c)?;
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f64;
                for p in 0..k {
                    let av = if trans_a { a[p * m + i] } else { a[i * k + p] };
                    let bv = if trans_b { b[j * k + p] } else { b[p * n + j] };
                    acc += av as f64 * bv as f64;
                }
                let prev = if beta == 0.0 {
                    0.0
                } else {
                    beta * c[i * n + j]
                };
                c[i * n + j] = alpha * acc as f32 + prev;
            }
        }
        Ok(())
    }
}
