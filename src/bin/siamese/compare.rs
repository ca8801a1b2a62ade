//! `siamese compare`: the similarity of two image files, called at the run's threshold. The
//! pipeline is [`siamese::pipeline::score::compare_images`].

use std::path::PathBuf;

use clap::Args;
use siamese::pipeline::score::compare_images;

use crate::CliResult;

#[derive(Args)]
pub struct CompareArgs {
    /// First image (PNG, JPEG, BMP or PNM).
    pub a: PathBuf,
    /// Second image.
    pub b: PathBuf,
    /// An SN-LeNet-5 checkpoint.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: CompareArgs) -> CliResult {
    let c = compare_images(&a.checkpoint, &a.a, &a.b)?;
    for note in &c.notes {
        eprintln!("{note}");
    }
    if a.json {
        println!("{}", c.json()?);
        return Ok(());
    }
    let (s, t) = (c.similarity, c.threshold.value);
    println!(
        "similarity {s:.4}: {} (threshold {t:.3}, {})",
        if c.same {
            "same class"
        } else {
            "different classes"
        },
        c.threshold.source
    );
    Ok(())
}
