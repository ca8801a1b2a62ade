//! Eight-lane f32 vectors and the runtime ISA dispatch every SIMD kernel of this crate uses.
//!
//! Kernels are written once, generic over `Lanes`, and instantiated twice:
//!
//! - [`wide::f32x8`]: portable, compiled for the baseline target (SSE2 on x86-64, NEON on
//!   aarch64), `mul_add` is a multiply then an add where FMA is not a compile-time feature;
//! - `Avx2` (x86-64 only): `__m256` with `vfmadd231ps`, reached only through an
//!   `#[target_feature(enable = "avx2,fma")]` entry point after [`avx2_fma`] returned true.
//!
//! A third entry point compiles the same `Avx2` body with AVX-512F/VL enabled, chosen when
//! [`avx512vl`] holds: still 8 lanes, but 32 ymm registers instead of 16.
//!
//! So one binary runs on any x86-64 and uses AVX2+FMA where the CPU has them. Setting the
//! environment variable `SIAMESE_PORTABLE_SIMD=1` forces the portable path (tests use it to
//! exercise both instantiations).

use std::sync::OnceLock;

/// An 8-lane f32 vector: the handful of operations the kernels need.
pub(crate) trait Lanes: Copy {
    /// True when 32 vector registers are available (AVX-512VL), so kernels may use register
    /// tiles of up to ~28 accumulators instead of ~12.
    const MANY_REGS: bool = false;
    /// All lanes `v`.
    fn splat(v: f32) -> Self;
    /// Lanes from the first eight values of `s` (panics if `s` is shorter: kernels slice first).
    fn load(s: &[f32]) -> Self;
    /// Writes the lanes to the first eight values of `s`.
    fn store(self, s: &mut [f32]);
    /// self · m + a (fused where the ISA has FMA).
    fn mul_add(self, m: Self, a: Self) -> Self;
}

impl Lanes for wide::f32x8 {
    #[inline(always)]
    fn splat(v: f32) -> Self {
        wide::f32x8::splat(v)
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        // Cannot fail: s[..8] is exactly 8 long; callers load only full 8-lane chunks (tails
        // go through the scalar path).
        let a: [f32; 8] = s[..8].try_into().expect("8 lanes");
        wide::f32x8::from(a)
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[..8].copy_from_slice(&wide::f32x8::to_array(self));
    }
    #[inline(always)]
    fn mul_add(self, m: Self, a: Self) -> Self {
        wide::f32x8::mul_add(self, m, a)
    }
}

/// `__m256` with FMA. Values of this type exist only inside functions compiled with
/// `#[target_feature(enable = "avx2,fma")]` that are called after [`avx2_fma`] returned true.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2<const MANY_REGS: bool = false>(std::arch::x86_64::__m256);

#[cfg(target_arch = "x86_64")]
impl<const R32: bool> Lanes for Avx2<R32> {
    const MANY_REGS: bool = R32;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        // SAFETY: Avx2 values are only built inside avx2+fma entry points reached after
        // runtime detection (see the type doc), so the CPU executes AVX instructions.
        Avx2(unsafe { std::arch::x86_64::_mm256_set1_ps(v) })
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        let s = &s[..8];
        // SAFETY: `s` holds 8 f32 (sliced above, so the unaligned 32-byte read is in bounds);
        // AVX is available (see the type doc).
        Avx2(unsafe { std::arch::x86_64::_mm256_loadu_ps(s.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        let s = &mut s[..8];
        // SAFETY: `s` holds 8 f32 (sliced above); AVX is available (see the type doc).
        unsafe { std::arch::x86_64::_mm256_storeu_ps(s.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn mul_add(self, m: Self, a: Self) -> Self {
        // SAFETY: FMA is available (see the type doc).
        Avx2(unsafe { std::arch::x86_64::_mm256_fmadd_ps(self.0, m.0, a.0) })
    }
}

/// True when the CPU has AVX2 and FMA and `SIAMESE_PORTABLE_SIMD` is not set to `1`
/// (checked once, then cached).
pub fn avx2_fma() -> bool {
    static FLAG: OnceLock<bool> = OnceLock::new();
    *FLAG.get_or_init(|| {
        let forced_portable = std::env::var("SIAMESE_PORTABLE_SIMD").is_ok_and(|v| v == "1");
        #[cfg(target_arch = "x86_64")]
        {
            !forced_portable
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = forced_portable;
            false
        }
    })
}

/// True when [`avx2_fma`] holds and the CPU also has AVX-512F and AVX-512VL, unless
/// `SIAMESE_NO_AVX512=1` (checked once, then cached).
pub fn avx512vl() -> bool {
    static FLAG: OnceLock<bool> = OnceLock::new();
    *FLAG.get_or_init(|| {
        let off = std::env::var("SIAMESE_NO_AVX512").is_ok_and(|v| v == "1");
        #[cfg(target_arch = "x86_64")]
        {
            !off && avx2_fma()
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = off;
            false
        }
    })
}

/// Defines `$name(args)` that calls `$body::<Avx2>(args)` through an avx2+fma entry point
/// when [`avx2_fma`] holds, else `$body::<wide::f32x8>(args)`.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident => $body:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)?) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn entry($($arg: $ty),*) $(-> $ret)? {
                    $body::<$crate::ops::simd::Avx2<false>>($($arg),*)
                }
                // Same __m256 code; AVX-512VL gives LLVM 32 ymm registers (no spills of the
                // 12-accumulator tiles) and EVEX encodings.
                #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn entry512($($arg: $ty),*) $(-> $ret)? {
                    $body::<$crate::ops::simd::Avx2<true>>($($arg),*)
                }
                if $crate::ops::simd::avx512vl() {
                    // SAFETY: avx512vl() checked at runtime that this CPU has AVX2, FMA,
                    // AVX-512F and AVX-512VL, the requirements of this entry point.
                    return unsafe { entry512($($arg),*) };
                }
                if $crate::ops::simd::avx2_fma() {
                    // SAFETY: avx2_fma() checked at runtime that this CPU has AVX2 and FMA,
                    // the only requirement of the target_feature entry point.
                    return unsafe { entry($($arg),*) };
                }
            }
            $body::<wide::f32x8>($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    fn dot<V: Lanes>(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = V::splat(0.0);
        for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
            acc = V::load(x).mul_add(V::load(y), acc);
        }
        let mut a = [0.0f32; 8];
        acc.store(&mut a);
        a.iter().sum()
    }
    simd_dispatch!(fn dot_dispatch => dot(a: &[f32], b: &[f32]) -> f32);

    #[test]
    fn both_instantiations_agree() {
        let a: Vec<f32> = (0..64).map(|i| i as f32 * 0.25).collect();
        let b: Vec<f32> = (0..64).map(|i| 1.0 - i as f32 * 0.5).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let p = dot::<wide::f32x8>(&a, &b);
        let d = dot_dispatch(&a, &b);
        assert!((p - want).abs() <= 1e-3 * want.abs(), "{p} vs {want}");
        assert!((d - want).abs() <= 1e-3 * want.abs(), "{d} vs {want}");
        if avx2_fma() {
            println!("avx2+fma path exercised");
        } else {
            println!("Skipping avx2 path, host does not have avx2+fma");
            assert!(
                std::env::var("SIAMESE_ENSURE_AVX2").is_err(),
                "avx2 required"
            );
        }
    }
}
