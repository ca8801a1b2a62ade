//! `siamese bench …`: runs the `siamese-bench` program that sits next to this one, with the
//! same arguments. The bench is its own program because it installs a counting
//! `#[global_allocator]` (allocations per training step, heap growth), which must not wrap
//! every other subcommand.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use clap::Args;

use crate::CliResult;

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// The flags of siamese-bench (`siamese bench --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<OsString>,
}

/// The siamese-bench program beside the running `siamese`, or a one-line error naming the
/// command that builds it.
fn bench_program() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot locate this program: {e}"))?;
    let path = me.with_file_name(format!("siamese-bench{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        return Ok(path);
    }
    let release = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    Err(format!(
        "{} not found: `siamese bench` runs the siamese-bench program next to siamese; build it with `cargo build{release} --bin siamese-bench`",
        path.display()
    ))
}

pub(crate) fn run(a: BenchArgs) -> CliResult {
    let mut cmd = Command::new(bench_program()?);
    cmd.args(&a.args);
    if !siamese::tensor::fpmode::flush_policy() {
        // `siamese --ieee-subnormals bench`: the bench follows the same policy.
        cmd.env(siamese::tensor::fpmode::IEEE_ENV, "1");
    }
    #[cfg(unix)]
    {
        // Become siamese-bench (same pid, stdout, signals): only returns on failure.
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        Err(format!("cannot run {:?}: {e}", cmd.get_program()).into())
    }
    #[cfg(not(unix))]
    {
        let status = cmd
            .status()
            .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
        std::process::exit(status.code().unwrap_or(1));
    }
}
