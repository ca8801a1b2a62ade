//! `siamese-bench` (also run as `siamese bench`): training throughput (pairs/s, steady
//! state), the time to score 10,000 pairs, peak RSS, heap allocations per training step and
//! live-heap growth, on 1 and 2 threads.
//!
//! A training step here is the step `siamese train` runs, [`train_step`] of siamese-model
//! (zero gradients → taped forward over the stacked pair batch → contrastive loss → backward
//! → Adam), on batches prepared in memory beforehand, so the figure is the network's and the
//! optimizer's time, not the loader's. Images are real MNIST when `--data-dir` (or
//! `$SIAMESE_DATA_DIR`) holds it, else synthetic (seeded uniform pixels, same shapes). Each
//! thread count runs in its own rayon pool. This program alone installs the counting
//! allocator ([`alloc::Counting`]); the `siamese` program runs with the system allocator.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use serde::Serialize;
use siamese::model::siamese::stack_pairs;
use siamese::model::train::train_step;
use siamese::model::{LossKind, ModelConfig, SnLenet5};
use siamese::optim::{Adam, AdamConfig};

mod alloc;
#[path = "../shared/cli.rs"]
mod cli;
mod data;

use data::BenchData;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Training pairs/s (steady state), time to score 10,000 pairs, peak RSS and heap
/// allocations per step of SN-LeNet-5, on 1 and 2 threads.
#[derive(Parser)]
#[command(name = "siamese bench", bin_name = "siamese bench", version)]
pub struct BenchArgs {
    /// Data root holding mnist/ (default: $SIAMESE_DATA_DIR; synthetic images when absent).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use synthetic images even when MNIST is available.
    #[arg(long)]
    synthetic: bool,
    /// Pairs per training step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Warm-up steps (not timed).
    #[arg(long, default_value_t = 30)]
    warmup: usize,
    /// Timed training steps per repetition.
    #[arg(long, default_value_t = 150)]
    steps: usize,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Pairs per scoring batch.
    #[arg(long, default_value_t = 1000)]
    eval_batch: usize,
    /// Thread counts to measure, comma separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Print one JSON object per thread count instead of the table.
    #[arg(long)]
    json: bool,
}

/// The figures of one thread count (one JSON line of `--json`).
#[derive(Serialize)]
struct Figures {
    threads: usize,
    source: &'static str,
    batch: usize,
    /// Median over the repetitions of training pairs per second.
    train_pairs_per_s: f64,
    score_pairs: usize,
    /// Median seconds to score `score_pairs` pairs, each pair's two images embedded.
    score_s: f64,
    /// The same pairs with each distinct image embedded once (`SnLenet5::score_indexed`).
    score_shared_s: f64,
    score_distinct_images: usize,
    /// Peak resident set size (VmHWM), where the system reports it.
    peak_rss_mib: Option<f64>,
    /// Loss of the last timed step.
    last_loss: f64,
    /// Heap allocations per training step (steady state).
    allocs_per_step: f64,
    /// Live heap bytes after the timed steps minus after warm-up.
    heap_growth_bytes: isize,
}

/// Peak resident set size in MiB (VmHWM of /proc/self/status), if readable.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median wall seconds of `reps` runs of `f`, after one untimed run.
fn median_seconds<T>(reps: usize, mut f: impl FnMut() -> R<T>) -> R<f64> {
    std::hint::black_box(f()?);
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

fn measure(args: &BenchArgs, d: &BenchData, threads: usize) -> R<Figures> {
    let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 1)?;
    let mut adam = Adam::new(AdamConfig::default())?;
    model.set_training(true);
    let reps = args.reps.max(1);
    let mut k = 0usize;
    let mut step = |model: &mut SnLenet5, adam: &mut Adam| -> R<(usize, f64)> {
        let (a, b, y) = &d.train[k % d.train.len()];
        k += 1;
        let loss = LossKind::ContrastiveSigmoid;
        let (l, _) = train_step(model, adam, stack_pairs(a, b)?, y, loss)?;
        Ok((y.len(), l))
    };
    for _ in 0..args.warmup {
        step(&mut model, &mut adam)?;
    }
    let mut rates = Vec::with_capacity(reps);
    let mut last_loss = 0.0;
    let (live0, count0) = alloc::counters();
    for _ in 0..reps {
        let t = Instant::now();
        let mut pairs = 0usize;
        for _ in 0..args.steps.max(1) {
            let (n, l) = step(&mut model, &mut adam)?;
            pairs += n;
            last_loss = l;
        }
        rates.push(pairs as f64 / t.elapsed().as_secs_f64());
    }
    let (live1, count1) = alloc::counters();
    let steps = (reps * args.steps.max(1)) as f64;
    let score_s = median_seconds(reps, || {
        Ok(model.score(&d.score_a, &d.score_b, args.eval_batch)?)
    })?;
    let score_shared_s = median_seconds(reps, || {
        Ok(model.score_indexed(&d.score_images, &d.score_pairs, args.eval_batch)?)
    })?;
    Ok(Figures {
        threads,
        source: d.source,
        batch: args.batch,
        train_pairs_per_s: median(rates),
        score_pairs: d.score_pairs.len(),
        score_s,
        score_shared_s,
        score_distinct_images: d.distinct_images(),
        peak_rss_mib: peak_rss_mib(),
        last_loss,
        allocs_per_step: (count1 - count0) as f64 / steps,
        heap_growth_bytes: live1 - live0,
    })
}

fn run(args: BenchArgs) -> R<()> {
    let d = data::prepare(&args)?;
    if !args.json {
        println!(
            "siamese bench: {} images, batch {}, {} warm-up + {}x{} timed steps, scoring {} pairs in batches of {} ({} distinct images: 'shared s' embeds each once)",
            d.source, args.batch, args.warmup, args.reps, args.steps, d.score_pairs.len(), args.eval_batch, d.distinct_images()
        );
        println!(
            "{:>7} {:>14} {:>9} {:>9} {:>12} {:>12} {:>14}",
            "threads",
            "train pairs/s",
            "score s",
            "shared s",
            "peak RSS MiB",
            "allocs/step",
            "heap growth B"
        );
    }
    let mut base: Option<(f64, f64)> = None;
    for &t in &args.threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build()?;
        let f = pool.install(|| measure(&args, &d, t.max(1)))?;
        if args.json {
            println!("{}", serde_json::to_string(&f)?);
        } else {
            println!(
                "{:>7} {:>14.0} {:>9.4} {:>9.4} {:>12.1} {:>12.1} {:>14}",
                f.threads,
                f.train_pairs_per_s,
                f.score_s,
                f.score_shared_s,
                f.peak_rss_mib.unwrap_or(f64::NAN),
                f.allocs_per_step,
                f.heap_growth_bytes
            );
        }
        match base {
            None => base = Some((f.train_pairs_per_s, f.score_s)),
            Some((train, score)) if !args.json => {
                println!(
                    "        scaling vs {} thread(s): training {:.2}x, scoring {:.2}x",
                    args.threads[0],
                    f.train_pairs_per_s / train,
                    score / f.score_s
                )
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::default_sigpipe();
    let args = match cli::parse_or_exit::<BenchArgs>("siamese bench") {
        Ok(a) => a,
        Err(code) => return code,
    };
    cli::finish(run(args).map_err(|e| e.to_string().into()))
}
