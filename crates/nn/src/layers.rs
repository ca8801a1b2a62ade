//! Layers behind one small [`Module`] interface: forward on a tape, parameters by name.
//!
//! A layer registers its parameters in a [`ParamStore`] when built (`{name}.weight`,
//! `{name}.bias`, PyTorch layouts) and keeps only their ids; `forward` records ops on a fresh
//! [`Tape`] every step. Each layer's doc gives its forward formula and the backward the tape
//! applies; the op itself is documented in siamese-autodiff.

use rand::Rng;
use siamese_autodiff::{BufferId, ParamId, ParamStore, Tape, Var};
use siamese_tensor::ops::batchnorm::BnMode;
use siamese_tensor::Tensor;

use crate::error::{invalid, Result};
use crate::init::Init;

/// A layer: records its forward on a tape from its parameters in a store.
pub trait Module {
    /// Records y = layer(x) on `tape`. The store is mutable for layers that update buffers
    /// (BatchNorm's running statistics in training mode).
    fn forward(&self, tape: &mut Tape, store: &mut ParamStore, x: Var) -> Result<Var>;

    /// The layer's trained parameters, in registration order.
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }

    /// Switches between training and evaluation behaviour (only BatchNorm differs).
    fn set_training(&mut self, _training: bool) {}
}

fn nonzero(what: &'static str, sizes: &[usize]) -> Result<()> {
    if sizes.contains(&0) {
        return Err(invalid(
            what,
            format!("sizes {sizes:?} must all be at least 1"),
        ));
    }
    Ok(())
}

/// Shape of a [`Conv2d`]: channels, square kernel, stride (default 1), zero padding (default 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Conv2dSpec {
    /// `in_channels` → `out_channels` with a `kernel`×`kernel` window, stride 1, no padding.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            pad: 0,
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the zero padding on each side.
    pub fn pad(mut self, pad: usize) -> Self {
        self.pad = pad;
        self
    }
}

/// 2-D convolution with bias: y\[n,k,i,j\] = b\[k\] + Σ_{c,u,v} w\[k,c,u,v\]·x[n,c,i·s+u−p,j·s+v−p];
/// backward dx, dw, db from `conv2d_backward`. Weight `{name}.weight` [out, in, k, k],
/// bias `{name}.bias` \[out\] (zeros).
#[derive(Clone, Debug)]
pub struct Conv2d {
    pub weight: ParamId,
    pub bias: ParamId,
    pub spec: Conv2dSpec,
}

impl Conv2d {
    /// Registers `{name}.weight` (filled by `init`) and `{name}.bias` (zeros).
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore, name: &str, spec: Conv2dSpec, init: Init, rng: &mut R,
    ) -> Result<Self> {
        nonzero(
            "Conv2d",
            &[
                spec.in_channels,
                spec.out_channels,
                spec.kernel,
                spec.stride,
            ],
        )?;
        let shape = [
            spec.out_channels,
            spec.in_channels,
            spec.kernel,
            spec.kernel,
        ];
        let weight = store.add_param(&format!("{name}.weight"), init.tensor(&shape, rng)?)?;
        let bias = store.add_param(
            &format!("{name}.bias"),
            Tensor::zeros(&[spec.out_channels])?,
        )?;
        Ok(Self { weight, bias, spec })
    }
}

impl Module for Conv2d {
    fn forward(&self, tape: &mut Tape, store: &mut ParamStore, x: Var) -> Result<Var> {
        let w = tape.param(store, self.weight)?;
        let b = tape.param(store, self.bias)?;
        Ok(tape.conv2d(x, w, Some(b), self.spec.stride, self.spec.pad)?)
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.weight, self.bias]
    }
}

/// Fully connected: y = x·wᵀ + b, x: N×I, w `{name}.weight` [O, I], b `{name}.bias` \[O\];
/// backward dx = dy·w, dw = dyᵀ·x, db = Σ_n dy (gemm).
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: ParamId,
    pub bias: ParamId,
}

impl Linear {
    /// Registers `{name}.weight` [out, in] (filled by `init`) and `{name}.bias` (zeros).
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore, name: &str, in_features: usize, out_features: usize, init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        nonzero("Linear", &[in_features, out_features])?;
        let weight = store.add_param(
            &format!("{name}.weight"),
            init.tensor(&[out_features, in_features], rng)?,
        )?;
        let bias = store.add_param(&format!("{name}.bias"), Tensor::zeros(&[out_features])?)?;
        Ok(Self { weight, bias })
    }
}

impl Module for Linear {
    fn forward(&self, tape: &mut Tape, store: &mut ParamStore, x: Var) -> Result<Var> {
        let w = tape.param(store, self.weight)?;
        let b = tape.param(store, self.bias)?;
        Ok(tape.linear(x, w, Some(b))?)
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.weight, self.bias]
    }
}

/// Max-pooling, k×k window, stride s: y = max over the window; backward to the argmax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    pub kernel: usize,
    pub stride: usize,
}

impl Module for MaxPool2d {
    fn forward(&self, tape: &mut Tape, _: &mut ParamStore, x: Var) -> Result<Var> {
        Ok(tape.max_pool2d(x, self.kernel, self.stride)?)
    }
}

/// Average-pooling, k×k window, stride s: y = (1/k²)Σ window; backward dy/k² to each cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    pub kernel: usize,
    pub stride: usize,
}

impl Module for AvgPool2d {
    fn forward(&self, tape: &mut Tape, _: &mut ParamStore, x: Var) -> Result<Var> {
        Ok(tape.avg_pool2d(x, self.kernel, self.stride)?)
    }
}

/// y = max(0, x); backward dy·\[x > 0\].
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl Module for ReLU {
    fn forward(&self, tape: &mut Tape, _: &mut ParamStore, x: Var) -> Result<Var> {
        Ok(tape.relu(x)?)
    }
}

/// y = tanh x; backward dy·(1 − y²).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;

impl Module for Tanh {
    fn forward(&self, tape: &mut Tape, _: &mut ParamStore, x: Var) -> Result<Var> {
        Ok(tape.tanh(x)?)
    }
}

/// y = σ(x) = 1/(1 + e^{−x}); backward dy·y(1 − y).
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;

impl Module for Sigmoid {
    fn forward(&self, tape: &mut Tape, _: &mut ParamStore, x: Var) -> Result<Var> {
        Ok(tape.sigmoid(x)?)
    }
}

/// N×C×H×W (or any N×…) → N×(C·H·W), free (a reshape); backward reshapes dy back.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, tape: &mut Tape, _: &mut ParamStore, x: Var) -> Result<Var> {
        Ok(tape.flatten(x)?)
    }
}

/// Batch normalisation over the batch axis of N×C features, Keras conventions
/// (`BatchNormalization()`: ε = 1e-3, momentum 0.99, biased batch variance).
///
/// Training: x̂ = (x − μ_B)/√(σ²_B + ε), y = γ·x̂ + β, with the batch mean and biased variance,
/// then running ← momentum·running + (1 − momentum)·batch for mean and variance.
/// Evaluation: the same with the running statistics (constants).
/// Backward: see `Tape::batch_norm` (the three-term dx in training, dy·γ/√(var+ε) in eval).
///
/// Parameters `{name}.weight` (γ, ones) and `{name}.bias` (β, zeros); buffers
/// `{name}.running_mean` (zeros) and `{name}.running_var` (ones), PyTorch's names.
/// (PyTorch's `momentum=0.01` is this momentum 0.99; PyTorch also uses the unbiased variance
/// for its running average, Keras and this layer the biased one.)
#[derive(Clone, Debug)]
pub struct BatchNorm1d {
    pub gamma: ParamId,
    pub beta: ParamId,
    pub running_mean: BufferId,
    pub running_var: BufferId,
    /// ε added to the variance. Default 1e-3 (Keras).
    pub eps: f32,
    /// Weight of the old running value. Default 0.99 (Keras).
    pub momentum: f32,
    /// Training (batch statistics, running averages updated) or evaluation mode. Default true.
    pub training: bool,
}

impl BatchNorm1d {
    /// Registers γ, β and the running statistics of `features` features.
    pub fn new(store: &mut ParamStore, name: &str, features: usize) -> Result<Self> {
        nonzero("BatchNorm1d", &[features])?;
        Ok(Self {
            gamma: store.add_param(&format!("{name}.weight"), Tensor::full(&[features], 1.0)?)?,
            beta: store.add_param(&format!("{name}.bias"), Tensor::zeros(&[features])?)?,
            running_mean: store
                .add_buffer(&format!("{name}.running_mean"), Tensor::zeros(&[features])?)?,
            running_var: store.add_buffer(
                &format!("{name}.running_var"),
                Tensor::full(&[features], 1.0)?,
            )?,
            eps: 1e-3,
            momentum: 0.99,
            training: true,
        })
    }
}

impl Module for BatchNorm1d {
    fn forward(&self, tape: &mut Tape, store: &mut ParamStore, x: Var) -> Result<Var> {
        let g = tape.param(store, self.gamma)?;
        let b = tape.param(store, self.beta)?;
        // Training mode updates the running statistics (r ← m·r + (1 − m)·batch) inside the
        // op; they are copied out of the store and back (C values).
        let mode = BnMode::new(self.training, self.momentum);
        let mut mean = store.buffer(self.running_mean).data().to_vec();
        let mut var = store.buffer(self.running_var).data().to_vec();
        let y = tape.batch_norm(x, g, b, self.eps, mode, &mut mean, &mut var)?;
        if self.training {
            store
                .buffer_mut(self.running_mean)
                .data_mut()
                .copy_from_slice(&mean);
            store
                .buffer_mut(self.running_var)
                .data_mut()
                .copy_from_slice(&var);
        }
        Ok(y)
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.gamma, self.beta]
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

/// Layers applied in order: y = f_k(…f_1(x)).
#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer (builder style).
    pub fn with(mut self, layer: impl Module + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
}

impl Module for Sequential {
    fn forward(&self, tape: &mut Tape, store: &mut ParamStore, mut x: Var) -> Result<Var> {
        for l in &self.layers {
            x = l.forward(tape, store, x)?;
        }
        Ok(x)
    }

    fn params(&self) -> Vec<ParamId> {
        self.layers.iter().flat_map(|l| l.params()).collect()
    }

    fn set_training(&mut self, training: bool) {
        self.layers
            .iter_mut()
            .for_each(|l| l.set_training(training));
    }
}
