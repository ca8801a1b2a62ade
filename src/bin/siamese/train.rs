//! The model subcommands: train, eval, compare, show, sweep, train-baseline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use siamese::data::{images_tensor, read_image, Pair};
use siamese::eval::groups::evaluate_class_groups;
use siamese::model::checkpoint::{load_resume, Checkpoint, FORMAT_CLASSIFIER};
use siamese::model::config::validate_eval_batch;
use siamese::model::device_step::check_supported;
#[cfg(feature = "cuda")]
use siamese::model::device_step::DeviceModel;
use siamese::model::run::{RunFiles, TrainConfig};
use siamese::model::score::{evaluate_with_threshold, PairEvaluation};
use siamese::model::SnLenet5;
#[cfg(feature = "cuda")]
use siamese::optim::AdamConfig;
use siamese::train::baseline::{train_baseline, Lenet5Classifier};
use siamese::train::plot::best_epoch;
use siamese::train::sweep::sweep;
#[cfg(feature = "cuda")]
use siamese::train::train::train_on;
use siamese::train::train::{train, TrainOptions};

pub use crate::args::{BaselineArgs, CompareArgs, EvalArgs, ShowArgs, SweepArgs, TrainArgs};
use crate::args::{PairArgs, RunArgs};
use crate::common::{save_png, set_threads};
use crate::device::Device;
use crate::progress::{self, Progress};
use crate::CliResult;

/// The run's config: the paper's for the dataset, then the flags (`epochs` None keeps the
/// paper's).
fn build_config(
    r: &RunArgs, epochs: Option<usize>, batch: usize, lr: f32, pair: Option<&PairArgs>,
) -> Result<TrainConfig, Box<dyn std::error::Error>> {
    let mut cfg = TrainConfig::paper(r.dataset);
    if let Some(e) = epochs {
        cfg.epochs = e;
    }
    cfg.batch = batch;
    cfg.lr = lr;
    cfg.schedule = r.schedule.clone();
    cfg.seed = r.seed;
    cfg.limit = r.limit;
    cfg.model.activation = r.subnet.act;
    cfg.model.pooling = r.subnet.pool;
    if let Some(p) = pair {
        cfg.val_every = p.val_every;
        cfg.loss = p.loss;
        cfg.pairs_per_epoch = !p.fixed_pairs;
        cfg.augment = p.augment;
        cfg.model.embedding = p.embedding;
        cfg.model.embedding_activation = p.emb_act;
        cfg.model.distance = p.distance;
        cfg.model.head = p.head;
        cfg.model.init = p.init;
    }
    if let Some(spec) = &r.train_classes {
        cfg.train_classes = Some(crate::beyond_cmds::parse_train_classes(r.dataset, spec)?);
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
    let started = std::time::Instant::now();
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
            let (resumed, model, adam, state) = load_resume(&path)?;
            let typed = crate::typed_flags::typed_train_flags();
            let typed: Vec<&str> = typed.iter().map(String::as_str).collect();
            let given = build_config(&a.run, a.epochs, a.step.batch, a.step.lr, Some(&a.pair))?;
            let cfg = resumed.resumed_with(&given, &typed)?;
            let run_dir = path.parent().map(Path::to_path_buf);
            let out = a.out.clone().or_else(|| run_dir.clone());
            if let Some(o) = out.as_ref().filter(|o| Some(*o) != run_dir.as_ref()) {
                RunFiles::claim(o, a.force)?;
            }
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
            let cfg = build_config(&a.run, a.epochs, a.step.batch, a.step.lr, Some(&a.pair))?;
            cfg.validate()?;
            let out = a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(&cfg.dataset));
            RunFiles::claim(&out, a.force)?;
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
    let (data, title) = crate::data_cmds::prepare(&cfg, &a.run.data)?;
    println!(
        "SN-LeNet-5 on {}: {} training images ({} pairs/epoch), {} validation pairs, {} test pairs; \
         {} epochs, batch {}, Adam lr {} ({}), loss {}, augment {}, seed {}, {} threads",
        title,
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
        dataset_title: Some(title),
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
        // Saved; 130 (128 + SIGINT) as a shell reports an interrupted program, so that
        // `train && eval` stops here.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(130);
    }
    let history = outcome.state.history.iter();
    if let Some((epoch, acc)) = best_epoch(history.map(|r| (r.epoch, r.val_acc))) {
        println!(
            "best validation pair accuracy {:.2}% at epoch {epoch} of {}",
            acc * 100.0,
            cfg.epochs
        );
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
    println!(
        "total time {}",
        progress::duration(started.elapsed().as_secs_f64())
    );
    Ok(())
}

pub fn run_eval(a: EvalArgs) -> CliResult {
    set_threads(a.threads)?;
    validate_eval_batch(a.batch)?;
    let ck = Checkpoint::load(&a.checkpoint)?;
    let cfg = ck.train_config(&a.checkpoint)?;
    if ck.format == FORMAT_CLASSIFIER && a.device == Device::Cuda {
        return Err(
            "--device cuda scores SN-LeNet-5 only; a LeNet-5 classifier is scored on the CPU"
                .into(),
        );
    }
    let (data, title) = crate::data_cmds::prepare(&cfg, &a.data)?;
    if ck.format == FORMAT_CLASSIFIER {
        let mut m = Lenet5Classifier::from_checkpoint(&ck, &a.checkpoint)?;
        let e = m.evaluate(&data.test)?;
        if a.json {
            println!("{}", siamese::model::json::to_pretty(&e)?);
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
        println!("{}", siamese::model::json::to_pretty(&v)?);
    } else {
        print_eval(&e, &format!("{title} test pairs"));
        if let (Some(c), Some(g)) = (&cfg.train_classes, &groups) {
            crate::beyond_cmds::print_class_groups(c, &data.test.class_names, g);
        }
    }
    Ok(())
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
    let (threshold, source) = threshold_of(&a.checkpoint, None);
    let same = s > threshold;
    if a.json {
        let v = serde_json::json!({
            "a": a.a.display().to_string(),
            "b": a.b.display().to_string(),
            "similarity": siamese::model::json::clean_f64(s.into()),
            "threshold": siamese::model::json::clean_f64(threshold.into()),
            "threshold_source": source,
            "same_class": same,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "similarity {s:.4}: {} (threshold {threshold:.3}, {source})",
        if same {
            "same class"
        } else {
            "different classes"
        }
    );
    Ok(())
}

/// The threshold that calls a pair "same": `given`, else the one chosen on validation (the
/// `threshold` of test.json beside the checkpoint, which `siamese train` writes), else 0.5;
/// with where it came from.
fn threshold_of(checkpoint: &Path, given: Option<f32>) -> (f32, &'static str) {
    if let Some(t) = given {
        return (t, "given by --threshold");
    }
    let test_json = checkpoint.with_file_name("test.json");
    let stored = std::fs::read_to_string(test_json)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("threshold")?.as_f64());
    match stored {
        Some(t) => (t as f32, "chosen on validation, from the run's test.json"),
        None => (
            0.5,
            "0.5: no test.json with a validation threshold beside the checkpoint",
        ),
    }
}

pub fn run_show(a: ShowArgs) -> CliResult {
    let (mut model, cfg) = SnLenet5::from_checkpoint(&a.checkpoint)?;
    let (_, h, w) = cfg.kind()?.geometry();
    siamese::data::viz::grid_size(a.count, a.grid.cols, a.grid.scale, (h, w))?;
    let loaded = crate::data_cmds::load(cfg.kind()?, &a.data)?;
    let test = &loaded.test;
    let pairs: Vec<Pair> = siamese::data::viz::figure_pairs(test, a.count, a.seed)?;
    let ia: Vec<u32> = pairs.iter().map(|p| p.a).collect();
    let ib: Vec<u32> = pairs.iter().map(|p| p.b).collect();
    let s = model.score(&images_tensor(test, &ia)?, &images_tensor(test, &ib)?, 1000)?;
    let (threshold, source) = threshold_of(&a.checkpoint, a.threshold);
    let verdicts: Vec<siamese::data::viz::Verdict> = pairs
        .iter()
        .zip(&s)
        .map(|(p, &s)| siamese::data::viz::Verdict {
            similarity: s,
            same: p.y == 1,
            called_same: s > threshold,
        })
        .collect();
    let title = format!("SN-LeNet-5 on {} test pairs", loaded.title);
    let img = siamese::data::viz::prediction_grid(
        test,
        &pairs,
        &verdicts,
        (threshold, source),
        &title,
        a.grid.cols,
        a.grid.scale,
    )?;
    save_png(&a.out, &img)?;
    let right = verdicts.iter().filter(|v| v.same == v.called_same).count();
    println!(
        "wrote {}: {} {} test pairs, {right} called right at threshold {threshold:.3} ({source})",
        a.out.display(),
        pairs.len(),
        loaded.title,
    );
    Ok(())
}

pub fn run_sweep(a: SweepArgs) -> CliResult {
    set_threads(a.run.threads)?;
    let base = build_config(&a.run, Some(a.epochs), 64, 0.001, Some(&a.pair))?;
    // Every setting of the sweep is checked before the data loads.
    for (&lr, &batch) in a
        .lrs
        .iter()
        .flat_map(|l| a.batches.iter().map(move |b| (l, b)))
    {
        TrainConfig {
            lr,
            batch,
            ..base.clone()
        }
        .validate()?;
    }
    let (data, title) = crate::data_cmds::prepare(&base, &a.run.data)?;
    println!(
        "sweep on {}: {} training images, {} epoch(s) per setting, seed {}",
        title,
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
        lines.push_str(&siamese::model::json::to_line(p)?);
        lines.push('\n');
    }
    if let Some(p) = &a.out {
        siamese::model::io::atomic_write(p, lines.as_bytes())
            .map_err(|e| format!("{}: {e}", p.display()))?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

pub fn run_train_baseline(a: BaselineArgs) -> CliResult {
    set_threads(a.run.threads)?;
    let cfg = build_config(&a.run, Some(a.epochs), a.step.batch, a.step.lr, None)?;
    cfg.validate()?;
    let (data, title) = crate::data_cmds::prepare(&cfg, &a.run.data)?;
    println!(
        "LeNet-5 classifier on {}: {} training images, {} epochs, batch {}, Adam lr {}, seed {}",
        title,
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
