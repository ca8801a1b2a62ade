//! Launches of `ops/pool/pool.cu`: the 2×2/2 max-pool (with its argmax) and average pool of
//! `planes` h×w planes, and their backward.

use cudarc::driver::{LaunchArgs, PushKernelArg};
use siamese_tensor::backend::{check_lens, BResult};
use siamese_tensor::ops::pool::Pool2dGeom;

use super::{Buf, IdxBuf};
use crate::launch::{grid, ints, shape_err, wrong_kernel};
use crate::sources::K;
use crate::CudaBackend;

/// How many values a buffer of a 2×2/2 pool holds.
#[derive(Clone, Copy)]
enum Size {
    /// The input's planes·h·w.
    In,
    /// The output's planes·⌊h/2⌋·⌊w/2⌋.
    Out,
}

/// The buffer parameters of each pool kernel, in order, with the size each holds. Each kernel
/// runs one thread per element of its last buffer.
fn layout(k: K) -> BResult<&'static [(&'static str, Size)]> {
    Ok(match k {
        K::MaxPool2x2Forward => &[("x", Size::In), ("y", Size::Out), ("argmax", Size::Out)],
        K::MaxPool2x2Backward => &[("dy", Size::Out), ("argmax", Size::Out), ("dx", Size::In)],
        K::AvgPool2x2Forward => &[("x", Size::In), ("y", Size::Out)],
        K::AvgPool2x2Backward => &[("dy", Size::Out), ("dx", Size::In)],
        _ => return Err(wrong_kernel(k, "a pool kernel")),
    })
}

/// One checked launch of a pool kernel `k(buffers…, int planes, int H, int W)`.
struct Pool {
    k: K,
    threads: usize,
    dims: [i32; 3],
}

impl Pool {
    /// Checks the geometry as the CPU does (the window must fit) and the lengths `lens` of
    /// the kernel's buffers against its [`layout`].
    fn new(k: K, (planes, h, w): (usize, usize, usize), lens: &[usize]) -> BResult<Self> {
        Pool2dGeom::new(&[planes, 1, h, w], 2, 2)?;
        let size = |s| match s {
            Size::In => planes * h * w,
            Size::Out => planes * (h / 2) * (w / 2),
        };
        let layout = layout(k)?;
        if lens.len() != layout.len() {
            return Err(wrong_kernel(k, "a kernel of this many buffers"));
        }
        let checks: Vec<_> = layout
            .iter()
            .zip(lens)
            .map(|(&(what, s), &len)| (what, len, size(s)))
            .collect();
        check_lens(k.name(), &checks)?;
        Ok(Self {
            k,
            threads: size(layout[layout.len() - 1].1),
            dims: ints(k.name(), [planes, h, w])?,
        })
    }

    /// Queues the kernel over its threads; `bufs` pushes its buffers.
    ///
    /// # Safety
    ///
    /// `bufs` pushes exactly the buffers of [`layout`]`(k)`, in order, those whose lengths
    /// [`Pool::new`] checked.
    unsafe fn launch<'a>(
        &'a self, be: &'a CudaBackend, bufs: impl FnOnce(&mut LaunchArgs<'a>),
    ) -> BResult<()> {
        if self.threads == 0 {
            return Ok(());
        }
        let cfg = grid(self.k.name(), self.threads)?;
        let [p, h, w] = &self.dims;
        // SAFETY: every pool kernel takes its buffers (pushed by `bufs`, the caller's
        // contract) then (int planes, int H, int W). One thread per element of its last
        // buffer (`threads`, checked); the forwards read the window at rows 2i, 2i+1 < H and
        // columns 2j, 2j+1 < W of x (planes·H·W values) and write outputs below
        // planes·⌊H/2⌋·⌊W/2⌋; the backwards read dy (and argmax) at the index of their
        // element's window, below that same count, only when the window exists. An argmax is
        // only compared, never used as an address.
        unsafe {
            be.launch(self.k, cfg, |lb| {
                bufs(lb);
                lb.arg(p).arg(h).arg(w);
            })
        }
    }
}

/// [`siamese_tensor::ops::pool::max_pool2d_forward_into`], 2×2/2: y and the argmax.
pub(crate) fn max_forward(
    be: &CudaBackend, dims: (usize, usize, usize), x: &Buf, (y, argmax): (&mut Buf, &mut IdxBuf),
) -> BResult<()> {
    let k = K::MaxPool2x2Forward;
    if u32::try_from(x.len()).is_err() {
        return Err(shape_err(k.name(), "input too large for u32 argmax"));
    }
    let pool = Pool::new(k, dims, &[x.len(), y.len(), argmax.len()])?;
    // SAFETY: `max_pool2x2_forward(const float* x, float* y, unsigned* argmax, …)`.
    unsafe {
        pool.launch(be, |lb| {
            lb.arg(x).arg(y).arg(argmax);
        })
    }
}

/// [`siamese_tensor::ops::pool::max_pool2d_backward_into`], 2×2/2: dx[argmax[o]] = dy[o].
pub(crate) fn max_backward(
    be: &CudaBackend, dims: (usize, usize, usize), (dy, argmax): (&Buf, &IdxBuf), dx: &mut Buf,
) -> BResult<()> {
    let pool = Pool::new(
        K::MaxPool2x2Backward,
        dims,
        &[dy.len(), argmax.len(), dx.len()],
    )?;
    // SAFETY: `max_pool2x2_backward(const float* dy, const unsigned* argmax, float* dx, …)`.
    unsafe {
        pool.launch(be, |lb| {
            lb.arg(dy).arg(argmax).arg(dx);
        })
    }
}

/// [`siamese_tensor::ops::pool::avg_pool2d_forward_into`] (k = [`K::AvgPool2x2Forward`]:
/// y = ¼·Σ window from `src` = x into `dst` = y) or
/// [`siamese_tensor::ops::pool::avg_pool2d_backward_into`] (k = [`K::AvgPool2x2Backward`]:
/// dx = dy/4 per window from `src` = dy into `dst` = dx), 2×2/2.
pub(crate) fn avg(
    be: &CudaBackend, k: K, dims: (usize, usize, usize), src: &Buf, dst: &mut Buf,
) -> BResult<()> {
    let pool = Pool::new(k, dims, &[src.len(), dst.len()])?;
    // SAFETY: `avg_pool2x2_forward(const float* x, float* y, …)` or
    // `avg_pool2x2_backward(const float* dy, float* dx, …)`.
    unsafe {
        pool.launch(be, |lb| {
            lb.arg(src).arg(dst);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_launches_are_checked_before_any_device_is_touched() {
        let p = Pool::new(K::MaxPool2x2Backward, (2, 5, 4), &[8, 8, 40]).unwrap();
        assert_eq!(
            (p.threads, p.dims),
            (40, [2, 5, 4]),
            "one thread per dx value"
        );
        let p = Pool::new(K::AvgPool2x2Forward, (2, 5, 4), &[40, 8]).unwrap();
        assert_eq!(p.threads, 8, "one thread per output");
        let short = Pool::new(K::AvgPool2x2Backward, (2, 5, 4), &[8, 39])
            .err()
            .unwrap();
        assert!(
            short.to_string().contains("dx has 39 values, expected 40"),
            "{short}"
        );
        assert!(
            Pool::new(K::AvgPool2x2Forward, (1, 1, 4), &[4, 0]).is_err(),
            "window"
        );
        for (k, lens) in [
            (K::Conv2dForward, &[16, 4][..]),
            (K::AvgPool2x2Forward, &[16]),
        ] {
            let e = Pool::new(k, (1, 4, 4), lens).err().unwrap();
            assert!(e.to_string().starts_with("internal error"), "{e}");
        }
    }
}
