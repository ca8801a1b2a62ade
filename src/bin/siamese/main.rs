//! `siamese`: the command-line program.
//!
//! Each subcommand is one `Args` struct plus one `run_*` function returning `CliResult`; `main`
//! dispatches and turns any error into a single `error: ...` line on stderr and a non-zero exit
//! code (never a panic). The subcommands parse flags, call siamese-model and siamese-data, and
//! print. `siamese bench` runs the separate `siamese-bench` program (src/bin/siamese-bench/),
//! which alone installs a counting global allocator.

use std::path::PathBuf;
use std::process::ExitCode;

mod bench_cmd;
mod beyond_cmds;
#[path = "../shared/cli.rs"]
mod cli;
mod device;
mod model_cmds;
mod progress;

use clap::{Args, Parser, Subcommand, ValueEnum};
use siamese::data::{self, dataset::default_target_dir, fetch::FileStatus, DatasetKind};

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
    /// Train the plain LeNet-5 classifier (the paper's baseline); `eval` scores its checkpoint.
    TrainBaseline(model_cmds::BaselineArgs),
    /// Download a dataset (checksum-verified, resumable) into <data-dir>/<name>/.
    Fetch(FetchArgs),
    /// Draw a grid of sample image pairs labelled POS/NEG (the paper's Figure 2) as a PNG.
    Pairs(PairsArgs),
    /// N-way K-shot recognition on test episodes (mean similarity and prototype), accuracy with a 95% interval.
    Oneshot(beyond_cmds::OneShotArgs),
    /// Similarity search: recall@1/5/10 and mAP of test queries against the training images, or the nearest images to a file.
    Retrieve(beyond_cmds::RetrieveArgs),
    /// Classical baselines (the paper's Table 3): k-NN on pixels or on the embedding, HOG + linear SVM.
    Classic(beyond_cmds::ClassicArgs),
    /// The test set's embeddings projected to 2-D by PCA, as a scatter coloured by class (PNG), and optionally as CSV/.npy.
    Embed(beyond_cmds::EmbedArgs),
    /// Training pairs/s (steady state), time to score 10,000 pairs and peak RSS, on 1 and 2 threads (runs the siamese-bench program; `siamese bench --help` for its flags).
    #[command(disable_help_flag = true)]
    Bench(bench_cmd::BenchArgs),
}

#[derive(Args)]
struct FetchArgs {
    /// mnist, fashion-mnist, cifar-10 or all.
    dataset: String,
    /// Data root (default: $SIAMESE_DATA_DIR, else ./datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Base URL override: files are fetched from <mirror>/<dataset>/<file> (default: $SIAMESE_MIRROR, else the public mirrors).
    #[arg(long)]
    mirror: Option<String>,
    /// Download again even when verified files are present.
    #[arg(long)]
    force: bool,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Split {
    Train,
    Test,
}

#[derive(Args)]
struct PairsArgs {
    /// mnist, fashion-mnist or cifar-10.
    #[arg(long, default_value = "fashion-mnist")]
    dataset: String,
    /// Output PNG file.
    #[arg(long, default_value = "pairs.png")]
    out: PathBuf,
    /// Number of pairs (alternating POS and NEG).
    #[arg(long, default_value_t = 8)]
    count: usize,
    #[command(flatten)]
    grid: model_cmds::GridArgs,
    /// Seed of the pair sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Which images to draw from.
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    /// Data root holding mnist/, fashion-mnist/, cifar-10/ (default: $SIAMESE_DATA_DIR, else ./datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    cli::default_sigpipe();
    let cli = match cli::parse_or_exit::<Cli>("siamese") {
        Ok(c) => c,
        Err(code) => return code,
    };
    cli::finish(match cli.command {
        Command::Train(a) => model_cmds::run_train(a),
        Command::Eval(a) => model_cmds::run_eval(a),
        Command::Compare(a) => model_cmds::run_compare(a),
        Command::Show(a) => model_cmds::run_show(a),
        Command::Sweep(a) => model_cmds::run_sweep(a),
        Command::TrainBaseline(a) => model_cmds::run_train_baseline(a),
        Command::Fetch(a) => run_fetch(a),
        Command::Pairs(a) => run_pairs(a),
        Command::Bench(a) => bench_cmd::run_bench(a),
        Command::Oneshot(a) => beyond_cmds::run_oneshot(a),
        Command::Retrieve(a) => beyond_cmds::run_retrieve(a),
        Command::Classic(a) => beyond_cmds::run_classic(a),
        Command::Embed(a) => beyond_cmds::run_embed(a),
    })
}

fn run_fetch(a: FetchArgs) -> CliResult {
    let kinds: Vec<DatasetKind> = if a.dataset.eq_ignore_ascii_case("all") {
        DatasetKind::ALL.to_vec()
    } else {
        vec![a.dataset.parse::<DatasetKind>()?]
    };
    let opts = data::FetchOptions {
        mirror: a.mirror.clone(),
        force: a.force,
        progress: !a.quiet,
        ..Default::default()
    };
    for kind in kinds {
        let dir = default_target_dir(kind, a.data_dir.as_deref());
        let report = data::fetch(kind, &dir, &opts)?;
        let downloaded = report
            .files
            .iter()
            .filter(|(_, s)| matches!(s, FileStatus::Downloaded { .. }))
            .count();
        let unpacked = report
            .files
            .iter()
            .filter(|(_, s)| *s == FileStatus::Unpacked)
            .count();
        let present = report.files.len() - downloaded - unpacked;
        println!(
            "{}: ready in {} ({downloaded} downloaded, {unpacked} unpacked, {present} already present; licence: {})",
            kind.name(),
            report.dir.display(),
            kind.licence()
        );
    }
    Ok(())
}

fn run_pairs(a: PairsArgs) -> CliResult {
    let kind: DatasetKind = a.dataset.parse()?;
    let (train, test) = data::load(kind, a.data_dir.as_deref())?;
    let set = match a.split {
        Split::Train => train,
        Split::Test => test,
    };
    let pairs = data::viz::figure_pairs(&set, a.count, a.seed)?;
    let img = data::viz::pair_grid(&set, &pairs, a.grid.cols, a.grid.scale)?;
    model_cmds::save_png(&a.out, &img)?;
    println!(
        "wrote {} ({} {} pairs, {}x{} px)",
        a.out.display(),
        pairs.len(),
        kind.title(),
        img.width,
        img.height
    );
    Ok(())
}
