//! IDX reader for MNIST and Fashion-MNIST.
//!
//! Layout (all integers big-endian u32):
//! - images: `magic = 2051`, `count`, `rows`, `cols`, then `count * rows * cols` pixel bytes;
//! - labels: `magic = 2049`, `count`, then `count` label bytes.
//!
//! Files may be gzip-compressed or raw; compression is detected from the first two bytes (1f 8b),
//! not from the name. A file named `*.gz` that is not gzip is an error (it is usually an HTML error
//! page or a half-written download).

use std::io::Read;
use std::path::Path;

use byteorder::{BigEndian, ByteOrder};
use flate2::read::GzDecoder;

use crate::error::{DataError, Result};

/// IDX magic of an unsigned-byte, 3-axis array (images).
pub const IMAGES_MAGIC: u32 = 2051;
/// IDX magic of an unsigned-byte, 1-axis array (labels).
pub const LABELS_MAGIC: u32 = 2049;

/// Decoded IDX images: pixels row-major, `count * rows * cols` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// The pixel bytes.
    pub pixels: Vec<u8>,
}

/// Reads a whole file and gunzips it when it starts with the gzip magic.
///
/// Errors: missing/unreadable file ([`DataError::Io`]), empty file, `.gz` name without gzip
/// content, corrupt gzip stream.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let is_gzip = raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b;
    if !is_gzip {
        let named_gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        if named_gz {
            return Err(DataError::NotGzip {
                path: path.to_path_buf(),
                found: raw.iter().take(2).copied().collect(),
            });
        }
        return Ok(raw);
    }
    // The gzip trailer's ISIZE (last 4 bytes, little-endian) is the uncompressed size mod 2^32:
    // use it, capped, as a capacity hint so the 47 MB MNIST payload is decoded without regrowth.
    let hint = if raw.len() >= 4 {
        let t = &raw[raw.len() - 4..];
        u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize
    } else {
        0
    };
    let mut out = Vec::with_capacity(hint.min(256 << 20));
    GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| DataError::BadGzip {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if out.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

fn check_magic(path: &Path, bytes: &[u8], expected: u32, header_len: usize) -> Result<()> {
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            part: "header",
            expected: header_len as u64,
            found: bytes.len() as u64,
        });
    }
    let magic = BigEndian::read_u32(&bytes[0..4]);
    if magic != expected {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected,
            found: magic,
        });
    }
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            part: "header",
            expected: header_len as u64,
            found: bytes.len() as u64,
        });
    }
    Ok(())
}

fn check_payload(path: &Path, have: usize, expected: usize) -> Result<()> {
    if have < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            part: "payload",
            expected: expected as u64,
            found: have as u64,
        });
    }
    if have > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected: expected as u64,
            extra: (have - expected) as u64,
        });
    }
    Ok(())
}

/// Parses an IDX images buffer (already decompressed). `path` is used in error messages only.
pub fn parse_images(path: &Path, mut bytes: Vec<u8>) -> Result<IdxImages> {
    check_magic(path, &bytes, IMAGES_MAGIC, 16)?;
    let count = BigEndian::read_u32(&bytes[4..8]) as usize;
    let rows = BigEndian::read_u32(&bytes[8..12]) as usize;
    let cols = BigEndian::read_u32(&bytes[12..16]) as usize;
    let expected = count
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .ok_or_else(|| DataError::Truncated {
            path: path.to_path_buf(),
            part: "payload",
            expected: u64::MAX,
            found: (bytes.len() - 16) as u64,
        })?;
    check_payload(path, bytes.len() - 16, expected)?;
    // Drop the header in place (a memmove, no second 47 MB buffer).
    bytes.drain(..16);
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes,
    })
}

/// Parses an IDX labels buffer (already decompressed) and checks every label is `< classes`.
pub fn parse_labels(path: &Path, mut bytes: Vec<u8>, classes: usize) -> Result<Vec<u8>> {
    check_magic(path, &bytes, LABELS_MAGIC, 8)?;
    let count = BigEndian::read_u32(&bytes[4..8]) as usize;
    check_payload(path, bytes.len() - 8, count)?;
    bytes.drain(..8);
    if let Some(index) = bytes.iter().position(|&l| l as usize >= classes) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: bytes[index],
            classes,
        });
    }
    Ok(bytes)
}

/// Reads an IDX images file (gzip or raw).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images(path, read_maybe_gz(path)?)
}

/// Reads an IDX labels file (gzip or raw), checking every label is `< classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<u8>> {
    parse_labels(path, read_maybe_gz(path)?, classes)
}

/// Encodes images as an IDX buffer (used by tests and tools that write hand-made files).
pub fn encode_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IMAGES_MAGIC, count, rows, cols] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as an IDX buffer.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}
