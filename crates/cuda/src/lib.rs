//! # siamese-cuda
//!
//! The optional GPU backend of the workspace: [`CudaBackend`] implements siamese-tensor's
//! generic kernel interface [`Backend`] on an NVIDIA GPU, so that siamese-model's device step
//! (`siamese_model::device_step`) trains and scores SN-LeNet-5 there unchanged. It sits beside
//! siamese-tensor (it needs nothing above it) and is compiled into the CLI only with
//! `--features cuda`.
//!
//! How the pieces fit:
//! - the CUDA libraries are loaded at run time ([cudarc]'s dynamic loading), so this crate
//!   builds, and the workspace's tests pass, on machines with no CUDA toolkit, driver or GPU;
//!   [`CudaBackend::new`] probes the driver, NVRTC and cuBLAS first and turns their absence
//!   (or no device) into one clear [`BackendError::Device`] line, never a panic;
//! - the kernels are CUDA C kept beside the Rust function of the same equation, one `.cu`
//!   fragment per op folder of siamese-tensor (`crates/tensor/src/ops/<family>/<family>.cu`,
//!   exposed there as `ops::<family>::CUDA_SOURCE`);
//!   [`sources`] gathers them after `src/prelude.cu` into one program, which NVRTC compiles
//!   for the device's architecture when the backend starts (and `tests/nvrtc.rs` compiles
//!   without a GPU, checking the kernel names both ways);
//! - the launch code mirrors the op folders too (`src/ops/<family>.rs`): each checks the
//!   buffer lengths as the CPU does, then queues its kernel through one `unsafe` helper
//!   (`launch.rs`); `backend.rs` maps each [`Backend`] method onto it;
//! - the GEMM is cuBLAS's sgemm (column-major, so a row-major C = op(A)·op(B) is computed as
//!   Cᵀ = op(B)ᵀ·op(A)ᵀ, see `ops/gemm.rs`);
//! - buffers ([`DeviceBuf`]) stay on the device; every kernel is queued on one stream, and the
//!   host waits only when it downloads (the loss and the similarities of a step).
//!
//! Numerics: the kernels are compiled with NVRTC's `--fmad=false` (no fused multiply-add
//! contraction: every operation rounds as in its Rust twin, so the GPU tests' tolerances
//! measure closeness) and `--ftz` after siamese-tensor's subnormal policy (by default true:
//! f32 subnormals flushed to zero, the GPU twin of the CPU's flush-to-zero +
//! denormals-are-zero); see [`sources::FMAD`] and [`sources::ftz`]. Buffers are [`DeviceBuf`]s, which may be empty (the driver allocates no
//! 0-byte block), so an op on N = 0 gives the CPU's answer without a launch.
//!
//! Tests: `tests/gpu.rs` holds every [`Backend`] method to [`siamese_tensor::CpuBackend`] on
//! random shapes, fixed sizes that reach the GPU-only paths (N = 257 and 700, 17M values,
//! N = 0) and the device step re-synced before each step, with a tolerance per output; without
//! a device they are listed as ignored, with the reason. Their comparison code
//! (`tests/parity/`) is generic over the backend, and `tests/mutation.rs` runs it on every
//! machine against deliberately wrong CPU backends: it must report every op. `tests/nvrtc.rs`
//! needs only the NVRTC library.
//!
//! [`Backend`]: siamese_tensor::backend::Backend

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaStream, DeviceRepr, ValidAsZeroBits};
use siamese_tensor::backend::{BResult, BackendError};

mod backend;
mod buf;
mod launch;
mod ops;
pub mod sources;

pub use buf::DeviceBuf;
pub use sources::{compile_ptx, program, KERNEL_NAMES, SOURCES};

/// The generic ops of siamese-tensor on one NVIDIA GPU (see the crate doc).
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    kernels: launch::Kernels,
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

/// The virtual architectures the kernels are compiled for, oldest first.
const ARCHS: [((i32, i32), &str); 8] = [
    ((7, 5), "compute_75"),
    ((8, 0), "compute_80"),
    ((8, 6), "compute_86"),
    ((8, 7), "compute_87"),
    ((8, 9), "compute_89"),
    ((9, 0), "compute_90"),
    ((10, 0), "compute_100"),
    ((12, 0), "compute_120"),
];

/// NVRTC's virtual architecture for a compute capability: the newest of [`ARCHS`] not above
/// it (PTX runs on any later chip: the driver compiles it for the exact one when the module
/// loads), or the oldest for an older device (whose load then fails with the driver's word).
fn arch_for(major: i32, minor: i32) -> &'static str {
    ARCHS
        .iter()
        .rev()
        .find(|(cap, _)| *cap <= (major, minor))
        .unwrap_or(&ARCHS[0])
        .1
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
        // SAFETY: as above, for the cuBLAS library (NVRTC's is probed by `compile_ptx`).
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
        let ptx = compile_ptx(arch_for(major, minor))?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
            .map_err(dev_err("loading the kernels"))?;
        let f = KERNEL_NAMES
            .iter()
            .map(|name| module.load_function(name))
            .collect::<Result<_, _>>()
            .map_err(dev_err("loading a kernel"))?;
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone())
            .map_err(|e| BackendError::Device(format!("CUDA: cuBLAS could not start: {e}")))?;
        Ok(Self {
            ctx,
            stream,
            blas,
            kernels: launch::Kernels { f },
            name: format!("{device} (sm_{major}{minor})"),
        })
    }

    /// A buffer's values on the host, after every queued kernel has finished.
    fn fetch<T: DeviceRepr>(&self, buf: &DeviceBuf<T>) -> BResult<Vec<T>> {
        let mut v = self
            .stream
            .clone_dtoh(buf.mem())
            .map_err(dev_err("download"))?;
        self.stream.synchronize().map_err(dev_err("download"))?;
        v.truncate(buf.len());
        Ok(v)
    }

    /// A new buffer of `len` values: device memory for `max(len, 1)` (the driver allocates
    /// no 0-byte block, see [`DeviceBuf`]), zeroed.
    fn alloc_zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> BResult<DeviceBuf<T>> {
        let mem = self
            .stream
            .alloc_zeros(len.max(1))
            .map_err(dev_err("alloc"))?;
        Ok(DeviceBuf::new(mem, len))
    }

    /// A new buffer holding `host` (an empty one holds no values; see [`DeviceBuf`]).
    fn alloc_from<T: DeviceRepr + ValidAsZeroBits>(&self, host: &[T]) -> BResult<DeviceBuf<T>> {
        if host.is_empty() {
            return self.alloc_zeros(0);
        }
        let mem = self.stream.clone_htod(host).map_err(dev_err("upload"))?;
        Ok(DeviceBuf::new(mem, host.len()))
    }

    /// The CUDA context (for callers that need the device beyond the kernel interface).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use siamese_tensor::backend::Backend;

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
    fn each_capability_gets_the_newest_architecture_not_above_it() {
        assert_eq!(arch_for(8, 0), "compute_80");
        assert_eq!(arch_for(8, 6), "compute_86");
        assert_eq!(arch_for(9, 0), "compute_90");
        assert_eq!(arch_for(9, 5), "compute_90");
        assert_eq!(arch_for(12, 1), "compute_120");
        assert_eq!(arch_for(6, 1), "compute_75");
    }
}
