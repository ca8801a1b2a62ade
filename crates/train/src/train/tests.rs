//! Tests of the training loop and its step, on a tiny hand-made run.

use super::pairs::loss_of_scores;
use super::*;
use siamese_model::checkpoint::load_resume;
use siamese_model::config::LossKind;
use siamese_model::run::PAPER_LR;
use siamese_model::siamese::{stack_pairs, Objective};
use siamese_model::testing::tiny_run;
use siamese_tensor::Tensor;

fn batch(data: &RunData, n: usize) -> (Tensor, Tensor) {
    let pairs = &data.val_pairs[..n];
    let ids = |f: fn(&siamese_data::Pair) -> u32| pairs.iter().map(f).collect::<Vec<u32>>();
    let a = siamese_data::images_tensor(&data.train, &ids(|p| p.a)).unwrap();
    let b = siamese_data::images_tensor(&data.train, &ids(|p| p.b)).unwrap();
    let y = pairs.iter().map(|p| f32::from(p.y)).collect();
    (
        stack_pairs(&a, &b).unwrap(),
        Tensor::from_vec(&[n], y).unwrap(),
    )
}

#[test]
fn train_step_learns_a_batch() {
    let (cfg, data) = tiny_run(1);
    let mut model = SnLenet5::new(cfg.model.clone(), 3).unwrap();
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    let (x, y) = batch(&data, 16);
    let loss = Objective::Pairs(LossKind::ContrastiveSigmoid);
    let (first, s) = train_step(&mut model, &mut adam, x.clone(), &y, loss, PAPER_LR).unwrap();
    assert_eq!(s.len(), 16);
    assert!(s.iter().all(|s| (0.0..=1.0).contains(s)), "{s:?}");
    let mut last = first;
    for _ in 0..20 {
        last = train_step(&mut model, &mut adam, x.clone(), &y, loss, PAPER_LR)
            .unwrap()
            .0;
    }
    assert!(last < first, "20 steps on one batch: {first} -> {last}");
    assert_eq!(adam.state().step, 21);
}

#[test]
fn a_run_writes_its_files_and_a_resumed_half_run_ends_where_the_whole_run_does() {
    let dir = std::env::temp_dir().join(format!("siamese-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (cfg, data) = tiny_run(2);
    let opts = TrainOptions {
        out: Some(dir.clone()),
        ..Default::default()
    };
    let whole = train(&cfg, &data, None, &opts, &mut Silent).unwrap();
    assert!(!whole.interrupted);
    assert_eq!(whole.state.history.len(), 2);
    let test = whole.test.as_ref().expect("tested at the end");
    assert_eq!(test.pairs, data.test_pairs.len());
    let files = RunFiles { dir: dir.clone() };
    for f in [files.best(), files.last(), files.metrics()] {
        assert!(f.exists(), "{} missing", f.display());
    }
    // curves.png is drawn only with the `plot` feature (the CLI turns it on).
    assert_eq!(files.curves().exists(), cfg!(feature = "plot"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(files.test()).unwrap()).unwrap();
    let threshold = json["threshold"].as_f64().map(|t| t as f32);
    assert_eq!(threshold, Some(test.threshold));
    assert_eq!(json["pairs"].as_u64(), Some(test.pairs as u64));
    let (_, best_cfg) = SnLenet5::from_checkpoint(&files.best()).unwrap();
    assert_eq!(best_cfg, cfg);
    let whole_last = Checkpoint::load(&files.last()).unwrap();
    // Stop after epoch 1 (a run of 1 epoch writes the same last.safetensors as epoch 1 of
    // 2 would, but for its config), then resume the 2-epoch run from it.
    let mut half_cfg = cfg.clone();
    half_cfg.epochs = 1;
    let half = train(&half_cfg, &data, None, &opts, &mut Silent).unwrap();
    assert_eq!(half.state.epoch, 1);
    let (_, model, adam, state) = load_resume(&files.last()).unwrap();
    let resumed = train(&cfg, &data, Some((model, adam, state)), &opts, &mut Silent).unwrap();
    let resumed_last = Checkpoint::load(&files.last()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        resumed.state.history.last().unwrap().train_loss,
        whole.state.history.last().unwrap().train_loss
    );
    // The same weights and Adam moments after epoch 2, bit for bit.
    assert_eq!(resumed_last.tensors, whole_last.tensors);
}

/// The device engine (here on the CPU backend) runs the same loop: same epochs, the same
/// pairs and batches, validation, the threshold-then-test evaluation through its own
/// scorer, and a loss that follows the tape's (the same equations, summed in another
/// order).
#[test]
fn train_on_a_backend_runs_the_same_loop_as_the_tape() {
    let (cfg, data) = tiny_run(2);
    let opts = TrainOptions::default();
    let tape = train(&cfg, &data, None, &opts, &mut Silent).unwrap();
    let cpu = siamese_tensor::CpuBackend;
    let dev = train_on(cpu, &cfg, &data, None, &opts, &mut Silent).unwrap();
    assert_eq!(dev.state.history.len(), 2);
    for (d, t) in dev.state.history.iter().zip(&tape.state.history) {
        assert_eq!((d.epoch, d.steps), (t.epoch, t.steps));
        let gap = (d.train_loss - t.train_loss).abs();
        assert!(gap < 1e-3 * t.train_loss.max(1e-3), "{d:?} vs {t:?}");
    }
    let (d, t) = (dev.test.unwrap(), tape.test.unwrap());
    assert_eq!(d.pairs, t.pairs);
    assert!(
        (d.accuracy_at_half - t.accuracy_at_half).abs() <= 0.05,
        "{d:?} vs {t:?}"
    );
    // A configuration the device step does not implement is refused by name.
    let mut tanh = cfg.clone();
    tanh.model.activation = siamese_model::config::Activation::Tanh;
    let e = train_on(cpu, &tanh, &data, None, &opts, &mut Silent).unwrap_err();
    assert!(e.to_string().contains("--act tanh"), "{e}");
}

/// The validation line's loss is the training loss's own arithmetic on the scores.
#[test]
fn validation_loss_is_the_loss_op_on_the_scores() {
    let (s, y) = ([0.9f32, 0.3], [1.0f32, 0.0]);
    let c = loss_of_scores(LossKind::ContrastiveSigmoid, &s, &y).unwrap();
    assert!((c - 0.05).abs() < 1e-7, "{c}"); // ((1 − 0.9)² + 0.3²)/2
    let b = loss_of_scores(LossKind::Bce, &s, &y).unwrap();
    let want = -((0.9f64).ln() + (0.7f64).ln()) / 2.0;
    assert!((b - want).abs() < 1e-6, "{b} vs {want}");
    assert_eq!(loss_of_scores(LossKind::ContrastiveDistance, &s, &y), None);
    assert_eq!(loss_of_scores(LossKind::Bce, &[], &[]), None);
}

/// Issue 13, cause 6: after `--resume`, test.json came from the last epoch's weights when
/// validation did not improve after the resume (while the CLI said "best validation epoch's
/// weights"). The best weights travel in last.safetensors and the final test scores them.
/// The resumed run's `--epochs` is recorded with each epoch in metrics.jsonl.
#[test]
fn a_resumed_run_tests_the_best_epochs_weights() {
    let dir = std::env::temp_dir().join(format!("siamese-train-best-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (cfg, data) = tiny_run(2);
    let opts = TrainOptions {
        out: Some(dir.clone()),
        ..Default::default()
    };
    let mut half_cfg = cfg.clone();
    half_cfg.epochs = 1;
    train(&half_cfg, &data, None, &opts, &mut Silent).unwrap();
    let files = RunFiles { dir: dir.clone() };
    // Epoch 1's weights, the best so far; no validation after the resume can beat 2.0.
    let best = Checkpoint::load(&files.best()).unwrap();
    let mut last = Checkpoint::load(&files.last()).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&last.extra["state"]).unwrap();
    state["best_val_acc"] = 2.0.into();
    last.extra.insert("state".into(), state.to_string());
    last.save(&files.last()).unwrap();
    let (_, model, adam, state) = load_resume(&files.last()).unwrap();
    let resumed = train(&cfg, &data, Some((model, adam, state)), &opts, &mut Silent).unwrap();
    let metrics = std::fs::read_to_string(files.metrics()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(resumed.state.history.len(), 2);
    assert!(resumed.test.is_some());
    for (name, t) in resumed.model.store.named_tensors() {
        assert_eq!(
            Some(t),
            best.tensor(name),
            "{name}: not the best epoch's weights"
        );
    }
    let epochs: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["epochs"].clone())
        .collect();
    assert_eq!(epochs, [1, 2]);
}

#[test]
fn training_sets_flush_to_zero_on_every_worker_of_its_pool() {
    use siamese_tensor::fpmode;
    if cfg!(not(any(target_arch = "x86_64", target_arch = "aarch64"))) || !fpmode::flush_policy() {
        return; // nothing to set here, or SIAMESE_IEEE_SUBNORMALS asks for IEEE
    }
    let (cfg, data) = tiny_run(1);
    // A pool built by a thread in the default mode: its workers start without flushing.
    fpmode::set_flush(false);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let flushes = || rayon::broadcast(|_| fpmode::current_thread_flushes());
    assert_eq!(pool.install(flushes), vec![false, false]);
    pool.install(|| train(&cfg, &data, None, &TrainOptions::default(), &mut Silent))
        .unwrap();
    assert_eq!(pool.install(flushes), vec![true, true]);
}

/// curves.png's title names the dataset, the seed, the nearest recipe and the settings beyond it.
#[test]
fn the_curves_title_names_the_changed_settings() {
    let (mut cfg, _) = tiny_run(3);
    let opts = TrainOptions::default();
    assert_eq!(
        super::pairs::curves_title(&cfg, &opts),
        "SN-LeNet-5 on MNIST (seed 0; --recipe paper --epochs 3)"
    );
    cfg.lr = 0.01;
    assert_eq!(
        super::pairs::curves_title(&cfg, &opts),
        "SN-LeNet-5 on MNIST (seed 0; --recipe paper --epochs 3 --lr 0.01)"
    );
}

/// Issue 27, point 9: a run under `--force` that fails before its first checkpoint (here
/// last.safetensors cannot be replaced: it is a folder; on a full disk, the write fails) used
/// to leave its new config.json beside the previous run's checkpoints. config.json is written
/// with last.safetensors now, so the previous one stays; a run that saves writes its own.
#[test]
fn a_run_that_fails_before_its_first_checkpoint_keeps_the_previous_config() {
    let dir = std::env::temp_dir().join(format!("siamese-train-cfg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let files = RunFiles { dir: dir.clone() };
    std::fs::create_dir_all(files.last()).unwrap();
    std::fs::write(files.config(), b"the previous run's config").unwrap();
    let (cfg, data) = tiny_run(1);
    let opts = TrainOptions {
        out: Some(dir.clone()),
        ..Default::default()
    };
    assert!(train(&cfg, &data, None, &opts, &mut Silent).is_err());
    let kept = std::fs::read(files.config()).unwrap();
    assert_eq!(kept, b"the previous run's config");
    std::fs::remove_dir_all(files.last()).unwrap();
    train(&cfg, &data, None, &opts, &mut Silent).unwrap();
    let written: TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(files.config()).unwrap()).unwrap();
    assert_eq!(written, cfg);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The mean triplet loss (every valid triplet, the run's margin) of the test images'
/// embeddings under `model`, on the unit sphere for the cosine module: what `--loss triplet`
/// lowers, measured on images it never trained on.
fn test_triplet_loss(model: &SnLenet5, data: &siamese_model::run::RunData, margin: f32) -> f32 {
    use siamese_tensor::ops::{distance, triplet};
    let n = data.test.labels.len();
    let ids: Vec<u32> = (0..n as u32).collect();
    let x = siamese_data::images_tensor(&data.test, &ids).unwrap();
    let mut e = model.embed(&x).unwrap().data().to_vec();
    let width = e.len() / n;
    if model.config.distance == siamese_model::config::Distance::Cosine {
        let raw = e.clone();
        distance::unit_rows_forward(n, width, &raw, 1e-7, &mut e).unwrap();
    }
    let all = triplet::Mining::All;
    triplet::triplet_forward(n, width, &e, &data.test.labels, margin, all, 1e-7)
        .unwrap()
        .0
}

/// `--loss triplet` learns, with every mining and on both comparison modules: the triplet
/// loss of the test images' embeddings falls to under half its value at the start (with the
/// triplet term cut from the objective it stays where it was: the head alone learns), the
/// test pairs are told apart, and the output module (trained apart, by BCE on the detached
/// distance) reads the distance the right way round. The device step refuses the loss.
#[test]
fn a_triplet_run_learns_with_every_mining_and_the_device_refuses_it() {
    use siamese_model::config::{Distance, Mining, TripletConfig};
    for distance in [Distance::Euclidean, Distance::Cosine] {
        for mining in [Mining::All, Mining::BatchHard, Mining::SemiHard] {
            let (mut cfg, data) = tiny_run(4);
            cfg.model.distance = distance;
            cfg.loss = LossKind::Triplet;
            let t = TripletConfig {
                mining,
                ..TripletConfig::default_for(distance)
            };
            cfg.triplet = Some(t);
            cfg.validate().unwrap();
            let fresh = SnLenet5::new(cfg.model.clone(), cfg.seed).unwrap();
            let before = test_triplet_loss(&fresh, &data, t.margin);
            let out = train(&cfg, &data, None, &TrainOptions::default(), &mut Silent).unwrap();
            let after = test_triplet_loss(&out.model, &data, t.margin);
            let test = out.test.unwrap();
            let what = format!("{distance} {mining}: triplet loss {before} -> {after}, {test:?}");
            assert!(after < 0.5 * before, "{what}");
            assert!(test.roc_auc.is_some_and(|a| a > 0.9), "{what}");
            assert!(test.accuracy_at_threshold > 0.8, "{what}");
        }
    }
    let (mut cfg, data) = tiny_run(1);
    cfg.loss = LossKind::Triplet;
    cfg.triplet = Some(TripletConfig::default_for(Distance::Euclidean));
    let cpu = siamese_tensor::CpuBackend;
    let err = train_on(
        cpu,
        &cfg,
        &data,
        None,
        &TrainOptions::default(),
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("--loss triplet"), "{err}");
}
