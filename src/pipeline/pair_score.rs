//! A user's pair list scored by a checkpoint: `siamese score` ([`score_pair_list`],
//! [`score_to_file`]) streams `path_a,path_b,similarity,same` rows, and `siamese eval --pairs`
//! ([`eval_pair_list`]) evaluates a labelled list as `eval` does a dataset's test pairs.
//!
//! The list is scored a chunk at a time ([`ListScorer::chunk_pairs`] pairs): the chunk's
//! distinct image files are decoded once each, in parallel, and embedded once each by the
//! subnet; each pair's similarity is the model's own pair scoring on the two embeddings
//! ([`SnLenet5::score_indexed_with`], the path `eval` takes), so it equals `siamese compare`
//! on the same two files.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::score::{input_geometry, threshold_of, EvalReport, PairsReport, Threshold};
use super::Device;
use crate::data::pair_list::{
    open_pair_list, read_pair_list, write_csv_field, Labels, ListedPair, STDIN_NAME,
};
use crate::data::{read_image_fit, DataError, Fit, ImageSet, InputImage, Pair};
use crate::model::config::validate_eval_batch;
use crate::model::metrics::says_same;
use crate::model::score::evaluate_pairs;
use crate::tensor::Tensor;
use crate::{ModelError, Result, SnLenet5};

/// The most pairs scored as one chunk: 4096.
pub const CHUNK_PAIRS: usize = 4096;
/// The most decoded (f32) pixel data one chunk may hold: 256 MiB; a chunk of a model with
/// large inputs holds fewer pairs ([`ListScorer::chunk_pairs`]).
pub const CHUNK_BYTES: usize = 256 << 20;
/// The first line of `siamese score`'s output.
pub const SCORE_HEADER: &str = "path_a,path_b,similarity,same";

/// A checkpoint ready to score listed pairs.
pub struct ListScorer {
    model: SnLenet5,
    /// The model's input (channels, height, width): every file is read as it.
    geometry: (usize, usize, usize),
    /// The run's fit (a folder-trained network's `--fit`).
    fit: Fit,
    batch: usize,
    /// Images resized to fit the model so far, and the note for the first.
    pub resized: usize,
    pub first_resize_note: Option<String>,
}

impl ListScorer {
    /// Loads the SN-LeNet-5 checkpoint; `batch` images are embedded per subnet call.
    pub fn open(checkpoint: &Path, batch: usize) -> Result<Self> {
        validate_eval_batch(batch)?;
        let (model, cfg) = SnLenet5::from_checkpoint(checkpoint)?;
        Ok(Self {
            geometry: input_geometry(&model),
            fit: cfg.dataset.fit(),
            model,
            batch,
            resized: 0,
            first_resize_note: None,
        })
    }

    /// Pairs per chunk: [`CHUNK_PAIRS`], fewer when two decoded images per pair would pass
    /// [`CHUNK_BYTES`] (at least 1).
    pub fn chunk_pairs(&self) -> usize {
        let (c, h, w) = self.geometry;
        let per_pair = 2 * c * h * w * std::mem::size_of::<f32>();
        (CHUNK_BYTES / per_pair.max(1)).clamp(1, CHUNK_PAIRS)
    }

    /// The chunk's distinct files, decoded once each in parallel: the images and each pair
    /// as indices into them. A file that cannot be read is an error naming the list and the
    /// first line that lists it.
    pub fn decode<'p>(&mut self, list: &Path, pairs: &'p [ListedPair]) -> Result<Decoded> {
        let mut index: HashMap<&'p Path, u32> = HashMap::new();
        let mut files: Vec<(&'p Path, usize)> = Vec::new();
        let mut rows = Vec::with_capacity(pairs.len());
        for p in pairs {
            let mut id_of = |path: &'p Path| {
                *index.entry(path).or_insert_with(|| {
                    files.push((path, p.line));
                    (files.len() - 1) as u32
                })
            };
            rows.push((id_of(&p.a.path), id_of(&p.b.path)));
        }
        let (geometry, fit) = (self.geometry, self.fit);
        let decoded: Vec<Result<InputImage>> = files
            .par_iter()
            .map(|&(path, line)| {
                read_image_fit(path, geometry, fit).map_err(|e| listed_error(list, line, e))
            })
            .collect();
        let images = decoded.into_iter().collect::<Result<Vec<_>>>()?;
        for note in images.iter().filter_map(InputImage::resize_note) {
            self.resized += 1;
            self.first_resize_note.get_or_insert(note);
        }
        Ok(Decoded { images, rows })
    }

    /// The similarities of a chunk's pairs, in order.
    pub fn similarities(&mut self, list: &Path, pairs: &[ListedPair]) -> Result<Vec<f32>> {
        let Decoded { images, rows } = self.decode(list, pairs)?;
        let (c, h, w) = self.geometry;
        self.model
            .score_indexed_with(images.len(), &rows, self.batch, |ids| {
                let mut d = Vec::with_capacity(ids.len() * c * h * w);
                for &i in ids {
                    d.extend_from_slice(&images[i].pixels);
                }
                Ok(Tensor::from_vec(&[ids.len(), c, h, w], d)?)
            })
    }
}

/// A chunk's distinct images, and its pairs as indices into them.
pub struct Decoded {
    pub images: Vec<InputImage>,
    pub rows: Vec<(u32, u32)>,
}

/// An image error as a pair-list error: the list, the line, then the image's own message.
fn listed_error(list: &Path, line: usize, e: DataError) -> ModelError {
    ModelError::Data(DataError::PairList {
        path: list.to_path_buf(),
        line,
        message: e.to_string(),
    })
}

/// Checks that every file a list names is there before any is decoded: the first missing
/// one is an error naming the list and its line.
pub fn check_listed_files(list: &Path, pairs: &[ListedPair]) -> Result<()> {
    for p in pairs {
        for f in [&p.a, &p.b] {
            match std::fs::metadata(&f.path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => {
                    let e = DataError::Image {
                        path: f.path.clone(),
                        message: "not a file".into(),
                    };
                    return Err(listed_error(list, p.line, e));
                }
                Err(e) => return Err(listed_error(list, p.line, DataError::io(&f.path, e))),
            }
        }
    }
    Ok(())
}

/// What `siamese score` was asked.
pub struct ScoreRequest {
    pub checkpoint: PathBuf,
    /// The list, `-` for stdin.
    pub pairs: PathBuf,
    /// The threshold given (else the run's, [`threshold_of`]).
    pub threshold: Option<f32>,
    /// Images per subnet call.
    pub batch: usize,
}

/// What `siamese score` did.
pub struct ScoreSummary {
    pub pairs: usize,
    pub threshold: Threshold,
    pub seconds: f64,
    /// Images resized to fit the model (counted once per chunk that uses them) and the note
    /// for the first.
    pub resized: usize,
    pub first_resize_note: Option<String>,
}

/// `siamese score`: writes [`SCORE_HEADER`] and then one row per listed pair, in the list's
/// order, to `out`: the two paths as the list wrote them, the similarity (6 decimals) and
/// `same` (1 when s > t, else 0). A list file is read whole and every file it names checked
/// before any row; a list from stdin is streamed. Rows are written a chunk at a time, after
/// the chunk's images decoded: a bad image in the first chunk stops the command before any
/// output, a later one after the rows of the chunks before it. `progress` hears the pairs
/// scored so far and the list's length when known.
pub fn score_pair_list(
    r: &ScoreRequest, out: &mut dyn Write, progress: &mut dyn FnMut(usize, Option<usize>),
) -> Result<ScoreSummary> {
    let mut scorer = ListScorer::open(&r.checkpoint, r.batch)?;
    let threshold = threshold_of(&r.checkpoint, r.threshold)?;
    let (list, total, mut records) = listed_pairs(&r.pairs)?;
    let io = |e: std::io::Error| ModelError::io("the output", e);
    let start = Instant::now();
    let mut done = 0;
    loop {
        let chunk = records
            .by_ref()
            .take(scorer.chunk_pairs())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if chunk.is_empty() {
            break;
        }
        let s = scorer.similarities(&list, &chunk)?;
        if done == 0 {
            writeln!(out, "{SCORE_HEADER}").map_err(io)?;
        }
        write_rows(out, &chunk, &s, threshold.value).map_err(io)?;
        out.flush().map_err(io)?;
        done += chunk.len();
        progress(done, total);
    }
    Ok(ScoreSummary {
        pairs: done,
        threshold,
        seconds: start.elapsed().as_secs_f64(),
        resized: scorer.resized,
        first_resize_note: scorer.first_resize_note,
    })
}

type Records = Box<dyn Iterator<Item = std::result::Result<ListedPair, DataError>>>;

/// The list's name, its length when known, and its records: a file read whole and its
/// files checked ([`check_listed_files`]), stdin streamed.
fn listed_pairs(path: &Path) -> Result<(PathBuf, Option<usize>, Records)> {
    if path == Path::new("-") {
        let reader = open_pair_list(path, Labels::Optional)?;
        return Ok((PathBuf::from(STDIN_NAME), None, Box::new(reader)));
    }
    let pairs = read_pair_list(path, Labels::Optional)?;
    check_listed_files(path, &pairs)?;
    let n = pairs.len();
    Ok((
        path.to_path_buf(),
        Some(n),
        Box::new(pairs.into_iter().map(Ok)),
    ))
}

/// The rows of `pairs` with similarities `s`, called at `threshold`.
fn write_rows(
    out: &mut dyn Write, pairs: &[ListedPair], s: &[f32], threshold: f32,
) -> std::io::Result<()> {
    for (p, &s) in pairs.iter().zip(s) {
        write_csv_field(out, &p.a.written)?;
        out.write_all(b",")?;
        write_csv_field(out, &p.b.written)?;
        writeln!(out, ",{s:.6},{}", u8::from(says_same(s, threshold)))?;
    }
    Ok(())
}

/// Either failure of a write to a temp file: the file's or the scoring's.
enum WriteError {
    Io(std::io::Error),
    Model(ModelError),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        WriteError::Io(e)
    }
}

/// [`score_pair_list`] into the file `out`, atomically (a temp file beside it, synced, then
/// renamed: nothing is written at `out` unless every pair is scored). The caller checks
/// first that `out` is neither the list nor the checkpoint (`siamese::model::io::check_outputs`).
pub fn score_to_file(
    r: &ScoreRequest, out: &Path, progress: &mut dyn FnMut(usize, Option<usize>),
) -> Result<ScoreSummary> {
    let mut summary = None;
    let written = crate::model::io::atomic_write_with(out, |tmp| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(tmp)?);
        summary = Some(score_pair_list(r, &mut f, progress).map_err(WriteError::Model)?);
        f.flush()?;
        f.get_ref().sync_all()?;
        Ok::<(), WriteError>(())
    });
    match written {
        Ok(()) => Ok(summary.expect("set when the write succeeded")),
        Err(WriteError::Io(e)) => Err(ModelError::io(out, e)),
        Err(WriteError::Model(e)) => Err(e),
    }
}

/// `siamese eval --pairs`: the labelled list as the test set, at the run's validation
/// threshold ([`threshold_of`]) and at 0.5, by [`evaluate_pairs`] (confusion counts, ROC
/// AUC, EER, scoring time), on the CPU.
pub fn eval_pair_list(
    checkpoint: &Path, list: &Path, batch: usize, device: Device,
) -> Result<EvalReport> {
    if device == Device::Cuda {
        return Err(ModelError::Config(
            "eval --pairs scores on the CPU; leave out --device cuda".into(),
        ));
    }
    let mut scorer = ListScorer::open(checkpoint, batch)?;
    let threshold = threshold_of(checkpoint, None)?;
    let pairs = read_pair_list(list, Labels::Required)?;
    check_listed_files(list, &pairs)?;
    let (set, pairs) = listed_set(&mut scorer, list, &pairs)?;
    let test = evaluate_pairs(&mut scorer.model, &set, &pairs, threshold.value, batch)?;
    Ok(EvalReport::Pairs(Box::new(PairsReport {
        title: list.display().to_string(),
        device: None,
        test,
        class_groups: None,
        threshold_source: threshold.source,
    })))
}

/// The list's distinct images as one [`ImageSet`] (u8 pixels, decoded a chunk at a time)
/// and its pairs as indices into it, labelled.
fn listed_set(
    scorer: &mut ListScorer, list: &Path, listed: &[ListedPair],
) -> Result<(Arc<ImageSet>, Arc<Vec<Pair>>)> {
    let mut index: HashMap<PathBuf, u32> = HashMap::new();
    let mut bytes = Vec::new();
    let mut pairs = Vec::with_capacity(listed.len());
    for chunk in listed.chunks(scorer.chunk_pairs()) {
        let Decoded { images, rows } = scorer.decode(list, chunk)?;
        let mut ids = Vec::with_capacity(images.len());
        for img in &images {
            let next = index.len() as u32;
            ids.push(*index.entry(img.path.clone()).or_insert_with(|| {
                bytes.extend(img.pixels.iter().map(|&v| unscale_pixel(v)));
                next
            }));
        }
        for (p, (a, b)) in chunk.iter().zip(rows) {
            let y = u8::from(p.same == Some(true));
            pairs.push(Pair {
                a: ids[a as usize],
                b: ids[b as usize],
                y,
            });
        }
    }
    let n = index.len();
    let set = ImageSet::new(bytes, vec![0; n], scorer.geometry, vec!["listed".into()])?;
    Ok((Arc::new(set), Arc::new(pairs)))
}

/// The byte p whose [`crate::data::scale_pixel`] is `v` (the decoder's pixels are p / 255).
fn unscale_pixel(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    #[test]
    fn unscale_inverts_scale_pixel_for_every_byte() {
        for p in 0..=255u8 {
            assert_eq!(super::unscale_pixel(crate::data::scale_pixel(p)), p);
        }
    }
}
