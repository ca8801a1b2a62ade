//! IDX reader for MNIST and Fashion-MNIST.
//!
//! Layout (all integers big-endian u32):
//! - images: `magic = 2051`, `count`, `rows`, `cols`, then `count * rows * cols` pixel bytes;
//! - labels: `magic = 2049`, `count`, then `count` label bytes.
//!
//! Files may be gzip-compressed or raw; compression is detected from the first two bytes (1f 8b),
//! not from the name. A file named `*.gz` that is not gzip is an error (it is usually an HTML error
//! page or a half-written download).
//!
//! Reading is streamed and bounded by the header: the header is read first, the payload size it
//! announces is checked against [`MAX_IDX_PAYLOAD`], and the (decompressed) stream is read up to
//! that size plus one byte, so a small gzip file that inflates to gigabytes (a decompression bomb)
//! costs no more memory than its header announces. Memory grows with the bytes actually present,
//! never with what a header claims.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{DataError, Result};
use crate::gzip::GzDecoder;

/// IDX magic of an unsigned-byte, 3-axis array (images).
pub const IMAGES_MAGIC: u32 = 2051;
/// IDX magic of an unsigned-byte, 1-axis array (labels).
pub const LABELS_MAGIC: u32 = 2049;
/// The largest payload an IDX file may announce: 256 MiB (MNIST's training images are 47 MB).
pub const MAX_IDX_PAYLOAD: u64 = 256 << 20;
/// Trailing bytes counted past the payload before a file is reported as "more than" too long.
const TRAILING_SCAN: u64 = 1 << 20;

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

/// An open IDX file: the (decompressed) byte stream and what is known of its size.
struct Source<'p> {
    path: &'p Path,
    reader: Box<dyn Read + 'p>,
    gzip: bool,
    /// Bytes on disk.
    file_len: u64,
    /// The gzip trailer's ISIZE (uncompressed size mod 2^32), when gzip.
    gzip_size: Option<u64>,
}

impl<'p> Source<'p> {
    /// The whole file already in memory (`path` names it in errors).
    fn from_bytes(path: &'p Path, bytes: &'p [u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        let gzip = bytes.starts_with(&[0x1f, 0x8b]);
        check_gz_name(path, gzip, bytes)?;
        let reader: Box<dyn Read + 'p> = if gzip {
            Box::new(GzDecoder::new(bytes))
        } else {
            Box::new(bytes)
        };
        let tail = bytes.len().checked_sub(4).map(|at| &bytes[at..]);
        Ok(Self {
            path,
            reader,
            gzip,
            file_len: bytes.len() as u64,
            gzip_size: tail
                .filter(|_| gzip)
                .map(|t| u64::from(u32::from_le_bytes([t[0], t[1], t[2], t[3]]))),
        })
    }

    /// Opens `path`, detecting gzip by content. Errors: unreadable, empty, `.gz` name
    /// without gzip content.
    fn open(path: &'p Path) -> Result<Self> {
        let io = |e| DataError::io(path, e);
        let mut f = File::open(path).map_err(io)?;
        let file_len = f.metadata().map_err(io)?.len();
        if file_len == 0 {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut head = Vec::with_capacity(2);
        (&mut f).take(2).read_to_end(&mut head).map_err(io)?;
        let gzip = head == [0x1f, 0x8b];
        check_gz_name(path, gzip, &head)?;
        let gzip_size = if gzip && file_len >= 4 {
            let mut t = [0u8; 4];
            f.seek(SeekFrom::End(-4)).map_err(io)?;
            f.read_exact(&mut t).map_err(io)?;
            Some(u64::from(u32::from_le_bytes(t)))
        } else {
            None
        };
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        let reader: Box<dyn Read + 'p> = if gzip {
            Box::new(GzDecoder::new(BufReader::new(f)))
        } else {
            Box::new(BufReader::new(f))
        };
        Ok(Self {
            path,
            reader,
            gzip,
            file_len,
            gzip_size,
        })
    }

    /// A read error: a corrupt stream for gzip, an I/O error otherwise.
    fn read_error(&self, e: std::io::Error) -> DataError {
        if self.gzip {
            DataError::BadGzip {
                path: self.path.to_path_buf(),
                message: e.to_string(),
            }
        } else {
            DataError::io(self.path, e)
        }
    }

    /// Up to `n` more bytes (fewer at the end of the stream), into a buffer of `capacity`.
    fn read_up_to(&mut self, n: u64, capacity: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(capacity);
        match (&mut self.reader).take(n).read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(e) => Err(self.read_error(e)),
        }
    }

    /// The header of `header_len` bytes with the expected magic; the rest of the stream stays
    /// unread.
    fn header(&mut self, magic: u32, header_len: usize) -> Result<Vec<u8>> {
        let header = self.read_up_to(header_len as u64, header_len)?;
        if header.is_empty() {
            return Err(DataError::Empty {
                path: self.path.to_path_buf(),
            });
        }
        check_magic(self.path, &header, magic, header_len)?;
        Ok(header)
    }

    /// Exactly `expected` payload bytes and nothing after them: reads at most `expected + 1`
    /// bytes, so memory is bounded by the header's announcement (itself at most
    /// [`MAX_IDX_PAYLOAD`]) and by the bytes present.
    fn payload(&mut self, header_len: usize, expected: u64) -> Result<Vec<u8>> {
        if expected > MAX_IDX_PAYLOAD {
            return Err(DataError::TooLarge {
                path: self.path.to_path_buf(),
                announced: expected,
                limit: MAX_IDX_PAYLOAD,
            });
        }
        // Reserve up front only what the file can back: the raw file's own length, or the
        // gzip trailer's size when it agrees with the header (a genuine file).
        let backed = if self.gzip {
            self.gzip_size
                .filter(|&s| s == header_len as u64 + expected)
                .map_or(0, |_| expected)
        } else {
            expected.min(self.file_len.saturating_sub(header_len as u64))
        };
        // `backed` <= MAX_IDX_PAYLOAD (256 MiB), which fits a usize on every target we build.
        let mut bytes = self.read_up_to(expected + 1, backed as usize)?;
        let have = bytes.len() as u64;
        if have < expected {
            return Err(DataError::Truncated {
                path: self.path.to_path_buf(),
                part: "payload",
                expected,
                found: have,
            });
        }
        if have > expected {
            bytes.clear();
            bytes.shrink_to_fit();
            return Err(self.trailing(header_len, expected));
        }
        // Drive a gzip stream to its end so its CRC is checked.
        if self.gzip {
            let rest = self.read_up_to(1, 0)?;
            if !rest.is_empty() {
                return Err(self.trailing(header_len, expected));
            }
        }
        Ok(bytes)
    }

    /// The error for bytes beyond the payload: exact for raw files, counted (without keeping
    /// them) up to a bound for gzip streams.
    fn trailing(&mut self, header_len: usize, expected: u64) -> DataError {
        let path = self.path.to_path_buf();
        if !self.gzip {
            let extra = (self.file_len - header_len as u64)
                .saturating_sub(expected)
                .max(1);
            return DataError::TrailingBytes {
                path,
                expected,
                extra,
            };
        }
        // One byte past the payload was read already; count the rest into a sink.
        let mut counted = std::io::sink();
        let rest = std::io::copy(&mut (&mut self.reader).take(TRAILING_SCAN), &mut counted);
        match rest {
            Ok(n) if n < TRAILING_SCAN => DataError::TrailingBytes {
                path,
                expected,
                extra: n + 1,
            },
            Ok(n) => DataError::TooLong {
                path,
                expected: header_len as u64 + expected,
                found: header_len as u64 + expected + n,
                at_least: true,
            },
            Err(e) => self.read_error(e),
        }
    }
}

/// The big-endian u32 in the first four bytes of `b` (callers check the length first).
fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A file named `*.gz` must be gzip (`head`: its first bytes).
fn check_gz_name(path: &Path, gzip: bool, head: &[u8]) -> Result<()> {
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if named_gz && !gzip {
        return Err(DataError::NotGzip {
            path: path.to_path_buf(),
            found: head.iter().take(2).copied().collect(),
        });
    }
    Ok(())
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
    let magic = be_u32(&bytes[0..4]);
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

/// `count * rows * cols` of an images header, as u64 (no overflow: three u32 factors fit a
/// u128; more than u64::MAX reads as u64::MAX, far above [`MAX_IDX_PAYLOAD`]).
fn images_payload(header: &[u8]) -> (usize, usize, usize, u64) {
    let f = |o: usize| be_u32(&header[o..o + 4]);
    let (count, rows, cols) = (f(4), f(8), f(12));
    let bytes = u128::from(count) * u128::from(rows) * u128::from(cols);
    let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
    (count as usize, rows as usize, cols as usize, bytes)
}

fn check_labels(path: &Path, bytes: &[u8], classes: usize) -> Result<()> {
    if let Some(index) = bytes.iter().position(|&l| l as usize >= classes) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: bytes[index],
            classes,
        });
    }
    Ok(())
}

/// Parses an IDX images buffer (already decompressed). `path` is used in error messages only.
pub fn parse_images(path: &Path, bytes: Vec<u8>) -> Result<IdxImages> {
    check_magic(path, &bytes, IMAGES_MAGIC, 16)?;
    let (count, rows, cols, expected) = images_payload(&bytes);
    check_buffer(path, bytes.len() - 16, expected)?;
    let mut pixels = bytes;
    // Drop the header in place (a memmove, no second buffer).
    pixels.drain(..16);
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Parses an IDX labels buffer (already decompressed) and checks every label is `< classes`.
pub fn parse_labels(path: &Path, mut bytes: Vec<u8>, classes: usize) -> Result<Vec<u8>> {
    check_magic(path, &bytes, LABELS_MAGIC, 8)?;
    let count = u64::from(be_u32(&bytes[4..8]));
    check_buffer(path, bytes.len() - 8, count)?;
    bytes.drain(..8);
    check_labels(path, &bytes, classes)?;
    Ok(bytes)
}

fn check_buffer(path: &Path, have: usize, expected: u64) -> Result<()> {
    let have = have as u64;
    if have < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            part: "payload",
            expected,
            found: have,
        });
    }
    if have > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            extra: have - expected,
        });
    }
    Ok(())
}

/// Reads an IDX images file (gzip or raw), streamed and bounded by its header (see the
/// module docs).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    images_from(Source::open(path)?)
}

/// [`read_images`] on the bytes of a whole file (gzip or raw) already in memory; `path`
/// names it in errors (and a `.gz` name must hold gzip, as on disk).
pub fn decode_images(path: &Path, file: &[u8]) -> Result<IdxImages> {
    images_from(Source::from_bytes(path, file)?)
}

/// [`read_labels`] on the bytes of a whole file (gzip or raw) already in memory.
pub fn decode_labels(path: &Path, file: &[u8], classes: usize) -> Result<Vec<u8>> {
    labels_from(Source::from_bytes(path, file)?, classes)
}

fn images_from(mut src: Source) -> Result<IdxImages> {
    let header = src.header(IMAGES_MAGIC, 16)?;
    let (count, rows, cols, expected) = images_payload(&header);
    let pixels = src.payload(16, expected)?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Reads an IDX labels file (gzip or raw), checking every label is `< classes`; streamed and
/// bounded by its header.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<u8>> {
    labels_from(Source::open(path)?, classes)
}

fn labels_from(mut src: Source, classes: usize) -> Result<Vec<u8>> {
    let header = src.header(LABELS_MAGIC, 8)?;
    let count = u64::from(be_u32(&header[4..8]));
    let labels = src.payload(8, count)?;
    check_labels(src.path, &labels, classes)?;
    Ok(labels)
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
