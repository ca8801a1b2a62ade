//! `siamese bench …`: the bench of src/bin/siamese-bench/, run in this process (that file is
//! included here) with the same flags, so that `siamese bench` works wherever `siamese` does,
//! `cargo run --release -- bench` included. The counting `#[global_allocator]` comes with it;
//! it counts only once the bench starts, so the other subcommands pay one relaxed load per
//! allocation.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Args;

// Its `main` and what only the siamese-bench program calls are dead here; its copy of
// shared/cli.rs is the one this program includes too (the same file, twice: harmless).
#[path = "../siamese-bench/main.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod program;

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// The flags of the bench (`siamese bench --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<OsString>,
}

/// Parses the bench's own flags as siamese-bench does (help, version and clap's one-line
/// errors alike) and runs it; the exit code.
pub(crate) fn run(a: BenchArgs) -> ExitCode {
    let argv = std::iter::once(OsString::from("siamese bench")).chain(a.args);
    let args =
        match crate::cli::parse_from_with_matches::<program::BenchArgs>("siamese bench", argv) {
            Ok((args, _)) => args,
            Err(code) => return code,
        };
    // `siamese --ieee-subnormals bench` has set the flush policy already: the bench follows it.
    crate::cli::finish(program::run(args).map_err(|e| e.to_string().into()))
}
