//! Writing outputs without ever leaving a half-written file: write a temp file beside the
//! target, flush it to disk, then rename it over the target (atomic on POSIX filesystems).
//!
//! The target is resolved first: a symlink is written through (its target is replaced, the
//! link stays a link), and an existing target that is not a regular file (a FIFO, a device
//! node such as /dev/full, a directory) is refused with an error saying what it is: it is
//! never replaced by a regular file.

use std::fs;
use std::io::{Error, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Symlinks followed before a write gives up (as the kernel's ELOOP limit does).
const MAX_LINKS: usize = 40;

/// The temp name used for `path`: `.tmp.<name>` in the same directory (same filesystem, so
/// the rename is atomic; the extension is kept for writers that infer the format from it).
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".tmp.{name}"))
}

/// What a non-regular file is, for the refusal message.
fn kind_of(ft: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The file a write to `path` must replace: `path` itself, or the final target of the
/// symlinks it names (relative links resolved against their own folder; a dangling link's
/// target is created). Errors when an existing target is not a regular file, or after
/// `MAX_LINKS` links.
pub fn write_target(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            let link = fs::read_link(&p)?;
            p = match p.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
            continue;
        }
        if ft.is_file() {
            return Ok(p);
        }
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{} is {}, not a regular file: refusing to replace it",
                p.display(),
                kind_of(&ft)
            ),
        ));
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!("{}: more than {MAX_LINKS} symbolic links", path.display()),
    ))
}

/// The temp files being written now (by any thread), so that a signal handler can remove
/// them before the process exits ([`remove_pending_temps`]).
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves a valid list: keep using it.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `tmp` while `write` runs, and removes it when `write` fails.
fn with_temp<T, E: From<std::io::Error>>(
    tmp: &Path, write: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    pending().push(tmp.to_path_buf());
    let result = write();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    pending().retain(|p| p != tmp);
    result
}

/// Removes every temp file an atomic write has open now: for a Ctrl-C or SIGTERM handler
/// (the CLI's), called just before it exits the process, so that an interrupted write leaves
/// neither a half-written target (the rename never happened) nor a `.tmp.*` file beside it.
pub fn remove_pending_temps() {
    remove_pending(|_| true);
}

/// Removes the pending temp files that `which` picks, and forgets them.
fn remove_pending(which: impl Fn(&Path) -> bool) {
    pending().retain(|p| {
        if which(p) {
            let _ = fs::remove_file(p);
        }
        !which(p)
    });
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename (through a symlink to its
/// target; a non-regular target is refused, see the module docs). On error the temp file is
/// removed and whatever `path` held before is untouched.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = write_target(path)?;
    let tmp = temp_path(&target);
    with_temp(&tmp, || {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    })
}

/// Runs `write` against a temp path beside `path`, then renames the result over `path`
/// (for writers such as image encoders that want a path of their own); symlinks and
/// non-regular targets are handled as by [`atomic_write`].
pub fn atomic_write_with<E: From<std::io::Error>>(
    path: &Path, write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let target = write_target(path)?;
    let tmp = temp_path(&target);
    with_temp(&tmp, || {
        write(&tmp)?;
        fs::rename(&tmp, &target).map_err(E::from)
    })
}

/// What a path names, for telling whether two paths are the same file: an existing file's
/// device and inode (through symlinks and hard links), else the canonical folder joined with
/// the name a write would create ([`write_target`]).
#[derive(PartialEq, Eq)]
enum FileId {
    Node(u64, u64),
    Path(PathBuf),
}

fn file_id(path: &Path) -> Option<FileId> {
    if let Ok(m) = fs::metadata(path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            return Some(FileId::Node(m.dev(), m.ino()));
        }
        #[cfg(not(unix))]
        {
            let _ = m;
            return fs::canonicalize(path).ok().map(FileId::Path);
        }
    }
    let target = write_target(path).ok()?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(FileId::Path(
        fs::canonicalize(dir).ok()?.join(target.file_name()?),
    ))
}

/// Checks a command's outputs before any work: each must be writable as [`atomic_write`]
/// writes (an existing FIFO, device or directory is refused), none may be the same file as
/// any of the command's `inputs` (by device and inode, so a symlink or a hard link is caught
/// too), and no two outputs may be the same file. `outputs` and `inputs` are (flag, path);
/// the error names both flags.
pub fn check_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> std::io::Result<()> {
    let refuse = |msg: String| Err(Error::new(ErrorKind::InvalidInput, msg));
    for (i, (flag, out)) in outputs.iter().enumerate() {
        write_target(out)?;
        let Some(id) = file_id(out) else { continue };
        for (in_flag, input) in inputs {
            if file_id(input).as_ref() == Some(&id) {
                return refuse(format!(
                    "{flag} {} is the same file as {in_flag} {}: an output may not overwrite one of the command's inputs",
                    out.display(),
                    input.display()
                ));
            }
        }
        for (other_flag, other) in &outputs[..i] {
            if file_id(other).as_ref() == Some(&id) {
                return refuse(format!(
                    "{other_flag} {} and {flag} {} are the same file: give each output its own",
                    other.display(),
                    out.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("siamese-io-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.txt");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!temp_path(&p).exists());
        // A failing writer leaves the old file alone.
        let r: std::io::Result<()> = atomic_write_with(&p, |t| {
            fs::write(t, b"partial")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!temp_path(&p).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 27, point 9: Ctrl-C during `embed`'s write left a `.tmp.*` file. The handler's
    /// call removes the temp files being written.
    #[test]
    fn a_signal_handler_removes_the_temp_files_being_written() {
        let dir = std::env::temp_dir().join(format!("siamese-io-signal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("e.png");
        let mut seen = None;
        let r: std::io::Result<()> = atomic_write_with(&p, |t| {
            fs::write(t, b"half a picture")?;
            seen = Some(t.to_path_buf());
            // What the handler does on Ctrl-C (here only this test's: tests run in parallel).
            remove_pending(|t| t.starts_with(&dir));
            Err(std::io::Error::other("interrupted"))
        });
        assert!(r.is_err());
        let tmp = seen.unwrap();
        assert!(tmp.starts_with(&dir) && !tmp.exists());
        assert!(!p.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 27, cause 6: `embed --plot e.csv --out e.csv` and `retrieve --strip q.png --query
    /// q.png` overwrote an input; the same file by another spelling, a symlink or a hard link
    /// is caught too.
    #[cfg(unix)]
    #[test]
    fn outputs_may_not_be_inputs_or_each_other() {
        let dir = std::env::temp_dir().join(format!("siamese-io-same-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        let q = dir.join("q.png");
        fs::write(&q, b"query").unwrap();
        let other = dir.join("sub").join("..").join("q.png");
        let link = dir.join("link.png");
        std::os::unix::fs::symlink(&q, &link).unwrap();
        let hard = dir.join("hard.png");
        fs::hard_link(&q, &hard).unwrap();
        for out in [&q, &other, &link, &hard] {
            let e = check_outputs(&[("--strip", out)], &[("--query", &q)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("--strip") && e.contains("--query"), "{e}");
        }
        // Two outputs that do not exist yet but name the same file.
        let new = dir.join("e.csv");
        let again = dir.join("sub").join("..").join("e.csv");
        let e = check_outputs(&[("--out", &new), ("--plot", &again)], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("are the same file"), "{e}");
        check_outputs(
            &[("--out", &new), ("--plot", &dir.join("e.png"))],
            &[("--query", &q)],
        )
        .unwrap();
        assert_eq!(fs::read(&q).unwrap(), b"query");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 13, cause 5: `--out` naming a symlink, a FIFO or a device node used to end as a
    /// regular file (the device node /dev/full was replaced, as root).
    #[cfg(unix)]
    #[test]
    fn symlinks_are_written_through_and_special_files_refused() {
        use std::os::unix::fs::{symlink, FileTypeExt};
        let dir = std::env::temp_dir().join(format!("siamese-io-special-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        // A relative symlink to a file: the file gets the bytes, the link stays a link.
        let target = dir.join("sub").join("real.txt");
        fs::write(&target, b"old").unwrap();
        let link = dir.join("link.txt");
        symlink("sub/real.txt", &link).unwrap();
        atomic_write(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        // A dangling link: its target is created.
        let dangling = dir.join("dangling.txt");
        symlink(dir.join("sub").join("made.txt"), &dangling).unwrap();
        atomic_write_with(&dangling, |t| fs::write(t, b"made")).unwrap();
        assert!(fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(dir.join("sub").join("made.txt")).unwrap(), b"made");
        // A FIFO and a directory are refused and stay what they were.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = atomic_write(&fifo, b"x").unwrap_err().to_string();
            assert!(e.contains("is a FIFO, not a regular file"), "{e}");
            assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        }
        let e = atomic_write(&dir.join("sub"), b"x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
        // A device node, directly and through a link, is never replaced.
        let null = Path::new("/dev/null");
        if fs::symlink_metadata(null).is_ok_and(|m| m.file_type().is_char_device()) {
            let e = atomic_write(null, b"x").unwrap_err().to_string();
            assert!(e.contains("is a device"), "{e}");
            let to_null = dir.join("to-null");
            symlink(null, &to_null).unwrap();
            assert!(atomic_write(&to_null, b"x").is_err());
            assert!(fs::symlink_metadata(null)
                .unwrap()
                .file_type()
                .is_char_device());
        }
        // A symlink loop is an error, not a hang.
        let a = dir.join("loop-a");
        symlink(dir.join("loop-b"), &a).unwrap();
        symlink(&a, dir.join("loop-b")).unwrap();
        assert!(atomic_write(&a, b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
