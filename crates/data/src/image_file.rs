//! A user's image file as a model input (`siamese compare a.png b.png`): decoded (PNG, JPEG,
//! BMP or PNM, recognised by content, whatever the file's extension; by extension only when
//! the content says nothing), within the decoder limits [`MAX_IMAGE_SIDE`] and
//! [`MAX_IMAGE_BYTES`], converted to the model's channels
//! (gray for C = 1, RGB for C = 3, alpha dropped), brought to its H×W by a [`Fit`] when the
//! size differs (bilinear, with a note saying so), and scaled to [0, 1] as the datasets are:
//! x = pixel / 255, C×H×W planes in NCHW order. [`decode_pixels`] stops before the scaling
//! (u8 planes, what the image-folder reader and its cache keep).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use ::image::error::ImageError;
use ::image::imageops::FilterType;
use ::image::{DynamicImage, ImageFormat, ImageReader, Limits};
use siamese_tensor::Tensor;

use crate::error::{DataError, Result};
use crate::input::Fit;

/// The widest and tallest image file accepted, in pixels: 4096 (a 20000×20000 file is refused
/// before any pixel is decoded).
pub const MAX_IMAGE_SIDE: u32 = 4096;
/// The most memory the decoder may hold at once, output image included: 128 MiB.
pub const MAX_IMAGE_BYTES: u64 = 128 << 20;
/// The biggest file read from disk: 64 MiB (a compressed image of 4096×4096 is far smaller).
pub const MAX_IMAGE_FILE: u64 = 64 << 20;

/// An image file's pixels at the model's geometry, as bytes: C planes of H×W, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Pixels {
    /// C×H×W values 0..=255.
    pub bytes: Vec<u8>,
    /// The file's own (width, height) when it differed from the model's.
    pub resized_from: Option<(usize, usize)>,
}

/// An image file ready for the network: `channels`×`height`×`width` values in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct InputImage {
    /// The file it came from (for messages).
    pub path: PathBuf,
    /// C×H×W values in [0, 1], one plane per channel.
    pub pixels: Vec<f32>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// The file's own (width, height) when it differed from the model's and was resized.
    pub resized_from: Option<(usize, usize)>,
}

impl InputImage {
    /// The image as a batch of one, 1×C×H×W.
    pub fn tensor(&self) -> Result<Tensor> {
        let shape = [1, self.channels, self.height, self.width];
        Ok(Tensor::from_vec(&shape, self.pixels.clone())?)
    }

    /// `note: <file> is W₀xH₀, resized to WxH` when the file was resized, else None.
    pub fn resize_note(&self) -> Option<String> {
        self.resized_from.map(|(w0, h0)| {
            format!(
                "note: {} is {w0}x{h0}, resized to {}x{}",
                self.path.display(),
                self.width,
                self.height
            )
        })
    }
}

/// Reads the image file at `path` as a `(channels, height, width)` model input (channels 1
/// or 3). A missing, unreadable, empty, corrupt or unknown file is one [`DataError::Image`]
/// naming the file; never a panic.
pub fn read_image(path: &Path, geometry: (usize, usize, usize)) -> Result<InputImage> {
    read_image_fit(path, geometry, Fit::Stretch)
}

/// [`read_image`] brought to the model's size by `fit` (a folder-trained network's own).
pub fn read_image_fit(
    path: &Path, geometry: (usize, usize, usize), fit: Fit,
) -> Result<InputImage> {
    let px = decode_pixels(&read_file(path)?, path, geometry, fit)?;
    Ok(input_image(px, path, geometry))
}

/// [`read_image`] as u8 planes with a [`Fit`]: the file read (at most [`MAX_IMAGE_FILE`]
/// bytes) and given to [`decode_pixels`].
pub fn read_pixels(path: &Path, geometry: (usize, usize, usize), fit: Fit) -> Result<Pixels> {
    decode_pixels(&read_file(path)?, path, geometry, fit)
}

/// The bytes of the file at `path`, refused past [`MAX_IMAGE_FILE`] before they are read.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |e: std::io::Error| image_error(path, e.to_string());
    let f = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    f.take(MAX_IMAGE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_IMAGE_FILE {
        return Err(image_error(
            path,
            format!(
                "the file is larger than the {} MiB limit",
                MAX_IMAGE_FILE >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_image`] on the bytes of a file already in memory (`path` names it in messages and
/// gives the format by extension when the content does not), stretched to the model's size.
pub fn decode_image(
    bytes: &[u8], path: &Path, geometry: (usize, usize, usize),
) -> Result<InputImage> {
    let px = decode_pixels(bytes, path, geometry, Fit::Stretch)?;
    Ok(input_image(px, path, geometry))
}

/// Decoded pixels scaled to [0, 1] as the datasets are.
fn input_image(
    px: Pixels, path: &Path, (channels, height, width): (usize, usize, usize),
) -> InputImage {
    InputImage {
        path: path.to_path_buf(),
        pixels: px
            .bytes
            .into_iter()
            .map(crate::batch::scale_pixel)
            .collect(),
        channels,
        height,
        width,
        resized_from: px.resized_from,
    }
}

/// The decoding of [`decode_image`] without the scaling: u8 planes at the model's
/// `(channels, height, width)`, the size reached by `fit`.
pub fn decode_pixels(
    bytes: &[u8], path: &Path, (channels, height, width): (usize, usize, usize), fit: Fit,
) -> Result<Pixels> {
    if !matches!(channels, 1 | 3) || height == 0 || width == 0 {
        return Err(DataError::InvalidArgument(format!(
            "an image input must be 1 or 3 channels of at least 1x1 pixels, not {channels}x{height}x{width}"
        )));
    }
    if bytes.is_empty() {
        return Err(image_error(path, "the file is empty (0 bytes)".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| image_error(path, e.to_string()))?;
    if reader.format().is_none() {
        match ImageFormat::from_path(path) {
            Ok(f) => reader.set_format(f),
            Err(_) => return Err(image_error(path, "not a PNG, JPEG, BMP or PNM file".into())),
        }
    }
    if reader.format() == Some(ImageFormat::Jpeg) {
        jpeg_is_complete(bytes).map_err(|m| image_error(path, m))?;
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        ImageError::Limits(l) => image_error(
            path,
            format!(
                "too large to decode ({l}): the limits are {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels and {} MiB of decoded data",
                MAX_IMAGE_BYTES >> 20
            ),
        ),
        e => image_error(path, e.to_string()),
    })?;
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    let (img, resized_from) = if (w0, h0) == (width, height) {
        (img, None)
    } else {
        (
            fit_to(img, width as u32, height as u32, fit),
            Some((w0, h0)),
        )
    };
    Ok(Pixels {
        bytes: planes(&img, channels),
        resized_from,
    })
}

/// `img` brought to `w`×`h` by the rule of [`Fit`].
fn fit_to(img: DynamicImage, w: u32, h: u32, fit: Fit) -> DynamicImage {
    let img = match fit {
        Fit::Stretch => img,
        Fit::Crop => {
            let (w0, h0) = (u64::from(img.width()), u64::from(img.height()));
            let (tw, th) = (u64::from(w), u64::from(h));
            let (cw, ch) = if w0 * th > h0 * tw {
                (((h0 * tw + th / 2) / th).clamp(1, w0), h0)
            } else {
                (w0, ((w0 * th + tw / 2) / tw).clamp(1, h0))
            };
            let (x, y) = ((w0 - cw) / 2, (h0 - ch) / 2);
            img.crop_imm(x as u32, y as u32, cw as u32, ch as u32)
        }
    };
    if (img.width(), img.height()) == (w, h) {
        img
    } else {
        img.resize_exact(w, h, FilterType::Triangle)
    }
}

/// The image's pixels as `channels` planes (gray: ITU-R 601 luma of RGB).
fn planes(img: &DynamicImage, channels: usize) -> Vec<u8> {
    if channels == 1 {
        return img.to_luma8().into_raw();
    }
    let rgb = img.to_rgb8();
    let n = rgb.width() as usize * rgb.height() as usize;
    let mut out = vec![0u8; 3 * n];
    for (i, p) in rgb.pixels().enumerate() {
        for (ch, &v) in p.0.iter().enumerate() {
            out[ch * n + i] = v;
        }
    }
    out
}

/// JPEG's own end check, because image 0.25's decoder accepts a file cut inside its scan data
/// (the first 700 bytes of a baseline JPEG decode to an image, the missing rows made up): the
/// markers are walked from the start-of-image marker, each segment skipped by its length and
/// each entropy-coded scan read to the marker that ends it (`FF 00` and `FF D0`–`FF D7` belong
/// to the scan), and the end-of-image marker `FF D9` must be reached. Bytes after it are
/// ignored, as decoders do.
fn jpeg_is_complete(b: &[u8]) -> std::result::Result<(), String> {
    let n = b.len();
    let truncated =
        || format!("truncated JPEG: the file ends at byte {n} before its end-of-image marker");
    if !b.starts_with(&[0xFF, 0xD8]) {
        return Err("not a JPEG: no start-of-image marker".into());
    }
    let mut i = 2;
    loop {
        match b.get(i) {
            None => return Err(truncated()),
            Some(0xFF) => {}
            Some(_) => return Err(format!("damaged JPEG: no marker at byte {i}")),
        }
        while b.get(i) == Some(&0xFF) {
            i += 1; // fill bytes before a marker
        }
        let marker = *b.get(i).ok_or_else(truncated)?;
        i += 1;
        match marker {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD7 => continue, // markers without a segment
            _ => {}
        }
        let len = match b.get(i..i + 2) {
            Some(&[hi, lo]) => usize::from(hi) << 8 | usize::from(lo),
            _ => return Err(truncated()),
        };
        if len < 2 {
            return Err(format!(
                "damaged JPEG: a segment of length {len} at byte {i}"
            ));
        }
        i += len;
        if i > n {
            return Err(truncated());
        }
        if marker == 0xDA {
            // The scan's entropy-coded data, up to the next marker.
            while i + 1 < n {
                if b[i] == 0xFF && !matches!(b[i + 1], 0x00 | 0xD0..=0xD7) {
                    break;
                }
                i += if b[i] == 0xFF { 2 } else { 1 };
            }
            if i + 1 >= n {
                return Err(truncated());
            }
        }
    }
}

fn image_error(path: &Path, message: String) -> DataError {
    DataError::Image {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{ExtendedColorType, GrayImage, RgbImage};

    fn png(img: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn gray(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> DynamicImage {
        DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, y| [f(x, y)].into()))
    }

    #[test]
    fn a_gray_png_of_the_model_size_is_its_pixels_over_255() {
        let img = gray(3, 2, |x, y| (x * 100 + y * 10) as u8);
        let got = decode_image(&png(&img), Path::new("g.png"), (1, 2, 3)).unwrap();
        let want: Vec<f32> = [0, 100, 200, 10, 110, 210]
            .iter()
            .map(|&v| crate::batch::scale_pixel(v))
            .collect();
        assert_eq!(got.pixels, want);
        assert_eq!(got.resized_from, None);
        assert_eq!(got.resize_note(), None);
        assert_eq!(got.tensor().unwrap().shape(), &[1, 1, 2, 3]);
    }

    #[test]
    fn rgb_becomes_three_planes_and_gray_for_a_one_channel_model() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(2, 1, |x, _| {
            if x == 0 {
                [255, 0, 0].into()
            } else {
                [0, 0, 255].into()
            }
        }));
        let bytes = png(&img);
        let rgb = decode_image(&bytes, Path::new("c.png"), (3, 1, 2)).unwrap();
        // Plane R, then G, then B; each plane in row-major order.
        assert_eq!(rgb.pixels, [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let g = decode_image(&bytes, Path::new("c.png"), (1, 1, 2)).unwrap();
        // Luma of pure red and pure blue: red is the brighter one, neither is black or white.
        assert!(g.pixels[0] > g.pixels[1] && g.pixels[1] > 0.0 && g.pixels[0] < 1.0);
        // A gray file for a colour model: three equal planes.
        let gray_file = png(&gray(2, 1, |x, _| if x == 0 { 51 } else { 204 }));
        let three = decode_image(&gray_file, Path::new("g.png"), (3, 1, 2)).unwrap();
        assert_eq!(three.pixels, [0.2, 0.8, 0.2, 0.8, 0.2, 0.8]);
    }

    #[test]
    fn another_size_is_resized_with_a_note() {
        let img = gray(40, 30, |_, _| 128);
        let got = decode_image(&png(&img), Path::new("big.png"), (1, 28, 28)).unwrap();
        assert_eq!(got.pixels.len(), 28 * 28);
        // A constant image stays constant under bilinear resizing.
        assert!(got.pixels.iter().all(|&v| v == 128.0 / 255.0));
        assert_eq!(got.resized_from, Some((40, 30)));
        assert_eq!(
            got.resize_note().as_deref(),
            Some("note: big.png is 40x30, resized to 28x28")
        );
    }

    /// A 6x2 image, black at both ends and white in the middle: cropped to 2x2 it is the white
    /// middle, untouched; stretched to 2x2 the black columns are mixed in.
    #[test]
    fn crop_keeps_the_centred_window_and_stretch_squeezes_the_whole_image() {
        let img = png(&gray(
            6,
            2,
            |x, _| if (2..4).contains(&x) { 255 } else { 0 },
        ));
        let crop = decode_pixels(&img, Path::new("w.png"), (1, 2, 2), Fit::Crop).unwrap();
        assert_eq!(crop.bytes, [255; 4]);
        assert_eq!(crop.resized_from, Some((6, 2)));
        let stretch = decode_pixels(&img, Path::new("w.png"), (1, 2, 2), Fit::Stretch).unwrap();
        assert!(
            stretch.bytes.iter().all(|&v| v < 255),
            "{:?}",
            stretch.bytes
        );
        // A tall image is cropped in rows: the middle row of a 1x3 image for a 1x1 model.
        let tall = png(&gray(1, 3, |_, y| [10, 20, 30][y as usize]));
        let one = decode_pixels(&tall, Path::new("t.png"), (1, 1, 1), Fit::Crop).unwrap();
        assert_eq!(one.bytes, [20]);
        assert_eq!("crop".parse::<Fit>().unwrap(), Fit::Crop);
        assert_eq!(
            Fit::Stretch.to_string().parse::<Fit>().unwrap(),
            Fit::Stretch
        );
        assert!("squash".parse::<Fit>().is_err());
    }

    #[test]
    fn jpeg_bmp_and_pnm_are_recognised_by_content() {
        let img = gray(4, 4, |_, _| 200);
        for (format, name) in [
            (ImageFormat::Jpeg, "x.png"),
            (ImageFormat::Bmp, "x"),
            (ImageFormat::Pnm, "x.dat"),
        ] {
            let mut out = Cursor::new(Vec::new());
            img.write_to(&mut out, format).unwrap();
            let got = decode_image(out.get_ref(), Path::new(name), (1, 4, 4)).unwrap();
            let err = got.pixels.iter().map(|&v| (v - 200.0 / 255.0).abs());
            assert!(err.fold(0.0, f32::max) < 0.02, "{format:?}");
        }
    }

    #[test]
    fn bad_files_are_one_clear_error_naming_the_file() {
        let good = png(&gray(8, 8, |x, y| (x * y) as u8));
        let cases: [(&[u8], &str); 4] = [
            (b"", "empty"),
            (b"hello, not an image", "not a PNG, JPEG, BMP or PNM"),
            (&good[..good.len() / 2], "cannot read image"),
            (&good[..12], "cannot read image"),
        ];
        for (bytes, needle) in cases {
            let e = decode_image(bytes, Path::new("bad.png.txt"), (1, 8, 8))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("bad.png.txt: cannot read image"), "{e}");
            assert!(e.contains(needle) && !e.contains('\n'), "{e}");
        }
        let mut corrupt = good.clone();
        for b in &mut corrupt[40..] {
            *b = 0xA5;
        }
        assert!(decode_image(&corrupt, Path::new("c.png"), (1, 8, 8)).is_err());
        let e = read_image(Path::new("/no/such/dir/a.png"), (1, 8, 8)).unwrap_err();
        assert!(e.to_string().contains("/no/such/dir/a.png"), "{e}");
        let e = decode_image(&good, Path::new("a.png"), (4, 8, 8)).unwrap_err();
        assert!(e.to_string().contains("1 or 3 channels"), "{e}");
    }

    /// A baseline JPEG of noisy 64x64 pixels (several kilobytes), from the image crate's encoder.
    fn noisy_jpeg() -> Vec<u8> {
        let img = gray(64, 64, |x, y| ((x * 37 + y * 91) ^ (x * y)) as u8);
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    /// Issue 27, cause 8: image 0.25 decodes the first 700 bytes of a baseline JPEG to an image;
    /// the reader's own check refuses every cut before the end-of-image marker, and the whole
    /// file (with bytes after its end) still decodes.
    #[test]
    fn a_truncated_jpeg_is_refused() {
        let jpeg = noisy_jpeg();
        assert!(jpeg.len() > 1400, "{}", jpeg.len());
        assert!(decode_image(&jpeg, Path::new("n.jpg"), (1, 64, 64)).is_ok());
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"trailing bytes");
        assert!(decode_image(&trailing, Path::new("n.jpg"), (1, 64, 64)).is_ok());
        for cut in [
            700,
            2,
            3,
            20,
            jpeg.len() / 2,
            jpeg.len() - 2,
            jpeg.len() - 1,
        ] {
            let e = decode_image(&jpeg[..cut], Path::new("n.jpg"), (1, 64, 64))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("n.jpg") && e.contains("truncated JPEG"),
                "{cut}: {e}"
            );
        }
    }

    #[test]
    fn read_image_reads_a_file_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("one.png");
        ::image::save_buffer(&p, &[0, 255, 255, 0], 2, 2, ExtendedColorType::L8).unwrap();
        let got = read_image(&p, (1, 2, 2)).unwrap();
        assert_eq!(got.pixels, [0.0, 1.0, 1.0, 0.0]);
        assert_eq!(got.path, p);
    }
}
