//! Whole-CLI tests of the commands beyond the paper (`--train-classes`, `oneshot`, `retrieve`,
//! `classic`, `embed`): one `error:` line for bad input; with the real data, each command end
//! to end on a small run.

use std::path::PathBuf;
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("siamese-beyond-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
}

fn siamese(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siamese"))
        .args(args)
        .env_remove("SIAMESE_DATA_DIR")
        .output()
        .expect("runs the siamese binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_one_line_error(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(
        lines[0].starts_with("error: ") && err.contains(needle),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn ok(out: Output) -> String {
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "failed:\nstdout: {o}\nstderr: {e}");
    o
}

#[test]
fn bad_input_gives_one_line() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["train", "--train-classes", "0-12"],
            "class 12 outside 0..10",
        ),
        (&["train", "--train-classes", "3"], "at least two classes"),
        (
            &[
                "train",
                "--dataset",
                "fashion-mnist",
                "--train-classes",
                "Sock",
            ],
            "'Sock'",
        ),
        (
            &["oneshot", "--checkpoint", "nope.safetensors"],
            "nope.safetensors",
        ),
        (
            &["classic", "--method", "knn-embedding", "--dataset", "mnist"],
            "needs --checkpoint",
        ),
    ];
    for (args, needle) in cases {
        assert_one_line_error(&siamese(args), needle);
    }
}

#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn subset_training_then_every_beyond_command_on_real_mnist() {
    let data = std::env::var("SIAMESE_DATA_DIR")
        .expect("needs the real datasets: set SIAMESE_DATA_DIR (e.g. ../shared/datasets)");
    let dir = scratch("e2e");
    let run = dir.join("run");
    let d = |p: &str| dir.join(p).to_str().unwrap().to_string();
    let common = ["--data-dir", data.as_str()];
    let mut args = vec![
        "train",
        "--dataset",
        "mnist",
        "--epochs",
        "1",
        "--limit",
        "2000",
    ];
    args.extend([
        "--train-classes",
        "0-6",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    args.extend(common);
    let o = ok(siamese(&args));
    assert!(o.contains("epoch 1/1"), "{o}");
    let ck = run.join("best.safetensors");
    let ck = ck.to_str().unwrap();

    let o = ok(siamese(&[
        "eval",
        "--checkpoint",
        ck,
        "--data-dir",
        &data,
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    let groups: Vec<&str> = v["class_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["seen", "unseen", "mixed", "all"]);
    // Test pairs of the seen classes only: 2 per test image of classes 0-6.
    assert_eq!(v["pairs"].as_u64(), v["class_groups"][0]["pairs"].as_u64());

    let mut args = vec![
        "oneshot",
        "--checkpoint",
        ck,
        "--ways",
        "3",
        "--classes",
        "7-9",
    ];
    args.extend(["--episodes", "50", "--json"]);
    args.extend(common);
    let v: serde_json::Value = serde_json::from_str(&ok(siamese(&args))).unwrap();
    assert_eq!(v["methods"].as_array().unwrap().len(), 2);
    assert!((v["chance"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);

    let mut args = vec![
        "retrieve",
        "--checkpoint",
        ck,
        "--max-queries",
        "200",
        "--json",
    ];
    args.extend(common);
    let v: serde_json::Value = serde_json::from_str(&ok(siamese(&args))).unwrap();
    assert_eq!(
        (v["queries"].as_u64(), v["gallery"].as_u64()),
        (Some(200), Some(48_000))
    );
    let r1 = v["recall_at"][0][1].as_f64().unwrap();
    assert!(
        r1 > 0.5 && r1 <= v["recall_at"][2][1].as_f64().unwrap(),
        "{v}"
    );

    let (png, npy) = (d("embedding.png"), d("e.npy"));
    let args = ["embed", "--checkpoint", ck, "--plot", &png, "--out", &npy];
    let o = ok(siamese(&[&args[..], &common[..]].concat()));
    assert!(o.contains("principal components"), "{o}");
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    assert_eq!(&std::fs::read(&npy).unwrap()[..6], b"\x93NUMPY");

    let mut args = vec!["classic", "--method", "hog-svm,knn-pixels,knn-embedding"];
    args.extend(["--checkpoint", ck, "--limit", "1000", "--json"]);
    args.extend(common);
    let v: serde_json::Value = serde_json::from_str(&ok(siamese(&args))).unwrap();
    for r in v.as_array().unwrap() {
        // Far above chance (10 %) even on 1,000 training images.
        assert!(r["accuracy"].as_f64().unwrap() > 0.7, "{r}");
        assert_eq!(r["test"].as_u64(), Some(10_000));
    }
    std::fs::remove_dir_all(dir).unwrap();
}
