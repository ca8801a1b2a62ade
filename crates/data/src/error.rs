//! The one error type of the crate: every variant names the file (or URL) and what is wrong with it.

use std::path::PathBuf;

/// Result alias used across `siamese-data`.
pub type Result<T> = std::result::Result<T, DataError>;

/// Everything that can go wrong between files on disk (or a mirror) and a batch of pairs.
///
/// Readers never panic on bad input: each malformed file maps to one of these variants, carrying the
/// file name and the facts needed to act on it (expected vs found). `Debug` prints the message,
/// as `Display` does (what `main` returning the error shows).
pub enum DataError {
    /// An operating-system error while reading or writing `path`.
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file exists but holds no bytes.
    Empty {
        /// The file concerned.
        path: PathBuf,
    },
    /// The file is named `*.gz` but does not start with the gzip magic bytes 1f 8b.
    NotGzip {
        /// The file concerned.
        path: PathBuf,
        /// The first (up to two) bytes found.
        found: Vec<u8>,
    },
    /// The gzip stream is corrupt or cut short.
    BadGzip {
        /// The file concerned.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// The IDX magic number is not the one expected (2051 for images, 2049 for labels).
    BadMagic {
        /// The file concerned.
        path: PathBuf,
        /// The magic the reader expected.
        expected: u32,
        /// The magic found in the file.
        found: u32,
    },
    /// The header or payload is shorter than the header announces.
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// "header" or "payload" (or "record" for CIFAR-10).
        part: &'static str,
        /// Bytes expected.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The payload is longer than the header announces.
    TrailingBytes {
        /// The file concerned.
        path: PathBuf,
        /// Bytes expected.
        expected: u64,
        /// Bytes beyond them.
        extra: u64,
    },
    /// The file is longer than its format allows (an IDX payload with more bytes than its header
    /// announces, a CIFAR-10 batch with more than its 10,000 records).
    TooLong {
        /// The file concerned.
        path: PathBuf,
        /// Bytes the format allows.
        expected: u64,
        /// Bytes found (a lower bound when `at_least`: a stream is not read to its end).
        found: u64,
        /// True when `found` is a lower bound.
        at_least: bool,
    },
    /// A header announces more data than the reader accepts (a hostile or corrupt header).
    TooLarge {
        /// The file concerned.
        path: PathBuf,
        /// Bytes the header announces.
        announced: u64,
        /// The reader's limit.
        limit: u64,
    },
    /// Image dimensions differ from the dataset's geometry.
    BadDimensions {
        /// The file concerned.
        path: PathBuf,
        /// Expected height.
        expected_h: usize,
        /// Expected width.
        expected_w: usize,
        /// Found height.
        found_h: usize,
        /// Found width.
        found_w: usize,
    },
    /// The images file and the labels file disagree on the number of records.
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Number of images.
        n_images: usize,
        /// Number of labels.
        n_labels: usize,
    },
    /// A label is not a valid class index.
    LabelOutOfRange {
        /// The file concerned.
        path: PathBuf,
        /// Record index (0-based).
        index: usize,
        /// The label found.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// `batches.meta.txt` does not list the expected number of classes.
    BadClassNames {
        /// The file concerned.
        path: PathBuf,
        /// Expected number of names.
        expected: usize,
        /// Names found.
        found: usize,
    },
    /// Dataset files are missing in every place the lookup tried.
    Missing {
        /// Dataset name.
        dataset: &'static str,
        /// Folders that were searched, in order.
        looked_in: Vec<PathBuf>,
        /// Files missing in the first folder.
        missing: Vec<String>,
        /// The exact command that downloads them.
        fetch_command: String,
    },
    /// An unknown dataset name was given.
    UnknownDataset(String),
    /// A caller passed an impossible argument (empty index list, batch size 0, too many validation images...).
    InvalidArgument(String),
    /// A downloaded file does not match its published checksum; the temporary file was deleted.
    ChecksumMismatch {
        /// The file (temporary name) that failed.
        path: PathBuf,
        /// "SHA-256" or "MD5".
        algorithm: &'static str,
        /// Published digest.
        expected: String,
        /// Digest of the downloaded bytes.
        found: String,
    },
    /// The download itself failed (connection refused, timeout, HTTP error).
    Download {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// An image file (`siamese compare`) could not be read or decoded.
    Image {
        /// The file concerned.
        path: PathBuf,
        /// What the reader or decoder said.
        message: String,
    },
    /// An image folder (`--images DIR`) cannot be used as a dataset, or its cache cannot be
    /// written: a missing or unreadable folder, too few classes, too many images or bytes,
    /// too many files that do not decode.
    Folder {
        /// The folder (or file) concerned.
        path: PathBuf,
        /// What is wrong and what to do, one line.
        message: String,
    },
    /// A pair list (`--pairs`) is malformed, or an image it names cannot be used.
    PairList {
        /// The list (`<stdin>` for stdin).
        path: PathBuf,
        /// The line concerned (1-based), 0 for the list as a whole.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A tensor could not be built (never expected: shapes are checked first).
    Tensor(siamese_tensor::TensorError),
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use DataError::*;
        match self {
            Io { path, source } => write!(f, "{}: {source}", path.display()),
            Empty { .. }
            | NotGzip { .. }
            | BadGzip { .. }
            | Truncated { .. }
            | TrailingBytes { .. }
            | TooLong { .. }
            | TooLarge { .. } => self.fmt_stream(f),
            BadMagic { .. }
            | BadDimensions { .. }
            | CountMismatch { .. }
            | LabelOutOfRange { .. }
            | BadClassNames { .. } => self.fmt_records(f),
            Missing {
                dataset,
                looked_in,
                missing,
                fetch_command,
            } => f.write_str(&missing_message(dataset, looked_in, missing, fetch_command)),
            UnknownDataset(name) => write!(
                f,
                "unknown dataset '{name}' (expected mnist, fashion-mnist or cifar-10)"
            ),
            InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            ChecksumMismatch {
                path,
                algorithm,
                expected,
                found,
            } => write!(
                f,
                "{}: {algorithm} mismatch (expected {expected}, got {found}); \
                 the temporary file was deleted, run the fetch again",
                path.display()
            ),
            // Transport errors already name the URL: once is enough.
            Download { url, message } if message.contains(url.as_str()) => {
                write!(f, "download failed: {message}")
            }
            Download { url, message } => write!(f, "download of {url} failed: {message}"),
            Image { path, message } => {
                write!(f, "{}: cannot read image: {message}", path.display())
            }
            Folder { path, message } => write!(f, "{}: {message}", path.display()),
            PairList {
                path,
                line: 0,
                message,
            } => write!(f, "{}: {message}", path.display()),
            PairList {
                path,
                line,
                message,
            } => write!(f, "{}, line {line}: {message}", path.display()),
            Tensor(e) => std::fmt::Display::fmt(e, f),
        }
    }
}

impl DataError {
    /// The messages of a file whose bytes do not read: empty, not gzip, a corrupt gzip stream,
    /// too short, too long.
    fn fmt_stream(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use DataError::*;
        match self {
            Empty { path } => write!(
                f,
                "{}: the file is empty (0 bytes); delete it and run `siamese fetch` again",
                path.display()
            ),
            NotGzip { path, found } => write!(
                f,
                "{}: named .gz but is not gzip data (first bytes {found:02x?}, expected 1f 8b)",
                path.display()
            ),
            BadGzip { path, message } => {
                write!(f, "{}: corrupt gzip stream: {message}", path.display())
            }
            Truncated {
                path,
                part,
                expected,
                found,
            } => write!(
                f,
                "{}: truncated {part}: expected {expected} bytes, found {found}",
                path.display()
            ),
            TrailingBytes {
                path,
                expected,
                extra,
            } => write!(
                f,
                "{}: {extra} unexpected trailing bytes after the {expected}-byte payload",
                path.display()
            ),
            TooLong {
                path,
                expected,
                found,
                at_least,
            } => write!(
                f,
                "{}: too long: expected {expected} bytes, found {}{found}",
                path.display(),
                if *at_least { "more than " } else { "" }
            ),
            TooLarge {
                path,
                announced,
                limit,
            } => write!(
                f,
                "{}: the header announces {announced} bytes, more than the {limit}-byte limit",
                path.display()
            ),
            // The other variants: `Display::fmt` writes them.
            _ => Ok(()),
        }
    }

    /// The messages of a dataset file whose bytes read but whose content is wrong: the IDX
    /// magic, the image size, the counts, a label, the class names.
    fn fmt_records(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use DataError::*;
        match self {
            BadMagic {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: wrong IDX magic number {found} (expected {expected}: 2051 = images, 2049 = labels)",
                path.display()
            ),
            BadDimensions {
                path,
                expected_h,
                expected_w,
                found_h,
                found_w,
            } => write!(
                f,
                "{}: images are {found_h}x{found_w}, expected {expected_h}x{expected_w}",
                path.display()
            ),
            CountMismatch {
                images,
                labels,
                n_images,
                n_labels,
            } => write!(
                f,
                "{} holds {n_images} images but {} holds {n_labels} labels",
                images.display(),
                labels.display()
            ),
            LabelOutOfRange {
                path,
                index,
                label,
                classes,
            } => write!(
                f,
                "{}: record {index} has label {label}, outside 0..{classes}",
                path.display()
            ),
            BadClassNames {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: lists {found} class names, expected {expected}",
                path.display()
            ),
            // The other variants: `Display::fmt` writes them.
            _ => Ok(()),
        }
    }
}

/// The missing-data error: what is missing and where the lookup looked (the first missing
/// file and how many more), then [`ways_out`].
fn missing_message(
    dataset: &str, looked_in: &[PathBuf], missing: &[String], fetch_command: &str,
) -> String {
    let looked: Vec<String> = looked_in.iter().map(|p| p.display().to_string()).collect();
    let files = match missing.len() {
        0 => String::new(),
        1 => format!(", missing {}", missing[0]),
        n => format!(", missing {} and {} more", missing[0], n - 1),
    };
    format!(
        "{dataset} not found: looked in {}{files}\n{}",
        looked.join(", "),
        ways_out(dataset, fetch_command)
    )
}

/// The two ways to get a missing dataset, as the two indented lines that end the
/// missing-data error: download it when online, or point the lookup at a copy.
pub fn ways_out(dataset: &str, fetch_command: &str) -> String {
    format!(
        "  online: `{fetch_command}` downloads it (checksum-verified)\n  offline: point --data-dir or SIAMESE_DATA_DIR at a folder that holds {dataset}/"
    )
}

impl std::fmt::Debug for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<siamese_tensor::TensorError> for DataError {
    fn from(e: siamese_tensor::TensorError) -> Self {
        DataError::Tensor(e)
    }
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
