//! The kernel interface of a whole SN-LeNet-5 training step, so the model can be written once
//! (`siamese_model::device_step`) and run on the CPU ([`CpuBackend`]) or on a GPU
//! (`siamese-cuda`'s `CudaBackend`).
//!
//! A [`Backend`] owns flat f32 buffers ([`Backend::Buf`]) that live on its device, plus u32
//! index buffers ([`Backend::IdxBuf`]) for the max-pool argmax. Every kernel reads and writes
//! such buffers; the host only uploads a batch, and downloads what it asks for (the loss,
//! the similarities). Shapes travel as plain sizes (row-major, NCHW), and every method checks
//! the buffer lengths it is given and returns a [`BackendError`] rather than panic.
//!
//! Notation: M rows (images, 2N for N pairs), N pairs, E embedding size, C/K input/output
//! channels, H×W planes. Each method's doc comment gives its equation; the CPU implementation
//! below is the specification every other backend is tested against
//! (`crates/cuda/tests/kernels.rs`).
//!
//! Conventions:
//! - outputs are overwritten (`=`), never accumulated, unless a method says otherwise;
//! - `_inplace` methods read and write the same buffer;
//! - `dx`/`dw`/`db` are gradients ∂L/∂x etc. given `dy` = ∂L/∂y.

use thiserror::Error;

use crate::ops::conv2d::{conv2d_backward, conv2d_backward_params, conv2d_forward_into, ConvAlgo};
use crate::ops::{gemm, pool};
use crate::{Tensor, TensorError};

pub use crate::ops::conv2d::Conv2dGeom;

/// What a backend can fail with: a shape/length error, or the device itself.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackendError {
    /// A kernel got buffers of the wrong length (names the op and the sizes).
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// The device, its driver or one of its libraries failed (one line).
    #[error("{0}")]
    Device(String),
}

/// Result alias of the backend interface.
pub type BResult<T> = std::result::Result<T, BackendError>;

/// Checks that buffer `what` of `op` holds `want` values.
pub fn check_len(op: &'static str, what: &str, got: usize, want: usize) -> BResult<()> {
    if got != want {
        return Err(crate::error::shape_err(
            op,
            format!("{what} has {got} values, expected {want}"),
        )
        .into());
    }
    Ok(())
}

/// Checks the length of each `(name, buffer, expected length)` of `op`.
pub fn check_bufs<B: Backend + ?Sized>(
    be: &B,
    op: &'static str,
    bufs: &[(&str, &B::Buf, usize)],
) -> BResult<()> {
    for (what, buf, want) in bufs {
        check_len(op, what, be.buf_len(buf), *want)?;
    }
    Ok(())
}

/// The buffer lengths of a Euclidean-distance op: emb holds 2N×E values, each per-pair buffer N.
pub fn check_euclidean<B: Backend + ?Sized>(
    be: &B,
    op: &'static str,
    n: usize,
    e: usize,
    emb: &B::Buf,
    per_pair: &[(&str, &B::Buf)],
) -> BResult<()> {
    check_len(op, "emb", be.buf_len(emb), 2 * n * e)?;
    for (what, buf) in per_pair {
        check_len(op, what, be.buf_len(buf), n)?;
    }
    Ok(())
}

/// The buffer lengths of [`Backend::head_forward`].
#[allow(clippy::too_many_arguments)]
pub fn check_head_forward<B: Backend + ?Sized>(
    be: &B,
    n: usize,
    d: &B::Buf,
    p: &HeadParams<'_, B>,
    running_mean: &B::Buf,
    running_var: &B::Buf,
    cache: &B::Buf,
    s: &B::Buf,
) -> BResult<()> {
    check_bufs(
        be,
        "head_forward",
        &[
            ("d", d, n),
            ("s", s, n),
            ("cache", cache, n + 1),
            ("gamma", p.gamma, 1),
            ("beta", p.beta, 1),
            ("w", p.w, 1),
            ("b", p.b, 1),
            ("running_mean", running_mean, 1),
            ("running_var", running_var, 1),
        ],
    )
}

/// The buffer lengths of [`Backend::head_backward`].
#[allow(clippy::too_many_arguments)]
pub fn check_head_backward<B: Backend + ?Sized>(
    be: &B,
    n: usize,
    ds: &B::Buf,
    s: &B::Buf,
    cache: &B::Buf,
    p: &HeadParams<'_, B>,
    grads: &HeadGrads<'_, B>,
    dd: &B::Buf,
) -> BResult<()> {
    check_bufs(
        be,
        "head_backward",
        &[
            ("ds", ds, n),
            ("s", s, n),
            ("cache", cache, n + 1),
            ("dd", dd, n),
            ("gamma", p.gamma, 1),
            ("beta", p.beta, 1),
            ("w", p.w, 1),
            ("dgamma", &*grads.gamma, 1),
            ("dbeta", &*grads.beta, 1),
            ("dw", &*grads.w, 1),
            ("db", &*grads.b, 1),
        ],
    )
}

/// The buffer lengths of [`Backend::adam_update`]: all four as long as θ.
pub fn check_adam<B: Backend + ?Sized>(
    be: &B,
    theta: &B::Buf,
    grad: &B::Buf,
    m: &B::Buf,
    v: &B::Buf,
) -> BResult<()> {
    let n = be.buf_len(theta);
    check_bufs(
        be,
        "adam_update",
        &[("grad", grad, n), ("m", m, n), ("v", v, n)],
    )
}

/// The output module's four scalars, s = σ(w·(γ·x̂ + β) + b).
pub struct HeadParams<'a, B: ?Sized + Backend> {
    /// BatchNorm scale γ (`head.bn.weight`), 1 value.
    pub gamma: &'a B::Buf,
    /// BatchNorm shift β (`head.bn.bias`), 1 value.
    pub beta: &'a B::Buf,
    /// Dense weight w (`head.fc.weight`), 1 value.
    pub w: &'a B::Buf,
    /// Dense bias b (`head.fc.bias`), 1 value.
    pub b: &'a B::Buf,
}

/// Gradients of the output module's four scalars (overwritten).
pub struct HeadGrads<'a, B: ?Sized + Backend> {
    pub gamma: &'a mut B::Buf,
    pub beta: &'a mut B::Buf,
    pub w: &'a mut B::Buf,
    pub b: &'a mut B::Buf,
}

/// How the output module's BatchNorm normalises.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BnMode {
    /// Batch statistics μ = mean d, σ² = mean (d − μ)² (biased), and the running statistics
    /// updated as r ← momentum·r + (1 − momentum)·batch.
    Train { momentum: f32 },
    /// The running statistics.
    Eval,
}

/// Adam's hyper-parameters for one update, with the bias corrections computed by the host
/// exactly as `siamese_optim::Adam` does: bc1 = 1 − β₁ᵗ, bc2 = 1 − β₂ᵗ (in f64, then f32).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub bc1: f32,
    pub bc2: f32,
}

/// The kernel interface. See the module doc for conventions.
pub trait Backend {
    /// A flat f32 buffer on the device.
    type Buf;
    /// A flat u32 buffer on the device (max-pool argmax).
    type IdxBuf;

    /// A short description of the device, for logs ("cpu", "NVIDIA H200 (sm_90)").
    fn device_name(&self) -> String;
    /// Values in a buffer.
    fn buf_len(&self, buf: &Self::Buf) -> usize;
    /// A new buffer holding `host`.
    fn upload(&self, host: &[f32]) -> BResult<Self::Buf>;
    /// Copies `host` into `dst` (same length).
    fn upload_into(&self, host: &[f32], dst: &mut Self::Buf) -> BResult<()>;
    /// The buffer's values on the host (waits for pending work).
    fn download(&self, buf: &Self::Buf) -> BResult<Vec<f32>>;
    /// A new zero-filled buffer of `len` values.
    fn zeros(&self, len: usize) -> BResult<Self::Buf>;
    /// A new zero-filled index buffer of `len` values.
    fn idx_zeros(&self, len: usize) -> BResult<Self::IdxBuf>;
    /// Waits until every queued kernel has finished (for timing).
    fn synchronize(&self) -> BResult<()>;

    /// Convolution, x: N×C×H×W, w: K×C×KH×KW, b: K → y: N×K×OH×OW:
    /// y[n,k,i,j] = b[k] + Σ_{c,u,v} w[k,c,u,v]·x[n,c,i·s+u−p,j·s+v−p] (0 outside x).
    fn conv2d_forward(
        &self,
        g: &Conv2dGeom,
        x: &Self::Buf,
        w: &Self::Buf,
        b: &Self::Buf,
        y: &mut Self::Buf,
    ) -> BResult<()>;

    /// Convolution backward: dw[k,c,u,v] = Σ_{n,i,j} dy[n,k,i,j]·x[n,c,i·s+u−p,j·s+v−p],
    /// db[k] = Σ_{n,i,j} dy[n,k,i,j], and, when `dx` is given,
    /// dx[n,c,h,w] = Σ_{k,u,v} dy[n,k,i,j]·w[k,c,u,v] over i·s+u−p = h, j·s+v−p = w.
    #[allow(clippy::too_many_arguments)]
    fn conv2d_backward(
        &self,
        g: &Conv2dGeom,
        x: &Self::Buf,
        w: &Self::Buf,
        dy: &Self::Buf,
        dx: Option<&mut Self::Buf>,
        dw: &mut Self::Buf,
        db: &mut Self::Buf,
    ) -> BResult<()>;

    /// 2×2/2 max-pool of `planes` planes of h×w: y[p,i,j] = max_{u,v<2} x[p,2i+u,2j+v], and
    /// argmax[p,i,j] = the flat index into x of that maximum (the first in row-major order
    /// on ties).
    fn max_pool2x2_forward(
        &self,
        planes: usize,
        h: usize,
        w: usize,
        x: &Self::Buf,
        y: &mut Self::Buf,
        argmax: &mut Self::IdxBuf,
    ) -> BResult<()>;

    /// Max-pool backward: dx[i] = Σ_{o: argmax[o] = i} dy[o] (the windows do not overlap, so at
    /// most one term), 0 elsewhere.
    fn max_pool2x2_backward(
        &self,
        planes: usize,
        h: usize,
        w: usize,
        dy: &Self::Buf,
        argmax: &Self::IdxBuf,
        dx: &mut Self::Buf,
    ) -> BResult<()>;

    /// GEMM, row-major: C ← α·op(A)·op(B) + β·C with op(A) m×k, op(B) k×n, C m×n; A is stored
    /// k×m when `trans_a` (likewise B). With β = 0, C is overwritten.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &self,
        trans_a: bool,
        trans_b: bool,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: &Self::Buf,
        b: &Self::Buf,
        beta: f32,
        c: &mut Self::Buf,
    ) -> BResult<()>;

    /// Bias broadcast over rows: y[i,j] += b[j], y: rows×cols.
    fn add_bias_rows(
        &self,
        rows: usize,
        cols: usize,
        b: &Self::Buf,
        y: &mut Self::Buf,
    ) -> BResult<()>;

    /// Column sums (the bias gradient of a dense layer): db[j] = Σ_i dy[i,j], dy: rows×cols.
    fn sum_rows(&self, rows: usize, cols: usize, dy: &Self::Buf, db: &mut Self::Buf)
        -> BResult<()>;

    /// ReLU in place: x ← max(x, 0).
    fn relu_inplace(&self, x: &mut Self::Buf) -> BResult<()>;
    /// ReLU backward from the output y = relu(x): dy ← dy·[y > 0] (= dy·[x > 0]).
    fn relu_backward_inplace(&self, y: &Self::Buf, dy: &mut Self::Buf) -> BResult<()>;
    /// tanh in place: x ← tanh x.
    fn tanh_inplace(&self, x: &mut Self::Buf) -> BResult<()>;
    /// tanh backward from the output y = tanh x: dy ← dy·(1 − y²).
    fn tanh_backward_inplace(&self, y: &Self::Buf, dy: &mut Self::Buf) -> BResult<()>;

    /// Euclidean distance of the pairs (a_n, b_n) where emb = [A; B] is 2N×E:
    /// d_n = √max(Σ_i (a_ni − b_ni)², ε).
    fn euclidean_forward(
        &self,
        n: usize,
        e: usize,
        emb: &Self::Buf,
        eps: f32,
        d: &mut Self::Buf,
    ) -> BResult<()>;

    /// Euclidean backward: demb[a_ni] = dd_n·(a_ni − b_ni)/d_n = −demb[b_ni] where
    /// Σ_i (a_ni − b_ni)² > ε, and 0 where the guard is active.
    #[allow(clippy::too_many_arguments)]
    fn euclidean_backward(
        &self,
        n: usize,
        e: usize,
        emb: &Self::Buf,
        d: &Self::Buf,
        dd: &Self::Buf,
        eps: f32,
        demb: &mut Self::Buf,
    ) -> BResult<()>;

    /// The output module over N distances: x̂_n = (d_n − μ)/√(σ² + ε), h_n = γ·x̂_n + β,
    /// s_n = σ(w·h_n + b). μ, σ² are the batch's (biased, accumulated in f64) in
    /// [`BnMode::Train`], which also updates `running_mean`/`running_var`
    /// (r ← momentum·r + (1 − momentum)·batch), or the running ones in [`BnMode::Eval`].
    /// `cache` (N + 1 values) receives x̂ and 1/√(σ² + ε) for the backward pass.
    #[allow(clippy::too_many_arguments)]
    fn head_forward(
        &self,
        n: usize,
        d: &Self::Buf,
        p: &HeadParams<'_, Self>,
        mode: BnMode,
        eps: f32,
        running_mean: &mut Self::Buf,
        running_var: &mut Self::Buf,
        cache: &mut Self::Buf,
        s: &mut Self::Buf,
    ) -> BResult<()>;

    /// Output module backward (training-mode BatchNorm), given ds:
    /// dz = ds·s(1 − s); dw = Σ dz·h; db = Σ dz; dh = dz·w; dγ = Σ dh·x̂; dβ = Σ dh;
    /// dd = (γ/(N√(σ²+ε)))·(N·dh − Σ dh − x̂·Σ dh·x̂) (sums in f64).
    #[allow(clippy::too_many_arguments)]
    fn head_backward(
        &self,
        n: usize,
        ds: &Self::Buf,
        s: &Self::Buf,
        cache: &Self::Buf,
        p: &HeadParams<'_, Self>,
        grads: &mut HeadGrads<'_, Self>,
        dd: &mut Self::Buf,
    ) -> BResult<()>;

    /// The paper's contrastive loss on similarities s against labels y (1 = same class) and
    /// its gradient: with h_n = max(margin − s_n, 0),
    /// L = (1/N) Σ [y_n·h_n² + (1 − y_n)·s_n²] (f64 sum) into `loss` (1 value, on the device),
    /// ds_n = (−2·y_n·h_n + 2·(1 − y_n)·s_n)/N.
    #[allow(clippy::too_many_arguments)]
    fn contrastive_loss(
        &self,
        n: usize,
        s: &Self::Buf,
        y: &Self::Buf,
        margin: f32,
        loss: &mut Self::Buf,
        ds: &mut Self::Buf,
    ) -> BResult<()>;

    /// One Adam update in place (the paper's Table 2, steps b–f), element-wise:
    /// m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; m̂ = m/bc1; v̂ = v/bc2; θ ← θ − α·m̂/(√v̂ + ε).
    fn adam_update(
        &self,
        h: &AdamHyper,
        theta: &mut Self::Buf,
        grad: &Self::Buf,
        m: &mut Self::Buf,
        v: &mut Self::Buf,
    ) -> BResult<()>;
}

/// The CPU path behind the [`Backend`] interface: buffers are `Vec<f32>`, the convolution,
/// pooling and GEMM are this crate's kernels, and the small per-pair ops are written out
/// here as plain loops (the reference for every other backend).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

fn tensor(shape: &[usize], data: &[f32]) -> BResult<Tensor> {
    Ok(Tensor::from_vec(shape, data.to_vec())?)
}

fn sigmoid(x: f32) -> f32 {
    crate::ops::elementwise::sigmoid_scalar(x)
}

impl Backend for CpuBackend {
    type Buf = Vec<f32>;
    type IdxBuf = Vec<u32>;

    fn device_name(&self) -> String {
        "cpu".into()
    }

    fn buf_len(&self, buf: &Vec<f32>) -> usize {
        buf.len()
    }

    fn upload(&self, host: &[f32]) -> BResult<Vec<f32>> {
        Ok(host.to_vec())
    }

    fn upload_into(&self, host: &[f32], dst: &mut Vec<f32>) -> BResult<()> {
        check_len("upload_into", "destination", dst.len(), host.len())?;
        dst.copy_from_slice(host);
        Ok(())
    }

    fn download(&self, buf: &Vec<f32>) -> BResult<Vec<f32>> {
        Ok(buf.clone())
    }

    fn zeros(&self, len: usize) -> BResult<Vec<f32>> {
        Ok(vec![0.0; len])
    }

    fn idx_zeros(&self, len: usize) -> BResult<Vec<u32>> {
        Ok(vec![0; len])
    }

    fn synchronize(&self) -> BResult<()> {
        Ok(())
    }

    fn conv2d_forward(
        &self,
        g: &Conv2dGeom,
        x: &Vec<f32>,
        w: &Vec<f32>,
        b: &Vec<f32>,
        y: &mut Vec<f32>,
    ) -> BResult<()> {
        let xt = tensor(&[g.n, g.c, g.h, g.w], x)?;
        let wt = tensor(&[g.k, g.c, g.kh, g.kw], w)?;
        let bt = tensor(&[g.k], b)?;
        conv2d_forward_into(ConvAlgo::Auto, &xt, &wt, Some(&bt), g.stride, g.pad, y)?;
        Ok(())
    }

    fn conv2d_backward(
        &self,
        g: &Conv2dGeom,
        x: &Vec<f32>,
        w: &Vec<f32>,
        dy: &Vec<f32>,
        dx: Option<&mut Vec<f32>>,
        dw: &mut Vec<f32>,
        db: &mut Vec<f32>,
    ) -> BResult<()> {
        let xt = tensor(&[g.n, g.c, g.h, g.w], x)?;
        let wt = tensor(&[g.k, g.c, g.kh, g.kw], w)?;
        let dyt = tensor(&g.out_shape(), dy)?;
        check_len("conv2d_backward", "dw", dw.len(), wt.len())?;
        check_len("conv2d_backward", "db", db.len(), g.k)?;
        let (gw, gb) = match dx {
            Some(dx) => {
                check_len("conv2d_backward", "dx", dx.len(), xt.len())?;
                let gr = conv2d_backward(&xt, &wt, &dyt, g.stride, g.pad)?;
                dx.copy_from_slice(gr.dx.data());
                (gr.dw, gr.db)
            }
            None => conv2d_backward_params(&xt, &wt, &dyt, g.stride, g.pad)?,
        };
        dw.copy_from_slice(gw.data());
        db.copy_from_slice(gb.data());
        Ok(())
    }

    fn max_pool2x2_forward(
        &self,
        planes: usize,
        h: usize,
        w: usize,
        x: &Vec<f32>,
        y: &mut Vec<f32>,
        argmax: &mut Vec<u32>,
    ) -> BResult<()> {
        let xt = tensor(&[planes, 1, h, w], x)?;
        let (yt, arg) = pool::max_pool2d_forward(&xt, 2, 2)?;
        check_len("max_pool2x2_forward", "y", y.len(), yt.len())?;
        check_len("max_pool2x2_forward", "argmax", argmax.len(), arg.len())?;
        y.copy_from_slice(yt.data());
        argmax.copy_from_slice(&arg);
        Ok(())
    }

    fn max_pool2x2_backward(
        &self,
        planes: usize,
        h: usize,
        w: usize,
        dy: &Vec<f32>,
        argmax: &Vec<u32>,
        dx: &mut Vec<f32>,
    ) -> BResult<()> {
        let dyt = tensor(&[planes, 1, h / 2, w / 2], dy)?;
        let dxt = pool::max_pool2d_backward(&dyt, argmax, &[planes, 1, h, w])?;
        check_len("max_pool2x2_backward", "dx", dx.len(), dxt.len())?;
        dx.copy_from_slice(dxt.data());
        Ok(())
    }

    fn gemm(
        &self,
        trans_a: bool,
        trans_b: bool,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: &Vec<f32>,
        b: &Vec<f32>,
        beta: f32,
        c: &mut Vec<f32>,
    ) -> BResult<()> {
        gemm::gemm(trans_a, trans_b, m, n, k, alpha, a, b, beta, c)?;
        Ok(())
    }

    fn add_bias_rows(
        &self,
        rows: usize,
        cols: usize,
        b: &Vec<f32>,
        y: &mut Vec<f32>,
    ) -> BResult<()> {
        check_len("add_bias_rows", "bias", b.len(), cols)?;
        check_len("add_bias_rows", "y", y.len(), rows * cols)?;
        for row in y.chunks_exact_mut(cols.max(1)) {
            row.iter_mut().zip(b).for_each(|(v, &bj)| *v += bj);
        }
        Ok(())
    }

    fn sum_rows(&self, rows: usize, cols: usize, dy: &Vec<f32>, db: &mut Vec<f32>) -> BResult<()> {
        check_len("sum_rows", "dy", dy.len(), rows * cols)?;
        check_len("sum_rows", "db", db.len(), cols)?;
        for (j, out) in db.iter_mut().enumerate() {
            *out = (0..rows).map(|i| dy[i * cols + j] as f64).sum::<f64>() as f32;
        }
        Ok(())
    }

    fn relu_inplace(&self, x: &mut Vec<f32>) -> BResult<()> {
        crate::ops::elementwise::relu_in_place(x);
        Ok(())
    }

    fn relu_backward_inplace(&self, y: &Vec<f32>, dy: &mut Vec<f32>) -> BResult<()> {
        check_len("relu_backward", "dy", dy.len(), y.len())?;
        dy.iter_mut()
            .zip(y)
            .for_each(|(d, &yv)| *d = if yv > 0.0 { *d } else { 0.0 });
        Ok(())
    }

    fn tanh_inplace(&self, x: &mut Vec<f32>) -> BResult<()> {
        x.iter_mut().for_each(|v| *v = v.tanh());
        Ok(())
    }

    fn tanh_backward_inplace(&self, y: &Vec<f32>, dy: &mut Vec<f32>) -> BResult<()> {
        check_len("tanh_backward", "dy", dy.len(), y.len())?;
        dy.iter_mut()
            .zip(y)
            .for_each(|(d, &yv)| *d *= 1.0 - yv * yv);
        Ok(())
    }

    fn euclidean_forward(
        &self,
        n: usize,
        e: usize,
        emb: &Vec<f32>,
        eps: f32,
        d: &mut Vec<f32>,
    ) -> BResult<()> {
        check_euclidean(self, "euclidean_forward", n, e, emb, &[("d", &*d)])?;
        let (a, b) = emb.split_at(n * e);
        for (i, dv) in d.iter_mut().enumerate() {
            let ss: f32 = (0..e)
                .map(|j| {
                    let t = a[i * e + j] - b[i * e + j];
                    t * t
                })
                .sum();
            *dv = ss.max(eps).sqrt();
        }
        Ok(())
    }

    fn euclidean_backward(
        &self,
        n: usize,
        e: usize,
        emb: &Vec<f32>,
        d: &Vec<f32>,
        dd: &Vec<f32>,
        eps: f32,
        demb: &mut Vec<f32>,
    ) -> BResult<()> {
        check_euclidean(
            self,
            "euclidean_backward",
            n,
            e,
            emb,
            &[("d", d), ("dd", dd)],
        )?;
        check_bufs(self, "euclidean_backward", &[("demb", &*demb, 2 * n * e)])?;
        let (a, b) = emb.split_at(n * e);
        let (da, db) = demb.split_at_mut(n * e);
        for i in 0..n {
            let ss: f32 = (0..e)
                .map(|j| {
                    let t = a[i * e + j] - b[i * e + j];
                    t * t
                })
                .sum();
            let k = if ss > eps { dd[i] / d[i] } else { 0.0 };
            for j in 0..e {
                let g = k * (a[i * e + j] - b[i * e + j]);
                da[i * e + j] = g;
                db[i * e + j] = -g;
            }
        }
        Ok(())
    }

    fn head_forward(
        &self,
        n: usize,
        d: &Vec<f32>,
        p: &HeadParams<'_, Self>,
        mode: BnMode,
        eps: f32,
        running_mean: &mut Vec<f32>,
        running_var: &mut Vec<f32>,
        cache: &mut Vec<f32>,
        s: &mut Vec<f32>,
    ) -> BResult<()> {
        let op = "head_forward";
        check_head_forward(self, n, d, p, running_mean, running_var, cache, s)?;
        let (mean, var) = match mode {
            BnMode::Train { momentum } => {
                if n == 0 {
                    return Err(crate::error::shape_err(op, "training mode needs a batch").into());
                }
                let mu = d.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
                let s2 = d.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / n as f64;
                let (mu, s2) = (mu as f32, s2 as f32);
                running_mean[0] = momentum * running_mean[0] + (1.0 - momentum) * mu;
                running_var[0] = momentum * running_var[0] + (1.0 - momentum) * s2;
                (mu, s2)
            }
            BnMode::Eval => (running_mean[0], running_var[0]),
        };
        let inv_std = 1.0 / (var + eps).sqrt();
        let (gamma, beta, w, b) = (p.gamma[0], p.beta[0], p.w[0], p.b[0]);
        for i in 0..n {
            let xhat = (d[i] - mean) * inv_std;
            cache[i] = xhat;
            let h = gamma * xhat + beta;
            s[i] = sigmoid(h * w + b);
        }
        cache[n] = inv_std;
        Ok(())
    }

    fn head_backward(
        &self,
        n: usize,
        ds: &Vec<f32>,
        s: &Vec<f32>,
        cache: &Vec<f32>,
        p: &HeadParams<'_, Self>,
        grads: &mut HeadGrads<'_, Self>,
        dd: &mut Vec<f32>,
    ) -> BResult<()> {
        check_head_backward(self, n, ds, s, cache, p, grads, dd)?;
        let (gamma, beta, w) = (p.gamma[0], p.beta[0], p.w[0]);
        let inv_std = cache[n];
        let (mut sw, mut sb, mut sdh, mut sdhx) = (0f64, 0f64, 0f64, 0f64);
        let mut dh = vec![0f32; n];
        for i in 0..n {
            let xhat = cache[i];
            let h = gamma * xhat + beta;
            let dz = ds[i] * (s[i] * (1.0 - s[i])); // σ' = σ(1 − σ)
            sw += dz as f64 * h as f64;
            sb += dz as f64;
            dh[i] = dz * w;
            sdh += dh[i] as f64;
            sdhx += dh[i] as f64 * xhat as f64;
        }
        grads.w[0] = sw as f32;
        grads.b[0] = sb as f32;
        grads.gamma[0] = sdhx as f32;
        grads.beta[0] = sdh as f32;
        let scale = gamma as f64 * inv_std as f64;
        for i in 0..n {
            // (γ/(N√(σ²+ε)))·(N·dh − Σdh − x̂·Σdh·x̂): term 1, 2, 3
            dd[i] = (scale / n as f64 * (n as f64 * dh[i] as f64 - sdh - cache[i] as f64 * sdhx))
                as f32;
        }
        Ok(())
    }

    fn contrastive_loss(
        &self,
        n: usize,
        s: &Vec<f32>,
        y: &Vec<f32>,
        margin: f32,
        loss: &mut Vec<f32>,
        ds: &mut Vec<f32>,
    ) -> BResult<()> {
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
        let mut total = 0f64;
        let inv_n = 1.0 / n.max(1) as f32;
        for i in 0..n {
            let h = (margin - s[i]).max(0.0);
            total += (y[i] * h * h + (1.0 - y[i]) * s[i] * s[i]) as f64;
            ds[i] = (-2.0 * y[i] * h + 2.0 * (1.0 - y[i]) * s[i]) * inv_n;
        }
        loss[0] = (total / n.max(1) as f64) as f32;
        Ok(())
    }

    fn adam_update(
        &self,
        h: &AdamHyper,
        theta: &mut Vec<f32>,
        grad: &Vec<f32>,
        m: &mut Vec<f32>,
        v: &mut Vec<f32>,
    ) -> BResult<()> {
        check_adam(self, theta, grad, m, v)?;
        for i in 0..theta.len() {
            let g = grad[i];
            m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * g; // (b)
            v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * g * g; // (c)
            let m_hat = m[i] / h.bc1; // (d)
            let v_hat = v[i] / h.bc2; // (e)
            theta[i] -= h.lr * m_hat / (v_hat.sqrt() + h.eps); // (f)
        }
        Ok(())
    }
}
