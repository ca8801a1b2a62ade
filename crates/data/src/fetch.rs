//! Downloading the datasets: `siamese fetch`.
//!
//! Each file is downloaded to `<name>.part` next to its final place, resumed with an HTTP `Range`
//! request when a `.part` is already there (a server that ignores `Range` makes it restart from 0),
//! verified against the registry's checksum, and only then renamed. A checksum mismatch deletes the
//! `.part` file and says so. The CIFAR-10 tarball is verified (by MD5, see the registry) and its six
//! `.bin` files and `batches.meta.txt` are unpacked, each through a temp file, then the tarball is removed.
//!
//! URLs are `<base>/<file>`. The base is the dataset's public mirror, or `<m>/<dataset name>` when a
//! mirror override `m` is given (`--mirror` or the `SIAMESE_MIRROR` environment variable); tests use
//! that to serve files from a loopback HTTP server. Connections time out (10 s to connect, 30 s
//! without data by default), so an offline machine gets a clear error, not a hang.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::dataset::missing_files;
use crate::error::{DataError, Result};
use crate::gzip::GzDecoder;
use crate::registry::{DatasetKind, Digest, RemoteFile, CIFAR_FILES, CIFAR_META};

/// Environment variable overriding the download base URL (`<mirror>/<dataset name>/<file>`).
pub const MIRROR_ENV: &str = "SIAMESE_MIRROR";

/// Options of a fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Base URL override; `None` reads [`MIRROR_ENV`], then falls back to the public mirror. Defaults to `None`.
    pub mirror: Option<String>,
    /// Download again even when complete files are present. Defaults to `false`.
    pub force: bool,
    /// Report progress on stderr (a bar on a terminal, a line every 10 % otherwise). Defaults to `true`.
    pub progress: bool,
    /// Connection timeout. Defaults to 10 s.
    pub connect_timeout: Duration,
    /// Longest wait for data on an open connection. Defaults to 30 s.
    pub read_timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            mirror: None,
            force: false,
            progress: true,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Already present and verified (or, for unpacked CIFAR-10 files, present with the right size).
    Present,
    /// Downloaded (resumed from `resumed_from` bytes) and verified.
    Downloaded {
        /// Bytes already in the `.part` file when the download started.
        resumed_from: u64,
    },
    /// Unpacked from the CIFAR-10 tarball.
    Unpacked,
}

/// Per-file outcome of [`fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// Folder the files are in.
    pub dir: PathBuf,
    /// `(file name, status)` in registry order.
    pub files: Vec<(String, FileStatus)>,
}

/// The base URL used for `kind`: override (`opts.mirror`, else `$SIAMESE_MIRROR`) + `/<name>`,
/// else the public mirror.
pub fn base_url(kind: DatasetKind, opts: &FetchOptions) -> String {
    let over = opts
        .mirror
        .clone()
        .or_else(|| std::env::var(MIRROR_ENV).ok())
        .filter(|m| !m.trim().is_empty());
    match over {
        Some(m) => format!("{}/{}", m.trim().trim_end_matches('/'), kind.name()),
        None => kind.default_mirror().to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex digest of a file with the algorithm of `digest` (the expected value is ignored).
pub fn file_digest(path: &Path, digest: Digest) -> Result<String> {
    let mut f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        match digest {
            Digest::Sha256(_) => sha.update(&buf[..n]),
            Digest::Md5(_) => md5.update(&buf[..n]),
        }
    }
    Ok(match digest {
        Digest::Sha256(_) => hex(&sha.finalize()),
        Digest::Md5(_) => hex(&md5.finalize()),
    })
}

/// Checks `path` against `digest`; `Err(ChecksumMismatch)` when it differs (the file is left alone).
pub fn verify(path: &Path, digest: Digest) -> Result<()> {
    let (algorithm, expected) = match digest {
        Digest::Sha256(h) => ("SHA-256", h),
        Digest::Md5(h) => ("MD5", h),
    };
    let found = file_digest(path, digest)?;
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_path_buf(),
            algorithm,
            expected: expected.to_string(),
            found,
        })
    }
}

/// Progress reporting: an indicatif bar on a terminal, plain lines every 10 % otherwise.
enum Progress {
    Off,
    Bar(indicatif::ProgressBar),
    Lines {
        name: String,
        total: Option<u64>,
        next_pct: u64,
    },
}

impl Progress {
    fn new(show: bool, name: &str, total: Option<u64>, start: u64) -> Self {
        if !show {
            return Progress::Off;
        }
        if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::new_spinner(),
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(name.to_string());
            bar.set_position(start);
            Progress::Bar(bar)
        } else {
            eprintln!("downloading {name} ({})", human(total));
            Progress::Lines {
                name: name.to_string(),
                total,
                next_pct: 10,
            }
        }
    }

    fn update(&mut self, pos: u64) {
        match self {
            Progress::Off => {}
            Progress::Bar(b) => b.set_position(pos),
            Progress::Lines {
                name,
                total: Some(t),
                next_pct,
            } if *t > 0 => {
                let pct = pos.saturating_mul(100) / *t;
                if pct >= *next_pct && *next_pct <= 100 {
                    eprintln!("  {name}: {pct}% ({pos} / {t} bytes)");
                    *next_pct = (pct / 10 + 1) * 10;
                }
            }
            Progress::Lines { .. } => {}
        }
    }

    fn finish(self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

fn human(total: Option<u64>) -> String {
    match total {
        Some(t) => format!("{:.1} MB", t as f64 / 1e6),
        None => "size unknown".into(),
    }
}

fn agent(opts: &FetchOptions) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(opts.connect_timeout)
        .timeout_read(opts.read_timeout)
        .build()
}

/// Downloads `base/<file.name>` into `dir/<file.name>` through `dir/<file.name>.part`, resuming a
/// partial `.part`, verifying the checksum, then renaming. Returns the bytes the `.part` held at start.
pub fn download_file(
    base: &str, dir: &Path, file: &RemoteFile, opts: &FetchOptions,
) -> Result<u64> {
    let url = format!("{}/{}", base.trim_end_matches('/'), file.name);
    let part = dir.join(format!("{}.part", file.name));
    let fin = dir.join(file.name);
    let agent = agent(opts);
    // Two attempts: the second starts from zero when the server rejects the resume range.
    for attempt in 0..2 {
        let have = if attempt == 0 {
            fs::metadata(&part).map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        let resp = match request(&agent, &url, have)? {
            Some(r) => r,
            None => {
                // Range not satisfiable: the .part is complete already, or longer than the file.
                if verify(&part, file.digest).is_ok() {
                    fs::rename(&part, &fin).map_err(|e| DataError::io(&fin, e))?;
                    return Ok(have);
                }
                fs::remove_file(&part).map_err(|e| DataError::io(&part, e))?;
                continue;
            }
        };
        // A 206 continues the .part; anything else is the whole file, written from zero.
        let start = if have > 0 && resp.status() == 206 {
            have
        } else {
            0
        };
        write_body(resp, &part, start, file, opts, &url)?;
        if let Err(e) = verify(&part, file.digest) {
            // Never leave bytes that failed verification behind: a resume would build on them.
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        fs::rename(&part, &fin).map_err(|e| DataError::io(&fin, e))?;
        return Ok(start);
    }
    Err(DataError::Download {
        url,
        message: "the server rejected the resume request twice".into(),
    })
}

/// GET `url`, from byte `have` on when `have` > 0 (a `Range` request): the response, whose
/// body is the file from that byte on (206) or whole (200), or `None` when the server rejects
/// the range (416: the `.part` is as long as the file, or longer). Any other HTTP error or a
/// transport failure is a [`DataError::Download`] naming the URL.
fn request(agent: &ureq::Agent, url: &str, have: u64) -> Result<Option<ureq::Response>> {
    let mut req = agent.get(url);
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    match req.call() {
        Ok(r) => Ok(Some(r)),
        Err(ureq::Error::Status(416, _)) if have > 0 => Ok(None),
        Err(ureq::Error::Status(code, r)) => Err(DataError::Download {
            url: url.to_string(),
            message: format!("HTTP {code} {}", r.status_text()),
        }),
        Err(ureq::Error::Transport(t)) => Err(DataError::Download {
            url: url.to_string(),
            message: format!(
                "{t} (no network? the machine must reach the mirror, or set {MIRROR_ENV})"
            ),
        }),
    }
}

/// Writes the body of `resp` into `part`: appended to the `.part`'s first `start` bytes when
/// `start` > 0 (a resumed download), else from zero, with progress on stderr. A read error
/// keeps the `.part` for a later resume.
fn write_body(
    resp: ureq::Response, part: &Path, start: u64, file: &RemoteFile, opts: &FetchOptions,
    url: &str,
) -> Result<()> {
    let len: Option<u64> = resp
        .header("Content-Length")
        .and_then(|v| v.trim().parse().ok())
        .map(|l: u64| l + start)
        .or(file.bytes);
    let mut out = if start > 0 {
        OpenOptions::new().append(true).open(part)
    } else {
        File::create(part)
    }
    .map_err(|e| DataError::io(part, e))?;
    let mut progress = Progress::new(opts.progress, file.name, len, start);
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = start;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                progress.finish();
                return Err(DataError::Download {
                    url: url.to_string(),
                    message: format!(
                        "{e} after {pos} bytes; {} kept, run the fetch again to resume",
                        part.display()
                    ),
                });
            }
        };
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| DataError::io(part, e))?;
        pos += n as u64;
        progress.update(pos);
    }
    progress.finish();
    out.flush().map_err(|e| DataError::io(part, e))
}

/// Unpacks the six `.bin` files (and `batches.meta.txt` when present) of a CIFAR-10 binary tarball
/// into `dir`, each through a `.part` temp file. Errors when a `.bin` file is absent from the archive.
pub fn unpack_cifar(tarball: &Path, dir: &Path) -> Result<Vec<String>> {
    let f = File::open(tarball).map_err(|e| DataError::io(tarball, e))?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(f)));
    let io = |e| DataError::io(tarball, e);
    let mut found = Vec::new();
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let path = entry.path().map_err(io)?.into_owned();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !(CIFAR_FILES.contains(&name.as_str()) || name == CIFAR_META) {
            continue;
        }
        let part = dir.join(format!("{name}.part"));
        let mut out = File::create(&part).map_err(|e| DataError::io(&part, e))?;
        std::io::copy(&mut entry, &mut out).map_err(io)?;
        drop(out);
        let fin = dir.join(&name);
        fs::rename(&part, &fin).map_err(|e| DataError::io(&fin, e))?;
        found.push(name);
    }
    let missing: Vec<String> = CIFAR_FILES
        .iter()
        .filter(|f| !found.iter().any(|g| g == *f))
        .map(|f| f.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::Missing {
            dataset: DatasetKind::Cifar10.name(),
            looked_in: vec![tarball.to_path_buf()],
            missing,
            fetch_command: "siamese fetch cifar-10 --force".into(),
        });
    }
    Ok(found)
}

/// Downloads `files` from `base` into `dir`, skipping verified ones unless `opts.force`.
pub fn fetch_files(
    base: &str, dir: &Path, files: &[RemoteFile], opts: &FetchOptions,
) -> Result<Vec<(String, FileStatus)>> {
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let mut out = Vec::new();
    for file in files {
        let fin = dir.join(file.name);
        if fin.is_file() && !opts.force {
            match verify(&fin, file.digest) {
                Ok(()) => {
                    out.push((file.name.to_string(), FileStatus::Present));
                    continue;
                }
                Err(DataError::ChecksumMismatch { .. }) => {
                    if opts.progress {
                        eprintln!("{}: checksum mismatch, downloading again", fin.display());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let resumed_from = download_file(base, dir, file, opts)?;
        out.push((
            file.name.to_string(),
            FileStatus::Downloaded { resumed_from },
        ));
    }
    Ok(out)
}

/// SHA-256 of `test_batch.bin` in the CIFAR-10 stand-in of the project's build machines
/// (pixels decoded from lossy JPEG, see datasets/README.md): NOT an official CIFAR-10 value.
const CIFAR_STANDIN_TEST_SHA256: &str =
    "cf28711b3059b27ed8a78d6529b5ba5b5c94130096ca62a1a924268a9a9ec05b";

/// True when the CIFAR-10 folder `dir` holds the JPEG stand-in rather than the official files
/// (its `test_batch.bin` has the stand-in's SHA-256), so that results on it can say so:
/// "CIFAR-10 (JPEG stand-in)". False for any other dataset folder or an unreadable file.
pub fn is_cifar_standin(dir: &Path) -> bool {
    file_digest(&dir.join("test_batch.bin"), Digest::Sha256(""))
        .is_ok_and(|h| h == CIFAR_STANDIN_TEST_SHA256)
}

/// `siamese fetch <kind>`: makes `dir` hold a complete, verified copy of `kind`.
pub fn fetch(kind: DatasetKind, dir: &Path, opts: &FetchOptions) -> Result<FetchReport> {
    let base = base_url(kind, opts);
    let files = match kind {
        DatasetKind::Mnist | DatasetKind::FashionMnist => {
            fetch_files(&base, dir, kind.remote_files(), opts)?
        }
        DatasetKind::Cifar10 => {
            // The six official .bin checksums are not known here: a complete, right-sized set is
            // taken as present; otherwise the tarball is fetched (MD5-verified) and unpacked.
            let record_file = (crate::cifar::RECORD * 10_000) as u64;
            let complete = missing_files(kind, dir).is_empty()
                && CIFAR_FILES
                    .iter()
                    .all(|f| fs::metadata(dir.join(f)).map(|m| m.len()).ok() == Some(record_file));
            if complete && !opts.force {
                CIFAR_FILES
                    .iter()
                    .map(|f| (f.to_string(), FileStatus::Present))
                    .collect()
            } else {
                let mut got = fetch_files(&base, dir, kind.remote_files(), opts)?;
                let tarball = dir.join(kind.remote_files()[0].name);
                if opts.progress {
                    eprintln!("unpacking {}", tarball.display());
                }
                for name in unpack_cifar(&tarball, dir)? {
                    got.push((name, FileStatus::Unpacked));
                }
                fs::remove_file(&tarball).map_err(|e| DataError::io(&tarball, e))?;
                got
            }
        }
    };
    Ok(FetchReport {
        dir: dir.to_path_buf(),
        files,
    })
}
