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
use rayon::prelude::*;
use siamese_autodiff::{ParamStore, Tape, Var};
use siamese_nn::distance::{cosine_similarity, euclidean, KERAS_EPSILON};
use siamese_nn::head::OutputModule;
use siamese_nn::init::Init;
use siamese_nn::layers::Module;
use siamese_nn::loss::{binary_cross_entropy, contrastive_loss, ContrastiveReads};
use siamese_tensor::ops::conv2d::{conv2d_forward_into, ConvAlgo};
use siamese_tensor::ops::elementwise::relu_in_place;
use siamese_tensor::ops::gemm;
use siamese_tensor::ops::pool::max_pool2x2_planes;
use siamese_tensor::Tensor;

use crate::config::{Activation, Distance, EmbeddingActivation, LossKind, ModelConfig, Pooling};
use crate::error::{ModelError, Result};
use crate::lenet::Subnet;
use siamese_nn::layers::Linear;

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

/// Images per work item of the forward-only (scoring) pass: small enough that a chunk's
/// conv activations stay in L2.
const EVAL_CHUNK: usize = 32;

/// The hidden activation, in place, with the tape's values: ReLU y = x·[x > 0], tanh y = tanh x.
fn act_in_place(v: &mut [f32], act: Activation) {
    match act {
        Activation::Relu => relu_in_place(v),
        Activation::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
    }
}

/// 2×2/2 pooling of `planes` planes of h×w into `y` (h/2 × w/2 each): max (first maximum
/// in row-major order, as `max_pool2d_forward`) or mean ((x00 + x01) + (x10 + x11))·¼, as
/// `avg_pool2d_forward` sums row by row.
fn pool2x2(x: &[f32], planes: usize, h: usize, w: usize, pooling: Pooling, y: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    for p in 0..planes {
        let xp = &x[p * h * w..][..h * w];
        let yp = &mut y[p * oh * ow..][..oh * ow];
        for i in 0..oh {
            let r0 = &xp[2 * i * w..][..2 * ow];
            let r1 = &xp[(2 * i + 1) * w..][..2 * ow];
            let yr = &mut yp[i * ow..][..ow];
            for (j, yv) in yr.iter_mut().enumerate() {
                let (a, b, c, d) = (r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]);
                *yv = match pooling {
                    Pooling::Max => {
                        let mut m = a;
                        for v in [b, c, d] {
                            if v > m || (v.is_nan() && !m.is_nan()) {
                                m = v;
                            }
                        }
                        m
                    }
                    Pooling::Avg => ((0.0 + a + b) + (c + d)) * 0.25,
                };
            }
        }
    }
}

/// act → 2×2/2 pool of `planes` h×w planes of `x` into `y`. ReLU → max runs as the fused
/// kernel of the tensor crate (the pool then the clamp: same values, a quarter of the work).
fn act_pool2x2(
    x: &mut [f32],
    planes: usize,
    h: usize,
    w: usize,
    sn: &Subnet,
    y: &mut [f32],
) -> Result<()> {
    if let (Activation::Relu, Pooling::Max) = (sn.activation, sn.pooling) {
        return Ok(max_pool2x2_planes(x, planes, h, w, true, y)?);
    }
    act_in_place(x, sn.activation);
    pool2x2(x, planes, h, w, sn.pooling, y);
    Ok(())
}

/// y = x·wᵀ + b for m rows (the tape's `linear`: bias rows, then one GEMM with β = 1).
fn linear_rows(
    store: &ParamStore,
    l: &Linear,
    x: &[f32],
    m: usize,
    y: &mut Vec<f32>,
) -> Result<()> {
    let (w, b) = (store.value(l.weight), store.value(l.bias));
    let (o, i) = (w.shape()[0], w.shape()[1]);
    y.clear();
    for _ in 0..m {
        y.extend_from_slice(b.data());
    }
    gemm::gemm(false, true, m, o, i, 1.0, x, w.data(), 1.0, y)?;
    Ok(())
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

    /// [`Subnet::forward`] on the tape, with each conv → ReLU → max-pool block recorded as
    /// one fused op ([`Tape::conv2d_relu_max_pool2d`]: same values and gradients, bit for bit;
    /// the batch-size conv output is never materialised, in either direction). Other
    /// activation/pooling pairs, and strided convs, go through `Subnet::forward` itself.
    fn subnet_forward(&mut self, tape: &mut Tape, x: Var) -> Result<Var> {
        let sn = &self.subnet;
        let unit_stride = sn.conv1.spec.stride == 1 && sn.conv2.spec.stride == 1;
        if !(sn.activation == Activation::Relu && sn.pooling == Pooling::Max && unit_stride) {
            return sn.forward(tape, &mut self.store, x);
        }
        let st = &mut self.store;
        let block = |tape: &mut Tape, conv: &siamese_nn::layers::Conv2d, x: Var| {
            let w = tape.param(st, conv.weight)?;
            let b = tape.param(st, conv.bias)?;
            tape.conv2d_relu_max_pool2d(x, w, Some(b), conv.spec.pad)
        };
        let h = block(tape, &sn.conv1, x)?;
        let h = block(tape, &sn.conv2, h)?;
        let h = tape.flatten(h)?;
        let h = sn.fc1.forward(tape, st, h)?;
        let h = tape.relu(h)?;
        let h = sn.fc2.forward(tape, st, h)?;
        let h = tape.relu(h)?;
        let e = sn.fc3.forward(tape, st, h)?;
        Ok(match sn.output_activation {
            EmbeddingActivation::Tanh => tape.tanh(e)?,
            EmbeddingActivation::Linear => e,
        })
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
        let e = self.subnet_forward(tape, x)?;
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

    /// The subnet's embeddings of N images (N×C×H×W → N×E) without a tape: the forward of
    /// [`Subnet::forward`] (same kernels, same values). conv → act → pool → conv → act → pool
    /// runs per chunk of [`EVAL_CHUNK`] images in parallel, so that every activation stays in
    /// cache and nothing is kept for a backward pass; fc1 → fc2 → fc3 then run as one GEMM
    /// each over all N. Used by [`SnLenet5::score`].
    pub fn embed(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let [n, ch, h, w] = x.nchw();
        if x.rank() != 4 || ch != c.channels || h != c.height || w != c.width {
            return Err(ModelError::Config(format!(
                "images must be N×{}×{}×{}, got {:?}",
                c.channels,
                c.height,
                c.width,
                x.shape()
            )));
        }
        let sn = &self.subnet;
        let st = &self.store;
        let e = st.value(sn.fc3.weight).shape()[0];
        let per = ch * h * w;
        let (h1, w1) = (h + 2 * c.pad1 - 4, w + 2 * c.pad1 - 4);
        let (h2, w2) = (h1 / 2 - 4, w1 / 2 - 4);
        let flat = 16 * (h2 / 2) * (w2 / 2);
        // Convolutional part per chunk of images (activations stay in cache) ...
        let mut feats = vec![0.0f32; n * flat];
        feats
            .par_chunks_mut(EVAL_CHUNK * flat)
            .zip(x.data().par_chunks(EVAL_CHUNK * per))
            .try_for_each(|(fc, xc)| -> Result<()> {
                let m = xc.len() / per;
                let xt = Tensor::from_vec(&[m, ch, h, w], xc.to_vec())?;
                let mut a1 = vec![0.0f32; m * 6 * h1 * w1];
                let conv = |x: &Tensor, l: &siamese_nn::layers::Conv2d, y: &mut [f32]| {
                    conv2d_forward_into(
                        ConvAlgo::Auto,
                        x,
                        st.value(l.weight),
                        Some(st.value(l.bias)),
                        l.spec.stride,
                        l.spec.pad,
                        y,
                    )
                };
                conv(&xt, &sn.conv1, &mut a1)?;
                let mut p1 = Tensor::zeros(&[m, 6, h1 / 2, w1 / 2])?;
                act_pool2x2(&mut a1, m * 6, h1, w1, sn, p1.data_mut())?;
                let mut a2 = vec![0.0f32; m * 16 * h2 * w2];
                conv(&p1, &sn.conv2, &mut a2)?;
                act_pool2x2(&mut a2, m * 16, h2, w2, sn, fc)?;
                Ok(())
            })?;
        // ... then the fully connected part over all N images at once: one GEMM per layer
        // (the weights are packed once, not once per chunk).
        let mut f1 = Vec::new();
        linear_rows(st, &sn.fc1, &feats, n, &mut f1)?;
        drop(feats);
        act_in_place(&mut f1, sn.activation);
        let mut f2 = Vec::new();
        linear_rows(st, &sn.fc2, &f1, n, &mut f2)?;
        act_in_place(&mut f2, sn.activation);
        let mut out = Vec::new();
        linear_rows(st, &sn.fc3, &f2, n, &mut out)?;
        if let EmbeddingActivation::Tanh = sn.output_activation {
            out.iter_mut().for_each(|v| *v = v.tanh());
        }
        Ok(Tensor::from_vec(&[n, e], out)?)
    }

    /// Similarities of N pairs (A, B: N×C×H×W) in evaluation mode, scored in chunks of
    /// `batch` pairs. The subnet runs without a tape ([`SnLenet5::embed`]); only the
    /// comparison and output modules (N values) go through a tape, exactly as in
    /// [`SnLenet5::forward`].
    pub fn score(&mut self, a: &Tensor, b: &Tensor, batch: usize) -> Result<Vec<f32>> {
        if a.shape() != b.shape() || a.rank() != 4 {
            return Err(ModelError::Config(format!(
                "pair images must both be N×C×H×W of one shape, got {:?} and {:?}",
                a.shape(),
                b.shape()
            )));
        }
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
        &mut self,
        images: &Tensor,
        pairs: &[(u32, u32)],
        batch: usize,
    ) -> Result<Vec<f32>> {
        let n = images.shape().first().copied().unwrap_or(0);
        self.score_indexed_with(n, pairs, batch, |ids| Ok(images.gather_batch(ids)?))
    }

    /// [`SnLenet5::score_indexed`] over `n` images that `fetch` supplies on demand (ids in
    /// increasing order, at most `batch` per call), so that only `batch` images are ever
    /// held as f32 (CIFAR-10's test set is 123 MB as f32).
    pub fn score_indexed_with(
        &mut self,
        n: usize,
        pairs: &[(u32, u32)],
        batch: usize,
        mut fetch: impl FnMut(&[usize]) -> Result<Tensor>,
    ) -> Result<Vec<f32>> {
        if let Some(&(a, b)) = pairs
            .iter()
            .find(|&&(a, b)| a as usize >= n || b as usize >= n)
        {
            return Err(ModelError::Config(format!(
                "pair ({a}, {b}) indexes past the {n} images given"
            )));
        }
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
            let e_len = self.store.value(self.subnet.fc3.weight).shape()[0];
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
    /// [`SnLenet5::forward`], in the current BatchNorm mode.
    fn compare(&mut self, ea: Tensor, eb: Tensor) -> Result<Vec<f32>> {
        let mut tape = Tape::new();
        let (va, vb) = (tape.input(ea), tape.input(eb));
        let distance = match self.config.distance {
            Distance::Euclidean => euclidean(&mut tape, va, vb, DISTANCE_EPS)?,
            Distance::Cosine => cosine_similarity(&mut tape, va, vb, DISTANCE_EPS)?,
        };
        let s = self.head.forward(&mut tape, &mut self.store, distance)?;
        Ok(tape.value(s)?.data().to_vec())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Activation;

    /// n seeded pseudo-random images (C × side × side, values in [0, 1)), for the model's tests.
    pub(crate) fn images(n: usize, c: usize, side: usize, seed: u64) -> Tensor {
        let mut s = seed;
        let data = (0..n * c * side * side)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        Tensor::from_vec(&[n, c, side, side], data).unwrap()
    }

    /// The fused ReLU → max-pool forward gives the loss and every parameter gradient of the
    /// plain `Subnet::forward`, bit for bit.
    #[test]
    fn fused_relu_pool_matches_subnet_forward() {
        let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 5).unwrap();
        let (a, b) = (images(6, 1, 28, 3), images(6, 1, 28, 4));
        let y = Tensor::from_vec(&[6], vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
        let run = |model: &mut SnLenet5, fused: bool| -> (f32, Vec<Vec<f32>>) {
            model.store.zero_grads();
            let mut tape = Tape::new();
            let x = tape.input(stack_pairs(&a, &b).unwrap());
            let e = if fused {
                model.subnet_forward(&mut tape, x).unwrap()
            } else {
                model
                    .subnet
                    .forward(&mut tape, &mut model.store, x)
                    .unwrap()
            };
            let h = tape.split(e, &[6, 6]).unwrap();
            let d = euclidean(&mut tape, h[0], h[1], DISTANCE_EPS).unwrap();
            let s = model.head.forward(&mut tape, &mut model.store, d).unwrap();
            let out = PairOutputs {
                distance: d,
                similarity: s,
            };
            let loss = model
                .loss(&mut tape, out, &y, LossKind::ContrastiveSigmoid)
                .unwrap();
            let l = tape.scalar(loss).unwrap();
            tape.backward(loss, &mut model.store).unwrap();
            let st = &model.store;
            let grads = st.ids().map(|id| st.grad(id).data().to_vec()).collect();
            (l, grads)
        };
        let (l0, g0) = run(&mut model, false);
        let (l1, g1) = run(&mut model, true);
        assert_eq!(l0, l1);
        assert_eq!(g0, g1);
        assert!(g0[0].iter().any(|&v| v != 0.0), "conv1 gets a gradient");
    }

    /// The tape-free scoring path gives the similarities of the taped eval-mode forward, for
    /// both activations, both poolings, both distances, and a batch that splits the pairs
    /// into uneven chunks.
    #[test]
    fn score_matches_taped_forward() {
        let cases = [
            (1, 28, Activation::Relu, Pooling::Max, Distance::Euclidean),
            (3, 32, Activation::Tanh, Pooling::Avg, Distance::Cosine),
        ];
        for (c, side, act, pool, dist) in cases {
            let mut cfg = ModelConfig::for_input(c, side, side);
            cfg.activation = act;
            cfg.pooling = pool;
            cfg.distance = dist;
            let mut model = SnLenet5::new(cfg, 3).unwrap();
            // Non-trivial running statistics and biases.
            let rm = model.head.bn.running_mean;
            model.store.buffer_mut(rm).data_mut()[0] = 0.3;
            for id in [model.subnet.conv1.bias, model.subnet.fc1.bias] {
                for (i, v) in model.store.value_mut(id).data_mut().iter_mut().enumerate() {
                    *v = 0.01 * (i % 7) as f32 - 0.02;
                }
            }
            let (a, b) = (images(45, c, side, 1), images(45, c, side, 2));
            let got = model.score(&a, &b, 20).unwrap();
            model.set_training(false);
            let mut tape = Tape::new();
            let out = model
                .forward(&mut tape, stack_pairs(&a, &b).unwrap())
                .unwrap();
            let want = tape.value(out.similarity).unwrap().data().to_vec();
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-6,
                    "{act:?}/{pool:?} pair {i}: {g} vs {w}"
                );
            }
            assert!(
                want.iter().any(|&w| (w - want[0]).abs() > 1e-6),
                "scores vary"
            );
        }
    }

    /// Scoring pairs by index (each used image embedded once) gives the per-pair scores of
    /// the gathered images, in pair order; a bad index is an error.
    #[test]
    fn score_indexed_matches_score_on_gathered_images() {
        let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 4).unwrap();
        let imgs = images(30, 1, 28, 5);
        // Repeats, an unused image (29), both orders, a self-pair.
        let pairs: Vec<(u32, u32)> = (0..40u32)
            .map(|i| ((i * 7) % 29, (i * 11 + 3) % 29))
            .chain([(5, 5), (28, 0)])
            .collect();
        let ia: Vec<usize> = pairs.iter().map(|p| p.0 as usize).collect();
        let ib: Vec<usize> = pairs.iter().map(|p| p.1 as usize).collect();
        let want = model
            .score(
                &imgs.gather_batch(&ia).unwrap(),
                &imgs.gather_batch(&ib).unwrap(),
                16,
            )
            .unwrap();
        let got = model.score_indexed(&imgs, &pairs, 16).unwrap();
        assert_eq!(got.len(), pairs.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-6, "pair {i}: {g} vs {w}");
        }
        assert!(model.score_indexed(&imgs, &[(0, 30)], 16).is_err());
    }
}
