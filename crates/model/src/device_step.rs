//! The SN-LeNet-5 training step and scoring forward, written once over the kernel interface
//! [`Backend`] of siamese-tensor, with an explicit backward pass (no tape): the same network
//! runs on [`siamese_tensor::CpuBackend`] (where a test holds it to the tape path) and on a
//! GPU (`siamese-cuda`).
//!
//! Parameters, their gradients and Adam's moments are backend buffers, one per tensor of the
//! model's [`ParamStore`] and in its order; the output module's running statistics too. One
//! [`DeviceModel::train_step`] uploads the stacked batch [A; B] and the labels, then runs
//! entirely on the device:
//!
//! ```text
//! x (2N×C×H×W) → conv1 → relu → pool → conv2 → relu → pool → fc1 → relu → fc2 → relu
//!   → fc3 → tanh = e (2N×E) → d_n = √max(‖e_An − e_Bn‖², ε) → s = σ(w·BN(d) + b)
//!   → L = mean(y·max(1 − s, 0)² + (1 − y)·s²)
//! backward: ds → (dd, head grads) → de → fc3/fc2/fc1 (dW = dYᵀX, db = Σ dY, dX = dY·W)
//!   → pool/relu → conv2 (dw, db, dx) → pool/relu → conv1 (dw, db) → Adam on every tensor
//! ```
//! and brings back only the loss (1 value) and the N similarities (for the accuracy metric).
//!
//! The step covers the paper's configuration only (ReLU, max-pooling, tanh embedding,
//! Euclidean distance, `contrastive-sigmoid` loss; any input size and augmentation, which
//! happens on the host). [`check_supported`] names it in its error for anything else.
//! [`DeviceModel::from_model`] and [`DeviceModel::write_to`] convert from and to the model's
//! [`ParamStore`], so a device run writes ordinary checkpoints.

use siamese_optim::{AdamConfig, AdamState};
use siamese_tensor::backend::{AdamHyper, Backend, BnMode, ContrastiveReads, Conv2dGeom};
use siamese_tensor::Tensor;

use crate::config::{Activation, Distance, EmbeddingActivation, LossKind, ModelConfig, Pooling};
use crate::error::{ModelError, Result};
use crate::eval::PairScorer;
use crate::siamese::{SnLenet5, DISTANCE_EPS, MARGIN};

/// The configuration the device step implements, for error messages.
pub const SUPPORTED: &str = "--act relu --pool max --embedding tanh --distance euclidean --loss contrastive-sigmoid (the paper's defaults)";

/// Errors unless `model` and `loss` are the configuration the device step implements.
pub fn check_supported(model: &ModelConfig, loss: LossKind) -> Result<()> {
    let mut bad = Vec::new();
    if model.activation != Activation::Relu {
        bad.push(format!("--act {}", model.activation));
    }
    if model.pooling != Pooling::Max {
        bad.push(format!("--pool {}", model.pooling));
    }
    if model.embedding_activation != EmbeddingActivation::Tanh {
        bad.push(format!("--embedding {}", model.embedding_activation));
    }
    if model.distance != Distance::Euclidean {
        bad.push(format!("--distance {}", model.distance));
    }
    if loss != LossKind::ContrastiveSigmoid {
        bad.push(format!("--loss {loss}"));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ModelError::Config(format!(
            "the device step does not implement {}; it supports {SUPPORTED}",
            bad.join(" ")
        )))
    }
}

/// Where each layer's tensors sit in the parameter list (the [`ParamStore`] order).
#[derive(Clone, Copy, Debug)]
struct Slots {
    conv1: (usize, usize),
    conv2: (usize, usize),
    fc1: (usize, usize),
    fc2: (usize, usize),
    fc3: (usize, usize),
    /// γ, β, w, b of the output module.
    head: [usize; 4],
}

/// The sizes of the network for one input geometry.
#[derive(Clone, Copy, Debug)]
struct Dims {
    c: usize,
    h: usize,
    w: usize,
    pad1: usize,
    /// conv1 output side, conv2 output side.
    h1: usize,
    w1: usize,
    h2: usize,
    w2: usize,
    /// Flattened features after the second pooling: 16·(h2/2)·(w2/2).
    flat: usize,
    e: usize,
}

impl Dims {
    fn new(cfg: &ModelConfig) -> Result<Self> {
        let d = cfg.dims()?;
        let (h1, w1) = d.conv1.conv_side;
        Ok(Self {
            c: cfg.channels,
            h: cfg.height,
            w: cfg.width,
            pad1: cfg.pad1,
            h1,
            w1,
            h2: h1 / 2 - 4,
            w2: w1 / 2 - 4,
            flat: d.flat,
            e: cfg.embedding,
        })
    }

    fn conv1(&self, m: usize) -> Conv2dGeom {
        Conv2dGeom {
            n: m,
            c: self.c,
            h: self.h,
            w: self.w,
            k: 6,
            kh: 5,
            kw: 5,
            stride: 1,
            pad: self.pad1,
        }
    }

    fn conv2(&self, m: usize) -> Conv2dGeom {
        Conv2dGeom {
            n: m,
            c: 6,
            h: self.h1 / 2,
            w: self.w1 / 2,
            k: 16,
            kh: 5,
            kw: 5,
            stride: 1,
            pad: 0,
        }
    }
}

/// Activations and their gradients for one batch of M = 2N images, allocated once per
/// batch size and reused.
struct Workspace<B: Backend> {
    n: usize,
    x: B::Buf,
    a1: B::Buf,
    p1: B::Buf,
    arg1: B::IdxBuf,
    a2: B::Buf,
    p2: B::Buf,
    arg2: B::IdxBuf,
    f1: B::Buf,
    f2: B::Buf,
    emb: B::Buf,
    d: B::Buf,
    /// The output module's BatchNorm cache (x̂, 1/√(σ²+ε)) and output h = γ·x̂ + β.
    xhat: B::Buf,
    inv_std: B::Buf,
    h: B::Buf,
    s: B::Buf,
    y: B::Buf,
    loss: B::Buf,
    ds: B::Buf,
    dh: B::Buf,
    dd: B::Buf,
    demb: B::Buf,
    df2: B::Buf,
    df1: B::Buf,
    dp2: B::Buf,
    da2: B::Buf,
    dp1: B::Buf,
    da1: B::Buf,
}

impl<B: Backend> Workspace<B> {
    fn new(be: &B, dm: &Dims, n: usize) -> Result<Self> {
        let m = 2 * n;
        let (a1, p1) = (m * 6 * dm.h1 * dm.w1, m * 6 * (dm.h1 / 2) * (dm.w1 / 2));
        let (a2, p2) = (m * 16 * dm.h2 * dm.w2, m * dm.flat);
        Ok(Self {
            n,
            x: be.zeros(m * dm.c * dm.h * dm.w)?,
            a1: be.zeros(a1)?,
            p1: be.zeros(p1)?,
            arg1: be.idx_zeros(p1)?,
            a2: be.zeros(a2)?,
            p2: be.zeros(p2)?,
            arg2: be.idx_zeros(p2)?,
            f1: be.zeros(m * 120)?,
            f2: be.zeros(m * 84)?,
            emb: be.zeros(m * dm.e)?,
            d: be.zeros(n)?,
            xhat: be.zeros(n)?,
            inv_std: be.zeros(1)?,
            h: be.zeros(n)?,
            s: be.zeros(n)?,
            y: be.zeros(n)?,
            loss: be.zeros(1)?,
            ds: be.zeros(n)?,
            dh: be.zeros(n)?,
            dd: be.zeros(n)?,
            demb: be.zeros(m * dm.e)?,
            df2: be.zeros(m * 84)?,
            df1: be.zeros(m * 120)?,
            dp2: be.zeros(p2)?,
            da2: be.zeros(a2)?,
            dp1: be.zeros(p1)?,
            da1: be.zeros(a1)?,
        })
    }
}

/// SN-LeNet-5 living on a [`Backend`]: parameters, gradients, Adam moments and the output
/// module's running statistics as device buffers, plus a reusable activation workspace.
pub struct DeviceModel<B: Backend> {
    backend: B,
    dims: Dims,
    slots: Slots,
    params: Vec<B::Buf>,
    grads: Vec<B::Buf>,
    m: Vec<B::Buf>,
    v: Vec<B::Buf>,
    running_mean: B::Buf,
    running_var: B::Buf,
    bn_eps: f32,
    bn_momentum: f32,
    adam: AdamConfig,
    adam_step: u64,
    ws: Option<Workspace<B>>,
}

impl<B: Backend> DeviceModel<B> {
    /// Uploads `model`'s parameters and running statistics (and Adam's moments from `adam`,
    /// when it holds any) to `backend`. Errors for a configuration other than the paper's
    /// (see [`check_supported`]; the loss is checked by the trainer).
    pub fn from_model(
        backend: B,
        model: &SnLenet5,
        adam: AdamConfig,
        state: Option<&AdamState>,
    ) -> Result<Self> {
        check_supported(&model.config, LossKind::ContrastiveSigmoid)?;
        let sn = &model.subnet;
        for (name, l) in [("conv1", &sn.conv1), ("conv2", &sn.conv2)] {
            if l.spec.stride != 1 || l.spec.kernel != 5 {
                return Err(ModelError::Config(format!(
                    "the device step expects 5×5 stride-1 convolutions, {name} is {:?}",
                    l.spec
                )));
            }
        }
        let dims = Dims::new(&model.config)?;
        let st = &model.store;
        let idx = |id: siamese_autodiff::ParamId| id.index();
        let slots = Slots {
            conv1: (idx(sn.conv1.weight), idx(sn.conv1.bias)),
            conv2: (idx(sn.conv2.weight), idx(sn.conv2.bias)),
            fc1: (idx(sn.fc1.weight), idx(sn.fc1.bias)),
            fc2: (idx(sn.fc2.weight), idx(sn.fc2.bias)),
            fc3: (idx(sn.fc3.weight), idx(sn.fc3.bias)),
            head: [
                idx(model.head.bn.gamma),
                idx(model.head.bn.beta),
                idx(model.head.fc.weight),
                idx(model.head.fc.bias),
            ],
        };
        let be = &backend;
        let mut params = Vec::with_capacity(st.len());
        let mut grads = Vec::with_capacity(st.len());
        let mut m = Vec::with_capacity(st.len());
        let mut v = Vec::with_capacity(st.len());
        let moments = state.filter(|s| s.step > 0);
        if let Some(s) = moments {
            if s.m.len() != st.len() || s.v.len() != st.len() {
                return Err(ModelError::Config(format!(
                    "optimiser state has {} moments for {} parameters",
                    s.m.len(),
                    st.len()
                )));
            }
        }
        for (i, (name, p)) in st.params().enumerate() {
            params.push(be.upload(p.data())?);
            grads.push(be.zeros(p.len())?);
            match moments {
                Some(s) => {
                    if s.m[i].len() != p.len() || s.v[i].len() != p.len() {
                        return Err(ModelError::Config(format!(
                            "optimiser moments of `{name}` do not match its shape {:?}",
                            p.shape()
                        )));
                    }
                    m.push(be.upload(s.m[i].data())?);
                    v.push(be.upload(s.v[i].data())?);
                }
                None => {
                    m.push(be.zeros(p.len())?);
                    v.push(be.zeros(p.len())?);
                }
            }
        }
        let bn = &model.head.bn;
        let running_mean = be.upload(st.buffer(bn.running_mean).data())?;
        let running_var = be.upload(st.buffer(bn.running_var).data())?;
        Ok(Self {
            dims,
            slots,
            params,
            grads,
            m,
            v,
            running_mean,
            running_var,
            bn_eps: bn.eps,
            bn_momentum: bn.momentum,
            adam,
            adam_step: moments.map_or(0, |s| s.step),
            ws: None,
            backend,
        })
    }

    /// The backend the model lives on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Adam steps taken so far (t of the bias correction).
    pub fn adam_step(&self) -> u64 {
        self.adam_step
    }

    /// Downloads the parameters and running statistics into `model.store` (same names, same
    /// shapes), e.g. before writing a checkpoint.
    pub fn write_to(&self, model: &mut SnLenet5) -> Result<()> {
        let ids: Vec<_> = model.store.ids().collect();
        for (id, buf) in ids.into_iter().zip(&self.params) {
            let host = self.backend.download(buf)?;
            model.store.value_mut(id).data_mut().copy_from_slice(&host);
        }
        let bn = &model.head.bn;
        let (rm, rv) = (bn.running_mean, bn.running_var);
        let mean = self.backend.download(&self.running_mean)?;
        let var = self.backend.download(&self.running_var)?;
        model.store.buffer_mut(rm).data_mut().copy_from_slice(&mean);
        model.store.buffer_mut(rv).data_mut().copy_from_slice(&var);
        Ok(())
    }

    /// Uploads `model`'s parameters and running statistics again (the moments stay), e.g.
    /// after loading the best epoch's weights for the final test.
    pub fn read_from(&mut self, model: &SnLenet5) -> Result<()> {
        for ((_, p), buf) in model.store.params().zip(self.params.iter_mut()) {
            self.backend.upload_into(p.data(), buf)?;
        }
        let bn = &model.head.bn;
        let st = &model.store;
        self.backend
            .upload_into(st.buffer(bn.running_mean).data(), &mut self.running_mean)?;
        self.backend
            .upload_into(st.buffer(bn.running_var).data(), &mut self.running_var)?;
        Ok(())
    }

    /// Adam's state (step and moments, downloaded) in the layout of `siamese_optim::Adam`,
    /// for resumable checkpoints.
    pub fn adam_state(&self, model: &SnLenet5) -> Result<AdamState> {
        if self.adam_step == 0 {
            return Ok(AdamState::default());
        }
        let mut st = AdamState {
            step: self.adam_step,
            m: Vec::new(),
            v: Vec::new(),
        };
        for ((_, p), (m, v)) in model.store.params().zip(self.m.iter().zip(&self.v)) {
            st.m.push(Tensor::from_vec(p.shape(), self.backend.download(m)?)?);
            st.v.push(Tensor::from_vec(p.shape(), self.backend.download(v)?)?);
        }
        Ok(st)
    }

    /// The parameter gradients of the last [`DeviceModel::train_step`], downloaded, in
    /// [`ParamStore`] order (for tests).
    ///
    /// [`ParamStore`]: siamese_autodiff::ParamStore
    pub fn grads(&self) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .grads
            .iter()
            .map(|g| self.backend.download(g))
            .collect::<std::result::Result<_, _>>()?)
    }

    fn workspace(&mut self, n: usize) -> Result<Workspace<B>> {
        match self.ws.take() {
            Some(ws) if ws.n == n => Ok(ws),
            _ => {
                // Drop the old buffers before allocating the new ones.
                self.ws = None;
                Workspace::new(&self.backend, &self.dims, n)
            }
        }
    }

    fn check_images(&self, stacked: &Tensor) -> Result<usize> {
        let dm = &self.dims;
        let [m, c, h, w] = stacked.nchw();
        if stacked.rank() != 4 || c != dm.c || h != dm.h || w != dm.w || m == 0 || m % 2 != 0 {
            return Err(ModelError::Config(format!(
                "stacked pair batch must be 2N×{}×{}×{}, got {:?}",
                dm.c,
                dm.h,
                dm.w,
                stacked.shape()
            )));
        }
        Ok(m / 2)
    }

    /// Forward of the stacked batch already in `ws.x` up to the similarities `ws.s`.
    fn forward(&mut self, ws: &mut Workspace<B>, mode: BnMode) -> Result<()> {
        let (be, dm, sl, p) = (&self.backend, self.dims, self.slots, &self.params);
        let (n, m) = (ws.n, 2 * ws.n);
        let (g1, g2) = (dm.conv1(m), dm.conv2(m));
        be.conv2d_forward(&g1, &ws.x, &p[sl.conv1.0], &p[sl.conv1.1], &mut ws.a1)?;
        be.relu_inplace(&mut ws.a1)?;
        be.max_pool2x2_forward(m * 6, dm.h1, dm.w1, &ws.a1, &mut ws.p1, &mut ws.arg1)?;
        be.conv2d_forward(&g2, &ws.p1, &p[sl.conv2.0], &p[sl.conv2.1], &mut ws.a2)?;
        be.relu_inplace(&mut ws.a2)?;
        be.max_pool2x2_forward(m * 16, dm.h2, dm.w2, &ws.a2, &mut ws.p2, &mut ws.arg2)?;
        // Dense layers y = x·Wᵀ + b (W stored out×in, as PyTorch).
        let dense = |x: &B::Buf, (w, b): (usize, usize), i: usize, o: usize, y: &mut B::Buf| {
            let rows = be.buf_len(y) / o;
            be.linear_forward(rows, i, o, x, &p[w], &p[b], y)
        };
        dense(&ws.p2, sl.fc1, dm.flat, 120, &mut ws.f1)?;
        be.relu_inplace(&mut ws.f1)?;
        dense(&ws.f1, sl.fc2, 120, 84, &mut ws.f2)?;
        be.relu_inplace(&mut ws.f2)?;
        dense(&ws.f2, sl.fc3, 84, dm.e, &mut ws.emb)?;
        be.tanh_inplace(&mut ws.emb)?;
        // Comparison module, then the output module s = σ(w·BN(d) + b), as the tape composes it.
        be.euclidean_forward(n, dm.e, &ws.emb, DISTANCE_EPS, &mut ws.d)?;
        let [hg, hb, hw, hbias] = sl.head;
        be.batchnorm_forward(
            n,
            1,
            &ws.d,
            &p[hg],
            &p[hb],
            self.bn_eps,
            mode,
            &mut self.running_mean,
            &mut self.running_var,
            &mut ws.xhat,
            &mut ws.inv_std,
            &mut ws.h,
        )?;
        dense(&ws.h, (hw, hbias), 1, 1, &mut ws.s)?;
        be.sigmoid_inplace(&mut ws.s)?;
        Ok(())
    }

    /// Backward from the loss already computed in `ws` (ds) to every parameter gradient.
    fn backward(&mut self, ws: &mut Workspace<B>) -> Result<()> {
        let (be, dm, sl, p) = (&self.backend, self.dims, self.slots, &self.params);
        let (n, m) = (ws.n, 2 * ws.n);
        let [hg, hb, hw, hbias] = sl.head;
        let g = &mut self.grads;
        // Output module backward: σ, then the 1→1 dense layer, then the BatchNorm.
        be.sigmoid_backward_inplace(&ws.s, &mut ws.ds)?;
        let (gw, gb) = split2(g, (hw, hbias))?;
        be.linear_backward(n, 1, 1, &ws.h, &p[hw], &ws.ds, Some(&mut ws.dh), gw, gb)?;
        let (ggamma, gbeta) = split2(g, (hg, hb))?;
        be.batchnorm_backward(
            n,
            1,
            &ws.dh,
            &ws.xhat,
            &ws.inv_std,
            &p[hg],
            &mut ws.dd,
            ggamma,
            gbeta,
        )?;
        be.euclidean_backward(n, dm.e, &ws.emb, &ws.d, &ws.dd, DISTANCE_EPS, &mut ws.demb)?;
        be.tanh_backward_inplace(&ws.emb, &mut ws.demb)?;
        let mut dense_back = |dy: &B::Buf,
                              x: &B::Buf,
                              (w, b): (usize, usize),
                              i: usize,
                              o: usize,
                              dx: &mut B::Buf|
         -> Result<()> {
            let (gw, gb) = split2(g, (w, b))?;
            Ok(be.linear_backward(m, i, o, x, &p[w], dy, Some(dx), gw, gb)?)
        };
        dense_back(&ws.demb, &ws.f2, sl.fc3, 84, dm.e, &mut ws.df2)?;
        be.relu_backward_inplace(&ws.f2, &mut ws.df2)?;
        dense_back(&ws.df2, &ws.f1, sl.fc2, 120, 84, &mut ws.df1)?;
        be.relu_backward_inplace(&ws.f1, &mut ws.df1)?;
        dense_back(&ws.df1, &ws.p2, sl.fc1, dm.flat, 120, &mut ws.dp2)?;
        be.max_pool2x2_backward(m * 16, dm.h2, dm.w2, &ws.dp2, &ws.arg2, &mut ws.da2)?;
        be.relu_backward_inplace(&ws.a2, &mut ws.da2)?;
        let (w2, b2) = split2(g, sl.conv2)?;
        be.conv2d_backward(
            &dm.conv2(m),
            &ws.p1,
            &p[sl.conv2.0],
            &ws.da2,
            Some(&mut ws.dp1),
            w2,
            b2,
        )?;
        be.max_pool2x2_backward(m * 6, dm.h1, dm.w1, &ws.dp1, &ws.arg1, &mut ws.da1)?;
        be.relu_backward_inplace(&ws.a1, &mut ws.da1)?;
        // The images need no gradient: conv1 computes dw and db only.
        let (w1, b1) = split2(g, sl.conv1)?;
        be.conv2d_backward(&dm.conv1(m), &ws.x, &p[sl.conv1.0], &ws.da1, None, w1, b1)?;
        Ok(())
    }

    /// One training step on N pairs: `stacked` = [A; B] (2N×C×H×W), labels y (N values,
    /// 1 = same class), learning rate `lr`. Forward, loss, backward and Adam run on the
    /// device; returns the loss and the N similarities (training-mode BatchNorm, as the tape
    /// trainer reports them).
    pub fn train_step(&mut self, stacked: &Tensor, y: &[f32], lr: f32) -> Result<(f32, Vec<f32>)> {
        let n = self.check_images(stacked)?;
        if y.len() != n {
            return Err(ModelError::Config(format!(
                "{} labels for {n} pairs",
                y.len()
            )));
        }
        if let Some(bad) = y.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(ModelError::Config(format!("label {bad} is outside [0, 1]")));
        }
        let mut ws = self.workspace(n)?;
        let result = self.train_step_in(&mut ws, stacked, y, lr);
        self.ws = Some(ws);
        result
    }

    fn train_step_in(
        &mut self,
        ws: &mut Workspace<B>,
        stacked: &Tensor,
        y: &[f32],
        lr: f32,
    ) -> Result<(f32, Vec<f32>)> {
        self.backend.upload_into(stacked.data(), &mut ws.x)?;
        self.backend.upload_into(y, &mut ws.y)?;
        self.forward(
            ws,
            BnMode::Train {
                momentum: self.bn_momentum,
            },
        )?;
        self.backend.contrastive_loss(
            ws.n,
            &ws.s,
            &ws.y,
            MARGIN,
            ContrastiveReads::Similarity,
            &mut ws.loss,
            &mut ws.ds,
        )?;
        self.backward(ws)?;
        self.adam_update(lr)?;
        let loss = self.backend.download(&ws.loss)?[0];
        let s = self.backend.download(&ws.s)?;
        Ok((loss, s))
    }

    /// Adam (Table 2, a–f) over every parameter tensor, on the device.
    fn adam_update(&mut self, lr: f32) -> Result<()> {
        let AdamConfig {
            beta1, beta2, eps, ..
        } = self.adam;
        self.adam_step += 1;
        let h = AdamHyper::at_step(lr, beta1, beta2, eps, self.adam_step);
        let it = self
            .params
            .iter_mut()
            .zip(&self.grads)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()));
        for ((theta, g), (m, v)) in it {
            self.backend.adam_update(&h, theta, g, m, v)?;
        }
        Ok(())
    }

    /// Similarities of N pairs (A, B: N×C×H×W) in evaluation mode (running statistics), in
    /// chunks of `batch` pairs; only the similarities come back.
    pub fn score(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>> {
        if a.shape() != b.shape() || a.rank() != 4 {
            return Err(ModelError::Config(format!(
                "pair images must both be N×C×H×W of one shape, got {:?} and {:?}",
                a.shape(),
                b.shape()
            )));
        }
        let n = a.shape()[0];
        let per = a.len() / n.max(1);
        let mut out = Vec::with_capacity(n);
        let mut start = 0;
        let mut host = Vec::new();
        while start < n {
            let m = batch.max(1).min(n - start);
            let mut ws = self.workspace(m)?;
            host.clear();
            host.extend_from_slice(&a.data()[start * per..][..m * per]);
            host.extend_from_slice(&b.data()[start * per..][..m * per]);
            let run = (|| -> Result<Vec<f32>> {
                self.backend.upload_into(&host, &mut ws.x)?;
                self.forward(&mut ws, BnMode::Eval)?;
                Ok(self.backend.download(&ws.s)?)
            })();
            self.ws = Some(ws);
            out.extend(run?);
            start += m;
        }
        Ok(out)
    }
}

impl<B: Backend> PairScorer for DeviceModel<B> {
    fn similarities(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>> {
        self.score(a, b, batch)
    }
}

/// Two distinct mutable slots (weight, bias) of a gradient list.
fn split2<T>(v: &mut [T], (i, j): (usize, usize)) -> Result<(&mut T, &mut T)> {
    if i == j || i >= v.len() || j >= v.len() {
        return Err(ModelError::Config(format!(
            "parameter slots {i} and {j} are not two distinct tensors"
        )));
    }
    if i < j {
        let (lo, hi) = v.split_at_mut(j);
        Ok((&mut lo[i], &mut hi[0]))
    } else {
        let (lo, hi) = v.split_at_mut(i);
        Ok((&mut hi[0], &mut lo[j]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siamese::stack_pairs;
    use crate::siamese::tests::images;
    use siamese_autodiff::Tape;
    use siamese_optim::{Adam, Optimizer};
    use siamese_tensor::CpuBackend;

    fn close(what: &str, got: &[f32], want: &[f32], rtol: f32) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= rtol * scale + 1e-7,
                "{what}[{i}]: device step {g} vs tape {w} (scale {scale})"
            );
        }
    }

    /// The tape path: loss, similarities and every gradient of one step.
    fn tape_step(
        model: &mut SnLenet5,
        stacked: &Tensor,
        y: &Tensor,
    ) -> (f32, Vec<f32>, Vec<Vec<f32>>) {
        model.store.zero_grads();
        let mut tape = Tape::new();
        let out = model.forward(&mut tape, stacked.clone()).unwrap();
        let loss = model
            .loss(&mut tape, out, y, LossKind::ContrastiveSigmoid)
            .unwrap();
        let l = tape.scalar(loss).unwrap();
        let s = tape.value(out.similarity).unwrap().data().to_vec();
        tape.backward(loss, &mut model.store).unwrap();
        let st = &model.store;
        (
            l,
            s,
            st.ids().map(|id| st.grad(id).data().to_vec()).collect(),
        )
    }

    /// On the CPU backend the explicit backward gives the tape's loss, similarities, every
    /// parameter gradient and the BatchNorm running statistics (MNIST and CIFAR geometry),
    /// and five Adam steps give the CPU trainer's parameters.
    #[test]
    fn device_step_on_cpu_matches_the_tape() {
        for (c, side, pairs) in [(1usize, 28usize, 7usize), (3, 32, 4)] {
            let cfg = ModelConfig::for_input(c, side, side);
            let mut tape_model = SnLenet5::new(cfg.clone(), 11).unwrap();
            let adam_cfg = AdamConfig::default();
            let mut dev = DeviceModel::from_model(CpuBackend, &tape_model, adam_cfg, None).unwrap();
            let mut adam = Adam::new(adam_cfg).unwrap();
            for step in 0..5u64 {
                let a = images(pairs, c, side, 10 + step);
                let b = images(pairs, c, side, 20 + step);
                let stacked = stack_pairs(&a, &b).unwrap();
                let yv: Vec<f32> = (0..pairs)
                    .map(|i| ((i + step as usize) % 2) as f32)
                    .collect();
                let y = Tensor::from_vec(&[pairs], yv.clone()).unwrap();
                let lr = 1e-3 * (1.0 + step as f32);
                // Gradients from the same weights: the device model takes the tape model's
                // parameters and running statistics before each step (the moments stay its
                // own, so Adam is compared over the whole run below).
                dev.read_from(&tape_model).unwrap();
                let (l_tape, s_tape, g_tape) = tape_step(&mut tape_model, &stacked, &y);
                adam.set_lr(lr);
                adam.step(&mut tape_model.store).unwrap();
                let (l_dev, s_dev) = dev.train_step(&stacked, &yv, lr).unwrap();
                close("loss", &[l_dev], &[l_tape], 1e-5);
                close("similarity", &s_dev, &s_tape, 1e-5);
                let g_dev = dev.grads().unwrap();
                let names: Vec<String> = tape_model
                    .store
                    .params()
                    .map(|(n, _)| n.to_string())
                    .collect();
                for ((name, gd), gt) in names.iter().zip(&g_dev).zip(&g_tape) {
                    // The head's four gradients are single sums over the batch of terms of
                    // both signs (Σ dh, Σ dh·x̂, …): cancellation leaves them 1e-4-relative.
                    let rtol = if name.starts_with("head.") {
                        1e-4
                    } else {
                        1e-5
                    };
                    close(&format!("step {step} grad {name}"), gd, gt, rtol);
                    assert!(gt.iter().any(|&v| v != 0.0), "{name} gets a gradient");
                }
                // Parameters (and running statistics) after Adam.
                let mut mirror = SnLenet5::new(cfg.clone(), 11).unwrap();
                dev.write_to(&mut mirror).unwrap();
                for ((name, want), (_, got)) in tape_model
                    .store
                    .named_tensors()
                    .zip(mirror.store.named_tensors())
                {
                    close(
                        &format!("step {step} value {name}"),
                        got.data(),
                        want.data(),
                        1e-5,
                    );
                }
            }
            assert_eq!(dev.adam_step(), 5);
            let st = dev.adam_state(&tape_model).unwrap();
            for (i, (m, v)) in adam.state().m.iter().zip(&adam.state().v).enumerate() {
                close("adam m", st.m[i].data(), m.data(), 1e-4);
                close("adam v", st.v[i].data(), v.data(), 1e-4);
            }
        }
    }

    /// Scoring on the device equals the model's tape-free scoring (eval-mode BatchNorm),
    /// in uneven chunks.
    #[test]
    fn device_score_matches_model_score() {
        let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 3).unwrap();
        let rm = model.head.bn.running_mean;
        model.store.buffer_mut(rm).data_mut()[0] = 0.4;
        let (a, b) = (images(23, 1, 28, 1), images(23, 1, 28, 2));
        let want = model.score(&a, &b, 10).unwrap();
        let mut dev =
            DeviceModel::from_model(CpuBackend, &model, AdamConfig::default(), None).unwrap();
        let got = dev.score(&a, &b, 6).unwrap();
        close("score", &got, &want, 1e-5);
        assert!(
            want.iter().any(|&w| (w - want[0]).abs() > 1e-6),
            "scores vary"
        );
    }

    /// Other configurations get an error naming the supported one.
    #[test]
    fn unsupported_configurations_are_named() {
        let mut cfg = ModelConfig::for_input(1, 28, 28);
        cfg.pooling = Pooling::Avg;
        let e = check_supported(&cfg, LossKind::Bce)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--pool avg") && e.contains("--loss bce"), "{e}");
        assert!(e.contains(SUPPORTED), "{e}");
        let model = SnLenet5::new(cfg, 0).unwrap();
        assert!(DeviceModel::from_model(CpuBackend, &model, AdamConfig::default(), None).is_err());
        assert!(check_supported(
            &ModelConfig::for_input(3, 32, 32),
            LossKind::ContrastiveSigmoid
        )
        .is_ok());
    }
}
