//! `siamese export`: bad input is one `error:` line with nothing written; with the real data,
//! a trained checkpoint exported (pair and subnet) and held to our scores by ONNX Runtime
//! (`scripts/onnx_check.py`) on 300 real test pairs, and a network with the other ops.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// This file uses the scratch folder, the binary and the data folder, not the interrupted run.
#[allow(dead_code)]
mod common;
use common::{assert_one_line_error, ok, real_data, scratch, siamese};
use siamese_model::checkpoint::{Checkpoint, FORMAT_CLASSIFIER};
use siamese_model::config::{Activation, Distance, EmbeddingActivation, Head, Pooling};
use siamese_model::{SnLenet5, TrainConfig};

fn export(ck: &Path, out: &Path, part: &str) -> Output {
    let (ck, out) = (ck.to_str().unwrap(), out.to_str().unwrap());
    siamese(&["export", "--checkpoint", ck, "--out", out, "--part", part])
}

/// A fresh SN-LeNet-5 saved as `siamese train` saves it.
fn fresh_checkpoint(dir: &Path) -> PathBuf {
    let cfg = TrainConfig::paper(siamese_data::DatasetKind::Mnist);
    let model = SnLenet5::new(cfg.model.clone(), 0).unwrap();
    let ck = dir.join("fresh.safetensors");
    Checkpoint::of_run(&cfg, &model.store).save(&ck).unwrap();
    ck
}

/// A classifier checkpoint, a corrupt one, an output that is a directory, a FIFO, in a
/// folder that does not exist, unwritable (/proc) or the checkpoint itself (also through a
/// symlink): one line each, nothing written, the checkpoint untouched. A good checkpoint
/// exports both parts.
#[test]
fn bad_input_gives_one_line_and_writes_nothing() {
    let dir = scratch("onnx-bad");
    let ck = fresh_checkpoint(&dir);
    let before = std::fs::read(&ck).unwrap();
    let out = dir.join("model.onnx");
    let mut classifier = Checkpoint::load(&ck).unwrap();
    classifier.format = FORMAT_CLASSIFIER.into();
    let cls = dir.join("classifier.safetensors");
    classifier.save(&cls).unwrap();
    assert_one_line_error(&export(&cls, &out, "pair"), "LeNet-5 classifier");
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, &before[..before.len() / 2]).unwrap();
    assert_one_line_error(&export(&junk, &out, "pair"), "junk.safetensors");
    assert!(!out.exists());
    assert_one_line_error(&export(&ck, &dir, "pair"), "is a directory");
    let fifo = dir.join("fifo.onnx");
    if Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        assert_one_line_error(&export(&ck, &fifo, "pair"), "is a FIFO");
    }
    assert_one_line_error(
        &export(&ck, &dir.join("no/such.onnx"), "pair"),
        "does not exist",
    );
    assert_one_line_error(
        &export(&ck, Path::new("/proc/model.onnx"), "pair"),
        "/proc/model.onnx",
    );
    assert_one_line_error(&export(&ck, &ck, "subnet"), "is the input");
    // The run's test.json (where the threshold comes from) is an input too.
    let test_json = dir.join("test.json");
    std::fs::write(&test_json, b"{}").unwrap();
    assert_one_line_error(&export(&ck, &test_json, "pair"), "is the input");
    assert_eq!(std::fs::read(&test_json).unwrap(), b"{}");
    std::fs::remove_file(test_json).unwrap();
    #[cfg(unix)]
    {
        let link = dir.join("link.onnx");
        std::os::unix::fs::symlink(&ck, &link).unwrap();
        assert_one_line_error(&export(&ck, &link, "pair"), "is the input");
        std::fs::remove_file(link).unwrap();
    }
    assert_one_line_error(&export(&ck, &out, "head"), "head");
    assert_eq!(
        std::fs::read(&ck).unwrap(),
        before,
        "the checkpoint changed"
    );
    let o = ok(export(&ck, &out, "pair"));
    assert!(
        o.contains("the pair model of a mnist run, ONNX opset 17"),
        "{o}"
    );
    assert!(o.contains("threshold 0.5000 (0.5: no test.json"), "{o}");
    ok(export(&ck, &dir.join("subnet.onnx"), "subnet"));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp")), "{names:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The Python that has onnx and onnxruntime: $SIAMESE_ONNX_PYTHON, else python3; None when
/// it cannot import them, which is a failure when $SIAMESE_REQUIRE_ONNXRUNTIME=1 (CI).
fn onnx_python() -> Option<String> {
    let py = std::env::var("SIAMESE_ONNX_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&py)
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    let required = std::env::var("SIAMESE_REQUIRE_ONNXRUNTIME").is_ok_and(|v| v == "1");
    assert!(
        has || !required,
        "{py} cannot import onnx, onnxruntime and numpy, and SIAMESE_REQUIRE_ONNXRUNTIME=1"
    );
    has.then_some(py)
}

/// One epoch on 1000 real MNIST images, exported both ways; ONNX Runtime's similarities and
/// embeddings on the first 300 test pairs within 1e-4 of ours, the same accuracy at the
/// validation threshold (scripts/onnx_check.py, which also runs onnx.checker); then the same
/// for a network with every other choice of op.
#[test]
#[ignore = "needs the real datasets (SIAMESE_DATA_DIR) and python with onnx and onnxruntime"]
fn onnx_runtime_agrees_with_us_on_real_mnist_pairs() {
    let data = real_data();
    let Some(py) = onnx_python() else {
        eprintln!("skipped: no python with onnx and onnxruntime (set SIAMESE_ONNX_PYTHON)");
        return;
    };
    let dir = scratch("onnx-real");
    let run = dir.join("run");
    let args = [
        "train",
        "--dataset",
        "mnist",
        "--data-dir",
        &data,
        "--epochs",
        "1",
    ];
    let more = ["--limit", "1000", "--quiet", "--out", run.to_str().unwrap()];
    ok(siamese(&[&args[..], &more[..]].concat()));
    let ck = run.join("best.safetensors");
    let (pair, sub) = (dir.join("pair.onnx"), dir.join("subnet.onnx"));
    ok(export(&ck, &pair, "pair"));
    ok(export(&ck, &sub, "subnet"));
    let src = siamese::pipeline::data::DataSource {
        data_dir: Some(data.into()),
        offline: true,
        ..Default::default()
    };
    check_with_onnx_runtime(&py, &src, &ck, &dir.join("reference"), (&pair, &sub));
    // Every other op the export can write (tanh, average pooling, a linear embedding, the
    // cosine similarity, the head without BatchNorm), on an untrained network of that kind.
    let mut cfg = TrainConfig::paper(siamese_data::DatasetKind::Mnist);
    cfg.model.activation = Activation::Tanh;
    cfg.model.pooling = Pooling::Avg;
    cfg.model.embedding_activation = EmbeddingActivation::Linear;
    cfg.model.distance = Distance::Cosine;
    cfg.model.head = Head::Plain;
    let model = SnLenet5::new(cfg.model.clone(), 1).unwrap();
    let other = dir.join("other.safetensors");
    Checkpoint::of_run(&cfg, &model.store).save(&other).unwrap();
    let (pair, sub) = (dir.join("other-pair.onnx"), dir.join("other-subnet.onnx"));
    ok(export(&other, &pair, "pair"));
    ok(export(&other, &sub, "subnet"));
    check_with_onnx_runtime(&py, &src, &other, &dir.join("other"), (&pair, &sub));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Our scores of the first 300 test pairs for checkpoint `ck`, held to ONNX Runtime's on the
/// exported (pair, subnet) files by scripts/onnx_check.py (tolerance 1e-4, equal accuracy).
fn check_with_onnx_runtime(
    py: &str, src: &siamese::pipeline::data::DataSource, ck: &Path, reference: &Path,
    (pair, sub): (&Path, &Path),
) {
    siamese::pipeline::export::write_reference(ck, src, 300, 1, reference).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/onnx_check.py");
    let out = Command::new(py)
        .arg(script)
        .args([pair, sub, reference])
        .args(["--reps", "1", "--tol", "1e-4"])
        .output()
        .unwrap();
    let o = ok(out);
    assert!(o.contains("\"decisions_that_differ\": 0"), "{o}");
    eprintln!("{o}");
}
