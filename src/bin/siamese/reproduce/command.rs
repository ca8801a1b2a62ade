//! `siamese reproduce`: trains every row of docs/results.md with its seeds (skipping those
//! already finished in the run folders) and rewrites the tables between the doc's
//! `<!-- reproduce:begin -->` and `<!-- reproduce:end -->` markers, once every row has all
//! its seeds finished (a partial or mistyped `--runs` never wipes the published figures). The rows, the running and
//! the tables are in this folder's mod.rs and render.rs; this file parses, loops and prints.

use std::path::{Path, PathBuf};

use clap::Args;
use siamese::pipeline::data::prepare;

use super::{
    collect, is_done, render, rows, run_seed, seed_config, seed_dir, splice, Row, RowResult, BEGIN,
    END,
};
use crate::args::{DataArgs, Shard};
use crate::common::{check_outputs, commit, set_threads};
use crate::progress::Progress;
use crate::CliResult;

#[derive(Args)]
pub struct ReproduceArgs {
    /// The CI smoke test of the pipeline: MNIST, 400 images, one epoch, a few rows (minutes).
    #[arg(long)]
    quick: bool,
    /// Run folders, one per row and seed (default: runs/reproduce, or runs/reproduce-quick).
    #[arg(long)]
    runs: Option<PathBuf>,
    /// The document to rewrite between its reproduce markers (default: docs/results.md, or
    /// <runs>/results.md with --quick; a missing file is created with just the tables).
    #[arg(long)]
    doc: Option<PathBuf>,
    /// Train nothing: re-read the finished runs and rewrite the tables (refused, the document
    /// untouched, unless every row has all its seeds finished).
    #[arg(long, conflicts_with_all = ["data_dir", "offline", "threads", "quiet", "commit"])]
    report_only: bool,
    /// Only these rows (comma-separated ids, e.g. mnist,fashion-mnist).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run only every N-th (row, seed) job from the I-th (0-based: 0/3, 1/3, 2/3), for N
    /// independent processes sharing one --runs folder (a Slurm job array: --shard
    /// $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT); the doc is then left alone: run
    /// --report-only when every shard has finished.
    #[arg(long, value_name = "I/N", conflicts_with = "report_only")]
    shard: Option<Shard>,
    #[command(flatten)]
    data: DataArgs,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Epoch lines only.
    #[arg(long, short)]
    quiet: bool,
    /// The commit to record for the runs (default: `git describe --always --dirty` here).
    #[arg(long)]
    commit: Option<String>,
}

pub fn run(a: ReproduceArgs) -> CliResult {
    if a.data.images.is_some() {
        return Err("reproduce runs the paper's benchmarks; train on your own images with `siamese train --images DIR` (or `sweep --images DIR`)".into());
    }
    set_threads(a.threads)?;
    let all = rows(a.quick);
    if let Some(bad) = a.only.iter().find(|id| !all.iter().any(|r| &r.id == *id)) {
        let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
        return Err(format!("unknown row '{bad}' (rows: {})", ids.join(", ")).into());
    }
    let picked: Vec<_> = all
        .iter()
        .filter(|r| a.only.is_empty() || a.only.contains(&r.id))
        .cloned()
        .collect();
    let default_runs = if a.quick {
        "runs/reproduce-quick"
    } else {
        "runs/reproduce"
    };
    let runs = a
        .runs
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_runs));
    let doc = match (&a.doc, a.quick) {
        (Some(d), _) => d.clone(),
        (None, true) => runs.join("results.md"),
        (None, false) => PathBuf::from("docs/results.md"),
    };
    // Before any training: the document must be a file that can be replaced.
    check_outputs(&[("--doc", &doc)], &[])?;
    if a.report_only && !runs.is_dir() {
        return Err(format!(
            "--runs {}: no such folder of runs; the tables of {} are left as they are",
            runs.display(),
            doc.display()
        )
        .into());
    }
    let commit = a.commit.clone().unwrap_or_else(commit);
    if !a.report_only {
        let jobs = picked
            .iter()
            .flat_map(|r| r.seeds.iter().map(move |&s| (r, s)));
        for (row, seed) in a.shard.unwrap_or(Shard::WHOLE).share(jobs) {
            train_job(&a, &runs, &commit, row, seed)?;
        }
    }
    if let Some(s) = a.shard {
        println!(
            "shard {}/{}: its runs are in {}; the tables are written by `siamese reproduce \
             --report-only --runs {}` once every shard has finished",
            s.index,
            s.count,
            runs.display(),
            runs.display()
        );
        return Ok(());
    }
    let results = collect(&runs, &all)?;
    refuse_incomplete(&results, &runs, &doc, a.quick)?;
    let tables = render(&results, if a.quick { " --quick" } else { "" });
    write_doc(&doc, &tables)?;
    println!(
        "wrote the tables of {} rows into {}",
        results.len(),
        doc.display()
    );
    Ok(())
}

/// The published tables are rewritten only from complete data: every row with every one of
/// its seeds finished in `runs`; otherwise an error naming the rows not finished (their
/// measured cells would become "not run"), and the document stays as it is.
fn refuse_incomplete(results: &[RowResult], runs: &Path, doc: &Path, quick: bool) -> CliResult {
    let missing: Vec<String> = results
        .iter()
        .filter(|r| r.seeds.len() < r.row.seeds.len())
        .map(|r| r.row.id.clone())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} of the {} rows have seeds not finished in {} ({}): {} is left as it is (its measured cells would become \"not run\"); `siamese reproduce{} --runs {}` finishes them, keeping the finished ones",
        missing.len(),
        results.len(),
        runs.display(),
        missing.join(", "),
        doc.display(),
        if quick { " --quick" } else { "" },
        runs.display()
    )
    .into())
}

/// Trains one (row, seed) into its folder under `runs`, unless a finished run of the same
/// configuration is there already.
fn train_job(a: &ReproduceArgs, runs: &Path, commit: &str, row: &Row, seed: u64) -> CliResult {
    let dir = seed_dir(runs, row, seed);
    let cfg = seed_config(row, seed);
    if is_done(&dir, &cfg) {
        println!(
            "{} seed {seed}: finished before, kept ({})",
            row.id,
            dir.display()
        );
        return Ok(());
    }
    println!(
        "{} seed {seed}: training into {} at {commit}",
        row.id,
        dir.display()
    );
    let (data, _) = prepare(&cfg, &a.data.source())?;
    run_seed(runs, row, seed, commit, &data, &mut Progress::new(a.quiet))?;
    Ok(())
}

/// Rewrites `doc` between its markers (atomically), or creates it holding only them.
fn write_doc(doc: &Path, tables: &str) -> CliResult {
    let text = match std::fs::read_to_string(doc) {
        Ok(old) => splice(&old, tables)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("{BEGIN}\n{}\n{END}\n", tables.trim_end())
        }
        Err(e) => return Err(format!("{}: {e}", doc.display()).into()),
    };
    if let Some(dir) = doc.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    siamese::model::io::atomic_write(doc, text.as_bytes())
        .map_err(|e| format!("{}: {e}", doc.display()))?;
    Ok(())
}
