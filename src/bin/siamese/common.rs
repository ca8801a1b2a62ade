//! What several commands share: the thread pool set-up and writing a picture.

use std::path::Path;

use siamese::model::config::validate_threads;

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

/// Writes a picture as a PNG file, atomically.
pub fn save_png(path: &Path, img: &siamese::data::viz::RgbImage) -> CliResult {
    siamese::model::io::atomic_write(path, &img.png_bytes()?)
        .map_err(|e| format!("{}: {e}", path.display()).into())
}
