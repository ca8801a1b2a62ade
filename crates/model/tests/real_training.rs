//! End-to-end training on the real Fashion-MNIST files (set SIAMESE_DATA_DIR; .ci/run does).

use std::path::PathBuf;

use siamese_data::DatasetKind;
use siamese_model::train::{train, RunData, Silent, TrainConfig, TrainOptions};

fn data_dir() -> PathBuf {
    match std::env::var_os("SIAMESE_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => panic!("needs the real datasets: set SIAMESE_DATA_DIR (e.g. ../shared/datasets)"),
    }
}

fn small_config(seed: u64) -> TrainConfig {
    let mut cfg = TrainConfig::paper(DatasetKind::FashionMnist);
    cfg.epochs = 2;
    cfg.limit = Some(4000);
    cfg.seed = seed;
    cfg
}

#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn fashion_mnist_4000_images_2_epochs_reaches_85_percent() {
    let cfg = small_config(1);
    let data = RunData::prepare(&cfg, Some(&data_dir())).unwrap();
    let t = std::time::Instant::now();
    let out = train(
        &cfg,
        &data,
        None,
        &TrainOptions {
            test_at_end: false,
            ..Default::default()
        },
        &mut Silent,
    )
    .unwrap();
    let last = out.state.history.last().unwrap();
    eprintln!(
        "{:?} in {:.1}s",
        out.state.history,
        t.elapsed().as_secs_f64()
    );
    assert!(last.val_acc.unwrap() >= 0.85, "val acc {:?}", last.val_acc);
}
