//! The training recipes a run starts from (`--recipe`), before its flags: the one place where
//! the default epochs, schedule, augmentation and embedding of each dataset are written.

use siamese_data::DatasetKind;

use super::{Augment, Dataset, Schedule, TrainConfig};
use crate::error::{ModelError, Result};

/// Which settings a run starts from; every flag typed on the command line then overrides its
/// own setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recipe {
    /// Our best measured recipe for the dataset (docs/results.md, 3 seeds each):
    ///
    /// | dataset | epochs | schedule | augment | embedding |
    /// |---|---|---|---|---|
    /// | MNIST | 20 | cosine | shift | 10 |
    /// | Fashion-MNIST | 12 | cosine | shift | 10 |
    /// | CIFAR-10 | 15 | cosine | none | 32 |
    ///
    /// Everything else is the paper's (Adam 0.001, batch 64, contrastive loss, margin 1).
    #[default]
    Ours,
    /// The paper's configuration exactly: constant lr 0.001, no augmentation, embedding 10;
    /// 50 epochs for MNIST, 100 for Fashion-MNIST, 1,500 for CIFAR-10
    /// ([`TrainConfig::paper`]).
    Paper,
}

impl Recipe {
    /// Every accepted spelling.
    pub const NAMES: &'static [&'static str] = &["ours", "paper"];

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Ours => "ours",
            Recipe::Paper => "paper",
        }
    }

    /// The run this recipe trains on `dataset` when no other flag is typed.
    pub fn config(self, dataset: impl Into<Dataset>) -> TrainConfig {
        let mut c = TrainConfig::paper(dataset);
        if self == Recipe::Paper {
            return c;
        }
        c.schedule = Schedule::Cosine;
        match c.dataset.family() {
            DatasetKind::Mnist => {
                c.epochs = 20;
                c.augment = Augment::Shift;
            }
            DatasetKind::FashionMnist => {
                c.epochs = 12;
                c.augment = Augment::Shift;
            }
            DatasetKind::Cifar10 => {
                c.epochs = 15;
                c.model.embedding = 32;
            }
        }
        c
    }
}

impl std::str::FromStr for Recipe {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ours" => Ok(Recipe::Ours),
            "paper" => Ok(Recipe::Paper),
            other => Err(ModelError::Config(format!(
                "unknown recipe '{other}' (expected ours or paper)"
            ))),
        }
    }
}

impl std::fmt::Display for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_recipe_is_the_papers_config_and_ours_differs_only_where_measured() {
        for kind in [
            DatasetKind::Mnist,
            DatasetKind::FashionMnist,
            DatasetKind::Cifar10,
        ] {
            assert_eq!(Recipe::Paper.config(kind), TrainConfig::paper(kind));
            let (ours, paper) = (Recipe::Ours.config(kind), TrainConfig::paper(kind));
            assert_eq!(
                (ours.lr, ours.batch, ours.loss),
                (paper.lr, paper.batch, paper.loss)
            );
            assert!(
                ours.epochs < paper.epochs,
                "{kind:?}: ours is the shorter run"
            );
            assert_eq!(ours.schedule, Schedule::Cosine);
            ours.validate().unwrap();
        }
        let beyond_paper = |kind| {
            Recipe::Ours
                .config(kind)
                .flags_beyond(&TrainConfig::paper(kind))
                .join(" ")
        };
        assert_eq!(
            beyond_paper(DatasetKind::Mnist),
            "--epochs 20 --schedule cosine --augment shift"
        );
        assert_eq!(
            beyond_paper(DatasetKind::Cifar10),
            "--epochs 15 --schedule cosine --embedding 32"
        );
    }

    #[test]
    fn names_round_trip_and_a_bad_name_is_refused() {
        for &n in Recipe::NAMES {
            assert_eq!(n.parse::<Recipe>().unwrap().name(), n);
        }
        assert!("best".parse::<Recipe>().is_err());
    }
}
