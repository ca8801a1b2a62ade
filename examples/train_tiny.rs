//! Trains a tiny SN-LeNet-5 from code on synthetic images (no dataset needed), reporting
//! progress through the callback, then scores a pair.
//!
//! `cargo run --release --example train_tiny`

use siamese::{DatasetKind, ImageSet, Progress, TrainConfig};

/// `n` 28×28 images of 10 classes: class c is a bright 6×6 square at one of 10 positions,
/// on faint seeded noise.
fn synthetic(n: usize, seed: u32) -> Result<ImageSet, siamese::data::DataError> {
    let (mut images, mut labels) = (Vec::with_capacity(n * 784), Vec::with_capacity(n));
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    for i in 0..n {
        let c = i % 10;
        let (r0, c0) = (2 + 5 * (c / 5) * 2, 2 + 5 * (c % 5));
        for p in 0..784 {
            let (r, col) = (p / 28, p % 28);
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let inside = (r0..r0 + 6).contains(&r) && (c0..c0 + 6).contains(&col);
            images.push(if inside { 230 } else { (state % 40) as u8 });
        }
        labels.push(c as u32);
    }
    let names = (0..10).map(|c| c.to_string()).collect();
    ImageSet::new(images, labels, (1, 28, 28), names)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = TrainConfig::paper(DatasetKind::Mnist); // 1×28×28 inputs, the paper's recipe
    cfg.epochs = 2;
    let data = siamese::model::run::RunData::from_sets(
        &cfg,
        synthetic(2000, 1)?,
        synthetic(500, 2)?,
        None,
    )?;
    let outcome = siamese::train_on_data(&cfg, &data, None, |p| match p {
        Progress::Epoch(r) => println!(
            "epoch {}: train loss {:.4}, val acc {:.1}%",
            r.epoch,
            r.train_loss,
            r.val_acc.unwrap_or(f64::NAN) * 100.0
        ),
        Progress::Message(m) => println!("{m}"),
        _ => {}
    })?;
    let mut model = outcome.model;
    let (a, b) = (
        siamese::image(&data.test, 0)?,
        siamese::image(&data.test, 10)?,
    );
    let c = siamese::image(&data.test, 1)?;
    println!(
        "same class: similarity {:.3}; different classes: {:.3}",
        siamese::similarity(&mut model, &a, &b)?,
        siamese::similarity(&mut model, &a, &c)?
    );
    if let Some(t) = outcome.test {
        println!("test pair accuracy {:.2}%", t.accuracy_at_half * 100.0);
    }
    Ok(())
}
