//! CIFAR-10 binary-version reader.
//!
//! Each record is 1 label byte followed by 3,072 pixel bytes: the 1,024 red, then green, then blue
//! values of a 32x32 image, row-major. That is already CHW order, so records are copied as they are.
//! The official files hold 10,000 records each (`data_batch_1..5.bin`, `test_batch.bin`).

use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result};
use crate::Label;

/// Pixel bytes per record (3 x 32 x 32).
pub const PIXELS: usize = 3 * 32 * 32;
/// Bytes per record (label + pixels).
pub const RECORD: usize = 1 + PIXELS;

/// Records in each official file (`data_batch_1..5.bin`, `test_batch.bin`): the most a file may
/// hold. Smaller files of whole records are accepted (hand-made subsets and test fixtures).
pub const MAX_RECORDS: usize = 10_000;

/// Appends the records of one CIFAR-10 binary file to `images` (CHW u8) and `labels`.
/// Returns the number of records read.
///
/// Errors: missing, unreadable or empty file; more than [`MAX_RECORDS`] records' worth of
/// bytes ("too long: expected 30730000 bytes, found …", checked on the file's size before
/// anything is read); a partial record ("truncated"); a label `>= classes`.
pub fn read_batch_into(
    path: &Path, classes: usize, images: &mut Vec<u8>, labels: &mut Vec<Label>,
) -> Result<usize> {
    let io = |e| DataError::io(path, e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    check_len(path, len)?;
    // `len` <= MAX_RECORDS * RECORD (30.7 MB) after check_len.
    let mut bytes = Vec::with_capacity(len as usize);
    (&mut f).take(len + 1).read_to_end(&mut bytes).map_err(io)?;
    parse_batch_into(path, &bytes, classes, images, labels)
}

/// A CIFAR-10 file of `len` bytes must be 1 to [`MAX_RECORDS`] whole records.
fn check_len(path: &Path, len: u64) -> Result<()> {
    let most = (MAX_RECORDS * RECORD) as u64;
    if len == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    if len > most {
        return Err(DataError::TooLong {
            path: path.to_path_buf(),
            expected: most,
            found: len,
            at_least: false,
        });
    }
    let partial = len % RECORD as u64;
    if partial > 0 {
        let whole = len / RECORD as u64;
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            part: "record",
            expected: (whole + 1) * RECORD as u64,
            found: len,
        });
    }
    Ok(())
}

/// Parses an in-memory CIFAR-10 binary file (see [`read_batch_into`]).
pub fn parse_batch_into(
    path: &Path, bytes: &[u8], classes: usize, images: &mut Vec<u8>, labels: &mut Vec<Label>,
) -> Result<usize> {
    check_len(path, bytes.len() as u64)?;
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
        labels.push(Label::from(label));
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
