//! Tests of the reproduce pipeline on the tiny hand-made run (no datasets needed).

use super::*;
use siamese::model::run::Augment;
use siamese::model::testing::tiny_run;
use siamese::train::train::Silent;

#[test]
fn mean_and_sample_sd() {
    let m = MeanSd::of(&[1.0, 2.0, 3.0]).unwrap();
    assert_eq!((m.mean, m.sd, m.n), (2.0, 1.0, 3));
    let one = MeanSd::of(&[0.25]).unwrap();
    assert_eq!((one.mean, one.sd), (0.25, 0.0));
    assert_eq!(MeanSd::of(&[]), None);
}

#[test]
fn splice_replaces_only_between_the_markers() {
    let doc = format!("# Results\nprose above\n{BEGIN}\nold table\n{END}\nprose below\n");
    let once = splice(&doc, "new table\n").unwrap();
    assert_eq!(
        once,
        format!("# Results\nprose above\n{BEGIN}\nnew table\n{END}\nprose below\n")
    );
    assert_eq!(splice(&once, "new table").unwrap(), once, "idempotent");
    let e = splice("no markers here", "x").unwrap_err().to_string();
    assert!(e.contains(BEGIN), "{e}");
    assert!(splice(&format!("{END} then {BEGIN}"), "x").is_err());
}

#[test]
fn the_command_is_the_shortest_of_the_recipes_and_names_every_flag_that_differs() {
    let ours = Recipe::Ours.config(DatasetKind::Mnist);
    assert_eq!(command(&ours), "siamese train --dataset mnist --seed SEED");
    let paper = TrainConfig::paper(DatasetKind::Mnist);
    assert_eq!(
        command(&paper),
        "siamese train --recipe paper --dataset mnist --seed SEED"
    );
    let mut c = paper.clone();
    c.epochs = 2;
    c.lr = 0.01;
    c.batch = 32;
    assert_eq!(
        command(&c),
        "siamese train --recipe paper --dataset mnist --epochs 2 --batch 32 --lr 0.01 --seed SEED"
    );
    let mut c = ours.clone();
    c.augment = Augment::None;
    c.model.embedding = 32;
    c.model.init = siamese::model::config::HeadInit::Glorot;
    assert_eq!(
        command(&c),
        "siamese train --dataset mnist --augment none --embedding 32 --init glorot --seed SEED"
    );
}

/// Two seeds of a tiny row run into their folders, read back, and render as one row with
/// mean ± sd, both seeds and the commit; a finished seed counts as done only for its own
/// configuration.
#[test]
fn seeds_run_read_back_and_render_as_one_row() {
    let runs = std::env::temp_dir().join(format!("siamese-reproduce-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runs);
    let (cfg, _) = tiny_run(1);
    let row = Row {
        id: "tiny".into(),
        table: Table::Headline,
        paper: "99.11%".into(),
        cfg: cfg.clone(),
        seeds: vec![0, 1, 2],
    };
    for seed in [0, 1] {
        let (mut c, _) = tiny_run(1);
        c.seed = seed;
        let data = siamese::model::run::RunData::from_sets(
            &c,
            siamese::model::testing::tiny_set(100, 1),
            siamese::model::testing::tiny_set(40, 2),
            None,
        )
        .unwrap();
        run_seed(&runs, &row, seed, "abc1234", &data, &mut Silent).unwrap();
        assert!(is_done(
            &seed_dir(&runs, &row, seed),
            &seed_config(&row, seed)
        ));
        assert!(!is_done(&seed_dir(&runs, &row, seed), &cfg.clone()) || seed == 0);
    }
    let results = collect(&runs, std::slice::from_ref(&row)).unwrap();
    assert_eq!(results[0].seeds.len(), 2);
    let s0 = &results[0].seeds[0];
    assert_eq!((s0.seed, s0.epochs, s0.commit.as_str()), (0, 1, "abc1234"));
    let t = s0.test.unwrap();
    assert!(
        (0.0..=1.0).contains(&t.acc_half) && t.score_10k > 0.0,
        "{t:?}"
    );
    let md = render(&results, "");
    let line = md.lines().find(|l| l.starts_with("| tiny |")).expect(&md);
    assert!(line.contains(" ± "), "{line}");
    assert!(
        line.contains("0, 1 (not run: 2)") && line.contains("abc1234"),
        "{line}"
    );
    assert!(
        line.contains("`siamese train --recipe paper --dataset mnist --epochs 1 --seed SEED`"),
        "{line}"
    );
    std::fs::remove_dir_all(&runs).unwrap();
}

#[test]
fn a_collapsed_setting_renders_as_collapsed() {
    let (cfg, _) = tiny_run(2);
    let row = Row {
        id: "s".into(),
        table: Table::Sensitivity,
        paper: String::new(),
        cfg,
        seeds: vec![0],
    };
    let seed = SeedResult {
        seed: 0,
        commit: "abc".into(),
        epochs: 1,
        best_epoch: Some(1),
        last_train_acc: 0.5,
        seconds_per_epoch: 3.0,
        test: None,
        groups: Vec::new(),
    };
    let results = [RowResult {
        row: &row,
        seeds: vec![seed],
    }];
    let md = render(&results, " --quick");
    assert!(
        md.contains("| 0.001 | collapsed at epoch 1 (50%) |"),
        "{md}"
    );
    assert!(md.contains("scripts/reproduce.sh --quick"), "{md}");
}

/// An unseen-class row: its run keeps groups.json (seen, unseen, mixed, all), which reads back
/// and renders as the unseen table's row with every group's figure.
#[test]
fn an_unseen_row_records_its_class_groups_and_renders_them() {
    let runs = std::env::temp_dir().join(format!("siamese-reproduce-u-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runs);
    let (cfg, _) = tiny_run(1);
    let row = unseen_row("tiny-0-6", cfg, true, &[0]);
    let c = seed_config(&row, 0);
    let data = siamese::model::run::RunData::from_sets(
        &c,
        siamese::model::testing::tiny_set(200, 1),
        siamese::model::testing::tiny_set(60, 2),
        None,
    )
    .unwrap();
    run_seed(&runs, &row, 0, "abc1234", &data, &mut Silent).unwrap();
    let results = collect(&runs, std::slice::from_ref(&row)).unwrap();
    let groups: Vec<&str> = results[0].seeds[0]
        .groups
        .iter()
        .map(|g| g.group.as_str())
        .collect();
    assert_eq!(groups, ["seen", "unseen", "mixed", "all"]);
    let md = render(&results, "");
    std::fs::remove_dir_all(&runs).unwrap();
    assert!(md.contains("### Unseen classes"), "{md}");
    let line = md
        .lines()
        .find(|l| l.starts_with("| tiny-0-6 | 0,1,2,3,4,5,6 |"))
        .expect(&md);
    assert_eq!(
        line.matches('%').count(),
        4,
        "seen, unseen at 0.5 and at the threshold, mixed: {line}"
    );
    assert!(
        line.contains("--loss triplet") && line.contains("--mining semi-hard"),
        "{line}"
    );
}
