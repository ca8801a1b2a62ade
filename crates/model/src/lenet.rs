//! The subnet: LeNet-5, and its one forward.
//!
//! ```text
//! x: N×C×H×W
//!  → conv1 6@5×5 (padding pad1) → act → pool 2×2/2  ┐
//!  → conv2 16@5×5               → act → pool 2×2/2  ├ Subnet::features
//!  → flatten (16·h·w)                                ┘
//!  → fc1 120 → act → fc2 84 → act → fc3 E → tanh (or linear)   Subnet::dense
//! e: N×E, the embedding
//! ```
//! act is ReLU (default) or tanh, pool is max (default) or average. Every size comes from
//! [`LenetDims`]. Parameter names and layouts are PyTorch's: `subnet.conv1.weight` [6, C, 5, 5],
//! `subnet.fc1.weight` [120, 16·h·w].
//!
//! [`Subnet::forward`] is the only written forward of LeNet-5 on the tape. Training records it
//! on a [`Tape::new`]; scoring ([`crate::siamese::SnLenet5::embed`]) and the baseline's
//! predictions run the same calls on a [`Tape::inference`], which computes the same values
//! and keeps no backward state.

use rand::Rng;
use rayon::prelude::*;
use siamese_autodiff::{ParamStore, Tape, Var};
use siamese_nn::init::Init;
use siamese_nn::layers::{Conv2d, Conv2dSpec, Linear};
use siamese_tensor::Tensor;

use crate::config::{
    Activation, ConvBlockDims, EmbeddingActivation, LenetDims, ModelConfig, Pooling,
};
use crate::error::Result;

/// Images per work item of the forward-only (scoring) pass [`Subnet::infer`]: small enough
/// that a chunk's conv activations stay in L2.
const INFER_CHUNK: usize = 32;

/// LeNet-5 feature extractor ending in an E-dimensional embedding (or E class logits).
#[derive(Clone, Debug)]
pub struct Subnet {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub fc1: Linear,
    pub fc2: Linear,
    pub fc3: Linear,
    pub activation: Activation,
    pub pooling: Pooling,
    /// Applied after fc3 (`Linear` for classifier logits).
    pub output_activation: EmbeddingActivation,
    /// The sizes of every layer.
    pub dims: LenetDims,
    /// Record each conv → ReLU → max-pool block as the one fused op
    /// [`Tape::conv2d_relu_max_pool2d`] where it applies (default true): the same values and
    /// gradients bit for bit, without the batch-size conv output in either direction. False
    /// records conv → act → pool as three ops.
    pub fuse_blocks: bool,
}

impl Subnet {
    /// A new [`ParamStore`] holding a subnet registered as `subnet.*` (the checkpoint names
    /// of both SN-LeNet-5 and the baseline), weights drawn from `rng`.
    pub fn in_new_store<R: Rng + ?Sized>(
        cfg: &ModelConfig, outputs: usize, output_activation: EmbeddingActivation, rng: &mut R,
    ) -> Result<(ParamStore, Self)> {
        let mut store = ParamStore::new();
        let subnet = Self::new(&mut store, "subnet", cfg, outputs, output_activation, rng)?;
        Ok((store, subnet))
    }

    /// Registers the subnet's parameters under `{name}.*` with Glorot-uniform weights
    /// (Keras' default) and zero biases, drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore, name: &str, cfg: &ModelConfig, outputs: usize,
        output_activation: EmbeddingActivation, rng: &mut R,
    ) -> Result<Self> {
        let dims = LenetDims::new(cfg, outputs)?;
        let init = Init::GlorotUniform;
        let mut conv = |layer: &str, b: ConvBlockDims, rng: &mut R| {
            let spec = Conv2dSpec::new(b.in_channels, b.out_channels, b.kernel).pad(b.pad);
            Conv2d::new(store, &format!("{name}.{layer}"), spec, init, rng)
        };
        let conv1 = conv("conv1", dims.conv1, rng)?;
        let conv2 = conv("conv2", dims.conv2, rng)?;
        let mut fc = |layer: &str, (i, o): (usize, usize), rng: &mut R| {
            Linear::new(store, &format!("{name}.{layer}"), i, o, init, rng)
        };
        let fc1 = fc("fc1", dims.fc1, rng)?;
        let fc2 = fc("fc2", dims.fc2, rng)?;
        let fc3 = fc("fc3", dims.fc3, rng)?;
        Ok(Self {
            conv1,
            conv2,
            fc1,
            fc2,
            fc3,
            activation: cfg.activation,
            pooling: cfg.pooling,
            output_activation,
            dims,
            fuse_blocks: true,
        })
    }

    fn act(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        Ok(match self.activation {
            Activation::Relu => tape.relu(x)?,
            Activation::Tanh => tape.tanh(x)?,
        })
    }

    /// One conv → act → 2×2/2 pool block. ReLU → max after a stride-1 conv is recorded as the
    /// fused op when [`Subnet::fuse_blocks`] is set; anything else as conv, act, pool.
    fn block(&self, tape: &mut Tape, store: &ParamStore, conv: &Conv2d, x: Var) -> Result<Var> {
        let w = tape.param(store, conv.weight)?;
        let b = tape.param(store, conv.bias)?;
        let (stride, pad) = (conv.spec.stride, conv.spec.pad);
        let fused = (self.activation, self.pooling) == (Activation::Relu, Pooling::Max);
        if self.fuse_blocks && fused && stride == 1 {
            return Ok(tape.conv2d_relu_max_pool2d(x, w, Some(b), pad)?);
        }
        let h = tape.conv2d(x, w, Some(b), stride, pad)?;
        let h = self.act(tape, h)?;
        Ok(match self.pooling {
            Pooling::Max => tape.max_pool2d(h, 2, 2)?,
            Pooling::Avg => tape.avg_pool2d(h, 2, 2)?,
        })
    }

    /// y = x·wᵀ + b of one dense layer.
    fn linear(&self, tape: &mut Tape, store: &ParamStore, l: &Linear, x: Var) -> Result<Var> {
        let w = tape.param(store, l.weight)?;
        let b = tape.param(store, l.bias)?;
        Ok(tape.linear(x, w, Some(b))?)
    }

    /// A dense layer and its activation; ReLU fused into the layer's op (`Tape::linear_relu`).
    fn linear_act(&self, tape: &mut Tape, store: &ParamStore, l: &Linear, x: Var) -> Result<Var> {
        if self.activation != Activation::Relu {
            let h = self.linear(tape, store, l, x)?;
            return self.act(tape, h);
        }
        let w = tape.param(store, l.weight)?;
        let b = tape.param(store, l.bias)?;
        Ok(tape.linear_relu(x, w, Some(b))?)
    }

    /// The convolutional part: x: N×C×H×W → both conv blocks → flattened features N×(16·h·w).
    pub fn features(&self, tape: &mut Tape, store: &ParamStore, x: Var) -> Result<Var> {
        let h = self.block(tape, store, &self.conv1, x)?;
        let h = self.block(tape, store, &self.conv2, h)?;
        Ok(tape.flatten(h)?)
    }

    /// The dense part: features N×(16·h·w) → fc1 → act → fc2 → act → fc3 → tanh (or
    /// linear) = N×E.
    pub fn dense(&self, tape: &mut Tape, store: &ParamStore, f: Var) -> Result<Var> {
        let h = self.linear_act(tape, store, &self.fc1, f)?;
        let h = self.linear_act(tape, store, &self.fc2, h)?;
        let e = self.linear(tape, store, &self.fc3, h)?;
        Ok(match self.output_activation {
            EmbeddingActivation::Tanh => tape.tanh(e)?,
            EmbeddingActivation::Linear => e,
        })
    }

    /// x: N×C×H×W → N×E: [`Subnet::features`] then [`Subnet::dense`].
    pub fn forward(&self, tape: &mut Tape, store: &ParamStore, x: Var) -> Result<Var> {
        let f = self.features(tape, store, x)?;
        self.dense(tape, store, f)
    }

    /// The subnet's outputs for N images (N×C×H×W → N×E, embeddings or class logits) in
    /// evaluation, the one tape-free scoring path of SN-LeNet-5 and of the baseline classifier:
    /// [`Subnet::forward`] on inference tapes ([`Tape::inference`]: the same ops and values,
    /// no backward state). [`Subnet::features`] runs per chunk of `INFER_CHUNK` (32) images
    /// in parallel, so that every activation stays in cache; [`Subnet::dense`] then runs once
    /// over all N (one GEMM per layer, the weights packed once).
    pub fn infer(&self, store: &ParamStore, x: &Tensor) -> Result<Tensor> {
        let n = self.dims.check_images(x.shape())?;
        let (image, per, flat) = (self.dims.image(), self.dims.image_len(), self.dims.flat);
        // The convolutional part per chunk of images (activations stay in cache) ...
        let mut feats = vec![0.0f32; n * flat];
        feats
            .par_chunks_mut(INFER_CHUNK * flat)
            .zip(x.data().par_chunks(INFER_CHUNK * per))
            .try_for_each(|(fc, xc)| -> Result<()> {
                let mut tape = Tape::inference();
                let shape = [xc.len() / per, image[0], image[1], image[2]];
                let xv = tape.input(Tensor::from_vec(&shape, xc.to_vec())?);
                let f = self.features(&mut tape, store, xv)?;
                fc.copy_from_slice(tape.value(f)?.data());
                Ok(())
            })?;
        // ... then the dense part over all N images at once.
        let mut tape = Tape::inference();
        let f = tape.input(Tensor::from_vec(&[n, flat], feats)?);
        let e = self.dense(&mut tape, store, f)?;
        Ok(tape.value(e)?.clone())
    }
}
