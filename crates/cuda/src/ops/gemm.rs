//! The GEMM on cuBLAS and the launches of `ops/gemm/gemm.cu` (bias rows, column sums), which
//! together make the dense layer y = x·Wᵀ + b and its backward, as `ops::gemm::linear`.

use cudarc::cublas::{sys::cublasOperation_t, Gemm, GemmConfig};
use cudarc::driver::{LaunchConfig, PushKernelArg};
use siamese_tensor::backend::{check_lens, BResult, BackendError};

use super::Buf;
use crate::launch::{expect_kernel, grid, int, ints, per_block};
use crate::sources::K;
use crate::CudaBackend;

/// A checked sgemm, ready to run: its cuBLAS configuration, or nothing to do (C is empty).
pub(crate) struct Sgemm {
    cfg: Option<GemmConfig<f32>>,
    /// k = 0: C ← β·C, run as a rank-1 product with α = 0 of zero operands (m and n values).
    empty_k: Option<(usize, usize)>,
}

/// Checks a GEMM's lengths and converts its sizes (no launch): row-major C (m×n) =
/// α·op(A)·op(B) + β·C through column-major cuBLAS. A row-major r×c buffer read column-major
/// is its transpose (c×r, leading dimension c), so C's buffer is the column-major
/// Cᵀ = op(B)ᵀ·op(A)ᵀ: sgemm runs with the operands swapped (B first), sizes (n, m, k), each
/// operand's transpose flag unchanged, and the leading dimensions of the row-major storage.
/// With k = 0 the product is empty and C ← β·C, as the CPU's (0 where β = 0, C unread).
pub(crate) fn plan(
    (trans_a, trans_b): (bool, bool), (m, n, k): (usize, usize, usize), (alpha, beta): (f32, f32),
    (a, b, c): (&Buf, &Buf, &Buf),
) -> BResult<Sgemm> {
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
        return Ok(Sgemm {
            cfg: None,
            empty_k: None,
        });
    }
    let t = |tr: bool| {
        if tr {
            cublasOperation_t::CUBLAS_OP_T
        } else {
            cublasOperation_t::CUBLAS_OP_N
        }
    };
    // k = 0: A stands in as m×1 and B as 1×n zeros, untransposed, with α = 0.
    let (trans_a, trans_b, kk, alpha) = if k == 0 {
        (false, false, 1, 0.0)
    } else {
        (trans_a, trans_b, k, alpha)
    };
    // Leading dimensions of the row-major storage: A is m×k (k×m when transposed), B is k×n
    // (n×k when transposed), C is m×n.
    let lda_rm = if trans_a { m } else { kk };
    let ldb_rm = if trans_b { kk } else { n };
    Ok(Sgemm {
        cfg: Some(GemmConfig {
            transa: t(trans_b),
            transb: t(trans_a),
            m: int(op, n)?,
            n: int(op, m)?,
            k: int(op, kk)?,
            alpha,
            lda: int(op, ldb_rm)?,
            ldb: int(op, lda_rm)?,
            beta,
            ldc: int(op, n)?,
        }),
        empty_k: (k == 0).then_some((m, n)),
    })
}

/// Runs a planned GEMM on the operands it was checked with.
pub(crate) fn run(be: &CudaBackend, p: Sgemm, a: &Buf, b: &Buf, c: &mut Buf) -> BResult<()> {
    let Some(cfg) = p.cfg else {
        return Ok(());
    };
    let stand_in;
    let (a, b) = match p.empty_k {
        Some((m, n)) => {
            stand_in = (be.alloc_zeros::<f32>(m)?, be.alloc_zeros::<f32>(n)?);
            (&stand_in.0, &stand_in.1)
        }
        None => (a, b),
    };
    // SAFETY: column-major sgemm computing Cᵀ (n×m, ldc = n) = op(B)ᵀ (n×k) · op(A)ᵀ (k×m),
    // configured by `plan` from these operands' checked lengths (or, for k = 0, from the
    // stand-ins of m and n values with k = 1). B's storage (k·n values) read column-major is
    // n×k with ld n, or, transposed storage, k×n with ld k; A likewise with (k, m). Every
    // element cuBLAS touches is inside those lengths; C holds m·n values and is a distinct
    // &mut borrow.
    unsafe { be.blas.gemm(cfg, b.mem(), a.mem(), c.mem_mut()) }
        .map_err(|e| BackendError::Device(format!("CUDA error in gemm (cuBLAS): {e}")))
}

/// [`siamese_tensor::ops::gemm::gemm`] on the device (see [`plan`]).
pub(crate) fn gemm(
    be: &CudaBackend, trans: (bool, bool), mnk: (usize, usize, usize),
    (alpha, a, b): (f32, &Buf, &Buf), (beta, c): (f32, &mut Buf),
) -> BResult<()> {
    let p = plan(trans, mnk, (alpha, beta), (a, b, c))?;
    run(be, p, a, b, c)
}

/// A checked launch of a bias kernel: [`siamese_tensor::ops::gemm::add_bias_rows`]
/// (k = [`K::AddBiasRows`], `src` = b, `dst` = y: y[r, j] += b[j], one thread per element of
/// y) or [`siamese_tensor::ops::gemm::sum_rows`] (k = [`K::SumRows`], `src` = dy, `dst` = db:
/// db[j] = Σ_r dy[r, j], one block per column). `None`: nothing to launch (dst is empty).
struct Bias {
    k: K,
    launch: Option<(LaunchConfig, [i32; 2])>,
}

impl Bias {
    /// Checks the buffers' lengths and converts the sizes (no launch).
    fn new(k: K, (rows, cols): (usize, usize), src: &Buf, dst: &Buf) -> BResult<Self> {
        expect_kernel(k, &[K::AddBiasRows, K::SumRows])?;
        let add = k == K::AddBiasRows;
        let lens = if add {
            [("bias", src.len(), cols), ("y", dst.len(), rows * cols)]
        } else {
            [("dy", src.len(), rows * cols), ("db", dst.len(), cols)]
        };
        check_lens(k.name(), &lens)?;
        if lens[1].2 == 0 {
            return Ok(Self { k, launch: None });
        }
        let cfg = if add {
            grid(k.name(), rows * cols)?
        } else {
            per_block(k.name(), cols)?
        };
        Ok(Self {
            k,
            launch: Some((cfg, ints(k.name(), [rows, cols])?)),
        })
    }

    fn run(&self, be: &CudaBackend, src: &Buf, dst: &mut Buf) -> BResult<()> {
        let Some((cfg, [r, c])) = self.launch else {
            return Ok(());
        };
        // SAFETY: k is `add_bias_rows(const float* b, float* y, int rows, int cols)` or
        // `sum_rows(const float* dy, float* db, int rows, int cols)`: two buffers and two
        // i32. The first runs one thread per y element (rows·cols, checked in `new`) reading
        // b[idx % cols] inside b's cols values; the second one block per column (cols =
        // db.len(), checked) reading dy[r·cols + j] for r < rows, inside dy's rows·cols
        // values. `src` and `dst` are the buffers `new` checked.
        unsafe {
            be.launch(self.k, cfg, |lb| {
                lb.arg(src).arg(dst).arg(&r).arg(&c);
            })
        }
    }
}

/// [`siamese_tensor::ops::gemm::linear_forward`]: y = x·Wᵀ + b for m rows, i inputs and o
/// outputs. The Rust home fills y with b and runs one GEMM with β = 1, which rounds as
/// fl(x·Wᵀ) + b; here the GEMM (β = 0) comes first and the bias kernel adds b after it,
/// the same rounding. Everything is checked before the first launch.
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
    let mm = plan((false, true), (m, o, i), (1.0, 0.0), (x, w, y))?;
    let bias = Bias::new(K::AddBiasRows, (m, o), b, y)?;
    run(be, mm, x, w, y)?;
    bias.run(be, b, y)
}

/// [`siamese_tensor::ops::gemm::linear_backward`]: dW = dyᵀ·x, db = Σ_rows dy and, when
/// given, dx = dy·W (each overwritten). Everything is checked before the first launch.
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
    let one = (1.0, 0.0);
    let dx_plan = match &dx {
        Some(dx) => Some(plan((false, false), (m, i, o), one, (dy, w, dx))?), // dx = dy·W
        None => None,
    };
    let dw_plan = plan((true, false), (o, i, m), one, (dy, x, dw))?; // dW = dyᵀ·x
    let db_sum = Bias::new(K::SumRows, (m, o), dy, db)?; // db = Σ_rows dy
    if let (Some(p), Some(dx)) = (dx_plan, dx) {
        run(be, p, dy, w, dx)?;
    }
    run(be, dw_plan, dy, x, dw)?;
    db_sum.run(be, dy, db)
}
