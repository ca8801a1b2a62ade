//! The subnet: LeNet-5.
//!
//! ```text
//! x: N×C×H×W
//!  → conv1 6@5×5 (padding pad1) → act → pool 2×2/2
//!  → conv2 16@5×5               → act → pool 2×2/2
//!  → flatten (16·h·w) → fc1 120 → act → fc2 84 → act → fc3 E → tanh (or linear)
//! e: N×E, the embedding
//! ```
//! act is ReLU (default) or tanh, pool is max (default) or average. Every size comes from
//! [`LenetDims`]. Parameter names and layouts are PyTorch's: `subnet.conv1.weight` [6, C, 5, 5],
//! `subnet.fc1.weight` [120, 16·h·w].

use rand::Rng;
use siamese_autodiff::{ParamStore, Tape, Var};
use siamese_nn::init::Init;
use siamese_nn::layers::{Conv2d, Conv2dSpec, Linear, Module};

use crate::config::{
    Activation, ConvBlockDims, EmbeddingActivation, LenetDims, ModelConfig, Pooling,
};
use crate::error::Result;

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
}

impl Subnet {
    /// Registers the subnet's parameters under `{name}.*` with Glorot-uniform weights
    /// (Keras' default) and zero biases, drawn from `rng`.
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore,
        name: &str,
        cfg: &ModelConfig,
        outputs: usize,
        output_activation: EmbeddingActivation,
        rng: &mut R,
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
        })
    }

    fn act(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        Ok(match self.activation {
            Activation::Relu => tape.relu(x)?,
            Activation::Tanh => tape.tanh(x)?,
        })
    }

    fn pool(&self, tape: &mut Tape, x: Var) -> Result<Var> {
        Ok(match self.pooling {
            Pooling::Max => tape.max_pool2d(x, 2, 2)?,
            Pooling::Avg => tape.avg_pool2d(x, 2, 2)?,
        })
    }

    /// x: N×C×H×W → N×E.
    pub fn forward(&self, tape: &mut Tape, store: &mut ParamStore, x: Var) -> Result<Var> {
        let h = self.conv1.forward(tape, store, x)?;
        let h = self.act(tape, h)?;
        let h = self.pool(tape, h)?;
        let h = self.conv2.forward(tape, store, h)?;
        let h = self.act(tape, h)?;
        let h = self.pool(tape, h)?;
        let h = tape.flatten(h)?;
        let h = self.fc1.forward(tape, store, h)?;
        let h = self.act(tape, h)?;
        let h = self.fc2.forward(tape, store, h)?;
        let h = self.act(tape, h)?;
        let e = self.fc3.forward(tape, store, h)?;
        Ok(match self.output_activation {
            EmbeddingActivation::Tanh => tape.tanh(e)?,
            EmbeddingActivation::Linear => e,
        })
    }
}
