//! `siamese export`: a trained SN-LeNet-5 as an ONNX file (the pair model, or with
//! `--part subnet` the embedding network alone). The pipeline is
//! [`siamese::pipeline::export::export_onnx`]; docs/onnx.md describes the file.

use std::path::PathBuf;

use clap::Args;
use siamese::model::onnx::{Part, OPSET};
use siamese::pipeline::export::export_onnx;

use crate::CliResult;

#[derive(Args)]
pub struct ExportArgs {
    /// An SN-LeNet-5 checkpoint (best.safetensors or last.safetensors of a run).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The ONNX file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// What to export: `pair` (images a, b → similarity, distance) or `subnet` (image → embedding).
    #[arg(long, default_value = "pair", value_parser = ["pair", "subnet"])]
    pub part: String,
    /// The commit to record in the metadata (default: `git describe --always --dirty` here).
    #[arg(long)]
    pub commit: Option<String>,
}

pub fn run(a: ExportArgs) -> CliResult {
    let part: Part = a.part.parse()?;
    let commit = a.commit.clone().unwrap_or_else(crate::common::commit);
    let r = export_onnx(&a.checkpoint, &a.out, part, &commit)?;
    println!(
        "wrote {} ({} bytes): the {} model of a {} run, ONNX opset {OPSET}, threshold {:.4} ({})",
        r.out.display(),
        r.bytes,
        r.part.name(),
        r.dataset,
        r.threshold.value,
        r.threshold.source
    );
    Ok(())
}
