//! Whole-CLI tests of the results pipeline on the real data (ignored without it; `.ci/run`
//! runs them with SIAMESE_DATA_DIR set): `siamese reproduce --quick`, the smoke test of the
//! one command that writes docs/results.md's tables, and the baseline's train → eval.

use std::path::PathBuf;
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("siamese-results-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
}

fn real_data() -> String {
    std::env::var("SIAMESE_DATA_DIR")
        .expect("needs the real datasets: set SIAMESE_DATA_DIR (e.g. ../shared/datasets)")
}

fn ok(args: &[&str]) -> String {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_siamese"))
        .args(args)
        .output()
        .expect("runs the siamese binary");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{args:?} failed:\nstdout: {o}\nstderr: {e}"
    );
    o
}

/// The quick profile trains every row's seeds, writes the tables between the markers of
/// the given document (the prose around them kept), and a second call trains nothing.
#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn reproduce_quick_writes_the_tables_between_the_markers() {
    let data = real_data();
    let dir = scratch("reproduce");
    let doc = dir.join("results.md");
    let prose = "# Results\n\nprose above\n\n<!-- reproduce:begin -->\nold\n<!-- reproduce:end -->\n\nprose below\n";
    std::fs::write(&doc, prose).unwrap();
    let runs = dir.join("runs");
    let args = [
        "reproduce",
        "--quick",
        "--quiet",
        "--data-dir",
        &data,
        "--runs",
        runs.to_str().unwrap(),
        "--doc",
        doc.to_str().unwrap(),
    ];
    let o = ok(&args);
    assert!(o.contains("mnist-quick seed 1: training"), "{o}");
    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(
        text.starts_with("# Results\n\nprose above\n\n<!-- reproduce:begin -->\n"),
        "{text}"
    );
    assert!(
        text.ends_with("<!-- reproduce:end -->\n\nprose below\n"),
        "{text}"
    );
    assert!(!text.contains("\nold\n"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("| mnist-quick |"))
        .expect(&text);
    assert!(row.contains(" ± ") && row.contains("| 0, 1 |"), "{row}");
    assert!(
        row.contains("`siamese train --dataset mnist --epochs 1"),
        "{row}"
    );
    assert!(
        text.contains("| 0.001 |") && text.contains("| 0.01 |"),
        "{text}"
    );
    assert!(runs.join("mnist-quick/seed0/test.json").exists());
    let again = ok(&args);
    assert!(!again.contains("training into"), "{again}");
    assert_eq!(std::fs::read_to_string(&doc).unwrap(), text);
    std::fs::remove_dir_all(dir).unwrap();
}

/// `train-baseline` saves its best validation epoch's classifier and `eval` reads it back
/// with the same test accuracy.
#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn baseline_learns_and_eval_reads_its_checkpoint() {
    let data = real_data();
    let dir = scratch("baseline");
    let out = dir.join("b");
    let o = ok(&[
        "train-baseline",
        "--dataset",
        "mnist",
        "--data-dir",
        &data,
        "--epochs",
        "2",
        "--limit",
        "2000",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let acc = |s: &str, key: &str| -> f64 {
        let at = s.find(key).unwrap_or_else(|| panic!("no '{key}' in {s}")) + key.len();
        s[at..]
            .trim_start()
            .split('%')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let trained = acc(&o, "test accuracy");
    assert!(trained > 85.0, "{o}");
    let ck = out.join("baseline.safetensors");
    let e = ok(&[
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data-dir",
        &data,
    ]);
    assert_eq!(acc(&e, "accuracy"), trained, "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}
