//! The image-folder reader on hand-made folders: layouts, the default input, the fits, every
//! kind of bad file, 300 classes, threads, and the cache.

use std::fs;
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};
use siamese_data::folder::{
    default_input, load, scan, Fit, FolderImages, FolderOptions, Part, MAX_BAD_SHARE,
};
use siamese_data::DataError;

fn gray(path: &Path, w: u32, h: u32, f: impl Fn(u32, u32) -> u8) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = GrayImage::from_fn(w, h, |x, y| [f(x, y)].into());
    DynamicImage::ImageLuma8(img)
        .save_with_format(path, ImageFormat::Png)
        .unwrap();
}

fn rgb(path: &Path, w: u32, h: u32, format: ImageFormat) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = RgbImage::from_fn(w, h, |x, y| [(x * 40) as u8, (y * 40) as u8, 200].into());
    DynamicImage::ImageRgb8(img)
        .save_with_format(path, format)
        .unwrap();
}

fn opts(input: (usize, usize, usize)) -> FolderOptions {
    FolderOptions {
        threads: 2,
        ..FolderOptions::new(input)
    }
}

fn quiet(_: usize) {}

fn one_line(e: &DataError) -> String {
    let m = e.to_string();
    assert!(!m.contains('\n'), "{m}");
    m
}

/// Classes a (nested folder), b; an empty class c; hidden, loose and non-image files.
#[test]
fn a_flat_folder_is_one_class_per_subfolder_sorted() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    gray(&r.join("b/1.png"), 2, 2, |_, _| 9);
    gray(&r.join("a/2.png"), 2, 2, |_, _| 1);
    gray(&r.join("a/deep/er/3.png"), 2, 2, |_, _| 2);
    gray(&r.join("a/.hidden.png"), 2, 2, |_, _| 3);
    gray(&r.join(".cache/x/4.png"), 2, 2, |_, _| 4);
    gray(&r.join("loose.png"), 2, 2, |_, _| 5);
    fs::write(r.join("a/notes.txt"), "not an image").unwrap();
    gray(&r.join("b/no_extension"), 2, 2, |_, _| 8); // a PNG by its signature
    fs::create_dir_all(r.join("c/empty")).unwrap();
    let layout = scan(r).unwrap();
    assert_eq!(layout.class_names, ["a", "b"]);
    assert_eq!(layout.parts.len(), 1);
    let (part, entries) = &layout.parts[0];
    assert_eq!(*part, Part::All);
    let names: Vec<_> = entries
        .iter()
        .map(|e| (e.path.strip_prefix(r).unwrap().to_path_buf(), e.class))
        .collect();
    let want = [
        ("a/2.png", 0),
        ("a/deep/er/3.png", 0),
        ("b/1.png", 1),
        ("b/no_extension", 1),
    ];
    assert_eq!(names, want.map(|(p, c)| (PathBuf::from(p), c)));
    assert!(entries.iter().all(|e| e.bytes > 0 && e.mtime_ns > 0));
    let ig = &layout.ignored;
    assert_eq!((ig.hidden, ig.loose_files, ig.not_images), (2, 1, 1));
    assert_eq!(ig.empty_classes, ["c/"]);
    assert!(ig
        .notes()
        .iter()
        .any(|n| n.contains("c/") && n.contains("not classes")));
    let imgs = load(&layout, &opts((1, 2, 2)), &quiet).unwrap();
    assert_eq!(imgs.parts[0].2, [0, 0, 1, 1]);
    assert_eq!(imgs.parts[0].1, [[1; 4], [2; 4], [9; 4], [8; 4]].concat());
    assert!(imgs.bad.is_empty() && !imgs.from_cache);
}

/// train/ val/ test/: the classes are the sorted union, a class may be in test/ only, and the
/// same class has the same index in every part.
#[test]
fn a_split_folder_has_one_class_list_over_its_parts() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for (p, c) in [
        ("train/dog", 1),
        ("train/cat", 2),
        ("val/dog", 3),
        ("test/eel", 4),
        ("test/cat", 5),
    ] {
        gray(&r.join(p).join("x.png"), 2, 2, |_, _| c);
    }
    let layout = scan(r).unwrap();
    assert_eq!(layout.class_names, ["cat", "dog", "eel"]);
    let parts: Vec<Part> = layout.parts.iter().map(|p| p.0).collect();
    assert_eq!(parts, [Part::Train, Part::Val, Part::Test]);
    let imgs = load(&layout, &opts((1, 2, 2)), &quiet).unwrap();
    let labels: Vec<&[u32]> = imgs.parts.iter().map(|p| &p.2[..]).collect();
    assert_eq!(labels, [&[0, 1][..], &[1], &[0, 2]]);
    assert_eq!(imgs.parts[2].1, [[5; 4], [4; 4]].concat());

    // Without train/, or with a class folder beside the parts: refused, one line.
    fs::rename(r.join("train"), r.join("training")).unwrap();
    let e = one_line(&scan(r).unwrap_err());
    assert!(
        e.contains("no train/") && e.contains(&r.display().to_string()),
        "{e}"
    );
    fs::rename(r.join("training"), r.join("train")).unwrap();
    fs::create_dir(r.join("ant")).unwrap();
    let e = one_line(&scan(r).unwrap_err());
    assert!(e.contains("'ant/'"), "{e}");
}

#[test]
fn the_default_input_is_gray_28_when_every_image_is_gray_else_rgb_32() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    gray(&r.join("a/1.png"), 5, 5, |_, _| 0);
    gray(&r.join("b/1.png"), 9, 3, |_, _| 0);
    fs::write(r.join("b/broken.png"), "text in a png").unwrap();
    assert_eq!(default_input(&scan(r).unwrap()).unwrap(), (1, 28, 28));
    rgb(&r.join("b/2.jpg"), 4, 4, ImageFormat::Jpeg);
    assert_eq!(default_input(&scan(r).unwrap()).unwrap(), (3, 32, 32));
}

/// A 6x2 image white in its middle 2 columns: Crop to 2x2 keeps exactly the middle, Stretch
/// mixes in the black sides. An RGB image already 3x2 is its own pixels, plane by plane.
#[test]
fn stretch_and_crop_differ_and_an_image_at_the_size_is_its_pixels() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    gray(&r.join("a/wide.png"), 6, 2, |x, _| {
        if (2..4).contains(&x) {
            255
        } else {
            0
        }
    });
    gray(&r.join("b/flat.png"), 2, 2, |_, _| 7);
    let layout = scan(r).unwrap();
    let crop = load(
        &layout,
        &FolderOptions {
            fit: Fit::Crop,
            ..opts((1, 2, 2))
        },
        &quiet,
    )
    .unwrap();
    assert_eq!(crop.parts[0].1[..4], [255; 4]);
    let stretch = load(&layout, &opts((1, 2, 2)), &quiet).unwrap();
    assert!(
        stretch.parts[0].1[..4].iter().all(|&v| v < 255),
        "{:?}",
        stretch.parts[0].1
    );

    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    rgb(&r.join("a/c.bmp"), 3, 2, ImageFormat::Bmp);
    gray(&r.join("b/g.png"), 3, 2, |x, y| (x + 10 * y) as u8);
    let imgs = load(&scan(r).unwrap(), &opts((3, 2, 3)), &quiet).unwrap();
    let mut want = Vec::new();
    for plane in 0..3 {
        for y in 0..2u32 {
            for x in 0..3u32 {
                want.push([(x * 40) as u8, (y * 40) as u8, 200][plane]);
            }
        }
    }
    // The gray file in a colour input: three equal planes.
    let g: Vec<u8> = (0..2)
        .flat_map(|y| (0..3).map(move |x| x + 10 * y))
        .collect();
    want.extend(g.repeat(3));
    assert_eq!(imgs.parts[0].1, want);
}

/// A PNG signature and an IHDR chunk (valid CRC) claiming `w`×`h`, and nothing else.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&w.to_be_bytes());
    chunk.extend_from_slice(&h.to_be_bytes());
    chunk.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut crc = flate2::Crc::new();
    crc.update(&chunk);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out
}

/// Classes a and b with 100 good 2x2 images each, and in a: every kind of bad file.
fn folder_with_bad_files(r: &Path) -> Vec<(&'static str, &'static str)> {
    for c in ["a", "b"] {
        for i in 0..100 {
            gray(&r.join(c).join(format!("{i:03}.png")), 2, 2, |x, y| {
                (i + x + y) as u8
            });
        }
    }
    let good = fs::read(r.join("a/000.png")).unwrap();
    fs::write(r.join("a/empty.png"), b"").unwrap();
    fs::write(r.join("a/text.png"), "hello, not an image").unwrap();
    fs::write(r.join("a/truncated.png"), &good[..good.len() / 2]).unwrap();
    let mut corrupt = good.clone();
    corrupt[40..].fill(0xA5);
    fs::write(r.join("a/corrupt.png"), corrupt).unwrap();
    fs::write(r.join("a/huge.png"), png_header(20000, 20000)).unwrap();
    fs::create_dir(r.join("a/folder.png")).unwrap();
    fs::write(r.join("a/readme.txt"), "ignored").unwrap();
    let mut cases = vec![
        ("empty.png", "empty"),
        ("text.png", "Invalid PNG signature"),
        ("truncated.png", ""),
        ("corrupt.png", ""),
        ("huge.png", "too large"),
        ("folder.png", "a folder"),
    ];
    #[cfg(unix)]
    {
        let ok = std::process::Command::new("mkfifo")
            .arg(r.join("a/fifo.png"))
            .status()
            .unwrap();
        assert!(ok.success());
        std::os::unix::fs::symlink("self.png", r.join("a/self.png")).unwrap();
        std::os::unix::fs::symlink("..", r.join("a/up")).unwrap();
        std::os::unix::fs::symlink(".", r.join("a/zz_here")).unwrap();
        cases.push(("fifo.png", "not a regular file"));
        cases.push(("self.png", "symbolic links"));
    }
    cases
}

#[test]
fn bad_files_are_skipped_and_listed_up_to_the_share_then_refused() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let cases = folder_with_bad_files(r);
    let layout = scan(r).unwrap();
    assert_eq!(layout.len(), 200 + cases.len());
    #[cfg(unix)]
    assert_eq!(layout.ignored.loops, 2, "{:?}", layout.ignored);
    assert_eq!(layout.ignored.not_images, 1);
    assert!(cases.len() as f64 <= MAX_BAD_SHARE * layout.len() as f64);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let progress = |d: usize| {
        done.fetch_max(d, std::sync::atomic::Ordering::Relaxed);
    };
    let imgs = load(&layout, &opts((1, 2, 2)), &progress).unwrap();
    assert_eq!(done.into_inner(), layout.len());
    assert_eq!(imgs.parts[0].2.len(), 200);
    assert_eq!(imgs.bad.len(), cases.len());
    for (name, reason) in &cases {
        let (_, why) = imgs
            .bad
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .expect(name);
        assert!(why.contains(reason) && !why.contains('\n'), "{name}: {why}");
    }
    let tight = FolderOptions {
        max_bad_share: 0.01,
        ..opts((1, 2, 2))
    };
    let e = one_line(&load(&layout, &tight, &quiet).unwrap_err());
    let n = cases.len();
    assert!(
        e.contains(&format!("{n} of {} image files", layout.len())),
        "{e}"
    );
    assert!(e.contains("a/corrupt.png (") && e.contains("; ..."), "{e}");

    // Threads change nothing.
    let one = load(
        &layout,
        &FolderOptions {
            threads: 1,
            ..opts((1, 2, 2))
        },
        &quiet,
    )
    .unwrap();
    assert_eq!(one, imgs);
}

#[cfg(unix)]
#[test]
fn non_utf8_names_load_and_colliding_class_names_are_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    gray(
        &r.join("a").join(OsStr::from_bytes(b"caf\xe9.png")),
        2,
        2,
        |_, _| 1,
    );
    gray(
        &r.join(OsStr::from_bytes(b"b\xff")).join("x.png"),
        2,
        2,
        |_, _| 2,
    );
    let layout = scan(r).unwrap();
    assert_eq!(layout.class_names, ["a", "b\u{fffd}"]);
    let imgs = load(&layout, &opts((1, 2, 2)), &quiet).unwrap();
    assert_eq!(imgs.parts[0].2, [0, 1]);
    gray(
        &r.join(OsStr::from_bytes(b"b\xfe")).join("y.png"),
        2,
        2,
        |_, _| 3,
    );
    let e = one_line(&scan(r).unwrap_err());
    assert!(e.contains("'b\u{fffd}'") && e.contains("rename"), "{e}");
}

#[test]
fn folders_that_are_not_datasets_are_one_line_errors() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let e = one_line(&scan(&r.join("nope")).unwrap_err());
    assert!(e.contains("nope") && e.contains("no such folder"), "{e}");
    fs::write(r.join("file"), "x").unwrap();
    assert!(one_line(&scan(&r.join("file")).unwrap_err()).contains("not a folder"));
    let root = r.join("root");
    fs::create_dir_all(root.join("empty")).unwrap();
    let e = one_line(&scan(&root).unwrap_err());
    assert!(e.contains("no class folder holds an image"), "{e}");
    gray(&root.join("only/1.png"), 2, 2, |_, _| 0);
    let e = one_line(&scan(&root).unwrap_err());
    assert!(
        e.contains("'only'") && e.contains("at least 2 classes"),
        "{e}"
    );
    gray(&root.join("other/1.png"), 2, 2, |_, _| 0);
    let layout = scan(&root).unwrap();
    let small = FolderOptions {
        max_bytes: 100,
        ..opts((3, 32, 32))
    };
    let e = one_line(&load(&layout, &small, &quiet).unwrap_err());
    assert!(
        e.contains("6144 bytes") && e.contains("100-byte") && e.contains("--input"),
        "{e}"
    );
    let e = one_line(&load(&layout, &opts((2, 8, 8)), &quiet).unwrap_err());
    assert!(e.contains("1 or 3 channels"), "{e}");
}

#[test]
fn three_hundred_classes_have_labels_up_to_299() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for c in 0..300u32 {
        for i in 0..2u32 {
            gray(&r.join(format!("c{c:03}/{i}.png")), 8, 8, |_, _| {
                (c + i) as u8
            });
        }
    }
    let layout = scan(r).unwrap();
    assert_eq!(layout.class_names.len(), 300);
    assert_eq!(layout.class_names[299], "c299");
    let imgs = load(&layout, &opts((1, 8, 8)), &quiet).unwrap();
    let labels = &imgs.parts[0].2;
    assert_eq!(labels.len(), 600);
    assert!(labels.iter().enumerate().all(|(i, &l)| l == i as u32 / 2));
    assert_eq!(imgs.parts[0].1[599 * 64], (299 + 1) as u8);
}

fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Loads twice and checks the second is the cache's copy of the first.
fn load_twice(layout: &siamese_data::Layout, o: &FolderOptions) -> FolderImages {
    let first = load(layout, o, &quiet).unwrap();
    let second = load(layout, o, &quiet).unwrap();
    assert!(!first.from_cache && second.from_cache && first.cache_error.is_none());
    assert_eq!(
        FolderImages {
            from_cache: false,
            ..second.clone()
        },
        first
    );
    second
}

#[test]
fn the_cache_is_read_back_whole_and_never_stale() {
    let t = tempfile::tempdir().unwrap();
    let (r, cache) = (t.path().join("imgs"), t.path().join("cache"));
    for (p, v) in [("a/1.png", 10), ("a/2.png", 20), ("b/1.png", 30)] {
        gray(&r.join(p), 4, 2, |x, _| v + (x * x * 10) as u8);
    }
    fs::write(r.join("b/bad.png"), "no").unwrap();
    let o = FolderOptions {
        cache_dir: Some(cache.clone()),
        max_bad_share: 0.5,
        ..opts((1, 2, 2))
    };
    let cached = load_twice(&scan(&r).unwrap(), &o);
    assert_eq!(cached.bad.len(), 1);
    assert_eq!(cache_files(&cache).len(), 1);
    let file = cache_files(&cache).remove(0);

    // A file changed in content and size: decoded again.
    gray(&r.join("a/2.png"), 4, 2, |_, _| 99);
    let changed = load_twice(&scan(&r).unwrap(), &o);
    assert_eq!(changed.parts[0].1[4..8], [99; 4]);
    // Only the modification time changed: decoded again.
    let f = fs::File::options()
        .write(true)
        .open(r.join("b/1.png"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1e9 as u64))
        .unwrap();
    load_twice(&scan(&r).unwrap(), &o);
    // A file added: decoded again.
    gray(&r.join("b/3.png"), 2, 2, |_, _| 1);
    load_twice(&scan(&r).unwrap(), &o);

    // A corrupt or truncated cache file is decoded again and rewritten.
    let layout = scan(&r).unwrap();
    let whole = fs::read(&file).unwrap();
    let mut flipped = whole.clone();
    let mid = flipped.len() - 20;
    flipped[mid] ^= 0x40;
    for bad in [
        flipped,
        whole[..whole.len() - 9].to_vec(),
        b"SIAMIMG\0".to_vec(),
        vec![],
    ] {
        fs::write(&file, bad).unwrap();
        load_twice(&layout, &o);
        assert_eq!(fs::read(&file).unwrap(), whole);
    }

    // Another fit or input: another file, other pixels.
    let crop = load_twice(
        &layout,
        &FolderOptions {
            fit: Fit::Crop,
            ..o.clone()
        },
    );
    assert_ne!(
        crop.parts[0].1,
        load(&layout, &o, &quiet).unwrap().parts[0].1
    );
    let bigger = load_twice(
        &layout,
        &FolderOptions {
            input: (1, 3, 3),
            ..o.clone()
        },
    );
    assert_eq!(bigger.parts[0].1.len(), 4 * 9);
    assert_eq!(cache_files(&cache).len(), 3, "{:?}", cache_files(&cache));

    // Never inside the image folder.
    let inside = FolderOptions {
        cache_dir: Some(r.join("a/.cache")),
        ..o.clone()
    };
    let e = one_line(&load(&layout, &inside, &quiet).unwrap_err());
    assert!(e.contains("inside the image folder"), "{e}");
    assert!(!r.join("a/.cache").exists());
}
