//! The model subcommands: train, eval, compare, show, sweep, train-baseline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use siamese::data::{images_tensor, read_image, DatasetKind, Pair};
use siamese::model::baseline::{train_baseline, Lenet5Classifier};
use siamese::model::checkpoint::{load_resume, Checkpoint, FORMAT_CLASSIFIER};
use siamese::model::config::{Activation, Distance, EmbeddingActivation, LossKind, Pooling};
use siamese::model::device_step::check_supported;
#[cfg(feature = "cuda")]
use siamese::model::device_step::DeviceModel;
use siamese::model::eval::{evaluate_class_groups, evaluate_with_threshold, PairEvaluation};
use siamese::model::run::{RunData, TrainConfig};
use siamese::model::sweep::sweep;
#[cfg(feature = "cuda")]
use siamese::model::train::train_on;
use siamese::model::train::{train, TrainOptions};
use siamese::model::SnLenet5;
#[cfg(feature = "cuda")]
use siamese::optim::AdamConfig;

use crate::device::Device;
use crate::progress::Progress;
use crate::CliResult;

const LOSS_HELP: &str = "Training loss; y = 1 means SAME class for all three. \
contrastive-sigmoid (default, the paper): reads the output module's similarity s = sigmoid(w*BN(d)+b) in (0,1), \
L = mean(y*max(1-s,0)^2 + (1-y)*s^2), margin 1. \
contrastive-distance (Hadsell et al.): reads the raw Euclidean distance d, L = mean(y*d^2 + (1-y)*max(1-d,0)^2), \
the output module learns to read d through a BCE term. \
bce: binary cross-entropy on s";

/// Flags that define the network.
#[derive(Args, Clone)]
pub struct ArchArgs {
    /// Activation of the subnet: relu or tanh.
    #[arg(long, default_value = "relu")]
    act: String,
    /// Pooling of the subnet: max or avg.
    #[arg(long, default_value = "max")]
    pool: String,
    /// Embedding size E.
    #[arg(long, default_value_t = 10)]
    embedding: usize,
    /// After the last dense layer: tanh or linear.
    #[arg(long, default_value = "tanh")]
    emb_act: String,
    /// Comparison module: euclidean or cosine.
    #[arg(long, default_value = "euclidean")]
    distance: String,
}

/// Flags of a training run.
#[derive(Args, Clone)]
pub struct RunArgs {
    /// mnist, fashion-mnist or cifar-10.
    #[arg(long, default_value = "mnist")]
    dataset: String,
    /// Epochs (default: the paper's, 50 MNIST / 100 Fashion-MNIST / 1500 CIFAR-10).
    #[arg(long)]
    epochs: Option<usize>,
    /// Pairs per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.001)]
    lr: f32,
    /// Learning-rate schedule: constant or cosine.
    #[arg(long, default_value = "constant")]
    schedule: String,
    /// Seed of every random choice (init, split, pairs, shuffling).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Data root holding mnist/, fashion-mnist/, cifar-10/ (default: $SIAMESE_DATA_DIR, else ./datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Train on a stratified subsample of N training images.
    #[arg(long)]
    limit: Option<usize>,
    /// Validate every N epochs.
    #[arg(long, default_value_t = 1)]
    val_every: usize,
    #[arg(long, default_value = "contrastive-sigmoid", help = LOSS_HELP)]
    loss: String,
    /// Keep the same training pairs every epoch (default: new pairs each epoch).
    #[arg(long)]
    fixed_pairs: bool,
    /// Training-time augmentation: none (the paper), shift (up to 2 px) or shift-flip (up to 4 px + mirror, for CIFAR-10).
    #[arg(long, default_value = "none")]
    augment: String,
    /// Train, validate and test on these classes only: indices, ranges or names (`0-6`, `7,8,9`, `Trouser,Bag`); `eval` then also scores unseen-class and mixed pairs.
    #[arg(long)]
    train_classes: Option<String>,
    #[command(flatten)]
    arch: ArchArgs,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Output directory: metrics.jsonl, best.safetensors, last.safetensors, curves.png, config.json, test.json.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run saved in DIR (its last.safetensors), bit for bit.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// No progress output (epoch lines only).
    #[arg(long, short)]
    quiet: bool,
    /// Where to train: cpu (default) or cuda (the paper's configuration only; needs a binary built with --features cuda).
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
}

/// Sets the rayon pool size (once per process).
pub fn set_threads(threads: Option<usize>) -> CliResult {
    if let Some(t) = threads {
        if t == 0 {
            return Err("--threads must be at least 1".into());
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .map_err(|e| format!("cannot set up {t} threads: {e}"))?;
    }
    Ok(())
}

fn build_config(r: &RunArgs) -> Result<TrainConfig, Box<dyn std::error::Error>> {
    let kind: DatasetKind = r.dataset.parse()?;
    let mut cfg = TrainConfig::paper(kind);
    if let Some(e) = r.epochs {
        cfg.epochs = e;
    }
    cfg.batch = r.batch;
    cfg.lr = r.lr;
    cfg.schedule = r.schedule.clone();
    cfg.seed = r.seed;
    cfg.limit = r.limit;
    cfg.val_every = r.val_every;
    cfg.loss = r.loss.parse::<LossKind>()?;
    cfg.pairs_per_epoch = !r.fixed_pairs;
    cfg.augment = r.augment.parse()?;
    cfg.model.activation = r.arch.act.parse::<Activation>()?;
    cfg.model.pooling = r.arch.pool.parse::<Pooling>()?;
    cfg.model.embedding = r.arch.embedding;
    cfg.model.embedding_activation = r.arch.emb_act.parse::<EmbeddingActivation>()?;
    cfg.model.distance = r.arch.distance.parse::<Distance>()?;
    if let Some(spec) = &r.train_classes {
        cfg.train_classes = Some(crate::beyond_cmds::parse_train_classes(kind, spec)?);
    }
    Ok(cfg)
}

fn print_eval(e: &PairEvaluation, what: &str) {
    println!(
        "{what}: {} pairs, accuracy {:.2}% at 0.5, {:.2}% at the validation threshold {:.3}",
        e.pairs,
        e.accuracy_at_half * 100.0,
        e.accuracy_at_threshold * 100.0,
        e.threshold
    );
    let c = &e.confusion_at_half;
    println!(
        "  at 0.5: same called same {}, different called same {}, different called different {}, same called different {}",
        c.tp, c.fp, c.tn, c.fn_
    );
    if let (Some(auc), Some(eer)) = (e.roc_auc, e.equal_error_rate) {
        println!("  ROC AUC {auc:.4}, equal error rate {:.2}%", eer * 100.0);
    }
    println!(
        "  time to score {} pairs: {:.3} s (median of 3, batch {})",
        e.timed_pairs, e.score_seconds, e.eval_batch
    );
}

pub fn run_train(a: TrainArgs) -> CliResult {
    set_threads(a.run.threads)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // First Ctrl-C: finish the batch, save, exit cleanly. Second: exit at once.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond interrupt: exiting without saving");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing the current batch, then saving a checkpoint");
        });
    }
    let (cfg, resume, out) = match &a.resume {
        Some(dir) => {
            let path = if dir.is_dir() {
                dir.join("last.safetensors")
            } else {
                dir.clone()
            };
            let (cfg, model, adam, state) = load_resume(&path)?;
            let out = a
                .out
                .clone()
                .or_else(|| path.parent().map(Path::to_path_buf));
            println!(
                "resuming {} at epoch {}, batch {} of {} epochs",
                path.display(),
                state.epoch + 1,
                state.batch_in_epoch,
                cfg.epochs
            );
            (cfg, Some((model, adam, state)), out)
        }
        None => {
            let cfg = build_config(&a.run)?;
            let out = a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(&cfg.dataset));
            (cfg, None, Some(out))
        }
    };
    if a.device == Device::Cuda {
        // Before the data loads: an unsupported configuration or a missing GPU fails fast.
        check_supported(&cfg.model, cfg.loss)?;
    }
    #[cfg(feature = "cuda")]
    let gpu = match a.device {
        Device::Cuda => Some(crate::device::open_cuda()?),
        Device::Cpu => None,
    };
    #[cfg(not(feature = "cuda"))]
    if a.device == Device::Cuda {
        return Err(crate::device::NO_CUDA.into());
    }
    let data = RunData::prepare(&cfg, a.run.data_dir.as_deref())?;
    println!(
        "SN-LeNet-5 on {}: {} training images ({} pairs/epoch), {} validation pairs, {} test pairs; \
         {} epochs, batch {}, Adam lr {} ({}), loss {}, augment {}, seed {}, {} threads",
        data.kind.title(),
        data.train_idx.len(),
        data.train_idx.len() * 2,
        data.val_pairs.len(),
        data.test_pairs.len(),
        cfg.epochs,
        cfg.batch,
        cfg.lr,
        cfg.schedule,
        cfg.loss,
        cfg.augment,
        cfg.seed,
        rayon::current_num_threads()
    );
    if let Some(o) = &out {
        println!("writing to {}", o.display());
    }
    let opts = TrainOptions {
        out: out.clone(),
        stop: Some(&stop),
        ..Default::default()
    };
    let mut progress = Progress::new(a.quiet);
    #[cfg(feature = "cuda")]
    let outcome = match gpu {
        Some(be) => train_on(be, &cfg, &data, resume, &opts, &mut progress)?,
        None => train(&cfg, &data, resume, &opts, &mut progress)?,
    };
    #[cfg(not(feature = "cuda"))]
    let outcome = train(&cfg, &data, resume, &opts, &mut progress)?;
    if outcome.interrupted {
        return Ok(());
    }
    if let Some(best) = outcome.state.best_val_acc {
        println!("best validation pair accuracy {:.2}%", best * 100.0);
    }
    if let Some(test) = &outcome.test {
        print_eval(test, "test (best validation epoch's weights)");
        if let Some(o) = &out {
            println!(
                "saved {}/best.safetensors, last.safetensors, metrics.jsonl, curves.png, test.json",
                o.display()
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A checkpoint written by `siamese train` (best.safetensors) or `train-baseline`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Data root holding mnist/, fashion-mnist/, cifar-10/ (default: $SIAMESE_DATA_DIR, else ./datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Pairs (images) per scoring batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Where to score: cpu (default) or cuda (SN-LeNet-5 in the paper's configuration; needs a binary built with --features cuda).
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
}

pub fn run_eval(a: EvalArgs) -> CliResult {
    set_threads(a.threads)?;
    let ck = Checkpoint::load(&a.checkpoint)?;
    let cfg = ck.train_config(&a.checkpoint)?;
    let data = RunData::prepare(&cfg, a.data_dir.as_deref())?;
    if ck.format == FORMAT_CLASSIFIER {
        let mut m = Lenet5Classifier::from_checkpoint(&ck, &a.checkpoint)?;
        let e = m.evaluate(&data.test)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&e)?);
        } else {
            println!(
                "LeNet-5 classifier on {} test images: accuracy {:.2}%, {:.3} s to classify 10,000 images",
                e.images,
                e.accuracy * 100.0,
                e.seconds_per_10k
            );
        }
        return Ok(());
    }
    let (mut model, _) = SnLenet5::from_loaded_checkpoint(&ck, &a.checkpoint)?;
    let e = match a.device {
        Device::Cpu => evaluate_with_threshold(&mut model, &data, a.batch)?,
        #[cfg(feature = "cuda")]
        Device::Cuda => {
            let be = crate::device::open_cuda()?;
            let mut dev = DeviceModel::from_model(be, &model, AdamConfig::default(), None)?;
            evaluate_with_threshold(&mut dev, &data, a.batch)?
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda => return Err(crate::device::NO_CUDA.into()),
    };
    let groups = match &cfg.train_classes {
        Some(c) => Some(evaluate_class_groups(
            &mut model,
            &data.test,
            c,
            e.threshold,
            a.batch,
        )?),
        None => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&e)?;
        if let Some(g) = &groups {
            v["class_groups"] = serde_json::to_value(g)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_eval(&e, &format!("{} test pairs", data.kind.title()));
        if let (Some(c), Some(g)) = (&cfg.train_classes, &groups) {
            crate::beyond_cmds::print_class_groups(c, &data.test.class_names, g);
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct CompareArgs {
    /// First image (PNG, JPEG, BMP or PNM).
    a: PathBuf,
    /// Second image.
    b: PathBuf,
    /// An SN-LeNet-5 checkpoint.
    #[arg(long)]
    checkpoint: PathBuf,
}

pub fn run_compare(a: CompareArgs) -> CliResult {
    let (mut model, _) = SnLenet5::from_checkpoint(&a.checkpoint)?;
    let m = &model.config;
    let geometry = (m.channels, m.height, m.width);
    let (ia, ib) = (read_image(&a.a, geometry)?, read_image(&a.b, geometry)?);
    for note in [ia.resize_note(), ib.resize_note()].into_iter().flatten() {
        eprintln!("{note}");
    }
    let s = model.score(&ia.tensor()?, &ib.tensor()?, 1)?[0];
    println!(
        "similarity {s:.4}: {} (threshold 0.5)",
        if s > 0.5 {
            "same class"
        } else {
            "different classes"
        }
    );
    Ok(())
}

/// The layout of a picture of pairs (`pairs`, `show`).
#[derive(Args)]
pub struct GridArgs {
    /// Pairs per row.
    #[arg(long, default_value_t = 4)]
    pub cols: usize,
    /// Pixel enlargement factor.
    #[arg(long, default_value_t = 3)]
    pub scale: usize,
}

#[derive(Args)]
pub struct ShowArgs {
    /// An SN-LeNet-5 checkpoint.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output PNG.
    #[arg(long, default_value = "predictions.png")]
    out: PathBuf,
    /// Number of test pairs shown.
    #[arg(long, default_value_t = 16)]
    count: usize,
    #[command(flatten)]
    grid: GridArgs,
    /// Seed choosing which test pairs are shown.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Data root holding mnist/, fashion-mnist/, cifar-10/ (default: $SIAMESE_DATA_DIR, else ./datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Writes a picture as a PNG file, atomically.
pub fn save_png(path: &Path, img: &siamese::data::viz::RgbImage) -> CliResult {
    siamese::model::io::atomic_write(path, &img.png_bytes()?)
        .map_err(|e| format!("{}: {e}", path.display()).into())
}

pub fn run_show(a: ShowArgs) -> CliResult {
    let (mut model, cfg) = SnLenet5::from_checkpoint(&a.checkpoint)?;
    let kind = cfg.kind()?;
    let (_, test) = siamese::data::load(kind, a.data_dir.as_deref())?;
    let pairs: Vec<Pair> = siamese::data::viz::figure_pairs(&test, a.count, a.seed)?;
    let ia: Vec<u32> = pairs.iter().map(|p| p.a).collect();
    let ib: Vec<u32> = pairs.iter().map(|p| p.b).collect();
    let s = model.score(
        &images_tensor(&test, &ia)?,
        &images_tensor(&test, &ib)?,
        1000,
    )?;
    let labels: Vec<(String, [u8; 3])> = pairs
        .iter()
        .zip(&s)
        .map(|(p, &s)| {
            let right = (s > 0.5) == (p.y == 1);
            let text = format!("{s:.2} {}", if p.y == 1 { "POS" } else { "NEG" });
            let colour = if right {
                siamese::data::viz::POS_COLOUR
            } else {
                siamese::data::viz::NEG_COLOUR
            };
            (text, colour)
        })
        .collect();
    let img =
        siamese::data::viz::labelled_pair_grid(&test, &pairs, &labels, a.grid.cols, a.grid.scale)?;
    save_png(&a.out, &img)?;
    let right = pairs
        .iter()
        .zip(&s)
        .filter(|(p, &s)| (s > 0.5) == (p.y == 1))
        .count();
    println!(
        "wrote {}: {} test pairs with their predicted similarity (green: right at 0.5, red: wrong; {right}/{} right)",
        a.out.display(),
        pairs.len(),
        pairs.len()
    );
    Ok(())
}

#[derive(Args)]
pub struct SweepArgs {
    /// Comma-separated learning rates.
    #[arg(long, default_value = "0.0001,0.001,0.01", value_delimiter = ',')]
    lrs: Vec<f32>,
    /// Comma-separated batch sizes.
    #[arg(long = "batches", default_value = "32,64,96", value_delimiter = ',')]
    batches: Vec<usize>,
    #[command(flatten)]
    run: RunArgs,
    /// Write one JSON line per setting here.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run_sweep(a: SweepArgs) -> CliResult {
    set_threads(a.run.threads)?;
    let mut base = build_config(&a.run)?;
    if a.run.epochs.is_none() {
        base.epochs = 1;
    }
    let data = RunData::prepare(&base, a.run.data_dir.as_deref())?;
    println!(
        "sweep on {}: {} training images, {} epoch(s) per setting, seed {}",
        data.kind.title(),
        data.train_idx.len(),
        base.epochs,
        base.seed
    );
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>12}",
        "lr", "batch", "val acc", "test acc", "s/epoch"
    );
    let points = sweep(&base, &data, &a.lrs, &a.batches, &mut |p| {
        let pct = |acc: Option<f64>| acc.unwrap_or(f64::NAN) * 100.0;
        println!(
            "{:>8} {:>6} {:>9.2}% {:>9.2}% {:>12.2}",
            p.lr,
            p.batch,
            pct(p.val_acc),
            pct(p.test_acc),
            p.seconds_per_epoch
        );
    })?;
    let mut lines = String::new();
    for p in &points {
        lines.push_str(&serde_json::to_string(p)?);
        lines.push('\n');
    }
    if let Some(p) = &a.out {
        siamese::model::io::atomic_write(p, lines.as_bytes())
            .map_err(|e| format!("{}: {e}", p.display()))?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Output directory (baseline.safetensors, baseline.jsonl).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run_train_baseline(a: BaselineArgs) -> CliResult {
    set_threads(a.run.threads)?;
    let mut cfg = build_config(&a.run)?;
    if a.run.epochs.is_none() {
        cfg.epochs = 10;
    }
    let data = RunData::prepare(&cfg, a.run.data_dir.as_deref())?;
    println!(
        "LeNet-5 classifier on {}: {} training images, {} epochs, batch {}, Adam lr {}, seed {}",
        data.kind.title(),
        data.train_idx.len(),
        cfg.epochs,
        cfg.batch,
        cfg.lr,
        cfg.seed
    );
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-baseline", cfg.dataset)));
    let mut progress = Progress::new(a.quiet);
    let (mut model, _) = train_baseline(&cfg, &data, Some(out.clone()), &mut progress)?;
    let e = model.evaluate(&data.test)?;
    println!(
        "test accuracy {:.2}% on {} images; {:.3} s to classify 10,000 images; saved {}",
        e.accuracy * 100.0,
        e.images,
        e.seconds_per_10k,
        out.join("baseline.safetensors").display()
    );
    Ok(())
}
