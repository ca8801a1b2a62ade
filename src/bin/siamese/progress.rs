//! Progress for long work: an indicatif bar per epoch on a terminal; plain periodic lines
//! (every 10% of an epoch) when stderr is not a terminal (CI, `| tee log`), so logs hold no
//! redraw codes.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use siamese::model::train::{EpochRecord, Observer};

/// The CLI's [`Observer`].
pub struct Progress {
    bar: Option<ProgressBar>,
    tty: bool,
    quiet: bool,
    epoch: usize,
    epochs: usize,
    batches: usize,
    next_line: usize,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self {
            bar: None,
            tty: std::io::stderr().is_terminal(),
            quiet,
            epoch: 0,
            epochs: 0,
            batches: 0,
            next_line: 0,
        }
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
        if self.quiet || !self.tty {
            return;
        }
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} batches {msg} (eta {eta})",
            )
            // Cannot fail: a constant template of known keys (tested by every run with a bar).
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
            bar.set_message(format!("loss {loss:.4}, {pairs_per_s:.0} pairs/s"));
        } else if done >= self.next_line && done < self.batches {
            eprintln!(
                "epoch {}/{}: {done}/{} batches, loss {loss:.4}, {pairs_per_s:.0} pairs/s",
                self.epoch, self.epochs, self.batches
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
            "epoch {}/{}: train loss {:.4}, train acc {:.2}%{val}, {:.1} s ({:.0} pairs/s)",
            r.epoch,
            self.epochs,
            r.train_loss,
            r.train_acc * 100.0,
            r.epoch_seconds,
            r.pairs_per_second
        );
    }

    fn message(&mut self, msg: &str) {
        self.finish_bar();
        println!("{msg}");
    }
}
