//! `siamese fetch`: downloads a dataset (checksum-verified, resumable) into
//! <data-dir>/<name>/. Every other command that reads a dataset downloads it itself when it
//! is missing ([`siamese::pipeline::data`]).

use std::path::PathBuf;

use clap::Args;
use siamese::data::{self, dataset::default_target_dir, fetch::FileStatus, DatasetKind};

use crate::CliResult;

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

pub fn run(a: FetchArgs) -> CliResult {
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
