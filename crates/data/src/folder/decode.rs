//! The folder's files decoded in parallel into u8 planes, and the default-input rule.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ::image::{ColorType, ImageDecoder, ImageReader};

use super::scan::{Entry, Layout, Part};
use crate::error::{DataError, Result};
use crate::image_file::read_pixels;
use crate::input::Fit;

/// How many files [`default_input`] looks at, at most: 256, evenly spaced over the folder.
pub const GRAY_SAMPLE: usize = 256;

/// The input geometry when none is given: (1, 28, 28) when every sampled image is gray (its
/// header's colour type is L or LA, 8 or 16 bits), else (3, 32, 32). The sample is at most
/// [`GRAY_SAMPLE`] files evenly spaced over all parts (every file when there are fewer); only
/// headers are read, and files whose header cannot be read are passed over. Error: no
/// sampled file has a readable header.
pub fn default_input(layout: &Layout) -> Result<(usize, usize, usize)> {
    let all: Vec<&Entry> = layout.entries().collect();
    let n = all.len();
    let k = n.min(GRAY_SAMPLE);
    let mut read = 0;
    for j in 0..k {
        let e = all[j * n / k];
        match header_color(&e.path) {
            Some(c) if !is_gray(c) => return Ok((3, 32, 32)),
            Some(_) => read += 1,
            None => {}
        }
    }
    if read == 0 {
        return Err(DataError::Folder {
            path: layout.root.clone(),
            message: format!(
                "none of the {k} files sampled for the default input has a readable image header; give --input CxHxW or fix the files"
            ),
        });
    }
    Ok((1, 28, 28))
}

fn is_gray(c: ColorType) -> bool {
    matches!(
        c,
        ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
    )
}

/// The colour type in the header of the regular file at `path` (None when it cannot be read).
fn header_color(path: &Path) -> Option<ColorType> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let f = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let reader = ImageReader::new(f).with_guessed_format().ok()?;
    let d = catch_unwind(AssertUnwindSafe(|| reader.into_decoder().ok()))
        .ok()
        .flatten()?;
    Some(d.color_type())
}

/// The decoded parts (pixels compacted to the files that decoded) and the files that did not,
/// in entry order, whatever the number of threads.
pub(super) type Decoded = (Vec<(Part, Vec<u8>, Vec<u32>)>, Vec<(PathBuf, String)>);

/// Decodes every entry of `layout` on `threads` threads (an atomic index hands out the files),
/// calling `progress(done)` after each.
pub(super) fn decode_all(
    layout: &Layout, geometry: (usize, usize, usize), fit: Fit, threads: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Decoded {
    let chw = geometry.0 * geometry.1 * geometry.2;
    let mut buffers: Vec<Vec<u8>> = layout
        .parts
        .iter()
        .map(|(_, e)| vec![0u8; e.len() * chw])
        .collect();
    let entries: Vec<&Entry> = layout.entries().collect();
    let slots: Vec<Mutex<&mut [u8]>> = buffers
        .iter_mut()
        .flat_map(|b| b.chunks_mut(chw))
        .map(Mutex::new)
        .collect();
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let worker = || {
        let mut bad = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(e) = entries.get(i) else { break };
            match decode_one(&e.path, geometry, fit) {
                Ok(px) => slots[i]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .copy_from_slice(&px),
                Err(m) => bad.push((i, m)),
            }
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
        }
        bad
    };
    let threads = threads.clamp(1, entries.len().max(1));
    let mut bad: Vec<(usize, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    drop(slots);
    bad.sort_by_key(|b| b.0);
    let parts = compact(layout, buffers, &bad, chw);
    let bad = bad
        .into_iter()
        .map(|(i, m)| (entries[i].path.clone(), m))
        .collect();
    (parts, bad)
}

/// Each part's buffer with the bad files' slots removed (in place), and its labels.
fn compact(
    layout: &Layout, buffers: Vec<Vec<u8>>, bad: &[(usize, String)], chw: usize,
) -> Vec<(Part, Vec<u8>, Vec<u32>)> {
    let mut is_bad = vec![false; layout.len()];
    for (i, _) in bad {
        is_bad[*i] = true;
    }
    let mut first = 0;
    let mut out = Vec::new();
    for ((part, entries), mut px) in layout.parts.iter().zip(buffers) {
        let mut labels = Vec::with_capacity(entries.len());
        for (j, e) in entries.iter().enumerate() {
            if !is_bad[first + j] {
                let k = labels.len();
                px.copy_within(j * chw..(j + 1) * chw, k * chw);
                labels.push(e.class);
            }
        }
        px.truncate(labels.len() * chw);
        first += entries.len();
        out.push((*part, px, labels));
    }
    out
}

/// One file's pixels, or why not (one line, without the path). A folder or FIFO is refused
/// before it is opened (opening a FIFO would wait for a writer); a decoder panic is a reason.
fn decode_one(
    path: &Path, geometry: (usize, usize, usize), fit: Fit,
) -> std::result::Result<Vec<u8>, String> {
    let m = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if m.is_dir() {
        return Err("a folder, not an image file".into());
    }
    if !m.is_file() {
        return Err("not a regular file (a FIFO, socket or device)".into());
    }
    match catch_unwind(AssertUnwindSafe(|| read_pixels(path, geometry, fit))) {
        Ok(Ok(px)) => Ok(px.bytes),
        Ok(Err(DataError::Image { message, .. })) => Err(message),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the decoder failed (panicked) on this file".into()),
    }
}
