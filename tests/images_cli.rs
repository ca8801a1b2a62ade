//! `--images DIR` through the commands, on hand-made folders: training learns, every command
//! that reads data takes the folder, the checkpoint keeps the input and classes, the cache is
//! used and never stale, 300 classes train, and bad folders or flags are one line before any
//! work.

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_line_error, ok, scratch, siamese, text};

/// A 28×28 gray image of class `c`: a bright 8×8 block at a place fixed by the class over
/// seeded noise (the block's place is what a network can learn).
fn picture(c: usize, k: usize, side: u32) -> Vec<u8> {
    let s = side as usize;
    let mut state = (c * 7919 + k * 104_729 + 1) as u64;
    let (r0, c0) = ((c % 3) * s / 3, (c / 3) * s / 3);
    (0..s * s)
        .map(|p| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let (r, col) = (p / s, p % s);
            let inside = (r0..r0 + s / 3).contains(&r) && (c0..c0 + s / 3).contains(&col);
            if inside {
                230
            } else {
                (state % 50) as u8
            }
        })
        .collect()
}

/// Writes `per_class` PNGs for each class name into `root/<class>/`.
fn make_folder(root: &Path, classes: &[String], per_class: usize, side: u32) {
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for k in 0..per_class {
            let px = picture(c % 9, k, side);
            let p = dir.join(format!("{k:03}.png"));
            image::save_buffer(&p, &px, side, side, image::ExtendedColorType::L8).unwrap();
        }
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class {i:03}")).collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `siamese train --images images --out run` with `more` flags.
fn train_folder(images: &Path, run: &Path, more: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--images", s(images), "--out", s(run)];
    args.extend_from_slice(more);
    siamese(&args)
}

/// A trained run on a 4-class folder: (its folder, the checkpoint).
fn trained(name: &str) -> (PathBuf, PathBuf) {
    let root = scratch(name);
    let images = root.join("shapes");
    make_folder(&images, &names(4), 40, 28);
    let run = root.join("run");
    let out = train_folder(&images, &run, &["--epochs", "3", "--seed", "1"]);
    let stdout = ok(out);
    assert!(stdout.contains("images in"), "{stdout}");
    (images, run.join("best.safetensors"))
}

#[test]
fn a_folder_trains_and_every_command_reads_it() {
    let (images, ck) = trained("folder-commands");
    let config = std::fs::read_to_string(ck.with_file_name("config.json")).unwrap();
    for want in ["\"images\"", "\"input\": \"1x28x28\"", "\"class 003\""] {
        assert!(config.contains(want), "config.json lacks {want}: {config}");
    }
    // It learned: the blocks' places tell the classes apart.
    let json = ok(siamese(&["eval", "--checkpoint", s(&ck), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let acc = v["accuracy_at_threshold"]
        .as_f64()
        .unwrap_or_else(|| panic!("{json}"));
    assert!(acc > 0.8, "test pair accuracy {acc} on a separable folder");
    let ck = s(&ck);
    let one = ok(siamese(&[
        "oneshot",
        "--checkpoint",
        ck,
        "--ways",
        "3",
        "--episodes",
        "50",
    ]));
    assert!(one.contains("3-way 1-shot"), "{one}");
    let by_folder = ok(siamese(&[
        "retrieve",
        "--checkpoint",
        ck,
        "--query",
        s(&images),
    ]));
    assert!(by_folder.contains("recall@1"), "{by_folder}");
    let file = images.join("class 002/000.png");
    let near = ok(siamese(&[
        "retrieve",
        "--checkpoint",
        ck,
        "--query",
        s(&file),
        "--k",
        "3",
    ]));
    assert!(near.contains("class 002"), "{near}");
    let cmp = ok(siamese(&[
        "compare",
        s(&file),
        s(&images.join("class 002/001.png")),
        "--checkpoint",
        ck,
    ]));
    assert!(cmp.contains("similarity"), "{cmp}");
    let csv = images.parent().unwrap().join("e.csv");
    ok(siamese(&["embed", "--checkpoint", ck, "--out", s(&csv)]));
    assert!(std::fs::read_to_string(&csv).unwrap().contains("class 001"));
    let knn = ok(siamese(&[
        "classic",
        "--checkpoint",
        ck,
        "--method",
        "knn-pixels",
    ]));
    assert!(knn.contains("accuracy"), "{knn}");
    let png = images.parent().unwrap().join("show.png");
    ok(siamese(&["show", "--checkpoint", ck, "--out", s(&png)]));
}

#[test]
fn a_checkpoint_refuses_another_input_and_reproduce_refuses_folders() {
    let (images, ck) = trained("folder-refusals");
    let other = siamese(&[
        "eval",
        "--checkpoint",
        s(&ck),
        "--images",
        s(&images),
        "--input",
        "3x32x32",
    ]);
    assert_one_line_error(&other, "differs from the checkpoint's input 1x28x28");
    let fit = siamese(&[
        "eval",
        "--checkpoint",
        s(&ck),
        "--images",
        s(&images),
        "--fit",
        "crop",
    ]);
    assert_one_line_error(&fit, "differs from the checkpoint's fit stretch");
    let r = siamese(&["reproduce", "--images", s(&images), "--quick"]);
    assert_one_line_error(&r, "train on your own images");
    let both = siamese(&["train", "--images", s(&images), "--dataset", "mnist"]);
    assert!(!both.status.success() && text(&both.stderr).contains("cannot be used with"));
}

#[test]
fn the_second_read_comes_from_the_cache_and_a_changed_folder_is_decoded_again() {
    let (images, ck) = trained("folder-cache");
    let first = siamese(&["eval", "--checkpoint", s(&ck)]);
    assert!(
        text(&first.stderr).contains("read from the cache"),
        "{}",
        text(&first.stderr)
    );
    let extra = images.join("class 000/new.png");
    image::save_buffer(
        &extra,
        &picture(0, 99, 28),
        28,
        28,
        image::ExtendedColorType::L8,
    )
    .unwrap();
    let again = siamese(&["eval", "--checkpoint", s(&ck)]);
    let err = text(&again.stderr);
    assert!(
        err.contains("decoded") && !err.contains("read from the cache"),
        "{err}"
    );
}

#[test]
fn three_hundred_classes_of_three_images_train() {
    let root = scratch("folder-300");
    let images = root.join("many");
    make_folder(&images, &names(300), 3, 12);
    let run = root.join("run");
    let out = train_folder(&images, &run, &["--epochs", "1"]);
    let stdout = ok(out);
    assert!(stdout.contains("test"), "{stdout}");
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"class 299\""));
    let one = siamese(&[
        "oneshot",
        "--checkpoint",
        s(&run.join("best.safetensors")),
        "--ways",
        "5",
        "--episodes",
        "20",
    ]);
    assert!(ok(one).contains("5-way 1-shot"));
}

#[test]
fn bad_folders_are_one_line_before_any_work() {
    let root = scratch("folder-bad");
    let one = root.join("one");
    make_folder(&one, &names(1), 3, 28);
    assert_one_line_error(
        &siamese(&["train", "--images", s(&one), "--epochs", "1"]),
        "2 classes",
    );
    let missing = root.join("nothing here");
    assert_one_line_error(
        &siamese(&["train", "--images", s(&missing), "--epochs", "1"]),
        "nothing here",
    );
    let bad_input = siamese(&["train", "--images", s(&one), "--input", "2x28x28"]);
    assert!(!bad_input.status.success() && text(&bad_input.stderr).contains("channels must be 1"));
    let no_images = siamese(&["train", "--input", "1x28x28"]);
    assert!(!no_images.status.success() && text(&no_images.stderr).contains("--images"));
    assert!(!root.join("runs").exists());
}

#[test]
fn one_image_classes_train_as_negatives_and_are_said_so() {
    let root = scratch("folder-singles");
    let images = root.join("few");
    make_folder(&images, &names(3), 20, 28);
    make_folder(&images.join("only-one"), &names(1), 1, 28);
    std::fs::rename(images.join("only-one/class 000"), images.join("lonely")).unwrap();
    std::fs::remove_dir(images.join("only-one")).unwrap();
    let run = root.join("run");
    let out = train_folder(&images, &run, &["--epochs", "1"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("1 class(es) have one training image"), "{err}");
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"lonely\""), "{config}");
}
