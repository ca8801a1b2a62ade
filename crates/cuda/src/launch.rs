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

/// Most blocks of a one-block-per-output launch: CUDA's limit on gridDim.x, 2³¹ − 1.
const MAX_GRID_X: u64 = (1 << 31) - 1;

/// Grid of a grid-stride launch over `total` elements (the prelude's `GRID_STRIDE`): one
/// thread per element up to [`MAX_BLOCKS`] blocks, beyond which each thread's loop turns
/// again (the kernels count in 64 bits).
pub(crate) fn grid(op: &'static str, total: usize) -> BResult<LaunchConfig> {
    let blocks = u64::try_from(total)
        .map_err(|_| too_large(op, total))?
        .div_ceil(u64::from(BLOCK))
        .clamp(1, MAX_BLOCKS);
    Ok(config(
        u32::try_from(blocks).map_err(|_| too_large(op, total))?,
    ))
}

/// `blocks` blocks of [`BLOCK`] threads (one block per reduced output); an error past CUDA's
/// grid limit.
pub(crate) fn per_block(op: &'static str, blocks: usize) -> BResult<LaunchConfig> {
    let b = u32::try_from(blocks)
        .ok()
        .filter(|&b| u64::from(b) <= MAX_GRID_X)
        .ok_or_else(|| {
            BackendError::Device(format!(
                "{op}: {blocks} blocks exceed CUDA's grid limit of {MAX_GRID_X}"
            ))
        })?;
    Ok(config(b))
}

fn config(blocks: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn too_large(op: &'static str, total: usize) -> BackendError {
    BackendError::Device(format!("{op}: {total} elements exceed the launch range"))
}

/// An element count as the kernels' `long long`.
pub(crate) fn count(op: &'static str, total: usize) -> BResult<i64> {
    i64::try_from(total).map_err(|_| too_large(op, total))
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
    /// (`&DeviceBuf<f32>` for `float*`, `&DeviceBuf<u32>` for `unsigned int*`, `&i32` for
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Launch sizes are converted with checks: a grid-stride launch caps its blocks (the loop
    /// turns instead), a one-block-per-output launch past CUDA's grid limit is an error.
    #[test]
    fn launch_geometry_is_checked_not_truncated() {
        let blocks = |c: LaunchConfig| c.grid_dim.0;
        assert_eq!(blocks(grid("t", 0).unwrap()), 1);
        assert_eq!(blocks(grid("t", 257).unwrap()), 2);
        assert_eq!(blocks(grid("t", 17_000_000).unwrap()), 65_535);
        assert_eq!(blocks(grid("t", usize::MAX).unwrap()), 65_535);
        assert_eq!(blocks(per_block("t", 700).unwrap()), 700);
        let e = per_block("conv2d_backward", 1 << 31).err().unwrap();
        assert!(e.to_string().contains("grid limit"), "{e}");
        assert!(
            per_block("t", (1 << 32) + 5).is_err(),
            "no silent truncation"
        );
        assert_eq!(count("t", 17_000_000).unwrap(), 17_000_000);
    }
}
