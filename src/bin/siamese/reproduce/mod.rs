//! `siamese reproduce`: the rows of docs/results.md, each trained with its seeds, and the
//! tables written from what the runs recorded.
//!
//! A [`Row`] is one training configuration and its seeds. Each (row, seed) runs into
//! `<runs>/<row id>/seed<seed>/` (the files of `siamese train --out`, plus `reproduce.json`:
//! the commit it was measured at and the command), and is skipped when that folder already
//! holds a finished run of the same configuration, so an interrupted reproduction continues
//! where it stopped. [`render`] then reads every folder back and writes the tables: per row
//! mean ± standard deviation over the seeds of the test pair accuracy at 0.5 and at the
//! validation threshold, the ROC AUC, the epochs, the seconds per epoch and the time to
//! score 10,000 pairs; for the paper's Tables 6 and 7 the training accuracy of the last
//! epoch (what the paper reports), the test pair accuracy and the seconds per epoch per
//! (learning rate, batch). [`splice`] puts them between [`BEGIN`] and [`END`] in the doc.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use siamese::data::DatasetKind;

use siamese::model::error::{ModelError, Result};
use siamese::model::run::{EpochRecord, RunData, RunFiles, TrainConfig};
use siamese::model::run::{Recipe, Schedule};
use siamese::model::score::PairEvaluation;
use siamese::train::train::{train, Observer, TrainOptions};

/// The markers in docs/results.md between which the tables are generated.
pub const BEGIN: &str = "<!-- reproduce:begin -->";
pub const END: &str = "<!-- reproduce:end -->";

/// Which table a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// SN-LeNet-5's test pair accuracy per dataset (the paper's headline numbers).
    Headline,
    /// The paper's Tables 6 and 7: MNIST, one row per (learning rate, batch).
    Sensitivity,
    /// Trained on some classes, tested on the others ([`unseen`]).
    Unseen,
}

/// One row of a table: a training configuration and its seeds.
#[derive(Clone, Debug)]
pub struct Row {
    /// Folder name under the runs directory.
    pub id: String,
    pub table: Table,
    /// What the paper reports for this row ("" when nothing).
    pub paper: String,
    pub cfg: TrainConfig,
    pub seeds: Vec<u64>,
}

/// The rows of a profile: `quick` is the CI smoke test of the pipeline (MNIST, a few hundred
/// images, one epoch); the full profile is what docs/results.md reports.
pub fn rows(quick: bool) -> Vec<Row> {
    let mnist = |epochs: usize| {
        let mut c = TrainConfig::paper(DatasetKind::Mnist);
        c.epochs = epochs;
        c
    };
    let mut out = Vec::new();
    if quick {
        let mut c = mnist(1);
        c.limit = Some(400);
        c.schedule = Schedule::Cosine;
        out.push(headline(
            "mnist-quick",
            "99.11% (50 epochs)",
            c.clone(),
            &[0, 1],
        ));
        for (lr, batch) in [(0.001, 32), (0.01, 64)] {
            out.push(sensitivity(&c, lr, batch, &[0]));
        }
        out.push(unseen_row("mnist-quick-0-6-triplet", c, true, &[0]));
        return out;
    }
    use DatasetKind::{Cifar10, FashionMnist, Mnist};
    let headlines: [(&str, &str, Recipe, DatasetKind, &[u64]); 4] = [
        (
            "mnist",
            "99.11% (50 epochs)",
            Recipe::Ours,
            Mnist,
            &[0, 1, 2],
        ),
        (
            "mnist-paper",
            "99.11% (50 epochs)",
            Recipe::Paper,
            Mnist,
            &[0, 1, 2],
        ),
        (
            "fashion-mnist",
            "91.65% (100 epochs)",
            Recipe::Ours,
            FashionMnist,
            &[0, 1, 2],
        ),
        (
            "cifar-10",
            "81.64% (1,500 epochs)",
            Recipe::Ours,
            Cifar10,
            &[0],
        ),
    ];
    for (id, paper, recipe, kind, seeds) in headlines {
        out.push(headline(id, paper, recipe.config(kind), seeds));
    }
    for kind in [Mnist, FashionMnist] {
        let ours = Recipe::Ours.config(kind);
        out.push(unseen_row(
            &format!("{kind}-0-6"),
            ours.clone(),
            false,
            &[0, 1, 2],
        ));
        let id = format!("{kind}-0-6-triplet");
        out.push(unseen_row(&id, ours, true, &[0, 1, 2]));
    }
    let base = mnist(SENSITIVITY_EPOCHS);
    for lr in [0.0001, 0.001, 0.01] {
        for batch in [32, 64, 96] {
            out.push(sensitivity(&base, lr, batch, &[0]));
        }
    }
    out
}

/// Mean and sample standard deviation of n values x_i:
///   mean = (1/n) Σ x_i,  sd = √( Σ (x_i − mean)² / (n − 1) )  (0 for one value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
    pub n: usize,
}

impl MeanSd {
    /// None for no values.
    pub fn of(x: &[f64]) -> Option<Self> {
        let n = x.len();
        if n == 0 {
            return None;
        }
        let mean = x.iter().sum::<f64>() / n as f64;
        let ss: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
        let sd = if n > 1 {
            (ss / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Self { mean, sd, n })
    }
}

/// "99.52 ± 0.03%" (percent of a fraction), "99.52%" for one seed, "–" for none.
pub fn pct(m: Option<MeanSd>) -> String {
    match m {
        None => "–".into(),
        Some(m) if m.n == 1 => format!("{:.2}%", m.mean * 100.0),
        Some(m) => format!("{:.2} ± {:.2}%", m.mean * 100.0, m.sd * 100.0),
    }
}

/// "12.3 ± 1.0" with `digits` decimals, "12.3" for one seed.
pub fn num(m: Option<MeanSd>, digits: usize) -> String {
    match m {
        None => "–".into(),
        Some(m) if m.n == 1 => format!("{:.*}", digits, m.mean),
        Some(m) => format!("{:.*} ± {:.*}", digits, m.mean, digits, m.sd),
    }
}

/// Epochs per setting of the Tables 6 and 7 rows (the paper: 50; what fits these machines).
pub const SENSITIVITY_EPOCHS: usize = 2;

fn headline(id: &str, paper: &str, cfg: TrainConfig, seeds: &[u64]) -> Row {
    Row {
        id: id.into(),
        table: Table::Headline,
        paper: paper.into(),
        cfg,
        seeds: seeds.to_vec(),
    }
}

/// A row trained on classes 0–6 of `base`'s dataset (tested on 7–9 too), with the paper's
/// contrastive loss or (`triplet`) `--loss triplet --mining semi-hard`.
fn unseen_row(id: &str, base: TrainConfig, triplet: bool, seeds: &[u64]) -> Row {
    use siamese::model::config::{LossKind, Mining, TripletConfig};
    let mut cfg = base;
    cfg.train_classes = Some((0..=6).collect());
    if triplet {
        cfg.loss = LossKind::Triplet;
        cfg.triplet = Some(TripletConfig {
            mining: Mining::SemiHard,
            ..TripletConfig::default_for(cfg.model.distance)
        });
    }
    Row {
        id: id.into(),
        table: Table::Unseen,
        paper: String::new(),
        cfg,
        seeds: seeds.to_vec(),
    }
}

fn sensitivity(base: &TrainConfig, lr: f32, batch: usize, seeds: &[u64]) -> Row {
    let mut cfg = base.clone();
    cfg.lr = lr;
    cfg.batch = batch;
    Row {
        id: format!("{}-lr{lr}-batch{batch}", base.dataset),
        table: Table::Sensitivity,
        paper: String::new(),
        cfg,
        seeds: seeds.to_vec(),
    }
}

/// The `siamese train` command of `cfg` (the seed as `SEED`): the recipe it is closest to and
/// the flags beyond it ([`TrainConfig::as_recipe`], as curves.png's title says it).
pub fn command(cfg: &TrainConfig) -> String {
    let (recipe, flags) = cfg.as_recipe();
    let mut s = String::from("siamese train");
    if recipe != Recipe::default() {
        s.push_str(&format!(" --recipe {recipe}"));
    }
    s.push_str(&format!(" --dataset {}", cfg.dataset));
    for f in flags {
        s.push(' ');
        s.push_str(&f);
    }
    s.push_str(" --seed SEED");
    s
}

/// What `reproduce.json` records beside a finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The commit the run was measured at (`git describe --always --dirty`).
    pub commit: String,
    /// The equivalent `siamese train` command.
    pub command: String,
    /// When the run collapsed: the error message (no test evaluation then).
    #[serde(default)]
    pub collapsed: Option<String>,
}

/// The folder of one (row, seed).
pub fn seed_dir(runs: &Path, row: &Row, seed: u64) -> PathBuf {
    runs.join(&row.id).join(format!("seed{seed}"))
}

/// The file beside a finished run that records where and how it was measured
/// ([`Provenance`]); the other files are the run's ([`RunFiles`]).
pub const PROVENANCE: &str = "reproduce.json";

/// True when `dir` holds a finished run (`reproduce.json`) of exactly `cfg`.
pub fn is_done(dir: &Path, cfg: &TrainConfig) -> bool {
    let run = RunFiles {
        dir: dir.to_path_buf(),
    };
    let same = std::fs::read_to_string(run.config())
        .ok()
        .and_then(|t| serde_json::from_str::<TrainConfig>(&t).ok())
        .is_some_and(|c| &c == cfg);
    same && dir.join(PROVENANCE).is_file()
}

/// The configuration of one (row, seed).
pub fn seed_config(row: &Row, seed: u64) -> TrainConfig {
    let mut cfg = row.cfg.clone();
    cfg.seed = seed;
    cfg
}

/// Trains one (row, seed) on `data` (prepared for [`seed_config`]) into its folder (CPU) and
/// writes `reproduce.json`; a run that collapses is recorded as such (its epochs stay in
/// metrics.jsonl), not an error.
pub fn run_seed(
    runs: &Path, row: &Row, seed: u64, commit: &str, data: &RunData, obs: &mut dyn Observer,
) -> Result<()> {
    let cfg = seed_config(row, seed);
    let dir = seed_dir(runs, row, seed);
    let opts = TrainOptions {
        out: Some(dir.clone()),
        ..Default::default()
    };
    let collapsed = match siamese::train::collapse::recorded(train(&cfg, data, None, &opts, obs))? {
        Ok(mut run) => {
            unseen::record(&dir, &cfg, data, &mut run)?;
            None
        }
        Err(c) => Some(c.to_string()),
    };
    let p = Provenance {
        commit: commit.into(),
        command: command(&cfg).replace("SEED", &seed.to_string()),
        collapsed,
    };
    let path = dir.join(PROVENANCE);
    let json = serde_json::to_string_pretty(&p).expect("serialises");
    siamese::model::io::atomic_write(&path, json.as_bytes()).map_err(|e| ModelError::io(&path, e))
}

/// What one finished (row, seed) recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedResult {
    pub seed: u64,
    pub commit: String,
    /// Epochs trained, and the best validation epoch.
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    /// Training pair accuracy of the last epoch (the paper's Tables 6 and 7 measure).
    pub last_train_acc: f64,
    /// Mean seconds per training epoch.
    pub seconds_per_epoch: f64,
    /// Test figures (None when the run collapsed).
    pub test: Option<TestFigures>,
    /// Its test pairs by class group, for a run on some classes (else empty).
    pub groups: Vec<unseen::GroupFigures>,
}

/// The test figures of a run's `test.json`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestFigures {
    pub acc_half: f64,
    pub acc_threshold: f64,
    pub roc_auc: f64,
    /// Seconds to score 10,000 pairs (scaled from `timed_pairs` when fewer).
    pub score_10k: f64,
}

/// Reads a finished (row, seed) back; None when it has not run.
pub fn read_seed(dir: &Path, seed: u64) -> Result<Option<SeedResult>> {
    let run = RunFiles {
        dir: dir.to_path_buf(),
    };
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| ModelError::io(p, e));
    let provenance = dir.join(PROVENANCE);
    if !provenance.exists() {
        return Ok(None);
    }
    let bad = |p: &Path, e: serde_json::Error| ModelError::Config(format!("{}: {e}", p.display()));
    let prov: Provenance =
        serde_json::from_str(&read(&provenance)?).map_err(|e| bad(&provenance, e))?;
    let metrics = run.metrics();
    let history: Vec<EpochRecord> = read(&metrics)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(&metrics, e))?;
    let best_epoch = siamese::model::run::best_epoch(history.iter().map(|r| (r.epoch, r.val_acc)))
        .map(|(epoch, _)| epoch);
    let test = match prov.collapsed {
        Some(_) => None,
        None => Some(TestFigures::of(&read_test(&run)?)),
    };
    Ok(Some(SeedResult {
        seed,
        commit: prov.commit,
        epochs: history.len(),
        best_epoch,
        last_train_acc: history.last().map_or(f64::NAN, |r| r.train_acc),
        seconds_per_epoch: history.iter().map(|r| r.epoch_seconds).sum::<f64>()
            / history.len().max(1) as f64,
        test,
        groups: unseen::read(dir)?,
    }))
}

/// A finished run's test.json; its absence is an error too.
fn read_test(run: &RunFiles) -> Result<PairEvaluation> {
    let path = run.test();
    PairEvaluation::read(&path)?.ok_or_else(|| {
        ModelError::io(
            &path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        )
    })
}

impl TestFigures {
    /// The figures of a run's test evaluation.
    fn of(e: &PairEvaluation) -> Self {
        Self {
            acc_half: e.accuracy_at_half,
            acc_threshold: e.accuracy_at_threshold,
            roc_auc: e.roc_auc.unwrap_or(f64::NAN),
            score_10k: e.score_seconds * 10_000.0 / (e.timed_pairs.max(1) as f64),
        }
    }
}

/// A row with what its seeds recorded (seeds not run yet are absent).
pub struct RowResult<'a> {
    pub row: &'a Row,
    pub seeds: Vec<SeedResult>,
}

impl RowResult<'_> {
    /// Mean ± sd of `f` over the seeds whose test ran.
    fn stat(&self, f: impl Fn(&TestFigures) -> f64) -> Option<MeanSd> {
        MeanSd::of(
            &self
                .seeds
                .iter()
                .filter_map(|s| s.test.as_ref().map(&f))
                .collect::<Vec<_>>(),
        )
    }

    fn of_seeds(&self, f: impl Fn(&SeedResult) -> f64) -> Option<MeanSd> {
        MeanSd::of(&self.seeds.iter().map(f).collect::<Vec<_>>())
    }

    /// "0, 1, 2" (and which did not run).
    fn seed_list(&self) -> String {
        let ran: Vec<String> = self.seeds.iter().map(|s| s.seed.to_string()).collect();
        let missing: Vec<String> = self
            .row
            .seeds
            .iter()
            .filter(|s| !self.seeds.iter().any(|r| r.seed == **s))
            .map(|s| s.to_string())
            .collect();
        match (ran.is_empty(), missing.is_empty()) {
            (_, true) => ran.join(", "),
            (true, false) => format!("not run (seeds {})", missing.join(", ")),
            (false, false) => format!("{} (not run: {})", ran.join(", "), missing.join(", ")),
        }
    }

    fn commits(&self) -> String {
        let mut c: Vec<&str> = self.seeds.iter().map(|s| s.commit.as_str()).collect();
        c.dedup();
        c.sort_unstable();
        c.dedup();
        if c.is_empty() {
            "–".into()
        } else {
            c.join(", ")
        }
    }

    fn collapsed(&self) -> usize {
        self.seeds.iter().filter(|s| s.test.is_none()).count()
    }
}

/// Reads every row's seeds back from `runs`.
pub fn collect<'a>(runs: &Path, rows: &'a [Row]) -> Result<Vec<RowResult<'a>>> {
    rows.iter()
        .map(|row| {
            let mut seeds = Vec::new();
            for &s in &row.seeds {
                if let Some(r) = read_seed(&seed_dir(runs, row, s), s)? {
                    seeds.push(r);
                }
            }
            Ok(RowResult { row, seeds })
        })
        .collect()
}

pub mod command;
mod render;
mod unseen;
pub use render::{render, splice};

#[cfg(test)]
mod tests;
