//! [`scan`]: an image folder's files, classes and parts, listed without decoding a pixel.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::error::{DataError, Result};

/// The most image files a folder may hold: 2,000,000 (ImageNet's training set is 1.28
/// million); the walk stops as soon as it finds more.
pub const MAX_FOLDER_IMAGES: usize = 2_000_000;
/// How deep folders nest inside a class folder before the walk stops going down: 32.
pub const MAX_FOLDER_DEPTH: usize = 32;

/// File name endings taken as images without looking inside (case-insensitive).
const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "pnm", "pbm", "pgm", "ppm"];

/// One part of a folder: the whole of a flat folder, or one of its split subfolders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// A flat folder: class folders directly under the root.
    All,
    /// `train/`.
    Train,
    /// `val/`.
    Val,
    /// `test/`.
    Test,
}

impl Part {
    /// The subfolder's name (`""` for [`Part::All`]).
    pub fn dir_name(self) -> &'static str {
        match self {
            Part::All => "",
            Part::Train => "train",
            Part::Val => "val",
            Part::Test => "test",
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::All => "all",
            p => p.dir_name(),
        })
    }
}

/// One image file: where it is, its class, and what the cache compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The file (the root joined with the path below it).
    pub path: PathBuf,
    /// Index into [`Layout::class_names`].
    pub class: u32,
    /// Size in bytes (0 when the file could not be looked at: decoding will say why).
    pub bytes: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when unknown).
    pub mtime_ns: i128,
}

/// What [`scan`] passed over, for the notes a command prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ignored {
    /// Files and folders whose names start with '.'.
    pub hidden: usize,
    /// Files that are neither named as images nor start like one.
    pub not_images: usize,
    /// Files directly in the root (or in `train/`, `val/`, `test/`), outside any class folder.
    pub loose_files: usize,
    /// Folders already walked inside the same class, or holding the class folder (symbolic-link
    /// loops, a folder linked twice).
    pub loops: usize,
    /// Folders deeper than [`MAX_FOLDER_DEPTH`] below their class folder.
    pub too_deep: usize,
    /// Entries that cannot be looked at (dangling or looping links) and are not named as images.
    pub unreadable: usize,
    /// Class folders (lossy names, with their part) that hold no image: not classes.
    pub empty_classes: Vec<String>,
}

impl Ignored {
    /// One `note:` line per kind of thing passed over.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut say = |n: usize, what: &str| {
            if n > 0 {
                out.push(format!("note: skipped {n} {what}"));
            }
        };
        say(
            self.hidden,
            "hidden files or folders (names starting with '.')",
        );
        say(
            self.not_images,
            "files that are not images (by name and content)",
        );
        say(self.loose_files, "files outside any class folder");
        say(self.loops, "folders already walked (symbolic-link loops)");
        say(
            self.too_deep,
            &format!("folders nested deeper than {MAX_FOLDER_DEPTH} levels"),
        );
        say(
            self.unreadable,
            "entries that cannot be looked at (dangling or looping links)",
        );
        if !self.empty_classes.is_empty() {
            out.push(format!(
                "note: {} class folders hold no image and are not classes: {}",
                self.empty_classes.len(),
                self.empty_classes.join(", ")
            ));
        }
        out
    }
}

/// An image folder as [`scan`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The folder given.
    pub root: PathBuf,
    /// Class names (folder names, lossy UTF-8), sorted; a label is an index into them.
    pub class_names: Vec<String>,
    /// `[(All, …)]` for a flat folder, else train, then val and test when present; entries
    /// sorted by class, then by path bytes.
    pub parts: Vec<(Part, Vec<Entry>)>,
    /// What was passed over.
    pub ignored: Ignored,
}

impl Layout {
    /// Number of image files in all parts.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|(_, e)| e.len()).sum()
    }

    /// True when no part holds a file (never for a layout [`scan`] returned).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, part after part.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.parts.iter().flat_map(|(_, e)| e.iter())
    }
}

/// Lists the image folder at `root` without decoding: a root holding one folder per class
/// (class = folder name, sorted), or holding `train/` (required), `val/` and `test/`, each
/// holding class folders (classes = the sorted union over the parts, so a class may be in
/// `test/` only). Files in nested folders belong to their class folder. A file is an image
/// when its name ends in an image extension or its first bytes are a PNG, JPEG, BMP or PNM
/// signature; the others, hidden names and loose files are counted in [`Layout::ignored`].
/// Class folders without an image are not classes. Errors (one line naming the folder): the
/// root missing, not a folder or unreadable; no class folder; fewer than 2 classes; more than
/// [`MAX_FOLDER_IMAGES`] files; two class folders with the same lossy UTF-8 name.
pub fn scan(root: &Path) -> Result<Layout> {
    let err = |m: String| DataError::Folder {
        path: root.to_path_buf(),
        message: m,
    };
    check_root(root)?;
    let mut ignored = Ignored::default();
    let top = list_dir(root, &mut ignored)?;
    let split: Vec<&Listed> = top
        .iter()
        .filter(|(n, _, _, _)| ["train", "val", "test"].iter().any(|s| n == *s))
        .collect();
    let part_dirs: Vec<(Part, PathBuf)> = if split.is_empty() {
        vec![(Part::All, root.to_path_buf())]
    } else {
        split_parts(root, &top)?
    };
    let mut walk = Walk {
        ignored,
        count: 0,
        root,
    };
    // (part, lossy class name) -> files; the raw names behind each lossy name.
    let mut found: Vec<(Part, BTreeMap<String, Vec<Found>>)> = Vec::new();
    let mut raw_names: BTreeMap<String, OsString> = BTreeMap::new();
    for (part, dir) in &part_dirs {
        let entries = if *part == Part::All {
            top.clone()
        } else {
            list_dir(dir, &mut walk.ignored)?
        };
        let mut classes = BTreeMap::new();
        for (name, path, kind, _) in entries {
            if kind != Kind::Dir {
                walk.ignored.loose_files += 1;
                continue;
            }
            let lossy = name.to_string_lossy().into_owned();
            if let Some(other) = raw_names.insert(lossy.clone(), name.clone()) {
                if other != name {
                    return Err(err(format!(
                        "two class folders are both named '{lossy}' once their names are read as UTF-8; rename one"
                    )));
                }
            }
            let files = walk.class_files(&path)?;
            if files.is_empty() {
                walk.ignored.empty_classes.push(part_name(*part, &lossy));
            } else {
                classes.insert(lossy, files);
            }
        }
        found.push((*part, classes));
    }
    let class_names: Vec<String> = found
        .iter()
        .flat_map(|(_, c)| c.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    check_class_count(root, &class_names, &walk.ignored)?;
    let parts = found
        .into_iter()
        .map(|(part, classes)| (part, entries_of(classes, &class_names)))
        .collect();
    Ok(Layout {
        root: root.to_path_buf(),
        class_names,
        parts,
        ignored: walk.ignored,
    })
}

/// The root must be a folder that can be read.
fn check_root(root: &Path) -> Result<()> {
    let err = |m: String| DataError::Folder {
        path: root.to_path_buf(),
        message: m,
    };
    match std::fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(err("no such folder".into())),
        Err(e) => Err(err(format!("cannot look into the folder: {e}"))),
        Ok(m) if !m.is_dir() => Err(err("not a folder".into())),
        Ok(_) => Ok(()),
    }
}

/// At least two classes must hold images.
fn check_class_count(root: &Path, class_names: &[String], ignored: &Ignored) -> Result<()> {
    let err = |m: String| DataError::Folder {
        path: root.to_path_buf(),
        message: m,
    };
    match class_names.len() {
        0 => Err(err(if ignored.empty_classes.is_empty() {
            "no class folders (expected one subfolder of images per class, or train/, val/ and test/ holding them)".into()
        } else {
            format!(
                "no class folder holds an image ({} empty)",
                ignored.empty_classes.len()
            )
        })),
        1 => Err(err(format!(
            "only one class ('{}') holds images; needs at least 2 classes",
            class_names[0]
        ))),
        _ => Ok(()),
    }
}

/// The split subfolders of a root holding `train/`, `val/` or `test/`: train required, no
/// other folder beside them (it would be a class folder in the wrong place).
fn split_parts(root: &Path, top: &[Listed]) -> Result<Vec<(Part, PathBuf)>> {
    let err = |m: String| DataError::Folder {
        path: root.to_path_buf(),
        message: m,
    };
    let mut parts = Vec::new();
    for part in [Part::Train, Part::Val, Part::Test] {
        match top.iter().find(|(n, _, _, _)| n == part.dir_name()) {
            Some((_, p, Kind::Dir, _)) => parts.push((part, p.clone())),
            Some(_) => return Err(err(format!("{} is not a folder", part.dir_name()))),
            None => {}
        }
    }
    if parts.first().map(|p| p.0) != Some(Part::Train) {
        return Err(err(
            "holds val/ or test/ but no train/ (a split folder needs train/; or put the class folders directly in the folder)".into(),
        ));
    }
    let splits = ["train", "val", "test"];
    if let Some((n, _, _, _)) = top
        .iter()
        .find(|(n, _, k, _)| *k == Kind::Dir && !splits.iter().any(|s| n == *s))
    {
        return Err(err(format!(
            "holds train/ and also '{}/': a split folder holds only train/, val/ and test/, each holding the class folders",
            n.to_string_lossy()
        )));
    }
    Ok(parts)
}

fn part_name(part: Part, class: &str) -> String {
    match part {
        Part::All => format!("{class}/"),
        p => format!("{p}/{class}/"),
    }
}

/// A part's files as entries, labelled by the index of their class in the sorted union, in
/// (class, path bytes) order.
fn entries_of(classes: BTreeMap<String, Vec<Found>>, names: &[String]) -> Vec<Entry> {
    let mut out = Vec::new();
    for (name, mut files) in classes {
        let class = names.binary_search(&name).expect("a found class is listed") as u32;
        files.sort_by(|a, b| {
            a.0.as_os_str()
                .as_encoded_bytes()
                .cmp(b.0.as_os_str().as_encoded_bytes())
        });
        out.extend(files.into_iter().map(|(path, bytes, mtime_ns)| Entry {
            path,
            class,
            bytes,
            mtime_ns,
        }));
    }
    out
}

/// A file found in a class folder: path, size, mtime in ns.
type Found = (PathBuf, u64, i128);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    /// A file, a FIFO, a device.
    Other,
    /// What `stat` refuses: a dangling or looping link.
    Unreadable,
}

/// An entry of a folder: its name, path, kind and (when it could be read) its metadata.
type Listed = (OsString, PathBuf, Kind, Option<Metadata>);

/// The entries of `dir` that are not hidden (counted), sorted by name bytes, with what they
/// are (symbolic links followed). The metadata is read through the folder's entry (no walk of
/// the whole path), once per entry: the scan's cost on a large folder.
fn list_dir(dir: &Path, ignored: &mut Ignored) -> Result<Vec<Listed>> {
    let io = |e: std::io::Error| DataError::Folder {
        path: dir.to_path_buf(),
        message: format!("cannot look into the folder: {e}"),
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let name = e.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
            ignored.hidden += 1;
            continue;
        }
        let path = e.path();
        let meta = match e.file_type() {
            Ok(t) if !t.is_symlink() => e.metadata(),
            _ => std::fs::metadata(&path),
        };
        let kind = match &meta {
            Ok(m) if m.is_dir() => Kind::Dir,
            Ok(_) => Kind::Other,
            Err(_) => Kind::Unreadable,
        };
        out.push((name, path, kind, meta.ok()));
    }
    out.sort_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
    Ok(out)
}

/// The state of one scan: what was ignored, how many files so far.
struct Walk<'a> {
    ignored: Ignored,
    count: usize,
    root: &'a Path,
}

impl Walk<'_> {
    /// The image files under the class folder `dir`, nested folders included (each real folder
    /// once: canonical paths seen; never a folder that holds `dir`), with their size and
    /// modification time.
    fn class_files(&mut self, dir: &Path) -> Result<Vec<Found>> {
        let mut seen = HashSet::new();
        let class_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut out = Vec::new();
        let mut stack = vec![(dir.to_path_buf(), 0usize)];
        while let Some((d, depth)) = stack.pop() {
            // A folder seen before, or one holding the class folder itself (a link to `.`,
            // `..` or the root), would list files twice or loop.
            let fresh = std::fs::canonicalize(&d)
                .is_ok_and(|c| (depth == 0 || !class_dir.starts_with(&c)) && seen.insert(c));
            if !fresh {
                self.ignored.loops += 1;
                continue;
            }
            for (name, path, kind, meta) in list_dir(&d, &mut self.ignored)? {
                if kind == Kind::Dir && !has_image_extension(&name) {
                    if depth >= MAX_FOLDER_DEPTH {
                        self.ignored.too_deep += 1;
                    } else {
                        stack.push((path, depth + 1));
                    }
                } else if kind == Kind::Unreadable && !has_image_extension(&name) {
                    self.ignored.unreadable += 1;
                } else if has_image_extension(&name) || starts_like_an_image(&path, &meta) {
                    self.count += 1;
                    if self.count > MAX_FOLDER_IMAGES {
                        return Err(DataError::Folder {
                            path: self.root.to_path_buf(),
                            message: format!(
                                "holds more than {MAX_FOLDER_IMAGES} image files, the most a folder may hold; use a smaller folder"
                            ),
                        });
                    }
                    let (bytes, mtime_ns) = meta.map(stamp).unwrap_or((0, 0));
                    out.push((path, bytes, mtime_ns));
                } else {
                    self.ignored.not_images += 1;
                }
            }
        }
        Ok(out)
    }
}

/// A file's size and modification time in ns since the epoch (negative before it; 0 unknown).
fn stamp(m: Metadata) -> (u64, i128) {
    let t = m
        .modified()
        .ok()
        .map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        });
    (m.len(), t.unwrap_or(0))
}

fn has_image_extension(name: &std::ffi::OsStr) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// True when the regular file at `path` starts with a PNG, JPEG, BMP or PNM signature.
fn starts_like_an_image(path: &Path, meta: &Option<Metadata>) -> bool {
    use std::io::Read;
    if !meta.as_ref().is_some_and(|m| m.is_file()) {
        return false; // a FIFO would block the read
    }
    let mut head = [0u8; 8];
    let n = match std::fs::File::open(path) {
        Ok(f) => f.take(8).read(&mut head).unwrap_or(0),
        Err(_) => 0,
    };
    let h = &head[..n];
    h.starts_with(b"\x89PNG\r\n\x1a\n")
        || h.starts_with(&[0xFF, 0xD8, 0xFF])
        || h.starts_with(b"BM")
        || (h.len() >= 2 && h[0] == b'P' && (b'1'..=b'7').contains(&h[1]))
}
