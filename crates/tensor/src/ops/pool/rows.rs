//! The row pairs of one plane that both 2×2/2 max-pool kernels walk (`max2x2.rs` and
//! `max2x2_avx512.rs`): in a module of its own, so that neither kernel file imports the other
//! for it.

/// Each output row of a plane (y and argmax, `ow` wide) with its two input rows (`2·ow`
/// values of `xp`, row pitch `w`) and the flat index of the top row's first value
/// (`base + 2i·wi`).
#[allow(clippy::type_complexity)]
pub(super) fn row_pairs<'a>(
    xp: &'a [f32], w: usize, ow: usize, y: &'a mut [f32], arg: &'a mut [u32], base: u32, wi: usize,
) -> impl Iterator<Item = (&'a [f32], &'a [f32], u32, &'a mut [f32], &'a mut [u32])> {
    y.chunks_exact_mut(ow)
        .zip(arg.chunks_exact_mut(ow))
        .enumerate()
        .map(move |(i, (yr, ar))| {
            let r0 = &xp[2 * i * w..][..2 * ow];
            let r1 = &xp[(2 * i + 1) * w..][..2 * ow];
            (r0, r1, base + (2 * i * wi) as u32, yr, ar)
        })
}
