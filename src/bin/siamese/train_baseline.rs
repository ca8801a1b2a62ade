//! `siamese train-baseline`: the plain LeNet-5 classifier (the paper's baseline), trained into
//! a folder and tested. The pipeline is [`siamese::pipeline::train::baseline_run`].

use std::path::PathBuf;

use clap::Args;
use siamese::pipeline::train::baseline_run;

use crate::args::{RunArgs, StepArgs};
use crate::common::set_threads;
use crate::progress::Progress;
use crate::run_config::build_config;
use crate::CliResult;

#[derive(Args)]
pub struct BaselineArgs {
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[command(flatten)]
    pub step: StepArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Output folder: baseline.safetensors, baseline.jsonl (default: runs/<dataset>-baseline).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Overwrite the baseline already in --out (refused otherwise).
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: BaselineArgs) -> CliResult {
    set_threads(a.run.threads)?;
    let cfg = build_config(&a.run, Some(a.epochs), a.step.batch, a.step.lr, None)?;
    let src = a.run.data.source();
    let r = baseline_run(
        &cfg,
        a.out.clone(),
        a.force,
        &src,
        &mut Progress::images(a.quiet),
    )?;
    let e = &r.test;
    println!(
        "test accuracy {:.2}% on {} images; {:.3} s to classify 10,000 images; saved {}",
        e.accuracy * 100.0,
        e.images,
        e.seconds_per_10k,
        r.checkpoint.display()
    );
    Ok(())
}
