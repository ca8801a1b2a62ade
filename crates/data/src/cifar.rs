//! CIFAR-10 binary-version reader.
//!
//! Each record is 1 label byte followed by 3,072 pixel bytes: the 1,024 red, then green, then blue
//! values of a 32x32 image, row-major. That is already CHW order, so records are copied as they are.
//! The official files hold 10,000 records each (`data_batch_1..5.bin`, `test_batch.bin`).

use std::path::Path;

use crate::error::{DataError, Result};

/// Pixel bytes per record (3 x 32 x 32).
pub const PIXELS: usize = 3 * 32 * 32;
/// Bytes per record (label + pixels).
pub const RECORD: usize = 1 + PIXELS;

/// Appends the records of one CIFAR-10 binary file to `images` (CHW u8) and `labels`.
/// Returns the number of records read.
///
/// Errors: missing or empty file, size not a whole number of 3,073-byte records (truncated),
/// a label `>= classes`.
pub fn read_batch_into(
    path: &Path, classes: usize, images: &mut Vec<u8>, labels: &mut Vec<u8>,
) -> Result<usize> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_batch_into(path, &bytes, classes, images, labels)
}

/// Parses an in-memory CIFAR-10 binary file (see [`read_batch_into`]).
pub fn parse_batch_into(
    path: &Path, bytes: &[u8], classes: usize, images: &mut Vec<u8>, labels: &mut Vec<u8>,
) -> Result<usize> {
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let partial = bytes.len() % RECORD;
    if partial > 0 {
        let whole = bytes.len() / RECORD;
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            part: "record",
            expected: ((whole + 1) * RECORD) as u64,
            found: bytes.len() as u64,
        });
    }
    let n = bytes.len() / RECORD;
    images.reserve(n * PIXELS);
    labels.reserve(n);
    for (index, record) in bytes.chunks_exact(RECORD).enumerate() {
        let label = record[0];
        if label as usize >= classes {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                index,
                label,
                classes,
            });
        }
        labels.push(label);
        images.extend_from_slice(&record[1..]);
    }
    Ok(n)
}

/// Reads class names from `batches.meta.txt` (one per line, blank lines ignored).
/// Returns `Ok(None)` when the file does not exist.
pub fn read_class_names(path: &Path, classes: usize) -> Result<Option<Vec<String>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != classes {
        return Err(DataError::BadClassNames {
            path: path.to_path_buf(),
            expected: classes,
            found: names.len(),
        });
    }
    Ok(Some(names))
}
