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
use siamese_nn::distance::{cosine_similarity, euclidean, unit_rows, KERAS_EPSILON};
use siamese_nn::head::OutputModule;
use siamese_nn::init::Init;
use siamese_nn::layers::Module;
use siamese_nn::loss::{binary_cross_entropy, contrastive_loss, triplet_loss, ContrastiveReads};
use siamese_tensor::Tensor;

use crate::config::{Distance, Head, HeadInit, LenetDims, LossKind, ModelConfig, TripletConfig};
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
    /// similarity trains the head alone ([`LossKind::trains_head_apart`]).
    pub detach_head: bool,
}

/// The tape handles of one forward pass over N pairs.
#[derive(Clone, Copy, Debug)]
pub struct PairOutputs {
    /// The subnet's embeddings of the 2N stacked images [A; B], `[2N, E]`.
    pub embeddings: Var,
    /// The comparison module's value per pair, `[N]`.
    pub distance: Var,
    /// The output module's similarity per pair, `[N]`, in (0, 1).
    pub similarity: Var,
}

/// What a training step minimises: a pair loss on the labels y, or the triplet loss over the
/// batch's 2N images, whose classes (in the stacked [A; B] order) it carries.
#[derive(Clone, Copy, Debug)]
pub enum Objective<'a> {
    Pairs(LossKind),
    Triplet(TripletConfig, &'a [u32]),
}

/// Errors unless A and B are both N×C×H×W of one shape (the images of N pairs).
pub fn check_pair_images(a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() != b.shape() || a.rank() != 4 {
        return Err(ModelError::Config(format!(
            "pair images must both be N×C×H×W of one shape, got {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    Ok(())
}

/// Errors unless `stacked` holds 2N images ([A; B] of N pairs, N ≥ 1) of the input size of
/// `dims`; returns N.
pub fn pairs_in_stack(dims: &LenetDims, stacked: &Tensor) -> Result<usize> {
    let two_n = dims.check_images(stacked.shape())?;
    if two_n == 0 || two_n % 2 != 0 {
        return Err(ModelError::Config(format!(
            "stacked pair batch must hold 2N images, got shape {:?}",
            stacked.shape()
        )));
    }
    Ok(two_n / 2)
}

/// Stacks A (N×C×H×W) on top of B into one 2N×C×H×W tensor.
pub fn stack_pairs(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_pair_images(a, b)?;
    let mut shape = a.nchw();
    shape[0] *= 2;
    let mut data = Vec::with_capacity(a.len() * 2);
    data.extend_from_slice(a.data());
    data.extend_from_slice(b.data());
    Ok(Tensor::from_vec(&shape, data)?)
}

impl SnLenet5 {
    /// A freshly initialised model: Glorot-uniform weights, zero biases, the output module's
    /// weight sign-aware (see the module doc; `config.init` glorot leaves it as drawn) and its
    /// BatchNorm as `config.head` says, all drawn from `seed`.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (embedding, act) = (config.embedding, config.embedding_activation);
        let (mut store, subnet) = Subnet::in_new_store(&config, embedding, act, &mut rng)?;
        let mut head = OutputModule::new(&mut store, "head", Init::GlorotUniform, &mut rng)?;
        head.use_bn = config.head == Head::Bn;
        if config.init == HeadInit::SignAware {
            // Sign-aware initialisation of the output module (the collapse trap).
            let sign = match config.distance {
                Distance::Euclidean => -1.0,
                Distance::Cosine => 1.0,
            };
            for w in store.value_mut(head.fc.weight).data_mut() {
                *w = sign * w.abs().max(0.5);
            }
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
        let n = pairs_in_stack(&self.subnet.dims, &stacked)?;
        let x = tape.input(stacked);
        let e = self.subnet.forward(tape, &self.store, x)?;
        let halves = tape.split(e, &[n, n])?;
        let distance = self.comparison(tape, halves[0], halves[1])?;
        let head_in = if self.detach_head {
            tape.detach(distance)?
        } else {
            distance
        };
        let similarity = self.head.forward(tape, &mut self.store, head_in)?;
        Ok(PairOutputs {
            embeddings: e,
            distance,
            similarity,
        })
    }

    /// The comparison module on two N×E embeddings: the Euclidean distance
    /// d = √max(‖a − b‖², ε) or the cosine similarity, per pair (`[N]`).
    fn comparison(&self, tape: &mut Tape, a: Var, b: Var) -> Result<Var> {
        Ok(match self.config.distance {
            Distance::Euclidean => euclidean(tape, a, b, DISTANCE_EPS)?,
            Distance::Cosine => cosine_similarity(tape, a, b, DISTANCE_EPS)?,
        })
    }

    /// The training loss of `kind` on these outputs, labels y ∈ {0, 1} (1 = same class).
    /// See [`LossKind`] for which quantity each loss reads; `triplet` needs the class of
    /// each stacked image ([`Objective`]), so it is [`SnLenet5::objective_loss`]'s.
    pub fn loss(
        &self, tape: &mut Tape, out: PairOutputs, y: &Tensor, kind: LossKind,
    ) -> Result<Var> {
        Ok(match kind {
            LossKind::Triplet => {
                return Err(ModelError::Config(
                    "the triplet loss needs the classes of the batch's images".into(),
                ))
            }
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

    /// The loss of a training step: a pair loss ([`SnLenet5::loss`]), or the triplet loss
    /// over the 2N stacked images with their `classes` ([A; B] order) plus the BCE that
    /// trains the output module on the detached distance (see [`LossKind`]).
    pub fn objective_loss(
        &self, tape: &mut Tape, out: PairOutputs, y: &Tensor, objective: Objective<'_>,
    ) -> Result<Var> {
        let (t, classes) = match objective {
            Objective::Pairs(kind) => return self.loss(tape, out, y, kind),
            Objective::Triplet(t, classes) => (t, classes),
        };
        let e = match self.config.distance {
            Distance::Euclidean => out.embeddings,
            // ‖ê_a − ê_b‖ = √(2 − 2·cos): the triplets are chosen and paid on the unit sphere.
            Distance::Cosine => unit_rows(tape, out.embeddings, DISTANCE_EPS)?,
        };
        let mining = t.mining.op();
        let l = triplet_loss(tape, e, classes, t.margin, mining, DISTANCE_EPS)?;
        let b = binary_cross_entropy(tape, out.similarity, y, BCE_EPS)?;
        Ok(tape.add(l, b)?)
    }

    /// The subnet's embeddings of N images (N×C×H×W → N×E), tape-free:
    /// [`Subnet::infer`]. Used by [`SnLenet5::score`].
    pub fn embed(&self, x: &Tensor) -> Result<Tensor> {
        self.subnet.infer(&self.store, x)
    }

    /// Similarities of N pairs (A, B: N×C×H×W) in evaluation mode, scored in chunks of
    /// `batch` pairs: each side's embeddings from [`SnLenet5::embed`], then the comparison and
    /// output modules (N values) as in [`SnLenet5::forward`], all on inference tapes.
    pub fn score(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>> {
        check_pair_images(a, b)?;
        let was = self.head.bn.training;
        self.set_training(false);
        let result = (|| {
            let n = a.shape().first().copied().unwrap_or(0);
            let mut out = Vec::with_capacity(n);
            let mut start = 0;
            while start < n {
                let m = batch.max(1).min(n - start);
                let ea = self.embed(&a.batch_slice(start, m)?)?;
                let eb = self.embed(&b.batch_slice(start, m)?)?;
                out.extend(self.compare(ea, eb)?);
                start += m;
            }
            Ok(out)
        })();
        self.set_training(was);
        result
    }

    /// Similarities of pairs given as indices into one image tensor (N×C×H×W), in evaluation
    /// mode: each image that some pair uses is embedded once ([`SnLenet5::embed`], `batch`
    /// images per call), then the comparison and output modules run over the pairs' rows,
    /// `batch` pairs at a time. The subnets share their weights, so an image's embedding is
    /// the same in every pair it appears in: the values equal [`SnLenet5::score`] on the
    /// gathered images, with (for test pairs, where every image takes part about twice)
    /// half the subnet forwards.
    pub fn score_indexed(
        &mut self, images: &Tensor, pairs: &[(u32, u32)], batch: usize,
    ) -> Result<Vec<f32>> {
        let n = images.shape().first().copied().unwrap_or(0);
        self.score_indexed_with(n, pairs, batch, |ids| Ok(images.gather_batch(ids)?))
    }

    /// [`SnLenet5::score_indexed`] over `n` images that `fetch` supplies on demand (ids in
    /// increasing order, at most `batch` per call), so that only `batch` images are ever
    /// held as f32 (CIFAR-10's test set is 123 MB as f32).
    pub fn score_indexed_with(
        &mut self, n: usize, pairs: &[(u32, u32)], batch: usize,
        mut fetch: impl FnMut(&[usize]) -> Result<Tensor>,
    ) -> Result<Vec<f32>> {
        siamese_data::check_pair_indices(pairs.iter().copied(), n)?;
        let was = self.head.bn.training;
        self.set_training(false);
        let result = (|| {
            // Embed the used images, in index order, `batch` at a time.
            let mut row = vec![u32::MAX; n];
            for &(a, b) in pairs {
                row[a as usize] = 0;
                row[b as usize] = 0;
            }
            let ids: Vec<usize> = (0..n).filter(|&i| row[i] == 0).collect();
            for (r, &i) in ids.iter().enumerate() {
                row[i] = r as u32;
            }
            let e_len = self.subnet.dims.embedding();
            let mut emb = Vec::with_capacity(ids.len() * e_len);
            for chunk in ids.chunks(batch.max(1)) {
                emb.extend_from_slice(self.embed(&fetch(chunk)?)?.data());
            }
            // Then the comparison and output modules over the pairs.
            let mut out = Vec::with_capacity(pairs.len());
            for chunk in pairs.chunks(batch.max(1)) {
                let rows = |pick: fn(&(u32, u32)) -> u32| -> Result<Tensor> {
                    let mut d = Vec::with_capacity(chunk.len() * e_len);
                    for p in chunk {
                        let r = row[pick(p) as usize] as usize;
                        d.extend_from_slice(&emb[r * e_len..][..e_len]);
                    }
                    Ok(Tensor::from_vec(&[chunk.len(), e_len], d)?)
                };
                let (ea, eb) = (rows(|p| p.0)?, rows(|p| p.1)?);
                out.extend(self.compare(ea, eb)?);
            }
            Ok(out)
        })();
        self.set_training(was);
        result
    }

    /// The comparison and output modules on embeddings (N×E each), on a tape as in
    /// [`SnLenet5::forward`] (an inference tape), in the current BatchNorm mode.
    fn compare(&mut self, ea: Tensor, eb: Tensor) -> Result<Vec<f32>> {
        let mut tape = Tape::inference();
        let (va, vb) = (tape.input(ea), tape.input(eb));
        let distance = self.comparison(&mut tape, va, vb)?;
        let s = self.head.forward(&mut tape, &mut self.store, distance)?;
        Ok(tape.value(s)?.data().to_vec())
    }
}

#[cfg(test)]
pub(crate) mod tests;
