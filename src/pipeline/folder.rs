//! A user's image folder as a command's data ([`load_folder`]): scanned, decoded in parallel
//! with a progress bar on stderr (or read from the cache), and cut into the training images
//! (with the folder's own validation images, if any) and the test images by the folder rules
//! of [`crate::data::split`] (`--help` of `train` states them).

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::data::folder::{self, Part};
use crate::data::Layout;
use crate::data::{split, Fit, FolderImages, FolderOptions, ImageSet, Label};
use crate::model::run::ImageFolder;
use crate::{ModelError, Result};

/// The scan [`describe`] made, kept for the read that follows it in the same command, so that
/// every file is listed and stat-ed once (on a large folder of small images, the scan is most
/// of a cached read's time).
static LAST_SCAN: Mutex<Option<Layout>> = Mutex::new(None);

/// `folder::scan(dir)`, or the scan [`describe`] kept for `dir` (taken: used once).
fn scan(dir: &Path) -> Result<Layout> {
    let kept = LAST_SCAN.lock().unwrap_or_else(|e| e.into_inner()).take();
    match kept {
        Some(l) if l.root == dir => Ok(l),
        _ => Ok(folder::scan(dir)?),
    }
}

/// Keeps `layout` for the next [`scan`] of its folder.
fn keep(layout: Layout) {
    *LAST_SCAN.lock().unwrap_or_else(|e| e.into_inner()) = Some(layout);
}

/// A folder's data: training images (validation ones included), test images, and the
/// positions in `train` of the folder's own `val/` images.
pub struct FolderSets {
    pub train: ImageSet,
    pub test: ImageSet,
    pub val: Option<Vec<u32>>,
}

/// Scans and decodes `f` (or reads it from the cache), printing the scan's and the decoder's
/// notes on stderr, and a note when its classes are not the ones `f` names (a checkpoint's
/// folder changed since its run).
fn decode(f: &ImageFolder) -> Result<FolderImages> {
    let layout = scan(&f.dir)?;
    for note in layout.ignored.notes() {
        eprintln!("{note}");
    }
    if layout.class_names != f.class_names {
        eprintln!(
            "note: {} now holds {} classes, the run named {}; labels follow the folder as it is",
            f.dir.display(),
            layout.class_names.len(),
            f.class_names.len()
        );
    }
    let mut opts = FolderOptions::new(f.input);
    opts.fit = f.fit;
    opts.cache_dir = folder::default_cache_dir();
    opts.threads = rayon::current_num_threads();
    let bar = decode_bar(layout.len() as u64);
    let t = Instant::now();
    let images = folder::load(&layout, &opts, &|done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    say_how_it_went(&images, t.elapsed().as_secs_f64(), layout.len());
    Ok(images)
}

/// A folder of class folders as retrieval queries against a gallery whose classes are
/// `names`: every image of `dir` (all its parts), labelled by its class's position in
/// `names`; images of a class `names` lacks are left out, and counted.
pub fn load_queries(
    dir: &Path, input: (usize, usize, usize), fit: Fit, names: &[String],
) -> Result<(ImageSet, usize)> {
    let f = describe(dir, Some(input), fit)?;
    let images = decode(&f)?;
    let map: Vec<Option<Label>> = images
        .class_names
        .iter()
        .map(|c| names.iter().position(|n| n == c).map(|i| i as Label))
        .collect();
    let per = input.0 * input.1 * input.2;
    let (mut pixels, mut labels, mut left_out) = (Vec::new(), Vec::new(), 0);
    for (_, px, l) in &images.parts {
        for (i, &c) in l.iter().enumerate() {
            match map[c as usize] {
                Some(g) => {
                    pixels.extend_from_slice(&px[i * per..(i + 1) * per]);
                    labels.push(g);
                }
                None => left_out += 1,
            }
        }
    }
    if labels.is_empty() {
        return Err(ModelError::Config(format!(
            "{}: none of its classes is one of the gallery's",
            dir.display()
        )));
    }
    Ok((
        ImageSet::new(pixels, labels, input, names.to_vec())?,
        left_out,
    ))
}

/// Reads `f` (see the module doc).
pub fn load_folder(f: &ImageFolder) -> Result<FolderSets> {
    let images = decode(f)?;
    let (names, geometry) = (&images.class_names, images.geometry);
    let mut sets = Vec::new();
    for (part, px, labels) in images.parts {
        sets.push((part, ImageSet::new(px, labels, geometry, names.clone())?));
    }
    let mut take = |want: Part| {
        sets.iter()
            .position(|s| s.0 == want)
            .map(|i| sets.remove(i).1)
    };
    // The scan gives either the whole folder, or train/ with val/ and test/ when present.
    let mut train = take(Part::Train)
        .or_else(|| take(Part::All))
        .ok_or_else(|| ModelError::Config(format!("{}: no training images", f.dir.display())))?;
    let own_val = take(Part::Val);
    let test = match take(Part::Test) {
        Some(t) => t,
        None => {
            let all: Vec<u32> = (0..train.len() as u32).collect();
            let (kept, held) = split::folder_split(&train.labels, &all, split::FOLDER_TEST_SEED)?;
            let test = subset(&train, &held)?;
            train = subset(&train, &kept)?;
            test
        }
    };
    let val = match own_val {
        Some(v) => Some(append(&mut train, &v)?),
        None => None,
    };
    let singles = train.histogram().iter().filter(|&&n| n == 1).count();
    if singles > 0 {
        eprintln!(
            "note: {singles} class(es) have one training image: negatives only, never an anchor (no positive pair without a second image)"
        );
    }
    Ok(FolderSets { train, test, val })
}

/// The images `idx` of `set`, in that order.
fn subset(set: &ImageSet, idx: &[u32]) -> Result<ImageSet> {
    let mut pixels = Vec::with_capacity(idx.len() * set.image_len());
    for &i in idx {
        pixels.extend_from_slice(set.image(i as usize).unwrap_or_default());
    }
    let labels = idx.iter().map(|&i| set.labels[i as usize]).collect();
    let g = (set.channels, set.height, set.width);
    Ok(ImageSet::new(pixels, labels, g, set.class_names.clone())?)
}

/// Appends the images of `more` to `set`; their positions in it.
fn append(set: &mut ImageSet, more: &ImageSet) -> Result<Vec<u32>> {
    let from = set.len() as u32;
    let mut px = std::mem::take(&mut set.images);
    px.extend_from_slice(&more.images);
    let mut l = std::mem::take(&mut set.labels);
    l.extend_from_slice(&more.labels);
    let g = (set.channels, set.height, set.width);
    *set = ImageSet::new(px, l, g, set.class_names.clone())?;
    Ok((from..set.len() as u32).collect())
}

fn decode_bar(files: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(files), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("decoding {pos}/{len} images [{bar:30}] {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// One line on where the pixels came from, the skipped files (count and the first three),
/// and a cache that could not be written.
fn say_how_it_went(images: &FolderImages, seconds: f64, files: usize) {
    let how = if images.from_cache {
        "read from the cache"
    } else {
        "decoded"
    };
    eprintln!("{files} image files {how} in {seconds:.3} s");
    if !images.bad.is_empty() {
        let first: Vec<String> = images
            .bad
            .iter()
            .take(3)
            .map(|(p, why)| format!("{} ({why})", p.display()))
            .collect();
        eprintln!(
            "note: skipped {} of {files} files that could not be decoded: {}{}",
            images.bad.len(),
            first.join("; "),
            if images.bad.len() > 3 { "; …" } else { "" }
        );
    }
    if let Some(e) = &images.cache_error {
        eprintln!("warning: the decoded images were not cached: {e}");
    }
}

/// The folder's classes and the input of a new run on `dir`: `input` when given, else the
/// default rule ([`folder::default_input`]).
pub fn describe(dir: &Path, input: Option<(usize, usize, usize)>, fit: Fit) -> Result<ImageFolder> {
    let layout = scan(dir)?;
    let input = match input {
        Some(i) => i,
        None => folder::default_input(&layout)?,
    };
    let class_names = layout.class_names.clone();
    keep(layout);
    Ok(ImageFolder {
        dir: dir.to_path_buf(),
        input,
        fit,
        class_names,
    })
}
