//! `siamese embed`: the test set's embeddings on their first two principal components (a PNG),
//! and optionally as CSV or .npy (siamese_eval::embed, siamese_eval::pca).

use std::path::{Path, PathBuf};

use clap::Args;
use siamese::eval::embed::{embeddings_csv, embeddings_npy, plot_scatter};
use siamese::eval::pca::scatter_2d;
use siamese::eval::retrieval::embed_images;

use crate::common::check_outputs;
use crate::source::{load, SourceArgs};
use crate::CliResult;

#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// The scatter of the test set's embeddings on their first two principal components (PNG).
    #[arg(long, default_value = "embedding.png")]
    plot: PathBuf,
    /// Also write the embeddings: `.csv` (label, class, e0, …) or `.npy` (float32, n × E).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What `--out` holds, from its extension: CSV or .npy (checked before any work).
#[derive(Clone, Copy)]
enum Format {
    Csv,
    Npy,
}

fn format_of(out: &Path) -> Result<Format, String> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("csv") => Ok(Format::Csv),
        Some("npy") => Ok(Format::Npy),
        _ => Err(format!("{}: --out must end in .csv or .npy", out.display())),
    }
}

pub fn run(a: EmbedArgs) -> CliResult {
    crate::common::check_png_name(&a.plot, "--plot")?;
    let format = a.out.as_deref().map(format_of).transpose()?;
    let mut outputs = vec![("--plot", a.plot.as_path())];
    outputs.extend(a.out.as_deref().map(|o| ("--out", o)));
    check_outputs(&outputs, &[("--checkpoint", &a.src.checkpoint)])?;
    let l = load(&a.src)?;
    let all: Vec<u32> = (0..l.test.len() as u32).collect();
    let dim = l.model.subnet.dims.embedding();
    let emb = embed_images(&l.model, &l.test, &all, a.src.work.batch)?;
    if let (Some(out), Some(format)) = (&a.out, format) {
        let bytes = match format {
            Format::Csv => {
                embeddings_csv(&emb, dim, &l.test.labels, &l.test.class_names).into_bytes()
            }
            Format::Npy => embeddings_npy(&emb, dim),
        };
        siamese::model::io::atomic_write(out, &bytes)
            .map_err(|e| format!("{}: {e}", out.display()))?;
        println!(
            "wrote {} ({} embeddings of {dim} values)",
            out.display(),
            l.test.len()
        );
    }
    let s = scatter_2d(&emb, dim, &l.test.labels)?;
    let title = format!(
        "{} test embeddings ({} images, E = {dim}), PCA",
        l.title,
        s.points.len()
    );
    let axes = (
        format!("PC 1 ({:.1}% of variance)", s.shares[0]),
        format!("PC 2 ({:.1}% of variance)", s.shares[1]),
    );
    plot_scatter(
        &a.plot,
        &title,
        (&axes.0, &axes.1),
        &s.points,
        &l.test.class_names,
    )?;
    println!(
        "wrote {}: {} test embeddings on their first two principal components ({:.1}% and {:.1}% of the variance)",
        a.plot.display(),
        s.points.len(),
        s.shares[0],
        s.shares[1]
    );
    Ok(())
}
