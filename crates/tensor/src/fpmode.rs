//! Subnormal floats: flushed to zero on every thread that runs our kernels, by default.
//!
//! A subnormal (denormal) f32 is a value below the smallest normal magnitude 2⁻¹²⁶ ≈ 1.18e-38,
//! stored with fewer significant bits. x86-64 and many Arm cores compute with them on a slow
//! microcode path, tens of times slower per operation. Late in training they are common: as
//! the loss falls, gradients g shrink and Adam's second moment v ← β₂·v + (1 − β₂)·g² and the
//! backward of saturated tanh/sigmoid units underflow into that range, and on some CPUs the
//! main job slows down as training goes on (docs/performance.md, "Subnormal floats" and
//! "Measurements behind the code's choices").
//!
//! The numeric choice made here, documented in docs/equations.md:
//!
//! - **flush-to-zero (FTZ)**: a result that would be subnormal is written as ±0;
//! - **denormals-are-zero (DAZ)**: a subnormal operand is read as ±0.
//!
//! On x86-64 both are bits of the SSE/AVX control register MXCSR (FTZ bit 15, DAZ bit 6),
//! which governs every SSE, AVX and AVX-512 instruction the kernels and matrixmultiply use; on
//! aarch64, FPCR.FZ (bit 24) does both for single precision. The register is per thread, so
//! the mode is set on each thread that computes: the thread that calls the library, every
//! rayon worker (through the pool's start handler, or [`apply_to_pool`] for a pool built
//! elsewhere) and the data prefetch thread. Elsewhere [`set_current_thread`] does nothing.
//!
//! The effect on the numbers: any value below 1.18e-38 becomes 0. Such values are at least
//! 10³⁰ times smaller than the weights and activations they are added to, so no metric
//! changes (checked on training runs: docs/performance.md), and
//! every determinism promise holds because the mode is the same on every thread: results stay
//! bit-identical for 1 and 2 threads and across an exact resume.
//!
//! Strict IEEE 754 arithmetic (gradual underflow) is one switch away: the environment
//! variable `SIAMESE_IEEE_SUBNORMALS=1`, the CLI's `--ieee-subnormals`, or
//! [`set_ieee_subnormals`]`(true)` before the work starts.

use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that turns flushing off (`1`, `true` or `yes`).
pub const IEEE_ENV: &str = "SIAMESE_IEEE_SUBNORMALS";

/// 0: not decided yet (read [`IEEE_ENV`] on first use); 1: flush; 2: strict IEEE.
static POLICY: AtomicU8 = AtomicU8::new(0);

/// Chooses strict IEEE subnormals (`true`) or flush-to-zero (`false`, the default) for the
/// threads set up from now on ([`set_current_thread`], [`apply_to_pool`], [`pool_builder`]).
pub fn set_ieee_subnormals(ieee: bool) {
    POLICY.store(if ieee { 2 } else { 1 }, Ordering::SeqCst);
}

/// Whether the process policy is to flush subnormals: [`set_ieee_subnormals`] if called, else
/// flush unless [`IEEE_ENV`] says `1`, `true` or `yes`.
pub fn flush_policy() -> bool {
    match POLICY.load(Ordering::SeqCst) {
        1 => true,
        2 => false,
        _ => {
            let ieee = std::env::var(IEEE_ENV)
                .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
                .unwrap_or(false);
            set_ieee_subnormals(ieee);
            !ieee
        }
    }
}

/// Sets this thread's mode to the process policy ([`flush_policy`]).
pub fn set_current_thread() {
    set_flush(flush_policy());
}

/// Sets this thread's mode to the process policy, then every thread of the current rayon pool
/// (the global pool when called from outside any pool). Cheap enough to call at the start of
/// each training run or evaluation.
pub fn apply_to_pool() {
    let flush = flush_policy();
    set_flush(flush);
    rayon::broadcast(|_| set_flush(flush));
}

/// A rayon pool builder whose threads set the process policy as they start.
pub fn pool_builder() -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new().start_handler(|_| set_current_thread())
}

/// Builds rayon's global pool with `threads` threads (rayon's default when `None`), each
/// starting in the policy's mode, and sets the calling thread too. When the global pool
/// already exists (built by someone else), its threads are switched with [`apply_to_pool`]
/// instead of failing; the error is the system's when the threads cannot be started.
pub fn init_global_pool(threads: Option<usize>) -> Result<(), String> {
    use std::error::Error;
    let mut b = pool_builder();
    if let Some(t) = threads {
        b = b.num_threads(t);
    }
    set_current_thread();
    match b.build_global() {
        Ok(()) => Ok(()),
        // rayon gives a source only for the I/O error of starting a thread.
        Err(e) if e.source().is_some() => Err(e.to_string()),
        Err(_) => {
            apply_to_pool();
            Ok(())
        }
    }
}

/// Whether this thread flushes subnormals now (both FTZ and DAZ on x86-64, FZ on aarch64);
/// `false` on other architectures, where nothing is changed.
pub fn current_thread_flushes() -> bool {
    imp::flushes()
}

/// Runs `f` with this thread's mode set to `flush`, then restores the previous mode: for tests
/// that compare a kernel with its reference under the same mode.
pub fn with_flush<T>(flush: bool, f: impl FnOnce() -> T) -> T {
    let before = current_thread_flushes();
    set_flush(flush);
    let out = f();
    set_flush(before);
    out
}

/// Turns flushing on or off on this thread only.
pub fn set_flush(flush: bool) {
    imp::set(flush);
}

/// Whether `x` is subnormal (non-zero and below the smallest normal magnitude).
pub fn is_subnormal(x: f32) -> bool {
    x != 0.0 && x.abs() < f32::MIN_POSITIVE
}

#[cfg(target_arch = "x86_64")]
mod imp {
    /// MXCSR's flush-to-zero bit.
    const FTZ: u32 = 1 << 15;
    /// MXCSR's denormals-are-zero bit.
    const DAZ: u32 = 1 << 6;

    fn read() -> u32 {
        let mut csr = 0u32;
        // SAFETY: `stmxcsr m32` stores the 32-bit MXCSR to the address given, which points at
        // `csr`, a live, aligned, writable local u32; it reads no memory and changes no flags.
        // SSE (and so MXCSR) is part of the x86-64 baseline.
        unsafe {
            core::arch::asm!("stmxcsr [{}]", in(reg) &mut csr as *mut u32,
                options(nostack, preserves_flags));
        }
        csr
    }

    fn write(csr: u32) {
        // SAFETY: `ldmxcsr m32` loads MXCSR from `csr`, a live, aligned local u32. The value is
        // the register as just read with only FTZ and DAZ changed, so no reserved bit is set
        // (which would fault); DAZ is supported by every x86-64 CPU (SSE2+). The change alters
        // only how this thread rounds subnormal results and reads subnormal operands — never
        // memory safety. (LLVM assumes the default FP environment when it constant-folds; a
        // folded operation may then keep a subnormal that the hardware would flush, a
        // numeric difference of less than 1.2e-38, not undefined behaviour in memory.)
        unsafe {
            core::arch::asm!("ldmxcsr [{}]", in(reg) &csr as *const u32,
                options(nostack, readonly, preserves_flags));
        }
    }

    pub fn flushes() -> bool {
        read() & (FTZ | DAZ) == FTZ | DAZ
    }

    pub fn set(flush: bool) {
        let csr = read();
        let next = if flush {
            csr | FTZ | DAZ
        } else {
            csr & !(FTZ | DAZ)
        };
        if next != csr {
            write(next);
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    /// FPCR.FZ: flush single-precision subnormal inputs and outputs to zero.
    const FZ: u64 = 1 << 24;

    fn read() -> u64 {
        let v: u64;
        // SAFETY: `mrs` copies the FPCR system register (readable at EL0) into a general
        // register; no memory is touched.
        unsafe {
            core::arch::asm!("mrs {}, fpcr", out(reg) v, options(nomem, nostack, preserves_flags));
        }
        v
    }

    pub fn flushes() -> bool {
        read() & FZ != 0
    }

    pub fn set(flush: bool) {
        let v = read();
        let next = if flush { v | FZ } else { v & !FZ };
        if next != v {
            // SAFETY: `msr fpcr` (writable at EL0) with the register as just read and only FZ
            // changed: it alters how this thread treats subnormal floats, never memory.
            unsafe {
                core::arch::asm!("msr fpcr, {}", in(reg) next,
                    options(nomem, nostack, preserves_flags));
            }
        }
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    pub fn flushes() -> bool {
        false
    }

    pub fn set(_flush: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// 1e-30 · 1e-10 = 1e-40, subnormal in IEEE arithmetic, 0 when flushed.
    fn underflowing_product() -> f32 {
        black_box(1e-30f32) * black_box(1e-10f32)
    }

    #[test]
    fn flush_turns_a_subnormal_product_into_zero_and_back() {
        if cfg!(not(any(target_arch = "x86_64", target_arch = "aarch64"))) {
            return;
        }
        with_flush(false, || {
            assert!(!current_thread_flushes());
            assert!(is_subnormal(underflowing_product()));
        });
        with_flush(true, || {
            assert!(current_thread_flushes());
            assert_eq!(underflowing_product(), 0.0);
            // DAZ (x86-64) / FZ (aarch64): a subnormal operand reads as zero.
            let sub = black_box(f32::from_bits(1));
            assert_eq!(sub * black_box(2.0f32), 0.0);
        });
    }

    #[test]
    fn with_flush_restores_the_previous_mode() {
        let before = current_thread_flushes();
        with_flush(!before, || ());
        assert_eq!(current_thread_flushes(), before);
    }

    #[test]
    fn is_subnormal_knows_the_boundary() {
        assert!(is_subnormal(f32::MIN_POSITIVE / 2.0));
        assert!(is_subnormal(-f32::from_bits(1)));
        assert!(!is_subnormal(f32::MIN_POSITIVE));
        assert!(!is_subnormal(0.0));
        assert!(!is_subnormal(1.0));
    }
}
