//! The paper's parameter sensitivity (its Tables 6 and 7): one training run per (learning
//! rate α, batch size) on the same data, each from the same seed, reporting the validation
//! pair accuracy after the last epoch, the test pair accuracy at 0.5 (the best validation
//! epoch's weights) and the mean seconds per epoch.

use serde::Serialize;

use crate::train::{train, Silent, TrainOptions, TrainOutcome};
use siamese_model::error::{Collapse, ModelError, Result};
use siamese_model::run::{RunData, TrainConfig};

/// One setting of a sweep and what its run gave (one JSON line of `siamese sweep --out`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepPoint {
    /// Adam's learning rate α of this run.
    pub lr: f32,
    /// Pairs per batch of this run.
    pub batch: usize,
    pub epochs: usize,
    /// Validation pair accuracy (at 0.5) after the last epoch.
    pub val_acc: Option<f64>,
    /// Test pair accuracy at 0.5 with the best validation epoch's weights.
    pub test_acc: Option<f64>,
    /// Mean wall seconds per epoch (training only, validation excluded; NaN, null in JSON,
    /// for a collapsed run).
    pub seconds_per_epoch: f64,
    pub seed: u64,
    /// The epoch at which the run collapsed ([`crate::collapse`]): the run stopped there and
    /// has no accuracies; the sweep went on to the next setting.
    pub collapsed_at_epoch: Option<usize>,
}

impl SweepPoint {
    fn of_run(cfg: &TrainConfig, out: &TrainOutcome) -> Self {
        let history = &out.state.history;
        Self {
            lr: cfg.lr,
            batch: cfg.batch,
            epochs: cfg.epochs,
            val_acc: history.last().and_then(|r| r.val_acc),
            test_acc: out.test.as_ref().map(|t| t.accuracy_at_half),
            seconds_per_epoch: history.iter().map(|r| r.epoch_seconds).sum::<f64>()
                / history.len().max(1) as f64,
            seed: cfg.seed,
            collapsed_at_epoch: None,
        }
    }

    fn of_collapse(cfg: &TrainConfig, c: &Collapse) -> Self {
        Self {
            lr: cfg.lr,
            batch: cfg.batch,
            epochs: cfg.epochs,
            val_acc: None,
            test_acc: None,
            seconds_per_epoch: f64::NAN,
            seed: cfg.seed,
            collapsed_at_epoch: Some(c.epoch),
        }
    }
}

/// The settings of `lrs` × `batches`, learning rates outermost: a sweep's cells, in the order
/// it runs them (and `--shard` counts them); at least one of each is needed.
pub fn grid(lrs: &[f32], batches: &[usize]) -> Result<Vec<(f32, usize)>> {
    if lrs.is_empty() || batches.is_empty() {
        return Err(ModelError::Config(
            "a sweep needs at least one learning rate (--lrs) and one batch size (--batches)"
                .into(),
        ));
    }
    Ok(lrs
        .iter()
        .flat_map(|&lr| batches.iter().map(move |&batch| (lr, batch)))
        .collect())
}

/// Trains `base` once per (lr, batch) of `lrs` × `batches` ([`grid`]'s order), on the CPU,
/// and returns the points in that order; `on_point` sees each as soon as its run ends. A run
/// that collapses is a point marked `collapsed_at_epoch`, and the sweep goes on
/// ([`crate::collapse::recorded`], as `siamese reproduce` records it).
pub fn sweep(
    base: &TrainConfig, data: &RunData, lrs: &[f32], batches: &[usize],
    on_point: &mut dyn FnMut(&SweepPoint),
) -> Result<Vec<SweepPoint>> {
    sweep_cells(base, data, &grid(lrs, batches)?, on_point)
}

/// [`sweep`] over the given (lr, batch) cells only, in their order (a share of a grid run as
/// one of several independent processes, `siamese sweep --shard`).
pub fn sweep_cells(
    base: &TrainConfig, data: &RunData, cells: &[(f32, usize)],
    on_point: &mut dyn FnMut(&SweepPoint),
) -> Result<Vec<SweepPoint>> {
    let mut points = Vec::with_capacity(cells.len());
    for &(lr, batch) in cells {
        let mut cfg = base.clone();
        cfg.lr = lr;
        cfg.batch = batch;
        let run = train(&cfg, data, None, &TrainOptions::default(), &mut Silent);
        let point = match crate::collapse::recorded(run)? {
            Ok(out) => SweepPoint::of_run(&cfg, &out),
            Err(c) => SweepPoint::of_collapse(&cfg, &c),
        };
        on_point(&point);
        points.push(point);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use siamese_model::testing::tiny_run;

    #[test]
    fn cells_of_a_share_are_the_points_of_the_whole_grid() {
        let (base, data) = tiny_run(1);
        let cells = grid(&[1e-3, 1e-2], &[16, 40]).unwrap();
        assert!(grid(&[], &[16]).is_err() && grid(&[1e-3], &[]).is_err());
        assert_eq!(cells, [(1e-3, 16), (1e-3, 40), (1e-2, 16), (1e-2, 40)]);
        let whole = sweep(&base, &data, &[1e-3, 1e-2], &[16, 40], &mut |_| {}).unwrap();
        let share: Vec<(f32, usize)> = cells.iter().copied().skip(1).step_by(2).collect();
        let part = sweep_cells(&base, &data, &share, &mut |_| {}).unwrap();
        let same = |p: &SweepPoint| (p.lr, p.batch, p.val_acc, p.test_acc);
        let expected: Vec<_> = whole.iter().skip(1).step_by(2).map(same).collect();
        assert_eq!(part.iter().map(same).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn each_point_is_the_run_of_its_setting_in_order() {
        let (base, data) = tiny_run(1);
        let mut seen = Vec::new();
        let points = sweep(&base, &data, &[1e-3, 1e-2], &[16, 40], &mut |p| {
            seen.push(p.clone())
        })
        .unwrap();
        let settings: Vec<(f32, usize)> = points.iter().map(|p| (p.lr, p.batch)).collect();
        assert_eq!(settings, [(1e-3, 16), (1e-3, 40), (1e-2, 16), (1e-2, 40)]);
        assert_eq!(seen, points);
        for p in &points {
            assert_eq!((p.epochs, p.seed), (1, base.seed));
            assert!(p.seconds_per_epoch > 0.0, "{p:?}");
            for acc in [p.val_acc, p.test_acc] {
                assert!(acc.is_some_and(|a| (0.0..=1.0).contains(&a)), "{p:?}");
            }
        }
        // The third point is exactly a direct run with lr 0.01 and batch 16 (same seed).
        let mut cfg = base.clone();
        cfg.lr = 1e-2;
        cfg.batch = 16;
        let direct = train(&cfg, &data, None, &TrainOptions::default(), &mut Silent).unwrap();
        assert_eq!(
            points[2].val_acc,
            direct.state.history.last().unwrap().val_acc
        );
        assert_eq!(points[2].test_acc, direct.test.map(|t| t.accuracy_at_half));
    }

    /// A setting whose run collapses (lr 0.1 on the tiny run, at epoch 1) is recorded as
    /// collapsed, and the settings after it still run.
    #[test]
    fn a_collapsed_setting_is_recorded_and_the_sweep_goes_on() {
        let (base, data) = tiny_run(2);
        let points = sweep(&base, &data, &[0.1, 1e-3], &[64], &mut |_| {}).unwrap();
        assert_eq!(points.len(), 2, "{points:?}");
        assert_eq!(points[0].collapsed_at_epoch, Some(1), "{points:?}");
        assert_eq!((points[0].val_acc, points[0].test_acc), (None, None));
        assert_eq!(points[1].collapsed_at_epoch, None, "{points:?}");
        assert!(points[1].test_acc.is_some(), "{points:?}");
    }

    #[test]
    fn an_empty_list_is_an_error() {
        let (base, data) = tiny_run(1);
        for (lrs, batches) in [(&[][..], &[16][..]), (&[1e-3][..], &[][..])] {
            let e = sweep(&base, &data, lrs, batches, &mut |_| {}).unwrap_err();
            assert!(e.to_string().contains("at least one learning rate"), "{e}");
        }
    }

    #[test]
    fn points_serialise_as_one_json_object_with_null_for_missing_accuracy() {
        let p = SweepPoint {
            lr: 0.5,
            batch: 8,
            epochs: 2,
            val_acc: None,
            test_acc: Some(0.75),
            seconds_per_epoch: 1.5,
            seed: 3,
            collapsed_at_epoch: None,
        };
        let v: serde_json::Value = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"lr": 0.5, "batch": 8, "epochs": 2, "val_acc": null,
                "test_acc": 0.75, "seconds_per_epoch": 1.5, "seed": 3,
                "collapsed_at_epoch": null})
        );
    }
}
