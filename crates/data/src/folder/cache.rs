//! The decoded-pixel cache: one file per (folder, input, fit), whose header holds the full
//! manifest it was decoded from, so that any change to the folder or the settings misses.
//!
//! File layout (integers little-endian):
//! `"SIAMIMG\0"` · version u32 · manifest length u64 · manifest · bad-list length u64 · bad list
//! (count u64, then per file: entry index u64, reason length u64, reason) · per part of the
//! manifest: count u64, labels (u32 each), pixels (count × C×H×W bytes) · checksum u64
//! ([`fnv1a_words`] over everything after the manifest length).
//! The manifest: the canonical root, C, H, W, the fit, the class names, and per part its tag
//! and every entry's path below the root (bytes), class, size and mtime in ns.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::scan::Layout;
use super::FolderImages;
use crate::error::{DataError, Result};
use crate::input::Fit;

const MAGIC: &[u8; 8] = b"SIAMIMG\0";
/// Bumped whenever the file layout or the decoding changes: older files then miss.
const VERSION: u32 = 3;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a: h = (h ⊕ byte) · 1099511628211, from h = 14695981039346656037.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// FNV-1a over 8-byte little-endian words in four interleaved lanes (word k to lane k mod 4,
/// so four multiply chains run at once; the last words zero-padded), the lanes then folded
/// into `h` in order, then the length: the cache's checksum, a pass over the pixels at memory
/// speed rather than at one multiply's latency per word.
fn fnv1a_words(mut h: u64, bytes: &[u8]) -> u64 {
    let mut lanes = [h, h ^ 1, h ^ 2, h ^ 3];
    let mut blocks = bytes.chunks_exact(32);
    for b in &mut blocks {
        for (k, lane) in lanes.iter_mut().enumerate() {
            let w = u64::from_le_bytes(b[8 * k..8 * k + 8].try_into().expect("8 bytes"));
            *lane = (*lane ^ w).wrapping_mul(FNV_PRIME);
        }
    }
    let mut tail = [0u8; 32];
    tail[..blocks.remainder().len()].copy_from_slice(blocks.remainder());
    for (k, lane) in lanes.iter_mut().enumerate() {
        let w = u64::from_le_bytes(tail[8 * k..8 * k + 8].try_into().expect("8 bytes"));
        *lane = (*lane ^ w).wrapping_mul(FNV_PRIME);
        h = (h ^ *lane).wrapping_mul(FNV_PRIME);
    }
    (h ^ bytes.len() as u64).wrapping_mul(FNV_PRIME)
}

/// The pixels' part of the checksum: [`fnv1a_words`] of each [`PIXEL_CHUNK`] bytes on its
/// own (so the chunks can be read and hashed on several threads), folded into `h` in order,
/// then the length.
fn pixel_checksum(mut h: u64, chunk_sums: impl IntoIterator<Item = u64>, len: usize) -> u64 {
    for c in chunk_sums {
        h = (h ^ c).wrapping_mul(FNV_PRIME);
    }
    (h ^ len as u64).wrapping_mul(FNV_PRIME)
}

/// Bytes of pixels per checksum chunk (and per read of a cached read's threads).
const PIXEL_CHUNK: usize = 4 << 20;

/// Where one folder's pixels are cached and the manifest that must match.
pub(super) struct Cache {
    pub file: PathBuf,
    manifest: Vec<u8>,
}

impl Cache {
    /// The cache file for `layout` at `input`/`fit` in `dir`, named by the FNV-1a hash of the
    /// canonical root, the input, the fit and [`VERSION`]. Refused when `dir` is inside the root.
    pub fn new(
        layout: &Layout, input: (usize, usize, usize), fit: Fit, dir: &Path,
    ) -> Result<Cache> {
        let root = std::fs::canonicalize(&layout.root).map_err(|e| DataError::Folder {
            path: layout.root.clone(),
            message: format!("cannot resolve the folder: {e}"),
        })?;
        if resolved(dir).starts_with(&root) {
            return Err(DataError::Folder {
                path: dir.to_path_buf(),
                message: format!(
                    "the cache folder is inside the image folder {}; the cache is never written among the images: choose another cache folder",
                    root.display()
                ),
            });
        }
        let (c, h, w) = input;
        let mut key = format!("siamese-images v{VERSION} {c}x{h}x{w} {fit} ").into_bytes();
        key.extend_from_slice(root.as_os_str().as_encoded_bytes());
        let file = dir.join(format!("{:016x}.siamese-images", fnv1a(&key)));
        Ok(Cache {
            file,
            manifest: manifest(layout, &root, input, fit),
        })
    }

    /// The cached images when the file exists, is whole and was written from this exact
    /// manifest; None otherwise (missing, stale, truncated, corrupt: decode again).
    pub fn read(
        &self, layout: &Layout, input: (usize, usize, usize), threads: usize,
    ) -> Option<FolderImages> {
        let f = File::open(&self.file).ok()?;
        let size = f.metadata().ok()?.len();
        let mut r = Bounded {
            r: BufReader::with_capacity(1 << 20, f),
            left: size,
            size,
            h: FNV_OFFSET,
        };
        let mut head = [0u8; 12];
        r.exact_raw(&mut head)?;
        if &head[..8] != MAGIC || head[8..] != VERSION.to_le_bytes() {
            return None;
        }
        if r.u64()? != self.manifest.len() as u64 || r.bytes(self.manifest.len())? != self.manifest
        {
            return None;
        }
        let bad_len = usize::try_from(r.u64()?).ok()?;
        let bad_bytes = r.bytes(bad_len)?;
        let bad = parse_bad(&bad_bytes, layout)?;
        let chw = input.0 * input.1 * input.2;
        let mut parts = Vec::new();
        for (part, e) in &layout.parts {
            let n = usize::try_from(r.u64()?).ok().filter(|&n| n <= e.len())?;
            let labels: Vec<u32> = r
                .bytes(n * 4)?
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect();
            if labels
                .iter()
                .any(|&l| l as usize >= layout.class_names.len())
            {
                return None;
            }
            parts.push((*part, r.pixels(n * chw, threads)?, labels));
        }
        let sum = r.h;
        if r.u64_raw()? != sum || r.left != 0 {
            return None;
        }
        Some(FolderImages {
            class_names: layout.class_names.clone(),
            geometry: input,
            parts,
            bad,
            from_cache: true,
            cache_error: None,
        })
    }

    /// Writes `images` to the cache file atomically: a temporary file in the same folder,
    /// then a rename over the old one.
    pub fn write(&self, layout: &Layout, images: &FolderImages) -> std::io::Result<()> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = self.file.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let r = self
            .write_to(&tmp, layout, images)
            .and_then(|()| std::fs::rename(&tmp, &self.file));
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
    }

    fn write_to(&self, tmp: &Path, layout: &Layout, images: &FolderImages) -> std::io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(tmp)?);
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        let mut h = FNV_OFFSET;
        let put = |h: &mut u64, w: &mut BufWriter<File>, b: &[u8]| {
            *h = fnv1a_words(*h, b);
            w.write_all(b)
        };
        put(&mut h, &mut w, &(self.manifest.len() as u64).to_le_bytes())?;
        put(&mut h, &mut w, &self.manifest)?;
        let bad = bad_bytes(layout, &images.bad);
        put(&mut h, &mut w, &(bad.len() as u64).to_le_bytes())?;
        put(&mut h, &mut w, &bad)?;
        for (_, px, labels) in &images.parts {
            put(&mut h, &mut w, &(labels.len() as u64).to_le_bytes())?;
            let lb: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
            put(&mut h, &mut w, &lb)?;
            let sums = px.chunks(PIXEL_CHUNK).map(|c| fnv1a_words(FNV_OFFSET, c));
            h = pixel_checksum(h, sums, px.len());
            w.write_all(px)?;
        }
        w.write_all(&h.to_le_bytes())?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}

/// `dir` with its longest existing ancestor canonicalised (it may not exist yet).
fn resolved(dir: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut p = dir;
    loop {
        if let Ok(c) = std::fs::canonicalize(p) {
            return rest.iter().rev().fold(c, |acc, r| acc.join(r));
        }
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                p = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            _ => return dir.to_path_buf(),
        }
    }
}

fn manifest(layout: &Layout, root: &Path, (c, h, w): (usize, usize, usize), fit: Fit) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 * layout.len() + 1024);
    let bytes = |m: &mut Vec<u8>, b: &[u8]| {
        m.extend_from_slice(&(b.len() as u64).to_le_bytes());
        m.extend_from_slice(b);
    };
    bytes(&mut m, root.as_os_str().as_encoded_bytes());
    for d in [c, h, w] {
        m.extend_from_slice(&(d as u64).to_le_bytes());
    }
    m.push(fit as u8);
    m.extend_from_slice(&(layout.class_names.len() as u64).to_le_bytes());
    for n in &layout.class_names {
        bytes(&mut m, n.as_bytes());
    }
    for (part, entries) in &layout.parts {
        m.push(*part as u8);
        m.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for e in entries {
            // Every entry's path is the root's joined with more: its bytes start with the root's.
            let full = e.path.as_os_str().as_encoded_bytes();
            let root_len = layout.root.as_os_str().as_encoded_bytes().len();
            bytes(&mut m, full.get(root_len..).unwrap_or(full));
            m.extend_from_slice(&e.class.to_le_bytes());
            m.extend_from_slice(&e.bytes.to_le_bytes());
            m.extend_from_slice(&e.mtime_ns.to_le_bytes());
        }
    }
    m
}

/// The bad list as entry indices and reasons.
fn bad_bytes(layout: &Layout, bad: &[(PathBuf, String)]) -> Vec<u8> {
    let mut out = (bad.len() as u64).to_le_bytes().to_vec();
    let mut entries = layout.entries().enumerate();
    for (path, reason) in bad {
        let i = entries
            .find(|(_, e)| &e.path == path)
            .map_or(u64::MAX, |(i, _)| i as u64);
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&(reason.len() as u64).to_le_bytes());
        out.extend_from_slice(reason.as_bytes());
    }
    out
}

fn parse_bad(b: &[u8], layout: &Layout) -> Option<Vec<(PathBuf, String)>> {
    let mut at = 0usize;
    let mut take = |n: usize| {
        let s = b.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    let u64_at = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
    let count = u64_at(take(8)?);
    // The entries by position, listed only when there are skipped files to name.
    let entries: Vec<&Path> = if count > 0 {
        layout.entries().map(|e| e.path.as_path()).collect()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for _ in 0..count {
        let i = usize::try_from(u64_at(take(8)?)).ok()?;
        let len = usize::try_from(u64_at(take(8)?)).ok()?;
        let reason = String::from_utf8(take(len)?.to_vec()).ok()?;
        out.push((entries.get(i)?.to_path_buf(), reason));
    }
    (at == b.len()).then_some(out)
}

/// A reader that never allocates past the file's remaining length and hashes what it reads.
struct Bounded<R> {
    r: R,
    left: u64,
    /// The file's length (its position is `size - left`).
    size: u64,
    h: u64,
}

impl Bounded<BufReader<File>> {
    /// `n` bytes of pixels, read and hashed by [`PIXEL_CHUNK`] on up to `threads` threads
    /// (positioned reads of the file, so each thread faults in its own pages), checked
    /// into the checksum by [`pixel_checksum`].
    fn pixels(&mut self, n: usize, threads: usize) -> Option<Vec<u8>> {
        if n as u64 > self.left {
            return None;
        }
        let at = self.size - self.left;
        let mut v = vec![0u8; n];
        let sums = read_chunks(self.r.get_ref(), at, &mut v, threads.max(1))?;
        self.r.seek_relative(i64::try_from(n).ok()?).ok()?;
        self.left -= n as u64;
        self.h = pixel_checksum(self.h, sums, n);
        Some(v)
    }
}

/// Reads `buf.len()` bytes of `file` from `at` into `buf`, [`PIXEL_CHUNK`] at a time, the
/// chunks shared by `threads` threads (chunk k to thread k mod threads): each chunk's
/// [`fnv1a_words`], in order; None when a read fails or comes short.
#[cfg(unix)]
fn read_chunks(file: &File, at: u64, buf: &mut [u8], threads: usize) -> Option<Vec<u64>> {
    use std::os::unix::fs::FileExt;
    let chunks: Vec<(usize, &mut [u8])> = buf.chunks_mut(PIXEL_CHUNK).enumerate().collect();
    let mut per_thread: Vec<Vec<(usize, &mut [u8])>> = (0..threads).map(|_| Vec::new()).collect();
    for (k, c) in chunks {
        per_thread[k % threads].push((k, c));
    }
    let mut sums: Vec<(usize, Option<u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .map(|mine| {
                s.spawn(move || {
                    mine.into_iter()
                        .map(|(k, c)| {
                            let off = at + (k * PIXEL_CHUNK) as u64;
                            let ok = file.read_exact_at(c, off).is_ok();
                            (k, ok.then(|| fnv1a_words(FNV_OFFSET, c)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    sums.sort_by_key(|&(k, _)| k);
    sums.into_iter().map(|(_, s)| s).collect()
}

/// [`read_chunks`] where positioned reads are not at hand: one thread, in order.
#[cfg(not(unix))]
fn read_chunks(file: &File, at: u64, buf: &mut [u8], _threads: usize) -> Option<Vec<u64>> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(at)).ok()?;
    f.read_exact(buf).ok()?;
    Some(
        buf.chunks(PIXEL_CHUNK)
            .map(|c| fnv1a_words(FNV_OFFSET, c))
            .collect(),
    )
}

impl<R: Read> Bounded<R> {
    fn exact_raw(&mut self, buf: &mut [u8]) -> Option<()> {
        if buf.len() as u64 > self.left {
            return None;
        }
        self.r.read_exact(buf).ok()?;
        self.left -= buf.len() as u64;
        Some(())
    }

    fn bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        if n as u64 > self.left {
            return None;
        }
        let mut v = vec![0u8; n];
        self.exact_raw(&mut v)?;
        self.h = fnv1a_words(self.h, &v);
        Some(v)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    fn u64_raw(&mut self) -> Option<u64> {
        let mut b = [0u8; 8];
        self.exact_raw(&mut b)?;
        Some(u64::from_le_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published FNV-1a 64 test vectors.
    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_word_checksum_sees_every_byte_and_the_length() {
        let a = vec![7u8; 21];
        let h = fnv1a_words(FNV_OFFSET, &a);
        for i in 0..a.len() {
            let mut b = a.clone();
            b[i] ^= 1;
            assert_ne!(fnv1a_words(FNV_OFFSET, &b), h, "byte {i}");
        }
        let mut longer = a.clone();
        longer.push(0);
        assert_ne!(fnv1a_words(FNV_OFFSET, &longer), h);
    }

    #[test]
    fn a_path_not_yet_made_resolves_under_its_existing_ancestor() {
        let t = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        assert_eq!(resolved(&t.path().join("a/b")), real.join("a/b"));
    }
}
