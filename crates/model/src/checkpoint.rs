//! Checkpoints as safetensors files that PyTorch (`safetensors.torch.load_file`), candle and
//! numpy read directly.
//!
//! Tensor names say what they are and use PyTorch's layouts: `subnet.conv1.weight`
//! [out, in, kh, kw], `subnet.fc1.weight` [out, in], `head.bn.running_mean`, … An exact-resume
//! checkpoint adds the optimiser's moments as `optim.m.<param>` / `optim.v.<param>`. The
//! string metadata holds `format` (what network this is), `model` (the [`ModelConfig`] as
//! JSON), for checkpoints of a training run `train` (the [`TrainConfig`] as JSON, whose seed
//! and epoch number give every random choice) and `epoch` (best.safetensors), and for
//! resumable checkpoints `state` (the [`TrainState`] as JSON) and `adam_step`.
//! Files are written atomically (temp file + rename).
//!
//! Loading a trained network is [`SnLenet5::from_checkpoint`] (weights plus the
//! [`TrainConfig`] it was trained with); continuing a run is [`load_resume`], which also
//! restores Adam's moments and the [`TrainState`] written by [`Checkpoint::resumable`].

use std::collections::BTreeMap;
use std::path::Path;

use siamese_autodiff::ParamStore;
use siamese_optim::AdamState;
use siamese_tensor::Tensor;

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::run::{TrainConfig, TrainState};
use crate::siamese::SnLenet5;

mod format;

/// Name prefix of the best validation epoch's weights in a resumable checkpoint.
const BEST_PREFIX: &str = "best.";

/// `format` of an SN-LeNet-5 checkpoint.
pub const FORMAT_SIAMESE: &str = "siamese/sn-lenet5/v1";
/// `format` of a LeNet-5 classifier (baseline) checkpoint.
pub const FORMAT_CLASSIFIER: &str = "siamese/lenet5-classifier/v1";

/// The largest checkpoint file read: 1 GiB (SN-LeNet-5 on 28×28 inputs is about 250 KB, and
/// 1.5 MB with Adam's moments and the best weights).
pub const MAX_CHECKPOINT_BYTES: u64 = 1 << 30;

/// Checks that the subnet tensors `shape_of` declares are those `model` (a checkpoint's
/// metadata) needs, by name, before a model is built from it: a wrong or hostile `model`
/// metadata (an embedding of 2^33 over the weights of an embedding of 10) is an error naming
/// the tensor, not an allocation.
fn check_subnet_shapes(
    model: &ModelConfig, path: &Path, shape_of: impl Fn(&str) -> Option<Vec<usize>>,
) -> Result<()> {
    for (name, want) in model.dims()?.subnet_shapes("subnet") {
        match shape_of(&name) {
            None => {
                return Err(ModelError::checkpoint(
                    path,
                    format!("has no tensor '{name}': it was saved from another architecture"),
                ))
            }
            Some(got) if got != want => {
                return Err(ModelError::checkpoint(
                    path,
                    format!(
                        "tensor '{name}' is {got:?} but its 'model' metadata needs {want:?}: another architecture, or metadata that does not match the weights"
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A checkpoint in memory: named tensors plus string metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub format: String,
    pub model: ModelConfig,
    pub tensors: Vec<(String, Tensor)>,
    /// Further metadata (e.g. `state`, the resume state as JSON).
    pub extra: BTreeMap<String, String>,
}

impl Checkpoint {
    /// A checkpoint of every parameter and buffer of `store`.
    pub fn from_store(format: &str, model: &ModelConfig, store: &ParamStore) -> Self {
        Self {
            format: format.into(),
            model: model.clone(),
            tensors: store
                .named_tensors()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect(),
            extra: BTreeMap::new(),
        }
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Copies every parameter and buffer of `store` from this checkpoint; errors name the
    /// first tensor that is missing or of another shape (a checkpoint of another
    /// architecture).
    pub fn load_into(&self, store: &mut ParamStore, path: &Path) -> Result<()> {
        let names: Vec<(String, Vec<usize>)> = store
            .named_tensors()
            .map(|(n, t)| (n.to_string(), t.shape().to_vec()))
            .collect();
        for (name, shape) in names {
            let t = self.tensor(&name).ok_or_else(|| {
                ModelError::checkpoint(
                    path,
                    format!("has no tensor '{name}': it was saved from another architecture"),
                )
            })?;
            if t.shape() != shape.as_slice() {
                return Err(ModelError::checkpoint(
                    path,
                    format!(
                        "tensor '{name}' is {:?} but this model needs {shape:?}: another architecture",
                        t.shape()
                    ),
                ));
            }
            store.set(&name, t)?;
        }
        Ok(())
    }

    /// Serialises to safetensors bytes (written by hand: `checkpoint/format.rs`).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let tensors: Vec<(&str, &[usize], &[f32])> = self
            .tensors
            .iter()
            .map(|(n, t)| (n.as_str(), t.shape(), t.data()))
            .collect();
        let mut meta = self.extra.clone();
        meta.insert("format".into(), self.format.clone());
        meta.insert(
            "model".into(),
            // Numbers and unit enums: serde_json cannot fail on them.
            serde_json::to_string(&self.model).expect("ModelConfig serialises"),
        );
        format::serialize(&tensors, &meta)
            .map_err(|e| ModelError::Config(format!("safetensors serialisation: {e}")))
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        crate::io::atomic_write(path, &bytes).map_err(|e| ModelError::io(path, e))
    }

    /// Reads a checkpoint; every failure is a one-line error naming the file. Files over
    /// [`MAX_CHECKPOINT_BYTES`] are refused before they are read.
    pub fn load(path: &Path) -> Result<Self> {
        use std::io::Read;
        let io = |e| ModelError::io(path, e);
        let f = std::fs::File::open(path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        if len > MAX_CHECKPOINT_BYTES {
            return Err(ModelError::checkpoint(
                path,
                format!("is {len} bytes, more than the {MAX_CHECKPOINT_BYTES}-byte limit"),
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        f.take(MAX_CHECKPOINT_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses safetensors bytes (`path` is used in error messages).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |m: String| ModelError::checkpoint(path, m);
        let st = format::parse(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let mut meta = st.metadata.clone();
        let format = meta
            .remove("format")
            .ok_or_else(|| bad("no 'format' metadata: not a siamese checkpoint".into()))?;
        if format != FORMAT_SIAMESE && format != FORMAT_CLASSIFIER {
            return Err(bad(format!("unknown format '{format}'")));
        }
        let model_json = meta
            .remove("model")
            .ok_or_else(|| bad("no 'model' metadata".into()))?;
        let model: ModelConfig = serde_json::from_str(&model_json)
            .map_err(|e| bad(format!("bad 'model' metadata: {e}")))?;
        model
            .validate()
            .map_err(|e| bad(format!("bad 'model' metadata: {e}")))?;
        // The metadata against the tensors' declared shapes, before any tensor is decoded or
        // any model is built from the metadata.
        check_subnet_shapes(&model, path, |name| {
            st.tensors.get(name).map(|e| e.shape.clone())
        })?;
        // In name order (the map's).
        let mut tensors = Vec::with_capacity(st.tensors.len());
        for (name, e) in &st.tensors {
            let name = name.clone();
            if e.dtype != "F32" {
                return Err(bad(format!("{name} is {}, expected F32", e.dtype)));
            }
            let data: Vec<f32> = st.data[e.range.clone()]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if let Some(i) = data.iter().position(|x| !x.is_finite()) {
                return Err(bad(format!(
                    "tensor '{name}' holds {} at index {i}: its weights are not finite (a diverged run or a damaged file)",
                    data[i]
                )));
            }
            let t = Tensor::from_vec(&e.shape, data).map_err(|e| bad(format!("{name}: {e}")))?;
            tensors.push((name, t));
        }
        Ok(Self {
            format,
            model,
            tensors,
            extra: meta,
        })
    }
}

impl Checkpoint {
    /// An SN-LeNet-5 checkpoint of every tensor of `store`, with the run's training config as
    /// the `train` metadata (what `eval`, `compare`, `show` and `--resume` read back).
    pub fn of_run(cfg: &TrainConfig, store: &ParamStore) -> Self {
        let mut ck = Self::from_store(FORMAT_SIAMESE, &cfg.model, store);
        ck.extra.insert(
            "train".into(),
            // Numbers, strings, Options and unit enums: serde_json cannot fail on them.
            serde_json::to_string(cfg).expect("TrainConfig serialises"),
        );
        ck
    }

    /// The resumable checkpoint of a run (`last.safetensors`): [`Checkpoint::of_run`] plus
    /// Adam's moments as `optim.m.<param>` / `optim.v.<param>`, its step count and the
    /// [`TrainState`].
    pub fn resumable(
        cfg: &TrainConfig, model: &SnLenet5, adam: &AdamState, state: &TrainState,
    ) -> Self {
        let mut ck = Self::of_run(cfg, &model.store);
        for (i, (name, _)) in model.store.params().enumerate() {
            if let (Some(m), Some(v)) = (adam.m.get(i), adam.v.get(i)) {
                ck.tensors.push((format!("optim.m.{name}"), m.clone()));
                ck.tensors.push((format!("optim.v.{name}"), v.clone()));
            }
        }
        for (name, t) in state.best_weights.iter().flatten() {
            ck.tensors.push((format!("{BEST_PREFIX}{name}"), t.clone()));
        }
        ck.extra.insert(
            "state".into(),
            // A struct of numbers, strings and Options: serde_json cannot fail on it (its
            // floats are written as null if ever non-finite).
            serde_json::to_string(state).expect("TrainState serialises"),
        );
        ck.extra.insert("adam_step".into(), adam.step.to_string());
        ck
    }

    /// The training config this checkpoint was made with (its `train` metadata); `path`
    /// names the file in errors.
    pub fn train_config(&self, path: &Path) -> Result<TrainConfig> {
        let raw = self.extra.get("train").ok_or_else(|| {
            ModelError::checkpoint(
                path,
                "has no training config: it was not written by siamese train",
            )
        })?;
        let bad = |e: String| ModelError::checkpoint(path, format!("bad 'train' metadata: {e}"));
        let cfg: TrainConfig = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        cfg.validate().map_err(|e| bad(e.to_string()))?;
        Ok(cfg)
    }
}

impl SnLenet5 {
    /// Reads an SN-LeNet-5 checkpoint written by `siamese train` (`best.safetensors` or
    /// `last.safetensors`): the network in evaluation mode with the checkpoint's weights, and
    /// the training config it was made with. Every failure is one line naming the file: not
    /// readable, not a safetensors file, a classifier checkpoint, no training config, a tensor
    /// missing or of another shape.
    pub fn from_checkpoint(path: &Path) -> Result<(Self, TrainConfig)> {
        Self::from_loaded_checkpoint(&Checkpoint::load(path)?, path)
    }

    /// As [`SnLenet5::from_checkpoint`], from a checkpoint already read (`path` names it in
    /// errors).
    pub fn from_loaded_checkpoint(ck: &Checkpoint, path: &Path) -> Result<(Self, TrainConfig)> {
        if ck.format != FORMAT_SIAMESE {
            return Err(ModelError::checkpoint(
                path,
                format!("is a {} checkpoint, not SN-LeNet-5", ck.format),
            ));
        }
        let cfg = ck.train_config(path)?;
        ck.model
            .validate()
            .map_err(|e| ModelError::checkpoint(path, format!("bad 'model' metadata: {e}")))?;
        check_subnet_shapes(&ck.model, path, |name| {
            ck.tensor(name).map(|t| t.shape().to_vec())
        })?;
        let mut model = SnLenet5::new(ck.model.clone(), cfg.seed)?;
        model.detach_head = cfg.loss.trains_head_apart();
        ck.load_into(&mut model.store, path)?;
        model.set_training(false);
        Ok((model, cfg))
    }
}

/// Restores (config, model, optimizer state, run state) from a resumable checkpoint written
/// by [`Checkpoint::resumable`].
pub fn load_resume(path: &Path) -> Result<(TrainConfig, SnLenet5, AdamState, TrainState)> {
    let ck = Checkpoint::load(path)?;
    let bad = |m: String| ModelError::checkpoint(path, m);
    let (mut model, cfg) = SnLenet5::from_loaded_checkpoint(&ck, path)?;
    model.set_training(true);
    let mut state: TrainState = serde_json::from_str(
        ck.extra
            .get("state")
            .ok_or_else(|| bad("has no training state (resume from last.safetensors)".into()))?,
    )
    .map_err(|e| bad(format!("bad 'state' metadata: {e}")))?;
    let best: Vec<(String, Tensor)> = ck
        .tensors
        .iter()
        .filter_map(|(n, t)| Some((n.strip_prefix(BEST_PREFIX)?.to_string(), t.clone())))
        .collect();
    if !best.is_empty() {
        state.best_weights = Some(best);
    }
    let step: u64 = ck
        .extra
        .get("adam_step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("has no 'adam_step' metadata".into()))?;
    let mut adam = AdamState {
        step,
        m: Vec::new(),
        v: Vec::new(),
    };
    if step > 0 {
        for (name, _) in model.store.params() {
            let get = |p: &str| {
                ck.tensor(&format!("optim.{p}.{name}"))
                    .cloned()
                    .ok_or_else(|| bad(format!("has no optimiser moment optim.{p}.{name}")))
            };
            adam.m.push(get("m")?);
            adam.v.push(get("v")?);
        }
    }
    Ok((cfg, model, adam, state))
}

#[cfg(test)]
mod tests;
