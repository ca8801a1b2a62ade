//! A command's dataset: found through the lookup order (`data_dir`, `$SIAMESE_DATA_DIR`,
//! ./datasets), else downloaded into the default data folder (checksum-verified, with
//! progress on stderr) unless offline (`offline` or `SIAMESE_OFFLINE=1`), in which case the
//! missing-data error (which names the `siamese fetch` command) stands.

use std::path::PathBuf;

use crate::data::{self, dataset::default_target_dir, DataError, DatasetKind, ImageSet};
use crate::model::run::{RunData, TrainConfig};
use crate::{ModelError, Result};

/// The environment variable that forbids downloads (as `--offline` does) when set to 1.
pub const OFFLINE_ENV: &str = "SIAMESE_OFFLINE";

/// Where a command's data comes from (`--data-dir`, `--offline`).
#[derive(Clone, Debug, Default)]
pub struct DataSource {
    /// The data root holding mnist/, fashion-mnist/, cifar-10/ (None: the lookup order).
    pub data_dir: Option<PathBuf>,
    /// Never download.
    pub offline: bool,
}

impl DataSource {
    /// True when downloads are forbidden (`offline` or SIAMESE_OFFLINE=1).
    pub fn is_offline(&self) -> bool {
        self.offline || std::env::var(OFFLINE_ENV).is_ok_and(|v| v == "1" || v == "true")
    }
}

/// A dataset as read for a command, with the name to show for it.
pub struct Loaded {
    pub train: ImageSet,
    pub test: ImageSet,
    /// "MNIST", "Fashion-MNIST", "CIFAR-10" or "CIFAR-10 (JPEG stand-in)".
    pub title: String,
}

/// Reads `kind` (see the module doc), downloading it first when it is missing and downloads
/// are allowed (saying so on stderr, as the download's progress is).
pub fn load(kind: DatasetKind, src: &DataSource) -> Result<Loaded> {
    let dir = match data::locate(kind, src.data_dir.as_deref()) {
        Ok(dir) => dir,
        Err(DataError::Missing { .. }) if !src.is_offline() => {
            let dir = default_target_dir(kind, src.data_dir.as_deref());
            eprintln!(
                "{}: not found; downloading it into {} (--offline or {OFFLINE_ENV}=1 never downloads)",
                kind.title(),
                dir.display()
            );
            data::fetch(kind, &dir, &data::FetchOptions::default()).map_err(|e| {
                let fetch = match &src.data_dir {
                    Some(d) => format!("siamese fetch {} --data-dir {}", kind.name(), d.display()),
                    None => format!("siamese fetch {}", kind.name()),
                };
                ModelError::Config(format!(
                    "{} not found, and downloading it into {} failed: {e}\n{}",
                    kind.name(),
                    dir.display(),
                    data::error::ways_out(kind.name(), &fetch)
                ))
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
pub fn prepare(cfg: &TrainConfig, src: &DataSource) -> Result<(RunData, String)> {
    let l = load(cfg.dataset, src)?;
    Ok((
        RunData::from_sets(cfg, cfg.dataset, l.train, l.test)?,
        l.title,
    ))
}
