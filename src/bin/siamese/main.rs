//! `siamese`: the command-line program.
//!
//! One file per subcommand, each its `Args` struct plus one `run` function returning
//! `CliResult` that calls a library pipeline ([`siamese::pipeline`], or a library crate) and
//! prints its report; the flag groups several share are in args.rs, the rest they share in
//! common.rs, progress.rs and run_config.rs. `main` parses the command line once and
//! dispatches, and turns any error into a single `error: ...` line on stderr and a non-zero
//! exit code (never a panic). `siamese bench` runs the bench of src/bin/siamese-bench/ in
//! this process, with its counting global allocator (idle until the bench starts).

use std::process::ExitCode;

mod args;
mod bench;
mod classic_cmd;
#[path = "../shared/cli.rs"]
mod cli;
mod common;
mod compare;
mod device;
mod embed_cmd;
mod eval;
mod export;
mod fetch;
#[path = "../shared/flags.rs"]
mod flags;
mod oneshot_cmd;
mod pairs;
mod progress;
mod reproduce;
mod retrieve_cmd;
mod run_config;
mod score;
mod show;
mod source;
mod sweep;
mod train;
mod train_baseline;

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
    Train(train::TrainArgs),
    /// Test pair accuracy (at 0.5 and at the validation threshold), confusion counts, ROC AUC, EER, and the time to score 10,000 pairs.
    Eval(eval::EvalArgs),
    /// The similarity of two image files.
    Compare(compare::CompareArgs),
    /// The similarity of every pair of a CSV list of image files, as CSV rows path_a,path_b,similarity,same (stdout or --out).
    Score(score::ScoreArgs),
    /// A grid of test pairs with their predicted similarity (the paper's Figures 6, 9, 10) as a PNG.
    Show(show::ShowArgs),
    /// Parameter sensitivity (the paper's Tables 6 and 7): accuracy and seconds per epoch per (lr, batch).
    Sweep(sweep::SweepArgs),
    /// Train every row of docs/results.md with its seeds and rewrite its tables (--quick: the CI smoke profile).
    Reproduce(reproduce::command::ReproduceArgs),
    /// Train the plain LeNet-5 classifier (the paper's baseline); `eval` scores its checkpoint.
    TrainBaseline(train_baseline::BaselineArgs),
    /// Download a dataset (checksum-verified, resumable) into <data-dir>/<name>/.
    Fetch(fetch::FetchArgs),
    /// Draw a grid of sample image pairs labelled POS/NEG (the paper's Figure 2) as a PNG.
    Pairs(pairs::PairsArgs),
    /// N-way K-shot recognition on test episodes (mean similarity and prototype), accuracy with a 95% interval.
    Oneshot(oneshot_cmd::OneShotArgs),
    /// Similarity search: recall@1/5/10 and mAP of test queries against the training images, or the nearest images to a file.
    Retrieve(retrieve_cmd::RetrieveArgs),
    /// Classical baselines (the paper's Table 3): k-NN on pixels or on the embedding, HOG + linear SVM.
    Classic(classic_cmd::ClassicArgs),
    /// The test set's embeddings projected to 2-D by PCA, as a scatter coloured by class (PNG), and optionally as CSV/.npy.
    Embed(embed_cmd::EmbedArgs),
    /// Training pairs/s (steady state), time to score 10,000 pairs, peak RSS and allocations per step, on 1 and 2 threads (`siamese bench --help` for its flags).
    #[command(disable_help_flag = true)]
    Bench(bench::BenchArgs),
    /// The trained network as an ONNX file (the pair model, or the subnet alone), for ONNX Runtime and the like.
    Export(export::ExportArgs),
}

fn main() -> ExitCode {
    cli::default_sigpipe();
    let (cli, matches) = match cli::parse_with_matches::<Cli>("siamese") {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    if cli.ieee_subnormals {
        siamese::tensor::fpmode::set_ieee_subnormals(true);
    }
    // Threads started later (a lazily built pool, the prefetch thread) inherit this mode.
    siamese::tensor::fpmode::set_current_thread();
    if !matches!(cli.command, Command::Train(_) | Command::Bench(_)) {
        common::exit_cleanly_on_signal();
    }
    cli::finish(match cli.command {
        Command::Train(a) => {
            let typed = matches
                .subcommand_matches("train")
                .map(run_config::typed_run_settings);
            train::run(a, typed.unwrap_or_default())
        }
        Command::Eval(a) => eval::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Score(a) => score::run(a),
        Command::Show(a) => show::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::TrainBaseline(a) => train_baseline::run(a),
        Command::Reproduce(a) => reproduce::command::run(a),
        Command::Fetch(a) => fetch::run(a),
        Command::Pairs(a) => pairs::run(a),
        // The bench parses its own flags and reports its own errors.
        Command::Bench(a) => return bench::run(a),
        Command::Oneshot(a) => oneshot_cmd::run(a),
        Command::Retrieve(a) => retrieve_cmd::run(a),
        Command::Classic(a) => classic_cmd::run(a),
        Command::Embed(a) => embed_cmd::run(a),
        Command::Export(a) => export::run(a),
    })
}
