//! Tests of checkpoints: round trips, refusals, resume state.

use super::*;
use crate::siamese::SnLenet5;

fn model(embedding: usize) -> SnLenet5 {
    let mut cfg = ModelConfig::for_input(1, 28, 28);
    cfg.embedding = embedding;
    SnLenet5::new(cfg, 3).unwrap()
}

#[test]
fn round_trip_keeps_every_tensor_and_the_config() {
    let m = model(10);
    let mut ck = Checkpoint::from_store(FORMAT_SIAMESE, &m.config, &m.store);
    ck.extra.insert("note".into(), "hello".into());
    let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), Path::new("x")).unwrap();
    let mut sorted = ck.clone();
    sorted.tensors.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(back, sorted);
    // PyTorch layouts and names.
    assert_eq!(
        back.tensor("subnet.conv1.weight").unwrap().shape(),
        &[6, 1, 5, 5]
    );
    assert_eq!(
        back.tensor("subnet.fc1.weight").unwrap().shape(),
        &[120, 400]
    );
    assert!(back.tensor("head.bn.running_var").is_some());
    let mut fresh = model(10);
    fresh.store.value_mut(fresh.subnet.fc1.weight).data_mut()[0] = 123.0;
    back.load_into(&mut fresh.store, Path::new("x")).unwrap();
    assert_eq!(
        fresh.store.get("subnet.fc1.weight"),
        m.store.get("subnet.fc1.weight")
    );
}

#[test]
fn another_architecture_is_refused_by_name() {
    let small = model(5);
    let ck = Checkpoint::from_store(FORMAT_SIAMESE, &small.config, &small.store);
    let mut big = model(10);
    let e = ck
        .load_into(&mut big.store, Path::new("a.safetensors"))
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("subnet.fc3") && msg.contains("another architecture"),
        "{msg}"
    );
}

#[test]
fn corrupt_bytes_are_errors_not_panics() {
    let m = model(10);
    let bytes = Checkpoint::from_store(FORMAT_SIAMESE, &m.config, &m.store)
        .to_bytes()
        .unwrap();
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Checkpoint::from_bytes(&bytes[..cut], Path::new("t")).is_err(),
            "cut {cut}"
        );
    }
    let e = Checkpoint::from_bytes(b"garbage!garbage!", Path::new("g.st")).unwrap_err();
    assert!(e.to_string().contains("g.st"));
}

use crate::testing::tiny_run;

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "siamese-ck-{name}-{}.safetensors",
        std::process::id()
    ))
}

#[test]
fn from_checkpoint_gives_back_the_weights_and_the_training_config() {
    let (mut cfg, _) = tiny_run(3);
    cfg.seed = 9;
    let mut trained = SnLenet5::new(cfg.model.clone(), 1).unwrap();
    trained
        .store
        .value_mut(trained.subnet.fc1.weight)
        .data_mut()[0] = 42.0;
    let path = scratch("of-run");
    Checkpoint::of_run(&cfg, &trained.store)
        .save(&path)
        .unwrap();
    let (mut back, back_cfg) = SnLenet5::from_checkpoint(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back_cfg, cfg);
    for (name, t) in trained.store.named_tensors() {
        assert_eq!(back.store.get(name), Some(t), "{name}");
    }
    // Ready to score: evaluation mode, the trained model's numbers.
    assert!(!back.head.bn.training);
    let x = crate::testing::images(4, 1, 28, 5);
    assert_eq!(
        back.score(&x, &x, 2).unwrap(),
        trained.score(&x, &x, 2).unwrap()
    );
}

#[test]
fn from_checkpoint_refuses_what_it_cannot_load_in_one_line_naming_the_file() {
    let (cfg, _) = tiny_run(1);
    let m = SnLenet5::new(cfg.model.clone(), 1).unwrap();
    let p = Path::new("runs/x/best.safetensors");
    let check = |ck: Checkpoint, needle: &str| {
        let e = SnLenet5::from_loaded_checkpoint(&ck, p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("runs/x/best.safetensors") && e.contains(needle),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    };
    let mut classifier = Checkpoint::of_run(&cfg, &m.store);
    classifier.format = FORMAT_CLASSIFIER.into();
    check(
        classifier,
        "is a siamese/lenet5-classifier/v1 checkpoint, not SN-LeNet-5",
    );
    check(
        Checkpoint::from_store(FORMAT_SIAMESE, &cfg.model, &m.store),
        "has no training config",
    );
    let mut bad_json = Checkpoint::of_run(&cfg, &m.store);
    bad_json.extra.insert("train".into(), "{".into());
    check(bad_json, "bad 'train' metadata");
    let mut small = cfg.clone();
    small.model.embedding = 4;
    let other = SnLenet5::new(small.model.clone(), 1).unwrap();
    let mut wrong = Checkpoint::of_run(&cfg, &other.store);
    wrong.model = cfg.model.clone();
    check(wrong, "another architecture");
    let missing = scratch("missing");
    let e = SnLenet5::from_checkpoint(&missing).unwrap_err().to_string();
    assert!(e.contains(&*missing.to_string_lossy()), "{e}");
}

#[test]
fn a_resumable_checkpoint_restores_moments_step_and_state() {
    let (cfg, _) = tiny_run(2);
    let m = SnLenet5::new(cfg.model.clone(), 2).unwrap();
    let n = m.store.params().count();
    let moments = |k: f32| -> Vec<Tensor> {
        m.store
            .params()
            .map(|(_, t)| Tensor::full(t.shape(), k).unwrap())
            .collect()
    };
    let adam = AdamState {
        step: 17,
        m: moments(0.25),
        v: moments(0.5),
    };
    let state = TrainState {
        epoch: 1,
        batch_in_epoch: 3,
        loss_sum: 1.5,
        correct: 40,
        seen: 48,
        seconds: 2.0,
        best_val_acc: Some(0.75),
        history: Vec::new(),
        best_weights: None,
    };
    let path = scratch("resume");
    Checkpoint::resumable(&cfg, &m, &adam, &state)
        .save(&path)
        .unwrap();
    let (c, back, a, s) = load_resume(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!((c, s), (cfg.clone(), state));
    assert_eq!((a.step, a.m.len(), a.v.len()), (17, n, n));
    assert_eq!((a.m, a.v), (adam.m, adam.v));
    assert_eq!(
        back.store.get("subnet.fc1.weight"),
        m.store.get("subnet.fc1.weight")
    );
    // best.safetensors has the weights and the config but no run state.
    let best = scratch("best");
    Checkpoint::of_run(&cfg, &m.store).save(&best).unwrap();
    let e = load_resume(&best).unwrap_err().to_string();
    std::fs::remove_file(&best).unwrap();
    assert!(e.contains("resume from last.safetensors"), "{e}");
}

/// Issue 13, cause 3: NaN or infinite weights were accepted silently (`eval` printed
/// "accuracy 50.00%", `compare` said "same class" for any pair, `--resume` went on).
#[test]
fn non_finite_weights_are_refused_by_tensor_name() {
    let (cfg, _) = tiny_run(1);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut m = SnLenet5::new(cfg.model.clone(), 1).unwrap();
        m.store.value_mut(m.subnet.fc2.weight).data_mut()[7] = bad;
        let bytes = Checkpoint::of_run(&cfg, &m.store).to_bytes().unwrap();
        let e = Checkpoint::from_bytes(&bytes, Path::new("nan.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nan.safetensors")
                && e.contains("tensor 'subnet.fc2.weight' holds")
                && e.contains("at index 7")
                && e.contains("not finite"),
            "{e}"
        );
    }
}

/// Issue 13, cause 1: the `train` metadata is bounded like the flags it came from.
#[test]
fn train_metadata_out_of_range_is_refused() {
    let (mut cfg, _) = tiny_run(1);
    let m = SnLenet5::new(cfg.model.clone(), 1).unwrap();
    cfg.batch = 1 << 40;
    let ck = Checkpoint::of_run(&cfg, &m.store);
    let e = ck
        .train_config(Path::new("b.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad 'train' metadata: --batch must be at least 1 and at most 4096"),
        "{e}"
    );
}

/// A `--width 2` network round-trips: its config (K = 2) and its wider tensors come back,
/// and the rebuilt model scores pairs exactly as the saved one. A K = 2 checkpoint does not
/// load into the paper's K = 1 network.
#[test]
fn a_width_2_checkpoint_round_trips_and_is_refused_by_width_1() {
    let mut run = TrainConfig::paper(siamese_data::DatasetKind::Cifar10);
    run.model.widen = 2;
    let mut m = SnLenet5::new(run.model.clone(), 5).unwrap();
    let ck = Checkpoint::of_run(&run, &m.store);
    let path = Path::new("w2.safetensors");
    let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), path).unwrap();
    assert_eq!(back.model.widen, 2);
    let shape = |n: &str| back.tensor(n).unwrap().shape().to_vec();
    assert_eq!(shape("subnet.conv1.weight"), [12, 3, 5, 5]);
    assert_eq!(shape("subnet.conv2.weight"), [32, 12, 5, 5]);
    assert_eq!(shape("subnet.fc1.weight"), [240, 800]);
    assert_eq!(shape("subnet.fc2.weight"), [168, 240]);
    assert_eq!(shape("subnet.fc3.weight"), [10, 168]);
    let (mut rebuilt, _) = SnLenet5::from_loaded_checkpoint(&back, path).unwrap();
    let (a, b) = (
        crate::testing::images(6, 3, 32, 1),
        crate::testing::images(6, 3, 32, 2),
    );
    assert_eq!(
        rebuilt.score(&a, &b, 4).unwrap(),
        m.score(&a, &b, 4).unwrap()
    );
    let mut narrow = SnLenet5::new(ModelConfig::for_input(3, 32, 32), 5).unwrap();
    let e = back.load_into(&mut narrow.store, path).unwrap_err();
    assert!(e.to_string().contains("another architecture"), "{e}");
}
