//! `siamese eval`: a checkpoint's test figures (pair accuracy at 0.5 and at the validation
//! threshold, confusion counts, ROC AUC, EER, scoring time; a classifier's accuracy), as text
//! or `--json`. The pipeline is [`siamese::pipeline::score::eval_checkpoint`].

use siamese::data::Label;
use std::path::PathBuf;

use clap::Args;
use siamese::eval::groups::GroupEvaluation;
use siamese::model::score::EVAL_BATCH;
use siamese::pipeline::pair_score::eval_pair_list;
use siamese::pipeline::score::{eval_checkpoint, EvalReport};

use crate::args::DataArgs;
use crate::common::{print_eval, set_threads};
use crate::device::Device;
use crate::CliResult;

#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint written by `siamese train` (best.safetensors) or `train-baseline`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// A labelled pair list (CSV path_a,path_b,label; label 1/same/true or 0/different/false; paths relative to the list) as the test set instead of the dataset's test pairs, scored at the run's validation threshold and at 0.5 (see docs/images.md).
    #[arg(long, conflicts_with_all = ["data_dir", "offline"])]
    pub pairs: Option<PathBuf>,
    /// Pairs per scoring batch (SN-LeNet-5; a classifier is scored 1000 images at a time).
    #[arg(long, default_value_t = EVAL_BATCH)]
    pub batch: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Where to score: cuda scores SN-LeNet-5 in the paper's configuration and needs a binary built with --features cuda.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Device,
}

pub fn run(a: EvalArgs) -> CliResult {
    set_threads(a.threads)?;
    let report = match &a.pairs {
        Some(list) => eval_pair_list(&a.checkpoint, list, a.batch, a.device.into())?,
        None => eval_checkpoint(&a.checkpoint, &a.data.source(), a.batch, a.device.into())?,
    };
    if let EvalReport::Pairs(p) = &report {
        if let Some(name) = &p.device {
            println!("device: {name}");
        }
    }
    if a.json {
        println!("{}", report.json()?);
        return Ok(());
    }
    match &report {
        EvalReport::Classifier(e) => crate::train_baseline::print_classifier(e),
        EvalReport::Pairs(p) => {
            print_eval(&p.test, &format!("{} test pairs", p.title));
            if a.pairs.is_some() {
                println!(
                    "  threshold {:.3}: {}",
                    p.test.threshold, p.threshold_source
                );
            }
            if let Some(g) = &p.class_groups {
                // beyond_cmds.rs holds the table until its split lands.
                print_class_groups(&g.classes, &g.names, &g.groups);
            }
        }
    }
    Ok(())
}

/// Prints the seen / unseen / mixed / all pair groups of a run trained on a class subset.
pub fn print_class_groups(classes: &[Label], names: &[String], groups: &[GroupEvaluation]) {
    let list: Vec<&str> = classes
        .iter()
        .map(|&c| names[c as usize].as_str())
        .collect();
    println!("trained on classes {}:", list.join(", "));
    let pct =
        |v: Option<f64>, scale: f64| v.map_or("-".to_string(), |v| format!("{:.4}", v * scale));
    println!(
        "  {:<7} {:>6} {:>6} {:>9} {:>12} {:>8} {:>8}",
        "pairs", "count", "same", "acc@0.5", "acc@thresh", "ROC AUC", "EER %"
    );
    for g in groups {
        println!(
            "  {:<7} {:>6} {:>6} {:>8.2}% {:>11.2}% {:>8} {:>8}",
            g.group,
            g.pairs,
            g.positives,
            g.accuracy_at_half * 100.0,
            g.accuracy_at_threshold * 100.0,
            pct(g.roc_auc, 1.0),
            pct(g.equal_error_rate, 100.0)
        );
    }
}
