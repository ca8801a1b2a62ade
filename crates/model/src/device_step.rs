//! The SN-LeNet-5 training step and scoring forward, written once over the kernel interface
//! [`Backend`] of siamese-tensor, with an explicit backward pass (no tape): the same network
//! runs on [`siamese_tensor::CpuBackend`] (where a test holds it to the tape path) and on a
//! GPU (`siamese-cuda`).
//!
//! Parameters, their gradients and Adam's moments are backend buffers, one per tensor of the
//! model's [`ParamStore`](siamese_autodiff::ParamStore) and in its order; the output module's running statistics too. One
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
//! `ParamStore`, so a device run writes ordinary checkpoints. Every size (the convolutions'
//! geometry, the pooled planes, the dense layers' widths, the workspace's buffers) comes from
//! the model's [`LenetDims`], the one place LeNet-5's sizes are computed.

mod setup;
mod workspace;

use siamese_optim::{AdamConfig, AdamState};
use siamese_tensor::backend::{AdamHyper, Backend, BnMode, ContrastiveReads};
use siamese_tensor::Tensor;

use crate::config::{ConvBlockDims, LenetDims, LossKind};
use crate::error::{ModelError, Result};
use crate::score::PairScorer;
use crate::siamese::{check_pair_images, pairs_in_stack, SnLenet5, DISTANCE_EPS, MARGIN};
use setup::{check_convolutions, upload_params, Slots, Uploaded};
pub use setup::{check_supported, SUPPORTED};
use workspace::Workspace;

/// SN-LeNet-5 living on a [`Backend`]: parameters, gradients, Adam moments and the output
/// module's running statistics as device buffers, plus a reusable activation workspace.
pub struct DeviceModel<B: Backend> {
    backend: B,
    dims: LenetDims,
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
    /// Uploads `model`'s parameters and running statistics (and Adam's moments from `state`,
    /// when it holds any) to `backend`; `adam` holds β₁, β₂ and ε (each step takes its
    /// learning rate). Errors for a configuration other than the paper's (see
    /// [`check_supported`]; the loss is checked by the trainer).
    pub fn from_model(
        backend: B, model: &SnLenet5, adam: AdamConfig, state: Option<&AdamState>,
    ) -> Result<Self> {
        check_supported(&model.config, LossKind::ContrastiveSigmoid)?;
        check_convolutions(model)?;
        let slots = Slots::of(model);
        let moments = state.filter(|s| s.step > 0);
        let Uploaded {
            params,
            grads,
            m,
            v,
        } = upload_params(&backend, &model.store, moments)?;
        let bn = &model.head.bn;
        let st = &model.store;
        let running_mean = backend.upload(st.buffer(bn.running_mean).data())?;
        let running_var = backend.upload(st.buffer(bn.running_var).data())?;
        Ok(Self {
            dims: model.subnet.dims,
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

    /// Forward of the stacked batch already in `ws.x` up to the similarities `ws.s`.
    fn forward(&mut self, ws: &mut Workspace<B>, mode: BnMode) -> Result<()> {
        let (be, dm, sl, p) = (&self.backend, self.dims, self.slots, &self.params);
        let (n, m) = (ws.n, 2 * ws.n);
        // conv → ReLU → 2×2 max-pool (argmax kept for the backward), per block.
        let block = |c: ConvBlockDims,
                     x: &B::Buf,
                     (w, b): (usize, usize),
                     a: &mut B::Buf,
                     pooled: &mut B::Buf,
                     arg: &mut B::IdxBuf|
         -> Result<()> {
            be.conv2d_forward(&c.geom(m), x, &p[w], &p[b], a)?;
            be.relu_inplace(a)?;
            let (planes, h, w) = c.pool_planes(m);
            Ok(be.max_pool2x2_forward(planes, h, w, a, pooled, arg)?)
        };
        block(
            dm.conv1,
            &ws.x,
            sl.conv1,
            &mut ws.a1,
            &mut ws.p1,
            &mut ws.arg1,
        )?;
        block(
            dm.conv2,
            &ws.p1,
            sl.conv2,
            &mut ws.a2,
            &mut ws.p2,
            &mut ws.arg2,
        )?;
        // Dense layers y = x·Wᵀ + b (W stored out×in, as PyTorch), (in, out) from the dims.
        let dense = |x: &B::Buf, (w, b): (usize, usize), (i, o): (usize, usize), y: &mut B::Buf| {
            let rows = be.buf_len(y) / o;
            be.linear_forward(rows, i, o, x, &p[w], &p[b], y)
        };
        dense(&ws.p2, sl.fc1, dm.fc1, &mut ws.f1)?;
        be.relu_inplace(&mut ws.f1)?;
        dense(&ws.f1, sl.fc2, dm.fc2, &mut ws.f2)?;
        be.relu_inplace(&mut ws.f2)?;
        dense(&ws.f2, sl.fc3, dm.fc3, &mut ws.emb)?;
        be.tanh_inplace(&mut ws.emb)?;
        // Comparison module, then the output module s = σ(w·BN(d) + b), as the tape composes it.
        be.euclidean_forward(n, dm.embedding(), &ws.emb, DISTANCE_EPS, &mut ws.d)?;
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
        // The output module's dense layer is 1 → 1.
        dense(&ws.h, (hw, hbias), (1, 1), &mut ws.s)?;
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
        be.euclidean_backward(
            n,
            dm.embedding(),
            &ws.emb,
            &ws.d,
            &ws.dd,
            DISTANCE_EPS,
            &mut ws.demb,
        )?;
        be.tanh_backward_inplace(&ws.emb, &mut ws.demb)?;
        let mut dense_back = |dy: &B::Buf,
                              x: &B::Buf,
                              (w, b): (usize, usize),
                              (i, o): (usize, usize),
                              dx: &mut B::Buf|
         -> Result<()> {
            let (gw, gb) = split2(g, (w, b))?;
            Ok(be.linear_backward(m, i, o, x, &p[w], dy, Some(dx), gw, gb)?)
        };
        dense_back(&ws.demb, &ws.f2, sl.fc3, dm.fc3, &mut ws.df2)?;
        be.relu_backward_inplace(&ws.f2, &mut ws.df2)?;
        dense_back(&ws.df2, &ws.f1, sl.fc2, dm.fc2, &mut ws.df1)?;
        be.relu_backward_inplace(&ws.f1, &mut ws.df1)?;
        dense_back(&ws.df1, &ws.p2, sl.fc1, dm.fc1, &mut ws.dp2)?;
        self.conv_blocks_backward(ws)
    }

    /// Backward of both conv → ReLU → max-pool blocks, from the gradient of the pooled
    /// planes `ws.dp2` to the convolutions' gradients.
    fn conv_blocks_backward(&mut self, ws: &mut Workspace<B>) -> Result<()> {
        let (be, dm, sl, p) = (&self.backend, self.dims, self.slots, &self.params);
        let m = 2 * ws.n;
        let g = &mut self.grads;
        // Each conv → ReLU → max-pool block backward: pool (gather by argmax), ReLU gate,
        // then the convolution's dw, db and, where the input needs one, dx.
        let block_back = |c: ConvBlockDims,
                          (arg, act): (&B::IdxBuf, &B::Buf),
                          input: &B::Buf,
                          slots: (usize, usize),
                          (dpool, dact): (&B::Buf, &mut B::Buf),
                          dx: Option<&mut B::Buf>,
                          g: &mut Vec<B::Buf>|
         -> Result<()> {
            let (planes, h, w) = c.pool_planes(m);
            be.max_pool2x2_backward(planes, h, w, dpool, arg, dact)?;
            be.relu_backward_inplace(act, dact)?;
            let (gw, gb) = split2(g, slots)?;
            Ok(be.conv2d_backward(&c.geom(m), input, &p[slots.0], dact, dx, gw, gb)?)
        };
        let acts2 = (&ws.arg2, &ws.a2);
        block_back(
            dm.conv2,
            acts2,
            &ws.p1,
            sl.conv2,
            (&ws.dp2, &mut ws.da2),
            Some(&mut ws.dp1),
            g,
        )?;
        // The images need no gradient: conv1 computes dw and db only.
        let acts1 = (&ws.arg1, &ws.a1);
        block_back(
            dm.conv1,
            acts1,
            &ws.x,
            sl.conv1,
            (&ws.dp1, &mut ws.da1),
            None,
            g,
        )?;
        Ok(())
    }

    /// One training step on N pairs: `stacked` = [A; B] (2N×C×H×W), labels y (N values,
    /// 1 = same class), learning rate `lr`. Forward, loss, backward and Adam run on the
    /// device; returns the loss and the N similarities (training-mode BatchNorm, as the tape
    /// trainer reports them).
    pub fn train_step(&mut self, stacked: &Tensor, y: &[f32], lr: f32) -> Result<(f32, Vec<f32>)> {
        let n = pairs_in_stack(&self.dims, stacked)?;
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
        &mut self, ws: &mut Workspace<B>, stacked: &Tensor, y: &[f32], lr: f32,
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
        check_pair_images(a, b)?;
        let n = self.dims.check_images(a.shape())?;
        let per = self.dims.image_len();
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
mod tests;
