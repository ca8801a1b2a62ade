//! The machine's fp32 FMA peak, measured: each thread runs the library's FMA probe
//! ([`fma_chains`]), [`CHAINS`] independent chains of
//! fused multiply-adds c ← c·a + b on the widest vectors the CPU has (512-bit AVX-512F,
//! 256-bit AVX2+FMA, or 8-lane portable code), enough chains to cover the FMA latency of
//! every unit, so the time is the units' throughput. Each FMA is 2 FLOPs per lane.
//!
//! Both x86 widths are tried where the CPU has them and the faster one is the peak: a CPU
//! with two 512-bit FMA units per core doubles with 512-bit vectors, one whose 512-bit FMAs
//! are double-pumped (AMD Zen 4) does not.

use std::hint::black_box;
use std::time::Instant;

use siamese::tensor::ops::simd::probe::{fma_chains, CHAINS};
use siamese::tensor::ops::simd::Path;

/// Iterations of one timed run (each does CHAINS vector FMAs).
const ITERS: usize = 20_000_000;

/// One vector width's probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Avx512,
    Avx2,
    Portable,
}

impl Width {
    pub fn name(self) -> &'static str {
        match self {
            Width::Avx512 => "avx512",
            Width::Avx2 => "avx2+fma",
            Width::Portable => "portable",
        }
    }

    fn lanes(self) -> u64 {
        match self {
            Width::Avx512 => 16,
            Width::Avx2 | Width::Portable => 8,
        }
    }

    /// The widths this CPU can run.
    pub fn available() -> Vec<Width> {
        let mut w = Vec::new();
        if Path::Avx512.supported() {
            w.push(Width::Avx512);
        }
        if Path::Avx2.supported() {
            w.push(Width::Avx2);
        }
        if w.is_empty() {
            w.push(Width::Portable);
        }
        w
    }

    /// The library's FMA chains on this width ([`fma_chains`]).
    fn run(self, seed: f32, iters: usize) -> f32 {
        let path = match self {
            Width::Avx512 => Path::Avx512,
            Width::Avx2 => Path::Avx2,
            Width::Portable => Path::Portable,
        };
        fma_chains(path, seed, iters)
    }
}

/// GFLOP/s of `threads` threads each running the probe once (best of `reps` runs).
fn measure(width: Width, threads: usize, reps: usize) -> f64 {
    let flops = ITERS as f64 * CHAINS as f64 * width.lanes() as f64 * 2.0 * threads as f64;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|i| s.spawn(move || width.run(black_box(0.5 + i as f32), ITERS)))
                .collect();
            for h in hs {
                // A probe thread only does arithmetic; a panic there is a bug worth seeing.
                black_box(h.join().expect("FMA probe thread"));
            }
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    flops / best / 1e9
}

/// The measured peak of one thread count: the fastest width, its GFLOP/s, and every width's.
#[derive(Clone, Debug)]
pub struct Peak {
    pub width: Width,
    pub gflops: f64,
    pub by_width: Vec<(Width, f64)>,
}

/// Measures every available width on `threads` threads (best of 3 runs each).
pub fn probe(threads: usize) -> Peak {
    let by_width: Vec<(Width, f64)> = Width::available()
        .into_iter()
        .map(|w| (w, measure(w, threads.max(1), 3)))
        .collect();
    let &(width, gflops) = by_width
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(&(Width::Portable, f64::NAN));
    Peak {
        width,
        gflops,
        by_width,
    }
}
