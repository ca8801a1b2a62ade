//! The measurement behind the default [`Path`](super::Path): one thread's fp32 FMA throughput
//! on 512-bit vectors over that on 256-bit vectors. Each run is 12 independent
//! chains c ← c·a + b, enough to cover the FMA latency of two units, so its time is the
//! units' throughput; both widths run 5 times, alternately, and the fastest run of
//! each counts (a run slowed by another process does not decide). About 2 ms in all.

use super::Lanes;
use std::hint::black_box;
use std::time::Instant;

/// Independent accumulator chains per run (12 of 16 ymm / 32 zmm registers).
const CHAINS: usize = 12;
/// Iterations per run: 1.2 M vector FMAs, 0.1 to 0.3 ms.
const ITERS: usize = 100_000;
/// Timed runs per width.
const ROUNDS: usize = 5;

/// `ITERS` rounds of the `CHAINS` FMA chains on `V`; returns a sum of the chains so that
/// nothing is optimised away.
#[inline(always)]
fn chains<V: Lanes>(seed: f32) -> f32 {
    let (a, b) = (V::splat(1.000_000_1), V::splat(-0.000_000_1));
    let mut c = [V::splat(seed); CHAINS];
    for _ in 0..ITERS {
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

/// 512-bit over 256-bit FMA throughput of one thread (≈ 2 with two 512-bit FMA units per
/// core, ≈ 1 where 512-bit FMAs are split in two); 0 where the CPU lacks AVX-512F.
pub fn avx512_gain() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if super::Path::Avx512.supported() {
        #[target_feature(enable = "avx2,fma")]
        fn run256(seed: f32) -> f32 {
            chains::<super::Avx2>(seed)
        }
        #[target_feature(enable = "avx2,fma,avx512f")]
        fn run512(seed: f32) -> f32 {
            chains::<super::Avx512>(seed)
        }
        let time = |f: &dyn Fn() -> f32| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64()
        };
        let (mut t256, mut t512) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..ROUNDS {
            // SAFETY: Path::Avx512.supported() checked above that the CPU has AVX2, FMA and
            // AVX-512F, every feature these two functions are compiled with.
            t256 = t256.min(time(&|| unsafe { run256(black_box(0.5)) }));
            // SAFETY: as above.
            t512 = t512.min(time(&|| unsafe { run512(black_box(0.5)) }));
        }
        // The same number of FMA instructions, each twice as wide: the gain is the speed-up.
        return 2.0 * t256 / t512;
    }
    0.0
}
