//! `siamese export` ([`export_onnx`]): a trained SN-LeNet-5 checkpoint as an ONNX file
//! (`siamese_model::onnx`), and [`write_reference`], our own scores of a dataset's test
//! pairs written for `scripts/onnx_check.py`, which holds ONNX Runtime's to them.

use std::path::{Path, PathBuf};

use super::data::{prepare, DataSource};
use super::score::{threshold_of, Threshold};
use crate::data::Pair;
use crate::eval::embed::embeddings_npy;
use crate::eval::retrieval::embed_images;
use crate::model::checkpoint::{Checkpoint, FORMAT_CLASSIFIER};
use crate::model::io::{atomic_write, write_target};
use crate::model::onnx::{export, Part};
use crate::model::run::RunFiles;
use crate::model::score::{score_pairs, time_scoring, EVAL_BATCH};
use crate::{ModelError, Result, SnLenet5};

/// What `siamese export` wrote.
pub struct ExportReport {
    pub out: PathBuf,
    pub part: Part,
    pub bytes: usize,
    /// The threshold recorded in the metadata, and where it came from.
    pub threshold: Threshold,
    /// The dataset the checkpoint was trained on.
    pub dataset: String,
}

/// Errors unless `out` may be written: its folder exists, it is not a directory, FIFO or
/// device (`write_target`), and it is not one of the inputs (the checkpoint, the run's
/// test.json), named directly or through a link.
fn check_out(out: &Path, inputs: &[&Path]) -> Result<()> {
    let target = write_target(out).map_err(|e| ModelError::Config(e.to_string()))?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(ModelError::Config(format!(
            "{}: folder {} does not exist",
            out.display(),
            dir.display()
        )));
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let Some(input) = inputs.iter().find(|i| same(&target, i)) {
        return Err(ModelError::Config(format!(
            "--out {} is the input {}: refusing to overwrite it",
            out.display(),
            input.display()
        )));
    }
    Ok(())
}

/// The trained network of an SN-LeNet-5 checkpoint; a classifier (baseline) checkpoint is
/// refused by name.
fn load_siamese(checkpoint: &Path) -> Result<(SnLenet5, crate::TrainConfig)> {
    let ck = Checkpoint::load(checkpoint)?;
    if ck.format == FORMAT_CLASSIFIER {
        return Err(ModelError::checkpoint(
            checkpoint,
            "is a LeNet-5 classifier (train-baseline) checkpoint: export writes SN-LeNet-5, a pair model or its subnet",
        ));
    }
    SnLenet5::from_loaded_checkpoint(&ck, checkpoint)
}

/// `siamese export`: `part` of the SN-LeNet-5 at `checkpoint` as ONNX at `out` (written
/// atomically), its metadata the dataset, the input shape, the threshold chosen on validation
/// ([`threshold_of`]), `commit` and the training config. Every check comes before any work.
pub fn export_onnx(
    checkpoint: &Path, out: &Path, part: Part, commit: &str,
) -> Result<ExportReport> {
    // The run's test.json, where threshold_of reads the threshold (RunFiles names it).
    let run = RunFiles {
        dir: checkpoint
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let test_json = run.test();
    check_out(out, &[checkpoint, &test_json])?;
    let (model, cfg) = load_siamese(checkpoint)?;
    let threshold = threshold_of(checkpoint, None)?;
    let dataset = cfg.dataset.name().to_string();
    let train =
        serde_json::to_string(&cfg).map_err(|e| ModelError::Config(format!("JSON: {e}")))?;
    let meta = [
        ("dataset", dataset.clone()),
        ("threshold", format!("{}", threshold.value)),
        ("threshold_source", threshold.source.to_string()),
        ("commit", commit.to_string()),
        ("train", train),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let bytes = export(&model, part, &meta);
    atomic_write(out, &bytes).map_err(|e| ModelError::io(out, e))?;
    Ok(ExportReport {
        out: out.to_path_buf(),
        part,
        bytes: bytes.len(),
        threshold,
        dataset,
    })
}

/// What [`write_reference`] wrote.
pub struct ReferenceReport {
    pub pairs: usize,
    pub images: usize,
    /// Our median seconds to score the first min(pairs, 10,000) pairs (`time_scoring`).
    pub score_seconds: f64,
    pub timed_pairs: usize,
}

/// Our side of the ONNX check, into folder `dir`, for the first `pairs` test pairs of the
/// checkpoint's dataset: `pixels.npy` (the M images those pairs use, raw pixel values 0–255
/// as float32, M × C·H·W), `pairs.npy` (P × 2 rows of pixels.npy) and `labels.npy` (P × 1),
/// our `similarity.npy` (P × 1, `siamese eval`'s scoring) and `embedding.npy` (M × E), and
/// `reference.json` (the threshold, our median time over `reps` runs to score the first
/// min(P, 10,000) pairs, batches of 1000, and the thread count).
pub fn write_reference(
    checkpoint: &Path, src: &DataSource, pairs: usize, reps: usize, dir: &Path,
) -> Result<ReferenceReport> {
    let (mut model, cfg) = load_siamese(checkpoint)?;
    let threshold = threshold_of(checkpoint, None)?;
    let (data, title) = prepare(&cfg, src)?;
    let n = pairs.min(data.test_pairs.len());
    let chosen: Vec<Pair> = data.test_pairs[..n].to_vec();
    let (ids, rows) = used_images(&chosen, data.test.len());
    let set = &data.test;
    let (s, y) = score_pairs(
        &mut model,
        set,
        &std::sync::Arc::new(chosen.clone()),
        EVAL_BATCH,
    )?;
    let emb = embed_images(&model, set, &ids, EVAL_BATCH)?;
    let score_seconds = time_scoring(&mut model, set, &chosen, EVAL_BATCH, reps)?;
    let per = set.image_len();
    let pixels: Vec<f32> = ids
        .iter()
        .flat_map(|&i| {
            set.images[i as usize * per..][..per]
                .iter()
                .map(|&p| f32::from(p))
        })
        .collect();
    let idx: Vec<f32> = chosen
        .iter()
        .flat_map(|p| [rows[p.a as usize] as f32, rows[p.b as usize] as f32])
        .collect();
    let timed_pairs = n.min(crate::model::score::TIMED_PAIRS);
    let json = serde_json::json!({
        "dataset": title, "threshold": threshold.value, "pairs": n, "images": ids.len(),
        "timed_pairs": timed_pairs, "score_seconds": score_seconds, "eval_batch": EVAL_BATCH,
        "threads": rayon::current_num_threads(),
    });
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let files: [(&str, Vec<u8>); 6] = [
        ("pixels.npy", embeddings_npy(&pixels, per)),
        ("pairs.npy", embeddings_npy(&idx, 2)),
        ("labels.npy", embeddings_npy(&y, 1)),
        ("similarity.npy", embeddings_npy(&s, 1)),
        (
            "embedding.npy",
            embeddings_npy(&emb, model.subnet.dims.embedding()),
        ),
        ("reference.json", json.to_string().into_bytes()),
    ];
    for (name, bytes) in files {
        let p = dir.join(name);
        atomic_write(&p, &bytes).map_err(|e| ModelError::io(&p, e))?;
    }
    Ok(ReferenceReport {
        pairs: n,
        images: ids.len(),
        score_seconds,
        timed_pairs,
    })
}

/// The images `pairs` use, in index order, and each image's row among them.
fn used_images(pairs: &[Pair], n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut used = vec![false; n];
    for p in pairs {
        used[p.a as usize] = true;
        used[p.b as usize] = true;
    }
    let ids: Vec<u32> = (0..n as u32).filter(|&i| used[i as usize]).collect();
    let mut rows = vec![u32::MAX; n];
    for (r, &i) in ids.iter().enumerate() {
        rows[i as usize] = r as u32;
    }
    (ids, rows)
}
