//! The CUDA kernels checked without a GPU. NVRTC, the CUDA runtime compiler, is a plain library
//! that needs no driver and no device (CI installs it from PyPI, see `.ci/run`): this test
//! compiles the program siamese-cuda gathers (`src/prelude.cu` and the `.cu` fragment of every
//! op folder of siamese-tensor) to PTX for compute_80 and compute_90, and checks the kernel
//! names both ways: every name of [`KERNEL_NAMES`] (the single list the launch code takes its
//! kernels from) is an `.entry` of the PTX, and every `.entry` of the PTX is in that list.
//!
//! Without the NVRTC library the test says why and passes as skipped, unless
//! `SIAMESE_REQUIRE_NVRTC=1` (which `.ci/run` sets): then it fails. A library that loads but
//! fails (a missing symbol, a compile error) always fails.

use siamese_cuda::sources::{
    compile_ptx, compile_source, nvrtc_present, nvrtc_version, ptx_entries, FMAD,
};
use siamese_cuda::KERNEL_NAMES;

/// The virtual architectures checked: Ampere (A100) and Hopper (H100/H200).
const ARCHS: [&str; 2] = ["compute_80", "compute_90"];

/// Whether the NVRTC library is there; without it, a skip (or, under
/// `SIAMESE_REQUIRE_NVRTC=1`, a failure).
fn nvrtc_or_skip() -> bool {
    if !nvrtc_present() {
        let why = "the NVRTC library (libnvrtc.so.13/.12/…) cannot be loaded: install the PyPI \
                   package nvidia-cuda-nvrtc and add its lib folder to LD_LIBRARY_PATH (.ci/run does)";
        if std::env::var("SIAMESE_REQUIRE_NVRTC").is_ok_and(|v| v == "1") {
            panic!("SIAMESE_REQUIRE_NVRTC=1 but {why}");
        }
        println!("skipped: {why}");
        return false;
    }
    true
}

#[test]
fn every_launched_kernel_is_an_entry_of_the_ptx_and_no_other() {
    if !nvrtc_or_skip() {
        return;
    }
    let (major, minor) = nvrtc_version().unwrap_or_else(|e| panic!("{e}"));
    for arch in ARCHS {
        let ptx = compile_ptx(arch).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let target = format!(".target {}", arch.replace("compute_", "sm_"));
        assert!(ptx.contains(&target), "{arch}: the PTX has no `{target}`");
        let entries = ptx_entries(&ptx);
        let missing: Vec<_> = KERNEL_NAMES
            .iter()
            .filter(|name| !entries.contains(name))
            .collect();
        let unlaunched: Vec<_> = entries
            .iter()
            .filter(|e| !KERNEL_NAMES.contains(e))
            .collect();
        assert!(
            missing.is_empty() && unlaunched.is_empty(),
            "NVRTC {major}.{minor}, {arch}: kernels the Rust side launches but the PTX lacks: \
             {missing:?}; PTX entries the Rust side never launches: {unlaunched:?}"
        );
        assert_eq!(
            entries.len(),
            KERNEL_NAMES.len(),
            "{arch}: an entry is defined twice"
        );
        println!(
            "NVRTC {major}.{minor}, {arch}: {} kernels, all launched, all in the PTX ({} bytes)",
            entries.len(),
            ptx.len()
        );
    }
}

/// The kernels' options take effect: a probe `x·y + z` compiled as the kernels are comes out
/// as a separately rounded multiply and add (`--fmad=false`: `mul.rn`, `add.rn`, no `fma`),
/// flushing subnormals under the default policy (`--ftz=true`: `.ftz.f32`) and not under
/// strict IEEE subnormals (siamese-tensor's `fpmode`). With NVRTC's default `--fmad` the same
/// line is one `fma.rn.ftz.f32`.
#[test]
fn the_kernels_compile_without_fma_contraction_and_with_the_subnormal_policy() {
    if !nvrtc_or_skip() {
        return;
    }
    const { assert!(!FMAD, "the choice documented in docs/cuda.md") };
    let probe = "extern \"C\" __global__ void probe(float* p) { p[0] = p[1] * p[2] + p[3]; }";
    for (ieee, ftz) in [(false, ".ftz"), (true, "")] {
        siamese_tensor::fpmode::set_ieee_subnormals(ieee);
        let ptx = compile_source(probe.into(), "compute_90").unwrap_or_else(|e| panic!("{e}"));
        let body: Vec<&str> = ptx
            .lines()
            .map(str::trim)
            .filter(|l| l.contains(".f32"))
            .collect();
        assert!(
            body.iter()
                .any(|l| l.starts_with(&format!("mul.rn{ftz}.f32")))
                && body
                    .iter()
                    .any(|l| l.starts_with(&format!("add.rn{ftz}.f32")))
                && !body.iter().any(|l| l.starts_with("fma")),
            "IEEE subnormals {ieee}: expected a separately rounded multiply and add: {body:?}"
        );
        println!("probe x·y + z, IEEE subnormals {ieee}: {body:?}");
    }
    siamese_tensor::fpmode::set_ieee_subnormals(false);
}
