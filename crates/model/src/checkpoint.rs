//! Checkpoints as safetensors files that PyTorch (`safetensors.torch.load_file`), candle and
//! numpy read directly.
//!
//! Tensor names say what they are and use PyTorch's layouts: `subnet.conv1.weight`
//! [out, in, kh, kw], `subnet.fc1.weight` [out, in], `head.bn.running_mean`, … An exact-resume
//! checkpoint adds the optimiser's moments as `optim.m.<param>` / `optim.v.<param>`. The
//! string metadata holds `format` (what network this is), `model` (the [`ModelConfig`] as
//! JSON) and, for resumable checkpoints, `state` (epoch, step, RNG seeds, … as JSON).
//! Files are written atomically (temp file + rename).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use siamese_autodiff::ParamStore;
use siamese_tensor::Tensor;

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};

/// `format` of an SN-LeNet-5 checkpoint.
pub const FORMAT_SIAMESE: &str = "siamese/sn-lenet5/v1";
/// `format` of a LeNet-5 classifier (baseline) checkpoint.
pub const FORMAT_CLASSIFIER: &str = "siamese/lenet5-classifier/v1";

/// A checkpoint in memory: named tensors plus string metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub format: String,
    pub model: ModelConfig,
    pub tensors: Vec<(String, Tensor)>,
    /// Further metadata (e.g. `state`, the resume state as JSON).
    pub extra: BTreeMap<String, String>,
}

fn to_bytes(t: &Tensor) -> Vec<u8> {
    t.data().iter().flat_map(|v| v.to_le_bytes()).collect()
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

    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, t)| (n.clone(), t.shape().to_vec(), to_bytes(t)))
            .collect();
        let mut views = Vec::with_capacity(bytes.len());
        for (n, shape, b) in &bytes {
            let v = TensorView::new(Dtype::F32, shape.clone(), b)
                .map_err(|e| ModelError::Config(format!("safetensors view of {n}: {e}")))?;
            views.push((n.clone(), v));
        }
        let mut meta: HashMap<String, String> = self.extra.clone().into_iter().collect();
        meta.insert("format".into(), self.format.clone());
        meta.insert(
            "model".into(),
            serde_json::to_string(&self.model).expect("ModelConfig serialises"),
        );
        safetensors::tensor::serialize(views, &Some(meta))
            .map_err(|e| ModelError::Config(format!("safetensors serialisation: {e}")))
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        crate::io::atomic_write(path, &bytes).map_err(|e| ModelError::io(path, e))
    }

    /// Reads a checkpoint; every failure is a one-line error naming the file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses safetensors bytes (`path` is used in error messages).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |m: String| ModelError::checkpoint(path, m);
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let mut meta: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
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
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let mut names: Vec<String> = st.names().into_iter().cloned().collect();
        names.sort();
        let mut tensors = Vec::with_capacity(names.len());
        for name in names {
            let v = st.tensor(&name).map_err(|e| bad(format!("{name}: {e}")))?;
            if v.dtype() != Dtype::F32 {
                return Err(bad(format!("{name} is {:?}, expected F32", v.dtype())));
            }
            let data: Vec<f32> = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let t = Tensor::from_vec(v.shape(), data).map_err(|e| bad(format!("{name}: {e}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siamese::SnLenet5;

    fn model(embedding: usize) -> SnLenet5 {
        let mut cfg = ModelConfig::for_input(1, 28, 28);
        cfg.embedding = embedding;
        SnLenet5::new(cfg, 3).unwrap()
    }

    #[test]
    fn round_trip_keeps_every_tensor_and_the_config() {
        let m = model(10);
        let mut ck = Checkpoint::from_store(FORMAT_SIAMESE, &m.config, &m.store);
        ck.extra.insert("note".into(), "hello".into());
        let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), Path::new("x")).unwrap();
        let mut sorted = ck.clone();
        sorted.tensors.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(back, sorted);
        // PyTorch layouts and names.
        assert_eq!(
            back.tensor("subnet.conv1.weight").unwrap().shape(),
            &[6, 1, 5, 5]
        );
        assert_eq!(
            back.tensor("subnet.fc1.weight").unwrap().shape(),
            &[120, 400]
        );
        assert!(back.tensor("head.bn.running_var").is_some());
        let mut fresh = model(10);
        fresh.store.value_mut(fresh.subnet.fc1.weight).data_mut()[0] = 123.0;
        back.load_into(&mut fresh.store, Path::new("x")).unwrap();
        assert_eq!(
            fresh.store.get("subnet.fc1.weight"),
            m.store.get("subnet.fc1.weight")
        );
    }

    #[test]
    fn another_architecture_is_refused_by_name() {
        let small = model(5);
        let ck = Checkpoint::from_store(FORMAT_SIAMESE, &small.config, &small.store);
        let mut big = model(10);
        let e = ck
            .load_into(&mut big.store, Path::new("a.safetensors"))
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("subnet.fc3") && msg.contains("another architecture"),
            "{msg}"
        );
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let m = model(10);
        let bytes = Checkpoint::from_store(FORMAT_SIAMESE, &m.config, &m.store)
            .to_bytes()
            .unwrap();
        for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                Checkpoint::from_bytes(&bytes[..cut], Path::new("t")).is_err(),
                "cut {cut}"
            );
        }
        let e = Checkpoint::from_bytes(b"garbage!garbage!", Path::new("g.st")).unwrap_err();
        assert!(e.to_string().contains("g.st"));
    }
}
