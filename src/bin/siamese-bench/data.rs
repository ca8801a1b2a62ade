//! The bench's inputs, prepared in memory before anything is timed: 32 training batches of
//! pairs and the 10,000 scoring pairs. Real MNIST when the data root holds it, else
//! synthetic (seeded uniform pixels, same shapes and pair structure).

use siamese::data::{self, images_tensor, DatasetKind};
use siamese::model::score::TIMED_PAIRS as SCORED;
use siamese::tensor::Tensor;

use super::{BenchArgs, R};

/// Training batches kept in memory (used round-robin).
const BATCHES: usize = 32;

/// Training batches and the 10,000 scoring pairs, as tensors.
pub struct BenchData {
    /// (A, B, y) of each training batch.
    pub train: Vec<(Tensor, Tensor, Tensor)>,
    pub score_a: Tensor,
    pub score_b: Tensor,
    /// The same pairs as indices into `score_images` (for shared-embedding scoring).
    pub score_images: Tensor,
    pub score_pairs: Vec<(u32, u32)>,
    pub source: &'static str,
}

impl BenchData {
    /// Distinct images among the scoring pairs.
    pub fn distinct_images(&self) -> usize {
        let mut ids: Vec<u32> = self.score_pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}

/// Seeded pixels in [0, 1) (a 64-bit LCG: no RNG crate needed for noise).
fn synthetic_images(state: &mut u64, n: usize) -> R<Tensor> {
    let data: Vec<f32> = (0..n * 784)
        .map(|_| {
            *state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    Ok(Tensor::from_vec(&[n, 1, 28, 28], data)?)
}

pub fn prepare(args: &BenchArgs) -> R<BenchData> {
    let real = if args.synthetic {
        None
    } else {
        data::load(DatasetKind::Mnist, args.data_dir.as_deref()).ok()
    };
    let n = args.batch.max(1);
    match real {
        Some((tr, te)) => {
            let pairs = data::make_pairs(&tr.labels, &(0..tr.n as u32).collect::<Vec<_>>(), 7)?;
            let mut train = Vec::with_capacity(BATCHES);
            for chunk in pairs.chunks(n).take(BATCHES) {
                let ia: Vec<u32> = chunk.iter().map(|p| p.a).collect();
                let ib: Vec<u32> = chunk.iter().map(|p| p.b).collect();
                let y: Vec<f32> = chunk.iter().map(|p| f32::from(p.y)).collect();
                train.push((
                    images_tensor(&tr, &ia)?,
                    images_tensor(&tr, &ib)?,
                    Tensor::from_vec(&[chunk.len()], y)?,
                ));
            }
            let tp = data::test_pairs(&te)?;
            let tp = &tp[..tp.len().min(SCORED)];
            let ia: Vec<u32> = tp.iter().map(|p| p.a).collect();
            let ib: Vec<u32> = tp.iter().map(|p| p.b).collect();
            Ok(BenchData {
                train,
                score_a: images_tensor(&te, &ia)?,
                score_b: images_tensor(&te, &ib)?,
                score_images: images_tensor(&te, &(0..te.n as u32).collect::<Vec<_>>())?,
                score_pairs: tp.iter().map(|p| (p.a, p.b)).collect(),
                source: "MNIST",
            })
        }
        None => {
            let mut rng = 7u64;
            let mut train = Vec::with_capacity(BATCHES);
            for _ in 0..BATCHES {
                let y: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
                train.push((
                    synthetic_images(&mut rng, n)?,
                    synthetic_images(&mut rng, n)?,
                    Tensor::from_vec(&[n], y)?,
                ));
            }
            // Pairs (i, 7919·i + 13 mod n) over n images: every image used twice, as in
            // MNIST's test pairs.
            let score_images = synthetic_images(&mut rng, SCORED)?;
            let score_pairs: Vec<(u32, u32)> = (0..SCORED)
                .map(|i| (i as u32, ((i * 7919 + 13) % SCORED) as u32))
                .collect();
            let ia: Vec<usize> = score_pairs.iter().map(|p| p.0 as usize).collect();
            let ib: Vec<usize> = score_pairs.iter().map(|p| p.1 as usize).collect();
            Ok(BenchData {
                train,
                score_a: score_images.gather_batch(&ia)?,
                score_b: score_images.gather_batch(&ib)?,
                score_images,
                score_pairs,
                source: "synthetic",
            })
        }
    }
}
