//! The whole download path against a loopback HTTP server: success, resume, corrupt file rejected
//! (temp file deleted), CIFAR-10 tarball unpacking, HTTP errors, and an unreachable mirror failing
//! fast with a clear error.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use common::http::{dead_url, serve};
use md5::Digest as _;
use siamese_data::fetch::{
    base_url, fetch, fetch_files, file_digest, unpack_cifar, FetchOptions, FileStatus,
};
use siamese_data::registry::{Digest, RemoteFile};
use siamese_data::{DataError, DatasetKind};

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn sha256_hex(bytes: &[u8]) -> &'static str {
    leak(
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

fn quiet() -> FetchOptions {
    FetchOptions {
        progress: false,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn downloads_verifies_and_renames() {
    let body = payload(300_000);
    let spec = RemoteFile {
        name: "f.bin",
        digest: Digest::Sha256(sha256_hex(&body)),
        bytes: None,
    };
    let server = serve(HashMap::from([("ds/f.bin".to_string(), body.clone())]), 4);
    let dir = tempfile::tempdir().unwrap();
    let got = fetch_files(
        &format!("{}/ds", server.base),
        dir.path(),
        &[spec],
        &quiet(),
    )
    .unwrap();
    assert_eq!(
        got,
        vec![(
            "f.bin".to_string(),
            FileStatus::Downloaded { resumed_from: 0 }
        )]
    );
    assert_eq!(std::fs::read(dir.path().join("f.bin")).unwrap(), body);
    assert!(!dir.path().join("f.bin.part").exists());
    // A second run finds the verified file and downloads nothing.
    let again = fetch_files(
        &format!("{}/ds", server.base),
        dir.path(),
        &[spec],
        &quiet(),
    )
    .unwrap();
    assert_eq!(again[0].1, FileStatus::Present);
    assert_eq!(server.log.lock().unwrap().len(), 1);
}

#[test]
fn resumes_a_partial_download_with_range() {
    let body = payload(200_000);
    let spec = RemoteFile {
        name: "g.bin",
        digest: Digest::Sha256(sha256_hex(&body)),
        bytes: None,
    };
    let server = serve(HashMap::from([("g.bin".to_string(), body.clone())]), 2);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("g.bin.part"), &body[..123_456]).unwrap();
    let got = fetch_files(&server.base, dir.path(), &[spec], &quiet()).unwrap();
    assert_eq!(
        got[0].1,
        FileStatus::Downloaded {
            resumed_from: 123_456
        }
    );
    assert_eq!(std::fs::read(dir.path().join("g.bin")).unwrap(), body);
    assert_eq!(
        server.log.lock().unwrap()[0],
        ("/g.bin".to_string(), Some(123_456))
    );
}

#[test]
fn corrupt_file_is_rejected_and_temp_deleted() {
    let body = payload(50_000);
    let mut bad = body.clone();
    bad[25_000] ^= 0xff;
    let spec = RemoteFile {
        name: "h.bin",
        digest: Digest::Sha256(sha256_hex(&body)),
        bytes: None,
    };
    let server = serve(HashMap::from([("h.bin".to_string(), bad)]), 2);
    let dir = tempfile::tempdir().unwrap();
    let e = fetch_files(&server.base, dir.path(), &[spec], &quiet()).unwrap_err();
    match &e {
        DataError::ChecksumMismatch {
            path,
            algorithm: "SHA-256",
            ..
        } => {
            assert!(path.ends_with("h.bin.part"))
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("deleted"), "{e}");
    assert!(!dir.path().join("h.bin.part").exists());
    assert!(!dir.path().join("h.bin").exists());
}

#[test]
fn http_404_and_unreachable_mirror_fail_fast() {
    let server = serve(HashMap::new(), 1);
    let spec = RemoteFile {
        name: "x.gz",
        digest: Digest::Sha256("00"),
        bytes: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let e = fetch_files(&server.base, dir.path(), &[spec], &quiet()).unwrap_err();
    assert!(e.to_string().contains("HTTP 404"), "{e}");
    let t0 = Instant::now();
    let opts = FetchOptions {
        mirror: Some(dead_url()),
        ..quiet()
    };
    let e = fetch(DatasetKind::Mnist, dir.path(), &opts).unwrap_err();
    assert!(matches!(e, DataError::Download { .. }), "{e:?}");
    assert!(
        e.to_string().contains("/mnist/train-images-idx3-ubyte.gz"),
        "{e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[test]
fn mirror_override_builds_urls() {
    let opts = FetchOptions {
        mirror: Some("http://127.0.0.1:9/".into()),
        ..quiet()
    };
    assert_eq!(
        base_url(DatasetKind::FashionMnist, &opts),
        "http://127.0.0.1:9/fashion-mnist"
    );
}

/// A hand-made CIFAR-10 tarball (tiny .bin files in `cifar-10-batches-bin/`) served, MD5-verified,
/// unpacked through temp files.
#[test]
fn cifar_tarball_is_verified_and_unpacked() {
    let mut tar_bytes = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tar_bytes, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let names = siamese_data::registry::CIFAR_FILES
            .iter()
            .copied()
            .chain(["batches.meta.txt", "readme.html"]);
        for (k, name) in names.enumerate() {
            let mut data = vec![k as u8 % 10];
            data.extend_from_slice(&[k as u8; 3072]);
            if name == "batches.meta.txt" {
                data = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
                    .to_vec();
            }
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(
                &mut h,
                format!("cifar-10-batches-bin/{name}"),
                data.as_slice(),
            )
            .unwrap();
        }
        b.into_inner().unwrap().finish().unwrap().flush().unwrap();
    }
    let md5: &'static str = leak(
        md5::Md5::digest(&tar_bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    );
    let spec = RemoteFile {
        name: "cifar-10-binary.tar.gz",
        digest: Digest::Md5(md5),
        bytes: None,
    };
    let server = serve(
        HashMap::from([("cifar-10/cifar-10-binary.tar.gz".to_string(), tar_bytes)]),
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let base = format!("{}/cifar-10", server.base);
    fetch_files(&base, dir.path(), &[spec], &quiet()).unwrap();
    let tarball = dir.path().join("cifar-10-binary.tar.gz");
    assert_eq!(file_digest(&tarball, Digest::Md5("")).unwrap(), md5);
    let names = unpack_cifar(&tarball, dir.path()).unwrap();
    assert_eq!(names.len(), 7);
    assert!(!dir.path().join("readme.html").exists());
    let (train, test) = siamese_data::load_dir(DatasetKind::Cifar10, dir.path()).unwrap();
    assert_eq!((train.len(), test.len()), (5, 1));
    assert_eq!(test.labels, vec![5]);
    assert_eq!(test.image(0).unwrap()[0], 5);
    // A tarball without the .bin files is an error, not a silent success.
    let empty = dir.path().join("empty.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&empty).unwrap(),
            flate2::Compression::fast(),
        );
        tar::Builder::new(gz)
            .into_inner()
            .unwrap()
            .finish()
            .unwrap();
    }
    let e = unpack_cifar(&empty, dir.path()).unwrap_err();
    assert!(matches!(e, DataError::Missing { .. }), "{e:?}");
}
