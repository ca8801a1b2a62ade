//! How a kernel is queued: launch geometry, size conversion and the one `unsafe` launch
//! helper every op of `crate::ops` goes through.

use cudarc::driver::PushKernelArg;
use cudarc::driver::{CudaFunction, LaunchArgs, LaunchConfig};
use siamese_tensor::backend::{BResult, BackendError};
use siamese_tensor::TensorError;

use crate::sources::K;
use crate::CudaBackend;

/// Threads per block; the prelude's `BLOCK` (the width of `block_sum`) is 256 too.
pub(crate) const BLOCK: u32 = 256;
/// Most blocks of a grid-stride launch.
const MAX_BLOCKS: u64 = 65_535;

/// The loaded kernels, indexed by [`K`].
pub(crate) struct Kernels {
    pub(crate) f: Vec<CudaFunction>,
}

/// Grid of a grid-stride launch over `total` elements (the prelude's `GRID_STRIDE`).
pub(crate) fn grid(total: usize) -> LaunchConfig {
    let blocks = (total as u64).div_ceil(BLOCK as u64).clamp(1, MAX_BLOCKS) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// `blocks` blocks of [`BLOCK`] threads (one block per reduced output).
pub(crate) fn per_block(blocks: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// A size as the kernels' `int`, or an error when it does not fit.
pub(crate) fn int(op: &'static str, v: usize) -> BResult<i32> {
    i32::try_from(v)
        .map_err(|_| BackendError::Device(format!("{op}: size {v} exceeds the kernels' int range")))
}

/// Sizes as the kernels' `int`s, in order.
pub(crate) fn ints<const N: usize>(op: &'static str, v: [usize; N]) -> BResult<[i32; N]> {
    let mut out = [0; N];
    for (o, v) in out.iter_mut().zip(v) {
        *o = int(op, v)?;
    }
    Ok(out)
}

/// Errors unless `k` is one of `family`: the launch helpers that serve several kernels of
/// one signature take the kernel as an argument, and their safety rests on it being one of
/// those (an internal error, never a user's).
pub(crate) fn expect_kernel(k: K, family: &[K]) -> BResult<()> {
    if family.contains(&k) {
        Ok(())
    } else {
        Err(wrong_kernel(k, &format!("one of {family:?}")))
    }
}

/// The internal error of a launch helper given kernel `k` where it expected `wanted`.
pub(crate) fn wrong_kernel(k: K, wanted: &str) -> BackendError {
    BackendError::Device(format!(
        "internal error: kernel {} launched as {wanted}",
        k.name()
    ))
}

/// Pushes kernel arguments of type `int`, in order.
pub(crate) fn push_ints<'a>(lb: &mut LaunchArgs<'a>, v: &'a [i32]) {
    for x in v {
        lb.arg(x);
    }
}

/// The shape error of `op` (the variant the CPU's kernels return).
pub(crate) fn shape_err(op: &'static str, msg: impl Into<String>) -> BackendError {
    BackendError::Tensor(TensorError::Shape {
        op,
        msg: msg.into(),
    })
}

impl CudaBackend {
    /// Queues kernel `k` on the backend's stream with the launch geometry `cfg`; `args` pushes
    /// its arguments. A launch failure is a [`BackendError::Device`] naming the kernel.
    ///
    /// # Safety
    ///
    /// `args` must push exactly the kernel's parameters, in order and of matching types
    /// (`&CudaSlice<f32>` for `float*`, `&CudaSlice<u32>` for `unsigned int*`, `&i32` for
    /// `int`, `&i64` for `long long`, `&f32` for `float`), and every index the kernel
    /// computes under `cfg` must lie inside the buffers pushed (the callers check the
    /// lengths first); a buffer the kernel writes must be pushed as `&mut`.
    pub(crate) unsafe fn launch<'a>(
        &'a self, k: K, cfg: LaunchConfig, args: impl FnOnce(&mut LaunchArgs<'a>),
    ) -> BResult<()> {
        let mut lb = self.stream.launch_builder(&self.kernels.f[k as usize]);
        args(&mut lb);
        // SAFETY: the caller's contract (above) is the kernel's: arguments that match its
        // parameters and buffers that hold every index it computes.
        unsafe { lb.launch(cfg) }
            .map(drop)
            .map_err(crate::dev_err(k.name()))
    }
}
