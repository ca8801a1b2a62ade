//! The GEMM on cuBLAS and the launches of `ops/gemm/gemm.cu` (bias rows, column sums), which
//! together make the dense layer y = x·Wᵀ + b and its backward, as `ops::gemm::linear`.

use cudarc::cublas::{sys::cublasOperation_t, Gemm, GemmConfig};
use cudarc::driver::PushKernelArg;
use siamese_tensor::backend::{check_lens, BResult, BackendError};

use super::Buf;
use crate::launch::{expect_kernel, grid, int, ints, per_block};
use crate::sources::K;
use crate::CudaBackend;

/// [`siamese_tensor::ops::gemm::gemm`]: row-major C (m×n) = α·op(A)·op(B) + β·C through
/// column-major cuBLAS. A row-major r×c buffer read column-major is its transpose (c×r,
/// leading dimension c), so C's buffer is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: sgemm runs with
/// the operands swapped (B first), sizes (n, m, k), each operand's transpose flag unchanged,
/// and the leading dimensions of the row-major storage.
pub(crate) fn gemm(
    be: &CudaBackend, (trans_a, trans_b): (bool, bool), (m, n, k): (usize, usize, usize),
    (alpha, a, b): (f32, &Buf, &Buf), (beta, c): (f32, &mut Buf),
) -> BResult<()> {
    let op = "gemm";
    check_lens(
        op,
        &[
            ("A", a.len(), m * k),
            ("B", b.len(), k * n),
            ("C", c.len(), m * n),
        ],
    )?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let t = |tr: bool| {
        if tr {
            cublasOperation_t::CUBLAS_OP_T
        } else {
            cublasOperation_t::CUBLAS_OP_N
        }
    };
    // Leading dimensions of the row-major storage: A is m×k (k×m when transposed), B is k×n
    // (n×k when transposed), C is m×n.
    let lda_rm = if trans_a { m } else { k };
    let ldb_rm = if trans_b { k } else { n };
    let cfg = GemmConfig {
        transa: t(trans_b),
        transb: t(trans_a),
        m: int(op, n)?,
        n: int(op, m)?,
        k: int(op, k)?,
        alpha,
        lda: int(op, ldb_rm.max(1))?,
        ldb: int(op, lda_rm.max(1))?,
        beta,
        ldc: int(op, n.max(1))?,
    };
    // SAFETY: column-major sgemm computing Cᵀ (n×m, ldc = n) = op(B)ᵀ (n×k) · op(A)ᵀ (k×m).
    // B's storage (k·n values, checked) read column-major is n×k with ld n, or, transposed
    // storage, k×n with ld k; A likewise with (k, m). Every element cuBLAS touches is inside
    // those lengths; C holds m·n values and is a distinct &mut borrow.
    unsafe { be.blas.gemm(cfg, b, a, c) }
        .map_err(|e| BackendError::Device(format!("CUDA error in gemm (cuBLAS): {e}")))
}

/// The bias kernels of a rows×cols matrix: [`siamese_tensor::ops::gemm::add_bias_rows`]
/// (k = [`K::AddBiasRows`], `src` = b, `dst` = y: y[r, j] += b[j], one thread per element of y)
/// or [`siamese_tensor::ops::gemm::sum_rows`] (k = [`K::SumRows`], `src` = dy, `dst` = db:
/// db[j] = Σ_r dy[r, j], one block per column).
fn bias(
    be: &CudaBackend, k: K, (rows, cols): (usize, usize), src: &Buf, dst: &mut Buf,
) -> BResult<()> {
    expect_kernel(k, &[K::AddBiasRows, K::SumRows])?;
    let add = k == K::AddBiasRows;
    let lens = if add {
        [("bias", src.len(), cols), ("y", dst.len(), rows * cols)]
    } else {
        [("dy", src.len(), rows * cols), ("db", dst.len(), cols)]
    };
    check_lens(k.name(), &lens)?;
    if lens[1].2 == 0 {
        return Ok(());
    }
    let cfg = if add {
        grid(rows * cols)
    } else {
        per_block(cols)
    };
    let [r, c] = ints(k.name(), [rows, cols])?;
    // SAFETY: k is `add_bias_rows(const float* b, float* y, int rows, int cols)` or
    // `sum_rows(const float* dy, float* db, int rows, int cols)`: two buffers and two i32. The
    // first runs one thread per y element (rows·cols, checked) reading b[idx % cols] inside
    // b's cols values; the second one block per column (cols = db.len(), checked) reading
    // dy[r·cols + j] for r < rows, inside dy's rows·cols values.
    unsafe {
        be.launch(k, cfg, |lb| {
            lb.arg(src).arg(dst).arg(&r).arg(&c);
        })
    }
}

/// [`siamese_tensor::ops::gemm::linear_forward`]: y = x·Wᵀ + b for m rows, i inputs and o
/// outputs. The Rust home fills y with b and runs one GEMM with β = 1, which rounds as
/// fl(x·Wᵀ) + b; here the GEMM (β = 0) comes first and the bias kernel adds b after it,
/// the same rounding.
pub(crate) fn linear_forward(
    be: &CudaBackend, (m, i, o): (usize, usize, usize), (x, w, b): (&Buf, &Buf, &Buf), y: &mut Buf,
) -> BResult<()> {
    check_lens(
        "linear_forward",
        &[
            ("x", x.len(), m * i),
            ("w", w.len(), o * i),
            ("bias", b.len(), o),
            ("y", y.len(), m * o),
        ],
    )?;
    gemm(be, (false, true), (m, o, i), (1.0, x, w), (0.0, y))?;
    bias(be, K::AddBiasRows, (m, o), b, y)
}

/// [`siamese_tensor::ops::gemm::linear_backward`]: dW = dyᵀ·x, db = Σ_rows dy and, when
/// given, dx = dy·W (each overwritten).
pub(crate) fn linear_backward(
    be: &CudaBackend, (m, i, o): (usize, usize, usize), (x, w, dy): (&Buf, &Buf, &Buf),
    dx: Option<&mut Buf>, (dw, db): (&mut Buf, &mut Buf),
) -> BResult<()> {
    check_lens(
        "linear_backward",
        &[
            ("x", x.len(), m * i),
            ("w", w.len(), o * i),
            ("dy", dy.len(), m * o),
            ("dx", dx.as_ref().map_or(m * i, |d| d.len()), m * i),
            ("dw", dw.len(), o * i),
            ("db", db.len(), o),
        ],
    )?;
    if let Some(dx) = dx {
        gemm(be, (false, false), (m, i, o), (1.0, dy, w), (0.0, dx))?; // dx = dy·W
    }
    gemm(be, (true, false), (o, i, m), (1.0, dy, x), (0.0, dw))?; // dW = dyᵀ·x
    bias(be, K::SumRows, (m, o), dy, db) // db = Σ_rows dy
}
