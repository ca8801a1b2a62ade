//! `siamese oneshot`: N-way K-shot recognition on test episodes (siamese_eval::oneshot).

use clap::Args;
use siamese::data::Label;
use siamese::eval::oneshot::{
    one_shot, OneShotOptions, DEFAULT_EPISODES, DEFAULT_SHOTS, DEFAULT_WAYS, MAX_EPISODES,
    MAX_SHOTS, MAX_WAYS,
};
use siamese::eval::DEFAULT_SEED;

use crate::flags;
use crate::source::{load_checked, parse_class_list, SourceArgs};
use crate::CliResult;

#[derive(Args)]
pub struct OneShotArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// N: classes per episode.
    #[arg(long, default_value_t = DEFAULT_WAYS, value_parser = flags::between::<2, MAX_WAYS>)]
    ways: usize,
    /// K: support images per class.
    #[arg(long, default_value_t = DEFAULT_SHOTS, value_parser = flags::count::<MAX_SHOTS>)]
    shots: usize,
    /// Episodes (one query each).
    #[arg(long, default_value_t = DEFAULT_EPISODES, value_parser = flags::count::<MAX_EPISODES>)]
    episodes: usize,
    /// Classes the episodes draw from: indices, ranges or names (default: every class; for --images or a folder-trained checkpoint, every class with more than --shots test images).
    #[arg(long)]
    classes: Option<String>,
    /// Seed of the episodes.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: OneShotArgs) -> CliResult {
    let mut classes = Vec::new();
    // The class list and --ways against it, before the data loads.
    let mut l = load_checked(&a.src, |kind| {
        classes = match &a.classes {
            Some(spec) => parse_class_list(kind, spec)?,
            None => (0..kind.num_classes() as Label).collect(),
        };
        if a.ways > classes.len() {
            return Err(format!(
                "--ways {} needs at least {} classes, but the episodes draw from {}",
                a.ways,
                a.ways,
                classes.len()
            )
            .into());
        }
        Ok(())
    })?;
    if a.classes.is_none() && l.dataset.kind().is_none() {
        // A folder's test part may lack classes (or hold too few of their images).
        let have = l.test.histogram();
        classes.retain(|&c| have[c as usize] > a.shots);
        if a.ways > classes.len() {
            return Err(format!(
                "--ways {} needs {} classes with {} test images or more; the folder's test part has {}",
                a.ways,
                a.ways,
                a.shots + 1,
                classes.len()
            )
            .into());
        }
    }
    let options = OneShotOptions {
        ways: a.ways,
        shots: a.shots,
        episodes: a.episodes,
        classes,
        seed: a.seed,
        batch: a.src.work.batch,
    };
    let r = one_shot(&mut l.model, &l.test, &options)?;
    if a.json {
        println!("{}", siamese::model::json::to_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{}-way {}-shot on {} test images, {} episodes, seed {}, classes {:?} ({} of them unseen in training); chance {:.2}%",
        r.ways,
        r.shots,
        l.title,
        r.episodes,
        r.seed,
        r.classes,
        r.unseen(l.train_classes.as_deref()),
        r.chance * 100.0
    );
    for m in &r.methods {
        println!(
            "  {:<16} accuracy {:.2}% (95% CI {:.2}-{:.2}%, {} of {})",
            m.method,
            m.accuracy * 100.0,
            m.ci95_low * 100.0,
            m.ci95_high * 100.0,
            m.correct,
            r.episodes
        );
    }
    Ok(())
}
