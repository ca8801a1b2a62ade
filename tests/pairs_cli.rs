//! `siamese score` and `siamese eval --pairs` on a pair list made here: a fresh SN-LeNet-5
//! checkpoint saved as `siamese train` saves it, a few PNG files and CSV lists (no dataset).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

#[allow(dead_code)]
mod common;
use common::{assert_one_line_error, ok, refused, scratch, siamese, siamese_command, text};

/// A checkpoint, five images (one RGB of another size, one in a folder, one with a comma in
/// its name) and `list.csv`, labelled, in a folder of its own.
struct Fixture {
    dir: PathBuf,
    ck: String,
    list: String,
}

const LIST: &str = "path_a,path_b,label\n\
# pairs of the fixture's images\n\
a.png,b.png,1\r\n\
a.png,c.png,0\n\
sub/d.png,\"e, big.png\",same\n\
b.png,b.png,1\n\
\n\
c.png,sub/d.png,different\n\
e.png,a.png,0\n";

fn fixture(name: &str) -> Fixture {
    use siamese_model::checkpoint::Checkpoint;
    use siamese_model::{SnLenet5, TrainConfig};
    let dir = scratch(&format!("pairs-{name}"));
    let cfg = TrainConfig::paper(siamese_data::DatasetKind::Mnist);
    let model = SnLenet5::new(cfg.model.clone(), 0).unwrap();
    let ck = dir.join("fresh.safetensors");
    Checkpoint::of_run(&cfg, &model.store).save(&ck).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    for (i, f) in ["a.png", "b.png", "c.png", "sub/d.png", "e.png"]
        .iter()
        .enumerate()
    {
        let px: Vec<u8> = (0..784).map(|p| ((p * (i + 1) * 7) % 256) as u8).collect();
        image::save_buffer(dir.join(f), &px, 28, 28, image::ExtendedColorType::L8).unwrap();
    }
    let rgb: Vec<u8> = (0..3 * 40 * 30).map(|p| (p % 253) as u8).collect();
    let big = dir.join("e, big.png");
    image::save_buffer(&big, &rgb, 40, 30, image::ExtendedColorType::Rgb8).unwrap();
    std::fs::write(dir.join("list.csv"), LIST).unwrap();
    Fixture {
        ck: s(&ck),
        list: s(&dir.join("list.csv")),
        dir,
    }
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// The fixture's pairs: (a, b, label) with paths from the folder.
fn listed() -> Vec<(&'static str, &'static str, u8)> {
    vec![
        ("a.png", "b.png", 1),
        ("a.png", "c.png", 0),
        ("sub/d.png", "e, big.png", 1),
        ("b.png", "b.png", 1),
        ("c.png", "sub/d.png", 0),
        ("e.png", "a.png", 0),
    ]
}

/// Runs `siamese` in `cwd` with `stdin` piped in.
fn with_stdin(args: &[&str], cwd: &Path, stdin: &[u8]) -> Output {
    let mut child = siamese_command()
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Score's rows as (similarity, same), after checking the header and the paths echoed.
fn rows(csv: &str) -> Vec<(f64, u8)> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("path_a,path_b,similarity,same"));
    let rows: Vec<(f64, u8)> = lines
        .zip(listed())
        .map(|(line, (a, b, _))| {
            let quoted = |p: &str| {
                if p.contains(',') {
                    format!("\"{p}\"")
                } else {
                    p.into()
                }
            };
            let prefix = format!("{},{},", quoted(a), quoted(b));
            let rest = line
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{line}"));
            let (sim, same) = rest.split_once(',').unwrap();
            assert_eq!(sim.split_once('.').unwrap().1.len(), 6, "{line}");
            (sim.parse().unwrap(), same.parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), listed().len(), "{csv}");
    assert_eq!(csv.lines().count(), listed().len() + 1, "{csv}");
    rows
}

#[test]
fn score_rows_equal_compare_on_each_pair_in_list_order() {
    let f = fixture("compare");
    let out = siamese(&[
        "score",
        "--checkpoint",
        &f.ck,
        "--pairs",
        &f.list,
        "--batch",
        "2",
    ]);
    let err = text(&out.stderr);
    let got = rows(&ok(out));
    assert!(
        err.contains("is 40x30, resized to 28x28 (1 resized in all)"),
        "{err}"
    );
    assert!(
        err.contains("scored 6 pairs") && err.contains("0.500 (0.5: no test.json"),
        "{err}"
    );
    for ((a, b, _), (sim, same)) in listed().into_iter().zip(got) {
        let (a, b) = (s(&f.dir.join(a)), s(&f.dir.join(b)));
        let c = ok(siamese(&[
            "compare",
            &a,
            &b,
            "--checkpoint",
            &f.ck,
            "--json",
        ]));
        let v: serde_json::Value = serde_json::from_str(&c).unwrap();
        let want = v["similarity"].as_f64().unwrap();
        assert!((sim - want).abs() <= 1e-6, "{a} {b}: {sim} vs {want}");
        assert_eq!(same == 1, v["same_class"].as_bool().unwrap(), "{a} {b}");
    }
    // A given threshold calls every pair: 0 says "same" for all, 1 for none.
    for (t, want) in [("0", 1), ("1", 0)] {
        let o = ok(siamese(&[
            "score",
            "--checkpoint",
            &f.ck,
            "--pairs",
            &f.list,
            "--threshold",
            t,
        ]));
        assert!(rows(&o).iter().all(|r| r.1 == want), "{o}");
    }
    std::fs::remove_dir_all(f.dir).unwrap();
}

#[test]
fn stdin_lists_are_relative_to_the_current_folder_and_out_is_atomic() {
    let f = fixture("stdin");
    let from_file = ok(siamese(&[
        "score",
        "--checkpoint",
        &f.ck,
        "--pairs",
        &f.list,
    ]));
    let piped = with_stdin(
        &["score", "--checkpoint", &f.ck, "--pairs", "-"],
        &f.dir,
        LIST.as_bytes(),
    );
    assert_eq!(ok(piped), from_file);
    let out = f.dir.join("scores.csv");
    let o = ok(siamese(&[
        "score",
        "--checkpoint",
        &f.ck,
        "--pairs",
        &f.list,
        "--out",
        &s(&out),
    ]));
    assert!(o.is_empty(), "{o}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), from_file);
    // The list and the checkpoint are never outputs; nothing is written, nothing is lost.
    for (victim, flag) in [(&f.list, "--pairs"), (&f.ck, "--checkpoint")] {
        let before = std::fs::read(victim).unwrap();
        let r = siamese(&[
            "score",
            "--checkpoint",
            &f.ck,
            "--pairs",
            &f.list,
            "--out",
            victim,
        ]);
        refused(&r, &format!("is the same file as {flag}"));
        assert_eq!(std::fs::read(victim).unwrap(), before);
    }
    // A failure leaves an existing --out as it was, and no temp file beside it.
    std::fs::write(f.dir.join("bad.csv"), "a.png,absent.png\n").unwrap();
    let bad = s(&f.dir.join("bad.csv"));
    let r = siamese(&[
        "score",
        "--checkpoint",
        &f.ck,
        "--pairs",
        &bad,
        "--out",
        &s(&out),
    ]);
    assert_one_line_error(&r, "bad.csv, line 1:");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), from_file);
    let names: Vec<String> = std::fs::read_dir(&f.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with(".tmp")), "{names:?}");
    std::fs::remove_dir_all(f.dir).unwrap();
}

#[test]
fn bad_lists_and_bad_images_are_one_line_before_any_output() {
    let f = fixture("bad");
    std::fs::write(f.dir.join("corrupt.png"), b"\x89PNG\r\n\x1a\n then nothing").unwrap();
    std::fs::write(f.dir.join("empty.png"), b"").unwrap();
    let cases = [
        (
            "a.png,b.png,1\na.png\n",
            "fields.csv, line 2: 1 fields, expected 2 or 3",
        ),
        (
            "a.png,b.png,maybe\nc.png,a.png,1\n",
            "fields.csv, line 1: label",
        ),
        (
            "\"a.png,b.png\n",
            "line 1: a quote opened on this line is never closed",
        ),
        ("# nothing\n", "the list holds no pairs"),
        ("a.png,b.png\nc.png,absent.png\n", "fields.csv, line 2: "),
        ("a.png,b.png\nc.png,sub\n", "line 2: "),
        ("a.png,b.png\ncorrupt.png,a.png\n", "line 2: "),
        ("a.png,b.png\nempty.png,a.png\n", "the file is empty"),
    ];
    let list = f.dir.join("fields.csv");
    let out = f.dir.join("never.csv");
    for (body, needle) in cases {
        std::fs::write(&list, body).unwrap();
        let r = siamese(&["score", "--checkpoint", &f.ck, "--pairs", &s(&list)]);
        refused(&r, needle);
        let r = siamese(&[
            "score",
            "--checkpoint",
            &f.ck,
            "--pairs",
            &s(&list),
            "--out",
            &s(&out),
        ]);
        refused(&r, needle);
        assert!(!out.exists(), "{body}");
        // From stdin too (decoding, not the up-front check, finds the bad files there).
        let r = with_stdin(
            &["score", "--checkpoint", &f.ck, "--pairs", "-"],
            &f.dir,
            body.as_bytes(),
        );
        refused(&r, &needle.replace("fields.csv", "<stdin>"));
    }
    let missing = siamese(&[
        "score",
        "--checkpoint",
        &f.ck,
        "--pairs",
        "/no/such/list.csv",
    ]);
    refused(&missing, "/no/such/list.csv");
    std::fs::remove_dir_all(f.dir).unwrap();
}

/// Writes a run's test.json beside the checkpoint, with the validation threshold `t`.
fn write_threshold(dir: &Path, t: f64) {
    let c = r#"{"tp": 0, "fp": 0, "tn": 0, "fn": 0}"#;
    let json = format!(
        r#"{{"pairs": 1, "accuracy_at_half": 0.5, "confusion_at_half": {c}, "threshold": {t},
        "accuracy_at_threshold": 0.5, "confusion_at_threshold": {c}, "roc_auc": null,
        "equal_error_rate": null, "timed_pairs": 1, "score_seconds": 0.1, "eval_batch": 1000}}"#
    );
    std::fs::write(dir.join("test.json"), json).unwrap();
}

#[test]
fn eval_pairs_gives_the_accuracy_of_scores_rows_at_the_run_threshold() {
    let f = fixture("eval");
    let first = rows(&ok(siamese(&[
        "score",
        "--checkpoint",
        &f.ck,
        "--pairs",
        &f.list,
    ])));
    // A threshold between the scores, so that calls differ: the median similarity.
    let mut sims: Vec<f64> = first.iter().map(|r| r.0).collect();
    sims.sort_by(f64::total_cmp);
    let t = (sims[2] + sims[3]) / 2.0;
    assert!(sims[2] < sims[3], "{sims:?}");
    write_threshold(&f.dir, t);
    let scored = rows(&ok(siamese(&[
        "score",
        "--checkpoint",
        &f.ck,
        "--pairs",
        &f.list,
    ])));
    let right = scored
        .iter()
        .zip(listed())
        .filter(|((_, same), l)| *same == l.2)
        .count();
    let json = ok(siamese(&[
        "eval",
        "--checkpoint",
        &f.ck,
        "--pairs",
        &f.list,
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["pairs"], 6);
    assert!(
        (v["threshold"].as_f64().unwrap() - t).abs() < 1e-6,
        "{json}"
    );
    let acc = v["accuracy_at_threshold"].as_f64().unwrap();
    assert!(
        (acc - right as f64 / 6.0).abs() < 1e-12,
        "{acc} vs {right}/6"
    );
    let c = &v["confusion_at_threshold"];
    let tp = scored
        .iter()
        .zip(listed())
        .filter(|((_, s), l)| *s == 1 && l.2 == 1)
        .count();
    assert_eq!(c["tp"], tp);
    // The text report names the list and where the threshold came from.
    let o = ok(siamese(&[
        "eval",
        "--checkpoint",
        &f.ck,
        "--pairs",
        &f.list,
    ]));
    assert!(o.contains("list.csv test pairs: 6 pairs"), "{o}");
    assert!(o.contains("from the run's test.json"), "{o}");
    // eval needs every label.
    std::fs::write(f.dir.join("unlabelled.csv"), "a.png,b.png,1\nc.png,a.png\n").unwrap();
    let u = s(&f.dir.join("unlabelled.csv"));
    refused(
        &siamese(&["eval", "--checkpoint", &f.ck, "--pairs", &u]),
        "unlabelled.csv, line 2: no label, but line 1 has one",
    );
    refused(
        &siamese(&[
            "eval",
            "--checkpoint",
            &f.ck,
            "--pairs",
            &f.list,
            "--data-dir",
            "x",
        ]),
        "cannot be used with",
    );
    std::fs::remove_dir_all(f.dir).unwrap();
}
