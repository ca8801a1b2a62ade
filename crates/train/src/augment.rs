//! Training-time augmentation of image batches: random translations (zero fill) and, for
//! natural images, horizontal flips. Seeded per batch, so a run stays reproducible and a
//! resumed run augments exactly as the uninterrupted one would have.
//!
//! For an image x (C×H×W) and a shift (dy, dx), the augmented image is
//!   x'[c, i, j] = x[c, i − dy, j − dx] when that pixel exists, else 0,
//! then, when flipped, x''[c, i, j] = x'[c, i, W − 1 − j]. A shift of up to 4 pixels with
//! zero fill is the usual "pad 4 and crop" of CIFAR-10 training.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use siamese_model::run::Augment;
use siamese_tensor::Tensor;

/// Shifts one C×H×W image by (dy, dx) with zero fill and optionally mirrors it, in place
/// (`scratch` holds a copy of the source).
fn transform(
    img: &mut [f32], scratch: &mut Vec<f32>, [c, h, w]: [usize; 3], (dy, dx): (i64, i64),
    flip: bool,
) {
    scratch.clear();
    scratch.extend_from_slice(img);
    for ch in 0..c {
        let plane = ch * h * w;
        for i in 0..h {
            for j in 0..w {
                let sj = if flip { w - 1 - j } else { j } as i64 - dx;
                let si = i as i64 - dy;
                img[plane + i * w + j] = if si >= 0 && si < h as i64 && sj >= 0 && sj < w as i64 {
                    scratch[plane + si as usize * w + sj as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// Augments every image of the N×C×H×W batch `x` in place, with randomness from `seed`.
pub fn augment_batch(kind: Augment, x: &mut Tensor, seed: u64) {
    let (max, may_flip) = kind.shift_and_flip();
    if max == 0 && !may_flip {
        return;
    }
    let [n, c, h, w] = x.nchw();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut scratch = Vec::with_capacity(c * h * w);
    for img in x.data_mut().chunks_mut(c * h * w).take(n) {
        let dy = rng.gen_range(-max..=max);
        let dx = rng.gen_range(-max..=max);
        let flip = may_flip && rng.gen_bool(0.5);
        if dy != 0 || dx != 0 || flip {
            transform(img, &mut scratch, [c, h, w], (dy, dx), flip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_moves_a_pixel_and_fills_zero() {
        let mut img: Vec<f32> = (0..16).map(|v| v as f32 + 1.0).collect();
        let mut s = Vec::new();
        transform(&mut img, &mut s, [1, 4, 4], (1, 2), false);
        // x'[i, j] = x[i - 1, j - 2]
        assert_eq!(img[4 + 2], 1.0); // row 1, column 2
        assert_eq!(img[3 * 4 + 3], 10.0);
        assert_eq!(img[0], 0.0);
        assert_eq!(img.iter().filter(|&&v| v == 0.0).count(), 16 - 3 * 2);
    }

    #[test]
    fn flip_mirrors_columns() {
        let mut img: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut s = Vec::new();
        transform(&mut img, &mut s, [2, 1, 3], (0, 0), true);
        assert_eq!(img, vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
    }

    #[test]
    fn seeded_and_shape_preserving() {
        let base = Tensor::from_vec(&[4, 3, 8, 8], (0..768).map(|v| v as f32).collect()).unwrap();
        let (mut a, mut b) = (base.clone(), base.clone());
        augment_batch(Augment::ShiftFlip, &mut a, 9);
        augment_batch(Augment::ShiftFlip, &mut b, 9);
        assert_eq!(a, b);
        assert_ne!(a, base);
        let mut c = base.clone();
        augment_batch(Augment::None, &mut c, 9);
        assert_eq!(c, base);
    }
}
