//! Tests of the run's config, data, files and resume rules, and the tiny hand-made run the
//! training tests share.

use super::*;

use crate::testing::{tiny_run, tiny_set};

#[test]
fn run_data_holds_the_split_the_limit_and_both_pair_lists() {
    let (mut cfg, data) = tiny_run(1);
    // 20 % held out, stratified; one positive and one negative pair per image.
    assert_eq!((data.train_idx.len(), data.val_pairs.len()), (80, 40));
    assert_eq!(data.test_pairs.len(), 80);
    assert!(data
        .val_pairs
        .iter()
        .all(|p| !data.train_idx.contains(&p.a)));
    cfg.limit = Some(30);
    let limited = RunData::from_sets(&cfg, tiny_set(100, 1), tiny_set(40, 2), None).unwrap();
    assert_eq!(limited.train_idx.len(), 30);
    assert_eq!(limited.val_pairs, data.val_pairs);
}

#[test]
fn a_class_subset_keeps_split_validation_and_test_pairs_inside_it() {
    let (mut cfg, _) = tiny_run(1);
    cfg.train_classes = Some(vec![0, 1, 2, 3, 4, 5, 6]);
    let data = RunData::from_sets(&cfg, tiny_set(100, 1), tiny_set(40, 2), None).unwrap();
    let seen = |set: &ImageSet, i: u32| set.labels[i as usize] < 7;
    assert_eq!(data.train_idx.len(), 56);
    assert!(data.train_idx.iter().all(|&i| seen(&data.train, i)));
    assert_eq!(data.val_pairs.len(), 28);
    assert!(data
        .val_pairs
        .iter()
        .all(|p| seen(&data.train, p.a) && seen(&data.train, p.b)));
    assert_eq!(data.test_pairs.len(), 56);
    assert!(data
        .test_pairs
        .iter()
        .all(|p| seen(&data.test, p.a) && seen(&data.test, p.b)));
    // Stored with the config; an old config without the field reads as all classes.
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), cfg);
    cfg.train_classes = None;
    assert!(!serde_json::to_string(&cfg)
        .unwrap()
        .contains("train_classes"));
    for bad in [vec![3], vec![0, 10]] {
        cfg.train_classes = Some(bad);
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("--train-classes"), "{e}");
    }
}

#[test]
fn bad_settings_are_config_errors() {
    let (cfg, _) = tiny_run(1);
    assert!(cfg.validate().is_ok());
    type Change = fn(&mut TrainConfig);
    let cases: [(Change, &str); 3] = [
        (|c| c.epochs = 0, "at least 1"),
        (|c| c.lr = -1.0, "--lr must be positive"),
        (|c| c.limit = Some(0), "--limit"),
    ];
    for (change, needle) in cases {
        let mut c = cfg.clone();
        change(&mut c);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
    // A schedule is a type now: an unknown one is refused where it is read.
    let e = "step".parse::<Schedule>().unwrap_err().to_string();
    assert!(e.contains("unknown schedule 'step'"), "{e}");
}

/// Issue 13, cause 10: a second `train` into a run folder replaced the first run's files
/// silently. A folder holding any run file is refused (naming them) unless forced.
#[test]
fn a_folder_holding_a_run_is_refused_unless_forced() {
    let dir = std::env::temp_dir().join(format!("siamese-claim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(RunFiles::claim(&dir, false).is_ok(), "a new folder");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    assert!(
        RunFiles::claim(&dir, false).is_ok(),
        "a folder without run files"
    );
    std::fs::write(dir.join("metrics.jsonl"), b"{}").unwrap();
    std::fs::write(dir.join("config.json"), b"{}").unwrap();
    let e = RunFiles::claim(&dir, false).unwrap_err().to_string();
    assert!(
        e.contains("already holds a run (config.json, metrics.jsonl)")
            && e.contains("--force")
            && e.contains("--resume"),
        "{e}"
    );
    assert!(RunFiles::claim(&dir, true).is_ok());
    let file = dir.join("notes.txt");
    let e = RunFiles::claim(&file, true).unwrap_err().to_string();
    assert!(e.contains("is not a folder"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 13, cause 7: `--resume` ignored run flags. A typed flag that differs from the
/// resumed run is refused, naming it with both values; `--epochs` may only grow; flags
/// not typed (their defaults) are not compared.
#[test]
fn resume_refuses_conflicting_flags_and_allows_more_epochs() {
    let (run, _) = tiny_run(2);
    let mut given = TrainConfig::paper(DatasetKind::Mnist);
    given.lr = 0.5;
    given.epochs = 5;
    // Not typed: the defaults of the command line do not conflict.
    assert_eq!(run.resumed_with(&given, &[]).unwrap(), run);
    let lr = (RunSetting::Lr, "--lr");
    let e = run.resumed_with(&given, &[lr]).unwrap_err().to_string();
    assert!(
        e.contains("--lr 0.5 conflicts with the resumed run's --lr 0.001"),
        "{e}"
    );
    given.model.embedding = 32;
    let e = run
        .resumed_with(&given, &[(RunSetting::Embedding, "--embedding")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--embedding 32 conflicts with the resumed run's --embedding 10"),
        "{e}"
    );
    given.dataset = DatasetKind::Cifar10.into();
    let dataset = (RunSetting::Dataset, "--dataset");
    let e = run
        .resumed_with(&given, &[dataset])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--dataset cifar-10 conflicts"), "{e}");
    // The same value typed again is no conflict; --epochs may be extended, not cut.
    let seed = (RunSetting::Seed, "--seed");
    let same = run.resumed_with(&run, &[lr, dataset, seed]).unwrap();
    assert_eq!(same, run);
    let longer = run
        .resumed_with(&given, &[(RunSetting::Epochs, "--epochs")])
        .unwrap();
    assert_eq!(longer.epochs, 5);
    assert_eq!(
        TrainConfig {
            epochs: 2,
            ..longer.clone()
        },
        run
    );
    given.epochs = 1;
    let e = run
        .resumed_with(&given, &[(RunSetting::Epochs, "--epochs")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--epochs 1 is below the resumed run's --epochs 2"),
        "{e}"
    );
}

/// Issue 27, point 9: a `--train-classes` conflict printed Rust's debug text ("Some([0, 1,
/// 2])"); it prints the classes as the flag takes them, and "all" for no subset.
#[test]
fn a_train_classes_conflict_prints_the_classes_as_the_flag_takes_them() {
    let (run, _) = tiny_run(1);
    let mut given = run.clone();
    given.train_classes = Some(vec![0, 1, 2]);
    let typed = [(RunSetting::TrainClasses, "--train-classes")];
    let e = run.resumed_with(&given, &typed).unwrap_err().to_string();
    assert!(e.contains("--train-classes 0,1,2 conflicts"), "{e}");
    assert!(e.contains("--train-classes all"), "{e}");
    assert!(!e.contains("Some(") && !e.contains('['), "{e}");
    let mut bad = run.clone();
    bad.train_classes = Some(vec![3]);
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.ends_with("got 3"), "{e}");
}

/// config.json and checkpoints written while the dataset and the schedule were strings
/// load as the enums, and the enums are written with the same spelling.
#[test]
fn old_config_json_spellings_load() {
    let (cfg, _) = tiny_run(1);
    let json = serde_json::to_value(&cfg).unwrap();
    for (dataset, kind) in [
        ("mnist", DatasetKind::Mnist),
        ("fashion-mnist", DatasetKind::FashionMnist),
        ("cifar-10", DatasetKind::Cifar10),
    ] {
        for (schedule, sched) in [
            ("constant", Schedule::Constant),
            ("cosine", Schedule::Cosine),
        ] {
            let mut old = json.clone();
            old["dataset"] = dataset.into();
            old["schedule"] = schedule.into();
            let text = serde_json::to_string_pretty(&old).unwrap();
            let back: TrainConfig = serde_json::from_str(&text).unwrap();
            assert_eq!((&back.dataset, back.schedule), (&kind.into(), sched));
            let again = serde_json::to_value(&back).unwrap();
            assert_eq!(
                (again["dataset"].as_str(), again["schedule"].as_str()),
                (Some(dataset), Some(schedule))
            );
        }
    }
    let mut bad = json.clone();
    bad["schedule"] = "step".into();
    let e = serde_json::from_value::<TrainConfig>(bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variant `step`"), "{e}");
    let mut bad = json;
    bad["dataset"] = "svhn".into();
    assert!(serde_json::from_value::<TrainConfig>(bad).is_err());
}

/// "Best validation epoch": the highest accuracy, the first on ties; unvalidated epochs
/// never count.
#[test]
fn best_epoch_is_the_first_highest() {
    assert!(beats(0.5, None) && beats(0.6, Some(0.5)));
    assert!(!beats(0.5, Some(0.5)) && !beats(0.4, Some(0.5)));
    let h = [(1, Some(0.5)), (2, None), (3, Some(0.7)), (4, Some(0.7))];
    assert_eq!(best_epoch(h), Some((3, 0.7)));
    assert_eq!(best_epoch([(1, None)]), None);
}

/// The flags beyond a recipe: each setting that differs, spelled as `siamese train` does,
/// and the nearest recipe with the fewest of them.
#[test]
fn flags_beyond_a_recipe_name_each_changed_setting() {
    let paper = TrainConfig::paper(DatasetKind::Mnist);
    assert!(paper.flags_beyond(&paper).is_empty());
    assert_eq!(paper.as_recipe(), (Recipe::Paper, vec![]));
    let mut cfg = paper.clone();
    cfg.seed = 7;
    cfg.lr = 0.01;
    cfg.schedule = Schedule::Cosine;
    cfg.model.embedding_activation = crate::config::EmbeddingActivation::Linear;
    cfg.model.widen = 3;
    assert_eq!(
        cfg.flags_beyond(&paper),
        [
            "--lr 0.01",
            "--schedule cosine",
            "--width 3",
            "--emb-act linear"
        ]
    );
    let mut ours = Recipe::Ours.config(DatasetKind::Mnist);
    ours.lr = 0.01;
    assert_eq!(ours.as_recipe(), (Recipe::Ours, vec!["--lr 0.01".into()]));
    // `--width K` beyond either recipe when K ≠ 1, and nothing when K = 1.
    let mut wide = Recipe::Ours.config(DatasetKind::Cifar10);
    wide.model.widen = 2;
    assert_eq!(wide.as_recipe(), (Recipe::Ours, vec!["--width 2".into()]));
    // A switch is spelt as the command line takes it, without a value.
    ours.pairs_per_epoch = false;
    assert_eq!(
        ours.flags_beyond(&Recipe::Ours.config(DatasetKind::Mnist)),
        ["--lr 0.01", "--fixed-pairs"]
    );
    assert_eq!(RunSetting::ValEvery.flag(), "--val-every");
}

/// `--loss triplet` carries its settings and nothing else does; the margin is bounded; the
/// settings are named as the command line spells them.
#[test]
fn triplet_settings_go_with_the_triplet_loss_only() {
    use crate::config::{Distance, Mining, TripletConfig};
    let mut cfg = TrainConfig::paper(DatasetKind::Mnist);
    let t = TripletConfig::default_for(Distance::Euclidean);
    assert_eq!((t.mining, t.margin), (Mining::SemiHard, 1.0));
    assert_eq!(TripletConfig::default_for(Distance::Cosine).margin, 0.5);
    cfg.triplet = Some(t);
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("--loss contrastive-sigmoid"), "{e}");
    cfg.loss = LossKind::Triplet;
    cfg.validate().unwrap();
    for bad in [0.0, -1.0, f32::NAN, 11.0] {
        cfg.triplet = Some(TripletConfig { margin: bad, ..t });
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("--margin"), "{bad}: {e}");
    }
    cfg.triplet = None;
    assert!(cfg.validate().is_err());
    cfg.triplet = Some(TripletConfig {
        mining: Mining::SemiHard,
        margin: 0.3,
    });
    let paper = TrainConfig::paper(DatasetKind::Mnist);
    assert_eq!(
        cfg.flags_beyond(&paper),
        ["--loss triplet", "--mining semi-hard", "--margin 0.3"]
    );
    // A config.json of before the triplet loss reads as no triplet settings.
    let json = crate::json::to_line(&paper).unwrap();
    assert!(!json.contains("triplet"), "{json}");
}
