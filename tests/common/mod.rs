//! What the whole-CLI test files share: a scratch folder, running the `siamese` binary, its
//! output as text, and the real datasets' folder.

use std::path::PathBuf;
use std::process::{Command, Output};

/// An empty folder of its own for test `name` (of this process).
pub fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("siamese-model-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
}

/// Runs `siamese` with `args` (no SIAMESE_DATA_DIR: only the given --data-dir counts;
/// offline: nothing is downloaded).
pub fn siamese(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siamese"))
        .args(args)
        .env_remove("SIAMESE_DATA_DIR")
        // Tests never download: a missing dataset stays the missing-data error.
        .env("SIAMESE_OFFLINE", "1")
        .output()
        .expect("runs the siamese binary")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// SIAMESE_DATA_DIR, or a loud failure: the tests that call it need the real datasets.
pub fn real_data() -> String {
    std::env::var("SIAMESE_DATA_DIR")
        .expect("needs the real datasets: set SIAMESE_DATA_DIR (e.g. ../shared/datasets)")
}
