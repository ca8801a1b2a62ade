//! The CUDA C of our kernels and the list of their names.
//!
//! Every kernel lives beside the Rust function that holds the same equation, as one `.cu`
//! fragment per op folder of siamese-tensor (`crates/tensor/src/ops/<family>/<family>.cu`);
//! [`SOURCES`] gathers them after this crate's `prelude.cu` (the block reduction, the stable
//! sigmoid, the grid-stride loop), and [`program`] joins them into the one NVRTC program that
//! [`crate::CudaBackend::new`] compiles for the device and that `tests/nvrtc.rs` compiles,
//! without a GPU, for compute_80 and compute_90.
//!
//! [`KERNEL_NAMES`] is the single list of the `extern "C"` kernels the launch code uses (each
//! launch names its kernel through the matching variant of the crate's `K`); the NVRTC test
//! checks it against the `.entry` points of the compiled PTX, both ways.

use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use siamese_tensor::backend::{BResult, BackendError};
use siamese_tensor::ops;

/// (fragment, CUDA C): the prelude, then one fragment per op folder, in the program's order.
/// Each fragment comes from the op folder's own constant in siamese-tensor (so that this crate
/// reads no file of another crate and packages on its own); the names are for `#line`.
pub const SOURCES: &[(&str, &str)] = &[
    ("crates/cuda/src/prelude.cu", include_str!("prelude.cu")),
    (
        "crates/tensor/src/ops/conv2d/conv2d.cu",
        ops::conv2d::CUDA_SOURCE,
    ),
    ("crates/tensor/src/ops/pool/pool.cu", ops::pool::CUDA_SOURCE),
    ("crates/tensor/src/ops/gemm/gemm.cu", ops::gemm::CUDA_SOURCE),
    (
        "crates/tensor/src/ops/elementwise/elementwise.cu",
        ops::elementwise::CUDA_SOURCE,
    ),
    (
        "crates/tensor/src/ops/distance/distance.cu",
        ops::distance::CUDA_SOURCE,
    ),
    (
        "crates/tensor/src/ops/batchnorm/batchnorm.cu",
        ops::batchnorm::CUDA_SOURCE,
    ),
    ("crates/tensor/src/ops/loss/loss.cu", ops::loss::CUDA_SOURCE),
    ("crates/tensor/src/ops/adam/adam.cu", ops::adam::CUDA_SOURCE),
];

/// The NVRTC program: every fragment of [`SOURCES`] in order, each introduced by a `#line`
/// directive so that a compile error names the fragment's own file and line.
pub fn program() -> String {
    let mut src = String::new();
    for (name, text) in SOURCES {
        src.push_str(&format!("#line 1 \"{name}\"\n"));
        src.push_str(text);
        if !text.ends_with('\n') {
            src.push('\n');
        }
    }
    src
}

/// Declares the kernels once: the enum `K` the launch code names them by, and
/// [`KERNEL_NAMES`], the `extern "C"` name of each, in the same order.
macro_rules! kernels {
    ($($variant:ident => $name:literal,)*) => {
        /// Our kernels; `K::X as usize` indexes [`KERNEL_NAMES`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum K {
            $($variant,)*
        }

        /// The `extern "C"` name of every kernel the launch code uses, in the order of `K`.
        pub const KERNEL_NAMES: &[&str] = &[$($name,)*];
    };
}

kernels! {
    Conv2dForward => "conv2d_forward",
    Conv2dBackwardDw => "conv2d_backward_dw",
    Conv2dBackwardDb => "conv2d_backward_db",
    Conv2dBackwardDx => "conv2d_backward_dx",
    MaxPool2x2Forward => "max_pool2x2_forward",
    MaxPool2x2Backward => "max_pool2x2_backward",
    AvgPool2x2Forward => "avg_pool2x2_forward",
    AvgPool2x2Backward => "avg_pool2x2_backward",
    AddBiasRows => "add_bias_rows",
    SumRows => "sum_rows",
    ReluInplace => "relu_inplace",
    ReluBackwardInplace => "relu_backward_inplace",
    TanhInplace => "tanh_inplace",
    TanhBackwardInplace => "tanh_backward_inplace",
    SigmoidInplace => "sigmoid_inplace",
    SigmoidBackwardInplace => "sigmoid_backward_inplace",
    EuclideanForward => "euclidean_forward",
    EuclideanBackward => "euclidean_backward",
    CosineForward => "cosine_forward",
    CosineBackward => "cosine_backward",
    BatchnormForward => "batchnorm_forward",
    BatchnormBackward => "batchnorm_backward",
    ContrastiveLoss => "contrastive_loss",
    BceLoss => "bce_loss",
    SoftmaxCeLoss => "softmax_ce_loss",
    AdamUpdate => "adam_update",
}

impl K {
    /// The kernel's `extern "C"` name.
    pub(crate) fn name(self) -> &'static str {
        KERNEL_NAMES[self as usize]
    }
}

/// Whether the NVRTC library (`libnvrtc.so`, any of the names cudarc tries) can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: `is_culib_present` dlopens the named vendor library and closes it again;
    // loading runs the library's initialisers, which is what any use of it does. No symbol
    // is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// The version (major, minor) of the NVRTC library that [`compile_ptx`] uses.
pub fn nvrtc_version() -> BResult<(i32, i32)> {
    if !nvrtc_present() {
        return Err(no_nvrtc());
    }
    crate::no_panic("NVRTC failed", || {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: `nvrtcVersion(int* major, int* minor)` writes two ints through the pointers,
        // which point at the two live locals above.
        let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
        match r {
            cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS => Ok((major, minor)),
            e => Err(BackendError::Device(format!(
                "CUDA: nvrtcVersion failed: {e:?}"
            ))),
        }
    })
}

fn no_nvrtc() -> BackendError {
    crate::unavailable(
        "could not load libnvrtc.so (the CUDA runtime compiler; install the CUDA toolkit or add its lib64 folder to LD_LIBRARY_PATH)",
    )
}

/// NVRTC's `--fmad`: false, no contraction of a·b + c into a fused multiply-add. Rust never
/// contracts, so with it off every kernel rounds each operation as its Rust twin does, the
/// GPU tests' tolerances measure closeness (not FMA's last-bit differences), and a guard
/// such as the distance's `Σ² > ε` takes the same branch on both sides. The kernels are
/// memory-bound at this model's sizes, so the separate multiply and add cost nothing
/// measurable. (cuBLAS's sgemm keeps its own FMA; the GEMM tolerances allow for it.)
pub const FMAD: bool = false;

/// NVRTC's `--ftz`: the process's subnormal policy, [`siamese_tensor::fpmode::flush_policy`],
/// read when the kernels are compiled (when the backend opens). By default true: f32
/// subnormal inputs and results flushed to zero, the GPU twin of the CPU's flush-to-zero +
/// denormals-are-zero; the CPU's strict-IEEE switch (`SIAMESE_IEEE_SUBNORMALS=1`,
/// `--ieee-subnormals`, set before the backend opens) compiles them with gradual underflow
/// too. The double-precision reductions are unaffected (`--ftz` concerns f32 only).
pub fn ftz() -> bool {
    siamese_tensor::fpmode::flush_policy()
}

/// Compiles [`program`] with NVRTC for the virtual architecture `arch` ("compute_90") and
/// returns the PTX text. Needs the NVRTC library, but no driver and no GPU. A missing
/// library or symbol is an error of one line, never a panic.
pub fn compile_ptx(arch: &'static str) -> BResult<String> {
    compile_source(program(), arch)
}

/// Compiles CUDA C `src` with NVRTC for `arch`, with the options of the kernels ([`FMAD`],
/// [`ftz`], IEEE division and square root); the PTX text. `tests/nvrtc.rs` also compiles a
/// one-line probe with it to see those options take effect.
pub fn compile_source(src: String, arch: &'static str) -> BResult<String> {
    if !nvrtc_present() {
        return Err(no_nvrtc());
    }
    crate::no_panic("NVRTC failed", || {
        let opts = CompileOptions {
            arch: Some(arch),
            name: Some("siamese_kernels.cu".into()),
            fmad: Some(FMAD),
            ftz: Some(ftz()),
            // IEEE division and square root (NVRTC's defaults, stated): the Rust twins' `/`
            // and `sqrt` round correctly too.
            prec_div: Some(true),
            prec_sqrt: Some(true),
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(src, opts).map_err(|e| {
            BackendError::Device(format!(
                "CUDA: NVRTC could not compile the kernels for {arch}: {}",
                crate::one_line(&e.to_string())
            ))
        })?;
        Ok(ptx.to_src())
    })
}

/// The names of the `.entry` points (kernels) of a PTX text, in order.
pub fn ptx_entries(ptx: &str) -> Vec<&str> {
    ptx.lines()
        .filter_map(|l| {
            let rest = l
                .trim_start()
                .strip_prefix(".visible ")
                .unwrap_or(l.trim_start());
            let rest = rest.strip_prefix(".entry ")?;
            rest.split(|c: char| c == '(' || c.is_whitespace()).next()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name is defined once: as `extern "C" __global__ void name(` or through one of
    /// elementwise.cu's kernel macros (`MAP_KERNEL(name, …)`, `GRAD_KERNEL(name, …)`).
    #[test]
    fn every_kernel_name_is_defined_in_exactly_one_fragment() {
        for name in KERNEL_NAMES {
            let decls = [
                format!("extern \"C\" __global__ void {name}("),
                format!("\nMAP_KERNEL({name},"),
                format!("\nGRAD_KERNEL({name},"),
            ];
            let homes: Vec<_> = SOURCES
                .iter()
                .flat_map(|(f, text)| decls.iter().filter(|d| text.contains(*d)).map(move |_| *f))
                .collect();
            assert_eq!(homes.len(), 1, "{name} is defined in {homes:?}");
        }
    }

    #[test]
    fn the_program_names_each_fragment_with_a_line_directive() {
        let p = program();
        for (name, _) in SOURCES {
            assert!(p.contains(&format!("#line 1 \"{name}\"\n")), "{name}");
        }
        assert!(p.starts_with("#line 1 \"crates/cuda/src/prelude.cu\""));
    }

    #[test]
    fn ptx_entries_reads_visible_and_plain_entries() {
        let ptx =
            "//\n.visible .entry conv2d_forward(\n\t.param .u64 a\n)\n.entry helper (\n.func f(\n";
        assert_eq!(ptx_entries(ptx), ["conv2d_forward", "helper"]);
    }
}
