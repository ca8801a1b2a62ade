//! `--resume`'s rule: a resumed run continues as it was started; only `--epochs` may grow.

use super::TrainConfig;
use crate::error::{ModelError, Result};

/// A setting of [`TrainConfig`] that `--resume` compares with the run it continues (the
/// command line maps its flags to these; the flag spellings stay there).
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
    Embedding,
    EmbAct,
    Distance,
    Head,
    Init,
    TrainClasses,
}

impl RunSetting {
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
            RunSetting::Embedding => m.embedding.to_string(),
            RunSetting::EmbAct => m.embedding_activation.to_string(),
            RunSetting::Distance => m.distance.to_string(),
            RunSetting::Head => m.head.to_string(),
            RunSetting::Init => m.init.to_string(),
            RunSetting::TrainClasses => cfg
                .train_classes
                .as_deref()
                .map_or("all".into(), super::class_list),
        }
    }
}

impl TrainConfig {
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
