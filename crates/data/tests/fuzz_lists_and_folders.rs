//! Fuzz tests of the readers of a user's own data (issue 24): pair lists (mutated real lists:
//! quotes, separators, labels, line ends) and image folders (folders of mutated real PNG
//! files). Every case ends in a read or one typed one-line error, never a panic; a folder's
//! files are each either decoded or listed as bad, within the decoder's memory limit.

#[path = "support/alloc.rs"]
mod alloc;
#[path = "support/fuzz.rs"]
#[allow(dead_code)]
mod fuzz;

use std::path::Path;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use siamese_data::folder::{load, scan};
use siamese_data::image_file::MAX_IMAGE_BYTES;
use siamese_data::pair_list::{Labels, PairListReader};
use siamese_data::{DataError, FolderOptions};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

const CASES: usize = 3000;
const BUDGET: Duration = Duration::from_secs(4);
const MIN_CASES: usize = 200;

/// A pair list as people write them: a header, a comment, quoted paths with commas and
/// quotes, labels in every spelling, CRLF and LF.
const LIST: &[u8] = b"path_a,path_b,label\r\n# a comment\nalice/01.png,alice/02.png,1\n\"smith, j/1.png\",b.png,same\r\n\"say \"\"hi\"\".png\",c.jpg,0\n\n  d.png , e.png ,different\nf.png,g.png,TRUE\n";

/// Puts one of the list's special bytes (quote, comma, line end, `#`) somewhere.
fn edit_list(rng: &mut ChaCha8Rng, list: &[u8]) -> Vec<u8> {
    let mut out = list.to_vec();
    let at = rng.gen_range(0..out.len());
    out[at] = [b'"', b',', b'\n', b'\r', b'#', b' ', 0xff][rng.gen_range(0..7)];
    out
}

#[test]
fn fuzz_pair_lists() {
    let check = |b: &[u8]| {
        for labels in [Labels::Required, Labels::Optional] {
            let r = PairListReader::new(b, Path::new("l.csv"), Path::new("/data"), labels);
            for item in r {
                match item {
                    Ok(p) if p.line == 0 => return Err(format!("a pair without a line: {p:?}")),
                    Ok(_) => {}
                    Err(e @ DataError::PairList { .. }) => return fuzz::one_line(&e.to_string()),
                    Err(e) => return Err(format!("not a pair-list error: {e}")),
                }
            }
        }
        Ok(())
    };
    let r = fuzz::run("pair list", LIST, 31, CASES, BUDGET, &edit_list, &check);
    assert!(r.cases >= MIN_CASES, "{r:?}");
}

/// A real 16×16 grey PNG (the encoder is the real one).
fn real_png() -> Vec<u8> {
    let px: Vec<u8> = (0..256usize).map(|i| (i * 7 % 251) as u8).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(16, 16, px).unwrap())
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// Sets the PNG's width or height to another value (its CRC then fails, or not: both reach
/// the decoder's checks).
fn edit_size(rng: &mut ChaCha8Rng, png: &[u8]) -> Vec<u8> {
    fuzz::edit_be_u32(rng, png, &[16, 20])
}

#[test]
fn fuzz_image_folders() {
    let root = std::env::temp_dir().join(format!("siamese-fuzz-folder-{}", std::process::id()));
    let honest = real_png();
    let case = std::cell::Cell::new(0usize);
    // Each case: two classes, a good file each, and the mutated file in the first class.
    let check = |b: &[u8]| {
        let dir = root.join(format!("{}", case.get()));
        case.set(case.get() + 1);
        for (class, name, bytes) in [
            ("a", "good.png", &honest[..]),
            ("b", "good.png", &honest[..]),
            ("a", "x.png", b),
        ] {
            std::fs::create_dir_all(dir.join(class)).unwrap();
            std::fs::write(dir.join(class).join(name), bytes).unwrap();
        }
        let layout = scan(&dir).map_err(|e| format!("scan: {e}"))?;
        let mut opts = FolderOptions::new((1, 16, 16));
        opts.max_bad_share = 1.0;
        let (r, largest) = alloc::largest_allocation(|| load(&layout, &opts, &|_| {}));
        let _ = std::fs::remove_dir_all(&dir);
        // A size edit may announce up to the decoder's limits: memory stays within them.
        fuzz::bounded(largest, MAX_IMAGE_BYTES as usize + (1 << 20))?;
        let images = r.map_err(|e| format!("load: {e}"))?;
        let decoded: usize = images.parts.iter().map(|p| p.2.len()).sum();
        if decoded + images.bad.len() != 3 || decoded < 2 {
            return Err(format!(
                "{decoded} decoded and {} bad of 3 files",
                images.bad.len()
            ));
        }
        images
            .bad
            .iter()
            .try_for_each(|(_, why)| fuzz::one_line(why))
    };
    let r = fuzz::run(
        "image folder",
        &honest,
        37,
        CASES,
        BUDGET,
        &edit_size,
        &check,
    );
    let _ = std::fs::remove_dir_all(&root);
    assert!(r.cases >= MIN_CASES, "{r:?}");
}
