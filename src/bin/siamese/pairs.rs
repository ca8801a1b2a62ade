//! `siamese pairs`: a grid of sample image pairs labelled POS/NEG (the paper's Figure 2) as a
//! PNG.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use siamese::data::{self, DatasetKind};
use siamese::pipeline::data::load;

use crate::args::{choice, DataArgs, GridArgs, DATASETS};
use crate::common::{check_outputs, check_png_name, save_png};
use crate::CliResult;

#[derive(Clone, Copy, ValueEnum)]
enum Split {
    Train,
    Test,
}

#[derive(Args)]
pub struct PairsArgs {
    /// The dataset.
    #[arg(long, default_value = "mnist", value_parser = choice::<DatasetKind>(DATASETS))]
    dataset: DatasetKind,
    /// Output PNG file.
    #[arg(long, value_name = "FILE.png", default_value = "pairs.png")]
    out: PathBuf,
    /// Number of pairs (alternating POS and NEG).
    #[arg(long, default_value_t = 8)]
    count: usize,
    #[command(flatten)]
    grid: GridArgs,
    /// Seed of the pair sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Which images to draw from.
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(a: PairsArgs) -> CliResult {
    check_png_name(&a.out, "--out")?;
    let (_, h, w) = a.dataset.geometry();
    data::viz::grid_size(a.count, a.grid.cols, a.grid.scale, (h, w))?;
    check_outputs(&[("--out", &a.out)], &[])?;
    let l = load(&a.data.dataset_or(a.dataset)?, &a.data.source())?;
    let (set, split) = match a.split {
        Split::Train => (l.train, "training"),
        Split::Test => (l.test, "test"),
    };
    let pairs = data::viz::figure_pairs(&set, a.count, a.seed)?;
    let title = format!("{} {split} pairs", l.title);
    let img = data::viz::pair_grid(&set, &pairs, a.grid.cols, a.grid.scale, &title)?;
    save_png(&a.out, &img)?;
    println!(
        "wrote {} ({} {} pairs, {}x{} px)",
        a.out.display(),
        pairs.len(),
        l.title,
        img.width,
        img.height
    );
    Ok(())
}
