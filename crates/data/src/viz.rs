//! Pictures of pairs (the paper's Figure 2): a grid of image pairs, each labelled POS (same class,
//! green) or NEG (different class, red) with a tiny hand-coded 5x7 bitmap font. Produces raw RGB
//! pixels and their PNG encoding ([`RgbImage::png_bytes`]), which `siamese pairs` and
//! `siamese show` write to disk.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::dataset::ImageSet;
use crate::error::{DataError, Result};
use crate::pairs::{make_pairs, Pair};

/// An RGB image, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    fn new(width: usize, height: usize, fill: [u8; 3]) -> Self {
        let pixels = fill
            .iter()
            .copied()
            .cycle()
            .take(width * height * 3)
            .collect();
        RgbImage {
            width,
            height,
            pixels,
        }
    }

    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let o = (y * self.width + x) * 3;
            self.pixels[o..o + 3].copy_from_slice(&c);
        }
    }

    /// The image encoded as a PNG file (8-bit RGB).
    pub fn png_bytes(&self) -> Result<Vec<u8>> {
        use ::image::ImageEncoder;
        let mut out = Vec::new();
        ::image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                &self.pixels,
                self.width as u32,
                self.height as u32,
                ::image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| {
                DataError::InvalidArgument(format!(
                    "cannot encode a {}x{} picture as PNG: {e}",
                    self.width, self.height
                ))
            })?;
        Ok(out)
    }

    /// The colour at `(x, y)`, or `None` outside the image.
    pub fn get(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x < self.width && y < self.height {
            let o = (y * self.width + x) * 3;
            Some([self.pixels[o], self.pixels[o + 1], self.pixels[o + 2]])
        } else {
            None
        }
    }
}

/// 5x7 glyphs, one row per byte, bit 4 = leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c {
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'N' => [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        _ => [0; 7],
    }
}

/// Pixel width of `text` at `scale` (6 columns per glyph, the last one blank).
pub fn text_width(text: &str, scale: usize) -> usize {
    text.chars().count() * 6 * scale
}

fn draw_text(img: &mut RgbImage, x0: usize, y0: usize, text: &str, scale: usize, c: [u8; 3]) {
    for (k, ch) in text.chars().enumerate() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            img.put(x0 + (k * 6 + col) * scale + dx, y0 + row * scale + dy, c);
                        }
                    }
                }
            }
        }
    }
}

fn draw_image(img: &mut RgbImage, set: &ImageSet, i: u32, x0: usize, y0: usize, scale: usize) {
    let Some(px) = set.image(i as usize) else {
        return;
    };
    let plane = set.height * set.width;
    for y in 0..set.height {
        for x in 0..set.width {
            let o = y * set.width + x;
            let c = if set.channels >= 3 {
                [px[o], px[plane + o], px[2 * plane + o]]
            } else {
                [px[o]; 3]
            };
            for dy in 0..scale {
                for dx in 0..scale {
                    img.put(x0 + x * scale + dx, y0 + y * scale + dy, c);
                }
            }
        }
    }
}

/// Colour of the POS label.
pub const POS_COLOUR: [u8; 3] = [0, 160, 0];
/// Colour of the NEG label.
pub const NEG_COLOUR: [u8; 3] = [200, 0, 0];

/// Draws `pairs` as a grid with `cols` pairs per row, images enlarged `scale` times, each pair
/// labelled POS or NEG under it. Errors: no pairs, `cols`/`scale` 0, an index outside `set`.
pub fn pair_grid(set: &ImageSet, pairs: &[Pair], cols: usize, scale: usize) -> Result<RgbImage> {
    let labels: Vec<(String, [u8; 3])> = pairs
        .iter()
        .map(|p| {
            if p.y == 1 {
                ("POS".to_string(), POS_COLOUR)
            } else {
                ("NEG".to_string(), NEG_COLOUR)
            }
        })
        .collect();
    labelled_pair_grid(set, pairs, &labels, cols, scale)
}

/// As [`pair_grid`], with a caller-chosen label and colour under each pair (the font has the
/// letters of POS/NEG, the digits and '.'; other characters draw as blanks). Used by
/// `siamese show` to print each pair's predicted similarity (the paper's Figures 6, 9, 10).
pub fn labelled_pair_grid(
    set: &ImageSet, pairs: &[Pair], labels: &[(String, [u8; 3])], cols: usize, scale: usize,
) -> Result<RgbImage> {
    if pairs.is_empty() || cols == 0 || scale == 0 || labels.len() != pairs.len() {
        return Err(DataError::InvalidArgument(
            "pair_grid needs at least one pair, one label per pair, cols > 0 and scale > 0".into(),
        ));
    }
    if let Some(p) = pairs
        .iter()
        .find(|p| p.a as usize >= set.len() || p.b as usize >= set.len())
    {
        return Err(DataError::InvalidArgument(format!(
            "pair ({}, {}) outside the {} images",
            p.a,
            p.b,
            set.len()
        )));
    }
    let (width, height) = grid_size(pairs.len(), cols, scale, (set.height, set.width))?;
    let (iw, ih) = (set.width * scale, set.height * scale);
    let pad = 4 * scale.max(1);
    let font = scale.max(1);
    let label_h = 7 * font + pad;
    let cell_w = 2 * iw + pad + 2 * pad;
    let cell_h = ih + label_h + 2 * pad;
    let mut img = RgbImage::new(width, height, [255, 255, 255]);
    for (k, (p, (text, colour))) in pairs.iter().zip(labels).enumerate() {
        let (cx, cy) = ((k % cols) * cell_w + pad, (k / cols) * cell_h + pad);
        draw_image(&mut img, set, p.a, cx, cy, scale);
        draw_image(&mut img, set, p.b, cx + iw + pad, cy, scale);
        let tx = cx + (2 * iw + pad).saturating_sub(text_width(text, font)) / 2;
        draw_text(&mut img, tx, cy + ih + pad / 2, text, font, *colour);
    }
    Ok(img)
}

/// The most pairs a picture shows (`--count`) and the most per row (`--cols`): 1024.
pub const MAX_FIGURE_PAIRS: usize = 1024;
/// The largest pixel enlargement (`--scale`): 64.
pub const MAX_SCALE: usize = 64;
/// The most pixels a picture may have: 2^26 (64 Mpx, 192 MB of RGB).
pub const MAX_PICTURE_PIXELS: usize = 1 << 26;

/// The (width, height) in pixels of a grid of `pairs` pairs of `height`×`width` images,
/// `cols` per row, enlarged `scale` times: checked before any pixel is allocated (the CLI
/// calls it before the data loads). Errors name the flag and its valid range: `--count` and
/// `--cols` 1 to [`MAX_FIGURE_PAIRS`], `--scale` 1 to [`MAX_SCALE`], at most
/// [`MAX_PICTURE_PIXELS`] in all.
pub fn grid_size(
    pairs: usize, cols: usize, scale: usize, (height, width): (usize, usize),
) -> Result<(usize, usize)> {
    for (flag, v, hi) in [
        ("--count", pairs, MAX_FIGURE_PAIRS),
        ("--cols", cols, MAX_FIGURE_PAIRS),
        ("--scale", scale, MAX_SCALE),
    ] {
        if !(1..=hi).contains(&v) {
            return Err(DataError::InvalidArgument(format!(
                "{flag} must be at least 1 and at most {hi}, got {v}"
            )));
        }
    }
    // All factors are bounded above, but the images' sides come from the data: checked.
    let size = || -> Option<(usize, usize)> {
        let (iw, ih) = (width.checked_mul(scale)?, height.checked_mul(scale)?);
        let pad = 4 * scale;
        let cell_w = iw.checked_mul(2)?.checked_add(3 * pad)?;
        let cell_h = ih.checked_add(7 * scale + 3 * pad)?;
        let rows = pairs.div_ceil(cols);
        Some((cols.checked_mul(cell_w)?, rows.checked_mul(cell_h)?))
    };
    match size() {
        Some((w, h)) if w.checked_mul(h).is_some_and(|n| n <= MAX_PICTURE_PIXELS) => Ok((w, h)),
        _ => Err(DataError::InvalidArgument(format!(
            "a picture of {pairs} pairs of {height}x{width} images, {cols} per row, at --scale {scale} would exceed {MAX_PICTURE_PIXELS} pixels: lower --count or --scale"
        ))),
    }
}

/// `count` sample pairs for a figure, alternating POS and NEG, drawn with `seed` from all of
/// `set`; `count` at most [`MAX_FIGURE_PAIRS`].
pub fn figure_pairs(set: &ImageSet, count: usize, seed: u64) -> Result<Vec<Pair>> {
    if count > MAX_FIGURE_PAIRS {
        return Err(DataError::InvalidArgument(format!(
            "--count must be at least 1 and at most {MAX_FIGURE_PAIRS}, got {count}"
        )));
    }
    let all: Vec<u32> = (0..set.len() as u32).collect();
    let pairs = make_pairs(&set.labels, &all, seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xF162);
    Ok((0..count)
        .map(|k| {
            let anchor = rng.gen_range(0..set.len());
            pairs[2 * anchor + (k % 2)]
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_bytes_decode_to_the_same_pixels() {
        let mut img = RgbImage::new(3, 2, [10, 20, 30]);
        img.put(2, 1, [255, 0, 128]);
        let bytes = img.png_bytes().unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let back = ::image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!((back.width(), back.height()), (3, 2));
        assert_eq!(back.into_raw(), img.pixels);
        let empty = RgbImage::new(0, 0, [0; 3]);
        assert!(empty.png_bytes().is_err());
    }

    #[test]
    fn grid_has_images_and_coloured_labels() {
        let images: Vec<u8> = (0..4).flat_map(|i| [60 * i as u8 + 10; 4]).collect();
        let set = ImageSet::new(
            images,
            vec![0, 0, 1, 1],
            (1, 2, 2),
            vec!["a".into(), "b".into()],
        )
        .unwrap();
        let pairs = [Pair { a: 0, b: 1, y: 1 }, Pair { a: 2, b: 0, y: 0 }];
        let img = pair_grid(&set, &pairs, 2, 3).unwrap();
        let pad = 12;
        // First image of the first pair at (pad, pad), grey level 10.
        assert_eq!(img.get(pad, pad), Some([10, 10, 10]));
        // Second image of the second pair.
        let cell_w = 2 * 6 + pad + 2 * pad;
        assert_eq!(img.get(cell_w + pad + 6 + pad, pad), Some([10, 10, 10]));
        assert_eq!(img.get(cell_w + pad, pad), Some([130, 130, 130]));
        let count = |c| img.pixels.chunks(3).filter(|p| *p == c).count();
        assert!(count(POS_COLOUR) > 0 && count(NEG_COLOUR) > 0);
        assert!(pair_grid(&set, &[Pair { a: 9, b: 0, y: 0 }], 1, 1).is_err());
    }

    #[test]
    fn figure_pairs_alternate() {
        let labels: Vec<u8> = (0..20).map(|i| (i % 4) as u8).collect();
        let set = ImageSet::new(
            vec![0; 20],
            labels,
            (1, 1, 1),
            (0..4).map(|c| c.to_string()).collect(),
        )
        .unwrap();
        let p = figure_pairs(&set, 6, 1).unwrap();
        assert_eq!(
            p.iter().map(|q| q.y).collect::<Vec<_>>(),
            [1, 0, 1, 0, 1, 0]
        );
    }
}
