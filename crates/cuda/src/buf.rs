//! [`DeviceBuf`]: the backend's buffers, which may be empty.
//!
//! The driver refuses an allocation of 0 bytes (`cuMemAlloc` returns
//! `CUDA_ERROR_INVALID_VALUE`), while the CPU backend's ops take empty buffers for N = 0 and
//! answer with zeros or an error of their own. So a buffer of `len` values owns device memory
//! for `max(len, 1)` of them, and every length check and download uses `len`. No kernel is
//! launched over an empty buffer (each launch returns before when its element count is 0),
//! so the spare value is never read or written.

use cudarc::driver::{CudaSlice, LaunchArgs, PushKernelArg};

/// `len` values of T on the device (memory for at least one).
#[derive(Debug)]
pub struct DeviceBuf<T> {
    mem: CudaSlice<T>,
    len: usize,
}

impl<T> DeviceBuf<T> {
    /// Wraps `mem`, which holds `max(len, 1)` values.
    pub(crate) fn new(mem: CudaSlice<T>, len: usize) -> Self {
        debug_assert_eq!(mem.len(), len.max(1));
        Self { mem, len }
    }

    /// The values the buffer holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device memory (`max(len, 1)` values), for cuBLAS and copies.
    pub(crate) fn mem(&self) -> &CudaSlice<T> {
        &self.mem
    }

    /// The device memory, writable.
    pub(crate) fn mem_mut(&mut self) -> &mut CudaSlice<T> {
        &mut self.mem
    }
}

// SAFETY: pushes the buffer's device memory exactly as cudarc's own impl for `&CudaSlice`
// does (that impl records the read for stream ordering); the kernel sees a pointer to
// max(len, 1) values, and the launch code checks `len` against every index it computes.
unsafe impl<'a, 'b: 'a, T> PushKernelArg<&'b DeviceBuf<T>> for LaunchArgs<'a> {
    fn arg(&mut self, arg: &'b DeviceBuf<T>) -> &mut Self {
        self.arg(&arg.mem)
    }
}

// SAFETY: as above, through cudarc's impl for `&mut CudaSlice` (which records the write).
unsafe impl<'a, 'b: 'a, T> PushKernelArg<&'b mut DeviceBuf<T>> for LaunchArgs<'a> {
    fn arg(&mut self, arg: &'b mut DeviceBuf<T>) -> &mut Self {
        self.arg(&mut arg.mem)
    }
}
