//! `siamese-bench` (also run as `siamese bench`): training throughput (pairs/s, steady
//! state) from a fresh model and from a late-training state, the time to score 10,000 pairs,
//! the machine's measured FMA peak and the fraction of it each figure reaches, peak RSS, heap
//! allocations per training step and live-heap growth, on 1 and 2 threads.
//!
//! GFLOP/s are the analytic FLOPs of the network ([`siamese::model::cost`]: the multiply-adds
//! of the convolutions and dense layers) divided by the measured time; the peak is measured
//! by [`peak`] on the same thread count. The late-training figures ([`late`]) time the same
//! steps from a state whose gradients and moments hold subnormal floats, once with
//! flush-to-zero (the library's default) and once with strict IEEE subnormals.
//!
//! A training step here is the step `siamese train` runs, [`train_step`] of siamese-model
//! (zero gradients → taped forward over the stacked pair batch → contrastive loss → backward
//! → Adam), on batches prepared in memory beforehand, so the figure is the network's and the
//! optimizer's time, not the loader's. Images are real MNIST when `--data-dir` (or
//! `$SIAMESE_DATA_DIR`) holds it, else synthetic (seeded uniform pixels, same shapes). Each
//! thread count runs in its own rayon pool. `siamese bench` runs this same code in its own
//! process (src/bin/siamese/bench.rs includes this file), so that it works wherever `siamese`
//! does; both programs install the counting allocator ([`alloc::Counting`]), which counts
//! only once a bench has started.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use serde::Serialize;
use siamese::model::config::LenetDims;
use siamese::model::config::MAX_EVAL_BATCH;
use siamese::model::cost::LayerMacs;
use siamese::model::run::{MAX_BATCH, PAPER_BATCH};
use siamese::model::score::{median, median_seconds, EVAL_BATCH};
use siamese::model::siamese::{stack_pairs, Objective};
use siamese::model::{LossKind, ModelConfig, SnLenet5};
use siamese::optim::{Adam, AdamConfig};
use siamese::tensor::fpmode;
use siamese::train::train::train_step;

mod alloc;
#[path = "../shared/cli.rs"]
mod cli;
mod data;
#[path = "../shared/flags.rs"]
mod flags;
mod late;
mod peak;

use data::BenchData;

/// The most steps (`--steps`, `--warmup`, `--late-steps`) accepted: 100,000.
const MAX_STEPS: usize = 100_000;
/// The most repetitions (`--reps`) accepted: 100.
const MAX_REPS: usize = 100;

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
    /// Pairs per training step (1 to 4096, as `train --batch`).
    #[arg(long, default_value_t = PAPER_BATCH, value_parser = flags::count::<MAX_BATCH>)]
    batch: usize,
    /// Warm-up steps (not timed; 0 to 100,000).
    #[arg(long, default_value_t = 30, value_parser = flags::between::<0, MAX_STEPS>)]
    warmup: usize,
    /// Timed training steps per repetition (1 to 100,000).
    #[arg(long, default_value_t = 150, value_parser = flags::count::<MAX_STEPS>)]
    steps: usize,
    /// Repetitions (the median is reported; 1 to 100).
    #[arg(long, default_value_t = 3, value_parser = flags::count::<MAX_REPS>)]
    reps: usize,
    /// Pairs per scoring batch (1 to 16,384, as `eval --batch`).
    #[arg(long, default_value_t = EVAL_BATCH, value_parser = flags::count::<MAX_EVAL_BATCH>)]
    eval_batch: usize,
    /// Thread counts to measure, comma separated (each as `train --threads`).
    #[arg(long, default_value = "1,2", value_delimiter = ',', value_parser = flags::threads)]
    threads: Vec<usize>,
    /// Steps that drive the fresh model to the late-training state (0: no late figures; at most 100,000).
    #[arg(long, default_value_t = 2000, value_parser = flags::between::<0, MAX_STEPS>)]
    late_steps: usize,
    /// Strict IEEE subnormal floats instead of flush-to-zero for the main figures (also $SIAMESE_IEEE_SUBNORMALS=1).
    #[arg(long)]
    ieee_subnormals: bool,
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
    /// The SIMD path the kernels take on this CPU.
    kernel_path: &'static str,
    /// Whether the main figures ran with subnormals flushed to zero.
    flush_subnormals: bool,
    /// Median over the repetitions of training pairs per second (fresh model).
    train_pairs_per_s: f64,
    /// Analytic FLOPs of one training step per pair, and the rate they give.
    train_flops_per_pair: u64,
    train_gflops: f64,
    /// `train_gflops` over the measured FMA peak of this thread count.
    train_peak_fraction: f64,
    /// Training pairs/s from the late-training state, with flush-to-zero and with IEEE
    /// subnormals (medians, timed alternately from the same saved state).
    late_pairs_per_s: Option<f64>,
    late_ieee_pairs_per_s: Option<f64>,
    /// Steps that made the late state, and the fraction of its values (parameters,
    /// gradients, Adam's moments) that are subnormal.
    late_steps: usize,
    late_subnormal_fraction: Option<f64>,
    /// The measured fp32 FMA peak of this thread count, and the vector width that reached it.
    peak_gflops: f64,
    peak_width: &'static str,
    score_pairs: usize,
    /// Median seconds to score `score_pairs` pairs, each pair's two images embedded.
    score_s: f64,
    /// Analytic FLOPs to score one pair, the rate of `score_s`, its fraction of the peak.
    score_flops_per_pair: u64,
    score_gflops: f64,
    score_peak_fraction: f64,
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

/// Median wall seconds of `reps` runs of `f` ([`siamese::model::score::median_seconds`]),
/// after one untimed run.
fn warm_median_seconds<T>(reps: usize, mut f: impl FnMut() -> R<T>) -> R<f64> {
    std::hint::black_box(f()?);
    median_seconds(reps, f)
}

/// Training pairs/s of each of `reps` runs of `steps` steps, cycling over the batches.
fn train_rates(
    model: &mut SnLenet5, adam: &mut Adam, d: &BenchData, k: &mut usize, steps: usize, reps: usize,
) -> R<(Vec<f64>, f64)> {
    let mut rates = Vec::with_capacity(reps);
    let mut last_loss = 0.0;
    for _ in 0..reps {
        let t = Instant::now();
        let mut pairs = 0usize;
        for _ in 0..steps.max(1) {
            let (n, l) = step(model, adam, d, k)?;
            pairs += n;
            last_loss = l;
        }
        rates.push(pairs as f64 / t.elapsed().as_secs_f64());
    }
    Ok((rates, last_loss))
}

/// One training step on the next bench batch: (pairs, loss).
fn step(model: &mut SnLenet5, adam: &mut Adam, d: &BenchData, k: &mut usize) -> R<(usize, f64)> {
    let (a, b, y) = &d.train[*k % d.train.len()];
    *k += 1;
    let loss = Objective::Pairs(LossKind::ContrastiveSigmoid);
    let lr = siamese::model::run::PAPER_LR;
    let (l, _) = train_step(model, adam, stack_pairs(a, b)?, y, loss, lr)?;
    Ok((y.len(), l))
}

fn fresh_model() -> R<(SnLenet5, Adam)> {
    let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 1)?;
    model.set_training(true);
    Ok((model, Adam::new(AdamConfig::default())?))
}

/// The late-training state: the fresh model after `steps` IEEE-mode steps (see [`late`]).
fn late_state(d: &BenchData, steps: usize) -> R<(late::Snapshot, late::Census)> {
    let (mut model, mut adam) = fresh_model()?;
    let mut k = 0usize;
    late::in_mode(false, || -> R<()> {
        for _ in 0..steps {
            step(&mut model, &mut adam, d, &mut k)?;
        }
        Ok(())
    })?;
    let census = late::Census::of(&model, &adam);
    Ok((late::Snapshot::take(&model, &adam), census))
}

/// Median late-state pairs/s with flush-to-zero and with IEEE subnormals, each repetition
/// starting from the same saved state, the two modes alternating.
fn late_rates(args: &BenchArgs, d: &BenchData, snap: &late::Snapshot) -> R<(f64, f64)> {
    let (mut model, mut adam) = fresh_model()?;
    let (mut flush, mut ieee) = (Vec::new(), Vec::new());
    for _ in 0..args.reps.max(1) {
        for (mode, out) in [(true, &mut flush), (false, &mut ieee)] {
            snap.restore(&mut model, &mut adam);
            let mut k = 0usize;
            let (r, _) = late::in_mode(mode, || {
                train_rates(&mut model, &mut adam, d, &mut k, args.steps, 1)
            })?;
            out.extend(r);
        }
    }
    Ok((median(flush), median(ieee)))
}

/// What [`measure`] needs besides the arguments and the data.
struct Setting<'a> {
    threads: usize,
    macs: LayerMacs,
    peak: peak::Peak,
    late: Option<&'a (late::Snapshot, late::Census)>,
}

fn measure(args: &BenchArgs, d: &BenchData, s: &Setting) -> R<Figures> {
    let (mut model, mut adam) = fresh_model()?;
    let reps = args.reps.max(1);
    let mut k = 0usize;
    for _ in 0..args.warmup {
        step(&mut model, &mut adam, d, &mut k)?;
    }
    let (live0, count0) = alloc::counters();
    let (rates, last_loss) = train_rates(&mut model, &mut adam, d, &mut k, args.steps, reps)?;
    let (live1, count1) = alloc::counters();
    let steps = (reps * args.steps.max(1)) as f64;
    let score_s = warm_median_seconds(reps, || {
        Ok(model.score(&d.score_a, &d.score_b, args.eval_batch)?)
    })?;
    let score_shared_s = warm_median_seconds(reps, || {
        Ok(model.score_indexed(&d.score_images, &d.score_pairs, args.eval_batch)?)
    })?;
    let late = match s.late {
        Some((snap, census)) => {
            let (flush, ieee) = late_rates(args, d, snap)?;
            Some((flush, ieee, census.fraction()))
        }
        None => None,
    };
    let train_pairs_per_s = median(rates);
    let train_flops = s.macs.train_flops_per_pair();
    let score_flops = s.macs.score_flops_per_pair();
    let train_gflops = train_pairs_per_s * train_flops as f64 / 1e9;
    let score_gflops = d.score_pairs.len() as f64 * score_flops as f64 / score_s / 1e9;
    Ok(Figures {
        threads: s.threads,
        source: d.source,
        batch: args.batch,
        kernel_path: kernel_path(),
        flush_subnormals: fpmode::flush_policy(),
        train_pairs_per_s,
        train_flops_per_pair: train_flops,
        train_gflops,
        train_peak_fraction: train_gflops / s.peak.gflops,
        late_pairs_per_s: late.map(|l| l.0),
        late_ieee_pairs_per_s: late.map(|l| l.1),
        late_steps: if late.is_some() { args.late_steps } else { 0 },
        late_subnormal_fraction: late.map(|l| l.2),
        peak_gflops: s.peak.gflops,
        peak_width: s.peak.width.name(),
        score_pairs: d.score_pairs.len(),
        score_s,
        score_flops_per_pair: score_flops,
        score_gflops,
        score_peak_fraction: score_gflops / s.peak.gflops,
        score_shared_s,
        score_distinct_images: d.distinct_images(),
        peak_rss_mib: peak_rss_mib(),
        last_loss,
        allocs_per_step: (count1 - count0) as f64 / steps,
        heap_growth_bytes: live1 - live0,
    })
}

/// The SIMD path siamese-tensor's kernels dispatch to on this CPU, and why.
fn kernel_path() -> &'static str {
    siamese::tensor::ops::simd::kernel_path()
}

/// The bench, as both `siamese-bench` and `siamese bench` run it.
pub(crate) fn run(args: BenchArgs) -> R<()> {
    alloc::start_counting();
    if args.ieee_subnormals {
        fpmode::set_ieee_subnormals(true);
    }
    fpmode::set_current_thread();
    let d = data::prepare(&args)?;
    let macs = LenetDims::new(&ModelConfig::for_input(1, 28, 28), 10)?.macs();
    let widest = args.threads.iter().copied().max().unwrap_or(1).max(1);
    let late = match args.late_steps {
        0 => None,
        n => Some(
            fpmode::pool_builder()
                .num_threads(widest)
                .build()?
                .install(|| late_state(&d, n))?,
        ),
    };
    if !args.json {
        println!(
            "siamese bench: {} images, batch {}, {} warm-up + {}x{} timed steps, scoring {} pairs in batches of {} ({} distinct images: 'shared s' embeds each once)",
            d.source, args.batch, args.warmup, args.reps, args.steps, d.score_pairs.len(), args.eval_batch, d.distinct_images()
        );
        println!(
            "kernels: {}; subnormals {}; FLOPs per pair (analytic, conv + dense MACs x 2): training {:.2} M, scoring {:.2} M",
            kernel_path(),
            if fpmode::flush_policy() { "flushed to zero" } else { "IEEE (--ieee-subnormals)" },
            macs.train_flops_per_pair() as f64 / 1e6,
            macs.score_flops_per_pair() as f64 / 1e6
        );
        if let Some((_, c)) = &late {
            println!(
                "late state: {} IEEE-mode steps over the bench batches; {:.2}% of its {} values (weights, gradients, Adam m and v) subnormal",
                args.late_steps,
                100.0 * c.fraction(),
                c.values
            );
        }
    }
    let mut base: Option<(f64, f64)> = None;
    for &t in &args.threads {
        let t = t.max(1);
        let peak = peak::probe(t);
        let pool = fpmode::pool_builder().num_threads(t).build()?;
        let setting = Setting {
            threads: t,
            macs,
            peak,
            late: late.as_ref(),
        };
        let f = pool.install(|| measure(&args, &d, &setting))?;
        if args.json {
            println!("{}", serde_json::to_string(&f)?);
        } else {
            print_table(&f, &setting.peak);
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

fn print_table(f: &Figures, peak: &peak::Peak) {
    let widths: Vec<String> = peak
        .by_width
        .iter()
        .map(|(w, g)| format!("{} {g:.0}", w.name()))
        .collect();
    println!(
        "{} thread(s): FMA peak {:.0} GFLOP/s ({})",
        f.threads,
        f.peak_gflops,
        widths.join(", ")
    );
    println!(
        "  training   {:>8.0} pairs/s  {:>6.1} GFLOP/s  {:>5.1}% of peak",
        f.train_pairs_per_s,
        f.train_gflops,
        100.0 * f.train_peak_fraction
    );
    if let (Some(flush), Some(ieee)) = (f.late_pairs_per_s, f.late_ieee_pairs_per_s) {
        println!(
            "  late state {flush:>8.0} pairs/s flushed, {ieee:.0} IEEE ({:.2}x)",
            flush / ieee
        );
    }
    println!(
        "  scoring    {:>8.4} s per {} pairs  {:>6.1} GFLOP/s  {:>5.1}% of peak; {:.4} s with each image embedded once",
        f.score_s,
        f.score_pairs,
        f.score_gflops,
        100.0 * f.score_peak_fraction,
        f.score_shared_s
    );
    println!(
        "  peak RSS {:.1} MiB, {:.1} allocations per step, heap growth {} B",
        f.peak_rss_mib.unwrap_or(f64::NAN),
        f.allocs_per_step,
        f.heap_growth_bytes
    );
}

fn main() -> ExitCode {
    cli::default_sigpipe();
    let args = match cli::parse_with_matches::<BenchArgs>("siamese bench").map(|(args, _)| args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    cli::finish(run(args).map_err(|e| e.to_string().into()))
}
