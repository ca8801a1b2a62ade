//! The pipelines of the `siamese` commands, as library functions: each takes what the command
//! line chose, does the work and returns a report that the program prints (as text or JSON).
//! The program keeps the flags, the Ctrl-C handler and the progress bars. Feature `cli`.
//!
//! - [`data`]: a command's dataset, downloaded first when missing and allowed;
//! - [`train`](mod@train): `siamese train` ([`train::train_run`]), `train-baseline`
//!   ([`train::baseline_run`]) and `sweep` ([`train::sweep_data`], [`train::write_points`]);
//! - [`score`]: `siamese eval` ([`score::eval_checkpoint`]), `compare`
//!   ([`score::compare_images`]), `show` ([`score::show_predictions`]) and the threshold that
//!   calls a pair "same" ([`score::threshold_of`]);
//! - [`pair_score`]: `siamese score` ([`pair_score::score_pair_list`]) and `eval --pairs`
//!   ([`pair_score::eval_pair_list`]) on a user's pair list;
//! - [`export`]: `siamese export` ([`export::export_onnx`]) and our scores for the ONNX
//!   Runtime check ([`export::write_reference`]).

pub mod data;
pub mod export;
pub mod folder;
pub mod pair_score;
pub mod score;
pub mod train;

use crate::{ModelError, Result};

/// Where a command computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The CPU, all cores (the tape path).
    #[default]
    Cpu,
    /// An NVIDIA GPU (needs a binary built with the `cuda` feature).
    Cuda,
}

/// The message for [`Device::Cuda`] in a build without the `cuda` feature.
#[cfg(not(feature = "cuda"))]
pub const NO_CUDA: &str = "this binary was built without CUDA support; rebuild with `cargo build --release --features cuda`";

/// The GPU backend on device 0 and its name, or the one-line reason it cannot start.
#[cfg(feature = "cuda")]
pub fn open_cuda() -> Result<(crate::cuda::CudaBackend, String)> {
    use crate::tensor::Backend;
    let be = crate::cuda::CudaBackend::new(0).map_err(|e| ModelError::Config(e.to_string()))?;
    let name = be.device_name();
    Ok((be, name))
}

/// Refuses [`Device::Cuda`] in a build without the `cuda` feature.
pub fn check_device(device: Device) -> Result<()> {
    #[cfg(not(feature = "cuda"))]
    if device == Device::Cuda {
        return Err(ModelError::Config(NO_CUDA.into()));
    }
    let _ = device;
    Ok(())
}
