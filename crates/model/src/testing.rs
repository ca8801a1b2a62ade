//! Small hand-made data for tests and examples across the workspace: a tiny MNIST-shaped
//! image set that a few training steps learn from, the run over it, and seeded random images.

use siamese_data::{DatasetKind, ImageSet, Label};
use siamese_tensor::Tensor;

use crate::error::Result;
use crate::run::{RunData, TrainConfig};
use crate::score::PairScorer;

/// A hand-made MNIST-shaped set: image i shows a 6×6 bright block at a place fixed by its
/// class (i mod 10) over seeded noise, so a few steps learn something.
pub fn tiny_set(n: usize, seed: u64) -> ImageSet {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut images = vec![0u8; n * 784];
    let labels: Vec<Label> = (0..n).map(|i| (i % 10) as Label).collect();
    for (i, img) in images.chunks_mut(784).enumerate() {
        for p in img.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *p = (state >> 58) as u8; // noise in 0..64
        }
        let k = labels[i] as usize;
        let (r0, c0) = (2 + (k / 4) * 8, 2 + (k % 4) * 6);
        for r in r0..r0 + 6 {
            for c in c0..c0 + 6 {
                img[r * 28 + c] = 255;
            }
        }
    }
    let names = (0..10).map(|k| k.to_string()).collect();
    ImageSet::new(images, labels, (1, 28, 28), names).unwrap()
}

/// The paper's MNIST configuration for `epochs` epochs on 100 training and 40 test
/// images of [`tiny_set`].
pub fn tiny_run(epochs: usize) -> (TrainConfig, RunData) {
    let mut cfg = TrainConfig::paper(DatasetKind::Mnist);
    cfg.epochs = epochs;
    let data = RunData::from_sets(&cfg, tiny_set(100, 1), tiny_set(40, 2), None).unwrap();
    (cfg, data)
}

/// n seeded pseudo-random images (C × side × side, values in [0, 1)), for tests.
pub fn images(n: usize, c: usize, side: usize, seed: u64) -> Tensor {
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

/// A scorer that reads each image's class off [`tiny_set`]'s block and
/// says 0.3 for the same class, 0.1 otherwise: perfect, but only at a threshold in
/// (0.1, 0.3), never at 0.5.
pub struct BlockReader;

fn class_of(img: &[f32]) -> usize {
    let block = |k: usize| {
        let (r0, c0) = (2 + (k / 4) * 8, 2 + (k % 4) * 6);
        (r0..r0 + 6)
            .flat_map(|r| (c0..c0 + 6).map(move |c| r * 28 + c))
            .map(|i| img[i])
            .sum::<f32>()
    };
    (0..10)
        .max_by(|&a, &b| block(a).total_cmp(&block(b)))
        .unwrap()
}

impl PairScorer for BlockReader {
    fn similarities(&mut self, a: &Tensor, b: &Tensor, _batch: usize) -> Result<Vec<f32>> {
        Ok(a.data()
            .chunks(784)
            .zip(b.data().chunks(784))
            .map(|(x, y)| if class_of(x) == class_of(y) { 0.3 } else { 0.1 })
            .collect())
    }
}
