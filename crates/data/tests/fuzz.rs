//! Fuzz tests of the readers on mutated real bytes (issue 13): the IDX files (gzip and raw)
//! and CIFAR-10 batches from the real datasets, a real PNG and a real JPEG (issue 27). Each
//! format runs several thousand seeded cases (bit flips, truncations, extensions, header-field edits) within a
//! fixed time budget, and every case must end in a correct read or a typed one-line error,
//! without a panic, and without any single allocation beyond a small multiple of the input's
//! honest size (a counting global allocator watches). Each prints its case count and time.

#[path = "support/alloc.rs"]
mod alloc;
#[path = "support/fuzz.rs"]
mod fuzz;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use siamese_data::idx::{
    decode_images, decode_labels, encode_images, encode_labels, read_images, read_labels,
};
#[cfg(feature = "images")]
use siamese_data::image_file::{decode_image, MAX_IMAGE_BYTES};
use siamese_data::{cifar, DataError};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Cases per format, and the time after which a format stops early.
const CASES: usize = 4000;
const BUDGET: Duration = Duration::from_secs(4);
/// The fewest cases a format must have run for the test to count (a loaded machine stops on
/// time, well before 4000).
const MIN_CASES: usize = 300;
/// Slack over the honest size for buffers of fixed size (BufReader, inflate window, messages).
const SLACK: usize = 1 << 20;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn real(rel: &str) -> PathBuf {
    let root = std::env::var("SIAMESE_DATA_DIR")
        .expect("needs the real datasets: set SIAMESE_DATA_DIR (e.g. ../shared/datasets)");
    Path::new(&root).join(rel)
}

/// Writes `bytes` to `path`, then runs `read` on it measuring its largest allocation.
fn measured<R>(path: &Path, bytes: &[u8], read: impl FnOnce(&Path) -> R) -> (R, usize) {
    std::fs::write(path, bytes).unwrap();
    alloc::largest_allocation(|| read(path))
}

/// One IDX case, in memory (the same streamed, bounded reader as from disk, without the
/// file system's time: a loaded CI machine writes files slowly).
fn idx_check(path: &Path, bytes: &[u8], labels: bool, bound: usize) -> Result<(), String> {
    let (result, largest) = alloc::largest_allocation(|| {
        if labels {
            decode_labels(path, bytes, 10).map(|l| (l.len(), l.len(), l.iter().all(|&x| x < 10)))
        } else {
            decode_images(path, bytes).map(|i| (i.pixels.len(), i.count * i.rows * i.cols, true))
        }
    });
    fuzz::bounded(largest, bound)?;
    match result {
        Ok((have, want, labels_ok)) if have == want && labels_ok => Ok(()),
        Ok(r) => Err(format!("a wrong read accepted: {r:?}")),
        Err(e) => fuzz::one_line(&e.to_string()),
    }
}

/// The IDX fuzz of one real file (`honest`, decompressed), raw and gzip.
fn fuzz_idx(name: &str, honest: &[u8], labels: bool, seed: u64) {
    let offsets: &[usize] = if labels { &[0, 4] } else { &[0, 4, 8, 12] };
    let bound = 2 * (honest.len() + 65_536) + SLACK;
    let raw_path = Path::new(name);
    let raw_edit = |rng: &mut ChaCha8Rng, b: &[u8]| fuzz::edit_be_u32(rng, b, offsets);
    let raw_check = |b: &[u8]| idx_check(raw_path, b, labels, bound);
    let r = fuzz::run(name, honest, seed, CASES, BUDGET, &raw_edit, &raw_check);
    assert!(r.cases >= MIN_CASES, "{r:?}");
    // gzip: the compressed bytes mutated as they are, and header edits made on the
    // decompressed bytes then compressed again.
    let gz_name = format!("{name}.gz");
    let gz_path = Path::new(&gz_name);
    let gz_edit = |rng: &mut ChaCha8Rng, b: &[u8]| gz(&fuzz::edit_be_u32(rng, &gunzip(b), offsets));
    let gz_check = |b: &[u8]| idx_check(gz_path, b, labels, bound);
    let r = fuzz::run(
        &gz_name,
        &gz(honest),
        seed + 1,
        CASES,
        BUDGET,
        &gz_edit,
        &gz_check,
    );
    assert!(r.cases >= MIN_CASES, "{r:?}");
}

#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn fuzz_idx_files_of_the_real_mnist() {
    let labels = gunzip(&std::fs::read(real("mnist/t10k-labels-idx1-ubyte.gz")).unwrap());
    assert_eq!(labels.len(), 8 + 10_000);
    fuzz_idx("t10k-labels-idx1-ubyte", &labels, true, 13);
    // The first 100 real test images under their real header (a whole file is 7.8 MB: too
    // slow to read thousands of times in a test).
    let images = gunzip(&std::fs::read(real("mnist/t10k-images-idx3-ubyte.gz")).unwrap());
    let first = encode_images(100, 28, 28, &images[16..16 + 100 * 784]);
    fuzz_idx("t10k-images-idx3-ubyte", &first, false, 17);
}

#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn fuzz_cifar_batches_of_the_real_cifar10() {
    let mut honest = vec![0u8; 20 * cifar::RECORD];
    let mut f = std::fs::File::open(real("cifar-10/test_batch.bin")).unwrap();
    f.read_exact(&mut honest).unwrap();
    let path = Path::new("test_batch.bin");
    // Header-field edits of a headerless format: a record's label byte.
    let edit = |rng: &mut ChaCha8Rng, b: &[u8]| {
        let mut out = b.to_vec();
        let r = rng.gen_range(0..out.len() / cifar::RECORD);
        out[r * cifar::RECORD] = rng.gen();
        out
    };
    let bound = 2 * (honest.len() + 65_536) + SLACK;
    let check = |b: &[u8]| {
        // In memory: the same length checks as from disk (read_batch_into checks the file's
        // length before reading it).
        let (result, largest) = alloc::largest_allocation(|| {
            let (mut images, mut labels) = (Vec::new(), Vec::new());
            cifar::parse_batch_into(path, b, 10, &mut images, &mut labels)
                .map(|n| (n, images.len(), labels.iter().all(|&l| l < 10)))
        });
        fuzz::bounded(largest, bound)?;
        match result {
            Ok((n, px, ok)) if px == n * cifar::PIXELS && ok => Ok(()),
            Ok(r) => Err(format!("a wrong read accepted: {r:?}")),
            Err(e) => fuzz::one_line(&e.to_string()),
        }
    };
    let r = fuzz::run(
        "cifar-10 test_batch.bin",
        &honest,
        19,
        CASES,
        BUDGET,
        &edit,
        &check,
    );
    assert!(r.cases >= MIN_CASES, "{r:?}");
}

#[cfg(feature = "images")]
/// A real 28×28 grey PNG (an MNIST-like digit drawn here: the PNG encoder is the real one).
fn real_png() -> Vec<u8> {
    let px: Vec<u8> = (0..28 * 28usize)
        .map(|i| {
            if (i % 28).abs_diff(14) < 4 {
                255
            } else {
                (i % 97) as u8
            }
        })
        .collect();
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(28, 28, px).unwrap())
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

#[cfg(feature = "images")]
/// Sets a field of the PNG's IHDR chunk (width, height, bit depth, colour type) and fixes
/// the chunk's CRC, so the edit reaches the decoder.
fn edit_ihdr(rng: &mut ChaCha8Rng, png: &[u8]) -> Vec<u8> {
    let mut out = png.to_vec();
    match rng.gen_range(0..3) {
        0 => out = fuzz::edit_be_u32(rng, &out, &[16, 20]),
        1 => out[24] = [1, 2, 4, 8, 16, 3, 0, 255][rng.gen_range(0..8)],
        _ => out[25] = [0, 2, 3, 4, 6, 1, 7, 255][rng.gen_range(0..8)],
    }
    fix_ihdr_crc(&mut out);
    out
}

#[cfg(feature = "images")]
fn fix_ihdr_crc(png: &mut [u8]) {
    let mut crc = flate2::Crc::new();
    crc.update(&png[12..29]);
    png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(feature = "images")]
#[test]
fn fuzz_png_files() {
    let honest = real_png();
    let check = |b: &[u8]| {
        let (result, largest) =
            alloc::largest_allocation(|| decode_image(b, Path::new("f.png"), (1, 28, 28)));
        // A header edit may announce up to the decoder's limits (4096×4096, 128 MiB):
        // memory is bounded by them, whatever the file says.
        fuzz::bounded(largest, MAX_IMAGE_BYTES as usize + SLACK)?;
        match result {
            Ok(img)
                if img.pixels.len() == 784
                    && img.pixels.iter().all(|v| (0.0..=1.0).contains(v)) =>
            {
                Ok(())
            }
            Ok(img) => Err(format!(
                "a wrong read accepted: {} values",
                img.pixels.len()
            )),
            Err(e @ DataError::Image { .. }) => fuzz::one_line(&e.to_string()),
            Err(e) => Err(format!("not an image error: {e}")),
        }
    };
    let r = fuzz::run("png", &honest, 23, CASES, BUDGET, &edit_ihdr, &check);
    assert!(r.cases >= MIN_CASES, "{r:?}");
}

#[cfg(feature = "images")]
/// A real baseline JPEG of 28×28 grey pixels (drawn here; the JPEG encoder is the real one).
fn real_jpeg() -> Vec<u8> {
    let px: Vec<u8> = (0..28 * 28usize)
        .map(|i| ((i * 37) ^ (i / 28 * 91)) as u8)
        .collect();
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(28, 28, px).unwrap())
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

#[cfg(feature = "images")]
/// Sets the height or the width of the JPEG's frame header (SOF0: `FF C0`, length, precision,
/// then the 16-bit height and width) to an edge value.
fn edit_sof(rng: &mut ChaCha8Rng, jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    if let Some(sof) = out.windows(2).position(|w| w == [0xFF, 0xC0]) {
        let at = sof + 5 + 2 * rng.gen_range(0..2);
        let v: u16 = [0, 1, 27, 29, 4096, 4097, 20_000, u16::MAX][rng.gen_range(0..8)];
        out[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(feature = "images")]
/// Issue 27: JPEG, whose decoder (image 0.25) accepts a file cut inside its scan data. Every
/// cut of the honest file must be refused (the reader's own end check), every other case
/// must decode to 28×28 pixels in [0, 1] or be a one-line image error, in memory bounded by
/// the decoder's limits.
#[test]
fn fuzz_jpeg_files() {
    let honest = real_jpeg();
    let check = |b: &[u8]| {
        let (result, largest) =
            alloc::largest_allocation(|| decode_image(b, Path::new("f.jpg"), (1, 28, 28)));
        fuzz::bounded(largest, MAX_IMAGE_BYTES as usize + SLACK)?;
        let cut = b.len() < honest.len() && honest.starts_with(b);
        match result {
            Ok(_) if cut => Err(format!("a JPEG cut at byte {} accepted", b.len())),
            Ok(img)
                if img.pixels.len() == 784
                    && img.pixels.iter().all(|v| (0.0..=1.0).contains(v)) =>
            {
                Ok(())
            }
            Ok(img) => Err(format!(
                "a wrong read accepted: {} values",
                img.pixels.len()
            )),
            Err(e @ DataError::Image { .. }) => fuzz::one_line(&e.to_string()),
            Err(e) => Err(format!("not an image error: {e}")),
        }
    };
    let r = fuzz::run("jpeg", &honest, 29, CASES, BUDGET, &edit_sof, &check);
    assert!(r.cases >= MIN_CASES, "{r:?}");
}

#[cfg(feature = "images")]
/// Issue 13, cause 4: a 389 KB PNG of 20000×20000 pixels was decoded at 405 MB. Its header is
/// refused now, naming the limits, before any pixel buffer is allocated.
#[test]
fn a_png_announcing_20000_by_20000_pixels_is_refused_before_decoding() {
    let mut png = real_png();
    png[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    fix_ihdr_crc(&mut png);
    let (r, largest) =
        alloc::largest_allocation(|| decode_image(&png, Path::new("big.png"), (1, 28, 28)));
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("big.png") && e.contains("4096x4096 pixels"),
        "{e}"
    );
    assert!(largest < 1 << 20, "allocated {largest} bytes at once");
}

/// Issue 13, cause 4: a small gzip IDX file with a valid header that inflates far beyond it
/// (here 10 labels, then 64 MiB of zeros, 65 KB compressed) is read only up to the size the
/// header implies, then refused; memory stays at the header's size. Before the fix the whole
/// stream was inflated into memory first.
#[test]
fn a_gzip_bomb_is_refused_without_inflating_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = encode_labels(&[1; 10]);
    bomb.resize(bomb.len() + (64 << 20), 0);
    let path = dir.path().join("bomb-labels.gz");
    let (r, largest) = measured(&path, &gz(&bomb), |p| read_labels(p, 10));
    drop(bomb);
    match r {
        Err(e @ DataError::TooLong { at_least: true, .. }) => {
            assert!(
                e.to_string()
                    .contains("too long: expected 18 bytes, found more than"),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(largest < 1 << 20, "allocated {largest} bytes at once");
    // A header announcing 300,000 images over 10 real ones: truncated, and memory follows
    // the bytes present, not the 235 MB announced.
    let mut liar = encode_images(10, 28, 28, &[7; 7840]);
    liar[4..8].copy_from_slice(&300_000u32.to_be_bytes());
    for (name, bytes) in [("liar.gz", gz(&liar)), ("liar", liar.clone())] {
        let (r, largest) = measured(&dir.path().join(name), &bytes, read_images);
        assert!(
            matches!(
                r,
                Err(DataError::Truncated {
                    part: "payload",
                    ..
                })
            ),
            "{name}: {r:?}"
        );
        assert!(
            largest < 1 << 20,
            "{name}: allocated {largest} bytes at once"
        );
    }
    // More than the 256 MiB limit is refused from the header alone.
    liar[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    let (r, _) = measured(&dir.path().join("huge"), &liar, read_images);
    assert!(matches!(r, Err(DataError::TooLarge { .. })), "{r:?}");
}
