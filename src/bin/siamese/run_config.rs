//! Which of `train`'s flags the user typed (as opposed to their defaults), for `--resume`'s
//! conflict check ([`siamese::model::run::TrainConfig::resumed_with`]).

use clap::Args;

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
