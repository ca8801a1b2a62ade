//! Writing outputs without ever leaving a half-written file: write a temp file beside the
//! target, flush it to disk, then rename it over the target (atomic on POSIX filesystems).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temp name used for `path`: `.tmp.<name>` in the same directory (same filesystem, so
/// the rename is atomic; the extension is kept for writers that infer the format from it).
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".tmp.{name}"))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename. On error the temp file is
/// removed and whatever `path` held before is untouched.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Runs `write` against a temp path beside `path`, then renames the result over `path`
/// (for writers such as image encoders that want a path of their own).
pub fn atomic_write_with<E: From<std::io::Error>>(
    path: &Path, write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = temp_path(path);
    match write(&tmp) {
        Ok(()) => fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            E::from(e)
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
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
}
