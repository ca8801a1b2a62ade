//! The subcommands beyond the paper: `oneshot` (N-way K-shot recognition), `retrieve`
//! (similarity search, recall@k, mAP), `classic` (k-NN and HOG + linear SVM baselines) and
//! `embed` (the test set's embeddings on a picture), plus the `--train-classes` parsing and the
//! seen/unseen/mixed report of `eval`. They parse flags, call siamese-model and print.

use siamese::data::DatasetKind;
use siamese::model::eval::GroupEvaluation;

use crate::CliResult;

/// `--train-classes` for `kind`: indices, ranges or names.
pub fn parse_train_classes(
    kind: DatasetKind, spec: &str,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let names: Vec<String> = kind.class_names().iter().map(|s| s.to_string()).collect();
    Ok(siamese::data::split::parse_classes(spec, &names)?)
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

#[allow(dead_code)]
fn _unused() -> CliResult {
    Ok(())
}
