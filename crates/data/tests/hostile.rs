//! The right words for hostile data (issue 13, cause 11): a folder that cannot be looked into
//! is not "missing"; a CIFAR-10 file of the wrong length says how long it should be; an image
//! is decoded by its content, whatever its extension.

use siamese_data::{cifar, load, DataError, DatasetKind};

fn cifar_file(records: usize) -> Vec<u8> {
    (0..records)
        .flat_map(|i| {
            let mut r = vec![(i % 10) as u8];
            r.extend_from_slice(&[i as u8; cifar::PIXELS]);
            r
        })
        .collect()
}

/// An unreadable data folder was reported as "missing" with a `fetch` hint. Root reads any
/// folder whatever its mode, so the test also uses what stops root too: a symlink loop.
#[cfg(unix)]
#[test]
fn a_folder_that_cannot_be_looked_into_is_not_missing() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let t = tempfile::tempdir().unwrap();
    let looped = t.path().join("looped");
    std::fs::create_dir(&looped).unwrap();
    symlink(looped.join("mnist"), looped.join("mnist")).unwrap();
    let e = load(DatasetKind::Mnist, Some(&looped)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DataError::Io { .. }), "{msg}");
    assert!(
        msg.contains("symbolic links") && !msg.contains("fetch"),
        "{msg}"
    );

    let locked = t.path().join("locked");
    std::fs::create_dir_all(locked.join("mnist")).unwrap();
    std::fs::set_permissions(locked.join("mnist"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let readable = std::fs::read_dir(locked.join("mnist")).is_ok();
    let r = load(DatasetKind::Mnist, Some(&locked));
    std::fs::set_permissions(locked.join("mnist"), std::fs::Permissions::from_mode(0o755)).unwrap();
    if !readable {
        // Not root: mode 000 is enforced.
        let msg = r.unwrap_err().to_string();
        assert!(
            msg.contains("ermission denied") && !msg.contains("fetch"),
            "{msg}"
        );
    }
}

/// A CIFAR-10 file one byte too long was called "truncated", and one with an extra whole
/// record was accepted.
#[test]
fn a_cifar_file_too_long_says_expected_and_found() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("data_batch_1.bin");
    let official = cifar_file(cifar::MAX_RECORDS);
    let mut one_byte = official.clone();
    one_byte.push(0);
    let mut extra_record = official.clone();
    extra_record.extend_from_slice(&cifar_file(1));
    for (bytes, found) in [(&one_byte, 30_730_001), (&extra_record, 30_733_073)] {
        std::fs::write(&p, bytes).unwrap();
        let (mut i, mut l) = (Vec::new(), Vec::new());
        let e = cifar::read_batch_into(&p, 10, &mut i, &mut l).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("too long: expected 30730000 bytes, found {found}")),
            "{msg}"
        );
        assert!(!msg.contains("truncated"), "{msg}");
    }
    std::fs::write(&p, &official).unwrap();
    let (mut i, mut l) = (Vec::new(), Vec::new());
    assert_eq!(
        cifar::read_batch_into(&p, 10, &mut i, &mut l).unwrap(),
        10_000
    );
}

/// A PNG named `.jpg` (or `.bmp`) is decoded as the PNG it is.
#[cfg(feature = "images")]
#[test]
fn an_image_is_decoded_by_content_not_extension() {
    use siamese_data::read_image;
    let t = tempfile::tempdir().unwrap();
    for name in ["digit.jpg", "digit.bmp", "digit"] {
        let p = t.path().join(name);
        let mut png = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(28, 28, [51u8].into()))
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap();
        std::fs::write(&p, png.into_inner()).unwrap();
        let img = read_image(&p, (1, 28, 28)).unwrap();
        assert!(img.pixels.iter().all(|&v| v == 0.2), "{name}");
    }
}
