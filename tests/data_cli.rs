//! Whole-CLI tests of `siamese fetch` and `siamese pairs`: one `error:` line and a non-zero exit
//! on failure, the loopback download path (corrupt file rejected; with the real files, a complete
//! fetch), and a PNG written from a hand-made dataset.

#[path = "../crates/data/tests/common/http.rs"]
mod http;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use siamese_data::idx::{encode_images, encode_labels};

/// A scratch folder removed on drop (std only: the root package takes no extra dev-dependency).
struct Scratch(PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Scratch {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let p = std::env::temp_dir().join(format!("siamese-data-cli-{}-{k}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("scratch dir");
    Scratch(p)
}

fn siamese(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_siamese"));
    c.args(args)
        .env_remove("SIAMESE_DATA_DIR")
        .env_remove("SIAMESE_MIRROR")
        // Tests never download unless a test gives a loopback mirror and allows it.
        .env("SIAMESE_OFFLINE", "1");
    for (k, v) in envs {
        c.env(k, v);
    }
    // An empty folder of its own: the program's defaults (`runs/`, `./datasets`) never meet
    // the checkout's, nor another test's.
    let cwd = scratch();
    c.current_dir(cwd.path());
    c.output().expect("run siamese")
}

/// Asserts the missing-data error: an `error:` line saying what is missing and where the
/// lookup looked, then the two ways out (`online:`, `offline:`); returns the whole.
fn missing_data_error(o: &Output) -> String {
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "stderr: {err}");
    assert!(
        lines[0].starts_with("error: mnist not found: looked in "),
        "{err}"
    );
    assert!(
        lines[1].starts_with("  online: `siamese fetch mnist"),
        "{err}"
    );
    assert!(lines[2].starts_with("  offline: "), "{err}");
    err
}

/// Asserts failure with exactly one stderr line starting with `error:`, and returns it.
fn one_error_line(o: &Output) -> String {
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_string()
}

#[test]
fn fetch_offline_is_a_clear_error_not_a_hang() {
    let dir = scratch();
    let t0 = Instant::now();
    let o = siamese(
        &[
            "fetch",
            "fashion-mnist",
            "--quiet",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[("SIAMESE_MIRROR", &http::dead_url())],
    );
    let line = one_error_line(&o);
    assert!(
        line.contains("download") && line.contains("fashion-mnist/train-images"),
        "{line}"
    );
    assert!(t0.elapsed() < Duration::from_secs(15));
    // A command that downloads its missing data first: when that fails, what is missing,
    // why, and the two ways out, in three short lines naming the URL once.
    let dead = http::dead_url();
    let o = siamese(
        &[
            "pairs",
            "--dataset",
            "mnist",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[("SIAMESE_MIRROR", &dead), ("SIAMESE_OFFLINE", "0")],
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("error: ") || l.starts_with("  "))
        .collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("error: mnist not found, and downloading it into "),
        "{err}"
    );
    assert_eq!(lines[0].matches(&dead).count(), 1, "{err}");
    assert!(
        lines[1].starts_with("  online: `siamese fetch mnist --data-dir "),
        "{err}"
    );
    assert!(lines[2].starts_with("  offline: "), "{err}");
}

#[test]
fn bad_arguments_are_one_line() {
    let o = siamese(&["fetch", "imagenet"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let line = one_error_line(&o);
    assert!(
        line.contains("'imagenet'") && line.contains("possible values"),
        "{line}"
    );
    let line = one_error_line(&siamese(&["frobnicate"], &[]));
    assert!(line.contains("frobnicate"), "{line}");
    let line = one_error_line(&siamese(&["fetch"], &[]));
    assert!(line.contains("DATASET"), "{line}");
    // No --dataset: MNIST, as for every other command.
    let o = siamese(&["pairs", "--data-dir", "/nonexistent/x"], &[]);
    let err = missing_data_error(&o);
    assert!(
        err.contains("online: `siamese fetch mnist --data-dir /nonexistent/x`"),
        "{err}"
    );
}

#[test]
fn fetch_rejects_a_corrupt_file() {
    // Garbage where MNIST's first file should be: the SHA-256 check must reject it.
    let server = http::serve(
        HashMap::from([(
            "mnist/train-images-idx3-ubyte.gz".to_string(),
            vec![7u8; 5000],
        )]),
        2,
    );
    let dir = scratch();
    let o = siamese(
        &[
            "fetch",
            "mnist",
            "--quiet",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--mirror",
            &server.base,
        ],
        &[],
    );
    let line = one_error_line(&o);
    assert!(
        line.contains("SHA-256 mismatch") && line.contains("deleted"),
        "{line}"
    );
    assert!(!dir
        .path()
        .join("mnist/train-images-idx3-ubyte.gz.part")
        .exists());
    assert!(!dir.path().join("mnist/train-images-idx3-ubyte.gz").exists());
}

#[test]
fn pairs_writes_a_png_from_hand_made_data() {
    let root = scratch();
    let d = root.path().join("fashion-mnist");
    std::fs::create_dir(&d).unwrap();
    let n = 30;
    let pixels: Vec<u8> = (0..n * 784).map(|i| (i % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    for s in ["train", "t10k"] {
        std::fs::write(
            d.join(format!("{s}-images-idx3-ubyte")),
            encode_images(n as u32, 28, 28, &pixels),
        )
        .unwrap();
        std::fs::write(
            d.join(format!("{s}-labels-idx1-ubyte")),
            encode_labels(&labels),
        )
        .unwrap();
    }
    let out = root.path().join("p.png");
    let o = siamese(
        &[
            "pairs",
            "--dataset",
            "fashion-mnist",
            "--out",
            out.to_str().unwrap(),
            "--count",
            "6",
            "--cols",
            "3",
            "--scale",
            "2",
        ],
        &[("SIAMESE_DATA_DIR", root.path().to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&out).unwrap().to_rgb8();
    // At least 3 cells across of 2*56 + 8 px, 2 rows of 56 px plus a title and a legend.
    let (w, h) = img.dimensions();
    assert!(w >= 3 * (2 * 56 + 8) && h >= 2 * 56 + 40, "{w}x{h}");
    // The labels' anti-aliased text: POS in green, NEG in red (the images are grey).
    let [g, r] = [1, 0].map(|c| {
        img.pixels()
            .filter(|p| p.0[c] as i32 > p.0.iter().map(|&v| v as i32).sum::<i32>() - p.0[c] as i32)
            .count()
    });
    let (green, red) = (g, r);
    assert!(green > 0 && red > 0);
}

fn real_mnist_dir() -> PathBuf {
    let v = std::env::var_os("SIAMESE_DATA_DIR")
        .expect("needs the real datasets: set SIAMESE_DATA_DIR (e.g. ../shared/datasets)");
    let p = PathBuf::from(v);
    let p = if p.is_relative() && !p.is_dir() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
    } else {
        p
    };
    let m = p.join("mnist");
    assert!(
        m.is_dir(),
        "needs the real datasets: {} is not a folder",
        m.display()
    );
    m
}

/// The complete download path with the real MNIST files served on loopback: resumed download,
/// SHA-256 verification, rename; a second fetch finds everything present; `pairs` reads the result.
#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn fetch_real_mnist_over_loopback() {
    let src = real_mnist_dir();
    let kind = siamese_data::DatasetKind::Mnist;
    let files: HashMap<String, Vec<u8>> = kind
        .remote_files()
        .iter()
        .map(|f| {
            let bytes = std::fs::read(src.join(f.name)).unwrap();
            (format!("mnist/{}", f.name), bytes)
        })
        .collect();
    let server = http::serve(files, 16);
    let dir = scratch();
    let dd = dir.path().to_str().unwrap();
    // Half of the first file already there: the fetch must resume it.
    let first = std::fs::read(src.join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::create_dir(dir.path().join("mnist")).unwrap();
    std::fs::write(
        dir.path().join("mnist/train-images-idx3-ubyte.gz.part"),
        &first[..first.len() / 2],
    )
    .unwrap();
    let env = [("SIAMESE_MIRROR", server.base.as_str())];
    let o = siamese(&["fetch", "mnist", "--data-dir", dd], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("4 downloaded"));
    assert_eq!(
        server.log.lock().unwrap()[0].1,
        Some(first.len() as u64 / 2)
    );
    for f in kind.remote_files() {
        let got = std::fs::read(dir.path().join("mnist").join(f.name)).unwrap();
        assert_eq!(got, std::fs::read(src.join(f.name)).unwrap());
    }
    let o = siamese(&["fetch", "mnist", "--data-dir", dd], &env);
    assert!(String::from_utf8_lossy(&o.stdout).contains("4 already present"));
    let out = dir.path().join("m.png");
    let o = siamese(
        &[
            "pairs",
            "--dataset",
            "mnist",
            "--data-dir",
            dd,
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.is_file());

    // A command that reads a dataset downloads it when it is missing (downloads allowed) ...
    let fresh = scratch();
    let fd = fresh.path().to_str().unwrap();
    let online = [
        ("SIAMESE_MIRROR", server.base.as_str()),
        ("SIAMESE_OFFLINE", "0"),
    ];
    let args = ["pairs", "--dataset", "mnist", "--data-dir", fd, "--out"];
    let out = fresh.path().join("auto.png");
    let o = siamese(&[&args[..], &[out.to_str().unwrap()]].concat(), &online);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("downloading it into"));
    assert!(
        out.is_file()
            && fresh
                .path()
                .join("mnist/t10k-labels-idx1-ubyte.gz")
                .is_file()
    );
    // ... and never with --offline: the missing-data error, without a request.
    let requests = server.log.lock().unwrap().len();
    let empty = scratch();
    let ed = empty.path().to_str().unwrap();
    let o = siamese(
        &["pairs", "--dataset", "mnist", "--offline", "--data-dir", ed],
        &online,
    );
    assert!(missing_data_error(&o).contains("siamese fetch mnist"));
    assert_eq!(server.log.lock().unwrap().len(), requests);
}
