//! How the run flags become a [`TrainConfig`] (`train`, `sweep`, `train-baseline`), and which
//! of them the user typed (for `--resume`'s conflict check,
//! [`TrainConfig::resumed_with`]): the one place the CLI writes a config's fields.

use clap::parser::ValueSource;
use clap::ArgMatches;
use siamese::data::Label;
use siamese::model::config::{LossKind, TripletConfig};
use siamese::model::run::{Dataset, RunSetting, TrainConfig};

use crate::args::{PairArgs, RunArgs};
use crate::source::{parse_class_list, Error};

/// The run's config: the recipe's for the dataset ([`siamese::model::run::Recipe::config`]), then the flags
/// (`epochs`, `--schedule`, `--augment`, `--embedding` None keep the recipe's; `pair` None for
/// the classifier, which has no pair flags).
pub fn build_config(
    r: &RunArgs, epochs: Option<usize>, batch: usize, lr: f32, pair: Option<&PairArgs>,
) -> Result<TrainConfig, Box<dyn std::error::Error>> {
    let dataset = r.dataset()?;
    let mut cfg = r.recipe.config(dataset.clone());
    if let Some(e) = epochs {
        cfg.epochs = e;
    }
    cfg.batch = batch;
    cfg.lr = lr;
    if let Some(s) = r.schedule {
        cfg.schedule = s;
    }
    cfg.seed = r.seed;
    cfg.limit = r.limit;
    cfg.model.activation = r.subnet.act;
    cfg.model.pooling = r.subnet.pool;
    cfg.model.widen = r.subnet.width;
    if let Some(p) = pair {
        cfg.val_every = p.val_every;
        cfg.loss = p.loss;
        cfg.pairs_per_epoch = !p.fixed_pairs;
        if let Some(a) = p.augment {
            cfg.augment = a;
        }
        if let Some(e) = p.embedding {
            cfg.model.embedding = e;
        }
        cfg.model.embedding_activation = p.emb_act;
        cfg.model.distance = p.distance;
        cfg.model.head = p.head;
        cfg.model.init = p.init;
        cfg.triplet = triplet_config(p);
    }
    if let Some(spec) = &r.train_classes {
        cfg.train_classes = Some(parse_train_classes(&dataset, spec)?);
    }
    Ok(cfg)
}

/// `--loss triplet`'s settings: the typed `--mining` and `--margin` over the comparison
/// module's defaults ([`TripletConfig::default_for`]); with another loss, Some only when one
/// of them was typed (which [`TrainConfig::validate`] then refuses, naming both).
fn triplet_config(p: &PairArgs) -> Option<TripletConfig> {
    if p.loss != LossKind::Triplet && p.mining.is_none() && p.margin.is_none() {
        return None;
    }
    let default = TripletConfig::default_for(p.distance);
    Some(TripletConfig {
        mining: p.mining.unwrap_or(default.mining),
        margin: p.margin.unwrap_or(default.margin),
    })
}

/// The ids of the flags typed on a subcommand's command line (not defaults), from the one
/// parse's matches of that subcommand.
pub fn typed_flags(m: &ArgMatches) -> Vec<String> {
    m.ids()
        .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.to_string())
        .collect()
}

/// `--train-classes` for `dataset`: at least two classes (checked here too, so that the
/// mistake shows before any data is read).
pub fn parse_train_classes(dataset: &Dataset, spec: &str) -> Result<Vec<Label>, Error> {
    let classes = parse_class_list(dataset, spec)?;
    if classes.len() < 2 {
        return Err(format!("--train-classes needs at least two classes, got '{spec}'").into());
    }
    Ok(classes)
}

/// `train`'s flags that define a run: clap id, the setting it sets, its spelling in messages.
const RUN_FLAGS: [(&str, RunSetting, &str); 22] = [
    ("dataset", RunSetting::Dataset, "--dataset"),
    ("epochs", RunSetting::Epochs, "--epochs"),
    ("batch", RunSetting::Batch, "--batch"),
    ("lr", RunSetting::Lr, "--lr"),
    ("schedule", RunSetting::Schedule, "--schedule"),
    ("seed", RunSetting::Seed, "--seed"),
    ("limit", RunSetting::Limit, "--limit"),
    ("val_every", RunSetting::ValEvery, "--val-every"),
    ("loss", RunSetting::Loss, "--loss"),
    ("fixed_pairs", RunSetting::FixedPairs, "--fixed-pairs"),
    ("augment", RunSetting::Augment, "--augment"),
    ("act", RunSetting::Act, "--act"),
    ("pool", RunSetting::Pool, "--pool"),
    ("width", RunSetting::Width, "--width"),
    ("embedding", RunSetting::Embedding, "--embedding"),
    ("emb_act", RunSetting::EmbAct, "--emb-act"),
    ("distance", RunSetting::Distance, "--distance"),
    ("head", RunSetting::Head, "--head"),
    ("init", RunSetting::Init, "--init"),
    ("train_classes", RunSetting::TrainClasses, "--train-classes"),
    ("mining", RunSetting::Mining, "--mining"),
    ("margin", RunSetting::Margin, "--margin"),
];

/// The run settings typed on a subcommand's command line (in the order clap reports them),
/// each with its flag, for [`TrainConfig::resumed_with`].
pub fn typed_run_settings(m: &ArgMatches) -> Vec<(RunSetting, &'static str)> {
    typed_flags(m)
        .iter()
        .filter_map(|t| RUN_FLAGS.iter().find(|(id, ..)| id == t))
        .map(|&(_, setting, flag)| (setting, flag))
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use siamese::data::DatasetKind;
    use siamese::model::run::{Augment, Recipe, Schedule};

    use super::*;
    use crate::{Cli, Command};

    /// `siamese train ARGS`'s config, as the command builds it.
    fn train_config(args: &[&str]) -> TrainConfig {
        let cli = Cli::try_parse_from(["siamese", "train"].iter().chain(args)).unwrap();
        let Command::Train(a) = cli.command else {
            unreachable!("parsed train")
        };
        build_config(&a.run, a.epochs, a.step.batch, a.step.lr, Some(&a.pair)).unwrap()
    }

    #[test]
    fn a_run_starts_from_our_recipe_the_paper_on_request_and_typed_flags_win() {
        for (name, kind) in [
            ("mnist", DatasetKind::Mnist),
            ("fashion-mnist", DatasetKind::FashionMnist),
            ("cifar-10", DatasetKind::Cifar10),
        ] {
            let ours = train_config(&["--dataset", name]);
            assert_eq!(ours, Recipe::Ours.config(kind), "{name}");
            let paper = train_config(&["--dataset", name, "--recipe", "paper"]);
            assert_eq!(paper, TrainConfig::paper(kind), "{name}");
        }
        let c = train_config(&[
            "--recipe",
            "paper",
            "--schedule",
            "cosine",
            "--augment",
            "shift",
            "--embedding",
            "16",
            "--epochs",
            "3",
        ]);
        assert_eq!(
            (c.schedule, c.augment, c.model.embedding, c.epochs),
            (Schedule::Cosine, Augment::Shift, 16, 3)
        );
        let c = train_config(&["--dataset", "cifar-10", "--width", "3"]);
        assert_eq!((c.model.widen, c.model.embedding), (3, 32));
        let c = train_config(&["--schedule", "constant", "--augment", "none"]);
        assert_eq!(
            (c.schedule, c.augment, c.epochs),
            (Schedule::Constant, Augment::None, 20)
        );
    }

    #[test]
    fn resume_keeps_the_runs_own_recipe() {
        let e = Cli::try_parse_from(["siamese", "train", "--resume", "x", "--recipe", "paper"]);
        assert!(e.is_err());
    }

    /// The flags spelled here are the library's (`RunSetting::flag`, curves.png's title), one
    /// per setting.
    #[test]
    fn run_flags_spell_each_setting_as_the_library_does() {
        assert_eq!(RUN_FLAGS.len(), RunSetting::ALL.len());
        for (_, setting, flag) in RUN_FLAGS {
            assert_eq!(setting.flag(), flag);
        }
    }

    #[test]
    fn triplet_flags_take_the_distances_defaults_and_need_the_triplet_loss() {
        use siamese::model::config::{Mining, TripletConfig};
        let c = train_config(&["--loss", "triplet", "--distance", "cosine"]);
        assert_eq!(
            c.triplet,
            Some(TripletConfig::default_for(c.model.distance))
        );
        c.validate().unwrap();
        let c = train_config(&[
            "--loss",
            "triplet",
            "--mining",
            "semi-hard",
            "--margin",
            "0.2",
        ]);
        assert_eq!(
            c.triplet,
            Some(TripletConfig {
                mining: Mining::SemiHard,
                margin: 0.2
            })
        );
        let e = train_config(&["--mining", "all"]).validate().unwrap_err();
        assert!(e.to_string().contains("apply to --loss triplet"), "{e}");
        assert_eq!(train_config(&[]).triplet, None);
    }
}
