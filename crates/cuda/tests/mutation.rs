//! The GPU tests can fail: their comparison code (`parity/`, the same functions
//! `tests/gpu.rs` runs with the CUDA backend) run here, on every machine, against CPU
//! backends that are wrong on purpose ([`Mutant`]): one output of one op off by a relative
//! amount r, or one term dropped. Every output of every op the GPU tests cover must be
//! reported as a failure at r = 1% (and 10%); the table printed by
//! `every_output_of_every_op_is_caught_at_one_percent` gives, per output, the smallest r of
//! [`GRID`] that is caught (the output's effective tolerance). The real CPU backend, and the
//! wrapper with no mutation, pass every comparison.
//!
//! Each mutation scales the largest-magnitude value of its output (see `parity::mutant`), so
//! the smallest r caught is the output's tolerance relative to the tensor's largest value.

mod parity;

use std::rc::Rc;

use parity::cases::{families, Family};
use parity::mutant::{Drop, Mutant, Mutation, DROPS, TARGETS};
use parity::step::device_step;
use siamese_tensor::CpuBackend;

/// The relative perturbations tried, smallest first.
const GRID: [f32; 13] = [
    1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1,
];
const SEED: u64 = 0x5EED;

type Wrong = Mutant<CpuBackend>;

fn family(name: &str) -> Family<Wrong> {
    families::<Wrong>()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, f)| f)
        .unwrap_or_else(|| panic!("no case family {name}"))
}

/// Whether the comparison of `fam` reports a failure for `mutation`.
fn caught(fam: &str, mutation: Mutation) -> bool {
    family(fam)(&Mutant::new(Rc::new(CpuBackend), mutation), SEED).is_err()
}

#[test]
fn the_real_cpu_backend_and_the_neutral_wrapper_pass_every_comparison() {
    for (name, _, f) in families::<CpuBackend>() {
        let max = f(&CpuBackend, SEED).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(max, 0.0, "{name}: the CPU differs from itself");
    }
    for (name, _, f) in families::<Wrong>() {
        let neutral = Mutant::new(Rc::new(CpuBackend), Mutation::None);
        f(&neutral, SEED).unwrap_or_else(|e| panic!("{name} through the wrapper: {e}"));
    }
}

/// The other side of the coin: a device that is right but rounds differently must pass. A
/// backend whose every inexact output carries random noise per value (a model of a correct
/// GPU: its own roundings, in its own order) passes every family at 4 ulps, and the device
/// step at 16 ulps on every op but Adam's (where that noise, compounded through the forward
/// and backward, also flips max-pool choices and ReLU masks near ties; 32 fails the
/// gradients' 1e-3 in norm).
#[test]
fn a_backend_a_few_ulps_off_everywhere_passes() {
    // Not the N = 0 family: its few values (zeros, an untouched running statistic, one
    // correctly rounded 1/√(σ² + ε)) are exact on a correct device.
    for (name, _, f) in families::<Wrong>().into_iter().filter(|f| f.0 != "empty") {
        let noise = Mutation::Noise {
            ulps: 4.0,
            adam: true,
        };
        let max = f(&Mutant::new(Rc::new(CpuBackend), noise), SEED)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("{name}: 4-ulp noise, max |diff| {max:.3e}");
    }
    let make = || {
        let noise = Mutation::Noise {
            ulps: 16.0,
            adam: false,
        };
        Ok(Mutant::new(Rc::new(CpuBackend), noise))
    };
    let max = device_step(&make, SEED, &[(1, 28, 64), (3, 32, 16)], 3)
        .unwrap_or_else(|e| panic!("device step: {e}"));
    println!("device step: 16-ulp noise, max |diff| {max:.3e}");
}

#[test]
fn every_output_of_every_op_is_caught_at_one_percent() {
    let mut table = Vec::new();
    let mut missed = Vec::new();
    for &(op, outs, fam) in TARGETS {
        for (out, name) in outs.iter().enumerate() {
            let at = |r| Mutation::Scale { op, out, r };
            let smallest = GRID.iter().copied().find(|&r| caught(fam, at(r)));
            for r in [1e-2, 1e-1] {
                if !caught(fam, at(r)) {
                    missed.push(format!("{op} {name} at r = {r}"));
                }
            }
            let shown = smallest.map_or("not caught".to_string(), |r| format!("{r:.0e}"));
            table.push(format!("| {op} | {name} | {shown} |"));
        }
    }
    println!("| op | output | smallest r caught (of 1e-7 … 1e-1) |\n|---|---|---|");
    println!("{}", table.join("\n"));
    println!("{} outputs of {} ops", table.len(), TARGETS.len());
    assert!(missed.is_empty(), "the GPU comparison misses: {missed:?}");
}

#[test]
fn every_dropped_term_is_caught() {
    let missed: Vec<Drop> = DROPS
        .iter()
        .filter(|&&(d, fam)| {
            let hit = caught(fam, Mutation::Drop(d));
            println!(
                "| {d:?} | {fam} | {} |",
                if hit { "caught" } else { "MISSED" }
            );
            !hit
        })
        .map(|&(d, _)| d)
        .collect();
    assert!(missed.is_empty(), "the GPU comparison misses: {missed:?}");
}

#[test]
fn the_device_step_comparison_passes_the_cpu_and_catches_a_one_percent_error() {
    let geoms = [(1, 28, 16)];
    let run = |mutation| {
        let make = move || Ok(Mutant::new(Rc::new(CpuBackend), mutation));
        device_step(&make, SEED, &geoms, 2)
    };
    let max = run(Mutation::None).unwrap_or_else(|e| panic!("clean: {e}"));
    assert_eq!(max, 0.0);
    for (op, out) in [
        ("conv2d_backward", 1),
        ("linear_backward", 1),
        ("batchnorm_backward", 1),
        ("conv2d_forward", 0),
        ("euclidean_forward", 0),
        ("adam_update", 0),
        ("adam_update", 2),
    ] {
        let r = run(Mutation::Scale { op, out, r: 1e-2 });
        println!("device step, {op} output {out} × 1.01: {r:?}");
        assert!(r.is_err(), "{op} output {out}: not caught");
    }
}
