//! `siamese train-baseline`: the plain LeNet-5 classifier (the paper's baseline), trained into
//! a folder and tested. The pipeline is [`siamese::pipeline::train::baseline_run`].

use std::path::PathBuf;

use clap::Args;
use siamese::pipeline::train::baseline_run;
use siamese::train::baseline::BaselineEvaluation;

use crate::args::{RunArgs, StepArgs};
use crate::common::{print_eval, set_threads};
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
    print_classifier(&r.test);
    println!("saved {}", r.checkpoint.display());
    Ok(())
}

/// A classifier's test figures, then the classifier as a pair verifier (`train-baseline`
/// and `eval`).
pub fn print_classifier(e: &BaselineEvaluation) {
    println!(
        "LeNet-5 classifier on {} test images: accuracy {:.2}%, {:.3} s to classify 10,000 images",
        e.images,
        e.accuracy * 100.0,
        e.seconds_per_10k
    );
    let v = &e.verifier;
    print_eval(
        &v.same_class_probability,
        "as a pair verifier, similarity Σ_c p_a(c)·p_b(c), on the test pairs",
    );
    let hard = &v.same_predicted_class;
    println!(
        "as a pair verifier, \"same predicted class\": accuracy {:.2}% on the {} test pairs \
         ({:.2}% if its errors spread evenly over the other classes)",
        hard.accuracy_at_half * 100.0,
        hard.pairs,
        v.even_error_pair_accuracy * 100.0
    );
}
