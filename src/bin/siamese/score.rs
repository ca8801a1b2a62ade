//! `siamese score`: a pair list's similarities as CSV rows, streamed. The pipeline is
//! [`siamese::pipeline::pair_score::score_pair_list`].

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use siamese::model::score::EVAL_BATCH;
use siamese::pipeline::pair_score::{score_pair_list, score_to_file, ScoreRequest};

use crate::common::{check_outputs, set_threads};
use crate::flags;
use crate::progress::PairsBar;
use crate::CliResult;

const PAIRS_HELP: &str = "The pair list: CSV lines path_a,path_b (a label column is allowed and ignored), \
paths relative to the list's folder, `-` reads it from stdin (paths relative to the current folder); \
see docs/images.md. A list file is read whole and every file it names checked before any row is written; \
rows are written 4096 pairs at a time, so an image that cannot be decoded stops the command before any output \
when it is among the first 4096 pairs, else after the rows before its chunk (with --out: nothing is written)";

#[derive(Args)]
pub struct ScoreArgs {
    /// An SN-LeNet-5 checkpoint.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long, help = PAIRS_HELP)]
    pub pairs: PathBuf,
    /// Write the rows to this CSV file (atomically: all or nothing) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Call pairs with similarity > T "same" (default: the run's validation threshold from the test.json beside the checkpoint, else 0.5).
    #[arg(long, value_parser = flags::threshold)]
    pub threshold: Option<f32>,
    /// Images per subnet call.
    #[arg(long, default_value_t = EVAL_BATCH)]
    pub batch: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(a: ScoreArgs) -> CliResult {
    set_threads(a.threads)?;
    let request = ScoreRequest {
        checkpoint: a.checkpoint.clone(),
        pairs: a.pairs.clone(),
        threshold: a.threshold,
        batch: a.batch,
    };
    let mut bar = PairsBar::default();
    let mut progress = |done, total| bar.update(done, total);
    let summary = match &a.out {
        Some(out) => {
            let mut inputs = vec![("--checkpoint", a.checkpoint.as_path())];
            if a.pairs != Path::new("-") {
                inputs.push(("--pairs", a.pairs.as_path()));
            }
            check_outputs(&[("--out", out)], &inputs)?;
            score_to_file(&request, out, &mut progress)?
        }
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let s = score_pair_list(&request, &mut stdout, &mut progress)?;
            stdout.flush()?;
            s
        }
    };
    bar.finish();
    if let Some(note) = &summary.first_resize_note {
        eprintln!("{note} ({} resized in all)", summary.resized);
    }
    eprintln!(
        "scored {} pairs in {:.2} s ({:.0} pairs/s), same when similarity > {:.3} ({})",
        summary.pairs,
        summary.seconds,
        summary.pairs as f64 / summary.seconds.max(1e-9),
        summary.threshold.value,
        summary.threshold.source
    );
    Ok(())
}
