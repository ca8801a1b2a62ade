//! The GPU tests: every method of siamese-tensor's [`Backend`] on [`CudaBackend`] against
//! [`CpuBackend`] (the specification), and the whole device step of SN-LeNet-5 on the GPU
//! against the same step on the CPU backend, re-synced before each step. The comparison code
//! and its tolerances (one per output, relative to the tensor's largest value) live in
//! `parity/`, generic over the backend; `tests/mutation.rs` runs the same code against
//! deliberately wrong CPU backends on every machine, which proves it can fail.
//!
//! Beside the random shapes of each family (which include the output module's N = 257 and
//! N = 700, where the one-block kernels' loops turn more than once, and N = 0 for every op),
//! one fixed case reaches the other GPU-only path: an activation family and Adam on 17
//! million values, past 65,535 blocks × 256 threads, so the grid-stride loops turn twice.
//!
//! A custom harness (libtest-mimic): when no CUDA device can be opened, every test is
//! reported as `ignored` with the reason (the one-line error), also under `--include-ignored`,
//! so a CPU-only `cargo test --workspace -- --include-ignored` lists them without running or
//! passing them. With `SIAMESE_REQUIRE_GPU=1` (set by scripts/gpu-check.sh) a missing device
//! fails every test instead. Each test prints the largest |gpu − cpu| it saw.

mod parity;

use std::cell::RefCell;
use std::rc::Rc;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use parity::cases::{big, families};
use parity::mutant::{Mutant, Mutation};
use parity::step::device_step;
use siamese_cuda::CudaBackend;
use siamese_tensor::backend::Backend;

/// Values of the fixed grid-stride case: above 65,535 × 256 = 16,776,960.
const GRID_STRIDE_VALUES: usize = 17_000_000;

thread_local! {
    /// One backend for all tests (they run on one thread): NVRTC compiles the kernels once.
    static GPU: RefCell<Option<Rc<CudaBackend>>> = const { RefCell::new(None) };
}

fn gpu() -> Result<Rc<CudaBackend>, String> {
    GPU.with(|g| {
        if let Some(b) = g.borrow().as_ref() {
            return Ok(b.clone());
        }
        let b = Rc::new(CudaBackend::new(0).map_err(|e| e.to_string())?);
        *g.borrow_mut() = Some(b.clone());
        Ok(b)
    })
}

/// A GPU test: its seed in, the largest |gpu − cpu| or the first failure out.
type GpuTest = Box<dyn Fn(u64) -> Result<f32, String> + Send + Sync>;

fn tests() -> Vec<(String, &'static str, GpuTest)> {
    let mut out: Vec<(String, &'static str, GpuTest)> = families::<CudaBackend>()
        .into_iter()
        .map(|(name, what, f)| {
            let t: GpuTest = Box::new(move |seed| f(&*gpu()?, seed));
            (format!("gpu_{name}_matches_cpu"), what, t)
        })
        .collect();
    out.push((
        "gpu_grid_stride_loops_turn_twice".into(),
        "activations and adam on 17M values",
        Box::new(|seed| big(&*gpu()?, seed, GRID_STRIDE_VALUES)),
    ));
    out.push((
        "gpu_device_step_matches_cpu_backend".into(),
        "SN-LeNet-5 device step (5 re-synced steps, MNIST and CIFAR geometry) and scoring",
        Box::new(|seed| {
            let be = gpu()?;
            let make = || Ok(Mutant::new(be.clone(), Mutation::None));
            device_step(&make, seed, &[(1, 28, 64), (3, 32, 16)], 5)
        }),
    ));
    out
}

fn main() {
    let mut args = Arguments::from_args();
    // One GPU, one stream: the tests run one after another on the main thread (which also
    // lets them share one backend).
    args.test_threads = Some(1);
    let require = std::env::var("SIAMESE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    // Open the device once up front: its error is the reason every test is skipped.
    let unavailable = match gpu() {
        Ok(be) => {
            println!("GPU tests on {}", be.device_name());
            None
        }
        Err(e) => Some(e),
    };
    let trials = tests()
        .into_iter()
        .enumerate()
        .map(|(i, (name, what, f))| {
            let why = unavailable.clone();
            Trial::ignorable_test(name, move || match why {
                None => match f(0x5EED + i as u64) {
                    Ok(max) => {
                        println!("    {what}: max |gpu - cpu| = {max:.3e}");
                        Ok(Completion::Completed)
                    }
                    Err(e) => Err(Failed::from(e)),
                },
                Some(why) if require => Err(format!("SIAMESE_REQUIRE_GPU=1 but {why}").into()),
                Some(why) => Ok(Completion::Ignored {
                    reason: Some(format!("no GPU: {why}")),
                }),
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
