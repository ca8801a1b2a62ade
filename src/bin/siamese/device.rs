//! `--device cpu|cuda`: where `train` and `eval` compute. The CPU (default) is the tape path;
//! CUDA is siamese-cuda's backend under siamese-model's device step, compiled in only with
//! `--features cuda`. Without the feature, or without a usable GPU, asking for it is one line
//! on stderr and a non-zero exit ([`siamese::pipeline::check_device`]).

use clap::ValueEnum;

/// The compute device of a run, as a flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// The CPU, all cores (the tape path).
    #[default]
    Cpu,
    /// An NVIDIA GPU (needs a binary built with `--features cuda`).
    Cuda,
}

impl From<Device> for siamese::pipeline::Device {
    fn from(d: Device) -> Self {
        match d {
            Device::Cpu => Self::Cpu,
            Device::Cuda => Self::Cuda,
        }
    }
}
