//! # siamese-cuda
//!
//! The optional GPU backend of the workspace: [`CudaBackend`] implements siamese-tensor's
//! kernel interface [`Backend`] on an NVIDIA GPU, so that siamese-model's device step
//! (`siamese_model::device_step`) trains and scores SN-LeNet-5 there unchanged. It sits beside
//! siamese-tensor (it needs nothing above it) and is compiled into the CLI only with
//! `--features cuda`.
//!
//! How the pieces fit:
//! - the CUDA libraries are loaded at run time ([cudarc]'s dynamic loading), so this crate
//!   builds, and the workspace's tests pass, on machines with no CUDA toolkit, driver or GPU;
//!   [`CudaBackend::new`] probes the driver, NVRTC and cuBLAS first and turns their absence
//!   (or no device) into one clear [`BackendError::Device`] line, never a panic;
//! - our kernels are the CUDA C of `src/kernels.cu` (each with its equation), compiled by
//!   NVRTC for the device's architecture when the backend starts;
//! - the GEMM is cuBLAS's sgemm (column-major, so a row-major C = op(A)·op(B) is computed as
//!   Cᵀ = op(B)ᵀ·op(A)ᵀ, see [`CudaBackend::gemm`]);
//! - buffers ([`CudaSlice`]) stay on the device; every kernel is queued on one stream, and the
//!   host waits only when it downloads (the loss and the similarities of a step).
//!
//! Tests: `tests/gpu.rs` holds every kernel to [`siamese_tensor::CpuBackend`] on random
//! shapes, and the whole device step to the CPU one; without a device they are listed as
//! ignored, with the reason.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use siamese_tensor::backend::{
    check_adam, check_bufs, check_euclidean, check_head_backward, check_head_forward, check_len,
    AdamHyper, BResult, Backend, BackendError, BnMode, Conv2dGeom, HeadGrads, HeadParams,
};

/// The CUDA C source of our kernels (compiled by NVRTC at start-up).
pub const KERNELS_CU: &str = include_str!("kernels.cu");

/// Threads per block; `kernels.cu` reduces with `BLOCK` = 256 too.
const BLOCK: u32 = 256;
/// Most blocks of a grid-stride launch.
const MAX_BLOCKS: u64 = 65_535;

/// Our kernels, in the order of [`KERNEL_NAMES`].
#[derive(Clone, Copy, Debug)]
enum K {
    Conv2dForward,
    Conv2dBackwardDw,
    Conv2dBackwardDb,
    Conv2dBackwardDx,
    MaxPool2x2Forward,
    MaxPool2x2Backward,
    AddBiasRows,
    SumRows,
    ReluInplace,
    ReluBackwardInplace,
    TanhInplace,
    TanhBackwardInplace,
    EuclideanForward,
    EuclideanBackward,
    HeadForward,
    HeadBackward,
    ContrastiveLoss,
    AdamUpdate,
}

/// The `extern "C"` names in `kernels.cu`, in the order of [`K`].
const KERNEL_NAMES: [&str; 18] = [
    "conv2d_forward",
    "conv2d_backward_dw",
    "conv2d_backward_db",
    "conv2d_backward_dx",
    "max_pool2x2_forward",
    "max_pool2x2_backward",
    "add_bias_rows",
    "sum_rows",
    "relu_inplace",
    "relu_backward_inplace",
    "tanh_inplace",
    "tanh_backward_inplace",
    "euclidean_forward",
    "euclidean_backward",
    "head_forward",
    "head_backward",
    "contrastive_loss",
    "adam_update",
];

/// The loaded kernels, indexed by [`K`].
struct Kernels {
    f: Vec<CudaFunction>,
}

impl Kernels {
    fn get(&self, k: K) -> &CudaFunction {
        &self.f[k as usize]
    }
}

/// SN-LeNet-5's kernels on one NVIDIA GPU (see the crate doc).
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    kernels: Kernels,
    name: String,
}

fn unavailable(msg: impl std::fmt::Display) -> BackendError {
    BackendError::Device(format!("CUDA unavailable: {msg}"))
}

/// A device error of `op` as one line.
fn dev_err(op: &'static str) -> impl Fn(cudarc::driver::DriverError) -> BackendError {
    move |e| BackendError::Device(format!("CUDA error in {op}: {e}"))
}

/// Runs `f` with panics turned into errors (cudarc panics when a symbol is missing from a
/// loaded library) and the default panic message silenced, so the user sees one line.
fn no_panic<T>(what: &str, f: impl FnOnce() -> BResult<T>) -> BResult<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    match r {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown failure".into());
            let first = msg.split(" - ").next().unwrap_or(&msg).to_string();
            Err(unavailable(format!("{what}: {}", one_line(&first))))
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// NVRTC's virtual architecture for a compute capability (PTX, compiled for the exact chip by
/// the driver when the module loads).
fn arch_for(major: i32, minor: i32) -> Option<&'static str> {
    Some(match (major, minor) {
        (7, 5) => "compute_75",
        (8, 0) => "compute_80",
        (8, 6) => "compute_86",
        (8, 7) => "compute_87",
        (8, 9) => "compute_89",
        (9, 0) => "compute_90",
        (10, 0) => "compute_100",
        (12, 0) => "compute_120",
        _ => return None,
    })
}

/// Grid of a grid-stride launch over `total` elements.
fn grid(total: usize) -> LaunchConfig {
    let blocks = (total as u64).div_ceil(BLOCK as u64).clamp(1, MAX_BLOCKS) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// `blocks` blocks of [`BLOCK`] threads (one block per reduced output).
fn per_block(blocks: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// A size as the kernels' `int`, or an error when it does not fit.
fn int(op: &'static str, v: usize) -> BResult<i32> {
    i32::try_from(v)
        .map_err(|_| BackendError::Device(format!("{op}: size {v} exceeds the kernels' int range")))
}

impl CudaBackend {
    /// Opens GPU `ordinal`, compiles the kernels with NVRTC and creates a cuBLAS handle.
    ///
    /// Errors (one line each, never a panic): no driver library, no NVRTC or cuBLAS library,
    /// a driver that fails to initialise, no device, or a kernel compile failure.
    pub fn new(ordinal: usize) -> BResult<Self> {
        no_panic("the CUDA libraries failed to load", || Self::open(ordinal))
    }

    fn open(ordinal: usize) -> BResult<Self> {
        // SAFETY: `is_culib_present` dlopens the named vendor library and closes it again;
        // loading runs the library's initialisers, which is what any use of it does. No
        // symbol is called.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(unavailable(
                "could not load libcuda.so (no NVIDIA driver found on this machine)",
            ));
        }
        let count = CudaContext::device_count()
            .map_err(|e| unavailable(format!("the NVIDIA driver failed to initialise ({e})")))?;
        if count <= 0 {
            return Err(unavailable("no CUDA device (the driver reports none)"));
        }
        if ordinal >= count as usize {
            return Err(unavailable(format!(
                "no CUDA device {ordinal} ({count} device(s) present)"
            )));
        }
        // SAFETY: as above, for the NVRTC and cuBLAS libraries.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(unavailable(
                "could not load libnvrtc.so (the CUDA runtime compiler; install the CUDA toolkit or add its lib64 folder to LD_LIBRARY_PATH)",
            ));
        }
        // SAFETY: as above.
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            return Err(unavailable(
                "could not load libcublas.so (install the CUDA toolkit or add its lib64 folder to LD_LIBRARY_PATH)",
            ));
        }
        let ctx = CudaContext::new(ordinal).map_err(dev_err("opening the device"))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(dev_err("reading the compute capability"))?;
        let device = ctx.name().map_err(dev_err("reading the device name"))?;
        let opts = CompileOptions {
            arch: arch_for(major, minor),
            name: Some("siamese_kernels.cu".into()),
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(KERNELS_CU, opts).map_err(|e| {
            BackendError::Device(format!(
                "CUDA: NVRTC could not compile the kernels: {}",
                one_line(&e.to_string())
            ))
        })?;
        let module = ctx
            .load_module(ptx)
            .map_err(dev_err("loading the kernels"))?;
        let mut f = Vec::with_capacity(KERNEL_NAMES.len());
        for name in KERNEL_NAMES {
            f.push(
                module
                    .load_function(name)
                    .map_err(dev_err("loading a kernel"))?,
            );
        }
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone())
            .map_err(|e| BackendError::Device(format!("CUDA: cuBLAS could not start: {e}")))?;
        Ok(Self {
            ctx,
            stream,
            blas,
            kernels: Kernels { f },
            name: format!("{device} (sm_{major}{minor})"),
        })
    }

    /// The CUDA context (for callers that need the device beyond the kernel interface).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    fn conv_ints(g: &Conv2dGeom) -> BResult<[i32; 11]> {
        let op = "conv2d";
        Ok([
            int(op, g.n)?,
            int(op, g.c)?,
            int(op, g.h)?,
            int(op, g.w)?,
            int(op, g.k)?,
            int(op, g.kh)?,
            int(op, g.kw)?,
            int(op, g.stride)?,
            int(op, g.pad)?,
            int(op, g.out_h())?,
            int(op, g.out_w())?,
        ])
    }

    /// Checks a convolution's geometry (the CPU's own validation) and buffer lengths.
    fn check_conv(g: &Conv2dGeom, x: usize, w: usize) -> BResult<()> {
        Conv2dGeom::new(
            &[g.n, g.c, g.h, g.w],
            &[g.k, g.c, g.kh, g.kw],
            g.stride,
            g.pad,
        )?;
        check_len("conv2d", "x", x, g.n * g.c * g.h * g.w)?;
        check_len("conv2d", "w", w, g.k * g.c * g.kh * g.kw)?;
        Ok(())
    }

    /// An element-wise kernel `name(a, b?, total)` over one or two buffers.
    fn unary(&self, k: K, y: Option<&CudaSlice<f32>>, x: &mut CudaSlice<f32>) -> BResult<()> {
        let name = KERNEL_NAMES[k as usize];
        let total = x.len();
        if total == 0 {
            return Ok(());
        }
        if let Some(y) = y {
            check_len(name, "dy", total, y.len())?;
        }
        let n = total as i64;
        let mut lb = self.stream.launch_builder(self.kernels.get(k));
        if let Some(y) = y {
            lb.arg(y);
        }
        lb.arg(x).arg(&n);
        // SAFETY: the kernels `relu_inplace`/`tanh_inplace` take (float* x, long long total)
        // and `*_backward_inplace` take (const float* y, float* dy, long long total): the
        // arguments pushed above are exactly those, in order (i64 = long long). Both buffers
        // hold `total` f32 values (checked), and the grid-stride loop touches indices < total.
        unsafe { lb.launch(grid(total)) }.map_err(dev_err(name))?;
        Ok(())
    }
}

impl Backend for CudaBackend {
    type Buf = CudaSlice<f32>;
    type IdxBuf = CudaSlice<u32>;

    fn device_name(&self) -> String {
        self.name.clone()
    }

    fn buf_len(&self, buf: &CudaSlice<f32>) -> usize {
        buf.len()
    }

    fn upload(&self, host: &[f32]) -> BResult<CudaSlice<f32>> {
        self.stream.clone_htod(host).map_err(dev_err("upload"))
    }

    fn upload_into(&self, host: &[f32], dst: &mut CudaSlice<f32>) -> BResult<()> {
        check_len("upload_into", "destination", dst.len(), host.len())?;
        self.stream
            .memcpy_htod(host, dst)
            .map_err(dev_err("upload"))
    }

    fn download(&self, buf: &CudaSlice<f32>) -> BResult<Vec<f32>> {
        let v = self.stream.clone_dtoh(buf).map_err(dev_err("download"))?;
        self.stream.synchronize().map_err(dev_err("download"))?;
        Ok(v)
    }

    fn zeros(&self, len: usize) -> BResult<CudaSlice<f32>> {
        self.stream
            .alloc_zeros::<f32>(len)
            .map_err(dev_err("alloc"))
    }

    fn idx_zeros(&self, len: usize) -> BResult<CudaSlice<u32>> {
        self.stream
            .alloc_zeros::<u32>(len)
            .map_err(dev_err("alloc"))
    }

    fn synchronize(&self) -> BResult<()> {
        self.stream.synchronize().map_err(dev_err("synchronize"))
    }

    fn conv2d_forward(
        &self,
        g: &Conv2dGeom,
        x: &CudaSlice<f32>,
        w: &CudaSlice<f32>,
        b: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        Self::check_conv(g, x.len(), w.len())?;
        check_len("conv2d_forward", "b", b.len(), g.k)?;
        let total: usize = g.out_shape().iter().product();
        check_len("conv2d_forward", "y", y.len(), total)?;
        if total == 0 {
            return Ok(());
        }
        let d = Self::conv_ints(g)?;
        let mut lb = self
            .stream
            .launch_builder(self.kernels.get(K::Conv2dForward));
        lb.arg(x).arg(w).arg(b).arg(y);
        for v in &d {
            lb.arg(v);
        }
        // SAFETY: `conv2d_forward(const float* x, const float* w, const float* b, float* y,
        // int N, C, H, W, K, KH, KW, S, P, OH, OW)`: four buffers then the 11 i32 of
        // `conv_ints` in that order. x holds N·C·H·W, w K·C·KH·KW, b K and y N·K·OH·OW values
        // (checked above); the kernel reads x only at 0 ≤ ih < H, 0 ≤ iw < W and writes
        // y[idx] for idx < N·K·OH·OW.
        unsafe { lb.launch(grid(total)) }.map_err(dev_err("conv2d_forward"))?;
        Ok(())
    }

    fn conv2d_backward(
        &self,
        g: &Conv2dGeom,
        x: &CudaSlice<f32>,
        w: &CudaSlice<f32>,
        dy: &CudaSlice<f32>,
        dx: Option<&mut CudaSlice<f32>>,
        dw: &mut CudaSlice<f32>,
        db: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "conv2d_backward";
        Self::check_conv(g, x.len(), w.len())?;
        let ohw = g.out_h() * g.out_w();
        check_len(op, "dy", dy.len(), g.n * g.k * ohw)?;
        check_len(op, "dw", dw.len(), w.len())?;
        check_len(op, "db", db.len(), g.k)?;
        let d = Self::conv_ints(g)?;
        if !w.is_empty() {
            let mut lb = self
                .stream
                .launch_builder(self.kernels.get(K::Conv2dBackwardDw));
            lb.arg(x).arg(dy).arg(&mut *dw);
            for v in &d {
                lb.arg(v);
            }
            // SAFETY: `conv2d_backward_dw(const float* x, const float* dy, float* dw, int N,
            // C, H, W, K, KH, KW, S, P, OH, OW)`: three buffers and the 11 i32 in order. One
            // block per weight (K·C·KH·KW blocks = dw.len(), checked), each writing dw[block];
            // x (N·C·H·W) and dy (N·K·OH·OW) are read in range (checked lengths, bounds tests).
            unsafe { lb.launch(per_block(w.len())) }.map_err(dev_err("conv2d_backward_dw"))?;
        }
        if g.k > 0 {
            let (n, k, ohw_i) = (int(op, g.n)?, int(op, g.k)?, int(op, ohw)?);
            let mut lb = self
                .stream
                .launch_builder(self.kernels.get(K::Conv2dBackwardDb));
            lb.arg(dy).arg(&mut *db).arg(&n).arg(&k).arg(&ohw_i);
            // SAFETY: `conv2d_backward_db(const float* dy, float* db, int N, int K, int OHW)`:
            // two buffers and three i32. K blocks (= db.len()), each summing dy[(n·K+k)·OHW+q]
            // for n < N, q < OHW, inside dy's N·K·OHW values (checked).
            unsafe { lb.launch(per_block(g.k)) }.map_err(dev_err("conv2d_backward_db"))?;
        }
        if let Some(dx) = dx {
            check_len(op, "dx", dx.len(), x.len())?;
            if !dx.is_empty() {
                let total = dx.len();
                let mut lb = self
                    .stream
                    .launch_builder(self.kernels.get(K::Conv2dBackwardDx));
                lb.arg(w).arg(dy).arg(&mut *dx);
                for v in &d {
                    lb.arg(v);
                }
                // SAFETY: `conv2d_backward_dx(const float* w, const float* dy, float* dx, int
                // N, C, H, W, K, KH, KW, S, P, OH, OW)`: three buffers and the 11 i32 in
                // order. One thread per dx element (N·C·H·W = dx.len(), checked); dy is read
                // at 0 ≤ i < OH, 0 ≤ j < OW and w within K·C·KH·KW.
                unsafe { lb.launch(grid(total)) }.map_err(dev_err("conv2d_backward_dx"))?;
            }
        }
        Ok(())
    }

    fn max_pool2x2_forward(
        &self,
        planes: usize,
        h: usize,
        w: usize,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
        argmax: &mut CudaSlice<u32>,
    ) -> BResult<()> {
        let op = "max_pool2x2_forward";
        if h < 2 || w < 2 {
            return Err(BackendError::Device(format!(
                "{op}: window 2x2 does not fit input {h}x{w}"
            )));
        }
        let out = planes * (h / 2) * (w / 2);
        check_len(op, "x", x.len(), planes * h * w)?;
        check_len(op, "y", y.len(), out)?;
        check_len(op, "argmax", argmax.len(), out)?;
        if x.len() > u32::MAX as usize {
            return Err(BackendError::Device(format!(
                "{op}: input too large for u32 argmax"
            )));
        }
        if out == 0 {
            return Ok(());
        }
        let (p, hi, wi) = (int(op, planes)?, int(op, h)?, int(op, w)?);
        let mut lb = self
            .stream
            .launch_builder(self.kernels.get(K::MaxPool2x2Forward));
        lb.arg(x).arg(y).arg(argmax).arg(&p).arg(&hi).arg(&wi);
        // SAFETY: `max_pool2x2_forward(const float* x, float* y, unsigned* argmax, int planes,
        // int H, int W)`: three buffers and three i32. One thread per output (planes·(H/2)·(W/2)
        // = y.len() = argmax.len(), checked); it reads the 2×2 window at rows 2i, 2i+1 < H and
        // columns 2j, 2j+1 < W of its plane, inside x's planes·H·W values.
        unsafe { lb.launch(grid(out)) }.map_err(dev_err(op))?;
        Ok(())
    }

    fn max_pool2x2_backward(
        &self,
        planes: usize,
        h: usize,
        w: usize,
        dy: &CudaSlice<f32>,
        argmax: &CudaSlice<u32>,
        dx: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "max_pool2x2_backward";
        let out = planes * (h / 2) * (w / 2);
        check_len(op, "dy", dy.len(), out)?;
        check_len(op, "argmax", argmax.len(), out)?;
        check_len(op, "dx", dx.len(), planes * h * w)?;
        if dx.is_empty() {
            return Ok(());
        }
        let (p, hi, wi) = (int(op, planes)?, int(op, h)?, int(op, w)?);
        let total = dx.len();
        let mut lb = self
            .stream
            .launch_builder(self.kernels.get(K::MaxPool2x2Backward));
        lb.arg(dy)
            .arg(argmax)
            .arg(&mut *dx)
            .arg(&p)
            .arg(&hi)
            .arg(&wi);
        // SAFETY: `max_pool2x2_backward(const float* dy, const unsigned* argmax, float* dx,
        // int planes, int H, int W)`: three buffers and three i32. One thread per dx element
        // (planes·H·W = dx.len(), checked); it reads dy/argmax at its window's index, which is
        // < planes·(H/2)·(W/2) = their length (checked), only when i < H/2 and j < W/2.
        unsafe { lb.launch(grid(total)) }.map_err(dev_err(op))?;
        Ok(())
    }

    /// Row-major C (m×n) = α·op(A)·op(B) + β·C through column-major cuBLAS: a row-major
    /// r×c buffer read column-major is its transpose (c×r, leading dimension c), so C's buffer
    /// is the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ. sgemm therefore runs with the operands swapped
    /// (B first), sizes (n, m, k), each operand's transpose flag unchanged, and the leading
    /// dimensions of the row-major storage.
    fn gemm(
        &self,
        trans_a: bool,
        trans_b: bool,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: &CudaSlice<f32>,
        b: &CudaSlice<f32>,
        beta: f32,
        c: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "gemm";
        check_len(op, "A", a.len(), m * k)?;
        check_len(op, "B", b.len(), k * n)?;
        check_len(op, "C", c.len(), m * n)?;
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
        // Leading dimensions of the row-major storage: A is m×k (k×m when transposed), B is
        // k×n (n×k when transposed), C is m×n.
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
        // SAFETY: column-major sgemm computing Cᵀ (n×m, ldc = n) = op(B)ᵀ (n×k) · op(A)ᵀ
        // (k×m). B's storage (k·n values, checked) read column-major is n×k with ld n, or,
        // transposed storage, k×n with ld k; A likewise with (k, m). Every element cuBLAS
        // touches is inside those lengths, C holds m·n values and is a distinct &mut borrow.
        unsafe { self.blas.gemm(cfg, b, a, c) }
            .map_err(|e| BackendError::Device(format!("CUDA error in gemm (cuBLAS): {e}")))?;
        Ok(())
    }

    fn add_bias_rows(
        &self,
        rows: usize,
        cols: usize,
        b: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "add_bias_rows";
        check_len(op, "bias", b.len(), cols)?;
        check_len(op, "y", y.len(), rows * cols)?;
        if y.is_empty() {
            return Ok(());
        }
        let (r, c) = (int(op, rows)?, int(op, cols)?);
        let total = y.len();
        let mut lb = self.stream.launch_builder(self.kernels.get(K::AddBiasRows));
        lb.arg(b).arg(y).arg(&r).arg(&c);
        // SAFETY: `add_bias_rows(const float* b, float* y, int rows, int cols)`: two buffers
        // and two i32. One thread per y element (rows·cols, checked); it reads b[idx % cols]
        // inside b's cols values.
        unsafe { lb.launch(grid(total)) }.map_err(dev_err(op))?;
        Ok(())
    }

    fn sum_rows(
        &self,
        rows: usize,
        cols: usize,
        dy: &CudaSlice<f32>,
        db: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "sum_rows";
        check_len(op, "dy", dy.len(), rows * cols)?;
        check_len(op, "db", db.len(), cols)?;
        if cols == 0 {
            return Ok(());
        }
        let (r, c) = (int(op, rows)?, int(op, cols)?);
        let mut lb = self.stream.launch_builder(self.kernels.get(K::SumRows));
        lb.arg(dy).arg(&mut *db).arg(&r).arg(&c);
        // SAFETY: `sum_rows(const float* dy, float* db, int rows, int cols)`: two buffers and
        // two i32. One block per column (cols = db.len(), checked) reading dy[i·cols + j] for
        // i < rows, inside dy's rows·cols values.
        unsafe { lb.launch(per_block(cols)) }.map_err(dev_err(op))?;
        Ok(())
    }

    fn relu_inplace(&self, x: &mut CudaSlice<f32>) -> BResult<()> {
        self.unary(K::ReluInplace, None, x)
    }

    fn relu_backward_inplace(&self, y: &CudaSlice<f32>, dy: &mut CudaSlice<f32>) -> BResult<()> {
        self.unary(K::ReluBackwardInplace, Some(y), dy)
    }

    fn tanh_inplace(&self, x: &mut CudaSlice<f32>) -> BResult<()> {
        self.unary(K::TanhInplace, None, x)
    }

    fn tanh_backward_inplace(&self, y: &CudaSlice<f32>, dy: &mut CudaSlice<f32>) -> BResult<()> {
        self.unary(K::TanhBackwardInplace, Some(y), dy)
    }

    fn euclidean_forward(
        &self,
        n: usize,
        e: usize,
        emb: &CudaSlice<f32>,
        eps: f32,
        d: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "euclidean_forward";
        check_euclidean(self, "euclidean_forward", n, e, emb, &[("d", &*d)])?;
        if n == 0 {
            return Ok(());
        }
        let (ni, ei) = (int(op, n)?, int(op, e)?);
        let mut lb = self
            .stream
            .launch_builder(self.kernels.get(K::EuclideanForward));
        lb.arg(emb).arg(&mut *d).arg(&ni).arg(&ei).arg(&eps);
        // SAFETY: `euclidean_forward(const float* emb, float* d, int N, int E, float eps)`:
        // two buffers, two i32, one f32. One thread per pair n < N writes d[n] (N values,
        // checked) and reads rows n and N + n of emb (2N·E values, checked).
        unsafe { lb.launch(grid(n)) }.map_err(dev_err(op))?;
        Ok(())
    }

    fn euclidean_backward(
        &self,
        n: usize,
        e: usize,
        emb: &CudaSlice<f32>,
        d: &CudaSlice<f32>,
        dd: &CudaSlice<f32>,
        eps: f32,
        demb: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "euclidean_backward";
        check_euclidean(
            self,
            "euclidean_backward",
            n,
            e,
            emb,
            &[("d", d), ("dd", dd)],
        )?;
        check_bufs(self, "euclidean_backward", &[("demb", &*demb, 2 * n * e)])?;
        if n == 0 {
            return Ok(());
        }
        let (ni, ei) = (int(op, n)?, int(op, e)?);
        let mut lb = self
            .stream
            .launch_builder(self.kernels.get(K::EuclideanBackward));
        lb.arg(emb)
            .arg(d)
            .arg(dd)
            .arg(&mut *demb)
            .arg(&ni)
            .arg(&ei)
            .arg(&eps);
        // SAFETY: `euclidean_backward(const float* emb, const float* d, const float* dd,
        // float* demb, int N, int E, float eps)`: four buffers, two i32, one f32. One thread
        // per pair n < N reads d[n], dd[n] (N values) and rows n, N + n of emb, and writes the
        // same rows of demb (2N·E values each, checked).
        unsafe { lb.launch(grid(n)) }.map_err(dev_err(op))?;
        Ok(())
    }

    fn head_forward(
        &self,
        n: usize,
        d: &CudaSlice<f32>,
        p: &HeadParams<'_, Self>,
        mode: BnMode,
        eps: f32,
        running_mean: &mut CudaSlice<f32>,
        running_var: &mut CudaSlice<f32>,
        cache: &mut CudaSlice<f32>,
        s: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "head_forward";
        check_head_forward(self, n, d, p, running_mean, running_var, cache, s)?;
        let (train, momentum) = match mode {
            BnMode::Train { momentum } => {
                if n == 0 {
                    return Err(BackendError::Device(format!(
                        "{op}: training mode needs a batch"
                    )));
                }
                (1i32, momentum)
            }
            BnMode::Eval => (0i32, 0.0f32),
        };
        let ni = int(op, n)?;
        let mut lb = self.stream.launch_builder(self.kernels.get(K::HeadForward));
        lb.arg(d)
            .arg(p.gamma)
            .arg(p.beta)
            .arg(p.w)
            .arg(p.b)
            .arg(running_mean)
            .arg(running_var)
            .arg(&mut *cache)
            .arg(&mut *s)
            .arg(&ni)
            .arg(&train)
            .arg(&momentum)
            .arg(&eps);
        // SAFETY: `head_forward(const float* d, gamma, beta, w, b, float* running_mean,
        // running_var, cache, s, int N, int train, float momentum, float eps)`: nine buffers,
        // two i32, two f32, in order. One block; threads index d, s below N and cache up to N
        // (N + 1 values), the scalars at 0 (one value each, all checked).
        unsafe { lb.launch(per_block(1)) }.map_err(dev_err(op))?;
        Ok(())
    }

    fn head_backward(
        &self,
        n: usize,
        ds: &CudaSlice<f32>,
        s: &CudaSlice<f32>,
        cache: &CudaSlice<f32>,
        p: &HeadParams<'_, Self>,
        grads: &mut HeadGrads<'_, Self>,
        dd: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "head_backward";
        check_head_backward(self, n, ds, s, cache, p, grads, dd)?;
        if n == 0 {
            return Ok(());
        }
        let ni = int(op, n)?;
        let mut lb = self
            .stream
            .launch_builder(self.kernels.get(K::HeadBackward));
        lb.arg(ds)
            .arg(s)
            .arg(cache)
            .arg(p.gamma)
            .arg(p.beta)
            .arg(p.w)
            .arg(&mut *grads.gamma)
            .arg(&mut *grads.beta)
            .arg(&mut *grads.w)
            .arg(&mut *grads.b)
            .arg(&mut *dd)
            .arg(&ni);
        // SAFETY: `head_backward(const float* ds, s, cache, gamma, beta, w, float* dgamma,
        // dbeta, dw, db, dd, int N)`: eleven buffers and one i32, in order. One block; threads
        // index ds, s, dd below N, cache up to N (N + 1 values) and the scalars at 0 (all
        // lengths checked).
        unsafe { lb.launch(per_block(1)) }.map_err(dev_err(op))?;
        Ok(())
    }

    fn contrastive_loss(
        &self,
        n: usize,
        s: &CudaSlice<f32>,
        y: &CudaSlice<f32>,
        margin: f32,
        loss: &mut CudaSlice<f32>,
        ds: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "contrastive_loss";
        check_bufs(
            self,
            "contrastive_loss",
            &[
                ("s", s, n),
                ("y", y, n),
                ("ds", &*ds, n),
                ("loss", &*loss, 1),
            ],
        )?;
        if n == 0 {
            return Err(BackendError::Device(format!("{op}: no pairs")));
        }
        let ni = int(op, n)?;
        let mut lb = self
            .stream
            .launch_builder(self.kernels.get(K::ContrastiveLoss));
        lb.arg(s)
            .arg(y)
            .arg(&mut *loss)
            .arg(&mut *ds)
            .arg(&ni)
            .arg(&margin);
        // SAFETY: `contrastive_loss(const float* s, const float* y, float* loss, float* ds,
        // int N, float margin)`: four buffers, one i32, one f32. One block; threads index s,
        // y, ds below N (N values each) and loss at 0 (one value), all checked.
        unsafe { lb.launch(per_block(1)) }.map_err(dev_err(op))?;
        Ok(())
    }

    fn adam_update(
        &self,
        h: &AdamHyper,
        theta: &mut CudaSlice<f32>,
        grad: &CudaSlice<f32>,
        m: &mut CudaSlice<f32>,
        v: &mut CudaSlice<f32>,
    ) -> BResult<()> {
        let op = "adam_update";
        check_adam(self, theta, grad, m, v)?;
        let total = theta.len();
        check_len(op, "grad", grad.len(), total)?;
        check_len(op, "m", m.len(), total)?;
        check_len(op, "v", v.len(), total)?;
        if total == 0 {
            return Ok(());
        }
        let t = total as i64;
        let mut lb = self.stream.launch_builder(self.kernels.get(K::AdamUpdate));
        lb.arg(&mut *theta)
            .arg(grad)
            .arg(&mut *m)
            .arg(&mut *v)
            .arg(&t)
            .arg(&h.lr)
            .arg(&h.beta1)
            .arg(&h.beta2)
            .arg(&h.eps)
            .arg(&h.bc1)
            .arg(&h.bc2);
        // SAFETY: `adam_update(float* theta, const float* grad, float* m, float* v, long long
        // total, float lr, beta1, beta2, eps, bc1, bc2)`: four buffers, one i64 and six f32 in
        // order. One thread per element below total, the length of all four (checked).
        unsafe { lb.launch(grid(total)) }.map_err(dev_err(op))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a driver or a device (these build machines), opening the backend is an error
    /// of one line that says CUDA is unavailable; with one it opens and names the device.
    #[test]
    fn open_is_a_device_or_one_clear_line() {
        match CudaBackend::new(0) {
            Ok(be) => assert!(!be.device_name().is_empty()),
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "one line: {msg}");
                assert!(msg.starts_with("CUDA"), "{msg}");
            }
        }
    }

    /// A device number past the last one is an error, never a panic.
    #[test]
    fn a_missing_ordinal_is_an_error() {
        let e = CudaBackend::new(4096)
            .err()
            .expect("no machine has 4097 GPUs");
        assert!(e.to_string().starts_with("CUDA unavailable"), "{e}");
    }

    #[test]
    fn every_kernel_name_is_defined_in_the_source() {
        for name in KERNEL_NAMES {
            assert!(
                KERNELS_CU.contains(&format!("extern \"C\" __global__ void {name}(")),
                "{name}"
            );
        }
    }
}
