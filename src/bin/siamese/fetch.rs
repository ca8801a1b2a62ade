//! The dataset side of the CLI: `fetch`, `pairs`, and how every subcommand that reads a
//! dataset gets it: found through the lookup order (--data-dir, $SIAMESE_DATA_DIR,
//! ./datasets), else downloaded into the default data folder (checksum-verified, with
//! progress) unless `--offline` or `SIAMESE_OFFLINE=1`, in which case the missing-data error
//! (which names the `siamese fetch` command) stands.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use siamese::data::{
    self, dataset::default_target_dir, fetch::FileStatus, DataError, DatasetKind, ImageSet,
};
use siamese::model::run::{RunData, TrainConfig};

use crate::args::{choice, DataArgs, GridArgs, DATASETS};
use crate::CliResult;

/// The environment variable that forbids downloads (as `--offline` does) when set to 1.
pub const OFFLINE_ENV: &str = "SIAMESE_OFFLINE";

#[derive(Args)]
pub struct FetchArgs {
    /// The dataset, or all three.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(["mnist", "fashion-mnist", "cifar-10", "all"]))]
    dataset: String,
    /// Data root: the files go to <data-dir>/<dataset>/ (default: $SIAMESE_DATA_DIR, else ./datasets).
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
pub struct PairsArgs {
    /// The dataset.
    #[arg(long, default_value = "fashion-mnist", value_parser = choice::<DatasetKind>(DATASETS))]
    dataset: DatasetKind,
    /// Output PNG file.
    #[arg(long, value_name = "FILE.png", default_value = "pairs.png")]
    out: PathBuf,
    /// Number of pairs (alternating POS and NEG).
    #[arg(long, default_value_t = 8)]
    count: usize,
    #[command(flatten)]
    grid: GridArgs,
    /// Seed of the pair sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Which images to draw from.
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    #[command(flatten)]
    data: DataArgs,
}

/// A dataset as read for a subcommand, with the name to show for it.
pub struct Loaded {
    pub train: ImageSet,
    pub test: ImageSet,
    /// "MNIST", "Fashion-MNIST", "CIFAR-10" or "CIFAR-10 (JPEG stand-in)".
    pub title: String,
}

/// True when downloads are forbidden (`--offline` or SIAMESE_OFFLINE=1).
fn offline(d: &DataArgs) -> bool {
    d.offline || std::env::var(OFFLINE_ENV).is_ok_and(|v| v == "1" || v == "true")
}

/// Reads `kind` (see the module doc), downloading it first when it is missing and downloads
/// are allowed.
pub fn load(kind: DatasetKind, d: &DataArgs) -> Result<Loaded, Box<dyn std::error::Error>> {
    let dir = match data::locate(kind, d.data_dir.as_deref()) {
        Ok(dir) => dir,
        Err(missing @ DataError::Missing { .. }) if !offline(d) => {
            let dir = default_target_dir(kind, d.data_dir.as_deref());
            eprintln!(
                "{}: not found; downloading it into {} (--offline or {OFFLINE_ENV}=1 never downloads)",
                kind.title(),
                dir.display()
            );
            data::fetch(kind, &dir, &data::FetchOptions::default()).map_err(|e| {
                format!("{e}; without internet, point --data-dir or SIAMESE_DATA_DIR at a copy ({missing})")
            })?;
            dir
        }
        Err(e) => return Err(e.into()),
    };
    let (train, test) = data::load_dir(kind, &dir)?;
    let title = if kind == DatasetKind::Cifar10 && data::fetch::is_cifar_standin(&dir) {
        format!("{} (JPEG stand-in)", kind.title())
    } else {
        kind.title().to_string()
    };
    Ok(Loaded { train, test, title })
}

/// The data of a run (see [`load`]) and the dataset's title.
pub fn prepare(
    cfg: &TrainConfig, d: &DataArgs,
) -> Result<(RunData, String), Box<dyn std::error::Error>> {
    let l = load(cfg.kind()?, d)?;
    Ok((
        RunData::from_sets(cfg, cfg.kind()?, l.train, l.test)?,
        l.title,
    ))
}

pub fn run_fetch(a: FetchArgs) -> CliResult {
    let kinds: Vec<DatasetKind> = if a.dataset == "all" {
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
        let count =
            |f: &dyn Fn(&FileStatus) -> bool| report.files.iter().filter(|(_, s)| f(s)).count();
        let downloaded = count(&|s| matches!(s, FileStatus::Downloaded { .. }));
        let unpacked = count(&|s| *s == FileStatus::Unpacked);
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

pub fn run_pairs(a: PairsArgs) -> CliResult {
    let (_, h, w) = a.dataset.geometry();
    data::viz::grid_size(a.count, a.grid.cols, a.grid.scale, (h, w))?;
    let l = load(a.dataset, &a.data)?;
    let (set, split) = match a.split {
        Split::Train => (l.train, "training"),
        Split::Test => (l.test, "test"),
    };
    let pairs = data::viz::figure_pairs(&set, a.count, a.seed)?;
    let title = format!("{} {split} pairs", l.title);
    let img = data::viz::pair_grid(&set, &pairs, a.grid.cols, a.grid.scale, &title)?;
    crate::common::save_png(&a.out, &img)?;
    println!(
        "wrote {} ({} {} pairs, {}x{} px)",
        a.out.display(),
        pairs.len(),
        l.title,
        img.width,
        img.height
    );
    Ok(())
}
