//! The machine's fp32 FMA peak, measured: each thread runs [`CHAINS`] independent chains of
//! fused multiply-adds c ← c·a + b on the widest vectors the CPU has (512-bit AVX-512F,
//! 256-bit AVX2+FMA, or 8-lane portable code), enough chains to cover the FMA latency of
//! every unit, so the time is the units' throughput. Each FMA is 2 FLOPs per lane.
//!
//! Both x86 widths are tried where the CPU has them and the faster one is the peak: a CPU
//! with two 512-bit FMA units per core doubles with 512-bit vectors, one whose 512-bit FMAs
//! are double-pumped (AMD Zen 4) does not.

use std::hint::black_box;
use std::time::Instant;

/// Independent accumulator chains per thread (registers: 12 of 16 ymm / 32 zmm).
const CHAINS: usize = 12;
/// Iterations of one timed run (each does CHAINS vector FMAs).
const ITERS: u64 = 20_000_000;

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
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                w.push(Width::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                w.push(Width::Avx2);
            }
        }
        if w.is_empty() {
            w.push(Width::Portable);
        }
        w
    }

    fn run(self, seed: f32, iters: u64) -> f32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available()` listed this width only after detecting AVX-512F.
            Width::Avx512 => unsafe { chains_avx512(seed, iters) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available()` listed this width only after detecting AVX2 and FMA.
            Width::Avx2 => unsafe { chains_avx2(seed, iters) },
            _ => chains_portable(seed, iters),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn chains_avx512(seed: f32, iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(1.000_000_1);
    let b = _mm512_set1_ps(-0.000_000_1);
    let mut c = [_mm512_set1_ps(seed); CHAINS];
    for _ in 0..iters {
        for r in c.iter_mut() {
            *r = _mm512_fmadd_ps(*r, a, b);
        }
    }
    c.iter().map(|&r| _mm512_reduce_add_ps(r)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chains_avx2(seed: f32, iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(1.000_000_1);
    let b = _mm256_set1_ps(-0.000_000_1);
    let mut c = [_mm256_set1_ps(seed); CHAINS];
    for _ in 0..iters {
        for r in c.iter_mut() {
            *r = _mm256_fmadd_ps(*r, a, b);
        }
    }
    let mut out = [0.0f32; 8];
    let mut s = _mm256_setzero_ps();
    for r in c {
        s = _mm256_add_ps(s, r);
    }
    // SAFETY: `out` holds 8 f32, what one unaligned 256-bit store writes.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// 8-lane arrays, multiply then add (no FMA assumed: `mul_add` would call a software fmaf),
/// for other CPUs.
fn chains_portable(seed: f32, iters: u64) -> f32 {
    let (a, b) = (1.000_000_1f32, -0.000_000_1f32);
    let mut c = [[seed; 8]; CHAINS];
    for _ in 0..iters {
        for r in c.iter_mut() {
            for l in r.iter_mut() {
                *l = *l * a + b;
            }
        }
    }
    c.iter().flatten().sum()
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

#[cfg(test)]
mod tests {
    // Unused where benches/kernels.rs includes this file: a harness-less bench is built
    // with cfg(test) but without its #[test] functions.
    #[allow(unused_imports)]
    use super::*;

    #[test]
    fn every_width_computes_the_same_chains() {
        // c ← c·a + b from 0.5: every width must agree with the portable chain (the same
        // operations per lane; FMA rounds once where the portable code rounds twice).
        let iters = 100_000;
        let want = chains_portable(0.5, iters) / (8 * CHAINS) as f32;
        for w in Width::available() {
            let got = w.run(0.5, iters) / (w.lanes() as usize * CHAINS) as f32;
            assert!(
                (got - want).abs() <= 1e-3 * want.abs(),
                "{w:?}: {got} vs {want}"
            );
        }
    }
}
