//! Scores a pair of test images with a trained checkpoint: the library in ten lines, with the
//! default features off (no CLI dependencies).
//!
//! `cargo run --release --example score_pair -- runs/mnist/best.safetensors`
//! (the test images come from $SIAMESE_DATA_DIR, else ./datasets).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "runs/mnist/best.safetensors".into());
    let (mut model, cfg) = siamese::SnLenet5::from_checkpoint(path.as_ref())?;
    let test = siamese::test_images(&cfg, None)?;
    let (a, b) = (siamese::image(&test, 0)?, siamese::image(&test, 1)?);
    let s = siamese::similarity(&mut model, &a, &b)?;
    let t = siamese::model::metrics::DEFAULT_THRESHOLD;
    let verdict = if siamese::model::metrics::says_same(s, t) {
        "same class"
    } else {
        "different classes"
    };
    println!("test images 0 and 1: similarity {s:.4} ({verdict} at {t})");
    Ok(())
}
