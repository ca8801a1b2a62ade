//! The training commands' pipelines: `siamese train` ([`train_run`]: a new or resumed run,
//! its data, the device, the loop, the report), `train-baseline` ([`baseline_run`]) and
//! `sweep` ([`sweep_data`], [`write_points`]). What happens on the way (resuming, the device,
//! the run's header, the epochs) reaches the caller through its [`Observer`].

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::data::{prepare, DataSource};
use super::score::{class_groups, ClassGroups};
use super::{check_device, Device};
use crate::model::checkpoint::load_resume;
use crate::model::device_step::check_supported;
use crate::model::run::best_epoch;
use crate::model::run::{claim_folder, RunData, RunFiles, RunSetting, TrainConfig, TrainState};
use crate::model::score::{PairEvaluation, EVAL_BATCH};
use crate::optim::AdamState;
use crate::train::baseline::{baseline_files, train_baseline, BaselineEvaluation};
use crate::train::sweep::SweepPoint;
use crate::train::train::{train, Observer, TrainOptions};
use crate::{ModelError, Result, SnLenet5};

/// What `siamese train` asks for.
pub struct TrainRequest<'a> {
    /// The run's config as the command line gives it (the paper's, then the flags).
    pub cfg: TrainConfig,
    /// The run settings typed on the command line, each with its flag (see
    /// [`TrainConfig::resumed_with`]): with `resume`, those that differ from the run's are
    /// refused.
    pub typed: Vec<(RunSetting, &'static str)>,
    /// The run folder (default: `runs/<dataset>`, or the resumed run's folder).
    pub out: Option<PathBuf>,
    /// A run folder (its last.safetensors) or a checkpoint to continue.
    pub resume: Option<PathBuf>,
    /// Overwrite the run already in `out`.
    pub force: bool,
    pub device: Device,
    pub data: DataSource,
    /// Set to stop cleanly after the current batch (saving).
    pub stop: Option<&'a AtomicBool>,
}

/// What a `siamese train` run ended with.
pub struct TrainReport {
    /// The run's epochs.
    pub epochs: usize,
    /// The best validation epoch and its pair accuracy.
    pub best: Option<(usize, f64)>,
    /// The test evaluation at the best validation epoch's weights (None when interrupted).
    pub test: Option<PairEvaluation>,
    /// For a run on `--train-classes`: its seen, unseen and mixed test pairs, as `eval`
    /// reports them (at the validation threshold, with the same weights).
    pub class_groups: Option<ClassGroups>,
    /// The run folder written.
    pub out: Option<PathBuf>,
    /// True when stopped on request (saved, no test).
    pub interrupted: bool,
}

/// What a resumed run continues from: the model, Adam's state and the loop's.
type Resumed = (SnLenet5, AdamState, TrainState);

/// The resumed run's config and state, and the folder to write (`out`, else its own).
fn resume_from(
    path: &Path, req: &TrainRequest, obs: &mut dyn Observer,
) -> Result<(TrainConfig, Resumed, Option<PathBuf>)> {
    let path = if path.is_dir() {
        RunFiles {
            dir: path.to_path_buf(),
        }
        .last()
    } else {
        path.to_path_buf()
    };
    let (resumed, model, adam, state) = load_resume(&path)?;
    let cfg = resumed.resumed_with(&req.cfg, &req.typed)?;
    let run_dir = path.parent().map(Path::to_path_buf);
    let out = req.out.clone().or_else(|| run_dir.clone());
    if let Some(o) = out.as_ref().filter(|o| Some(*o) != run_dir.as_ref()) {
        RunFiles::claim(o, req.force)?;
    }
    obs.message(&format!(
        "resuming {} at epoch {}, batch {} of {} epochs",
        path.display(),
        state.epoch + 1,
        state.batch_in_epoch,
        cfg.epochs
    ));
    Ok((cfg, (model, adam, state), out))
}

/// The run's header line.
fn header(cfg: &TrainConfig, data: &RunData, title: &str) -> String {
    format!(
        "SN-LeNet-5 on {}: {} training images ({} pairs/epoch), {} validation pairs, {} test pairs; \
         {} epochs, batch {}, Adam lr {} ({}), loss {}, augment {}, seed {}, {} threads",
        title,
        data.train_idx.len(),
        data.train_idx.len() * 2,
        data.val_pairs.len(),
        data.test_pairs.len(),
        cfg.epochs,
        cfg.batch,
        cfg.lr,
        cfg.schedule,
        cfg.loss,
        cfg.augment,
        cfg.seed,
        rayon::current_num_threads()
    )
}

/// `siamese train`: a new run (validated, its folder claimed) or a resumed one, checked for
/// the device before the data loads, trained on the CPU or the GPU, written to its folder.
pub fn train_run(req: &TrainRequest, obs: &mut dyn Observer) -> Result<TrainReport> {
    let (cfg, resume, out) = match &req.resume {
        Some(path) => {
            let (cfg, resumed, out) = resume_from(path, req, obs)?;
            (cfg, Some(resumed), out)
        }
        None => {
            req.cfg.validate()?;
            let out = req
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(req.cfg.dataset.name()));
            RunFiles::claim(&out, req.force)?;
            (req.cfg.clone(), None, Some(out))
        }
    };
    if req.device == Device::Cuda {
        // Before the data loads: an unsupported configuration or a missing GPU fails fast.
        check_supported(&cfg.model, cfg.loss)?;
    }
    check_device(req.device)?;
    #[cfg(feature = "cuda")]
    let gpu = match req.device {
        Device::Cuda => {
            let (be, name) = super::open_cuda()?;
            obs.message(&format!("device: {name}"));
            Some(be)
        }
        Device::Cpu => None,
    };
    let (data, title) = prepare(&cfg, &req.data)?;
    obs.message(&header(&cfg, &data, &title));
    if let Some(o) = &out {
        obs.message(&format!("writing to {}", o.display()));
    }
    let opts = TrainOptions {
        out: out.clone(),
        stop: req.stop,
        dataset_title: Some(title),
        ..Default::default()
    };
    #[cfg(feature = "cuda")]
    let mut outcome = match gpu {
        Some(be) => crate::train::train::train_on(be, &cfg, &data, resume, &opts, obs)?,
        None => train(&cfg, &data, resume, &opts, obs)?,
    };
    #[cfg(not(feature = "cuda"))]
    let mut outcome = train(&cfg, &data, resume, &opts, obs)?;
    let groups = match &outcome.test {
        Some(t) => class_groups(&mut outcome.model, &cfg, &data, t.threshold, EVAL_BATCH)?,
        None => None,
    };
    let history = outcome.state.history.iter();
    Ok(TrainReport {
        epochs: cfg.epochs,
        best: best_epoch(history.map(|r| (r.epoch, r.val_acc))),
        test: outcome.test,
        class_groups: groups,
        out,
        interrupted: outcome.interrupted,
    })
}

/// What `siamese train-baseline` ended with.
pub struct BaselineReport {
    /// The test evaluation of the best validation epoch's weights.
    pub test: BaselineEvaluation,
    /// The checkpoint written (baseline.safetensors in the run folder).
    pub checkpoint: PathBuf,
}

/// `siamese train-baseline`: the plain LeNet-5 classifier on `cfg` (validated), into `out`
/// (default: `runs/<dataset>-baseline`; claimed before the data loads: a file, or a folder
/// holding a baseline already unless `force`, is refused), tested at the end on the test
/// images of its classes (`--train-classes`, else all) and as a pair verifier on the run's
/// test pairs; the test figures go to baseline-test.json beside the weights.
pub fn baseline_run(
    cfg: &TrainConfig, out: Option<PathBuf>, force: bool, src: &DataSource, obs: &mut dyn Observer,
) -> Result<BaselineReport> {
    cfg.validate()?;
    let out =
        out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-baseline", cfg.dataset)));
    claim_folder(&out, &baseline_files(&out), force, false)?;
    let (data, title) = prepare(cfg, src)?;
    let epochs = match cfg.epochs {
        1 => "1 epoch".to_string(),
        n => format!("{n} epochs"),
    };
    obs.message(&format!(
        "LeNet-5 classifier on {}: {} training images, {epochs}, batch {}, Adam lr {}, seed {}",
        title,
        data.train_idx.len(),
        cfg.batch,
        cfg.lr,
        cfg.seed
    ));
    let (mut model, _) = train_baseline(cfg, &data, Some(out.clone()), obs)?;
    let [checkpoint, _, results] = baseline_files(&out);
    let test = model.evaluate(&data, cfg.train_classes.as_deref())?;
    let json = crate::model::json::to_pretty(&test)
        .map_err(|e| ModelError::Config(format!("{}: {e}", results.display())))?;
    crate::model::io::atomic_write(&results, json.as_bytes())
        .map_err(|e| ModelError::io(&results, e))?;
    Ok(BaselineReport { test, checkpoint })
}

/// `siamese sweep`'s data: every (lr, batch) setting of `base` ([`crate::train::sweep::grid`])
/// checked first, then the data read, with the dataset's title.
pub fn sweep_data(
    base: &TrainConfig, lrs: &[f32], batches: &[usize], src: &DataSource,
) -> Result<(RunData, String)> {
    for (lr, batch) in crate::train::sweep::grid(lrs, batches)? {
        TrainConfig {
            lr,
            batch,
            ..base.clone()
        }
        .validate()?;
    }
    prepare(base, src)
}

/// Writes one JSON line per sweep setting to `path` (atomically).
pub fn write_points(path: &Path, points: &[SweepPoint]) -> Result<()> {
    let mut lines = String::new();
    for p in points {
        let line = crate::model::json::to_line(p)
            .map_err(|e| ModelError::Config(format!("{}: {e}", path.display())))?;
        lines.push_str(&line);
        lines.push('\n');
    }
    crate::model::io::atomic_write(path, lines.as_bytes()).map_err(|e| ModelError::io(path, e))
}
