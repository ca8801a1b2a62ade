//! How the run flags become a [`TrainConfig`] (`train`, `sweep`, `train-baseline`), and which
//! of them the user typed (for `--resume`'s conflict check,
//! [`TrainConfig::resumed_with`]): the one place the CLI writes a config's fields.

use clap::parser::ValueSource;
use clap::ArgMatches;
use siamese::model::run::TrainConfig;

use crate::args::{PairArgs, RunArgs};

/// The run's config: the paper's for the dataset, then the flags (`epochs` None keeps the
/// paper's; `pair` None for the classifier, which has no pair flags).
pub fn build_config(
    r: &RunArgs, epochs: Option<usize>, batch: usize, lr: f32, pair: Option<&PairArgs>,
) -> Result<TrainConfig, Box<dyn std::error::Error>> {
    let mut cfg = TrainConfig::paper(r.dataset);
    if let Some(e) = epochs {
        cfg.epochs = e;
    }
    cfg.batch = batch;
    cfg.lr = lr;
    cfg.schedule = r.schedule.clone();
    cfg.seed = r.seed;
    cfg.limit = r.limit;
    cfg.model.activation = r.subnet.act;
    cfg.model.pooling = r.subnet.pool;
    if let Some(p) = pair {
        cfg.val_every = p.val_every;
        cfg.loss = p.loss;
        cfg.pairs_per_epoch = !p.fixed_pairs;
        cfg.augment = p.augment;
        cfg.model.embedding = p.embedding;
        cfg.model.embedding_activation = p.emb_act;
        cfg.model.distance = p.distance;
        cfg.model.head = p.head;
        cfg.model.init = p.init;
    }
    if let Some(spec) = &r.train_classes {
        // beyond_cmds.rs holds the class-list parser until its split lands.
        cfg.train_classes = Some(crate::beyond_cmds::parse_train_classes(r.dataset, spec)?);
    }
    Ok(cfg)
}

/// The ids of the flags typed on a subcommand's command line (not defaults), from the one
/// parse's matches of that subcommand.
pub fn typed_flags(m: &ArgMatches) -> Vec<String> {
    m.ids()
        .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.to_string())
        .collect()
}
