//! Every kind of bad input file, hand-made, must give its typed error naming the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use siamese_data::dataset::load_dir;
use siamese_data::idx::{encode_images, encode_labels, read_images, read_labels};
use siamese_data::{cifar, load, DataError, DatasetKind};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A complete, valid MNIST-like folder with `n` images (pixel = index, label = index % 10).
fn mnist_dir(dir: &Path, n: usize) {
    let pixels: Vec<u8> = (0..n * 784).map(|i| (i / 784) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    for split in ["train", "t10k"] {
        write(
            dir,
            &format!("{split}-images-idx3-ubyte.gz"),
            &gz(&encode_images(n as u32, 28, 28, &pixels)),
        );
        // Labels raw (un-gzipped) under the raw name: detection is by content.
        write(
            dir,
            &format!("{split}-labels-idx1-ubyte"),
            &encode_labels(&labels),
        );
    }
}

#[test]
fn valid_gzip_and_raw_files_load() {
    let t = tempfile::tempdir().unwrap();
    mnist_dir(t.path(), 20);
    let (train, test) = load_dir(DatasetKind::Mnist, t.path()).unwrap();
    assert_eq!(
        (train.n, train.channels, train.height, train.width),
        (20, 1, 28, 28)
    );
    assert_eq!(test.len(), 20);
    assert_eq!(train.image(7).unwrap()[100], 7);
    assert_eq!(train.labels[13], 3);
    assert_eq!(train.histogram(), vec![2; 10]);
    assert_eq!(train.class_names[0], "0");
}

#[test]
fn wrong_magic() {
    let t = tempfile::tempdir().unwrap();
    let mut bytes = encode_labels(&[1, 2]);
    bytes[2] = 0x09; // magic 0x0801 = 2049 becomes 0x0901 = 2305
    let p = write(t.path(), "labels", &bytes);
    match read_labels(&p, 10) {
        Err(DataError::BadMagic {
            path,
            expected: 2049,
            ..
        }) => assert_eq!(path, p),
        other => panic!("{other:?}"),
    }
    // An images file given where labels are expected is a magic error too.
    let p = write(t.path(), "imgs", &encode_images(1, 1, 1, &[0]));
    let e = read_labels(&p, 10).unwrap_err();
    assert!(
        e.to_string().contains("2051") && e.to_string().contains("imgs"),
        "{e}"
    );
}

#[test]
fn truncated_header_and_payload() {
    let t = tempfile::tempdir().unwrap();
    let full = encode_images(3, 28, 28, &vec![0; 3 * 784]);
    let p = write(t.path(), "hdr", &full[..10]);
    assert!(matches!(
        read_images(&p),
        Err(DataError::Truncated {
            part: "header",
            expected: 16,
            found: 10,
            ..
        })
    ));
    let p = write(t.path(), "short.gz", &gz(&full[..full.len() - 5]));
    match read_images(&p) {
        Err(
            e @ DataError::Truncated {
                part: "payload", ..
            },
        ) => {
            assert!(e.to_string().contains("short.gz"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let mut long = full.clone();
    long.push(0);
    let p = write(t.path(), "long", &long);
    assert!(matches!(
        read_images(&p),
        Err(DataError::TrailingBytes { extra: 1, .. })
    ));
    // A gzip stream cut in the middle.
    let z = gz(&full);
    let p = write(t.path(), "cut.gz", &z[..z.len() / 2]);
    assert!(matches!(read_images(&p), Err(DataError::BadGzip { .. })));
}

#[test]
fn count_mismatch_and_label_out_of_range() {
    let t = tempfile::tempdir().unwrap();
    mnist_dir(t.path(), 10);
    write(t.path(), "train-labels-idx1-ubyte", &encode_labels(&[0; 9]));
    match load_dir(DatasetKind::Mnist, t.path()) {
        Err(DataError::CountMismatch {
            n_images: 10,
            n_labels: 9,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    write(
        t.path(),
        "train-labels-idx1-ubyte",
        &encode_labels(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 10]),
    );
    match load_dir(DatasetKind::Mnist, t.path()) {
        Err(DataError::LabelOutOfRange {
            index: 9,
            label: 10,
            classes: 10,
            path,
        }) => {
            assert!(path.ends_with("train-labels-idx1-ubyte"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_dimensions() {
    let t = tempfile::tempdir().unwrap();
    mnist_dir(t.path(), 2);
    write(
        t.path(),
        "t10k-images-idx3-ubyte.gz",
        &gz(&encode_images(2, 32, 32, &[0; 2048])),
    );
    assert!(matches!(
        load_dir(DatasetKind::FashionMnist, t.path()),
        Err(DataError::BadDimensions { found_h: 32, .. })
    ));
}

#[test]
fn not_gzip_but_named_gz_and_empty() {
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "page.gz", b"<html>404</html>");
    let e = read_images(&p).unwrap_err();
    assert!(matches!(e, DataError::NotGzip { .. }));
    assert!(
        e.to_string().contains("page.gz") && e.to_string().contains("not gzip"),
        "{e}"
    );
    let p = write(t.path(), "empty", b"");
    assert!(matches!(read_labels(&p, 10), Err(DataError::Empty { .. })));
    let p = write(t.path(), "empty.gz", &gz(b""));
    assert!(matches!(read_labels(&p, 10), Err(DataError::Empty { .. })));
}

#[test]
fn missing_files_say_where_and_how() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("mnist")).unwrap();
    write(&t.path().join("mnist"), "train-images-idx3-ubyte.gz", b"x");
    let e = load(DatasetKind::Mnist, Some(t.path())).unwrap_err();
    match &e {
        DataError::Missing {
            looked_in,
            missing,
            fetch_command,
            ..
        } => {
            assert_eq!(looked_in[0], t.path().join("mnist"));
            assert_eq!(missing.len(), 3, "{missing:?}");
            assert!(fetch_command.starts_with("siamese fetch mnist --data-dir"));
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("SIAMESE_DATA_DIR") && msg.contains("siamese fetch mnist"),
        "{msg}"
    );
    // A missing single file read directly is an I/O error naming it.
    let e = read_images(&t.path().join("nope.gz")).unwrap_err();
    assert!(e.to_string().contains("nope.gz"), "{e}");
}

fn cifar_record(label: u8, fill: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend_from_slice(&[fill; 3072]);
    r
}

#[test]
fn cifar_valid_meta_truncated_and_bad_label() {
    let t = tempfile::tempdir().unwrap();
    for (k, f) in siamese_data::registry::CIFAR_FILES.iter().enumerate() {
        let bytes: Vec<u8> = (0..3)
            .flat_map(|i| cifar_record(((k + i) % 10) as u8, k as u8))
            .collect();
        write(t.path(), f, &bytes);
    }
    let (train, test) = load_dir(DatasetKind::Cifar10, t.path()).unwrap();
    assert_eq!(
        (train.n, test.n, train.channels, train.height),
        (15, 3, 3, 32)
    );
    assert_eq!(train.image(14).unwrap()[3071], 4);
    assert_eq!(train.labels[..4], [0, 1, 2, 1]);
    assert_eq!(train.class_names[9], "truck");
    write(
        t.path(),
        "batches.meta.txt",
        b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n",
    );
    assert_eq!(
        load_dir(DatasetKind::Cifar10, t.path())
            .unwrap()
            .0
            .class_names[9],
        "j"
    );
    write(t.path(), "batches.meta.txt", b"a\nb\n");
    assert!(matches!(
        load_dir(DatasetKind::Cifar10, t.path()),
        Err(DataError::BadClassNames { found: 2, .. })
    ));
    std::fs::remove_file(t.path().join("batches.meta.txt")).unwrap();

    let mut short = cifar_record(1, 0);
    short.pop();
    let p = write(t.path(), "data_batch_3.bin", &short);
    match load_dir(DatasetKind::Cifar10, t.path()) {
        Err(DataError::Truncated {
            path,
            part: "record",
            ..
        }) => assert_eq!(path, p),
        other => panic!("{other:?}"),
    }
    write(t.path(), "data_batch_3.bin", &cifar_record(12, 0));
    assert!(matches!(
        load_dir(DatasetKind::Cifar10, t.path()),
        Err(DataError::LabelOutOfRange { label: 12, .. })
    ));
    write(t.path(), "data_batch_3.bin", b"");
    assert!(matches!(
        load_dir(DatasetKind::Cifar10, t.path()),
        Err(DataError::Empty { .. })
    ));
    let (mut i, mut l) = (Vec::new(), Vec::new());
    assert!(cifar::read_batch_into(&t.path().join("gone.bin"), 10, &mut i, &mut l).is_err());
}
