//! What the two programs, `siamese` and `siamese-bench`, do alike at the edges: parse the
//! command line into one `error:` line on bad flags, collapse any error onto one line, and end
//! quietly when the reader of stdout goes away. Included by both with `#[path]`.

use std::process::ExitCode;

use clap::{ArgMatches, Command, Parser};

/// Lets a closed stdout (`siamese bench | head -1`) end the program quietly, as it does any
/// Unix filter, instead of `println!` panicking on EPIPE: Rust starts programs with SIGPIPE
/// ignored.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: signal(2) with SIGPIPE and SIG_DFL, both valid constants, called at the start
    // of main before any other thread exists; it changes only how the process reacts to a
    // write on a closed pipe (terminate, the Unix default) and touches no Rust-owned memory.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The command line parsed once: the typed value and clap's matches (which also tell which
/// flags were typed), or the exit code after printing: help and version on stdout (success),
/// a missing subcommand's help (exit 2), or clap's message up to its usage block as one line
/// on stderr (`error: …` ending with a pointer to `<program> --help`), with exit code 2.
pub fn parse_with_matches<P: Parser>(program: &str) -> Result<(P, ArgMatches), ExitCode> {
    parse_from_with_matches(program, std::env::args_os())
}

/// [`parse_with_matches`] of the given arguments (the first is the program's name).
pub fn parse_from_with_matches<P: Parser>(
    program: &str, args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<(P, ArgMatches), ExitCode> {
    use clap::error::ErrorKind;
    let mut cmd = negative_numbers_are_values(P::command());
    let e = match cmd
        .try_get_matches_from_mut(args)
        .and_then(|m| P::from_arg_matches(&m).map(|p| (p, m)))
    {
        Ok(parsed) => return Ok(parsed),
        Err(e) => e.format(&mut cmd),
    };
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            Err(ExitCode::from(2))
        }
        _ => {
            let text = e.to_string();
            let head = text.split("\n\n").next().unwrap_or("invalid arguments");
            let head = one_line(head.strip_prefix("error: ").unwrap_or(head));
            eprintln!("error: {head} (try `{program} --help`)");
            Err(ExitCode::from(2))
        }
    }
}

/// Lets every flag that takes a value take a negative number (`--lr -1`, not only
/// `--lr=-1`), in every subcommand, so that the number reaches its flag's own range check
/// (one line naming the range) instead of being read as an unknown flag.
fn negative_numbers_are_values(cmd: Command) -> Command {
    cmd.mut_args(|a| {
        if a.get_action().takes_values() {
            a.allow_negative_numbers(true)
        } else {
            a
        }
    })
    .mut_subcommands(negative_numbers_are_values)
}

/// Prints `error: <message>` and gives the failure exit code, or success. Each line of the
/// message is collapsed onto one; the few messages written as several lines on purpose (the
/// missing-data error's two ways out) keep them, indented under the `error:` line.
pub fn finish(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = e.to_string();
            let mut lines = text.lines().map(one_line).filter(|l| !l.is_empty());
            eprintln!("error: {}", lines.next().unwrap_or_default());
            for l in lines {
                eprintln!("  {l}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Collapses a message onto one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
