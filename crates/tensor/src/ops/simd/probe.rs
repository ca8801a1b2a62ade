//! The measurement behind the default [`Path`]: one thread's fp32 FMA throughput
//! on 512-bit vectors over that on 256-bit vectors. Each run is 12 independent
//! chains c ← c·a + b, enough to cover the FMA latency of two units, so its time is the
//! units' throughput; both widths run 5 times, alternately, and the fastest run of
//! each counts (a run slowed by another process does not decide). It is short enough to run at
//! every start-up (docs/performance.md, "Measurements behind the code's choices").
//! [`fma_chains`], the chains on one path, is also the per-thread probe of `siamese bench`'s
//! measured peak.

use super::{Lanes, Path};
use std::hint::black_box;
use std::time::Instant;

/// Independent accumulator chains per run (12 of 16 ymm / 32 zmm registers).
pub const CHAINS: usize = 12;
/// Iterations per run: 1.2 M vector FMAs, long enough to time, short enough for start-up.
const ITERS: usize = 100_000;
/// Timed runs per width.
const ROUNDS: usize = 5;

/// `iters` rounds of the `CHAINS` FMA chains on `V`; returns a sum of the chains so that
/// nothing is optimised away.
#[inline(always)]
fn chains<V: Lanes>(seed: f32, iters: usize) -> f32 {
    let (a, b) = (V::splat(1.000_000_1), V::splat(-0.000_000_1));
    let mut c = [V::splat(seed); CHAINS];
    for _ in 0..iters {
        for r in c.iter_mut() {
            *r = r.mul_add(a, b);
        }
    }
    let mut lanes = [0.0f32; 16];
    let mut sum = 0.0;
    for r in c {
        r.store(&mut lanes);
        sum += lanes[..V::N].iter().sum::<f32>();
    }
    sum
}

/// The FMA probe itself, also what `siamese bench` measures the machine's peak with:
/// [`CHAINS`] independent chains c ← c·a + b from c = `seed`, `iters` times, on the vectors of
/// `path` (16 lanes for `avx512`, 8 for the others; the portable path multiplies then adds, as
/// it assumes no FMA). That is `CHAINS · iters` vector operations of 2 FLOPs per lane.
/// Returns the sum of every lane of every chain (so nothing is optimised away). A path the CPU
/// lacks runs the portable code. Unlike the kernels' dispatch, it does not mark `path` taken.
pub fn fma_chains(path: Path, seed: f32, iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if path != Path::Portable && path.supported() {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(seed: f32, iters: usize) -> f32 {
            chains::<super::Avx2>(seed, iters)
        }
        #[target_feature(enable = "avx2,fma,avx512f")]
        fn avx512(seed: f32, iters: usize) -> f32 {
            chains::<super::Avx512>(seed, iters)
        }
        // SAFETY: `path.supported()` just checked that the CPU has every feature these two
        // functions are compiled with (AVX2 and FMA; AVX-512F for avx512).
        return unsafe {
            match path {
                Path::Avx512 => avx512(seed, iters),
                _ => avx2(seed, iters),
            }
        };
    }
    chains::<wide::f32x8>(seed, iters)
}

/// 512-bit over 256-bit FMA throughput of one thread (≈ 2 with two 512-bit FMA units per
/// core, ≈ 1 where 512-bit FMAs are split in two); 0 where the CPU lacks AVX-512F.
pub fn avx512_gain() -> f64 {
    if !Path::Avx512.supported() {
        return 0.0;
    }
    let time = |path: Path| {
        let t = Instant::now();
        black_box(fma_chains(path, black_box(0.5), ITERS));
        t.elapsed().as_secs_f64()
    };
    let (mut t256, mut t512) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        t256 = t256.min(time(Path::Avx2));
        t512 = t512.min(time(Path::Avx512));
    }
    // The same number of FMA instructions, each twice as wide: the gain is the speed-up.
    2.0 * t256 / t512
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_computes_the_same_chains() {
        // c ← c·a + b from 0.5: every path must agree with the portable chain per lane (the
        // same operations; FMA rounds once where the portable code rounds twice).
        let iters = 100_000;
        let per_lane = |p: Path, lanes: usize| fma_chains(p, 0.5, iters) / (lanes * CHAINS) as f32;
        let want = per_lane(Path::Portable, 8);
        for (p, lanes) in [(Path::Avx2, 8), (Path::Avx512vl, 8), (Path::Avx512, 16)] {
            if p.supported() {
                let got = per_lane(p, lanes);
                assert!(
                    (got - want).abs() <= 1e-3 * want.abs(),
                    "{p:?}: {got} vs {want}"
                );
            }
        }
    }
}
