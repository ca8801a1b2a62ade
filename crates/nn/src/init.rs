//! Weight initialisers, all drawn from a caller-seeded RNG (so one `--seed` fixes them).
//!
//! Fans follow Keras and PyTorch: a linear weight [out, in] has fan_in = in, fan_out = out; a
//! convolution weight [out, in, kh, kw] has fan_in = in·kh·kw, fan_out = out·kh·kw.
//!
//! | init | distribution |
//! |---|---|
//! | Glorot/Xavier uniform (Keras default) | U(−a, a), a = √(6/(fan_in + fan_out)) |
//! | He uniform | U(−a, a), a = √(6/fan_in) |
//! | He normal | N(0, 2/fan_in) (not truncated) |
//! | Uniform(a) | U(−a, a) |
//! | Constant(c) / Zeros | c / 0 (Keras' default for biases) |

use rand::Rng;
use siamese_tensor::Tensor;

use crate::error::{invalid, Result};

/// How a parameter tensor is filled at construction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// U(−a, a), a = √(6/(fan_in + fan_out)): Keras' default kernel initialiser.
    GlorotUniform,
    /// U(−a, a), a = √(6/fan_in).
    HeUniform,
    /// N(0, 2/fan_in), by Box–Muller.
    HeNormal,
    /// U(−a, a).
    Uniform(f32),
    /// Every element c.
    Constant(f32),
    /// Every element 0.
    Zeros,
}

/// (fan_in, fan_out) of a weight shape: [out, in] or [out, in, kh, kw]; a 1-D shape \[n\] has
/// fan_in = fan_out = n.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [n] => (*n, *n),
        [out, inp] => (*inp, *out),
        [out, inp, rest @ ..] => {
            let field: usize = rest.iter().product();
            (inp * field, out * field)
        }
        [] => (1, 1),
    }
}

impl Init {
    /// A tensor of `shape` filled by this initialiser.
    pub fn tensor<R: Rng + ?Sized>(self, shape: &[usize], rng: &mut R) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let (fan_in, fan_out) = fans(shape);
        if n == 0 || fan_in == 0 {
            return Err(invalid(
                "init",
                format!("cannot initialise shape {shape:?}"),
            ));
        }
        let uniform =
            |a: f32, rng: &mut R| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-a..=a)).collect() };
        let data = match self {
            Init::GlorotUniform => uniform((6.0 / (fan_in + fan_out) as f32).sqrt(), rng),
            Init::HeUniform => uniform((6.0 / fan_in as f32).sqrt(), rng),
            Init::Uniform(a) => uniform(a.abs(), rng),
            Init::HeNormal => {
                let std = (2.0 / fan_in as f64).sqrt();
                (0..n)
                    .map(|_| {
                        // Box–Muller: u1 ∈ (0, 1], u2 ∈ [0, 1)
                        let u1: f64 = 1.0 - rng.gen::<f64>();
                        let u2: f64 = rng.gen();
                        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                        (z * std) as f32
                    })
                    .collect()
            }
            Init::Constant(c) => vec![c; n],
            Init::Zeros => vec![0.0; n],
        };
        Ok(Tensor::from_vec(shape, data)?)
    }
}
