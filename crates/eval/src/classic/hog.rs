//! Histograms of oriented gradients (Dalal and Triggs, 2005), written out step by step.
//!
//! For an image I (H×W, values in [0, 1]):
//! 1. **Gradients**, centred differences with the border replicated (index clamped):
//!    g_x(r, c) = I(r, c+1) − I(r, c−1), g_y(r, c) = I(r+1, c) − I(r−1, c); magnitude
//!    m = √(g_x² + g_y²), unsigned orientation θ = atan2(g_y, g_x) mod π ∈ [0, π). For a colour
//!    image each pixel takes the gradient of the channel with the largest magnitude.
//! 2. **Orientation histograms per cell** (cell × cell pixels, B bins of width π/B with
//!    centres (b + ½)·π/B): each pixel's m is split between the two nearest bin centres in
//!    proportion to closeness, wrapping around π: with u = θ·B/π − ½, bin ⌊u⌋ mod B gets
//!    m·(1 − (u − ⌊u⌋)) and bin (⌊u⌋ + 1) mod B gets m·(u − ⌊u⌋) ([`orientation_votes`]).
//! 3. **Blocks** of block × block cells, moved one cell at a time; a block's vector v (its cells'
//!    histograms, row by row) is normalised by **L2-Hys**: v ← v / √(‖v‖² + ε²), every entry
//!    clipped at 0.2, then v ← v / √(‖v‖² + ε²) again, ε = 1e-3 ([`l2_hys`]).
//! 4. The descriptor is the blocks' vectors, row by row: for 28×28 with 4-pixel cells, 2×2-cell
//!    blocks and 9 bins, 6·6 blocks × 36 = 1,296 values.

use std::f32::consts::PI;

use siamese_model::error::{ModelError, Result};

/// The shape of the descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HogParams {
    /// Cell side in pixels.
    pub cell: usize,
    /// Block side in cells.
    pub block: usize,
    /// Orientation bins over [0, π).
    pub bins: usize,
}

impl Default for HogParams {
    /// 4-pixel cells, 2×2-cell blocks, 9 bins (28×28 → 1,296 values).
    fn default() -> Self {
        Self {
            cell: 4,
            block: 2,
            bins: 9,
        }
    }
}

/// L2-Hys's ε.
pub const HYS_EPS: f32 = 1e-3;
/// L2-Hys's clip.
pub const HYS_CLIP: f32 = 0.2;

impl HogParams {
    /// Cells along (height, width) (partial cells at the right and bottom are dropped).
    pub fn cells(&self, h: usize, w: usize) -> (usize, usize) {
        (h / self.cell, w / self.cell)
    }

    /// Length of the descriptor of an h×w image.
    pub fn len(&self, h: usize, w: usize) -> usize {
        let (ch, cw) = self.cells(h, w);
        let blocks = (ch + 1).saturating_sub(self.block) * (cw + 1).saturating_sub(self.block);
        blocks * self.block * self.block * self.bins
    }

    /// Errors for zero sizes or an image too small for one block.
    pub fn check(&self, h: usize, w: usize) -> Result<()> {
        if self.cell == 0 || self.block == 0 || self.bins == 0 || self.len(h, w) == 0 {
            return Err(ModelError::Config(format!(
                "HOG with {}-pixel cells, {}-cell blocks and {} bins does not fit a {h}x{w} image",
                self.cell, self.block, self.bins
            )));
        }
        Ok(())
    }
}

/// Step 1: (magnitude, orientation in [0, π)) of every pixel of a C×H×W image.
pub fn gradients(img: &[f32], channels: usize, h: usize, w: usize) -> Vec<(f32, f32)> {
    let at = |ch: usize, r: usize, c: usize| img[(ch * h + r) * w + c];
    let mut out = Vec::with_capacity(h * w);
    for r in 0..h {
        for c in 0..w {
            let (mut best, mut gxy) = (-1.0f32, (0.0f32, 0.0f32));
            for ch in 0..channels {
                let gx = at(ch, r, (c + 1).min(w - 1)) - at(ch, r, c.saturating_sub(1));
                let gy = at(ch, (r + 1).min(h - 1), c) - at(ch, r.saturating_sub(1), c);
                let m2 = gx * gx + gy * gy;
                if m2 > best {
                    (best, gxy) = (m2, (gx, gy));
                }
            }
            let theta = gxy.1.atan2(gxy.0).rem_euclid(PI);
            // rem_euclid can round up to π itself: fold it back to 0.
            out.push((best.sqrt(), if theta >= PI { 0.0 } else { theta }));
        }
    }
    out
}

/// Step 2 for one pixel: the two (bin, vote) of magnitude `m` at orientation `theta`.
pub fn orientation_votes(theta: f32, m: f32, bins: usize) -> [(usize, f32); 2] {
    let u = theta * bins as f32 / PI - 0.5;
    let lo = u.floor();
    let frac = u - lo;
    let b0 = (lo as i64).rem_euclid(bins as i64) as usize;
    [(b0, m * (1.0 - frac)), ((b0 + 1) % bins, m * frac)]
}

/// Step 2: the histogram of every cell, cell rows then cell columns, `bins` values each.
pub fn cell_histograms(grad: &[(f32, f32)], h: usize, w: usize, p: &HogParams) -> Vec<f32> {
    let (ch, cw) = p.cells(h, w);
    let mut hist = vec![0.0f32; ch * cw * p.bins];
    for r in 0..ch * p.cell {
        for c in 0..cw * p.cell {
            let (m, theta) = grad[r * w + c];
            let cell = (r / p.cell) * cw + c / p.cell;
            for (b, v) in orientation_votes(theta, m, p.bins) {
                hist[cell * p.bins + b] += v;
            }
        }
    }
    hist
}

/// Step 3's L2-Hys normalisation of one block vector, in place.
pub fn l2_hys(v: &mut [f32]) {
    let scale = |v: &mut [f32]| {
        let n = (v.iter().map(|x| x * x).sum::<f32>() + HYS_EPS * HYS_EPS).sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    };
    scale(v);
    v.iter_mut().for_each(|x| *x = x.min(HYS_CLIP));
    scale(v);
}

/// The HOG descriptor of one C×H×W image with values in [0, 1] (steps 1-4).
pub fn hog(img: &[f32], channels: usize, h: usize, w: usize, p: &HogParams) -> Vec<f32> {
    let grad = gradients(img, channels, h, w);
    let hist = cell_histograms(&grad, h, w, p);
    let (ch, cw) = p.cells(h, w);
    let (bh, bw) = (
        (ch + 1).saturating_sub(p.block),
        (cw + 1).saturating_sub(p.block),
    );
    let mut out = Vec::with_capacity(p.len(h, w));
    for br in 0..bh {
        for bc in 0..bw {
            let start = out.len();
            for r in br..br + p.block {
                for c in bc..bc + p.block {
                    out.extend_from_slice(&hist[(r * cw + c) * p.bins..][..p.bins]);
                }
            }
            l2_hys(&mut out[start..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn gradients_of_a_step_by_hand() {
        // A vertical edge: columns 0 0 1. Centre: g_x = 1 − 0 = 1, g_y = 0: m 1, θ 0.
        // Left column: g_x = I(r,1) − I(r,0) = 0 (replicated border): m 0.
        // A horizontal edge (rows 0 0 1) at the centre: g_y = 1: θ = π/2.
        let v = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let g = gradients(&v, 1, 3, 3);
        assert!(close(g[4].0, 1.0) && close(g[4].1, 0.0));
        assert!(close(g[3].0, 0.0));
        let hgrad = gradients(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 1, 3, 3);
        assert!(close(hgrad[4].0, 1.0) && close(hgrad[4].1, PI / 2.0));
        // A diagonal falling to the right: g = (−1, −1) → θ = −3π/4 mod π = π/4, m √2.
        let d = gradients(&[1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1, 3, 3);
        assert!(
            close(d[4].0, 2f32.sqrt()) && close(d[4].1, PI / 4.0),
            "{:?}",
            d[4]
        );
        // Colour: the channel with the larger gradient wins.
        let mut rgb = vec![0.0f32; 27];
        rgb[9..18].copy_from_slice(&v.map(|x| x * 0.5));
        rgb[18..27].copy_from_slice(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let g = gradients(&rgb, 3, 3, 3);
        assert!(close(g[4].0, 1.0) && close(g[4].1, PI / 2.0));
    }

    /// The 9-bin histogram of one vote.
    fn votes(theta_deg: f32, m: f32) -> [f32; 9] {
        let mut h = [0.0; 9];
        for (b, v) in orientation_votes(theta_deg * PI / 180.0, m, 9) {
            h[b] += v;
        }
        h
    }

    #[test]
    fn orientation_votes_by_hand() {
        // 9 bins of 20°, centres 10°, 30°, …, 170°.
        let mut want = [0.0; 9];
        // 10°: all of it in bin 0.
        want[0] = 2.0;
        assert!(votes(10.0, 2.0)
            .iter()
            .zip(&want)
            .all(|(a, b)| close(*a, *b)));
        // 25°: 3/4 of the way from 10° to 30°.
        want = [0.0; 9];
        (want[0], want[1]) = (0.25, 0.75);
        assert!(votes(25.0, 1.0)
            .iter()
            .zip(&want)
            .all(|(a, b)| close(*a, *b)));
        // 0°: halfway between 170° (bin 8) and 10° (bin 0), wrapping around.
        want = [0.0; 9];
        (want[0], want[8]) = (0.5, 0.5);
        assert!(votes(0.0, 1.0)
            .iter()
            .zip(&want)
            .all(|(a, b)| close(*a, *b)));
        // 175°: a quarter of the way from 170° to 190° (= 10°).
        want = [0.0; 9];
        (want[8], want[0]) = (0.75, 0.25);
        assert!(votes(175.0, 1.0)
            .iter()
            .zip(&want)
            .all(|(a, b)| close(*a, *b)));
    }

    #[test]
    fn a_cell_histogram_and_a_block_by_hand() {
        // A 4×4 ramp I(r, c) = c/10: g_x = 0.1, 0.2, 0.2, 0.1 along each row (border
        // replicated), g_y = 0, θ = 0: every vote goes half to bin 8, half to bin 0.
        // Σ m = 4 rows × 0.6 = 2.4 → bins 0 and 8 hold 1.2 each, the rest 0.
        let ramp: Vec<f32> = (0..16).map(|i| (i % 4) as f32 / 10.0).collect();
        let p = HogParams {
            cell: 4,
            block: 1,
            bins: 9,
        };
        let hist = cell_histograms(&gradients(&ramp, 1, 4, 4), 4, 4, &p);
        let mut want = [0.0f32; 9];
        want[0] = 1.2;
        want[8] = 1.2;
        assert!(
            hist.iter().zip(&want).all(|(a, b)| close(*a, *b)),
            "{hist:?}"
        );
        // L2-Hys of (3, 4): (0.6, 0.8) → clipped (0.2, 0.2) → (1/√2, 1/√2) (ε² = 1e-6 aside).
        let mut v = [3.0, 4.0];
        l2_hys(&mut v);
        assert!(
            (v[0] - 0.5f32.sqrt()).abs() < 1e-4 && (v[1] - v[0]).abs() < 1e-7,
            "{v:?}"
        );
        // The descriptor of the ramp with one 1-cell block is that cell, L2-Hys-normalised.
        let mut block = want.to_vec();
        l2_hys(&mut block);
        let d = hog(&ramp, 1, 4, 4, &p);
        assert!(d.iter().zip(&block).all(|(a, b)| close(*a, *b)), "{d:?}");
    }

    #[test]
    fn descriptor_lengths() {
        let p = HogParams::default();
        assert_eq!(p.len(28, 28), 1296);
        assert_eq!(p.len(32, 32), 7 * 7 * 36);
        assert_eq!(hog(&[0.0; 784], 1, 28, 28, &p).len(), 1296);
        assert!(p.check(4, 4).is_err());
        assert!(p.check(28, 28).is_ok());
    }
}
