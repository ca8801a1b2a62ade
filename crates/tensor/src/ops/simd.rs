//! f32 vectors and the runtime ISA dispatch every SIMD kernel of this crate uses.
//!
//! Kernels are written once, generic over `Lanes` (N lanes, N = 8 or 16), and instantiated
//! per [`Path`]:
//!
//! | path | vector | registers | the CPU needs |
//! |---|---|---|---|
//! | `portable` | [`wide::f32x8`], baseline target (SSE2 / NEON), no FMA | 16 | nothing |
//! | `avx2` | `Avx2<false>`: `__m256`, `vfmadd231ps` | 16 ymm | AVX2, FMA |
//! | `avx512vl` | `Avx2<true>`: the same `__m256` code compiled with AVX-512F/VL | 32 ymm | + AVX-512F, VL |
//! | `avx512` | `Avx512`: `__m512`, 16 lanes | 32 zmm | AVX2, FMA, AVX-512F |
//!
//! Each x86 instantiation is reached only through a `#[target_feature]` entry point that
//! `simd_dispatch!` calls after checking that the CPU has the path's features.
//!
//! **Which path** (once per process, named by [`kernel_path`]): `SIAMESE_SIMD=portable`,
//! `avx2`, `avx512vl` or `avx512` forces one (the best the CPU has at or below it, if it lacks
//! the one named); `SIAMESE_PORTABLE_SIMD=1` means `portable` and `SIAMESE_NO_AVX512=1`
//! means `avx2`. Otherwise the best the CPU has, where `avx512` is taken only if a short probe
//! ([`probe`]) measures one thread's 512-bit FMA throughput at ≥ [`AVX512_MIN_GAIN`]× its
//! 256-bit one: a core with two 512-bit FMA units (Intel Xeon) doubles, one that splits each
//! 512-bit FMA into two 256-bit halves (AMD Zen 4) does not, and there `avx512vl` wins.
//!
//! [`with_path`] runs a closure with this thread's kernels on one path: every op reads its
//! path ([`path`]) once on the calling thread, before its parallel region, and hands it to
//! its workers, so the tests run each kernel on every path the CPU has in one process.
//! Results may differ between paths within rounding (other FMA groupings and lane counts);
//! on one path they do not depend on the thread count.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

pub mod probe;

/// An f32 vector of `N` lanes: the handful of operations the kernels need.
pub(crate) trait Lanes: Copy {
    /// Lanes per vector.
    const N: usize;
    /// True when 32 vector registers are available (AVX-512), so kernels may use register
    /// tiles of up to ~28 accumulators instead of ~12.
    const MANY_REGS: bool = false;
    /// All lanes `v`.
    fn splat(v: f32) -> Self;
    /// Lanes from the first `N` values of `s` (panics if `s` is shorter: kernels slice first).
    fn load(s: &[f32]) -> Self;
    /// Writes the lanes to the first `N` values of `s`.
    fn store(self, s: &mut [f32]);
    /// self · m + a (fused where the ISA has FMA).
    fn mul_add(self, m: Self, a: Self) -> Self;
}

impl Lanes for wide::f32x8 {
    const N: usize = 8;
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
/// `#[target_feature(enable = "avx2,fma")]` (or more) that are called after the CPU was
/// found to have those features ([`Path::supported`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2<const MANY_REGS: bool = false>(std::arch::x86_64::__m256);

#[cfg(target_arch = "x86_64")]
impl<const R32: bool> Lanes for Avx2<R32> {
    const N: usize = 8;
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

/// `__m512`, 16 lanes. Values of this type exist only inside functions compiled with
/// `#[target_feature(enable = "avx2,fma,avx512f")]` that are called after the CPU was found to
/// have AVX-512F ([`Path::supported`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512(std::arch::x86_64::__m512);

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx512 {
    const N: usize = 16;
    const MANY_REGS: bool = true;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        // SAFETY: Avx512 values are only built inside avx512f entry points reached after
        // runtime detection (see the type doc).
        Avx512(unsafe { std::arch::x86_64::_mm512_set1_ps(v) })
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        let s = &s[..16];
        // SAFETY: `s` holds 16 f32 (sliced above, so the unaligned 64-byte read is in
        // bounds); AVX-512F is available (see the type doc).
        Avx512(unsafe { std::arch::x86_64::_mm512_loadu_ps(s.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        let s = &mut s[..16];
        // SAFETY: `s` holds 16 f32 (sliced above); AVX-512F is available (see the type doc).
        unsafe { std::arch::x86_64::_mm512_storeu_ps(s.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn mul_add(self, m: Self, a: Self) -> Self {
        // SAFETY: AVX-512F is available (see the type doc).
        Avx512(unsafe { std::arch::x86_64::_mm512_fmadd_ps(self.0, m.0, a.0) })
    }
}

/// One instantiation of the SIMD kernels (see the module doc's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Path {
    Portable,
    Avx2,
    Avx512vl,
    Avx512,
}

/// The gain of 512-bit over 256-bit FMA throughput (one thread, [`probe`]) from which the
/// default path is `avx512`: two 512-bit FMA units per core double the throughput, one split
/// unit does not; the threshold lies between (docs/performance.md, "Measurements behind the
/// code's choices").
pub const AVX512_MIN_GAIN: f64 = 1.4;

static TAKEN: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];

thread_local! {
    static FORCED: Cell<Option<Path>> = const { Cell::new(None) };
}

impl Path {
    /// Every path, narrowest first.
    pub const ALL: [Path; 4] = [Path::Portable, Path::Avx2, Path::Avx512vl, Path::Avx512];

    /// The name `SIAMESE_SIMD` takes.
    pub fn name(self) -> &'static str {
        match self {
            Path::Portable => "portable",
            Path::Avx2 => "avx2",
            Path::Avx512vl => "avx512vl",
            Path::Avx512 => "avx512",
        }
    }

    /// The path called `name` (as [`Path::name`] writes it).
    pub fn from_name(name: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == name)
    }

    /// f32 lanes per vector.
    pub fn lanes(self) -> usize {
        match self {
            Path::Avx512 => 16,
            _ => 8,
        }
    }

    /// Whether this CPU can run the path (std caches the feature detection).
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::is_x86_feature_detected as has;
            let avx2 = || has!("avx2") && has!("fma");
            match self {
                Path::Portable => true,
                Path::Avx2 => avx2(),
                Path::Avx512vl => avx2() && has!("avx512f") && has!("avx512vl"),
                Path::Avx512 => avx2() && has!("avx512f"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Path::Portable
        }
    }

    /// The paths this CPU can run, narrowest first.
    pub fn available() -> Vec<Path> {
        Path::ALL.into_iter().filter(|p| p.supported()).collect()
    }

    /// The widest supported path at or below `self`.
    fn at_most(self) -> Path {
        Path::ALL
            .into_iter()
            .rev()
            .find(|&p| p <= self && p.supported())
            .unwrap_or(Path::Portable)
    }

    /// Whether a kernel of this process ran on this path (tests: a path a test meant to
    /// exercise was not silently skipped).
    pub fn taken(self) -> bool {
        TAKEN[self as usize].load(Ordering::Relaxed)
    }

    /// Records that a kernel runs on this path: after the first call, one load of a line
    /// that stays shared in every core's cache.
    #[doc(hidden)]
    #[inline(always)]
    pub fn mark_taken(self) {
        let t = &TAKEN[self as usize];
        if !t.load(Ordering::Relaxed) {
            t.store(true, Ordering::Relaxed);
        }
    }
}

/// The process-wide choice and why it was made.
struct Choice {
    path: Path,
    described: String,
}

fn choice() -> &'static Choice {
    static CHOICE: OnceLock<Choice> = OnceLock::new();
    CHOICE.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok();
        let (path, why) = choose(
            var("SIAMESE_SIMD").as_deref(),
            var("SIAMESE_PORTABLE_SIMD").as_deref() == Some("1"),
            var("SIAMESE_NO_AVX512").as_deref() == Some("1"),
            probe::avx512_gain,
        );
        Choice {
            path,
            described: format!("{} ({why})", path.name()),
        }
    })
}

/// The path for the environment's settings (`simd`: `SIAMESE_SIMD`; `portable`, `no512`: the
/// two older switches set to 1) on this CPU, and why; `gain` measures 512-bit over 256-bit
/// FMA throughput, called only where the rule needs it.
fn choose(
    simd: Option<&str>, portable: bool, no512: bool, gain: impl FnOnce() -> f64,
) -> (Path, String) {
    let mut note = String::new();
    if let Some(v) = simd {
        match Path::from_name(v) {
            Some(p) if p.supported() => return (p, format!("SIAMESE_SIMD={v}")),
            Some(p) => {
                let q = p.at_most();
                return (q, format!("SIAMESE_SIMD={v}, which this CPU lacks"));
            }
            None => note = format!("SIAMESE_SIMD={v:?} is not portable|avx2|avx512vl|avx512; "),
        }
    }
    if portable {
        return (Path::Portable, format!("{note}SIAMESE_PORTABLE_SIMD=1"));
    }
    if no512 {
        return (Path::Avx2.at_most(), format!("{note}SIAMESE_NO_AVX512=1"));
    }
    if !Path::Avx512.supported() {
        let p = Path::Avx512vl.at_most();
        return (p, format!("{note}the widest this CPU has"));
    }
    let g = gain();
    let p = if g >= AVX512_MIN_GAIN {
        Path::Avx512
    } else {
        Path::Avx512vl.at_most()
    };
    let why = format!(
        "{note}512-bit FMAs measured at {g:.2}x the 256-bit ones, threshold {AVX512_MIN_GAIN}"
    );
    (p, why)
}

/// The path this thread's kernels run on: [`with_path`]'s, else the process-wide choice.
pub fn path() -> Path {
    FORCED.get().unwrap_or_else(|| choice().path)
}

/// The process-wide path and why it was chosen, e.g. `avx512vl (512-bit FMAs measured at
/// 1.01x the 256-bit ones, threshold 1.4)`; what `siamese bench` prints as "kernels".
pub fn kernel_path() -> &'static str {
    &choice().described
}

/// Runs `f` with the kernels it calls on this thread on path `p` (and the parallel regions
/// those kernels open: each reads its path here, before forking); None, without running
/// `f`, if the CPU cannot run `p`.
pub fn with_path<R>(p: Path, f: impl FnOnce() -> R) -> Option<R> {
    if !p.supported() {
        return None;
    }
    struct Restore(Option<Path>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.set(self.0);
        }
    }
    let _restore = Restore(FORCED.replace(Some(p)));
    Some(f())
}

/// Defines `$name(path, args)` that runs `$body::<V>(args)` with `V` the vector type of
/// `path`, through a `#[target_feature]` entry point on x86-64; a path the CPU cannot run
/// (never produced by [`path`]) takes the portable instantiation.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident => $body:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)?) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name(path: $crate::ops::simd::Path, $($arg: $ty),*) $(-> $ret)? {
            use $crate::ops::simd::Path;
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body::<$crate::ops::simd::Avx2<false>>($($arg),*)
                }
                // Same __m256 code; AVX-512VL gives LLVM 32 ymm registers (no spills of the
                // 12-accumulator tiles) and EVEX encodings.
                #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512vl($($arg: $ty),*) $(-> $ret)? {
                    $body::<$crate::ops::simd::Avx2<true>>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma,avx512f")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $body::<$crate::ops::simd::Avx512>($($arg),*)
                }
                if path != Path::Portable && path.supported() {
                    path.mark_taken();
                    // SAFETY: `path.supported()` just checked at runtime that this CPU has
                    // every feature the entry point of `path` is compiled with (AVX2 and FMA;
                    // AVX-512F for avx512; AVX-512F and VL for avx512vl).
                    unsafe {
                        return match path {
                            Path::Avx512 => avx512($($arg),*),
                            Path::Avx512vl => avx512vl($($arg),*),
                            _ => avx2($($arg),*),
                        };
                    }
                }
            }
            let _ = path;
            Path::Portable.mark_taken();
            $body::<wide::f32x8>($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

#[cfg(test)]
mod tests;
