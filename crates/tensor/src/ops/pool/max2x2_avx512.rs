//! The 2×2/2 max-pool of one plane on 512-bit vectors: sixteen windows per step.

use super::rows::row_pairs;
use std::arch::x86_64::*;

/// Lanes where the first `n` of 16 are on.
#[inline(always)]
fn first(n: usize) -> __mmask16 {
    if n >= 16 {
        0xFFFF
    } else {
        (1u16 << n) - 1
    }
}

/// The first 2n (≤ 32) values of `s` as two vectors, zero past them.
///
/// # Safety
/// The CPU must have AVX-512F: called from [`max_plane_2x2_avx512`] only, into which it is
/// inlined.
#[inline(always)]
unsafe fn load32(s: &[f32]) -> (__m512, __m512) {
    let n = s.len().min(32);
    // SAFETY: AVX-512F is available (this function's contract). A masked load reads the
    // lanes whose mask bit is on and never touches the others (no fault, no access): here
    // the first min(n, 16) values of `s`, then the values 16..n, all inside `s`; the second
    // pointer is formed only when n > 16 (in bounds).
    unsafe {
        let lo = _mm512_maskz_loadu_ps(first(n), s.as_ptr());
        let hi = if n > 16 {
            _mm512_maskz_loadu_ps(first(n - 16), s[16..].as_ptr())
        } else {
            _mm512_setzero_ps()
        };
        (lo, hi)
    }
}

/// Lanes where `v` replaces `best`: v > best, or v is NaN and best is not.
///
/// # Safety
/// As [`load32`].
#[inline(always)]
unsafe fn takes(best: __m512, v: __m512) -> __mmask16 {
    // SAFETY: as `load32`; register-only.
    unsafe {
        let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
        let nan =
            _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v) & _mm512_cmp_ps_mask::<_CMP_ORD_Q>(best, best);
        gt | nan
    }
}

/// `max_plane_2x2` with 16 windows per step, the selection of the AVX2 kernel (see
/// `max_plane_2x2_avx2`: the first maximum of the top pair against the first maximum of the
/// bottom pair): each row pair is loaded as two vectors of 16 columns, deinterleaved into
/// even and odd columns by one two-source permute each. The last step of a row is masked
/// (loads and stores of its `n` < 16 windows only), so rows of any width take no padded
/// copies and no overlapping steps.
///
/// # Safety
/// The CPU must have AVX-512F (the caller checks `Path::supported`).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn max_plane_2x2_avx512(
    xp: &[f32], w: usize, ow: usize, y: &mut [f32], arg: &mut [u32], base: u32, wi: usize,
) {
    // Window j's top-left column is 2j: lanes 0, 2, …, 30 of the 32 loaded columns.
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let one = _mm512_set1_epi32(1);
    let odd = _mm512_add_epi32(even, one);
    let wv = _mm512_set1_epi32(wi as i32);
    // The windows whose top-left corners are s0[0], s0[2], … (s1: the row below), `tl` the
    // flat index of s0[0]; returns the maxima and their flat indices.
    let step = |s0: &[f32], s1: &[f32], tl: u32| -> (__m512, __m512i) {
        // SAFETY: AVX-512F is enabled in this function, the contract of `load32` and `takes`.
        let ((a0, b0), (a1, b1)) = unsafe { (load32(s0), load32(s1)) };
        // Register-only AVX-512F operations (this closure has the function's features).
        let (e0, o0) = (
            _mm512_permutex2var_ps(a0, even, b0),
            _mm512_permutex2var_ps(a0, odd, b0),
        );
        let (e1, o1) = (
            _mm512_permutex2var_ps(a1, even, b1),
            _mm512_permutex2var_ps(a1, odd, b1),
        );
        // SAFETY: as above.
        let (t0, t1) = unsafe { (takes(e0, o0), takes(e1, o1)) };
        let (m0, m1) = (
            _mm512_mask_blend_ps(t0, e0, o0),
            _mm512_mask_blend_ps(t1, e1, o1),
        );
        // SAFETY: as above.
        let tr = unsafe { takes(m0, m1) };
        // Indices: top-left, +1 where the odd column won, +w where the bottom row won.
        let top_left = _mm512_add_epi32(_mm512_set1_epi32(tl as i32), even);
        let i0 = _mm512_mask_add_epi32(top_left, t0, top_left, one);
        let i1 = _mm512_add_epi32(_mm512_mask_add_epi32(top_left, t1, top_left, one), wv);
        (
            _mm512_mask_blend_ps(tr, m0, m1),
            _mm512_mask_blend_epi32(tr, i0, i1),
        )
    };
    for (r0, r1, b0, yr, ar) in row_pairs(xp, w, ow, y, arg, base, wi) {
        let mut j = 0;
        while j < ow {
            let n = (ow - j).min(16);
            let (m, idx) = step(
                &r0[2 * j..][..2 * n],
                &r1[2 * j..][..2 * n],
                b0 + 2 * j as u32,
            );
            let (yo, ao) = (&mut yr[j..][..n], &mut ar[j..][..n]);
            // SAFETY: the mask has the first n lanes on, and yo and ao hold n values (sliced
            // above): a masked store writes only those lanes; AVX-512F is enabled here.
            unsafe {
                _mm512_mask_storeu_ps(yo.as_mut_ptr(), first(n), m);
                _mm512_mask_storeu_epi32(ao.as_mut_ptr().cast(), first(n), idx);
            }
            j += n;
        }
    }
}
