//! Progress for long work: an indicatif bar per epoch on a terminal, as wide as the terminal
//! allows (it fits 80 columns), with the whole run's ETA; plain periodic lines (every 10% of an
//! epoch) when stderr is not a terminal (CI, `| tee log`), so logs hold no redraw codes.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use siamese::{model::run::EpochRecord, train::train::Observer};

/// The CLI's [`Observer`].
pub struct Progress {
    bar: Option<ProgressBar>,
    tty: bool,
    quiet: bool,
    epoch: usize,
    epochs: usize,
    batches: usize,
    next_line: usize,
    /// What a training step counts: "pairs" (SN-LeNet-5) or "images" (the classifier).
    unit: &'static str,
    /// When the first epoch of this process started, and the epoch it was (for the ETA).
    run_start: Option<(Instant, usize)>,
}

/// A duration for people: "42.0 s", "2 min 34 s", "1 h 02 min".
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".into();
    }
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let s = secs.round() as u64;
    if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

impl Progress {
    /// For SN-LeNet-5's training: rates in pairs/s.
    pub fn new(quiet: bool) -> Self {
        Self::counting("pairs", quiet)
    }

    /// For the classifier baseline's training: rates in images/s.
    pub fn images(quiet: bool) -> Self {
        Self::counting("images", quiet)
    }

    fn counting(unit: &'static str, quiet: bool) -> Self {
        Self {
            unit,
            bar: None,
            tty: std::io::stderr().is_terminal(),
            quiet,
            epoch: 0,
            epochs: 0,
            batches: 0,
            next_line: 0,
            run_start: None,
        }
    }

    /// The whole run's remaining time, from the pace since this process's first epoch
    /// (validation time included from the second epoch on); None before any batch.
    fn run_eta(&self, done_in_epoch: usize) -> Option<String> {
        let (t0, first) = self.run_start?;
        let done = (self.epoch - first) * self.batches + done_in_epoch;
        let total = (self.epochs + 1 - first) * self.batches;
        if done == 0 {
            return None;
        }
        let per_batch = t0.elapsed().as_secs_f64() / done as f64;
        Some(duration(per_batch * total.saturating_sub(done) as f64))
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.epoch = epoch;
        self.epochs = epochs;
        self.batches = batches;
        self.next_line = batches.div_ceil(10).max(1);
        if self.run_start.is_none() {
            self.run_start = Some((Instant::now(), epoch));
        }
        if self.quiet || !self.tty {
            return;
        }
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{wide_bar}] {pos}/{len} {msg}")
                // Cannot fail: a constant template of known keys (every run with a bar uses it).
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        self.bar = Some(bar);
    }

    fn batch_done(&mut self, done: usize, loss: f64, pairs_per_s: f64) {
        if self.quiet {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            let eta = self.run_eta(done).unwrap_or_else(|| "?".into());
            bar.set_message(format!("loss {loss:.4} {pairs_per_s:.0}/s ETA {eta}"));
        } else if done >= self.next_line && done < self.batches {
            let eta = self.run_eta(done).unwrap_or_else(|| "?".into());
            eprintln!(
                "epoch {}/{}: {done}/{} batches, loss {loss:.4}, {pairs_per_s:.0} {}/s, run ends in {eta}",
                self.epoch, self.epochs, self.batches, self.unit
            );
            self.next_line += self.batches.div_ceil(10).max(1);
        }
    }

    fn epoch_done(&mut self, r: &EpochRecord) {
        self.finish_bar();
        let val = match (r.val_acc, r.val_loss) {
            (Some(a), Some(l)) => format!(", val loss {l:.4}, val acc {:.2}%", a * 100.0),
            (Some(a), None) => format!(", val acc {:.2}%", a * 100.0),
            _ => String::new(),
        };
        println!(
            "epoch {}/{}: train loss {:.4}, train acc {:.2}%{val}, {:.1} s ({:.0} {}/s)",
            r.epoch,
            self.epochs,
            r.train_loss,
            r.train_acc * 100.0,
            r.epoch_seconds,
            r.pairs_per_second,
            self.unit
        );
    }

    fn message(&mut self, msg: &str) {
        self.finish_bar();
        println!("{msg}");
    }
}

/// Pairs scored so far (`siamese score`): a bar (a counter when the list's length is not
/// known) when stderr is a terminal, nothing otherwise.
#[derive(Default)]
pub struct PairsBar(Option<ProgressBar>);

impl PairsBar {
    pub fn update(&mut self, done: usize, total: Option<usize>) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = self.0.get_or_insert_with(|| {
            let (bar, template) = match total {
                Some(n) => (
                    ProgressBar::new(n as u64),
                    "scoring [{wide_bar}] {pos}/{len} pairs, {per_sec}, ETA {eta}",
                ),
                None => (ProgressBar::no_length(), "scoring: {pos} pairs, {per_sec}"),
            };
            // Cannot fail: constant templates of known keys.
            bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
            bar
        });
        bar.set_position(done as u64);
    }

    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}
