//! The scoring commands' pipelines: `siamese eval` ([`eval_checkpoint`]), `compare`
//! ([`compare_images`]) and `show` ([`show_predictions`]), and the threshold that calls a pair
//! "same" ([`threshold_of`]).

use std::path::{Path, PathBuf};

use super::data::{dataset_of, load, prepare, DataSource};
use super::{check_device, Device};
use crate::data::viz::{self, RgbImage, Verdict};
use crate::data::{images_tensor, read_image_fit, Label, Pair};
use crate::eval::groups::{evaluate_class_groups, GroupEvaluation};
use crate::model::checkpoint::{Checkpoint, FORMAT_CLASSIFIER};
use crate::model::config::validate_eval_batch;
use crate::model::json::{clean_f64, to_pretty};
use crate::model::metrics::says_same;
use crate::model::run::{RunData, RunFiles, TrainConfig};
use crate::model::score::{evaluate_with_threshold, PairEvaluation, EVAL_BATCH};
use crate::train::baseline::{BaselineEvaluation, Lenet5Classifier};
use crate::{ModelError, Result, SnLenet5};

/// The threshold that calls a pair "same" (s > t), and where it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    pub value: f32,
    /// Said after the value: "given by --threshold", "chosen on validation, …" or "0.5: …".
    pub source: &'static str,
}

/// The threshold that calls a pair "same": `given`, else the one chosen on validation (the
/// `threshold` of the run's test.json beside the checkpoint, which `siamese train` writes),
/// else 0.5 when there is none. A test.json that cannot be read is an error naming it.
pub fn threshold_of(checkpoint: &Path, given: Option<f32>) -> Result<Threshold> {
    if let Some(value) = given {
        return Ok(Threshold {
            value,
            source: "given by --threshold",
        });
    }
    let run = RunFiles {
        dir: checkpoint
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    Ok(match PairEvaluation::read(&run.test())? {
        Some(e) => Threshold {
            value: e.threshold,
            source: "chosen on validation, from the run's test.json",
        },
        None => Threshold {
            value: 0.5,
            source: "0.5: no test.json with a validation threshold beside the checkpoint",
        },
    })
}

/// What `siamese eval` measured.
pub enum EvalReport {
    /// A LeNet-5 classifier's test accuracy and speed.
    Classifier(Box<BaselineEvaluation>),
    /// SN-LeNet-5's test pairs.
    Pairs(Box<PairsReport>),
}

/// SN-LeNet-5's evaluation on a dataset's test pairs.
pub struct PairsReport {
    /// The dataset's title.
    pub title: String,
    /// The GPU it ran on (`--device cuda`).
    pub device: Option<String>,
    pub test: PairEvaluation,
    /// For a run trained on some classes: seen, unseen and mixed pairs.
    pub class_groups: Option<ClassGroups>,
    /// Where the threshold came from ([`Threshold::source`]).
    pub threshold_source: &'static str,
}

/// The class groups of a run trained on some classes only.
pub struct ClassGroups {
    /// The classes trained on.
    pub classes: Vec<Label>,
    /// Every class's name.
    pub names: Vec<String>,
    pub groups: Vec<GroupEvaluation>,
}

/// For a run trained on `cfg.train_classes` only: its seen, unseen and mixed test pairs scored
/// at `threshold` (None for a run on every class). `train` and `eval` both report them.
pub fn class_groups(
    model: &mut SnLenet5, cfg: &TrainConfig, data: &RunData, threshold: f32, batch: usize,
) -> Result<Option<ClassGroups>> {
    let Some(classes) = cfg.train_classes.clone() else {
        return Ok(None);
    };
    Ok(Some(ClassGroups {
        groups: evaluate_class_groups(model, &data.test, &classes, threshold, batch)?,
        names: data.test.class_names.clone(),
        classes,
    }))
}

impl EvalReport {
    /// The report as indented JSON: the evaluation's fields (and `class_groups`).
    pub fn json(&self) -> Result<String> {
        let json = |e: serde_json::Error| ModelError::Config(format!("JSON: {e}"));
        match self {
            EvalReport::Classifier(e) => to_pretty(e).map_err(json),
            EvalReport::Pairs(p) => {
                let mut v = serde_json::to_value(&p.test).map_err(json)?;
                if let Some(g) = &p.class_groups {
                    v["class_groups"] = serde_json::to_value(&g.groups).map_err(json)?;
                }
                to_pretty(&v).map_err(json)
            }
        }
    }
}

/// `siamese eval`: the checkpoint's test figures (a classifier's accuracy, or SN-LeNet-5's
/// pair evaluation at 0.5 and at the validation threshold, with its class groups), scoring
/// `batch` pairs at a time on `device`.
pub fn eval_checkpoint(
    checkpoint: &Path, src: &DataSource, batch: usize, device: Device,
) -> Result<EvalReport> {
    validate_eval_batch(batch)?;
    let ck = Checkpoint::load(checkpoint)?;
    let cfg = ck.train_config(checkpoint)?;
    if ck.format == FORMAT_CLASSIFIER && device == Device::Cuda {
        return Err(ModelError::Config(
            "--device cuda scores SN-LeNet-5 only; a LeNet-5 classifier is scored on the CPU"
                .into(),
        ));
    }
    let (data, title) = prepare(&cfg, src)?;
    if ck.format == FORMAT_CLASSIFIER {
        let mut m = Lenet5Classifier::from_checkpoint(&ck, checkpoint)?;
        let classes = cfg.train_classes.as_deref();
        return Ok(EvalReport::Classifier(Box::new(
            m.evaluate(&data, classes)?,
        )));
    }
    let (mut model, _) = SnLenet5::from_loaded_checkpoint(&ck, checkpoint)?;
    check_device(device)?;
    let (test, device) = match device {
        Device::Cpu => (evaluate_with_threshold(&mut model, &data, batch)?, None),
        #[cfg(feature = "cuda")]
        Device::Cuda => {
            use crate::model::device_step::DeviceModel;
            let (be, name) = super::open_cuda()?;
            let cfg = crate::optim::AdamConfig::default();
            let mut dev = DeviceModel::from_model(be, &model, cfg, None)?;
            (evaluate_with_threshold(&mut dev, &data, batch)?, Some(name))
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda => unreachable!("refused by check_device"),
    };
    let class_groups = class_groups(&mut model, &cfg, &data, test.threshold, batch)?;
    Ok(EvalReport::Pairs(Box::new(PairsReport {
        title,
        device,
        test,
        class_groups,
        threshold_source: "chosen on the validation pairs",
    })))
}

/// The similarity of two image files and the call at the run's threshold.
pub struct Comparison {
    pub a: PathBuf,
    pub b: PathBuf,
    pub similarity: f32,
    pub threshold: Threshold,
    /// s > t.
    pub same: bool,
    /// What was done to an image to fit the model (resized), one line each.
    pub notes: Vec<String>,
}

impl Comparison {
    /// The comparison as indented JSON.
    pub fn json(&self) -> Result<String> {
        let v = serde_json::json!({
            "a": self.a.display().to_string(),
            "b": self.b.display().to_string(),
            "similarity": clean_f64(self.similarity.into()),
            "threshold": clean_f64(self.threshold.value.into()),
            "threshold_source": self.threshold.source,
            "same_class": self.same,
        });
        serde_json::to_string_pretty(&v).map_err(|e| ModelError::Config(format!("JSON: {e}")))
    }
}

/// The (channels, height, width) that image files are read as for `model`: the one place
/// `compare`, `score` and `eval --pairs` take it from.
pub fn input_geometry(model: &SnLenet5) -> (usize, usize, usize) {
    let m = &model.config;
    (m.channels, m.height, m.width)
}

/// `siamese compare`: scores image files `a` and `b` (read as the checkpoint's input, brought
/// to its size by the run's fit when they differ) at the run's threshold ([`threshold_of`]).
pub fn compare_images(checkpoint: &Path, a: &Path, b: &Path) -> Result<Comparison> {
    let (mut model, cfg) = SnLenet5::from_checkpoint(checkpoint)?;
    let geometry = input_geometry(&model);
    let read = |p: &Path| read_image_fit(p, geometry, cfg.dataset.fit());
    let (ia, ib) = (read(a)?, read(b)?);
    let notes = [ia.resize_note(), ib.resize_note()]
        .into_iter()
        .flatten()
        .collect();
    let similarity = model.score(&ia.tensor()?, &ib.tensor()?, 1)?[0];
    let threshold = threshold_of(checkpoint, None)?;
    Ok(Comparison {
        a: a.to_path_buf(),
        b: b.to_path_buf(),
        similarity,
        same: says_same(similarity, threshold.value),
        threshold,
        notes,
    })
}

/// What `siamese show` draws.
pub struct ShowRequest {
    pub checkpoint: PathBuf,
    /// Test pairs shown.
    pub count: usize,
    /// Pairs per row and pixel enlargement.
    pub cols: usize,
    pub scale: usize,
    /// Seed choosing the pairs.
    pub seed: u64,
    /// The threshold given (else the run's, see [`threshold_of`]).
    pub threshold: Option<f32>,
    pub data: DataSource,
}

/// The picture of `siamese show` and what it shows.
pub struct ShowReport {
    pub image: RgbImage,
    /// Pairs shown, and called right.
    pub pairs: usize,
    pub right: usize,
    pub threshold: Threshold,
    /// The dataset's title.
    pub title: String,
}

/// `siamese show`: a grid of test pairs with their similarity and the call at the threshold.
pub fn show_predictions(r: &ShowRequest) -> Result<ShowReport> {
    let (mut model, cfg) = SnLenet5::from_checkpoint(&r.checkpoint)?;
    viz::grid_size(
        r.count,
        r.cols,
        r.scale,
        (cfg.model.height, cfg.model.width),
    )?;
    let threshold = threshold_of(&r.checkpoint, r.threshold)?;
    let loaded = load(&dataset_of(&cfg, &r.data)?, &r.data)?;
    let test = &loaded.test;
    let pairs: Vec<Pair> = viz::figure_pairs(test, r.count, r.seed)?;
    let ia: Vec<u32> = pairs.iter().map(|p| p.a).collect();
    let ib: Vec<u32> = pairs.iter().map(|p| p.b).collect();
    let (a, b) = (images_tensor(test, &ia)?, images_tensor(test, &ib)?);
    let s = model.score(&a, &b, EVAL_BATCH)?;
    let verdicts: Vec<Verdict> = pairs
        .iter()
        .zip(&s)
        .map(|(p, &s)| Verdict {
            similarity: s,
            same: p.y == 1,
            called_same: says_same(s, threshold.value),
        })
        .collect();
    let title = format!("SN-LeNet-5 on {} test pairs", loaded.title);
    let t = (threshold.value, threshold.source);
    let image = viz::prediction_grid(test, &pairs, &verdicts, t, &title, r.cols, r.scale)?;
    Ok(ShowReport {
        image,
        pairs: pairs.len(),
        right: verdicts.iter().filter(|v| v.same == v.called_same).count(),
        threshold,
        title: loaded.title,
    })
}
