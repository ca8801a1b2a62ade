//! SN-LeNet-5: two subnets that share every parameter, a comparison module and an output
//! module.
//!
//! ```text
//! image A ─┐                 ┌─ e_A ─┐
//!          ├─ subnet (one    │       ├─ comparison module d = ‖e_A − e_B‖₂ (or cosine)
//! image B ─┘  batched pass)  └─ e_B ─┘       → output module s = σ(w·BN(d) + b) ∈ (0, 1)
//! ```
//! "Two subnets sharing weights" is one subnet run over the 2N images [A; B] in one batched
//! forward: the tape sees each parameter once per step and its gradient sums both paths.
//!
//! The collapse trap (measured in PyTorch and Keras with this very head): if the output
//! module's weight w starts positive while y = 1 means same class, a larger distance means a
//! *higher* similarity, so the contrastive loss first pulls every embedding to one point; all
//! distances then sit in the √ε clamp, the gradient vanishes, and the loss stays at 0.25 with
//! 50% accuracy for good. The cure here is a sign-aware initialisation: w starts at −|w₀| for
//! the Euclidean distance (similarity falls as distance grows) and +|w₀| for the cosine
//! similarity (which already grows with likeness), with |w₀| at least 0.5 so that no seed
//! starts with a head too flat to move the sigmoid. Tests train ten seeds to prove it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use siamese_autodiff::{ParamStore, Tape, Var};
use siamese_nn::distance::{cosine_similarity, euclidean, KERAS_EPSILON};
use siamese_nn::head::OutputModule;
use siamese_nn::init::Init;
use siamese_nn::layers::Module;
use siamese_nn::loss::{binary_cross_entropy, contrastive_loss, ContrastiveReads};
use siamese_tensor::Tensor;

use crate::config::{Distance, LossKind, ModelConfig};
use crate::error::{ModelError, Result};
use crate::lenet::Subnet;

/// The contrastive margin of the paper.
pub const MARGIN: f32 = 1.0;
/// The guard of √ in the Euclidean distance (Keras' epsilon).
pub const DISTANCE_EPS: f32 = KERAS_EPSILON;
/// Probability clip of the binary cross-entropy.
pub const BCE_EPS: f32 = 1e-7;

/// SN-LeNet-5 with its parameters.
#[derive(Debug)]
pub struct SnLenet5 {
    pub config: ModelConfig,
    pub store: ParamStore,
    pub subnet: Subnet,
    pub head: OutputModule,
    /// Feed the output module a detached copy of the distance, so that a loss on the
    /// similarity trains the head alone (set for `LossKind::ContrastiveDistance`).
    pub detach_head: bool,
}

/// The tape handles of one forward pass over N pairs.
#[derive(Clone, Copy, Debug)]
pub struct PairOutputs {
    /// The comparison module's value per pair, [N].
    pub distance: Var,
    /// The output module's similarity per pair, [N], in (0, 1).
    pub similarity: Var,
}

/// Stacks A (N×C×H×W) on top of B into one 2N×C×H×W tensor.
pub fn stack_pairs(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.shape() != b.shape() || a.rank() != 4 {
        return Err(ModelError::Config(format!(
            "pair images must both be N×C×H×W of one shape, got {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let mut shape = a.nchw();
    shape[0] *= 2;
    let mut data = Vec::with_capacity(a.len() * 2);
    data.extend_from_slice(a.data());
    data.extend_from_slice(b.data());
    Ok(Tensor::from_vec(&shape, data)?)
}

impl SnLenet5 {
    /// A freshly initialised model: Glorot-uniform weights, zero biases, the output module's
    /// weight sign-aware (see the module doc), all drawn from `seed`.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let subnet = Subnet::new(
            &mut store,
            "subnet",
            &config,
            config.embedding,
            config.embedding_activation,
            &mut rng,
        )?;
        let head = OutputModule::new(&mut store, "head", Init::GlorotUniform, &mut rng)?;
        // Sign-aware initialisation of the output module (the collapse trap).
        let sign = match config.distance {
            Distance::Euclidean => -1.0,
            Distance::Cosine => 1.0,
        };
        for w in store.value_mut(head.fc.weight).data_mut() {
            *w = sign * w.abs().max(0.5);
        }
        Ok(Self {
            config,
            store,
            subnet,
            head,
            detach_head: false,
        })
    }

    /// Training mode (batch statistics in the output module's BatchNorm, running averages
    /// updated) or evaluation mode (running statistics).
    pub fn set_training(&mut self, training: bool) {
        self.head.set_training(training);
    }

    /// Forward over N pairs given as the stacked 2N×C×H×W tensor [A; B].
    pub fn forward(&mut self, tape: &mut Tape, stacked: Tensor) -> Result<PairOutputs> {
        let two_n = stacked.shape().first().copied().unwrap_or(0);
        if two_n == 0 || two_n % 2 != 0 {
            return Err(ModelError::Config(format!(
                "stacked pair batch must hold 2N images, got shape {:?}",
                stacked.shape()
            )));
        }
        let n = two_n / 2;
        let x = tape.input(stacked);
        let e = self.subnet.forward(tape, &mut self.store, x)?;
        let halves = tape.split(e, &[n, n])?;
        let distance = match self.config.distance {
            Distance::Euclidean => euclidean(tape, halves[0], halves[1], DISTANCE_EPS)?,
            Distance::Cosine => cosine_similarity(tape, halves[0], halves[1], DISTANCE_EPS)?,
        };
        let head_in = if self.detach_head {
            tape.detach(distance)?
        } else {
            distance
        };
        let similarity = self.head.forward(tape, &mut self.store, head_in)?;
        Ok(PairOutputs {
            distance,
            similarity,
        })
    }

    /// The training loss of `kind` on these outputs, labels y ∈ {0, 1} (1 = same class).
    /// See [`LossKind`] for which quantity each loss reads.
    pub fn loss(
        &self,
        tape: &mut Tape,
        out: PairOutputs,
        y: &Tensor,
        kind: LossKind,
    ) -> Result<Var> {
        Ok(match kind {
            LossKind::ContrastiveSigmoid => contrastive_loss(
                tape,
                out.similarity,
                y,
                MARGIN,
                ContrastiveReads::Similarity,
            )?,
            LossKind::Bce => binary_cross_entropy(tape, out.similarity, y, BCE_EPS)?,
            LossKind::ContrastiveDistance => {
                // Hadsell's loss shapes the embedding through the raw distance. The output
                // module reads a detached copy of d (see `detach_head`), so the BCE term
                // below trains only the head to turn d into a calibrated similarity.
                let c =
                    contrastive_loss(tape, out.distance, y, MARGIN, ContrastiveReads::Distance)?;
                let b = binary_cross_entropy(tape, out.similarity, y, BCE_EPS)?;
                tape.add(c, b)?
            }
        })
    }

    /// Similarities of N pairs (A, B: N×C×H×W) in evaluation mode, scored in chunks of
    /// `batch` pairs.
    pub fn score(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>> {
        let was = self.head.bn.training;
        self.set_training(false);
        let result = (|| {
            let n = a.shape().first().copied().unwrap_or(0);
            let per = a.len() / n.max(1);
            let shape = a.nchw();
            let mut out = Vec::with_capacity(n);
            let mut start = 0;
            while start < n {
                let m = batch.max(1).min(n - start);
                let sl = |t: &Tensor| {
                    Tensor::from_vec(
                        &[m, shape[1], shape[2], shape[3]],
                        t.data()[start * per..(start + m) * per].to_vec(),
                    )
                };
                let stacked = stack_pairs(&sl(a)?, &sl(b)?)?;
                let mut tape = Tape::new();
                let o = self.forward(&mut tape, stacked)?;
                out.extend_from_slice(tape.value(o.similarity)?.data());
                start += m;
            }
            Ok(out)
        })();
        self.set_training(was);
        result
    }
}
