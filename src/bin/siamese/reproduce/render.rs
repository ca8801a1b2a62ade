//! The markdown of `siamese reproduce`: the tables from the rows' results, and their place
//! between the markers of docs/results.md.

use std::fmt::Write;

use super::{MeanSd, RowResult, Table, BEGIN, END};
use siamese::model::error::{ModelError, Result};

/// "99.52 ± 0.03%" (percent of a fraction), "99.52%" for one seed, "–" for none.
pub(super) fn pct(m: Option<MeanSd>) -> String {
    match m {
        None => "–".into(),
        Some(m) if m.n == 1 => format!("{:.2}%", m.mean * 100.0),
        Some(m) => format!("{:.2} ± {:.2}%", m.mean * 100.0, m.sd * 100.0),
    }
}

/// "12.3 ± 1.0" with `digits` decimals, "12.3" for one seed.
pub(super) fn num(m: Option<MeanSd>, digits: usize) -> String {
    match m {
        None => "–".into(),
        Some(m) if m.n == 1 => format!("{:.*}", digits, m.mean),
        Some(m) => format!("{:.*} ± {:.*}", digits, m.mean, digits, m.sd),
    }
}

fn headline(out: &mut String, rows: &[&RowResult]) {
    out.push_str(
        "### SN-LeNet-5 test pair accuracy (mean ± sample sd over the seeds)\n\n\
         | dataset | paper | test pair accuracy at 0.5 | at the validation threshold | ROC AUC \
         | epochs (best validation epoch per seed) | s/epoch | s to score 10,000 pairs | seeds \
         | measured at | command |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let cfg = &r.row.cfg;
        let best: Vec<String> = r
            .seeds
            .iter()
            .map(|s| s.best_epoch.map_or("–".into(), |e| e.to_string()))
            .collect();
        let epochs = match best.is_empty() {
            true => cfg.epochs.to_string(),
            false => format!("{} ({})", cfg.epochs, best.join(", ")),
        };
        let collapsed = match r.collapsed() {
            0 => String::new(),
            k => format!(" ({k} collapsed)"),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {}{collapsed} | {} | {} | {epochs} | {} | {} | {} | {} | `{}` |",
            r.row.id,
            r.row.paper,
            pct(r.stat(|t| t.acc_half)),
            pct(r.stat(|t| t.acc_threshold)),
            num(r.stat(|t| t.roc_auc), 5),
            num(r.of_seeds(|s| s.seconds_per_epoch), 1),
            num(r.stat(|t| t.score_10k), 3),
            r.seed_list(),
            r.commits(),
            super::command(cfg),
        );
    }
}

fn sensitivity(out: &mut String, rows: &[&RowResult]) {
    let mut lrs: Vec<f32> = rows.iter().map(|r| r.row.cfg.lr).collect();
    let mut batches: Vec<usize> = rows.iter().map(|r| r.row.cfg.batch).collect();
    lrs.sort_by(f32::total_cmp);
    lrs.dedup();
    batches.sort_unstable();
    batches.dedup();
    let epochs = rows.first().map_or(0, |r| r.row.cfg.epochs);
    let dataset = rows
        .first()
        .map_or(String::new(), |r| r.row.cfg.dataset.name());
    let _ = write!(
        out,
        "### Parameter sensitivity (the paper's Tables 6 and 7): {dataset}, {epochs} epoch(s) \
         per setting (the paper: 50)\n\n\
         Each cell: training pair accuracy of the last epoch (the figure the paper reports) / \
         test pair accuracy at 0.5 (best validation epoch's weights) / seconds per epoch.\n\n\
         | lr | {} |\n|---|{}\n",
        batches
            .iter()
            .map(|b| format!("batch {b}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(batches.len())
    );
    for lr in &lrs {
        let _ = write!(out, "| {lr} |");
        for b in &batches {
            let cell = rows
                .iter()
                .find(|r| r.row.cfg.lr == *lr && r.row.cfg.batch == *b)
                .map_or("–".into(), |r| cell(r));
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    let seeds: Vec<String> = rows.iter().map(|r| r.seed_list()).collect::<Vec<_>>();
    let mut seeds = seeds;
    seeds.dedup();
    let mut commits: Vec<String> = rows.iter().map(|r| r.commits()).collect();
    commits.sort();
    commits.dedup();
    if let Some(r) = rows.first() {
        let _ = writeln!(
            out,
            "\nCommand per cell: `{}` with that cell's `--lr` and `--batch`; seeds: {}; \
             measured at {}.",
            super::command(&r.row.cfg),
            seeds.join("; "),
            commits.join(", ")
        );
    }
}

fn cell(r: &RowResult) -> String {
    if r.seeds.is_empty() {
        return "not run".into();
    }
    if r.collapsed() == r.seeds.len() {
        let at: Vec<String> = r.seeds.iter().map(|s| s.epochs.to_string()).collect();
        return format!("collapsed at epoch {} (50%)", at.join(", "));
    }
    format!(
        "{} / {} / {} s",
        pct(r.of_seeds(|s| s.last_train_acc)),
        pct(r.stat(|t| t.acc_half)),
        num(r.of_seeds(|s| s.seconds_per_epoch), 1)
    )
}

/// The generated tables of `results` (headline rows, the sensitivity grid, the unseen-class
/// rows).
pub fn render(results: &[RowResult], profile: &str) -> String {
    let mut out = format!(
        "_Generated by `scripts/reproduce.sh{profile}` (`siamese reproduce`) from its run \
         folders; edit the rows in `src/bin/siamese/reproduce/mod.rs`, not here._\n\n"
    );
    let pick =
        |t: Table| -> Vec<&RowResult> { results.iter().filter(|r| r.row.table == t).collect() };
    let (h, s) = (pick(Table::Headline), pick(Table::Sensitivity));
    if !h.is_empty() {
        headline(&mut out, &h);
    }
    if !s.is_empty() {
        out.push('\n');
        sensitivity(&mut out, &s);
    }
    let u = pick(Table::Unseen);
    if !u.is_empty() {
        out.push('\n');
        super::unseen::table(&mut out, &u);
    }
    out
}

/// `doc` with everything between [`BEGIN`] and [`END`] replaced by `generated`; an error
/// naming the markers when `doc` lacks them (or has them out of order).
pub fn splice(doc: &str, generated: &str) -> Result<String> {
    let begin = doc.find(BEGIN);
    let end = doc.find(END);
    match (begin, end) {
        (Some(b), Some(e)) if b < e => Ok(format!(
            "{}{BEGIN}\n{}\n{}",
            &doc[..b],
            generated.trim_end(),
            &doc[e..]
        )),
        _ => Err(ModelError::Config(format!(
            "the document has no {BEGIN} … {END} section to write the tables into"
        ))),
    }
}
