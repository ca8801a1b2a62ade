//! Helpers shared by the tape's integration tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use siamese_autodiff::{ParamId, ParamStore};
use siamese_tensor::Tensor;

/// Uniform values in [lo, hi) from a seeded ChaCha8.
pub fn rand_tensor(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| rng.gen_range(lo..hi)).collect()).unwrap()
}

/// A store holding `tensors` as parameters, and their ids in order.
pub fn store_of(tensors: &[(&str, Tensor)]) -> (ParamStore, Vec<ParamId>) {
    let mut s = ParamStore::new();
    let ids = tensors
        .iter()
        .map(|(n, t)| s.add_param(n, t.clone()).unwrap())
        .collect();
    (s, ids)
}
