//! `--resume`'s rule: a resumed run continues as it was started; only `--epochs` may grow.

use super::{Recipe, TrainConfig};
use crate::error::{ModelError, Result};

/// A setting of [`TrainConfig`] that `--resume` compares with the run it continues (the
/// command line maps its flags to these) and that curves.png's title names when it differs
/// from the paper's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunSetting {
    Dataset,
    Epochs,
    Batch,
    Lr,
    Schedule,
    Seed,
    Limit,
    ValEvery,
    Loss,
    FixedPairs,
    Augment,
    Act,
    Pool,
    Width,
    Embedding,
    EmbAct,
    Distance,
    Head,
    Init,
    TrainClasses,
    Mining,
    Margin,
}

impl RunSetting {
    /// Every setting, in `siamese train --help`'s order.
    pub const ALL: [RunSetting; 22] = [
        RunSetting::Dataset,
        RunSetting::Epochs,
        RunSetting::Batch,
        RunSetting::Lr,
        RunSetting::Schedule,
        RunSetting::Seed,
        RunSetting::Limit,
        RunSetting::ValEvery,
        RunSetting::Loss,
        RunSetting::FixedPairs,
        RunSetting::Augment,
        RunSetting::Act,
        RunSetting::Pool,
        RunSetting::Width,
        RunSetting::Embedding,
        RunSetting::EmbAct,
        RunSetting::Distance,
        RunSetting::Head,
        RunSetting::Init,
        RunSetting::TrainClasses,
        RunSetting::Mining,
        RunSetting::Margin,
    ];

    /// Its command-line flag: `--` and the variant's name in kebab case (`EmbAct` →
    /// `--emb-act`), as `siamese train` spells it.
    pub fn flag(self) -> String {
        let mut s = String::from("--");
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                s.push('-');
            }
            s.push(c.to_ascii_lowercase());
        }
        s
    }

    /// This setting's value in `cfg`, as the messages print it.
    pub fn value(self, cfg: &TrainConfig) -> String {
        let m = &cfg.model;
        match self {
            RunSetting::Dataset => cfg.dataset.to_string(),
            RunSetting::Epochs => cfg.epochs.to_string(),
            RunSetting::Batch => cfg.batch.to_string(),
            RunSetting::Lr => cfg.lr.to_string(),
            RunSetting::Schedule => cfg.schedule.to_string(),
            RunSetting::Seed => cfg.seed.to_string(),
            RunSetting::Limit => cfg.limit.map_or("none".into(), |l| l.to_string()),
            RunSetting::ValEvery => cfg.val_every.to_string(),
            RunSetting::Loss => cfg.loss.to_string(),
            RunSetting::FixedPairs => (!cfg.pairs_per_epoch).to_string(),
            RunSetting::Augment => cfg.augment.to_string(),
            RunSetting::Act => m.activation.to_string(),
            RunSetting::Pool => m.pooling.to_string(),
            RunSetting::Width => m.widen.to_string(),
            RunSetting::Embedding => m.embedding.to_string(),
            RunSetting::EmbAct => m.embedding_activation.to_string(),
            RunSetting::Distance => m.distance.to_string(),
            RunSetting::Head => m.head.to_string(),
            RunSetting::Init => m.init.to_string(),
            RunSetting::TrainClasses => cfg
                .train_classes
                .as_deref()
                .map_or("all".into(), super::class_list),
            RunSetting::Mining => cfg.triplet.map_or("none".into(), |t| t.mining.to_string()),
            RunSetting::Margin => cfg.triplet.map_or("none".into(), |t| t.margin.to_string()),
        }
    }
}

impl TrainConfig {
    /// The settings in which `self` differs from `base`, but the dataset and the seed, each
    /// as `siamese train` takes it (`--flag value`; the switch `--fixed-pairs` alone), in
    /// [`RunSetting::ALL`]'s order.
    pub fn flags_beyond(&self, base: &TrainConfig) -> Vec<String> {
        RunSetting::ALL
            .iter()
            .filter(|s| !matches!(s, RunSetting::Dataset | RunSetting::Seed))
            .filter(|s| s.value(self) != s.value(base))
            .map(|&s| match s {
                RunSetting::FixedPairs if !self.pairs_per_epoch => s.flag(),
                _ => format!("{} {}", s.flag(), s.value(self)),
            })
            .collect()
    }

    /// The recipe `self` is closest to (the fewest settings apart; the first of
    /// [`Recipe::NAMES`] on a tie) and the flags beyond it ([`TrainConfig::flags_beyond`]):
    /// how the run's command line would say it, what curves.png's title shows.
    pub fn as_recipe(&self) -> (Recipe, Vec<String>) {
        let beyond = |r: Recipe| (r, self.flags_beyond(&r.config(self.dataset.clone())));
        let (ours, paper) = (beyond(Recipe::Ours), beyond(Recipe::Paper));
        if paper.1.len() < ours.1.len() {
            paper
        } else {
            ours
        }
    }

    /// The config a resumed run continues with: `self` (the run being resumed), except that
    /// `--epochs` may be extended. `given` is the config built from the command line and
    /// `explicit` the settings the user actually typed, each with the flag that set it (for
    /// the messages); any of them whose value differs from the resumed run's is refused,
    /// naming the flag, the resumed value and the given one. `--epochs` below the resumed
    /// run's is refused too.
    pub fn resumed_with(
        &self, given: &TrainConfig, explicit: &[(RunSetting, &str)],
    ) -> Result<TrainConfig> {
        let mut cfg = self.clone();
        for &(setting, flag) in explicit {
            let (was, now) = (setting.value(self), setting.value(given));
            if setting == RunSetting::Epochs {
                if given.epochs < self.epochs {
                    return Err(ModelError::Config(format!(
                        "{flag} {} is below the resumed run's {flag} {}: a resumed run can only be extended",
                        given.epochs, self.epochs
                    )));
                }
                cfg.epochs = given.epochs;
            } else if was != now {
                return Err(ModelError::Config(format!(
                    "{flag} {now} conflicts with the resumed run's {flag} {was}: --resume continues a run as it was started (only --epochs may be extended); leave {flag} out or start a new run"
                )));
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }
}
