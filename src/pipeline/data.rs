//! A command's dataset: found through the lookup order (`data_dir`, `$SIAMESE_DATA_DIR`,
//! ./datasets), else downloaded into the default data folder (checksum-verified, with
//! progress on stderr) unless offline (`offline` or `SIAMESE_OFFLINE=1`), in which case the
//! missing-data error (which names the `siamese fetch` command) stands.

use std::path::PathBuf;

use crate::data::{
    self, dataset::default_target_dir, input_name, DataError, DatasetKind, Fit, ImageSet,
};
use crate::model::run::{Dataset, RunData, TrainConfig};
use crate::{ModelError, Result};

/// The environment variable that forbids downloads (as `--offline` does) when set to 1.
pub const OFFLINE_ENV: &str = "SIAMESE_OFFLINE";

/// Where a command's data comes from (`--data-dir`, `--offline`, `--images`, `--input`, `--fit`).
#[derive(Clone, Debug, Default)]
pub struct DataSource {
    /// The data root holding mnist/, fashion-mnist/, cifar-10/ (None: the lookup order).
    pub data_dir: Option<PathBuf>,
    /// Never download.
    pub offline: bool,
    /// A user's image folder instead of the run's own data ([`dataset_of`]).
    pub images: Option<PathBuf>,
    /// The input asked for with `images` (a checkpoint's command: it must be the checkpoint's).
    pub input: Option<(usize, usize, usize)>,
    /// The fit asked for with `images` (likewise).
    pub fit: Option<Fit>,
}

impl DataSource {
    /// True when downloads are forbidden (`offline` or SIAMESE_OFFLINE=1).
    pub fn is_offline(&self) -> bool {
        self.offline || std::env::var(OFFLINE_ENV).is_ok_and(|v| v == "1" || v == "true")
    }
}

/// The data a checkpoint's command reads: `--images DIR` at the checkpoint's input and fit
/// (a differing `--input` or `--fit` is refused, naming both), else the run's own data.
pub fn dataset_of(cfg: &TrainConfig, d: &DataSource) -> Result<Dataset> {
    let Some(dir) = &d.images else {
        return Ok(cfg.dataset.clone());
    };
    let (c, h, w) = (cfg.model.channels, cfg.model.height, cfg.model.width);
    let fit = cfg.dataset.fit();
    if let Some(i) = d.input.filter(|&i| i != (c, h, w)) {
        return Err(ModelError::Config(format!(
            "--input {} differs from the checkpoint's input {} (the network takes only that)",
            input_name(i),
            input_name((c, h, w))
        )));
    }
    if let Some(f) = d.fit.filter(|&f| f != fit) {
        return Err(ModelError::Config(format!(
            "--fit {f} differs from the checkpoint's fit {fit}"
        )));
    }
    Ok(Dataset::Folder(super::folder::describe(
        dir,
        Some((c, h, w)),
        fit,
    )?))
}

/// A dataset as read for a command, with the name to show for it.
pub struct Loaded {
    pub train: ImageSet,
    pub test: ImageSet,
    /// A folder's own validation images (positions in `train`), if it has a `val/` part.
    pub val: Option<Vec<u32>>,
    /// "MNIST", "Fashion-MNIST", "CIFAR-10" or "CIFAR-10 (JPEG stand-in)".
    pub title: String,
}

/// Reads a run's data: a benchmark by [`load_bench`], a folder by
/// [`super::folder::load_folder`].
pub fn load(dataset: &Dataset, src: &DataSource) -> Result<Loaded> {
    match dataset {
        Dataset::Bench(kind) => load_bench(*kind, src),
        Dataset::Folder(f) => {
            let s = super::folder::load_folder(f)?;
            Ok(Loaded {
                train: s.train,
                test: s.test,
                val: s.val,
                title: dataset.title(),
            })
        }
    }
}

/// Reads `kind` (see the module doc), downloading it first when it is missing and downloads
/// are allowed (saying so on stderr, as the download's progress is).
pub fn load_bench(kind: DatasetKind, src: &DataSource) -> Result<Loaded> {
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
    Ok(Loaded {
        train,
        test,
        val: None,
        title,
    })
}

/// The data of a run (see [`load`]) and the dataset's title.
pub fn prepare(cfg: &TrainConfig, src: &DataSource) -> Result<(RunData, String)> {
    let dataset = dataset_of(cfg, src)?;
    let l = load(&dataset, src)?;
    let data = if dataset == cfg.dataset {
        RunData::from_sets(cfg, l.train, l.test, l.val.as_deref())?
    } else {
        // A checkpoint's run on another folder: that folder's split and classes.
        let cfg = TrainConfig {
            dataset,
            train_classes: None,
            ..cfg.clone()
        };
        RunData::from_sets(&cfg, l.train, l.test, l.val.as_deref())?
    };
    Ok((data, l.title))
}
