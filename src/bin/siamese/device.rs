//! `--device cpu|cuda`: where `train` and `eval` compute. The CPU (default) is the tape path;
//! CUDA is siamese-cuda's backend under siamese-model's device step, compiled in only with
//! `--features cuda`. Without the feature, or without a usable GPU, asking for it is one line
//! on stderr and a non-zero exit.

use clap::ValueEnum;

/// The compute device of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// The CPU, all cores (the tape path).
    #[default]
    Cpu,
    /// An NVIDIA GPU (needs a binary built with `--features cuda`).
    Cuda,
}

/// The message for `--device cuda` in a binary built without the feature.
#[cfg(not(feature = "cuda"))]
pub const NO_CUDA: &str = "this binary was built without CUDA support; rebuild with `cargo build --release --features cuda`";

/// The GPU backend on device 0, or the one-line reason it cannot start.
#[cfg(feature = "cuda")]
pub fn open_cuda() -> Result<siamese::cuda::CudaBackend, Box<dyn std::error::Error>> {
    use siamese::tensor::Backend;
    let be = siamese::cuda::CudaBackend::new(0)?;
    println!("device: {}", be.device_name());
    Ok(be)
}
