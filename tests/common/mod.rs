//! What the whole-CLI test files share: a scratch folder, running the `siamese` binary, its
//! output as text and the checks of how it ended (success, a one-line error, a refusal before
//! any work), the real datasets' folder, and a training run stopped by a signal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An empty folder of its own for test `name` (of this process).
pub fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("siamese-model-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
}

/// An empty working folder of its own for one run of the program, so that its defaults
/// (`runs/<dataset>`, `./datasets`) never meet the checkout's: `cargo test` starts in the
/// checkout, where the README's main job leaves `runs/mnist`.
pub fn empty_cwd() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    scratch(&format!("cwd-{k}"))
}

/// The `siamese` program, started in [`empty_cwd`] (no SIAMESE_DATA_DIR: only the given
/// --data-dir counts; offline: nothing is downloaded).
pub fn siamese_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_siamese"));
    c.current_dir(empty_cwd())
        .env_remove("SIAMESE_DATA_DIR")
        // Decoded image folders are cached in the test's own folder, never in ~/.cache.
        .env(
            "SIAMESE_CACHE_DIR",
            std::env::temp_dir().join(format!("siamese-test-cache-{}", std::process::id())),
        )
        // Tests never download: a missing dataset stays the missing-data error.
        .env("SIAMESE_OFFLINE", "1");
    c
}

/// Runs `siamese` with `args` (see [`siamese_command`]); its working folder is removed after.
pub fn siamese(args: &[&str]) -> Output {
    let mut c = siamese_command();
    let out = c.args(args).output().expect("runs the siamese binary");
    if let Some(cwd) = c.get_current_dir() {
        let _ = std::fs::remove_dir_all(cwd);
    }
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The program's stdout, after checking that it succeeded.
pub fn ok(out: Output) -> String {
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "failed:\nstdout: {o}\nstderr: {e}");
    o
}

/// Fails unless the program failed with exactly one `error:` line on stderr that contains
/// `needle` (and no panic).
pub fn assert_one_line_error(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Refused before any work: exit code 1 (the library's checks) or 2 (clap's parser), one
/// `error:` line containing `needle`, and nothing on stdout.
pub fn refused(out: &Output, needle: &str) {
    let (o, err) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    assert!(matches!(out.status.code(), Some(1 | 2)), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    assert!(o.trim().is_empty(), "work started before the error: {o}");
}

/// SIAMESE_DATA_DIR, or a loud failure: the tests that call it need the real datasets.
pub fn real_data() -> String {
    std::env::var("SIAMESE_DATA_DIR")
        .expect("needs the real datasets: set SIAMESE_DATA_DIR (e.g. ../shared/datasets)")
}

/// Starts `siamese train` (MNIST from `data`, 2 epochs of 1000 images, batch 16, into `run`),
/// waits for its first progress line (stderr is not a terminal: plain lines), sends it
/// `kill -<signal>` and returns what the process left.
pub fn interrupted_training(data: &str, run: &Path, signal: &str) -> Output {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = siamese_command()
        .args(["train", "--dataset", "mnist", "--data-dir", data])
        .args(["--epochs", "2", "--limit", "1000", "--batch", "16"])
        .args(["--out", run.to_str().expect("utf-8 path")])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs the siamese binary");
    let mut err = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut line = String::new();
    while err.read_line(&mut line).expect("reads stderr") > 0 && !line.contains("batches, loss") {
        line.clear();
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("runs kill");
    assert!(sent.success(), "kill -{signal}");
    child.wait_with_output().expect("waits for siamese")
}
