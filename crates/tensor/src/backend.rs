//! The kernel interface of a device: the generic ops of [`crate::ops`] on buffers that live
//! on the device, so that a network's training step can be written once
//! (`siamese_model::device_step`) and run on the CPU ([`CpuBackend`]) or on a GPU
//! (`siamese-cuda`'s `CudaBackend`).
//!
//! A [`Backend`] owns flat f32 buffers ([`Backend::Buf`]) plus u32 index buffers
//! ([`Backend::IdxBuf`]: a max-pool argmax, class labels). Every method names the op of
//! [`crate::ops`] whose equation it computes; that function's doc comment holds the formula,
//! [`CpuBackend`] calls it directly (it has no arithmetic of its own), and the GPU backend
//! launches the CUDA twin kept in the same op folder. Shapes travel as plain sizes
//! (row-major, NCHW); every method checks the lengths of the buffers it is given and returns
//! a [`BackendError`] rather than panic. Nothing here knows about any particular network.
//!
//! Conventions: outputs are overwritten (`=`), never accumulated; `_inplace` methods read and
//! write the same buffer; `dx`/`dw`/`db` are gradients ∂L/∂x given `dy` = ∂L/∂y. A pair op
//! reads the embeddings of N pairs as one 2N×E buffer `emb` = [A; B] (row n of A pairs with
//! row n of B), the layout of one batched subnet forward.
//!
//! The GPU backend is tested against [`CpuBackend`] method by method in
//! `crates/cuda/tests/gpu.rs`.

mod cpu;

pub use crate::ops::adam::AdamHyper;
pub use crate::ops::batchnorm::BnMode;
pub use crate::ops::conv2d::Conv2dGeom;
pub use crate::ops::loss::ContrastiveReads;
use crate::TensorError;
pub use cpu::CpuBackend;
// The op families that the methods' docs link to (`cpu.rs` makes the calls).
#[cfg(doc)]
use crate::ops::{adam, batchnorm, conv2d, distance, elementwise as ew, gemm, loss, pool};

/// What a backend can fail with: a shape/length error, or the device itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// A kernel got buffers of the wrong length (names the op and the sizes).
    Tensor(TensorError),
    /// The device, its driver or one of its libraries failed (one line).
    Device(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Tensor(e) => std::fmt::Display::fmt(e, f),
            BackendError::Device(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for BackendError {}

impl From<TensorError> for BackendError {
    fn from(e: TensorError) -> Self {
        BackendError::Tensor(e)
    }
}

/// Result alias of the backend interface.
pub type BResult<T> = std::result::Result<T, BackendError>;

/// Checks that buffer `what` of `op` holds `want` values.
pub fn check_len(op: &'static str, what: &str, got: usize, want: usize) -> BResult<()> {
    Ok(crate::error::check_len(op, what, got, want)?)
}

/// Checks the length of each `(name, length, expected length)` of `op`.
pub fn check_lens(op: &'static str, bufs: &[(&str, usize, usize)]) -> BResult<()> {
    for &(what, got, want) in bufs {
        check_len(op, what, got, want)?;
    }
    Ok(())
}

/// The kernel interface. See the module doc for conventions; each method's formula is in the
/// doc comment of the [`crate::ops`] function it names.
pub trait Backend {
    /// A flat f32 buffer on the device.
    type Buf;
    /// A flat u32 buffer on the device (max-pool argmax, class labels).
    type IdxBuf;

    /// A short description of the device, for logs ("cpu", "NVIDIA H200 (sm_90)").
    fn device_name(&self) -> String;
    /// Values in a buffer.
    fn buf_len(&self, buf: &Self::Buf) -> usize;
    /// Values in an index buffer.
    fn idx_len(&self, buf: &Self::IdxBuf) -> usize;
    /// A new buffer holding `host`.
    fn upload(&self, host: &[f32]) -> BResult<Self::Buf>;
    /// Copies `host` into `dst` (same length).
    fn upload_into(&self, host: &[f32], dst: &mut Self::Buf) -> BResult<()>;
    /// A new index buffer holding `host`.
    fn idx_upload(&self, host: &[u32]) -> BResult<Self::IdxBuf>;
    /// The buffer's values on the host (waits for pending work).
    fn download(&self, buf: &Self::Buf) -> BResult<Vec<f32>>;
    /// The index buffer's values on the host (waits for pending work).
    fn idx_download(&self, buf: &Self::IdxBuf) -> BResult<Vec<u32>>;
    /// A new zero-filled buffer of `len` values.
    fn zeros(&self, len: usize) -> BResult<Self::Buf>;
    /// A new zero-filled index buffer of `len` values.
    fn idx_zeros(&self, len: usize) -> BResult<Self::IdxBuf>;
    /// Waits until every queued kernel has finished (for timing).
    fn synchronize(&self) -> BResult<()>;

    /// [`conv2d::conv2d_forward_slices`]: y = conv2d(x, w) + b for the geometry `g`.
    fn conv2d_forward(
        &self, g: &Conv2dGeom, x: &Self::Buf, w: &Self::Buf, b: &Self::Buf, y: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`conv2d::conv2d_backward_slices`]: dw, db and, when given, dx.
    #[allow(clippy::too_many_arguments)]
    fn conv2d_backward(
        &self, g: &Conv2dGeom, x: &Self::Buf, w: &Self::Buf, dy: &Self::Buf,
        dx: Option<&mut Self::Buf>, dw: &mut Self::Buf, db: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`pool::max_pool2d_forward_into`], 2×2/2, of `planes` planes of h×w: y and the flat
    /// argmax into x of each window's first maximum.
    fn max_pool2x2_forward(
        &self, planes: usize, h: usize, w: usize, x: &Self::Buf, y: &mut Self::Buf,
        argmax: &mut Self::IdxBuf,
    ) -> BResult<()>;

    /// [`pool::max_pool2d_backward_into`], 2×2/2: dx[argmax\[o\]] = dy\[o\], 0 elsewhere.
    fn max_pool2x2_backward(
        &self, planes: usize, h: usize, w: usize, dy: &Self::Buf, argmax: &Self::IdxBuf,
        dx: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`pool::avg_pool2d_forward_into`], 2×2/2: y = ¼·Σ window.
    fn avg_pool2x2_forward(
        &self, planes: usize, h: usize, w: usize, x: &Self::Buf, y: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`pool::avg_pool2d_backward_into`], 2×2/2: dx = dy/4 over each window.
    fn avg_pool2x2_backward(
        &self, planes: usize, h: usize, w: usize, dy: &Self::Buf, dx: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`gemm::gemm`], row-major: C ← α·op(A)·op(B) + β·C with op(A) m×k, op(B) k×n.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &self, trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32,
        a: &Self::Buf, b: &Self::Buf, beta: f32, c: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`gemm::linear_forward`]: y = x·Wᵀ + b for m rows, i inputs, o outputs.
    #[allow(clippy::too_many_arguments)]
    fn linear_forward(
        &self, m: usize, i: usize, o: usize, x: &Self::Buf, w: &Self::Buf, b: &Self::Buf,
        y: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`gemm::linear_backward`]: dW = dyᵀ·x, db = Σ_rows dy and, when given, dx = dy·W.
    #[allow(clippy::too_many_arguments)]
    fn linear_backward(
        &self, m: usize, i: usize, o: usize, x: &Self::Buf, w: &Self::Buf, dy: &Self::Buf,
        dx: Option<&mut Self::Buf>, dw: &mut Self::Buf, db: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`ew::relu_in_place`]: x ← max(x, 0).
    fn relu_inplace(&self, x: &mut Self::Buf) -> BResult<()>;
    /// [`ew::relu_backward_in_place`] from the output y = relu(x): dy ← dy·\[y > 0\].
    fn relu_backward_inplace(&self, y: &Self::Buf, dy: &mut Self::Buf) -> BResult<()>;
    /// [`ew::tanh_in_place`]: x ← tanh x.
    fn tanh_inplace(&self, x: &mut Self::Buf) -> BResult<()>;
    /// [`ew::tanh_backward_in_place`] from the output y = tanh x: dy ← dy·(1 − y²).
    fn tanh_backward_inplace(&self, y: &Self::Buf, dy: &mut Self::Buf) -> BResult<()>;
    /// [`ew::sigmoid_in_place`]: x ← σ(x).
    fn sigmoid_inplace(&self, x: &mut Self::Buf) -> BResult<()>;
    /// [`ew::sigmoid_backward_in_place`] from the output y = σ(x): dy ← dy·y(1 − y).
    fn sigmoid_backward_inplace(&self, y: &Self::Buf, dy: &mut Self::Buf) -> BResult<()>;

    /// [`distance::euclidean_forward`] of the N pairs of emb = [A; B] (2N×E) into d (N).
    fn euclidean_forward(
        &self, n: usize, e: usize, emb: &Self::Buf, eps: f32, d: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`distance::euclidean_backward`] into demb = [dA; dB] (2N×E).
    #[allow(clippy::too_many_arguments)]
    fn euclidean_backward(
        &self, n: usize, e: usize, emb: &Self::Buf, d: &Self::Buf, dd: &Self::Buf, eps: f32,
        demb: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`distance::cosine_forward`] of the N pairs of emb = [A; B] (2N×E) into c (N).
    fn cosine_forward(
        &self, n: usize, e: usize, emb: &Self::Buf, eps: f32, c: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`distance::cosine_backward`] into demb = [dA; dB] (2N×E).
    fn cosine_backward(
        &self, n: usize, e: usize, emb: &Self::Buf, dc: &Self::Buf, eps: f32, demb: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`batchnorm::batchnorm_forward`] over x: N×C; `xhat` (N×C) and `inv_std` (C) receive
    /// the cache of the backward pass; [`BnMode::Train`] updates the running statistics.
    #[allow(clippy::too_many_arguments)]
    fn batchnorm_forward(
        &self, n: usize, c: usize, x: &Self::Buf, gamma: &Self::Buf, beta: &Self::Buf, eps: f32,
        mode: BnMode, running_mean: &mut Self::Buf, running_var: &mut Self::Buf,
        xhat: &mut Self::Buf, inv_std: &mut Self::Buf, y: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`batchnorm::batchnorm_backward`] in training mode: dx, dγ, dβ.
    #[allow(clippy::too_many_arguments)]
    fn batchnorm_backward(
        &self, n: usize, c: usize, dy: &Self::Buf, xhat: &Self::Buf, inv_std: &Self::Buf,
        gamma: &Self::Buf, dx: &mut Self::Buf, dgamma: &mut Self::Buf, dbeta: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`loss::contrastive_forward`] and [`loss::contrastive_backward`] (dL = 1) at once:
    /// L of the N values v against labels y into `loss` (1 value, on the device), ∂L/∂v into dv.
    #[allow(clippy::too_many_arguments)]
    fn contrastive_loss(
        &self, n: usize, v: &Self::Buf, y: &Self::Buf, margin: f32, reads: ContrastiveReads,
        loss: &mut Self::Buf, dv: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`loss::bce_forward`] and [`loss::bce_backward`] (dL = 1): L into `loss`, ∂L/∂p into dp.
    #[allow(clippy::too_many_arguments)]
    fn bce_loss(
        &self, n: usize, p: &Self::Buf, y: &Self::Buf, eps: f32, loss: &mut Self::Buf,
        dp: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`loss::softmax_ce_forward`] and [`loss::softmax_ce_backward`] (dL = 1) of logits
    /// z: N×K against `labels`: softmax into `probs`, L into `loss`, ∂L/∂z into dz.
    #[allow(clippy::too_many_arguments)]
    fn softmax_ce_loss(
        &self, n: usize, k: usize, z: &Self::Buf, labels: &Self::IdxBuf, probs: &mut Self::Buf,
        loss: &mut Self::Buf, dz: &mut Self::Buf,
    ) -> BResult<()>;

    /// [`adam::adam_update`]: Adam's steps (b)–(f) in place on one parameter tensor.
    fn adam_update(
        &self, h: &AdamHyper, theta: &mut Self::Buf, grad: &Self::Buf, m: &mut Self::Buf,
        v: &mut Self::Buf,
    ) -> BResult<()>;
}
