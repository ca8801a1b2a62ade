//! The SIMD bodies of the direct convolution (see `direct.rs` for the plane layout and the
//! register tiles): the forward tile over output channels × vectors and the dw tile over
//! output channels × taps, each instantiated per ISA by `simd_dispatch!` and written for
//! vectors of `V::N` lanes (8 or 16): a plane's `lp` is a multiple of its path's lanes.

use crate::ops::simd::{simd_dispatch, Lanes};

/// Lanes of the fixed-order sums ([`lane_sum`], [`hsum8`]) and of [`super::direct`]'s row
/// copies, whatever the kernels' vector width.
pub(super) const L: usize = 8;

/// Σ v: eight interleaved partial sums (lane l takes v[8i + l]), added pairwise, then the
/// tail; a fixed order that the compiler can keep in one vector register.
pub(super) fn lane_sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; L];
    let mut chunks = v.chunks_exact(L);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let tail: f32 = chunks.remainder().iter().sum();
    hsum8(&acc) + tail
}

/// The sum of eight lane partials in one fixed order: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
#[inline(always)]
fn hsum8(a: &[f32]) -> f32 {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// The sum of 8 or 16 lane partials in one fixed order: 16 lanes fold to 8 (l + l+8) first.
#[inline(always)]
pub(super) fn hsum_lanes(a: &[f32]) -> f32 {
    if a.len() == 16 {
        let h: [f32; 8] = std::array::from_fn(|l| a[l] + a[l + 8]);
        hsum8(&h)
    } else {
        hsum8(a)
    }
}

simd_dispatch!(
    /// out[k, p] = b[k] + Σ_{c,u,v} wt[c,u,v,k] · xp[c, p + u·wp + v] for p < lp, where only
    /// the rows `rows` (r0..r1) of each channel's plane may be non-zero: a tap row u is skipped
    /// for a tile whose output rows h all read zero rows h + u (see [`tap_rows`]).
    pub(super) fn conv_plane => conv_plane_body(
        xp: &[f32], cin: usize, hp: usize, wp: usize, lp: usize, rows: (usize, usize),
        wt: &[f32], kout: usize, kh: usize, kw: usize, bias: Option<&[f32]>, out: &mut [f32],
    )
);

simd_dispatch!(
    /// dwv[k,c,u,v][l] += Σ_{p<lp, p ≡ l (mod N)} dyf[k,p] · xp[c, p + u·wp + v]: dw in the
    /// path's N lanes, summed horizontally by `Plan::flush_dw`.
    pub(super) fn dw_plane => dw_plane_body(
        xp: &[f32], cin: usize, hp: usize, wp: usize, lp: usize,
        dyf: &[f32], kout: usize, kh: usize, kw: usize, dwv: &mut [f32],
    )
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn conv_plane_body<V: Lanes>(
    xp: &[f32], cin: usize, hp: usize, wp: usize, lp: usize, rows: (usize, usize), wt: &[f32],
    kout: usize, kh: usize, kw: usize, bias: Option<&[f32]>, out: &mut [f32],
) {
    let a = Args {
        xp,
        cin,
        hp,
        wp,
        lp,
        rows,
        wt,
        kout,
        kh,
        kw,
        bias,
    };
    let mut k0 = 0;
    while k0 + 4 <= kout {
        if V::MANY_REGS {
            // 4 × 6 tile: 24 accumulators + 6 loads + 1 broadcast of 32 registers.
            k_tiles::<V, 4, 6>(&a, k0, out);
        } else {
            k_tiles::<V, 4, 3>(&a, k0, out);
        }
        k0 += 4;
    }
    if k0 + 2 <= kout {
        k_tiles::<V, 2, 6>(&a, k0, out);
        k0 += 2;
    }
    if k0 < kout {
        k_tiles::<V, 1, 8>(&a, k0, out);
    }
}

struct Args<'a> {
    xp: &'a [f32],
    cin: usize,
    hp: usize,
    wp: usize,
    lp: usize,
    /// The plane rows r0..r1 that may hold non-zeros (the rest is padding).
    rows: (usize, usize),
    wt: &'a [f32],
    kout: usize,
    kh: usize,
    kw: usize,
    bias: Option<&'a [f32]>,
}

/// All position tiles of output channels k0..k0+KB: PB vectors at a time, then one.
#[inline(always)]
fn k_tiles<V: Lanes, const KB: usize, const PB: usize>(a: &Args, k0: usize, out: &mut [f32]) {
    // KW = 5 (LeNet-5) and 1 (the tap-column plane) are compile-time constants: the tap loop
    // unrolls and its bounds checks fold away; other widths take the runtime-KW
    // instantiation (KW = 0).
    if a.kw == 5 {
        p_tiles::<V, KB, PB, 5>(a, k0, out);
    } else if a.kw == 1 {
        p_tiles::<V, KB, PB, 1>(a, k0, out);
    } else {
        p_tiles::<V, KB, PB, 0>(a, k0, out);
    }
}

/// Whether the position tiles are cut at most 4 vectors wide instead of 6: where more than a
/// fifth of the plane's rows are zero padding (dx of a convolution without padding: 8 of
/// conv2's 18), so that a tile spans fewer output rows and [`tap_rows`] skips more taps; the
/// narrower tiles' extra loads cost less than the skipped multiply-adds there, not where the
/// padding is thin (conv1's forward, 4 of 32 rows): docs/performance.md.
#[inline(always)]
fn narrow_tiles(a: &Args) -> bool {
    let (r0, r1) = a.rows;
    5 * (a.hp - (r1 - r0)) > a.hp
}

/// All position tiles of output channels k0..k0+KB: with PB = 6 the plane's vectors are cut
/// into ⌈vectors / 6⌉ (or / 4, [`narrow_tiles`]) tiles of nearly equal width (13 → 5 + 4 + 4,
/// not 6 + 6 + 1: a 4 × 1 tile has only 4 FMA chains per load); otherwise PB at a time, then
/// narrower ones.
#[inline(always)]
fn p_tiles<V: Lanes, const KB: usize, const PB: usize, const KW: usize>(
    a: &Args, k0: usize, out: &mut [f32],
) {
    let mut p0 = 0;
    let n = V::N;
    if PB == 6 {
        let nv = a.lp / n;
        let parts = nv.div_ceil(if narrow_tiles(a) { 4 } else { 6 });
        for i in 0..parts {
            let w = (nv - p0 / n).div_ceil(parts - i);
            match w {
                6 => tile::<V, KB, 6, KW>(a, k0, p0, out),
                5 => tile::<V, KB, 5, KW>(a, k0, p0, out),
                4 => tile::<V, KB, 4, KW>(a, k0, p0, out),
                3 => tile::<V, KB, 3, KW>(a, k0, p0, out),
                2 => tile::<V, KB, 2, KW>(a, k0, p0, out),
                _ => tile::<V, KB, 1, KW>(a, k0, p0, out),
            }
            p0 += w * n;
        }
        return;
    }
    while p0 + PB * n <= a.lp {
        tile::<V, KB, PB, KW>(a, k0, p0, out);
        p0 += PB * n;
    }
    if PB > 3 && p0 + 3 * n <= a.lp {
        tile::<V, KB, 3, KW>(a, k0, p0, out);
        p0 += 3 * n;
    }
    if PB > 2 && p0 + 2 * n <= a.lp {
        tile::<V, KB, 2, KW>(a, k0, p0, out);
        p0 += 2 * n;
    }
    while p0 < a.lp {
        tile::<V, KB, 1, KW>(a, k0, p0, out);
        p0 += n;
    }
}

/// The tap rows u that reach a live plane row (r0..r1 of `a.rows`) for some output row of
/// the positions p0..p1: output row h reads plane rows h + u, so u runs from r0 − h_last to
/// r1 − h_first (within 0..KH). A valid position (j < OW) reads row h + u only (j + v < Wp);
/// the others are junk, whatever they read. The skipped taps only ever multiply zeros, which
/// add nothing (dx of a convolution without padding: 4 of conv2's 18 rows above and below
/// its dy are zero, 14 % of the flat plane's multiply-adds).
#[inline(always)]
fn tap_rows(a: &Args, p0: usize, p1: usize) -> std::ops::Range<usize> {
    let (h0, h1) = (p0 / a.wp, (p1 - 1) / a.wp);
    let (r0, r1) = a.rows;
    r0.saturating_sub(h1)..a.kh.min(r1.saturating_sub(h0))
}

/// One KB × PB register tile of the forward kernel (see the module doc's drawing).
#[inline(always)]
fn tile<V: Lanes, const KB: usize, const PB: usize, const KW: usize>(
    a: &Args, k0: usize, p0: usize, out: &mut [f32],
) {
    let kw = if KW > 0 { KW } else { a.kw };
    let mut acc = [[V::splat(0.0); PB]; KB];
    for (kb, row) in acc.iter_mut().enumerate() {
        let b = V::splat(a.bias.map_or(0.0, |b| b[k0 + kb]));
        row.iter_mut().for_each(|r| *r = b);
    }
    let plane = a.hp * a.wp;
    let us = tap_rows(a, p0, p0 + PB * V::N);
    for c in 0..a.cin {
        for u in us.clone() {
            // LOOP over taps v: PB loads from one row window, KB broadcasts, KB·PB FMAs.
            let base = c * plane + u * a.wp + p0;
            let xrow = &a.xp[base..base + kw - 1 + PB * V::N];
            let wrow = &a.wt[(c * a.kh + u) * kw * a.kout..][..kw * a.kout];
            for v in 0..kw {
                let mut xv = [V::splat(0.0); PB];
                for (pb, x) in xv.iter_mut().enumerate() {
                    *x = V::load(&xrow[v + pb * V::N..]);
                }
                let wv = &wrow[v * a.kout + k0..][..KB];
                for (accr, &wk) in acc.iter_mut().zip(wv) {
                    let wb = V::splat(wk);
                    for (ac, x) in accr.iter_mut().zip(&xv) {
                        *ac = x.mul_add(wb, *ac);
                    }
                }
            }
        }
    }
    for (kb, row) in acc.iter().enumerate() {
        for (pb, r) in row.iter().enumerate() {
            r.store(&mut out[(k0 + kb) * a.lp + p0 + pb * V::N..]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dw_plane_body<V: Lanes>(
    xp: &[f32], cin: usize, hp: usize, wp: usize, lp: usize, dyf: &[f32], kout: usize, kh: usize,
    kw: usize, dwv: &mut [f32],
) {
    let d = DwArgs {
        xp,
        cin,
        hp,
        wp,
        lp,
        dyf,
        kh,
        kw,
    };
    // Channel tiles of 4 (or of 3 when K is a multiple of 3 but not of 4, as LeNet's K = 6),
    // then 2 and 1 for the rest: each dy load feeds VB FMAs, each x load KB.
    let kb = match (kout % 4, kout % 3) {
        (0, _) => 4,
        (_, 0) => 3,
        _ => 4,
    };
    for c in 0..cin {
        for u in 0..kh {
            let mut k0 = 0;
            while k0 + kb <= kout {
                if kb == 3 {
                    dw_taps::<V, 3>(&d, c, u, k0, dwv);
                } else {
                    dw_taps::<V, 4>(&d, c, u, k0, dwv);
                }
                k0 += kb;
            }
            if k0 + 2 <= kout {
                dw_taps::<V, 2>(&d, c, u, k0, dwv);
                k0 += 2;
            }
            if k0 < kout {
                dw_taps::<V, 1>(&d, c, u, k0, dwv);
            }
        }
    }
}

struct DwArgs<'a> {
    xp: &'a [f32],
    cin: usize,
    hp: usize,
    wp: usize,
    lp: usize,
    dyf: &'a [f32],
    kh: usize,
    kw: usize,
}

#[inline(always)]
fn dw_taps<V: Lanes, const KB: usize>(d: &DwArgs, c: usize, u: usize, k0: usize, dwv: &mut [f32]) {
    let mut v0 = 0;
    if V::MANY_REGS {
        // 4 × 5 tile: 20 accumulators + 5 + 4 loads of 32 registers.
        while v0 + 5 <= d.kw {
            dw_tile::<V, KB, 5>(d, c, u, v0, k0, dwv);
            v0 += 5;
        }
    }
    while v0 + 3 <= d.kw {
        dw_tile::<V, KB, 3>(d, c, u, v0, k0, dwv);
        v0 += 3;
    }
    while v0 < d.kw {
        dw_tile::<V, KB, 1>(d, c, u, v0, k0, dwv);
        v0 += 1;
    }
}

/// KB output channels × VB taps (u, v0..v0+VB) of dw, one N-lane dot product over p each,
/// accumulated into the lanes of dwv.
#[inline(always)]
fn dw_tile<V: Lanes, const KB: usize, const VB: usize>(
    d: &DwArgs, c: usize, u: usize, v0: usize, k0: usize, dwv: &mut [f32],
) {
    let khw = d.kh * d.kw;
    let at = |kb: usize, vb: usize| (((k0 + kb) * d.cin + c) * khw + u * d.kw + v0 + vb) * V::N;
    let mut acc = [[V::splat(0.0); VB]; KB];
    for (kb, row) in acc.iter_mut().enumerate() {
        for (vb, r) in row.iter_mut().enumerate() {
            *r = V::load(&dwv[at(kb, vb)..]);
        }
    }
    // Every stream cut once to the same length `len`, so that `p + N <= len` proves each
    // load in bounds: no bounds checks in the loop (docs/performance.md, llvm-mca).
    let len = d.lp;
    let base = c * d.hp * d.wp + u * d.wp + v0;
    let xs: [&[f32]; VB] = std::array::from_fn(|vb| &d.xp[base + vb..][..len]);
    let dys: [&[f32]; KB] = std::array::from_fn(|kb| &d.dyf[(k0 + kb) * len..][..len]);
    let mut p = 0;
    while p + V::N <= len {
        let mut xv = [V::splat(0.0); VB];
        for (x, xs) in xv.iter_mut().zip(&xs) {
            *x = V::load(&xs[p..p + V::N]);
        }
        for (accr, dyk) in acc.iter_mut().zip(&dys) {
            let g = V::load(&dyk[p..p + V::N]);
            for (ac, x) in accr.iter_mut().zip(&xv) {
                *ac = x.mul_add(g, *ac);
            }
        }
        p += V::N;
    }
    for (kb, row) in acc.iter().enumerate() {
        for (vb, r) in row.iter().enumerate() {
            r.store(&mut dwv[at(kb, vb)..]);
        }
    }
}
