//! Issue 27: the commands added after issue 13 (bench, oneshot, retrieve, classic, embed, show,
//! reproduce, train-baseline) meet the contract of docs/reliability.md like `train`: flags
//! checked while parsing, before any work; no output written over an input; published tables
//! rewritten only from complete data; each refusal one `error:` line. Every test uses its own
//! temp folder, never the checkout's runs/ or datasets/.

use std::path::Path;
use std::process::{Command, Output};

// Each test file uses some of the shared helpers.
#[allow(dead_code)]
mod common;
use common::{refused, scratch, siamese, text};

fn bench(args: &[&str]) -> Output {
    let cwd = common::empty_cwd();
    let out = Command::new(env!("CARGO_BIN_EXE_siamese-bench"))
        .current_dir(&cwd)
        .args(args)
        .env_remove("SIAMESE_DATA_DIR")
        .output()
        .expect("runs siamese-bench");
    let _ = std::fs::remove_dir_all(cwd);
    out
}

/// Causes 2, 3, 4 and 5: every count, size, thread count and threshold of the new commands
/// is checked by the flags' one parser layer (src/bin/shared/flags.rs) with its stated range,
/// before the checkpoint or the data is read (the checkpoint named here does not exist: the
/// flag's error must come first). Before: `bench --threads 100000` hung, `--batch 100000000`
/// aborted, zero counts printed results from nothing, `--shots usize::MAX` panicked,
/// `show --threshold NaN` exited 0.
#[test]
fn counts_sizes_threads_and_thresholds_are_refused_while_parsing() {
    let ck = ["--checkpoint", "no-such.safetensors"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["oneshot", "--episodes", "0"], "--episodes"),
        (
            vec!["oneshot", "--episodes", "18446744073709551615"],
            "at most 1000000",
        ),
        (
            vec!["oneshot", "--shots", "18446744073709551615"],
            "at most 10000",
        ),
        (vec!["oneshot", "--ways", "1"], "must be at least 2"),
        (vec!["oneshot", "--batch", "0"], "--batch"),
        (vec!["oneshot", "--threads", "100000"], "--threads"),
        (vec!["retrieve", "--max-queries", "0"], "--max-queries"),
        (vec!["retrieve", "--query", "x.png", "--k", "0"], "--k"),
        (vec!["embed", "--threads", "0"], "must be at least 1"),
        (
            vec!["show", "--threshold", "NaN"],
            "must be a number from 0 to 1",
        ),
        (
            vec!["show", "--threshold", "2"],
            "must be a number from 0 to 1",
        ),
        (
            vec!["show", "--threshold=-1"],
            "must be a number from 0 to 1",
        ),
        (
            vec!["show", "--threshold", "inf"],
            "must be a number from 0 to 1",
        ),
    ];
    for (mut args, needle) in cases {
        args.extend(ck);
        refused(&siamese(&args), needle);
    }
    let classic = ["classic", "--method", "hog-svm", "--dataset", "mnist"];
    for (flag, value) in [
        ("--svm-epochs", "0"),
        ("--limit", "0"),
        ("--svm-c", "NaN"),
        ("--svm-c", "0"),
        ("--batch", "0"),
    ] {
        let mut args = classic.to_vec();
        args.extend([flag, value]);
        refused(&siamese(&args), flag);
    }
    refused(
        &siamese(&[
            "classic",
            "--method",
            "knn-pixels",
            "--dataset",
            "mnist",
            "--k",
            "0",
        ]),
        "--k",
    );
    for (flag, value) in [
        ("--threads", "100000"),
        ("--threads", "0"),
        ("--batch", "100000000"),
        ("--batch", "0"),
        ("--steps", "0"),
        ("--reps", "0"),
        ("--eval-batch", "0"),
        ("--steps", "18446744073709551615"),
    ] {
        let out = bench(&["--synthetic", flag, value]);
        refused(&out, flag);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    }
    // Through `siamese bench` too (the same bench, in the siamese process).
    refused(&siamese(&["bench", "--synthetic", "--reps", "0"]), "--reps");
}

/// Cause 6 and the checks that ran after the data loaded (9): an output that is one of the
/// command's inputs, two outputs naming one file, an output that is a FIFO and a wrong
/// `embed --out` extension are refused before the checkpoint is read (the checkpoint here is
/// an empty file: reading it would be a different error). Before: `embed --plot e.csv --out
/// e.csv` wrote the CSV then the PNG over it (now the plot must be named .png: the two meet
/// here through a symlink); `retrieve --strip q.png --query q.png` replaced
/// the query; `sweep --out FIFO` was refused only after every setting had trained.
#[test]
fn an_output_is_never_an_input_and_is_checked_first() {
    let dir = scratch("contract-outputs");
    let ck = dir.join("best.safetensors");
    std::fs::write(&ck, b"").unwrap();
    let q = dir.join("q.png");
    std::fs::write(&q, b"query bytes").unwrap();
    let (ck, qs) = (ck.to_str().unwrap(), q.to_str().unwrap());
    let csv = dir.join("e.csv");
    // The picture must be named .png: the two outputs meet through a symlink.
    let png = dir.join("e.png");
    std::os::unix::fs::symlink(&csv, &png).unwrap();
    let (csv, png) = (csv.to_str().unwrap(), png.to_str().unwrap());
    let same_q = format!("{}/./q.png", dir.display());
    refused(
        &siamese(&["embed", "--checkpoint", ck, "--plot", png, "--out", csv]),
        "are the same file",
    );
    refused(
        &siamese(&["embed", "--checkpoint", ck, "--out", ck]),
        "--out must end in .csv or .npy",
    );
    refused(
        &siamese(&[
            "retrieve",
            "--checkpoint",
            ck,
            "--query",
            qs,
            "--strip",
            &same_q,
        ]),
        "is the same file as --query",
    );
    // (a picture named .png, the checkpoint through a symlink)
    let ck_png = dir.join("ck.png");
    std::os::unix::fs::symlink(ck, &ck_png).unwrap();
    refused(
        &siamese(&[
            "show",
            "--checkpoint",
            ck,
            "--out",
            ck_png.to_str().unwrap(),
        ]),
        "is the same file as --checkpoint",
    );
    assert_eq!(std::fs::read(&q).unwrap(), b"query bytes");
    let fifo = dir.join("fifo.jsonl");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let f = fifo.to_str().unwrap();
        let empty = dir.to_str().unwrap();
        refused(
            &siamese(&["sweep", "--data-dir", empty, "--out", f]),
            "is a FIFO",
        );
        // A picture's FIFO named .png (another name is refused for that first).
        let fifo_png = dir.join("fifo.png");
        assert!(Command::new("mkfifo")
            .arg(&fifo_png)
            .status()
            .is_ok_and(|s| s.success()));
        let f = fifo_png.to_str().unwrap();
        refused(
            &siamese(&["pairs", "--data-dir", empty, "--out", f]),
            "is a FIFO",
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Cause 7: `train-baseline --out` naming a file, or a folder that holds a baseline already,
/// is refused before the data loads (the data folder here is empty: loading it would be the
/// missing-data error), as `train` refuses; `--force` replaces it. Before: the file was
/// refused only after training, and an existing baseline was replaced silently.
#[test]
fn train_baseline_claims_its_folder_before_any_work() {
    let dir = scratch("contract-baseline");
    let d = dir.to_str().unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, b"keep").unwrap();
    let base = ["train-baseline", "--data-dir", d, "--epochs", "1", "--out"];
    let mut args = base.to_vec();
    args.push(file.to_str().unwrap());
    refused(&siamese(&args), "exists and is not a folder");
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("baseline.safetensors"), b"earlier").unwrap();
    let mut args = base.to_vec();
    args.push(run.to_str().unwrap());
    refused(
        &siamese(&args),
        "pass --force to overwrite it or choose another --out",
    );
    assert_eq!(
        std::fs::read(run.join("baseline.safetensors")).unwrap(),
        b"earlier"
    );
    // With --force the folder is accepted: the next error is the missing data's.
    args.push("--force");
    let out = siamese(&args);
    assert!(!out.status.success());
    assert!(
        !text(&out.stderr).contains("already holds"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Cause 1: the published tables are rewritten only from complete data. Before, `reproduce
/// --report-only --runs no-such-folder --doc r.md` exited 0 and replaced every measured cell
/// with "not run", and a `--doc` FIFO blocked forever.
#[test]
fn reproduce_never_wipes_the_published_tables() {
    let dir = scratch("contract-reproduce");
    let doc = dir.join("r.md");
    let published =
        "# Results\n\n<!-- reproduce:begin -->\n| mnist | 99.50% |\n<!-- reproduce:end -->\n";
    std::fs::write(&doc, published).unwrap();
    let d = doc.to_str().unwrap();
    let missing = dir.join("no-such-folder");
    let empty = dir.join("empty-runs");
    std::fs::create_dir_all(&empty).unwrap();
    let report = |runs: &Path, doc: &str| {
        siamese(&[
            "reproduce",
            "--report-only",
            "--runs",
            runs.to_str().unwrap(),
            "--doc",
            doc,
        ])
    };
    refused(&report(&missing, d), "no such folder of runs");
    refused(&report(&empty, d), "seeds not finished");
    refused(
        &siamese(&[
            "reproduce",
            "--quick",
            "--report-only",
            "--runs",
            empty.to_str().unwrap(),
            "--doc",
            d,
        ]),
        "is left as it is",
    );
    assert_eq!(std::fs::read_to_string(&doc).unwrap(), published);
    let fifo = dir.join("doc.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        refused(&report(&empty, fifo.to_str().unwrap()), "is a FIFO");
    }
    refused(&report(&empty, dir.to_str().unwrap()), "is a directory");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Point 9: `oneshot --ways` against its class list was checked only after the test set had
/// loaded; it is checked once the checkpoint is read, before the data (the data folder here
/// is empty: loading it would be the missing-data error).
#[test]
fn oneshot_checks_its_classes_before_the_data_loads() {
    use siamese::data::DatasetKind;
    use siamese::model::checkpoint::Checkpoint;
    use siamese::model::run::TrainConfig;
    use siamese::model::SnLenet5;
    let dir = scratch("contract-oneshot");
    let cfg = TrainConfig::paper(DatasetKind::Mnist);
    let m = SnLenet5::new(cfg.model.clone(), 1).unwrap();
    let ck = dir.join("best.safetensors");
    Checkpoint::of_run(&cfg, &m.store).save(&ck).unwrap();
    let (ck, d) = (ck.to_str().unwrap(), dir.to_str().unwrap());
    let base = ["oneshot", "--checkpoint", ck, "--data-dir", d];
    let mut args = base.to_vec();
    args.extend(["--ways", "6", "--classes", "0-4"]);
    refused(&siamese(&args), "--ways 6 needs at least 6 classes");
    let mut args = base.to_vec();
    args.extend(["--classes", "0-12"]);
    refused(&siamese(&args), "outside 0..10");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Cause 7: `train-baseline --train-classes 0-6` tested on all ten classes although `--help`
/// says "train, validate and test on these classes only"; it tests on the 6,989 MNIST test
/// images of classes 0-6 now, and `eval` of its checkpoint scores the same images.
#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn train_baseline_tests_on_its_classes_only() {
    let data = common::real_data();
    let dir = scratch("contract-baseline-classes");
    let out = dir.join("b");
    let o = siamese(&[
        "train-baseline",
        "--data-dir",
        &data,
        "--epochs",
        "1",
        "--limit",
        "1000",
        "--train-classes",
        "0-6",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = text(&o.stdout);
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    assert!(text.contains("on 6989 test images"), "{text}");
    assert!(
        text.contains("1 epoch,") && text.contains("images/s"),
        "{text}"
    );
    let ck = out.join("baseline.safetensors");
    let e = siamese(&[
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data-dir",
        &data,
    ]);
    assert!(
        text_has(&e, "on 6989 test images"),
        "{}",
        common::text(&e.stdout)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn text_has(o: &Output, needle: &str) -> bool {
    o.status.success() && text(&o.stdout).contains(needle)
}
