//! `siamese sweep`: parameter sensitivity (the paper's Tables 6 and 7), one row per (lr,
//! batch) as each finishes, and optionally one JSON line each. The library's
//! [`siamese::train::sweep::sweep`] runs it; [`siamese::pipeline::train`] checks the settings,
//! reads the data and writes the lines.

use std::path::PathBuf;

use clap::Args;
use siamese::model::run::{PAPER_BATCH, PAPER_LR};
use siamese::pipeline::train::{sweep_data, write_points};
use siamese::train::sweep::{grid, sweep_cells};

use crate::args::{PairArgs, RunArgs, Shard};
use crate::common::{check_outputs, set_threads};
use crate::run_config::build_config;
use crate::CliResult;

#[derive(Args)]
pub struct SweepArgs {
    /// Comma-separated learning rates.
    #[arg(long, default_value = "0.0001,0.001,0.01", value_delimiter = ',')]
    pub lrs: Vec<f32>,
    /// Comma-separated batch sizes (pairs).
    #[arg(long = "batches", default_value = "32,64,96", value_delimiter = ',')]
    pub batches: Vec<usize>,
    /// Epochs per setting.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub pair: PairArgs,
    /// Also write one JSON line per setting to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub out: Option<PathBuf>,
    /// Run only every N-th setting from the I-th (0-based, learning rates outermost), for N
    /// independent processes (a Slurm job array); give each its own --out and concatenate the
    /// files: each line is a whole setting.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

pub fn run(a: SweepArgs) -> CliResult {
    if let Some(out) = &a.out {
        check_outputs(&[("--out", out)], &[])?;
    }
    set_threads(a.run.threads)?;
    let base = build_config(&a.run, Some(a.epochs), PAPER_BATCH, PAPER_LR, Some(&a.pair))?;
    let shard = a.shard.unwrap_or(Shard::WHOLE);
    let all = grid(&a.lrs, &a.batches)?;
    let cells = shard.share(all.iter().copied());
    if cells.is_empty() {
        return Err(format!(
            "--shard {}/{} has no settings: the grid has {}",
            shard.index,
            shard.count,
            all.len()
        )
        .into());
    }
    let (data, title) = sweep_data(&base, &a.lrs, &a.batches, &a.run.data.source())?;
    println!(
        "sweep on {}: {} training images, {} epoch(s) per setting, seed {}",
        title,
        data.train_idx.len(),
        base.epochs,
        base.seed
    );
    if let Some(s) = a.shard {
        println!(
            "shard {}/{}: {} of the {} settings",
            s.index,
            s.count,
            cells.len(),
            all.len()
        );
    }
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>12}",
        "lr", "batch", "val acc", "test acc", "s/epoch"
    );
    let points = sweep_cells(&base, &data, &cells, &mut |p| {
        if let Some(epoch) = p.collapsed_at_epoch {
            println!(
                "{:>8} {:>6} collapsed at epoch {epoch} (every pair scored alike; lower --lr)",
                p.lr, p.batch
            );
            return;
        }
        let pct = |acc: Option<f64>| acc.unwrap_or(f64::NAN) * 100.0;
        println!(
            "{:>8} {:>6} {:>9.2}% {:>9.2}% {:>12.2}",
            p.lr,
            p.batch,
            pct(p.val_acc),
            pct(p.test_acc),
            p.seconds_per_epoch
        );
    })?;
    if let Some(p) = &a.out {
        write_points(p, &points)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}
