//! `siamese train`: SN-LeNet-5 trained into a run folder (progress, metrics.jsonl, checkpoints,
//! curves.png, test.json); Ctrl-C saves and exits, `--resume` continues. The pipeline is
//! [`siamese::pipeline::train::train_run`]; this file parses, installs the Ctrl-C handler and
//! prints.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use siamese::data::DatasetKind;
use siamese::model::run::{Recipe, RunFiles, RunSetting};
use siamese::pipeline::train::{train_run, TrainRequest};

use crate::args::{PairArgs, RunArgs, StepArgs};
use crate::common::{print_eval, set_threads};
use crate::device::Device;
use crate::progress::{self, Progress};
use crate::run_config::build_config;
use crate::CliResult;

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long, help = epochs_help())]
    pub epochs: Option<usize>,
    #[command(flatten)]
    pub step: StepArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub pair: PairArgs,
    /// Output folder: metrics.jsonl, best.safetensors, last.safetensors, curves.png, config.json, test.json (default: runs/<dataset>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run saved in DIR (its last.safetensors), bit for bit; a run flag typed with a value other than the run's is refused, except a larger --epochs.
    #[arg(long, value_name = "DIR", conflicts_with = "recipe")]
    pub resume: Option<PathBuf>,
    /// Overwrite the run already in --out (refused otherwise).
    #[arg(long)]
    pub force: bool,
    /// No progress bar (epoch lines only).
    #[arg(long, short)]
    pub quiet: bool,
    /// Where to train: cuda runs the paper's configuration only and needs a binary built with --features cuda.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Device,
}

/// `--epochs`'s help, quoting each recipe's epochs of each dataset.
fn epochs_help() -> String {
    let e = |recipe: Recipe| {
        let n = |kind| recipe.config(kind).epochs;
        format!(
            "{} MNIST / {} Fashion-MNIST / {} CIFAR-10",
            n(DatasetKind::Mnist),
            n(DatasetKind::FashionMnist),
            n(DatasetKind::Cifar10)
        )
    };
    format!(
        "Epochs (default: the recipe's; ours {}, the paper's {})",
        e(Recipe::Ours),
        e(Recipe::Paper)
    )
}

/// The first Ctrl-C asks the loop to finish the batch, save and exit cleanly (`stop`); a
/// second exits at once.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            siamese::model::io::remove_pending_temps();
            eprintln!("\nsecond interrupt: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: finishing the current batch, then saving a checkpoint");
    });
    stop
}

/// Runs `siamese train`; `typed` holds the run settings typed on its command line, each with
/// its flag.
pub fn run(a: TrainArgs, typed: Vec<(RunSetting, &'static str)>) -> CliResult {
    let started = std::time::Instant::now();
    set_threads(a.run.threads)?;
    let stop = stop_on_ctrl_c();
    let req = TrainRequest {
        cfg: build_config(&a.run, a.epochs, a.step.batch, a.step.lr, Some(&a.pair))?,
        typed,
        out: a.out.clone(),
        resume: a.resume.clone(),
        force: a.force,
        device: a.device.into(),
        data: a.run.data.source(),
        stop: Some(&stop),
    };
    let report = train_run(&req, &mut Progress::new(a.quiet))?;
    if report.interrupted {
        // Saved; 130 (128 + SIGINT) as a shell reports an interrupted program, so that
        // `train && eval` stops here.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(130);
    }
    if let Some((epoch, acc)) = report.best {
        println!(
            "best validation pair accuracy {:.2}% at epoch {epoch} of {}",
            acc * 100.0,
            report.epochs
        );
    }
    if let Some(test) = &report.test {
        print_eval(test, "test (best validation epoch's weights)");
        if let Some(g) = &report.class_groups {
            crate::eval::print_class_groups(&g.classes, &g.names, &g.groups);
        }
        if let Some(dir) = &report.out {
            let f = RunFiles { dir: dir.clone() };
            let name = |p: PathBuf| {
                p.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            };
            println!(
                "saved {}/{}, {}, {}, {}, {}",
                dir.display(),
                name(f.best()),
                name(f.last()),
                name(f.metrics()),
                name(f.curves()),
                name(f.test())
            );
        }
    }
    println!(
        "total time {}",
        progress::duration(started.elapsed().as_secs_f64())
    );
    Ok(())
}
