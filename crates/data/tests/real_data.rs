//! Tests on the real files. Ignored by default; CI runs them with `--include-ignored` and
//! `SIAMESE_DATA_DIR` set (relative paths are taken from the workspace root). When run without the
//! data they FAIL with a clear message instead of passing.

use std::path::PathBuf;
use std::time::Instant;

use sha2::{Digest, Sha256};
use siamese_data::split::paper_split;
use siamese_data::{load, make_pairs, test_pairs, DatasetKind, ImageSet};

const NEEDS: &str = "needs the real datasets: set SIAMESE_DATA_DIR";

fn data_dir() -> PathBuf {
    let Some(v) = std::env::var_os("SIAMESE_DATA_DIR") else {
        panic!("{NEEDS} (e.g. SIAMESE_DATA_DIR=../shared/datasets); it is not set");
    };
    let p = PathBuf::from(&v);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = if p.is_relative() && !p.is_dir() {
        root.join(p)
    } else {
        p
    };
    assert!(
        p.is_dir(),
        "{NEEDS}: SIAMESE_DATA_DIR={} is not a folder",
        p.display()
    );
    p
}

fn load_real(kind: DatasetKind) -> (ImageSet, ImageSet) {
    let dir = data_dir();
    load(kind, Some(&dir)).unwrap_or_else(|e| panic!("{NEEDS}: {e}"))
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pixel_sum(set: &ImageSet) -> u64 {
    set.images.iter().map(|&p| p as u64).sum()
}

/// Split sizes, disjointness, stratification (every class gives 20 % +- 1), and pair balance.
fn check_split_and_pairs(kind: DatasetKind, train: &ImageSet, test: &ImageSet) {
    let (tr, va) = paper_split(kind, train, 42).unwrap();
    assert_eq!(tr.len() + va.len(), train.len());
    assert_eq!(va.len(), kind.paper_val_count());
    let h = train.histogram();
    let mut hv = [0usize; 10];
    for &i in &va {
        hv[train.labels[i as usize] as usize] += 1;
    }
    let frac = kind.paper_val_count() as f64 / kind.train_count() as f64;
    for c in 0..10 {
        assert!(
            (hv[c] as f64 - h[c] as f64 * frac).abs() <= 1.0,
            "class {c}: {} of {}",
            hv[c],
            h[c]
        );
    }
    let mut seen = vec![false; train.len()];
    for &i in tr.iter().chain(&va) {
        assert!(!seen[i as usize]);
        seen[i as usize] = true;
    }
    assert_eq!(
        paper_split(kind, train, 42).unwrap().1,
        va,
        "split must be seeded"
    );

    let pairs = make_pairs(&train.labels, &tr, 7).unwrap();
    assert_eq!(pairs.len(), 2 * tr.len());
    assert_eq!(pairs.iter().filter(|p| p.y == 1).count(), tr.len(), "50/50");
    let mut neg_b = [0usize; 10];
    for p in &pairs {
        let same = train.labels[p.a as usize] == train.labels[p.b as usize];
        assert_eq!(same, p.y == 1);
        if p.y == 0 {
            neg_b[train.labels[p.b as usize] as usize] += 1;
        }
    }
    let expect = tr.len() / 10;
    assert!(
        neg_b
            .iter()
            .all(|&n| n * 10 > expect * 8 && n * 10 < expect * 12),
        "{neg_b:?}"
    );
    let tp = test_pairs(test).unwrap();
    assert_eq!(tp.len(), 20_000);
    assert_eq!(tp.iter().filter(|p| p.y == 1).count(), 10_000);
    assert_eq!(test_pairs(test).unwrap(), tp, "test pairs are fixed");
}

#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn mnist_real() {
    let (train, test) = load_real(DatasetKind::Mnist);
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(
        train.histogram(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        test.histogram(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(train.labels[..5], [5, 0, 4, 1, 9]);
    assert_eq!(pixel_sum(&train), MNIST_SUMS.0);
    assert_eq!(pixel_sum(&test), MNIST_SUMS.1);
    assert_eq!(sha_hex(&train.images), MNIST_SHA.0);
    assert_eq!(sha_hex(&test.images), MNIST_SHA.1);
    check_split_and_pairs(DatasetKind::Mnist, &train, &test);
}

#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn fashion_mnist_real() {
    let (train, test) = load_real(DatasetKind::FashionMnist);
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.histogram(), [6000; 10]);
    assert_eq!(test.histogram(), [1000; 10]);
    assert_eq!(pixel_sum(&train), FASHION_SUMS.0);
    assert_eq!(pixel_sum(&test), FASHION_SUMS.1);
    assert_eq!(sha_hex(&train.images), FASHION_SHA.0);
    assert_eq!(sha_hex(&test.images), FASHION_SHA.1);
    check_split_and_pairs(DatasetKind::FashionMnist, &train, &test);
}

/// CIFAR-10 here is the JPEG stand-in of ../shared/datasets (see its README): the checksums below
/// were computed once from THAT copy and are NOT the official CIFAR-10 values. With the real
/// files, set `SIAMESE_CIFAR_OFFICIAL=1` to skip the stand-in checksums (counts and histograms hold
/// for both).
#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn cifar10_real_or_standin() {
    let t0 = Instant::now();
    let (train, test) = load_real(DatasetKind::Cifar10);
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "cifar-10: read 60,000 images in {secs:.3} s ({} MB as u8)",
        (train.images.len() + test.images.len()) / 1_000_000
    );
    assert_eq!((train.len(), test.len()), (50_000, 10_000));
    assert_eq!((train.channels, train.height, train.width), (3, 32, 32));
    assert_eq!(
        train.images.capacity(),
        50_000 * 3072,
        "memory stays at the u8 size"
    );
    assert_eq!(train.histogram(), [5000; 10]);
    assert_eq!(test.histogram(), [1000; 10]);
    assert_eq!(train.class_names[0], "airplane");
    if std::env::var_os("SIAMESE_CIFAR_OFFICIAL").is_none() {
        assert_eq!(pixel_sum(&train), CIFAR_STANDIN_SUMS.0);
        assert_eq!(pixel_sum(&test), CIFAR_STANDIN_SUMS.1);
        assert_eq!(sha_hex(&train.images), CIFAR_STANDIN_SHA.0);
        assert_eq!(sha_hex(&test.images), CIFAR_STANDIN_SHA.1);
    }
    check_split_and_pairs(DatasetKind::Cifar10, &train, &test);
}

/// Sum of all pixel bytes (train, test) and SHA-256 of the decoded pixel buffers (header-free,
/// decompressed), computed once with this reader from the byte-exact files.
const MNIST_SUMS: (u64, u64) = (1_567_298_545, 264_923_200);
const MNIST_SHA: (&str, &str) = (
    "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
);
const FASHION_SUMS: (u64, u64) = (3_431_114_169, 573_469_082);
const FASHION_SHA: (&str, &str) = (
    "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
);
/// JPEG stand-in values, not official CIFAR-10 ones.
const CIFAR_STANDIN_SUMS: (u64, u64) = (18_537_712_937, 3_732_740_007);
const CIFAR_STANDIN_SHA: (&str, &str) = (
    "9115d5a7696dee93e2aabc01a3f10655df99afb5b598b44989efbc293b675186",
    "2fb7dfcd1893f37e705d81075b9d9d7245d714b136474baa19c48f02d7a6f670",
);
