use super::*;
use crate::Label;

#[test]
fn png_bytes_decode_to_the_same_pixels() {
    let mut img = RgbImage::new(3, 2, [10, 20, 30]);
    img.put(2, 1, [255, 0, 128]);
    let bytes = img.png_bytes().unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let back = ::image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!((back.width(), back.height()), (3, 2));
    assert_eq!(back.into_raw(), img.pixels);
    let empty = RgbImage::new(0, 0, [0; 3]);
    assert!(empty.png_bytes().is_err());
}

/// The strip draws the query once, then each neighbour once (a colour of its own each).
#[test]
fn query_strip_draws_the_query_once() {
    let colours: [[u8; 3]; 3] = [[200, 40, 90], [30, 180, 60], [90, 60, 210]];
    // Channel-planar 2x2 images, each of one colour.
    let images: Vec<u8> = colours
        .iter()
        .flat_map(|c| c.iter().flat_map(|&v| [v; 4]))
        .collect();
    let set = ImageSet::new(
        images,
        vec![0, 1, 1],
        (3, 2, 2),
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    let query: Vec<f32> = [0.2f32, 0.8, 0.4].iter().flat_map(|&v| [v; 4]).collect();
    let img = query_strip(&set, &query, &[(2, 0.5), (0, 0.75)], "t", "Euclidean").unwrap();
    let count = |c: [u8; 3]| img.pixels.chunks(3).filter(|p| *p == c).count();
    // 2x2 pixels enlarged 3x: 36 pixels per image drawn.
    assert_eq!(count([51, 204, 102]), 36, "the query");
    assert_eq!(count(colours[2]), 36);
    assert_eq!(count(colours[0]), 36);
    assert_eq!(count(colours[1]), 0, "not a neighbour");
    assert!(query_strip(&set, &query, &[(3, 0.1)], "t", "cosine").is_err());
}

#[test]
fn grid_has_images_and_coloured_labels() {
    let images: Vec<u8> = (0..4).flat_map(|i| [60 * i as u8 + 10; 4]).collect();
    let set = ImageSet::new(
        images,
        vec![0, 0, 1, 1],
        (1, 2, 2),
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    let pairs = [Pair { a: 0, b: 1, y: 1 }, Pair { a: 2, b: 0, y: 0 }];
    let img = pair_grid(&set, &pairs, 2, 3, "").unwrap();
    let (pad, iw) = (12, 6);
    // The cells are as wide as the widest of the images and the labels, plus padding;
    // the images are centred in them. First image of the first pair: grey level 10.
    let cell_w = (2 * iw + pad)
        .max(text_width("POS", text_px(3)).max(text_width("NEG", text_px(3))))
        + 2 * pad;
    let cx = (cell_w - (2 * iw + pad)) / 2;
    assert_eq!(img.get(cx, pad), Some([10, 10, 10]));
    // The two images of the second pair.
    assert_eq!(img.get(cell_w + cx, pad), Some([130, 130, 130]));
    assert_eq!(img.get(cell_w + cx + iw + pad, pad), Some([10, 10, 10]));
    // POS in green and NEG in red (anti-aliased: that channel dominates); images are grey.
    let count = |c: usize| {
        let dominant = |p: &&[u8]| 2 * p[c] as i32 > p.iter().map(|&v| v as i32).sum::<i32>();
        img.pixels.chunks(3).filter(dominant).count()
    };
    assert!(count(1) > 0 && count(0) > 0);
    assert!(pair_grid(&set, &[Pair { a: 9, b: 0, y: 0 }], 1, 1, "").is_err());
}

#[test]
fn text_is_drawn_with_the_font_and_the_legend_names_the_threshold() {
    // Real glyphs: "W" is wider than "i", and drawn text leaves dark pixels.
    assert!(text_width("W", 20.0) > text_width("i", 20.0));
    let mut img = RgbImage::new(60, 30, [255; 3]);
    draw_text(&mut img, 2, 2, "Ag", 20.0, [0; 3]);
    assert!(img.pixels.chunks(3).any(|p| p[0] < 100));
    let set = ImageSet::new(
        vec![0; 8],
        vec![0, 1],
        (1, 2, 2),
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    let v = Verdict {
        similarity: 0.3,
        same: false,
        called_same: false,
    };
    let pairs = [Pair { a: 0, b: 1, y: 0 }];
    let small = prediction_grid(&set, &pairs, &[v], (0.5, "given"), "t", 1, 3).unwrap();
    // The legend lines make the picture much taller than the pair and its two lines.
    assert!(small.height > 2 * 3 + 6 * 13, "height {}", small.height);
    // The right call's label is drawn in green (anti-aliased: green dominates).
    let greenish = |p: &[u8]| p[1] as i32 > p[0] as i32 + p[2] as i32;
    assert!(small.pixels.chunks(3).any(greenish));
    // The legend names the threshold and where it came from, and counts the right calls.
    let wrong = Verdict {
        called_same: true,
        ..v
    };
    let legend = prediction_legend(&[v, wrong], 0.4371, "chosen on validation");
    assert!(legend.contains(&"threshold 0.437: chosen on validation".to_string()));
    assert!(
        legend.iter().any(|l| l.contains("(1 of 2 right)")),
        "{legend:?}"
    );
}

#[test]
fn figure_pairs_alternate() {
    let labels: Vec<Label> = (0..20).map(|i| (i % 4) as Label).collect();
    let set = ImageSet::new(
        vec![0; 20],
        labels,
        (1, 1, 1),
        (0..4).map(|c| c.to_string()).collect(),
    )
    .unwrap();
    let p = figure_pairs(&set, 6, 1).unwrap();
    assert_eq!(
        p.iter().map(|q| q.y).collect::<Vec<_>>(),
        [1, 0, 1, 0, 1, 0]
    );
}
