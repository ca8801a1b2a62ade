//! The class-subset helpers of `train` and `eval` (not a command of its own): the
//! `--train-classes` parsing and the seen/unseen/mixed report of `eval`. The commands beyond
//! the paper have a file each: `oneshot_cmd`, `retrieve_cmd`, `classic_cmd`, `embed_cmd`.

use siamese::data::DatasetKind;
use siamese::eval::groups::GroupEvaluation;

use crate::source::{parse_class_list, Error};

/// `--train-classes` for `kind`: at least two classes (checked here too, so that the mistake
/// shows before any data is read).
pub fn parse_train_classes(kind: DatasetKind, spec: &str) -> Result<Vec<u8>, Error> {
    let classes = parse_class_list(kind, spec)?;
    if classes.len() < 2 {
        return Err(format!("--train-classes needs at least two classes, got '{spec}'").into());
    }
    Ok(classes)
}

/// Prints the seen / unseen / mixed / all pair groups of a run trained on a class subset.
pub fn print_class_groups(classes: &[u8], names: &[String], groups: &[GroupEvaluation]) {
    let list: Vec<&str> = classes
        .iter()
        .map(|&c| names[c as usize].as_str())
        .collect();
    println!("trained on classes {}:", list.join(", "));
    let pct =
        |v: Option<f64>, scale: f64| v.map_or("-".to_string(), |v| format!("{:.4}", v * scale));
    println!(
        "  {:<7} {:>6} {:>6} {:>9} {:>12} {:>8} {:>8}",
        "pairs", "count", "same", "acc@0.5", "acc@thresh", "ROC AUC", "EER %"
    );
    for g in groups {
        println!(
            "  {:<7} {:>6} {:>6} {:>8.2}% {:>11.2}% {:>8} {:>8}",
            g.group,
            g.pairs,
            g.positives,
            g.accuracy_at_half * 100.0,
            g.accuracy_at_threshold * 100.0,
            pct(g.roc_auc, 1.0),
            pct(g.equal_error_rate, 100.0)
        );
    }
}
