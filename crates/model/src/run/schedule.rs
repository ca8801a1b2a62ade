//! The learning-rate schedule a run names (`--schedule`), and the schedule over steps it
//! makes (`siamese_optim::LrSchedule`, the one carrier of the learning rate).

use serde::{Deserialize, Serialize};
use siamese_optim::LrSchedule;

use crate::error::{ModelError, Result};

/// The learning-rate schedule of a run (`--schedule`), "constant" or "cosine" in JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// α(t) = `--lr` (the paper's setting).
    #[default]
    Constant,
    /// Cosine decay from `--lr` to 1% of it over the run's steps.
    Cosine,
}

impl Schedule {
    /// Every accepted spelling.
    pub const NAMES: &'static [&'static str] = &["constant", "cosine"];

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Cosine => "cosine",
        }
    }

    /// This schedule starting at `lr`, over `total_steps` steps.
    pub fn over(self, lr: f32, total_steps: u64) -> LrSchedule {
        match self {
            Schedule::Constant => LrSchedule::Constant { lr },
            Schedule::Cosine => LrSchedule::Cosine {
                lr,
                min_lr: lr * 0.01,
                total: total_steps,
            },
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine),
            other => Err(ModelError::Config(format!(
                "unknown schedule '{other}' (expected constant or cosine)"
            ))),
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
