//! Pictures of pairs (the paper's Figures 2, 6, 9, 10): a grid of image pairs with a title,
//! a label under each pair (POS/NEG, or a model's similarity and prediction) and a legend,
//! the text in DejaVu Sans (bundled) rasterised by ab_glyph. Produces raw RGB pixels and their
//! PNG encoding ([`RgbImage::png_bytes`]), which `siamese pairs` and `siamese show` write.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
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

    /// Mixes `c` into the pixel at (x, y) with weight `alpha` in [0, 1].
    fn blend(&mut self, x: usize, y: usize, c: [u8; 3], alpha: f32) {
        if x < self.width && y < self.height {
            let o = (y * self.width + x) * 3;
            let a = alpha.clamp(0.0, 1.0);
            for (dst, src) in self.pixels[o..o + 3].iter_mut().zip(c) {
                *dst = (*dst as f32 * (1.0 - a) + src as f32 * a).round() as u8;
            }
        }
    }

    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let o = (y * self.width + x) * 3;
            self.pixels[o..o + 3].copy_from_slice(&c);
        }
    }

    /// The image encoded as a PNG file (8-bit RGB), by [`crate::picture::png_rgb8`].
    pub fn png_bytes(&self) -> Result<Vec<u8>> {
        crate::picture::png_rgb8(&self.pixels, self.width, self.height)
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

/// The bundled font ([`crate::picture::font_bytes`]) for ab_glyph.
fn font() -> FontRef<'static> {
    FontRef::try_from_slice(crate::picture::font_bytes()).expect("the bundled DejaVu Sans parses")
}

/// The text size in pixels for images enlarged `scale` times.
fn text_px(scale: usize) -> f32 {
    (4.5 * scale as f32).clamp(12.0, 28.0)
}

/// Pixel width of `text` in DejaVu Sans at `px` pixels.
pub fn text_width(text: &str, px: f32) -> usize {
    let f = font();
    let sf = f.as_scaled(PxScale::from(px));
    text.chars()
        .map(|c| sf.h_advance(sf.glyph_id(c)))
        .sum::<f32>()
        .ceil() as usize
}

/// Draws `text` with its top-left corner at (x0, y0), anti-aliased onto the background.
fn draw_text(img: &mut RgbImage, x0: usize, y0: usize, text: &str, px: f32, c: [u8; 3]) {
    let f = font();
    let sf = f.as_scaled(PxScale::from(px));
    let mut x = x0 as f32;
    let baseline = y0 as f32 + sf.ascent();
    for ch in text.chars() {
        let id = sf.glyph_id(ch);
        let glyph = id.with_scale_and_position(px, ab_glyph::point(x, baseline));
        if let Some(outline) = f.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cover| {
                let (px_x, px_y) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                if px_x >= 0 && px_y >= 0 {
                    img.blend(px_x as usize, px_y as usize, c, cover);
                }
            });
        }
        x += sf.h_advance(id);
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

/// Colour of the POS label (and of a right prediction).
pub const POS_COLOUR: [u8; 3] = [0, 150, 0];
/// Colour of the NEG label (and of a wrong prediction).
pub const NEG_COLOUR: [u8; 3] = [200, 0, 0];
/// Colour of titles and legends.
const TEXT_COLOUR: [u8; 3] = [40, 40, 40];

/// One line of text and its colour.
pub type Line = (String, [u8; 3]);

/// Draws `pairs` as a grid with `cols` pairs per row, images enlarged `scale` times, each pair
/// labelled POS (same class) or NEG under it, `title` above and a legend below (the paper's
/// Figure 2). Errors: no pairs, `cols`/`scale` 0, an index outside `set`.
pub fn pair_grid(
    set: &ImageSet, pairs: &[Pair], cols: usize, scale: usize, title: &str,
) -> Result<RgbImage> {
    let labels: Vec<Vec<Line>> = pairs
        .iter()
        .map(|p| {
            vec![if p.y == 1 {
                ("POS".to_string(), POS_COLOUR)
            } else {
                ("NEG".to_string(), NEG_COLOUR)
            }]
        })
        .collect();
    let legend = [(
        "POS: the two images are of the same class; NEG: of different classes".to_string(),
        TEXT_COLOUR,
    )];
    labelled_pair_grid(set, pairs, &labels, title, &legend, cols, scale)
}

/// A model's call on one pair, for [`prediction_grid`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// The predicted similarity s in (0, 1).
    pub similarity: f32,
    /// The truth: the two images are of the same class.
    pub same: bool,
    /// The prediction: s above the threshold.
    pub called_same: bool,
}

/// Pairs with their predicted similarity (the paper's Figures 6, 9, 10): under each pair, the
/// similarity and the prediction ("0.87: same"), green when it matches the truth and red when
/// not, then the truth ("truth: same"); a legend below says what the colours mean, which
/// `threshold` was used and where it came from (`threshold.1`, e.g. "chosen on validation";
/// see [`prediction_legend`]).
pub fn prediction_grid(
    set: &ImageSet, pairs: &[Pair], verdicts: &[Verdict], threshold: (f32, &str), title: &str,
    cols: usize, scale: usize,
) -> Result<RgbImage> {
    let word = |same: bool| if same { "same" } else { "different" };
    let labels: Vec<Vec<Line>> = verdicts
        .iter()
        .map(|v| {
            let colour = if v.same == v.called_same {
                POS_COLOUR
            } else {
                NEG_COLOUR
            };
            vec![
                (
                    format!("{:.2}: {}", v.similarity, word(v.called_same)),
                    colour,
                ),
                (format!("truth: {}", word(v.same)), TEXT_COLOUR),
            ]
        })
        .collect();
    let legend: Vec<Line> = prediction_legend(verdicts, threshold.0, threshold.1)
        .into_iter()
        .map(|t| (t, TEXT_COLOUR))
        .collect();
    labelled_pair_grid(set, pairs, &labels, title, &legend, cols, scale)
}

/// The legend lines of [`prediction_grid`]: what the number and the colours mean, the
/// threshold with its source, and what "truth" is.
pub fn prediction_legend(
    verdicts: &[Verdict], threshold: f32, threshold_source: &str,
) -> Vec<String> {
    let right = verdicts.iter().filter(|v| v.same == v.called_same).count();
    vec![
        "number: predicted similarity; \"same\" when above the threshold".to_string(),
        format!("threshold {threshold:.3}: {threshold_source}"),
        format!(
            "green: prediction right, red: wrong ({right} of {} right)",
            verdicts.len()
        ),
        "truth: same or different class".to_string(),
    ]
}

/// The grid itself: `title` on top, each pair with its lines of `labels` under it, then the
/// `legend` lines. Errors: no pairs, not one label list per pair, `cols`/`scale` 0, an index
/// outside `set`.
pub fn labelled_pair_grid(
    set: &ImageSet, pairs: &[Pair], labels: &[Vec<Line>], title: &str, legend: &[Line],
    cols: usize, scale: usize,
) -> Result<RgbImage> {
    if pairs.is_empty() || cols == 0 || scale == 0 || labels.len() != pairs.len() {
        return Err(DataError::InvalidArgument(
            "pair_grid needs at least one pair, one label per pair, cols > 0 and scale > 0".into(),
        ));
    }
    set.check_pairs(pairs)?;
    let cells: Vec<Vec<u32>> = pairs.iter().map(|p| vec![p.a, p.b]).collect();
    labelled_grid(set, &cells, labels, title, legend, cols, scale)
}

/// The grid of [`labelled_pair_grid`] with cells of one or two images each (images checked
/// by the caller): a cell as wide as two images, its images centred.
fn labelled_grid(
    set: &ImageSet, cells: &[Vec<u32>], labels: &[Vec<Line>], title: &str, legend: &[Line],
    cols: usize, scale: usize,
) -> Result<RgbImage> {
    let pairs = cells;
    grid_size(pairs.len(), cols, scale, (set.height, set.width))?;
    let px = text_px(scale);
    let line_h = (px * 1.25).ceil() as usize;
    let (iw, ih) = (set.width * scale, set.height * scale);
    let pad = 4 * scale;
    let label_lines = labels.iter().map(Vec::len).max().unwrap_or(0);
    let label_w = labels
        .iter()
        .flatten()
        .map(|(t, _)| text_width(t, px))
        .max()
        .unwrap_or(0);
    let cell_w = (2 * iw + pad).max(label_w) + 2 * pad;
    let cell_h = ih + label_lines * line_h + 2 * pad;
    let rows = pairs.len().div_ceil(cols);
    let title_h = if title.is_empty() { 0 } else { line_h + pad };
    let legend_h = legend.len() * line_h + if legend.is_empty() { 0 } else { pad };
    let text_w = std::iter::once(title)
        .chain(legend.iter().map(|(t, _)| t.as_str()))
        .map(|t| text_width(t, px) + 2 * pad)
        .max()
        .unwrap_or(0);
    let width = (cols.min(pairs.len()) * cell_w).max(text_w);
    let height = title_h + rows * cell_h + legend_h;
    if width
        .checked_mul(height)
        .is_none_or(|n| n > MAX_PICTURE_PIXELS)
    {
        return Err(DataError::InvalidArgument(format!(
            "a {width}x{height} picture exceeds {MAX_PICTURE_PIXELS} pixels: lower --count or --scale"
        )));
    }
    let mut img = RgbImage::new(width, height, [255, 255, 255]);
    draw_text(&mut img, pad, pad / 2, title, px, TEXT_COLOUR);
    for (k, (p, lines)) in pairs.iter().zip(labels).enumerate() {
        let (x, y) = ((k % cols) * cell_w, title_h + (k / cols) * cell_h + pad);
        let n = p.len();
        let cx = x + (cell_w - (n * iw + (n - 1) * pad)) / 2;
        for (j, &i) in p.iter().enumerate() {
            draw_image(&mut img, set, i, cx + j * (iw + pad), y, scale);
        }
        for (n, (text, colour)) in lines.iter().enumerate() {
            let tx = x + cell_w.saturating_sub(text_width(text, px)) / 2;
            draw_text(
                &mut img,
                tx,
                y + ih + pad / 2 + n * line_h,
                text,
                px,
                *colour,
            );
        }
    }
    let legend_y = title_h + rows * cell_h;
    for (n, (text, colour)) in legend.iter().enumerate() {
        draw_text(&mut img, pad, legend_y + n * line_h, text, px, *colour);
    }
    Ok(img)
}

/// A query image and its nearest gallery images (`siamese retrieve --query FILE --strip`):
/// the query once, in the first cell, labelled "query", then each neighbour, nearest first,
/// labelled "r. class, d = distance", at most 6 cells a row, 3× enlarged. `query` holds the
/// query's pixels in [0, 1] in `gallery`'s geometry (rounded back to bytes); `neighbours`
/// holds (image index in `gallery`, distance); `distance_name` names the distance in the legend.
pub fn query_strip(
    gallery: &ImageSet, query: &[f32], neighbours: &[(usize, f32)], title: &str,
    distance_name: &str,
) -> Result<RgbImage> {
    // A set of the query (image 0) and its neighbours (images 1..), one image a cell.
    let mut pixels: Vec<u8> = query
        .iter()
        .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect();
    let mut labels: Vec<crate::Label> = vec![0];
    for &(i, _) in neighbours {
        let image = gallery.image(i).ok_or_else(|| {
            DataError::InvalidArgument(format!("image {i} is outside the gallery"))
        })?;
        pixels.extend_from_slice(image);
        labels.push(gallery.labels[i]);
    }
    let geometry = (gallery.channels, gallery.height, gallery.width);
    let set = ImageSet::new(
        pixels,
        labels.clone(),
        geometry,
        gallery.class_names.clone(),
    )?;
    let cells: Vec<Vec<u32>> = (0..=neighbours.len() as u32).map(|i| vec![i]).collect();
    let mut text: Vec<Vec<Line>> = vec![vec![("query".to_string(), [0, 0, 0])]];
    text.extend(
        neighbours
            .iter()
            .zip(&labels[1..])
            .enumerate()
            .map(|(r, (&(_, d), &c))| {
                let name = &gallery.class_names[c as usize];
                vec![(format!("{}. {name}, d = {d:.3}", r + 1), [0, 0, 0])]
            }),
    );
    let legend = [(
        format!("first: the query; then the gallery images, nearest first, with their class and {distance_name} distance"),
        [0, 0, 0],
    )];
    labelled_grid(&set, &cells, &text, title, &legend, cells.len().min(6), 3)
}

/// The most pairs a picture shows (`--count`) and the most per row (`--cols`): 1024.
pub const MAX_FIGURE_PAIRS: usize = 1024;
/// The largest pixel enlargement (`--scale`): 64.
pub const MAX_SCALE: usize = 64;
/// The most pixels a picture may have: 2^26 (64 Mpx, 192 MB of RGB).
pub const MAX_PICTURE_PIXELS: usize = 1 << 26;

/// An estimate of the (width, height) in pixels of a grid of `pairs` pairs of
/// `height`×`width` images, `cols` per row, enlarged `scale` times (labels of one line; the
/// drawn picture's exact size is checked again against the same limit): checked before any
/// pixel is allocated (the CLI calls it before the data loads). Errors name the flag and its valid range: `--count` and
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
mod tests;
