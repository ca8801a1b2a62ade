//! Which of `train`'s flags the user typed (as opposed to their defaults), for `--resume`'s
//! conflict check ([`siamese::model::run::TrainConfig::resumed_with`]).

use clap::Args;
use siamese::model::run::RunSetting;

use crate::model_cmds::TrainArgs;

/// The ids of the flags typed on `train`'s command line (not defaults), for `--resume`'s
/// conflict check: `train`'s flags parsed again, with their sources.
pub fn typed_train_flags() -> Vec<String> {
    use clap::parser::ValueSource;
    // Global flags of the program (`--ieee-subnormals`) are not `train`'s: ignored.
    let cmd = <TrainArgs as Args>::augment_args(clap::Command::new("train")).ignore_errors(true);
    // Everything before the subcommand is dropped: "train" stands as the command's name.
    let args = std::env::args_os().skip(1).skip_while(|a| a != "train");
    match cmd.try_get_matches_from(args) {
        Ok(m) => m
            .ids()
            .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `train`'s flags that define a run: clap id, the setting it sets, its spelling in messages.
const RUN_FLAGS: [(&str, RunSetting, &str); 19] = [
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
    ("embedding", RunSetting::Embedding, "--embedding"),
    ("emb_act", RunSetting::EmbAct, "--emb-act"),
    ("distance", RunSetting::Distance, "--distance"),
    ("head", RunSetting::Head, "--head"),
    ("init", RunSetting::Init, "--init"),
    ("train_classes", RunSetting::TrainClasses, "--train-classes"),
];

/// The run settings typed on `train`'s command line (in the order clap reports them), each
/// with its flag, for [`siamese::model::run::TrainConfig::resumed_with`].
pub fn typed_run_settings() -> Vec<(RunSetting, &'static str)> {
    typed_train_flags()
        .iter()
        .filter_map(|t| RUN_FLAGS.iter().find(|(id, ..)| id == t))
        .map(|&(_, setting, flag)| (setting, flag))
        .collect()
}
