//! What several commands share: the thread pool set-up, writing a picture and the text of a
//! pair evaluation, and the commit that results are recorded at.

use std::path::Path;

use siamese::model::config::validate_threads;
use siamese::model::score::PairEvaluation;

use crate::CliResult;

/// Builds the rayon pool (once per process; all cores unless `--threads`, checked: 1 to 4
/// per core), its threads and this one flushing subnormals unless `--ieee-subnormals`
/// (siamese_tensor::fpmode).
pub fn set_threads(threads: Option<usize>) -> CliResult {
    if let Some(t) = threads {
        validate_threads(t)?;
    }
    siamese::tensor::fpmode::init_global_pool(threads)
        .map_err(|e| format!("cannot set up the thread pool: {e}"))?;
    Ok(())
}

/// Refuses, before any work, a picture file named other than `*.png` (`--out x.jpg`): the
/// pictures are written as PNG only, and PNG bytes under another name would mislead.
pub fn check_png_name(path: &Path, flag: &str) -> CliResult {
    let ext = path.extension().and_then(|e| e.to_str());
    if ext.is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        return Ok(());
    }
    Err(format!(
        "{flag} {}: pictures are written as PNG only; give a file name ending in .png",
        path.display()
    )
    .into())
}

/// Ends the process on Ctrl-C or SIGTERM (exit code 130, as a shell reports an interrupted
/// program), removing first the temp file of any output being written, so that nothing is
/// left half-written or beside the target ([`siamese::model::io::remove_pending_temps`]).
/// Every command but `train` (whose handler saves a checkpoint first) installs it.
pub fn exit_cleanly_on_signal() {
    let _ = ctrlc::set_handler(|| {
        siamese::model::io::remove_pending_temps();
        std::process::exit(130);
    });
}

/// Refuses, before any work, an output that cannot be written (an existing FIFO, device or
/// folder), that is one of the command's inputs, or that another output names too
/// ([`siamese::model::io::check_outputs`]): every command that writes a file calls it first
/// with its (flag, path) outputs and inputs.
pub fn check_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> CliResult {
    Ok(siamese::model::io::check_outputs(outputs, inputs)?)
}

/// Writes a picture as a PNG file, atomically.
pub fn save_png(path: &Path, img: &siamese::data::viz::RgbImage) -> CliResult {
    siamese::model::io::atomic_write(path, &img.png_bytes()?)
        .map_err(|e| format!("{}: {e}", path.display()).into())
}

/// Prints a pair evaluation (`train`'s test, `eval`) under the heading `what`.
pub fn print_eval(e: &PairEvaluation, what: &str) {
    println!(
        "{what}: {} pairs, accuracy {:.2}% at 0.5, {:.2}% at the validation threshold {:.3}",
        e.pairs,
        e.accuracy_at_half * 100.0,
        e.accuracy_at_threshold * 100.0,
        e.threshold
    );
    let c = &e.confusion_at_half;
    println!(
        "  at 0.5: same called same {}, different called same {}, different called different {}, same called different {}",
        c.tp, c.fp, c.tn, c.fn_
    );
    if let (Some(auc), Some(eer)) = (e.roc_auc, e.equal_error_rate) {
        println!("  ROC AUC {auc:.4}, equal error rate {:.2}%", eer * 100.0);
    }
    println!(
        "  time to score {} pairs: {:.3} s (median of 3, batch {})",
        e.timed_pairs, e.score_seconds, e.eval_batch
    );
}

/// The commit that results are recorded at (`reproduce`'s runs, `export`'s metadata):
/// `git describe --always --dirty` in the working folder, or "unknown".
pub fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=7"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
