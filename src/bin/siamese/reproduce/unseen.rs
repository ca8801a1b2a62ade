//! The unseen-class rows of `siamese reproduce`: runs trained on some classes only
//! (`--train-classes`), whose test pairs are scored by class group (seen, unseen, mixed) as
//! `train` and `eval` report them (`siamese::pipeline::score::class_groups`), kept beside the
//! run in `groups.json`, and the table made of them.

use std::fmt::Write;
use std::path::Path;

use serde::Deserialize;
use siamese::model::error::{ModelError, Result};
use siamese::model::run::{RunData, TrainConfig};
use siamese::model::score::EVAL_BATCH;
use siamese::train::train::TrainOutcome;

use super::{num, pct, RowResult};

/// The file beside a finished run on some classes that holds its class groups.
pub const GROUPS: &str = "groups.json";

/// One class group's figures, as `groups.json` holds them (the fields of
/// `siamese::eval::groups::GroupEvaluation` that the table reads).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct GroupFigures {
    /// "seen", "unseen", "mixed" or "all".
    pub group: String,
    pub accuracy_at_half: f64,
    pub accuracy_at_threshold: f64,
    pub roc_auc: Option<f64>,
}

/// For a finished run on some classes (`cfg.train_classes`): scores its test pairs by class
/// group with the best epoch's weights at the validation threshold, and writes `groups.json`
/// in `dir` (atomically). Nothing for a run on every class or one without a test.
pub fn record(dir: &Path, cfg: &TrainConfig, data: &RunData, run: &mut TrainOutcome) -> Result<()> {
    let Some(test) = &run.test else {
        return Ok(());
    };
    let groups = siamese::pipeline::score::class_groups(
        &mut run.model,
        cfg,
        data,
        test.threshold,
        EVAL_BATCH,
    )?;
    let Some(groups) = groups else {
        return Ok(());
    };
    let path = dir.join(GROUPS);
    let json = serde_json::to_string_pretty(&groups.groups).expect("serialises");
    siamese::model::io::atomic_write(&path, json.as_bytes()).map_err(|e| ModelError::io(&path, e))
}

/// The class groups a finished run recorded (empty when it has no `groups.json`).
pub fn read(dir: &Path) -> Result<Vec<GroupFigures>> {
    let path = dir.join(GROUPS);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| ModelError::Config(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ModelError::io(&path, e)),
    }
}

/// The unseen-class table: per row, the pair accuracy (at the validation threshold unless
/// said) and ROC AUC of each group, mean ± sd over the seeds.
pub fn table(out: &mut String, rows: &[&RowResult]) {
    out.push_str(
        "### Unseen classes: trained on some classes, tested on pairs of the others \
         (mean ± sample sd over the seeds)\n\n\
         Accuracy at the threshold chosen on the (seen-class) validation pairs; *mixed* pairs \
         (one seen, one unseen image) are all different-class pairs.\n\n\
         | run | trained on | seen | unseen at 0.5 | unseen | unseen ROC AUC | mixed | seeds \
         | measured at | command |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let cfg = &r.row.cfg;
        let classes = cfg
            .train_classes
            .as_deref()
            .map_or("all".into(), siamese::model::run::class_list);
        let group = |name: &str, f: fn(&GroupFigures) -> Option<f64>| {
            let xs: Vec<f64> = r
                .seeds
                .iter()
                .filter_map(|s| s.groups.iter().find(|g| g.group == name).and_then(f))
                .collect();
            super::MeanSd::of(&xs)
        };
        let thr = |g: &GroupFigures| Some(g.accuracy_at_threshold);
        let collapsed = match r.collapsed() {
            0 => String::new(),
            k => format!(" ({k} collapsed)"),
        };
        let _ = writeln!(
            out,
            "| {} | {classes} | {} | {} | {}{collapsed} | {} | {} | {} | {} | `{}` |",
            r.row.id,
            pct(group("seen", thr)),
            pct(group("unseen", |g| Some(g.accuracy_at_half))),
            pct(group("unseen", thr)),
            num(group("unseen", |g| g.roc_auc), 3),
            pct(group("mixed", thr)),
            r.seed_list(),
            r.commits(),
            super::command(cfg),
        );
    }
}
