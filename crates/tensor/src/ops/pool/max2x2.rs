//! The 2×2/2 max-pool of LeNet-5 on one plane: the scalar row kernel, the AVX2 one (eight
//! windows per step) and the AVX-512 one (sixteen, `max2x2_avx512.rs`), the same values and
//! argmax as `reference`.

use super::rows::row_pairs;
use crate::ops::simd::Path;

/// Keeps (best, at) or takes (val, idx): a strictly larger value, or a NaN over a number;
/// branch-free selects, the same rule as `reference`.
#[inline(always)]
fn pick(best: f32, at: u32, val: f32, idx: u32) -> (f32, u32) {
    let take = (val > best) | (val.is_nan() & !best.is_nan());
    (if take { val } else { best }, if take { idx } else { at })
}

/// 2×2/2 max-pool of one plane (LeNet-5): the first maximum of each window in row-major
/// order (NaN counts as the largest). `xp` has row pitch `w`; the argmax of input (r, c) is
/// written as `base + r·wi + c` (`wi` = w for a dense plane; the fused conv passes its
/// output width, its plane having junk columns; fits u32, checked by the callers). On the
/// `avx512` path 16 windows per step, on `avx2` and `avx512vl` 8; on `portable` the scalar
/// [`max_row_2x2`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn max_plane_2x2(
    path: Path, xp: &[f32], w: usize, ow: usize, y: &mut [f32], arg: &mut [u32], base: u32,
    wi: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if path != Path::Portable && path.supported() {
        path.mark_taken();
        if path == Path::Avx512 {
            // SAFETY: path.supported() checked at runtime that this CPU has AVX-512F, the only
            // requirement of the target_feature function; its memory accesses are
            // slice-checked or masked to the slices (see its comments).
            unsafe { super::max2x2_avx512::max_plane_2x2_avx512(xp, w, ow, y, arg, base, wi) };
        } else {
            // SAFETY: path.supported() checked at runtime that this CPU has AVX2 (every path
            // but portable needs it), the only requirement of the target_feature function;
            // its memory accesses are slice-checked.
            unsafe { max_plane_2x2_avx2(xp, w, ow, y, arg, base, wi) };
        }
        return;
    }
    Path::Portable.mark_taken();
    for (r0, r1, b0, yr, ar) in row_pairs(xp, w, ow, y, arg, base, wi) {
        max_row_2x2(r0, r1, b0, wi as u32, yr, ar);
    }
}

/// One output row of the 2×2/2 max-pool, scalar: windows (r0[2j], r0[2j+1], r1[2j],
/// r1[2j+1]) visited in that order with branch-free selects; `b0` is r0's flat offset.
fn max_row_2x2(r0: &[f32], r1: &[f32], b0: u32, w: u32, yr: &mut [f32], ar: &mut [u32]) {
    let b1 = b0 + w;
    for (j, (yv, av)) in yr.iter_mut().zip(ar.iter_mut()).enumerate() {
        let c = 2 * j;
        let cu = c as u32;
        let (mut best, mut at) = (r0[c], b0 + cu);
        (best, at) = pick(best, at, r0[c + 1], b0 + cu + 1);
        (best, at) = pick(best, at, r1[c], b1 + cu);
        (best, at) = pick(best, at, r1[c + 1], b1 + cu + 1);
        *yv = best;
        *av = at;
    }
}

/// Lanes → (even, odd) columns of 16 consecutive values a ++ b, in column order.
///
/// # Safety
/// The CPU must have AVX2: called from [`max_plane_2x2_avx2`] only, into which it is inlined.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn split_avx2(
    a: std::arch::x86_64::__m256, b: std::arch::x86_64::__m256,
) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256) {
    use std::arch::x86_64::*;
    // SAFETY: AVX2 is available (this function's contract); register-only operations.
    unsafe {
        // Per 128-bit half: [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit permute (0,2,1,3)
        // restores column order [a0 a2 a4 a6 b0 b2 b4 b6].
        let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
        let o = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
        let fix = |v: __m256| {
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
        };
        (fix(e), fix(o))
    }
}

/// Mask of lanes where `v` replaces `best`: v > best, or v is NaN and best is not.
///
/// # Safety
/// As [`split_avx2`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn takes_avx2(
    best: std::arch::x86_64::__m256, v: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    // SAFETY: as `split_avx2`.
    unsafe {
        let gt = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
        let nan = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
            _mm256_cmp_ps::<_CMP_ORD_Q>(best, best),
        );
        _mm256_or_ps(gt, nan)
    }
}

/// [`max_plane_2x2`] with 8 windows per step. The first maximum of a window in
/// row-major order is the first maximum of (first maximum of its top pair, first maximum of
/// its bottom pair), since "keep unless strictly larger, NaN largest" picks the earliest
/// maximal element whatever the bracketing. So: deinterleave 16 columns of each row into
/// even/odd lanes, pick within each row, then between the rows. A row whose width is not a
/// multiple of 8 ends with one step at j = ow − 8, overlapping the previous one (it writes
/// the same values again); a row narrower than 8 goes through zero-padded copies.
///
/// # Safety
/// The CPU must have AVX2 (the caller checks `Path::supported`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_plane_2x2_avx2(
    xp: &[f32], w: usize, ow: usize, y: &mut [f32], arg: &mut [u32], base: u32, wi: usize,
) {
    use std::arch::x86_64::*;
    let even_cols = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    let wv = _mm256_set1_epi32(wi as i32);
    // Eight windows whose top-left corners are s0[0], s0[2], …, s0[14] (s1: the row below);
    // `tl` is the flat index of s0[0]. Returns the maxima and their flat indices.
    let step = |s0: &[f32], s1: &[f32], tl: u32| -> (__m256, __m256i) {
        let (s0, s1) = (&s0[..16], &s1[..16]);
        // SAFETY: s0 and s1 hold 16 f32 (sliced above), so the unaligned 32-byte loads at
        // offsets 0 and 8 stay in bounds; AVX2 is enabled in this function.
        unsafe {
            let (e0, o0) = split_avx2(
                _mm256_loadu_ps(s0.as_ptr()),
                _mm256_loadu_ps(s0.as_ptr().add(8)),
            );
            let (e1, o1) = split_avx2(
                _mm256_loadu_ps(s1.as_ptr()),
                _mm256_loadu_ps(s1.as_ptr().add(8)),
            );
            let (t0, t1) = (takes_avx2(e0, o0), takes_avx2(e1, o1));
            let (m0, m1) = (_mm256_blendv_ps(e0, o0, t0), _mm256_blendv_ps(e1, o1, t1));
            let tr = takes_avx2(m0, m1);
            // Indices: top-left of the window, +1 where the odd column won (mask = −1),
            // +w where the bottom row won.
            let top_left = _mm256_add_epi32(_mm256_set1_epi32(tl as i32), even_cols);
            let i0 = _mm256_sub_epi32(top_left, _mm256_castps_si256(t0));
            let i1 = _mm256_add_epi32(_mm256_sub_epi32(top_left, _mm256_castps_si256(t1)), wv);
            let idx = _mm256_blendv_epi8(i0, i1, _mm256_castps_si256(tr));
            (_mm256_blendv_ps(m0, m1, tr), idx)
        }
    };
    for (r0, r1, b0, yr, ar) in row_pairs(xp, w, ow, y, arg, base, wi) {
        if ow < 8 {
            // A short row (LeNet's 10 → 5): through zero-padded copies; lanes ≥ ow dropped.
            let (mut t0, mut t1) = ([0.0f32; 16], [0.0f32; 16]);
            t0[..2 * ow].copy_from_slice(r0);
            t1[..2 * ow].copy_from_slice(r1);
            let (m, idx) = step(&t0, &t1, b0);
            let (mut ys, mut is) = ([0.0f32; 8], [0u32; 8]);
            // SAFETY: ys and is are 8-value arrays, the 32-byte stores fit; AVX is enabled.
            unsafe {
                _mm256_storeu_ps(ys.as_mut_ptr(), m);
                _mm256_storeu_si256(is.as_mut_ptr().cast(), idx);
            }
            yr.copy_from_slice(&ys[..ow]);
            ar.copy_from_slice(&is[..ow]);
            continue;
        }
        let mut j = 0;
        loop {
            let (m, idx) = step(&r0[2 * j..], &r1[2 * j..], b0 + 2 * j as u32);
            let (yo, ao) = (&mut yr[j..][..8], &mut ar[j..][..8]);
            // SAFETY: yo and ao hold 8 values (sliced above), the 32-byte stores stay in
            // bounds; AVX is enabled.
            unsafe {
                _mm256_storeu_ps(yo.as_mut_ptr(), m);
                _mm256_storeu_si256(ao.as_mut_ptr().cast(), idx);
            }
            if j + 8 == ow {
                break;
            }
            j = (j + 8).min(ow - 8);
        }
    }
}
