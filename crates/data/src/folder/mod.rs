//! A folder of the user's images as a dataset (the ImageFolder convention): [`scan`] lists it,
//! [`default_input`] picks the input when none is given, [`load`] decodes it in parallel into
//! u8 pixels, through a cache.
//!
//! - **Layout.** One subfolder per class (class name = folder name, classes sorted), or
//!   `train/` (required), `val/` and `test/` each holding class folders; the classes are then
//!   the sorted union over the parts, with the same index in every part (a class may be in
//!   `test/` only: unseen classes). Labels are u32.
//! - **Input.** `--input CxHxW`, else the rule of [`default_input`]: 1×28×28 when every
//!   sampled image is gray, else 3×32×32. Other sizes are brought to H×W by a [`Fit`].
//! - **Bad files** are skipped and listed ([`FolderImages::bad`]); [`load`] refuses when more
//!   than [`FolderOptions::max_bad_share`] of the files are bad ([`MAX_BAD_SHARE`] by default).
//! - **Memory.** u8 pixels, refused before decoding past [`FolderOptions::max_bytes`]
//!   ([`MAX_FOLDER_BYTES`] by default); at most [`MAX_FOLDER_IMAGES`] files.
//! - **Cache.** The decoded pixels, labels and bad-file list of one (folder, input, fit) are one
//!   file in the cache folder ([`default_cache_dir`]: `$SIAMESE_CACHE_DIR`, else
//!   `$XDG_CACHE_HOME/siamese/images`, else `$HOME/.cache/siamese/images`), named by the
//!   FNV-1a hash of the canonical folder path, the input and the fit. Its header holds the full
//!   manifest: every file's path, class, size and modification time, the class names, the
//!   input and the fit; a load whose manifest differs decodes again and rewrites the file, so
//!   it is never stale. It is written atomically (temporary file, then rename), never inside
//!   the image folder, and a truncated or corrupt file (lengths, magic, version, checksum) is
//!   decoded again.

mod cache;
mod decode;
mod scan;

use std::path::PathBuf;

pub use crate::input::Fit;
pub use decode::{default_input, GRAY_SAMPLE};
pub use scan::{scan, Entry, Ignored, Layout, Part, MAX_FOLDER_DEPTH, MAX_FOLDER_IMAGES};

use crate::error::{DataError, Result};

/// The default limit on decoded pixel bytes, n × C×H×W: 4 GiB.
pub const MAX_FOLDER_BYTES: u64 = 4 << 30;
/// The default share of files that may fail to decode before [`load`] refuses: 5%.
pub const MAX_BAD_SHARE: f64 = 0.05;
/// The environment variable that names the cache folder, first in [`default_cache_dir`].
pub const CACHE_DIR_ENV: &str = "SIAMESE_CACHE_DIR";

/// How [`load`] decodes a folder.
#[derive(Clone, Debug, PartialEq)]
pub struct FolderOptions {
    /// (C, H, W): C = 1 (gray) or 3 (RGB).
    pub input: (usize, usize, usize),
    /// How an image of another size becomes H×W.
    pub fit: Fit,
    /// Where the decoded pixels are cached; None: no cache.
    pub cache_dir: Option<PathBuf>,
    /// Decoding threads (at least 1).
    pub threads: usize,
    /// Refuse before decoding when n × C×H×W is larger.
    pub max_bytes: u64,
    /// Refuse when more than this share of the files cannot be decoded.
    pub max_bad_share: f64,
}

impl FolderOptions {
    /// `input`, [`Fit::Stretch`], no cache, every core, [`MAX_FOLDER_BYTES`], [`MAX_BAD_SHARE`].
    pub fn new(input: (usize, usize, usize)) -> Self {
        FolderOptions {
            input,
            fit: Fit::Stretch,
            cache_dir: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_bytes: MAX_FOLDER_BYTES,
            max_bad_share: MAX_BAD_SHARE,
        }
    }
}

/// A decoded folder: u8 pixels per part, the files skipped, where they came from.
#[derive(Clone, Debug, PartialEq)]
pub struct FolderImages {
    /// The class names (sorted); labels index them.
    pub class_names: Vec<String>,
    /// (C, H, W) of every image.
    pub geometry: (usize, usize, usize),
    /// Per part of the layout: pixels (n × C×H×W, NCHW) and labels, in the layout's order,
    /// the bad files left out.
    pub parts: Vec<(Part, Vec<u8>, Vec<u32>)>,
    /// Every file that could not be decoded, with its one-line reason, in layout order.
    pub bad: Vec<(PathBuf, String)>,
    /// True when the pixels were read from the cache rather than decoded.
    pub from_cache: bool,
    /// Why the cache could not be written, when it could not (the load itself succeeded).
    pub cache_error: Option<String>,
}

/// The cache folder: `$SIAMESE_CACHE_DIR`, else `$XDG_CACHE_HOME/siamese/images`, else
/// `$HOME/.cache/siamese/images`, else None (empty variables count as unset).
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(CACHE_DIR_ENV)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("siamese/images")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/siamese/images")))
}

/// Decodes every file of `layout` at `opts.input` (from the cache when it holds this exact
/// manifest), calling `progress(done)` as files complete. Refused before any decoding: an
/// input other than 1 or 3 channels of at least 1×1; n × C×H×W past `opts.max_bytes`; a cache
/// folder inside the image folder. Refused after: more than `opts.max_bad_share` of the
/// files bad (the count and the first 3 with their reasons). A cache that cannot be written
/// is said in [`FolderImages::cache_error`], not an error.
pub fn load(
    layout: &Layout, opts: &FolderOptions, progress: &(dyn Fn(usize) + Sync),
) -> Result<FolderImages> {
    let (c, h, w) = opts.input;
    if !matches!(c, 1 | 3) || h == 0 || w == 0 {
        return Err(DataError::InvalidArgument(format!(
            "an image input must be 1 or 3 channels of at least 1x1 pixels, not {c}x{h}x{w}"
        )));
    }
    let n = layout.len();
    let need = n as u128 * (c * h * w) as u128;
    if need > u128::from(opts.max_bytes) {
        return Err(DataError::Folder {
            path: layout.root.clone(),
            message: format!(
                "{n} images of {c}x{h}x{w} need {need} bytes of pixels, more than the {}-byte limit; choose a smaller --input",
                opts.max_bytes
            ),
        });
    }
    let cache = match &opts.cache_dir {
        Some(dir) => Some(cache::Cache::new(layout, opts.input, opts.fit, dir)?),
        None => None,
    };
    if let Some(images) = cache
        .as_ref()
        .and_then(|k| k.read(layout, opts.input, opts.threads))
    {
        check_bad_share(layout, &images.bad, opts.max_bad_share)?;
        progress(n);
        return Ok(images);
    }
    let (parts, bad) = decode::decode_all(layout, opts.input, opts.fit, opts.threads, progress);
    check_bad_share(layout, &bad, opts.max_bad_share)?;
    let mut images = FolderImages {
        class_names: layout.class_names.clone(),
        geometry: opts.input,
        parts,
        bad,
        from_cache: false,
        cache_error: None,
    };
    if let Some(k) = cache {
        if let Err(e) = k.write(layout, &images) {
            images.cache_error = Some(format!("{}: {e}", k.file.display()));
        }
    }
    Ok(images)
}

/// Refuses when `bad.len() > share × n`: one line with the count and the first 3 files.
fn check_bad_share(layout: &Layout, bad: &[(PathBuf, String)], share: f64) -> Result<()> {
    let n = layout.len();
    if (bad.len() as f64) <= share * n as f64 {
        return Ok(());
    }
    let first: Vec<String> = bad
        .iter()
        .take(3)
        .map(|(p, r)| {
            let rel = p.strip_prefix(&layout.root).unwrap_or(p);
            format!("{} ({r})", rel.display())
        })
        .collect();
    Err(DataError::Folder {
        path: layout.root.clone(),
        message: format!(
            "{} of {n} image files cannot be decoded, more than the {}% allowed: {}{}",
            bad.len(),
            share * 100.0,
            first.join("; "),
            if bad.len() > 3 { "; ..." } else { "" }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test that sets these variables (nothing else in the crate reads them).
    #[test]
    fn the_default_cache_dir_follows_the_environment() {
        std::env::set_var("SIAMESE_CACHE_DIR", "/tmp/somewhere");
        assert_eq!(default_cache_dir(), Some(PathBuf::from("/tmp/somewhere")));
        std::env::set_var("SIAMESE_CACHE_DIR", "");
        std::env::set_var("XDG_CACHE_HOME", "/xdg");
        assert_eq!(
            default_cache_dir(),
            Some(PathBuf::from("/xdg/siamese/images"))
        );
        std::env::remove_var("XDG_CACHE_HOME");
        std::env::set_var("HOME", "/home/u");
        assert_eq!(
            default_cache_dir(),
            Some(PathBuf::from("/home/u/.cache/siamese/images"))
        );
    }
}
