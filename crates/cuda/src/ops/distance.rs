//! Launches of `ops/distance/distance.cu`: the comparison module's Euclidean distance and
//! cosine similarity of the N pairs of emb = [A; B] (2N×E), and their backward.

use cudarc::driver::PushKernelArg;
use siamese_tensor::backend::{check_lens, BResult};

use super::Buf;
use crate::launch::{expect_kernel, grid, ints};
use crate::sources::K;
use crate::CudaBackend;

/// Checks emb (2N×E values), each per-pair buffer (N values) and the gradient demb (2N×E)
/// when given; returns (N, E) as the kernels' ints.
fn check(
    op: &'static str, (n, e): (usize, usize), emb: &Buf, per_pair: &[(&str, &Buf)],
    demb: Option<&Buf>,
) -> BResult<[i32; 2]> {
    let mut lens = vec![("emb", emb.len(), 2 * n * e)];
    lens.extend(per_pair.iter().map(|(what, b)| (*what, b.len(), n)));
    lens.extend(demb.map(|d| ("demb", d.len(), 2 * n * e)));
    check_lens(op, &lens)?;
    ints(op, [n, e])
}

/// The forward kernel `k(const float* emb, float* out, int N, int E, float eps)`, one value
/// per pair: [`siamese_tensor::ops::distance::euclidean_forward`] (d) or
/// [`siamese_tensor::ops::distance::cosine_forward`] (c).
pub(crate) fn forward(
    be: &CudaBackend, k: K, (n, e): (usize, usize), (emb, eps): (&Buf, f32), out: &mut Buf,
) -> BResult<()> {
    expect_kernel(k, &[K::EuclideanForward, K::CosineForward])?;
    let [ni, ei] = check(k.name(), (n, e), emb, &[("out", out)], None)?;
    if n == 0 {
        return Ok(());
    }
    let cfg = grid(k.name(), n)?;
    // SAFETY: `euclidean_forward` and `cosine_forward` take (const float* emb, float* out,
    // int N, int E, float eps): two buffers, two i32, one f32. One thread per pair n < N
    // writes out[n] (N values, checked) and reads rows n and N + n of emb (2N·E values,
    // checked).
    unsafe {
        be.launch(k, cfg, |lb| {
            lb.arg(emb).arg(out).arg(&ni).arg(&ei).arg(&eps);
        })
    }
}

/// [`siamese_tensor::ops::distance::euclidean_backward`] into demb = [dA; dB].
pub(crate) fn euclidean_backward(
    be: &CudaBackend, (n, e): (usize, usize), (emb, d, dd, eps): (&Buf, &Buf, &Buf, f32),
    demb: &mut Buf,
) -> BResult<()> {
    let op = "euclidean_backward";
    let [ni, ei] = check(op, (n, e), emb, &[("d", d), ("dd", dd)], Some(&*demb))?;
    if n == 0 {
        return Ok(());
    }
    let cfg = grid(op, n)?;
    // SAFETY: `euclidean_backward(const float* emb, const float* d, const float* dd, float*
    // demb, int N, int E, float eps)`: four buffers, two i32, one f32. One thread per pair
    // n < N reads d[n], dd[n] (N values) and rows n, N + n of emb, and writes the same rows
    // of demb (2N·E values each, checked).
    unsafe {
        be.launch(K::EuclideanBackward, cfg, |lb| {
            lb.arg(emb).arg(d).arg(dd).arg(demb);
            lb.arg(&ni).arg(&ei).arg(&eps);
        })
    }
}

/// [`siamese_tensor::ops::distance::cosine_backward`] into demb = [dA; dB].
pub(crate) fn cosine_backward(
    be: &CudaBackend, (n, e): (usize, usize), (emb, dc, eps): (&Buf, &Buf, f32), demb: &mut Buf,
) -> BResult<()> {
    let op = "cosine_backward";
    let [ni, ei] = check(op, (n, e), emb, &[("dc", dc)], Some(&*demb))?;
    if n == 0 {
        return Ok(());
    }
    let cfg = grid(op, n)?;
    // SAFETY: `cosine_backward(const float* emb, const float* dc, float* demb, int N, int E,
    // float eps)`: three buffers, two i32, one f32. One thread per pair n < N reads dc[n]
    // (N values) and rows n, N + n of emb, and writes the same rows of demb (2N·E values
    // each, checked).
    unsafe {
        be.launch(K::CosineBackward, cfg, |lb| {
            lb.arg(emb).arg(dc).arg(demb);
            lb.arg(&ni).arg(&ei).arg(&eps);
        })
    }
}
