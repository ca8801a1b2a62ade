//! The comparison code of the GPU tests, generic over the backend under test: each kernel
//! case and the device step run on any [`Backend`] and are held to [`CpuBackend`] (the
//! specification) with a tolerance per output that says what "close" means for it.
//!
//! Two test binaries share this module: `tests/gpu.rs` runs it with the CUDA backend (when a
//! device opens), `tests/mutation.rs` runs it on every machine against deliberately wrong CPU
//! backends ([`mutant::Mutant`]) to prove that it reports a failure for every op. Each binary
//! uses a part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod cases;
pub mod empty;
pub mod mutant;
pub mod step;

use siamese_tensor::backend::{BResult, Backend};
use siamese_tensor::CpuBackend;

/// What "close" means for one output, always against the CPU's value c of the same element
/// and the tensor's largest magnitude M = max|c| (never a `1 +` floor: a tensor of small
/// values is held to its own scale).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tol {
    /// Bit for bit (copies, indices, max-pool, ReLU, scaling by ¼).
    Exact,
    /// |dev − c| ≤ rel·M.
    Rel(f32),
    /// |dev − c| ≤ rel·M + abs: only for a value that is a cancelling sum, whose M can be
    /// far below the terms it is the sum of (the reason is written where it is used).
    Floor { rel: f32, abs: f32 },
    /// ‖dev − c‖₂ ≤ norm·‖c‖₂ and |dev − c| ≤ elem·M: for a composite result (a gradient
    /// after a whole forward and backward), where a correct device's last-bit differences
    /// can flip a max-pool choice or a ReLU mask near a tie and so move a few values by a
    /// whole term, while any error of the computation moves the whole tensor.
    Norm { norm: f32, elem: f32 },
}

/// A few correctly rounded f32 operations per value, or a sum kept in f64 and rounded once:
/// both sides land within a few ulp (2⁻²³·M each) of the same number; 2e-6·M is about 16 ulp
/// of M, room for operations in another order (`tests/mutation.rs` checks that 2 ulps of
/// noise on every value pass and that 8 would fail at 1e-6).
pub const ROUNDING: Tol = Tol::Rel(2e-6);
/// f32 transcendentals (CUDA's tanhf/expf are within 2 ulp, the CPU's libm within 1) and
/// the few roundings computed from them, e.g. 1 − y² of tanh's backward (y near 1
/// doubles y's error).
pub const TRANSCENDENTAL: Tol = Tol::Rel(4e-6);
/// An f32 sum of up to about a thousand products, in another order on each side (the
/// kernels' loops or cuBLAS against the CPU's blocked GEMM and SIMD lanes). Rounding error
/// grows like u·√k of the sum's scale in practice (k terms, u = 6e-8: 2e-6 at k = 1000);
/// 1e-4·M leaves room for the worst orders while a 1% error stays 100 times above it.
pub const F32_SUM: Tol = Tol::Rel(1e-4);
/// Adam's Δθ, Δm, Δv (the values after the update minus before, on the host): the update's
/// few roundings plus one ulp of the stored θ, m or v, which the cases' magnitudes keep
/// below 1e-6 of the largest delta (see `cases::adam`).
pub const ADAM_DELTA: Tol = Tol::Rel(1e-5);

/// One output of a case: its name, its values and its tolerance.
pub type Out = (&'static str, Vec<f32>, Tol);

/// A kernel test: host inputs, and the calls under test on any backend.
pub trait Case {
    /// The case's sizes, for a failure message.
    fn shape(&self) -> String;
    /// Uploads the inputs to `be`, runs the methods under test, downloads every output.
    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>>;
}

/// Checks `dev` against `cpu` under `tol`; the largest |dev − cpu| on success, the first
/// element out of tolerance on failure. NaN matches NaN only.
pub fn compare(what: &str, dev: &[f32], cpu: &[f32], tol: Tol) -> Result<f32, String> {
    if dev.len() != cpu.len() {
        return Err(format!(
            "{what}: {} values on the device, {} on the CPU",
            dev.len(),
            cpu.len()
        ));
    }
    let scale = cpu
        .iter()
        .filter(|c| c.is_finite())
        .fold(0f32, |m, c| m.max(c.abs()));
    let (bound, how) = match tol {
        Tol::Exact => (0.0, "exactly".to_string()),
        Tol::Rel(r) => (r * scale, format!("{r:e}·max|cpu| = {:e}", r * scale)),
        Tol::Norm { elem, .. } => (
            elem * scale,
            format!("{elem:e}·max|cpu| = {:e}", elem * scale),
        ),
        Tol::Floor { rel, abs } => (
            rel * scale + abs,
            format!("{rel:e}·max|cpu| + {abs:e} = {:e}", rel * scale + abs),
        ),
    };
    let mut max = 0f32;
    for (i, (d, c)) in dev.iter().zip(cpu).enumerate() {
        if d.is_nan() && c.is_nan() {
            continue;
        }
        let diff = if d == c { 0.0 } else { (d - c).abs() };
        if diff.is_nan() || diff > bound {
            return Err(format!(
                "{what}[{i}]: device {d:e} vs cpu {c:e}, |diff| {diff:e} (tolerance {how})"
            ));
        }
        max = max.max(diff);
    }
    if let Tol::Norm { norm, .. } = tol {
        let sq =
            |it: &mut dyn Iterator<Item = f32>| it.map(|v| (v as f64).powi(2)).sum::<f64>().sqrt();
        let diff = sq(&mut dev.iter().zip(cpu).map(|(d, c)| d - c));
        let size = sq(&mut cpu.iter().copied());
        if diff.is_nan() || diff > norm as f64 * size {
            return Err(format!(
                "{what}: ‖device − cpu‖₂ = {diff:e} > {norm:e}·‖cpu‖₂ = {:e}",
                norm as f64 * size
            ));
        }
    }
    Ok(max)
}

/// Runs `case` on `dev` and on the CPU and compares every output; the largest |dev − cpu|.
pub fn check_case<D: Backend>(dev: &D, case: &impl Case) -> Result<f32, String> {
    let err = |e: siamese_tensor::backend::BackendError| format!("{}: {e}", case.shape());
    let d = case.run(dev).map_err(err)?;
    let c = case.run(&CpuBackend).map_err(err)?;
    let mut max = 0f32;
    for ((name, dv, tol), (_, cv, _)) in d.iter().zip(&c) {
        max = max.max(compare(&format!("{}: {name}", case.shape()), dv, cv, *tol)?);
    }
    Ok(max)
}
