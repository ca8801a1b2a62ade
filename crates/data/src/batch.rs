//! Batches of image pairs, normalised on the fly, prepared by a background thread.
//!
//! Normalisation: `x = p / 255` for each u8 pixel `p`, so `x` is in [0, 1]; the channel axis is
//! kept (1 for MNIST-like, 3 for CIFAR-10), giving NCHW tensors `[N, C, H, W]`.
//!
//! [`PairBatches`] walks a pair list once (one epoch), in an order shuffled by
//! `ChaCha8Rng::seed_from_u64(seed)`; a worker thread fills batch `k + 1` while the caller trains on
//! batch `k` (a bounded channel of `prefetch` batches). Dropping the iterator stops the worker.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use siamese_tensor::Tensor;

use crate::dataset::ImageSet;
use crate::error::{DataError, Result};
use crate::pairs::Pair;

/// Pixel scaling, the one home of the rule: a stored byte p becomes the model's input
/// x = p / 255, in [0, 1]. Every path from u8 pixels to f32 inputs calls it.
#[inline]
pub fn scale_pixel(p: u8) -> f32 {
    f32::from(p) / 255.0
}

/// Writes images `indices` of `set` into `out` as f32 in [0, 1] ([`scale_pixel`]), NCHW,
/// without allocating. `out.len()` must be `indices.len() * set.image_len()`.
pub fn fill_images(set: &ImageSet, indices: &[u32], out: &mut [f32]) -> Result<()> {
    let per = set.image_len();
    if out.len() != indices.len() * per {
        return Err(DataError::InvalidArgument(format!(
            "output buffer holds {} values, {} images of {per} need {}",
            out.len(),
            indices.len(),
            indices.len() * per
        )));
    }
    // scale_pixel for every byte value, computed once.
    let lut: [f32; 256] = std::array::from_fn(|p| scale_pixel(p as u8));
    for (&i, dst) in indices.iter().zip(out.chunks_exact_mut(per.max(1))) {
        let src = set.image(i as usize).ok_or_else(|| {
            DataError::InvalidArgument(format!("image index {i} outside 0..{}", set.len()))
        })?;
        for (d, &p) in dst.iter_mut().zip(src) {
            *d = lut[p as usize];
        }
    }
    Ok(())
}

/// Images `indices` of `set` as a `[N, C, H, W]` tensor in [0, 1].
pub fn images_tensor(set: &ImageSet, indices: &[u32]) -> Result<Tensor> {
    let mut buf = vec![0f32; indices.len() * set.image_len()];
    fill_images(set, indices, &mut buf)?;
    Ok(Tensor::from_vec(
        &[indices.len(), set.channels, set.height, set.width],
        buf,
    )?)
}

/// One batch of `N` pairs: `a` and `b` are `[N, C, H, W]` in [0, 1], `y[i]` is 1.0 (same class) or 0.0.
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// First images of the pairs.
    pub a: Tensor,
    /// Second images of the pairs.
    pub b: Tensor,
    /// Targets, 1.0 = same class.
    pub y: Vec<f32>,
    /// The pairs themselves (for evaluation reports and pictures).
    pub pairs: Vec<Pair>,
}

impl PairBatch {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True for an empty batch (never yielded by [`PairBatches`]).
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// Options of one pass over a pair list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Pairs per batch (the caller's: the run's batch size, or the scoring batch).
    pub batch_size: usize,
    /// Shuffle the pair order with this seed; `None` keeps the list order (evaluation; [`BatchOptions::eval`]).
    pub shuffle_seed: Option<u64>,
    /// Drop a last, smaller batch (false in both constructors).
    pub drop_last: bool,
    /// Batches prepared ahead by the worker thread (2 in both constructors).
    pub prefetch: usize,
}

impl BatchOptions {
    /// Training options for one epoch: shuffled with [`crate::pairs::epoch_seed`]`(seed, epoch)`.
    pub fn train(batch_size: usize, seed: u64, epoch: u64) -> Self {
        BatchOptions {
            batch_size,
            shuffle_seed: Some(crate::pairs::epoch_seed(seed, epoch)),
            ..Self::eval(batch_size)
        }
    }

    /// Evaluation options: list order, last partial batch kept.
    pub fn eval(batch_size: usize) -> Self {
        BatchOptions {
            batch_size,
            shuffle_seed: None,
            drop_last: false,
            prefetch: 2,
        }
    }
}

/// Iterator over the batches of one epoch, with a prefetching worker thread.
pub struct PairBatches {
    rx: Option<Receiver<PairBatch>>,
    worker: Option<JoinHandle<()>>,
    remaining: usize,
}

impl PairBatches {
    /// Starts the worker. Errors: batch size 0, or a pair index outside `set`.
    pub fn new(set: Arc<ImageSet>, pairs: Arc<Vec<Pair>>, opts: BatchOptions) -> Result<Self> {
        if opts.batch_size == 0 {
            return Err(DataError::InvalidArgument("batch size must be > 0".into()));
        }
        set.check_pairs(&pairs)?;
        let mut order: Vec<u32> = (0..pairs.len() as u32).collect();
        if let Some(seed) = opts.shuffle_seed {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        }
        let full = order.len() / opts.batch_size;
        let batches = if opts.drop_last {
            full
        } else {
            order.len().div_ceil(opts.batch_size)
        };
        order.truncate(if opts.drop_last {
            full * opts.batch_size
        } else {
            order.len()
        });
        let (tx, rx) = sync_channel(opts.prefetch.max(1));
        let worker = std::thread::Builder::new()
            .name("pair-batches".into())
            .spawn(move || {
                // The same subnormal mode as the threads that compute (siamese_tensor::fpmode).
                siamese_tensor::fpmode::set_current_thread();
                for chunk in order.chunks(opts.batch_size) {
                    let chosen: Vec<Pair> = chunk.iter().map(|&k| pairs[k as usize]).collect();
                    let Ok(batch) = build_batch(&set, chosen) else {
                        return; // cannot happen: indices were checked above
                    };
                    if tx.send(batch).is_err() {
                        return; // the iterator was dropped
                    }
                }
            })
            .map_err(|e| DataError::io("<pair-batches thread>", e))?;
        Ok(PairBatches {
            rx: Some(rx),
            worker: Some(worker),
            remaining: batches,
        })
    }
}

/// Builds one batch from a list of pairs (no thread).
pub fn build_batch(set: &ImageSet, pairs: Vec<Pair>) -> Result<PairBatch> {
    let ia: Vec<u32> = pairs.iter().map(|p| p.a).collect();
    let ib: Vec<u32> = pairs.iter().map(|p| p.b).collect();
    Ok(PairBatch {
        a: images_tensor(set, &ia)?,
        b: images_tensor(set, &ib)?,
        y: pairs.iter().map(|p| p.y as f32).collect(),
        pairs,
    })
}

impl Iterator for PairBatches {
    type Item = PairBatch;

    fn next(&mut self) -> Option<PairBatch> {
        let batch = self.rx.as_ref()?.recv().ok()?;
        self.remaining = self.remaining.saturating_sub(1);
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for PairBatches {}

impl Drop for PairBatches {
    fn drop(&mut self) {
        // Closing the channel first makes a worker blocked in `send` return at once.
        drop(self.rx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ImageSet {
        // 6 images of 1x2x2; image i has every pixel = 50 * i, label i % 3.
        let images: Vec<u8> = (0..6).flat_map(|i| [50 * i as u8; 4]).collect();
        let labels = (0..6).map(|i| i % 3).collect();
        ImageSet::new(
            images,
            labels,
            (1, 2, 2),
            vec!["a".into(), "b".into(), "c".into()],
        )
        .unwrap()
    }

    #[test]
    fn fill_normalises_and_checks() {
        let s = set();
        let mut out = vec![0f32; 8];
        fill_images(&s, &[5, 1], &mut out).unwrap();
        assert_eq!(out[..4], [250.0 / 255.0; 4]);
        assert_eq!(out[4..], [50.0 / 255.0; 4]);
        assert!(fill_images(&s, &[6, 0], &mut out).is_err());
        assert!(fill_images(&s, &[0], &mut out).is_err());
    }

    #[test]
    fn batches_cover_every_pair_once_in_seeded_order() {
        let s = Arc::new(set());
        let pairs: Vec<Pair> = (0..6)
            .flat_map(|a| {
                (0..6).map(move |b| Pair {
                    a,
                    b,
                    y: (a % 3 == b % 3) as u8,
                })
            })
            .collect();
        let pairs = Arc::new(pairs);
        let run = |seed| {
            let it = PairBatches::new(s.clone(), pairs.clone(), BatchOptions::train(5, seed, 0))
                .unwrap();
            assert_eq!(it.len(), 8);
            it.flat_map(|b| {
                assert_eq!(b.a.shape(), &[b.len(), 1, 2, 2]);
                for (k, p) in b.pairs.iter().enumerate() {
                    assert_eq!(b.a.data()[k * 4], (50 * p.a) as f32 / 255.0);
                    assert_eq!(b.b.data()[k * 4 + 3], (50 * p.b) as f32 / 255.0);
                    assert_eq!(b.y[k], p.y as f32);
                }
                b.pairs
            })
            .collect::<Vec<_>>()
        };
        let order = run(1);
        assert_eq!(order.len(), 36);
        let mut sorted = order.clone();
        sorted.sort_by_key(|p| (p.a, p.b));
        assert_eq!(&sorted, pairs.as_ref());
        assert_eq!(run(1), order);
        assert_ne!(run(2), order);
    }

    #[test]
    fn drop_last_and_early_drop() {
        let s = Arc::new(set());
        let pairs = Arc::new(vec![Pair { a: 0, b: 1, y: 0 }; 10]);
        let opts = BatchOptions {
            drop_last: true,
            ..BatchOptions::eval(4)
        };
        assert_eq!(
            PairBatches::new(s.clone(), pairs.clone(), opts)
                .unwrap()
                .count(),
            2
        );
        let mut it = PairBatches::new(s.clone(), pairs.clone(), BatchOptions::eval(1)).unwrap();
        assert!(it.next().is_some());
        drop(it); // must not hang with the worker blocked on a full channel
        let bad = Arc::new(vec![Pair { a: 0, b: 9, y: 0 }]);
        assert!(PairBatches::new(s.clone(), bad, BatchOptions::eval(1)).is_err());
        assert!(PairBatches::new(s, pairs, BatchOptions::eval(0)).is_err());
    }
}
