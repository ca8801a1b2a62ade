//! Our side of the ONNX Runtime check (docs/onnx.md): the first P test pairs of a
//! checkpoint's dataset, our similarities, embeddings and scoring time, into a folder that
//! `scripts/onnx_check.py` reads.
//!
//!     cargo run --release --example onnx_reference -- CHECKPOINT DIR [PAIRS] [REPS]
//!
//! The dataset is found as every command finds it (SIAMESE_DATA_DIR, ./datasets); PAIRS
//! defaults to 1000, REPS (timing repeats) to 5.

use std::path::Path;

use siamese::pipeline::data::DataSource;
use siamese::pipeline::export::write_reference;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ck, dir, rest @ ..] = args.as_slice() else {
        return Err("usage: onnx_reference CHECKPOINT DIR [PAIRS] [REPS]".into());
    };
    let pairs = rest.first().map_or(Ok(1000), |s| s.parse())?;
    let reps = rest.get(1).map_or(Ok(5), |s| s.parse())?;
    // As the `siamese` program sets up: all cores, subnormals flushed on every thread.
    siamese::tensor::fpmode::set_current_thread();
    siamese::tensor::fpmode::init_global_pool(None)?;
    let src = DataSource {
        data_dir: None,
        offline: true,
        ..Default::default()
    };
    let r = write_reference(Path::new(ck), &src, pairs, reps, Path::new(dir))?;
    println!(
        "wrote {dir}: {} pairs over {} images; ours: {:.3} s to score {} pairs (median of {reps})",
        r.pairs, r.images, r.score_seconds, r.timed_pairs
    );
    Ok(())
}
