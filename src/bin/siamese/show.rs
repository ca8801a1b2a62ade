//! `siamese show`: a grid of test pairs with their predicted similarity (the paper's Figures
//! 6, 9, 10) as a PNG. The pipeline is [`siamese::pipeline::score::show_predictions`].

use std::path::{Path, PathBuf};

use clap::Args;
use siamese::model::run::RunFiles;
use siamese::pipeline::score::{show_predictions, ShowRequest};

use crate::args::{DataArgs, GridArgs};
use crate::common::{check_outputs, check_png_name, save_png};
use crate::flags;
use crate::CliResult;

#[derive(Args)]
pub struct ShowArgs {
    /// An SN-LeNet-5 checkpoint.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output PNG file.
    #[arg(long, value_name = "FILE.png", default_value = "predictions.png")]
    pub out: PathBuf,
    /// Number of test pairs shown.
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    #[command(flatten)]
    pub grid: GridArgs,
    /// Seed choosing which test pairs are shown.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Similarity above which a pair is called "same" (default: the threshold chosen on validation, from the checkpoint's folder's test.json, else 0.5).
    #[arg(long, value_parser = flags::threshold)]
    pub threshold: Option<f32>,
    #[command(flatten)]
    pub data: DataArgs,
}

pub fn run(a: ShowArgs) -> CliResult {
    check_png_name(&a.out, "--out")?;
    let test_json = RunFiles {
        dir: a
            .checkpoint
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    }
    .test();
    check_outputs(
        &[("--out", &a.out)],
        &[
            ("--checkpoint", &a.checkpoint),
            ("the run's test.json", &test_json),
        ],
    )?;
    let r = show_predictions(&ShowRequest {
        checkpoint: a.checkpoint.clone(),
        count: a.count,
        cols: a.grid.cols,
        scale: a.grid.scale,
        seed: a.seed,
        threshold: a.threshold,
        data: a.data.source(),
    })?;
    save_png(&a.out, &r.image)?;
    println!(
        "wrote {}: {} {} test pairs, {} called right at threshold {:.3} ({})",
        a.out.display(),
        r.pairs,
        r.title,
        r.right,
        r.threshold.value,
        r.threshold.source
    );
    Ok(())
}
