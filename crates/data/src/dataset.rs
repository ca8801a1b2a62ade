//! [`ImageSet`] (u8 pixels in memory) and [`load`], which finds a dataset on disk and reads it.
//!
//! Lookup order for the data root: `--data-dir` (the `data_dir` argument), then the
//! `SIAMESE_DATA_DIR` environment variable, then `./datasets`. In each root the dataset folder is
//! `<root>/<name>/` (`mnist`, `fashion-mnist`, `cifar-10`); a root that directly holds the files is
//! accepted too. The first complete folder wins; if none is complete, the error lists every place
//! tried, the missing files, and the exact `siamese fetch` command.

use std::path::{Path, PathBuf};

use crate::cifar;
use crate::error::{DataError, Result};
use crate::idx;
use crate::registry::{DatasetKind, CIFAR_FILES, CIFAR_META, IDX_STEMS};

/// Environment variable naming the data root.
pub const DATA_DIR_ENV: &str = "SIAMESE_DATA_DIR";
/// Default data root, relative to the current directory.
pub const DEFAULT_DATA_DIR: &str = "datasets";

pub use crate::Label;

/// A set of labelled images kept as u8 (CIFAR-10 train: 150 MB as u8 instead of 600 MB as f32).
///
/// `images` holds `n` images of `channels * height * width` bytes each, in NCHW order.
/// Normalisation to \[0,1\] happens only when a batch is built ([`crate::batch::fill_images`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// Pixels, NCHW, `n * channels * height * width` bytes.
    pub images: Vec<u8>,
    /// One class index per image, each `< class_names.len()`.
    pub labels: Vec<Label>,
    /// Number of images.
    pub n: usize,
    /// Channels (1 for MNIST-like, 3 for CIFAR-10).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Class names, indexed by label.
    pub class_names: Vec<String>,
}

impl ImageSet {
    /// Builds a set, checking that the buffer sizes agree with `n` and the geometry and that every
    /// label is a valid class.
    pub fn new(
        images: Vec<u8>, labels: Vec<Label>, (channels, height, width): (usize, usize, usize),
        class_names: Vec<String>,
    ) -> Result<Self> {
        let n = labels.len();
        let per = channels
            .checked_mul(height)
            .and_then(|v| v.checked_mul(width))
            .unwrap_or(0);
        if per == 0 || n.checked_mul(per) != Some(images.len()) {
            return Err(DataError::InvalidArgument(format!(
                "{} pixel bytes do not make {n} images of {channels}x{height}x{width}",
                images.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
            return Err(DataError::InvalidArgument(format!(
                "label {bad} outside 0..{}",
                class_names.len()
            )));
        }
        Ok(ImageSet {
            images,
            labels,
            n,
            channels,
            height,
            width,
            class_names,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Bytes (= values) per image: `channels * height * width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i` (CHW), or `None` when out of range.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let per = self.image_len();
        self.images.get(i * per..(i + 1) * per)
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Images per class.
    pub fn histogram(&self) -> Vec<usize> {
        let mut h = vec![0usize; self.num_classes()];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }
}

/// Data roots tried: `data_dir` alone when it is given (an explicit `--data-dir` is never
/// silently replaced by another copy), else `$SIAMESE_DATA_DIR`, then `./datasets`.
pub fn candidate_roots(data_dir: Option<&Path>) -> Vec<PathBuf> {
    if let Some(d) = data_dir {
        return vec![d.to_path_buf()];
    }
    let mut roots = Vec::new();
    if let Some(env) = std::env::var_os(DATA_DIR_ENV) {
        if !env.is_empty() {
            roots.push(PathBuf::from(env));
        }
    }
    roots.push(PathBuf::from(DEFAULT_DATA_DIR));
    roots
}

/// Where the fetch command writes a dataset: the first of `data_dir`, `$SIAMESE_DATA_DIR`,
/// `./datasets`, joined with the dataset's name.
pub fn default_target_dir(kind: DatasetKind, data_dir: Option<&Path>) -> PathBuf {
    candidate_roots(data_dir)
        .into_iter()
        .next()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
        .join(kind.name())
}

/// Whether `path` is a file: absent is `Ok(false)`; any other failure to look (permission
/// denied, a symlink loop, a path through a non-directory) is an error naming the path, never
/// taken for "missing".
fn is_file(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.is_file()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// The file actually present for an IDX stem: `<stem>.gz`, `<stem>`, or the `train-images.idx3-ubyte`
/// spelling some mirrors use.
fn find_idx_file(dir: &Path, stem: &str) -> Result<Option<PathBuf>> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    for name in [
        format!("{stem}.gz"),
        stem.to_string(),
        format!("{dotted}.gz"),
        dotted,
    ] {
        let p = dir.join(name);
        if is_file(&p)? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Files of `kind` missing from `dir` (canonical names); a folder that cannot be looked into
/// counts as missing everything (see [`try_missing_files`] for the error instead).
pub fn missing_files(kind: DatasetKind, dir: &Path) -> Vec<String> {
    try_missing_files(kind, dir).unwrap_or_else(|_| kind.files())
}

/// Files of `kind` missing from `dir` (canonical names), or the error that kept a file from
/// being looked at (permission denied, …).
pub fn try_missing_files(kind: DatasetKind, dir: &Path) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    match kind {
        DatasetKind::Mnist | DatasetKind::FashionMnist => {
            for s in IDX_STEMS {
                if find_idx_file(dir, s)?.is_none() {
                    missing.push(format!("{s}.gz"));
                }
            }
        }
        DatasetKind::Cifar10 => {
            for f in CIFAR_FILES {
                if !is_file(&dir.join(f))? {
                    missing.push(f.to_string());
                }
            }
        }
    }
    Ok(missing)
}

/// Finds the folder holding a complete copy of `kind`, applying the lookup order.
pub fn locate(kind: DatasetKind, data_dir: Option<&Path>) -> Result<PathBuf> {
    let mut looked_in = Vec::new();
    let mut first_missing: Option<Vec<String>> = None;
    for root in candidate_roots(data_dir) {
        for dir in [root.join(kind.name()), root.clone()] {
            let missing = try_missing_files(kind, &dir)?;
            if missing.is_empty() {
                return Ok(dir);
            }
            // Report the files missing from the first folder that exists.
            if first_missing.is_none() && dir.is_dir() {
                first_missing = Some(missing);
            }
            looked_in.push(dir);
        }
    }
    let fetch_command = match data_dir {
        Some(d) => format!("siamese fetch {} --data-dir {}", kind.name(), d.display()),
        None => format!("siamese fetch {}", kind.name()),
    };
    Err(DataError::Missing {
        dataset: kind.name(),
        looked_in,
        missing: first_missing.unwrap_or_else(|| kind.files()),
        fetch_command,
    })
}

/// Reads `kind` from the dataset folder `dir` itself (no lookup): `(train, test)`.
pub fn load_dir(kind: DatasetKind, dir: &Path) -> Result<(ImageSet, ImageSet)> {
    let missing = try_missing_files(kind, dir)?;
    if !missing.is_empty() {
        return Err(DataError::Missing {
            dataset: kind.name(),
            looked_in: vec![dir.to_path_buf()],
            missing,
            fetch_command: format!(
                "siamese fetch {} --data-dir {}",
                kind.name(),
                dir.parent().unwrap_or(dir).display()
            ),
        });
    }
    match kind {
        DatasetKind::Mnist | DatasetKind::FashionMnist => {
            let train = load_idx_pair(kind, dir, IDX_STEMS[0], IDX_STEMS[1])?;
            let test = load_idx_pair(kind, dir, IDX_STEMS[2], IDX_STEMS[3])?;
            Ok((train, test))
        }
        DatasetKind::Cifar10 => load_cifar(kind, dir),
    }
}

/// Finds `kind` through the lookup order ([`locate`]) and reads it: `(train, test)`.
pub fn load(kind: DatasetKind, data_dir: Option<&Path>) -> Result<(ImageSet, ImageSet)> {
    let dir = locate(kind, data_dir)?;
    load_dir(kind, &dir)
}

fn load_idx_pair(
    kind: DatasetKind, dir: &Path, images_stem: &str, labels_stem: &str,
) -> Result<ImageSet> {
    let not_found = |stem: &str| DataError::Missing {
        dataset: kind.name(),
        looked_in: vec![dir.to_path_buf()],
        missing: vec![format!("{stem}.gz")],
        fetch_command: format!("siamese fetch {}", kind.name()),
    };
    let ipath = find_idx_file(dir, images_stem)?.ok_or_else(|| not_found(images_stem))?;
    let lpath = find_idx_file(dir, labels_stem)?.ok_or_else(|| not_found(labels_stem))?;
    let images = idx::read_images(&ipath)?;
    let labels = idx::read_labels(&lpath, kind.num_classes())?;
    let (c, h, w) = kind.geometry();
    if images.rows != h || images.cols != w {
        return Err(DataError::BadDimensions {
            path: ipath,
            expected_h: h,
            expected_w: w,
            found_h: images.rows,
            found_w: images.cols,
        });
    }
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images: ipath,
            labels: lpath,
            n_images: images.count,
            n_labels: labels.len(),
        });
    }
    let names = kind.class_names().iter().map(|s| s.to_string()).collect();
    let labels = labels.into_iter().map(Label::from).collect();
    ImageSet::new(images.pixels, labels, (c, h, w), names)
}

fn load_cifar(kind: DatasetKind, dir: &Path) -> Result<(ImageSet, ImageSet)> {
    let classes = kind.num_classes();
    let names = match cifar::read_class_names(&dir.join(CIFAR_META), classes)? {
        Some(n) => n,
        None => kind.class_names().iter().map(|s| s.to_string()).collect(),
    };
    let geometry = kind.geometry();
    // Reserve the exact official sizes up front: no regrowth, memory stays at the u8 size.
    let mut images = Vec::with_capacity(kind.train_count() * cifar::PIXELS);
    let mut labels = Vec::with_capacity(kind.train_count());
    for f in &CIFAR_FILES[..5] {
        cifar::read_batch_into(&dir.join(f), classes, &mut images, &mut labels)?;
    }
    let train = ImageSet::new(images, labels, geometry, names.clone())?;
    let mut images = Vec::with_capacity(kind.test_count() * cifar::PIXELS);
    let mut labels = Vec::with_capacity(kind.test_count());
    cifar::read_batch_into(&dir.join(CIFAR_FILES[5]), classes, &mut images, &mut labels)?;
    let test = ImageSet::new(images, labels, geometry, names)?;
    Ok((train, test))
}
