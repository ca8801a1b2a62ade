//! `siamese`: the command-line program.
//!
//! Each subcommand is one `Args` struct plus one `run_*` function returning `CliResult`; `main`
//! dispatches and turns any error into a single `error: ...` line on stderr and a non-zero exit
//! code (never a panic). The subcommands parse flags, call siamese-model and siamese-data, and
//! print. `siamese bench` runs the separate `siamese-bench` program (src/bin/siamese-bench/),
//! which alone installs a counting global allocator.

use std::process::ExitCode;

mod args;
mod bench_cmd;
mod beyond_cmds;
mod classic_cmd;
#[path = "../shared/cli.rs"]
mod cli;
mod common;
mod data_cmds;
mod device;
mod embed_cmd;
mod model_cmds;
mod oneshot_cmd;
mod progress;
mod reproduce;
mod reproduce_cmd;
mod retrieve_cmd;
mod source;
mod typed_flags;

use clap::{Parser, Subcommand};

pub(crate) type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Parser)]
#[command(
    name = "siamese",
    version,
    about = "A siamese LeNet-5 network, every equation from scratch: train, evaluate and compare image pairs on a CPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Strict IEEE subnormal floats instead of flush-to-zero (slower late in training; also $SIAMESE_IEEE_SUBNORMALS=1).
    #[arg(long, global = true)]
    ieee_subnormals: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Train SN-LeNet-5 (progress, metrics.jsonl, checkpoints, curves.png; Ctrl-C saves and exits, --resume continues).
    Train(model_cmds::TrainArgs),
    /// Test pair accuracy (at 0.5 and at the validation threshold), confusion counts, ROC AUC, EER, and the time to score 10,000 pairs.
    Eval(model_cmds::EvalArgs),
    /// The similarity of two image files.
    Compare(model_cmds::CompareArgs),
    /// A grid of test pairs with their predicted similarity (the paper's Figures 6, 9, 10) as a PNG.
    Show(model_cmds::ShowArgs),
    /// Parameter sensitivity (the paper's Tables 6 and 7): accuracy and seconds per epoch per (lr, batch).
    Sweep(model_cmds::SweepArgs),
    /// Train every row of docs/results.md with its seeds and rewrite its tables (--quick: the CI smoke profile).
    Reproduce(reproduce_cmd::ReproduceArgs),
    /// Train the plain LeNet-5 classifier (the paper's baseline); `eval` scores its checkpoint.
    TrainBaseline(model_cmds::BaselineArgs),
    /// Download a dataset (checksum-verified, resumable) into <data-dir>/<name>/.
    Fetch(data_cmds::FetchArgs),
    /// Draw a grid of sample image pairs labelled POS/NEG (the paper's Figure 2) as a PNG.
    Pairs(data_cmds::PairsArgs),
    /// N-way K-shot recognition on test episodes (mean similarity and prototype), accuracy with a 95% interval.
    Oneshot(oneshot_cmd::OneShotArgs),
    /// Similarity search: recall@1/5/10 and mAP of test queries against the training images, or the nearest images to a file.
    Retrieve(retrieve_cmd::RetrieveArgs),
    /// Classical baselines (the paper's Table 3): k-NN on pixels or on the embedding, HOG + linear SVM.
    Classic(classic_cmd::ClassicArgs),
    /// The test set's embeddings projected to 2-D by PCA, as a scatter coloured by class (PNG), and optionally as CSV/.npy.
    Embed(embed_cmd::EmbedArgs),
    /// Training pairs/s (steady state), time to score 10,000 pairs and peak RSS, on 1 and 2 threads (runs the siamese-bench program; `siamese bench --help` for its flags).
    #[command(disable_help_flag = true)]
    Bench(bench_cmd::BenchArgs),
}

fn main() -> ExitCode {
    cli::default_sigpipe();
    let cli = match cli::parse_or_exit::<Cli>("siamese") {
        Ok(c) => c,
        Err(code) => return code,
    };
    if cli.ieee_subnormals {
        siamese::tensor::fpmode::set_ieee_subnormals(true);
    }
    // Threads started later (a lazily built pool, the prefetch thread) inherit this mode.
    siamese::tensor::fpmode::set_current_thread();
    cli::finish(match cli.command {
        Command::Train(a) => model_cmds::run_train(a),
        Command::Eval(a) => model_cmds::run_eval(a),
        Command::Compare(a) => model_cmds::run_compare(a),
        Command::Show(a) => model_cmds::run_show(a),
        Command::Sweep(a) => model_cmds::run_sweep(a),
        Command::TrainBaseline(a) => model_cmds::run_train_baseline(a),
        Command::Reproduce(a) => reproduce_cmd::run_reproduce(a),
        Command::Fetch(a) => data_cmds::run_fetch(a),
        Command::Pairs(a) => data_cmds::run_pairs(a),
        Command::Bench(a) => bench_cmd::run_bench(a),
        Command::Oneshot(a) => oneshot_cmd::run(a),
        Command::Retrieve(a) => retrieve_cmd::run(a),
        Command::Classic(a) => classic_cmd::run(a),
        Command::Embed(a) => embed_cmd::run(a),
    })
}
