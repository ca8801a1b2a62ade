//! `siamese bench`: training throughput (pairs/s, steady state), the time to score 10,000
//! pairs, and peak RSS, on 1 and 2 threads.
//!
//! A training step here is exactly the step of `siamese train` (zero gradients → forward over
//! the stacked pair batch → contrastive loss → backward → Adam), on batches prepared in memory
//! beforehand, so the figure is the network's and the optimizer's time, not the loader's.
//! Images are real MNIST when `--data-dir` (or `$SIAMESE_DATA_DIR`) holds it, else synthetic
//! (seeded uniform pixels, same shapes). Each thread count runs in its own rayon pool.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::Instant;

use clap::Args;
use siamese::autodiff::Tape;
use siamese::data::{self, images_tensor, DatasetKind};
use siamese::model::siamese::stack_pairs;
use siamese::model::{LossKind, ModelConfig, SnLenet5};
use siamese::optim::{Adam, AdamConfig};
use siamese::tensor::Tensor;

use crate::CliResult;

/// The system allocator, counting allocations and live bytes (two relaxed atomic adds per
/// call), so that `siamese bench` can show that a training step does not grow the heap.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's own arguments, so the
// allocator contract (valid layout in, matching pointer/layout on free and realloc) is the
// caller's and is passed on unchanged; the counters are plain atomics with no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract (see the impl).
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded contract (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Args)]
pub(crate) struct BenchArgs {
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

/// Training batches and the 10,000 scoring pairs, as tensors.
struct BenchData {
    train: Vec<(Tensor, Tensor, Tensor)>,
    score_a: Tensor,
    score_b: Tensor,
    /// The same pairs as indices into `score_images` (for shared-embedding scoring).
    score_images: Tensor,
    score_pairs: Vec<(u32, u32)>,
    source: &'static str,
}

/// Seeded pixels in [0, 1) (a 64-bit LCG: no RNG crate needed for noise).
fn synthetic_images(state: &mut u64, n: usize) -> R<Tensor> {
    let data: Vec<f32> = (0..n * 784)
        .map(|_| {
            *state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    Ok(Tensor::from_vec(&[n, 1, 28, 28], data)?)
}

fn prepare(args: &BenchArgs) -> R<BenchData> {
    const BATCHES: usize = 32;
    const SCORED: usize = 10_000;
    let mut rng = 7u64;
    let real = if args.synthetic {
        None
    } else {
        data::load(DatasetKind::Mnist, args.data_dir.as_deref()).ok()
    };
    let mut train = Vec::with_capacity(BATCHES);
    let n = args.batch.max(1);
    match real {
        Some((tr, te)) => {
            let pairs = data::make_pairs(&tr.labels, &(0..tr.n as u32).collect::<Vec<_>>(), 7)?;
            for chunk in pairs.chunks(n).take(BATCHES) {
                let ia: Vec<u32> = chunk.iter().map(|p| p.a).collect();
                let ib: Vec<u32> = chunk.iter().map(|p| p.b).collect();
                let y: Vec<f32> = chunk.iter().map(|p| f32::from(p.y)).collect();
                train.push((
                    images_tensor(&tr, &ia)?,
                    images_tensor(&tr, &ib)?,
                    Tensor::from_vec(&[chunk.len()], y)?,
                ));
            }
            let tp = data::test_pairs(&te)?;
            let tp = &tp[..tp.len().min(SCORED)];
            let ia: Vec<u32> = tp.iter().map(|p| p.a).collect();
            let ib: Vec<u32> = tp.iter().map(|p| p.b).collect();
            Ok(BenchData {
                train,
                score_a: images_tensor(&te, &ia)?,
                score_b: images_tensor(&te, &ib)?,
                score_images: images_tensor(&te, &(0..te.n as u32).collect::<Vec<_>>())?,
                score_pairs: tp.iter().map(|p| (p.a, p.b)).collect(),
                source: "MNIST",
            })
        }
        None => {
            for _ in 0..BATCHES {
                let y: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
                train.push((
                    synthetic_images(&mut rng, n)?,
                    synthetic_images(&mut rng, n)?,
                    Tensor::from_vec(&[n], y)?,
                ));
            }
            // Pairs (i, 7919·i + 13 mod n) over n images: every image used twice, as in
            // MNIST's test pairs.
            let score_images = synthetic_images(&mut rng, SCORED)?;
            let score_pairs: Vec<(u32, u32)> = (0..SCORED)
                .map(|i| (i as u32, ((i * 7919 + 13) % SCORED) as u32))
                .collect();
            let ia: Vec<usize> = score_pairs.iter().map(|p| p.0 as usize).collect();
            let ib: Vec<usize> = score_pairs.iter().map(|p| p.1 as usize).collect();
            Ok(BenchData {
                train,
                score_a: score_images.gather_batch(&ia)?,
                score_b: score_images.gather_batch(&ib)?,
                score_images,
                score_pairs,
                source: "synthetic",
            })
        }
    }
}

/// Peak resident set size in MiB (VmHWM of /proc/self/status), if readable.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Figures {
    threads: usize,
    pairs_per_s: f64,
    score_s: f64,
    /// Scoring the same pairs with each image embedded once.
    score_shared_s: f64,
    last_loss: f32,
    /// Heap allocations per training step (steady state).
    allocs_per_step: f64,
    /// Live heap bytes after the timed steps minus after warm-up.
    live_growth: isize,
}

fn train_step(
    model: &mut SnLenet5,
    adam: &mut Adam,
    (a, b, y): &(Tensor, Tensor, Tensor),
) -> R<f32> {
    model.store.zero_grads();
    let mut tape = Tape::new();
    let out = model.forward(&mut tape, stack_pairs(a, b)?)?;
    let loss = model.loss(&mut tape, out, y, LossKind::ContrastiveSigmoid)?;
    let l = tape.scalar(loss)?;
    tape.backward(loss, &mut model.store)?;
    drop(tape);
    adam.step(&mut model.store)?;
    Ok(l)
}

fn measure(args: &BenchArgs, d: &BenchData, threads: usize) -> R<Figures> {
    let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 1)?;
    let mut adam = Adam::new(AdamConfig::default())?;
    model.set_training(true);
    let mut k = 0usize;
    let next = |k: &mut usize| {
        let b = &d.train[*k % d.train.len()];
        *k += 1;
        b
    };
    for _ in 0..args.warmup {
        train_step(&mut model, &mut adam, next(&mut k))?;
    }
    let mut rates = Vec::new();
    let mut last_loss = 0.0;
    let (live0, count0) = (
        LIVE_BYTES.load(Ordering::Relaxed),
        ALLOCATIONS.load(Ordering::Relaxed),
    );
    for _ in 0..args.reps.max(1) {
        let t = Instant::now();
        let mut pairs = 0usize;
        for _ in 0..args.steps.max(1) {
            let b = next(&mut k);
            pairs += b.2.len();
            last_loss = train_step(&mut model, &mut adam, b)?;
        }
        rates.push(pairs as f64 / t.elapsed().as_secs_f64());
    }
    let live_growth = LIVE_BYTES.load(Ordering::Relaxed) - live0;
    let steps = (args.reps.max(1) * args.steps.max(1)) as f64;
    let allocs_per_step = (ALLOCATIONS.load(Ordering::Relaxed) - count0) as f64 / steps;
    // Scoring: one untimed run, then the median of `reps` timed runs.
    std::hint::black_box(model.score(&d.score_a, &d.score_b, args.eval_batch)?);
    let mut times = Vec::new();
    for _ in 0..args.reps.max(1) {
        let t = Instant::now();
        std::hint::black_box(model.score(&d.score_a, &d.score_b, args.eval_batch)?);
        times.push(t.elapsed().as_secs_f64());
    }
    let shared = |model: &mut SnLenet5| {
        model.score_indexed(&d.score_images, &d.score_pairs, args.eval_batch)
    };
    std::hint::black_box(shared(&mut model)?);
    let mut shared_times = Vec::new();
    for _ in 0..args.reps.max(1) {
        let t = Instant::now();
        std::hint::black_box(shared(&mut model)?);
        shared_times.push(t.elapsed().as_secs_f64());
    }
    Ok(Figures {
        threads,
        pairs_per_s: median(rates),
        score_s: median(times),
        score_shared_s: median(shared_times),
        last_loss,
        allocs_per_step,
        live_growth,
    })
}

pub(crate) fn run_bench(args: BenchArgs) -> CliResult {
    let d = prepare(&args).map_err(|e| e.to_string())?;
    let n_scored = d.score_a.shape()[0];
    let distinct = {
        let mut ids: Vec<u32> = d.score_pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    if !args.json {
        println!(
            "siamese bench: {} images, batch {}, {} warm-up + {}x{} timed steps, scoring {} pairs in batches of {} ({} distinct images: 'shared s' embeds each once)",
            d.source, args.batch, args.warmup, args.reps, args.steps, n_scored, args.eval_batch, distinct
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
        let f = pool
            .install(|| measure(&args, &d, t.max(1)))
            .map_err(|e| e.to_string())?;
        let rss = peak_rss_mib().unwrap_or(f64::NAN);
        if args.json {
            println!(
                "{{\"threads\":{},\"source\":\"{}\",\"batch\":{},\"train_pairs_per_s\":{:.1},\"score_pairs\":{},\"score_s\":{:.5},\"score_shared_s\":{:.5},\"score_distinct_images\":{},\"peak_rss_mib\":{:.1},\"last_loss\":{},\"allocs_per_step\":{:.1},\"heap_growth_bytes\":{}}}",
                f.threads, d.source, args.batch, f.pairs_per_s, n_scored, f.score_s, f.score_shared_s, distinct, rss, f.last_loss,
                f.allocs_per_step, f.live_growth
            );
        } else {
            println!(
                "{:>7} {:>14.0} {:>9.4} {:>9.4} {:>12.1} {:>12.1} {:>14}",
                f.threads,
                f.pairs_per_s,
                f.score_s,
                f.score_shared_s,
                rss,
                f.allocs_per_step,
                f.live_growth
            );
        }
        match base {
            None => base = Some((f.pairs_per_s, f.score_s)),
            Some((train, score)) if !args.json => {
                println!(
                    "        scaling vs {} thread(s): training {:.2}x, scoring {:.2}x",
                    args.threads[0],
                    f.pairs_per_s / train,
                    score / f.score_s
                )
            }
            Some(_) => {}
        }
    }
    Ok(())
}
