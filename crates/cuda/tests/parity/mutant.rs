//! [`Mutant`]: a [`Backend`] that forwards every call to another one (shared through an
//! `Rc`) and can get one thing wrong on purpose: one output of one op off by a relative
//! amount ([`Mutation::Scale`]), or a term dropped from one op ([`Mutation::Drop`]). With
//! [`Mutation::None`] it is a plain shared handle (the GPU tests build a device model per
//! step on one CUDA backend through it).

use std::cell::Cell;
use std::rc::Rc;

use siamese_tensor::backend::{AdamHyper, BResult, Backend, BnMode, ContrastiveReads, Conv2dGeom};

/// A term dropped from (or a wrong formula in) one op, computed by the wrapped backend with
/// altered arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// conv2d forward without + b.
    ConvBias,
    /// linear forward without + b.
    LinearBias,
    /// batchnorm forward in training with the running statistics instead of the batch's.
    BatchStatistics,
    /// batchnorm backward without dβ's Σ dy (dβ left 0).
    BnDbeta,
    /// euclidean backward without the 1/d factor (d read as 1).
    EuclideanOneOverD,
    /// sigmoid backward with tanh's derivative 1 − y² instead of y(1 − y).
    SigmoidDerivative,
    /// contrastive loss with the other reading (the roles of y = 1 and y = 0 swapped).
    ContrastiveReading,
    /// softmax cross-entropy with every logit row's last value zeroed.
    SoftmaxLastLogit,
    /// Adam without the bias correction (1 − βᵗ read as 1).
    AdamBiasCorrection,
}

/// What the wrapper gets wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mutation {
    None,
    /// Output number `out` (in [`TARGETS`] order) of method `op`: its largest-magnitude
    /// value times (1 + r) (an all-zero output gets r at index 0; an index output swaps its
    /// first two entries).
    Scale {
        op: &'static str,
        out: usize,
        r: f32,
    },
    Drop(Drop),
    /// Not a bug but a model of a correct device: every value of every output that the
    /// comparison does not hold exactly (all but copies, indices, ReLU, max-pool and ¼-scaling)
    /// times (1 + k·2⁻²³·ξ), ξ uniform in [−1, 1] drawn afresh per value: k ulps of noise;
    /// Adam's outputs too when `adam` (its kernel is element-wise, bit for bit the CPU's
    /// arithmetic, so a model of the other ops may leave it exact).
    Noise {
        ulps: f32,
        adam: bool,
    },
}

/// The ops [`Mutation::Noise`] touches: those with a tolerance above 0.
const NOISY: &[&str] = &[
    "conv2d_forward",
    "conv2d_backward",
    "avg_pool2x2_forward",
    "gemm",
    "linear_forward",
    "linear_backward",
    "tanh_inplace",
    "tanh_backward_inplace",
    "sigmoid_inplace",
    "sigmoid_backward_inplace",
    "euclidean_forward",
    "euclidean_backward",
    "cosine_forward",
    "cosine_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "contrastive_loss",
    "bce_loss",
    "softmax_ce_loss",
    "adam_update",
];

/// Every method the GPU tests compare, with its outputs and the case family that covers it.
pub const TARGETS: &[(&str, &[&str], &str)] = &[
    ("upload", &["buf"], "memory"),
    ("upload_into", &["dst"], "memory"),
    ("download", &["host"], "memory"),
    ("zeros", &["buf"], "memory"),
    ("idx_upload", &["idx"], "memory"),
    ("idx_download", &["host"], "memory"),
    ("conv2d_forward", &["y"], "conv2d"),
    ("conv2d_backward", &["dx", "dw", "db"], "conv2d"),
    ("max_pool2x2_forward", &["y", "argmax"], "pools"),
    ("max_pool2x2_backward", &["dx"], "pools"),
    ("avg_pool2x2_forward", &["y"], "pools"),
    ("avg_pool2x2_backward", &["dx"], "pools"),
    ("gemm", &["C"], "gemm"),
    ("linear_forward", &["y"], "linear"),
    ("linear_backward", &["dx", "dW", "db"], "linear"),
    ("relu_inplace", &["x"], "activations"),
    ("relu_backward_inplace", &["dy"], "activations"),
    ("tanh_inplace", &["x"], "activations"),
    ("tanh_backward_inplace", &["dy"], "activations"),
    ("sigmoid_inplace", &["x"], "activations"),
    ("sigmoid_backward_inplace", &["dy"], "activations"),
    ("euclidean_forward", &["d"], "distances"),
    ("euclidean_backward", &["demb"], "distances"),
    ("cosine_forward", &["c"], "distances"),
    ("cosine_backward", &["demb"], "distances"),
    (
        "batchnorm_forward",
        &["running_mean", "running_var", "xhat", "inv_std", "y"],
        "batchnorm",
    ),
    (
        "batchnorm_backward",
        &["dx", "dgamma", "dbeta"],
        "batchnorm",
    ),
    ("contrastive_loss", &["loss", "dv"], "losses"),
    ("bce_loss", &["loss", "dp"], "losses"),
    ("softmax_ce_loss", &["probs", "loss", "dz"], "losses"),
    ("adam_update", &["theta", "m", "v", "step"], "adam"),
];

/// Every dropped term, with the family that covers its op.
pub const DROPS: &[(Drop, &str)] = &[
    (Drop::ConvBias, "conv2d"),
    (Drop::LinearBias, "linear"),
    (Drop::BatchStatistics, "batchnorm"),
    (Drop::BnDbeta, "batchnorm"),
    (Drop::EuclideanOneOverD, "distances"),
    (Drop::SigmoidDerivative, "activations"),
    (Drop::ContrastiveReading, "losses"),
    (Drop::SoftmaxLastLogit, "losses"),
    (Drop::AdamBiasCorrection, "adam"),
];

/// The largest-magnitude value times (1 + r); r at index 0 when all are zero.
pub fn perturb(v: &mut [f32], r: f32) {
    let Some(i) = (0..v.len()).max_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs())) else {
        return;
    };
    if v[i] == 0.0 {
        v[i] = r;
    } else {
        v[i] *= 1.0 + r;
    }
}

fn perturb_idx(v: &mut [u32]) {
    match v.len() {
        0 => {}
        1 => v[0] ^= 1,
        _ => v.swap(0, 1),
    }
}

/// A backend that forwards to `inner` and applies `mutation`.
pub struct Mutant<B: Backend> {
    pub inner: Rc<B>,
    pub mutation: Mutation,
    /// The state of [`Mutation::Noise`]'s generator (splitmix64).
    noise: Cell<u64>,
}

impl<B: Backend> Mutant<B> {
    pub fn new(inner: Rc<B>, mutation: Mutation) -> Self {
        Self {
            inner,
            mutation,
            noise: Cell::new(0x5EED),
        }
    }

    /// ξ uniform in [−1, 1] (splitmix64).
    fn xi(&self) -> f32 {
        let s = self.noise.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.noise.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }

    /// The r of output `out` of `op` when that is the target.
    fn hit(&self, op: &str, out: usize) -> Option<f32> {
        match self.mutation {
            Mutation::Scale { op: o, out: k, r } if o == op && k == out => Some(r),
            _ => None,
        }
    }

    fn drops(&self, d: Drop) -> bool {
        self.mutation == Mutation::Drop(d)
    }

    /// Applies the mutation to output `out` of `op` (on the device, through the host).
    fn bump(&self, op: &str, out: usize, buf: &mut B::Buf) -> BResult<()> {
        if let Mutation::Noise { ulps, adam } = self.mutation {
            if NOISY.contains(&op) && (adam || op != "adam_update") {
                let mut host = self.inner.download(buf)?;
                let k = ulps * f32::EPSILON;
                host.iter_mut().for_each(|v| *v *= 1.0 + k * self.xi());
                self.inner.upload_into(&host, buf)?;
            }
            return Ok(());
        }
        let Some(r) = self.hit(op, out) else {
            return Ok(());
        };
        let mut host = self.inner.download(buf)?;
        perturb(&mut host, r);
        self.inner.upload_into(&host, buf)
    }

    fn bump_idx(&self, op: &str, out: usize, buf: &mut B::IdxBuf) -> BResult<()> {
        if self.hit(op, out).is_none() {
            return Ok(());
        }
        let mut host = self.inner.idx_download(buf)?;
        perturb_idx(&mut host);
        *buf = self.inner.idx_upload(&host)?;
        Ok(())
    }

    /// A buffer of `len` values `v`, for a dropped term's stand-in argument.
    fn filled(&self, len: usize, v: f32) -> BResult<B::Buf> {
        self.inner.upload(&vec![v; len])
    }
}

impl<B: Backend> Backend for Mutant<B> {
    type Buf = B::Buf;
    type IdxBuf = B::IdxBuf;

    fn device_name(&self) -> String {
        format!("{} ({:?})", self.inner.device_name(), self.mutation)
    }

    fn buf_len(&self, buf: &Self::Buf) -> usize {
        self.inner.buf_len(buf)
    }

    fn idx_len(&self, buf: &Self::IdxBuf) -> usize {
        self.inner.idx_len(buf)
    }

    fn upload(&self, host: &[f32]) -> BResult<Self::Buf> {
        let mut buf = self.inner.upload(host)?;
        self.bump("upload", 0, &mut buf)?;
        Ok(buf)
    }

    fn upload_into(&self, host: &[f32], dst: &mut Self::Buf) -> BResult<()> {
        self.inner.upload_into(host, dst)?;
        self.bump("upload_into", 0, dst)
    }

    fn idx_upload(&self, host: &[u32]) -> BResult<Self::IdxBuf> {
        let mut buf = self.inner.idx_upload(host)?;
        self.bump_idx("idx_upload", 0, &mut buf)?;
        Ok(buf)
    }

    fn download(&self, buf: &Self::Buf) -> BResult<Vec<f32>> {
        let mut host = self.inner.download(buf)?;
        if let Some(r) = self.hit("download", 0) {
            perturb(&mut host, r);
        }
        Ok(host)
    }

    fn idx_download(&self, buf: &Self::IdxBuf) -> BResult<Vec<u32>> {
        let mut host = self.inner.idx_download(buf)?;
        if self.hit("idx_download", 0).is_some() {
            perturb_idx(&mut host);
        }
        Ok(host)
    }

    fn zeros(&self, len: usize) -> BResult<Self::Buf> {
        let mut buf = self.inner.zeros(len)?;
        self.bump("zeros", 0, &mut buf)?;
        Ok(buf)
    }

    fn idx_zeros(&self, len: usize) -> BResult<Self::IdxBuf> {
        self.inner.idx_zeros(len)
    }

    fn synchronize(&self) -> BResult<()> {
        self.inner.synchronize()
    }

    fn conv2d_forward(
        &self, g: &Conv2dGeom, x: &Self::Buf, w: &Self::Buf, b: &Self::Buf, y: &mut Self::Buf,
    ) -> BResult<()> {
        let zero_b;
        let b = if self.drops(Drop::ConvBias) {
            zero_b = self.filled(g.k, 0.0)?;
            &zero_b
        } else {
            b
        };
        self.inner.conv2d_forward(g, x, w, b, y)?;
        self.bump("conv2d_forward", 0, y)
    }

    fn conv2d_backward(
        &self, g: &Conv2dGeom, x: &Self::Buf, w: &Self::Buf, dy: &Self::Buf,
        mut dx: Option<&mut Self::Buf>, dw: &mut Self::Buf, db: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner
            .conv2d_backward(g, x, w, dy, dx.as_deref_mut(), dw, db)?;
        if let Some(dx) = dx {
            self.bump("conv2d_backward", 0, dx)?;
        }
        self.bump("conv2d_backward", 1, dw)?;
        self.bump("conv2d_backward", 2, db)
    }

    fn max_pool2x2_forward(
        &self, planes: usize, h: usize, w: usize, x: &Self::Buf, y: &mut Self::Buf,
        argmax: &mut Self::IdxBuf,
    ) -> BResult<()> {
        self.inner.max_pool2x2_forward(planes, h, w, x, y, argmax)?;
        self.bump("max_pool2x2_forward", 0, y)?;
        self.bump_idx("max_pool2x2_forward", 1, argmax)
    }

    fn max_pool2x2_backward(
        &self, planes: usize, h: usize, w: usize, dy: &Self::Buf, argmax: &Self::IdxBuf,
        dx: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner
            .max_pool2x2_backward(planes, h, w, dy, argmax, dx)?;
        self.bump("max_pool2x2_backward", 0, dx)
    }

    fn avg_pool2x2_forward(
        &self, planes: usize, h: usize, w: usize, x: &Self::Buf, y: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner.avg_pool2x2_forward(planes, h, w, x, y)?;
        self.bump("avg_pool2x2_forward", 0, y)
    }

    fn avg_pool2x2_backward(
        &self, planes: usize, h: usize, w: usize, dy: &Self::Buf, dx: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner.avg_pool2x2_backward(planes, h, w, dy, dx)?;
        self.bump("avg_pool2x2_backward", 0, dx)
    }

    fn gemm(
        &self, trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32,
        a: &Self::Buf, b: &Self::Buf, beta: f32, c: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner
            .gemm(trans_a, trans_b, m, n, k, alpha, a, b, beta, c)?;
        self.bump("gemm", 0, c)
    }

    fn linear_forward(
        &self, m: usize, i: usize, o: usize, x: &Self::Buf, w: &Self::Buf, b: &Self::Buf,
        y: &mut Self::Buf,
    ) -> BResult<()> {
        let zero_b;
        let b = if self.drops(Drop::LinearBias) {
            zero_b = self.filled(o, 0.0)?;
            &zero_b
        } else {
            b
        };
        self.inner.linear_forward(m, i, o, x, w, b, y)?;
        self.bump("linear_forward", 0, y)
    }

    fn linear_backward(
        &self, m: usize, i: usize, o: usize, x: &Self::Buf, w: &Self::Buf, dy: &Self::Buf,
        mut dx: Option<&mut Self::Buf>, dw: &mut Self::Buf, db: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner
            .linear_backward(m, i, o, x, w, dy, dx.as_deref_mut(), dw, db)?;
        if let Some(dx) = dx {
            self.bump("linear_backward", 0, dx)?;
        }
        self.bump("linear_backward", 1, dw)?;
        self.bump("linear_backward", 2, db)
    }

    fn relu_inplace(&self, x: &mut Self::Buf) -> BResult<()> {
        self.inner.relu_inplace(x)?;
        self.bump("relu_inplace", 0, x)
    }

    fn relu_backward_inplace(&self, y: &Self::Buf, dy: &mut Self::Buf) -> BResult<()> {
        self.inner.relu_backward_inplace(y, dy)?;
        self.bump("relu_backward_inplace", 0, dy)
    }

    fn tanh_inplace(&self, x: &mut Self::Buf) -> BResult<()> {
        self.inner.tanh_inplace(x)?;
        self.bump("tanh_inplace", 0, x)
    }

    fn tanh_backward_inplace(&self, y: &Self::Buf, dy: &mut Self::Buf) -> BResult<()> {
        self.inner.tanh_backward_inplace(y, dy)?;
        self.bump("tanh_backward_inplace", 0, dy)
    }

    fn sigmoid_inplace(&self, x: &mut Self::Buf) -> BResult<()> {
        self.inner.sigmoid_inplace(x)?;
        self.bump("sigmoid_inplace", 0, x)
    }

    fn sigmoid_backward_inplace(&self, y: &Self::Buf, dy: &mut Self::Buf) -> BResult<()> {
        if self.drops(Drop::SigmoidDerivative) {
            self.inner.tanh_backward_inplace(y, dy)?;
        } else {
            self.inner.sigmoid_backward_inplace(y, dy)?;
        }
        self.bump("sigmoid_backward_inplace", 0, dy)
    }

    fn euclidean_forward(
        &self, n: usize, e: usize, emb: &Self::Buf, eps: f32, d: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner.euclidean_forward(n, e, emb, eps, d)?;
        self.bump("euclidean_forward", 0, d)
    }

    fn euclidean_backward(
        &self, n: usize, e: usize, emb: &Self::Buf, d: &Self::Buf, dd: &Self::Buf, eps: f32,
        demb: &mut Self::Buf,
    ) -> BResult<()> {
        let ones;
        let d = if self.drops(Drop::EuclideanOneOverD) {
            ones = self.filled(n, 1.0)?;
            &ones
        } else {
            d
        };
        self.inner.euclidean_backward(n, e, emb, d, dd, eps, demb)?;
        self.bump("euclidean_backward", 0, demb)
    }

    fn cosine_forward(
        &self, n: usize, e: usize, emb: &Self::Buf, eps: f32, c: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner.cosine_forward(n, e, emb, eps, c)?;
        self.bump("cosine_forward", 0, c)
    }

    fn cosine_backward(
        &self, n: usize, e: usize, emb: &Self::Buf, dc: &Self::Buf, eps: f32, demb: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner.cosine_backward(n, e, emb, dc, eps, demb)?;
        self.bump("cosine_backward", 0, demb)
    }

    fn batchnorm_forward(
        &self, n: usize, c: usize, x: &Self::Buf, gamma: &Self::Buf, beta: &Self::Buf, eps: f32,
        mode: BnMode, running_mean: &mut Self::Buf, running_var: &mut Self::Buf,
        xhat: &mut Self::Buf, inv_std: &mut Self::Buf, y: &mut Self::Buf,
    ) -> BResult<()> {
        let mode = match mode {
            BnMode::Train { .. } if self.drops(Drop::BatchStatistics) => BnMode::Eval,
            m => m,
        };
        let (rm, rv, (g, b)) = (running_mean, running_var, (gamma, beta));
        let inner = &self.inner;
        inner.batchnorm_forward(n, c, x, g, b, eps, mode, rm, rv, xhat, inv_std, y)?;
        let op = "batchnorm_forward";
        self.bump(op, 0, rm)?;
        self.bump(op, 1, rv)?;
        self.bump(op, 2, xhat)?;
        self.bump(op, 3, inv_std)?;
        self.bump(op, 4, y)
    }

    fn batchnorm_backward(
        &self, n: usize, c: usize, dy: &Self::Buf, xhat: &Self::Buf, inv_std: &Self::Buf,
        gamma: &Self::Buf, dx: &mut Self::Buf, dgamma: &mut Self::Buf, dbeta: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner
            .batchnorm_backward(n, c, dy, xhat, inv_std, gamma, dx, dgamma, dbeta)?;
        if self.drops(Drop::BnDbeta) {
            *dbeta = self.filled(c, 0.0)?;
        }
        let op = "batchnorm_backward";
        self.bump(op, 0, dx)?;
        self.bump(op, 1, dgamma)?;
        self.bump(op, 2, dbeta)
    }

    fn contrastive_loss(
        &self, n: usize, v: &Self::Buf, y: &Self::Buf, margin: f32, reads: ContrastiveReads,
        loss: &mut Self::Buf, dv: &mut Self::Buf,
    ) -> BResult<()> {
        let reads = match reads {
            _ if !self.drops(Drop::ContrastiveReading) => reads,
            ContrastiveReads::Similarity => ContrastiveReads::Distance,
            ContrastiveReads::Distance => ContrastiveReads::Similarity,
        };
        self.inner
            .contrastive_loss(n, v, y, margin, reads, loss, dv)?;
        self.bump("contrastive_loss", 0, loss)?;
        self.bump("contrastive_loss", 1, dv)
    }

    fn bce_loss(
        &self, n: usize, p: &Self::Buf, y: &Self::Buf, eps: f32, loss: &mut Self::Buf,
        dp: &mut Self::Buf,
    ) -> BResult<()> {
        self.inner.bce_loss(n, p, y, eps, loss, dp)?;
        self.bump("bce_loss", 0, loss)?;
        self.bump("bce_loss", 1, dp)
    }

    fn softmax_ce_loss(
        &self, n: usize, k: usize, z: &Self::Buf, labels: &Self::IdxBuf, probs: &mut Self::Buf,
        loss: &mut Self::Buf, dz: &mut Self::Buf,
    ) -> BResult<()> {
        let shifted;
        let z = if self.drops(Drop::SoftmaxLastLogit) {
            let mut host = self.inner.download(z)?;
            host.chunks_mut(k.max(1))
                .for_each(|row| row[row.len() - 1] = 0.0);
            shifted = self.inner.upload(&host)?;
            &shifted
        } else {
            z
        };
        self.inner
            .softmax_ce_loss(n, k, z, labels, probs, loss, dz)?;
        let op = "softmax_ce_loss";
        self.bump(op, 0, probs)?;
        self.bump(op, 1, loss)?;
        self.bump(op, 2, dz)
    }

    fn adam_update(
        &self, h: &AdamHyper, theta: &mut Self::Buf, grad: &Self::Buf, m: &mut Self::Buf,
        v: &mut Self::Buf,
    ) -> BResult<()> {
        let uncorrected = AdamHyper {
            bc1: 1.0,
            bc2: 1.0,
            ..*h
        };
        // Output 3, "step": the whole update α·m̂/(√v̂ + ε) off by r (α read as α·(1 + r)).
        let scaled = AdamHyper {
            lr: h.lr * (1.0 + self.hit("adam_update", 3).unwrap_or(0.0)),
            ..*h
        };
        let h = if self.drops(Drop::AdamBiasCorrection) {
            &uncorrected
        } else {
            &scaled
        };
        self.inner.adam_update(h, theta, grad, m, v)?;
        self.bump("adam_update", 0, theta)?;
        self.bump("adam_update", 1, m)?;
        self.bump("adam_update", 2, v)
    }
}
