//! A seeded mutation fuzzer for the readers' tests (included with `#[path]` by the fuzz test
//! binaries of siamese-data and siamese-model): from the honest bytes of a real file it makes
//! bit flips, truncations, extensions and header-field edits, runs a check on each (inside
//! `catch_unwind`, so a panic is a failure naming the case), and stops after a case budget or
//! a time budget, whichever comes first. It prints what it ran (cases per kind, seconds).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Edits a header field of the honest bytes (format-specific), returning the new file.
pub type HeaderEdit<'a> = &'a dyn Fn(&mut ChaCha8Rng, &[u8]) -> Vec<u8>;
/// Checks one input: Ok, or what property it broke.
pub type Check<'a> = &'a dyn Fn(&[u8]) -> Result<(), String>;

/// What one fuzz run did.
#[derive(Debug)]
pub struct Report {
    pub cases: usize,
    /// Cases per kind: bit flips, truncations, extensions, header edits.
    pub per_kind: [usize; 4],
    pub seconds: f64,
}

const KINDS: [&str; 4] = ["bit flips", "truncation", "extension", "header edit"];

/// Values a header field is set to: the edges of u32 and of small sizes.
pub fn interesting_u32(rng: &mut ChaCha8Rng, was: u32) -> u32 {
    match rng.gen_range(0..8) {
        0 => 0,
        1 => 1,
        2 => u32::MAX,
        3 => 1 << 31,
        4 => was.wrapping_add(1),
        5 => was.wrapping_sub(1),
        6 => was.wrapping_mul(rng.gen_range(2..1000)),
        _ => rng.gen(),
    }
}

/// Overwrites the big-endian u32 at one of `offsets` with an interesting value.
pub fn edit_be_u32(rng: &mut ChaCha8Rng, bytes: &[u8], offsets: &[usize]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let o = offsets[rng.gen_range(0..offsets.len())];
    if o + 4 <= out.len() {
        let was = u32::from_be_bytes([out[o], out[o + 1], out[o + 2], out[o + 3]]);
        out[o..o + 4].copy_from_slice(&interesting_u32(rng, was).to_be_bytes());
    }
    out
}

/// One mutation of `honest` of a random kind; returns the kind's index and the bytes.
fn mutate(rng: &mut ChaCha8Rng, honest: &[u8], header_edit: HeaderEdit) -> (usize, Vec<u8>) {
    let kind = rng.gen_range(0..4);
    let mut b = honest.to_vec();
    match kind {
        0 => {
            for _ in 0..rng.gen_range(1..=8) {
                let i = rng.gen_range(0..b.len().max(1));
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.gen_range(0..8);
                }
            }
        }
        1 => b.truncate(rng.gen_range(0..b.len().max(1))),
        2 => {
            if rng.gen_bool(0.5) {
                let n = rng.gen_range(1..=4096);
                b.extend((0..n).map(|_| rng.gen::<u8>()));
            } else {
                // A copy of a piece of the file itself (a repeated record, a doubled tail).
                let start = rng.gen_range(0..b.len().max(1));
                let piece = b[start.min(b.len())..].to_vec();
                b.extend_from_slice(&piece[..piece.len().min(1 << 16)]);
            }
        }
        _ => b = header_edit(rng, honest),
    }
    (kind, b)
}

/// Runs up to `cases` mutations of `honest` (or until `budget` has passed), checking each.
/// Panics with the case's seed, number and kind on the first failure or panic.
pub fn run(
    name: &str, honest: &[u8], seed: u64, cases: usize, budget: Duration, header_edit: HeaderEdit,
    check: Check,
) -> Report {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut report = Report {
        cases: 0,
        per_kind: [0; 4],
        seconds: 0.0,
    };
    while report.cases < cases && started.elapsed() < budget {
        let (kind, bytes) = mutate(&mut rng, honest, header_edit);
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&bytes)));
        let what = format!(
            "fuzz {name}: seed {seed}, case {}, {} ({} bytes)",
            report.cases,
            KINDS[kind],
            bytes.len()
        );
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{what}: {e}"),
            Err(_) => panic!("{what}: the reader panicked"),
        }
        report.cases += 1;
        report.per_kind[kind] += 1;
    }
    report.seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {name}: {} cases in {:.2} s ({} bit flips, {} truncations, {} extensions, {} header edits), seed {seed}",
        report.cases,
        report.seconds,
        report.per_kind[0],
        report.per_kind[1],
        report.per_kind[2],
        report.per_kind[3]
    );
    report
}

/// An error message must be one non-empty line.
pub fn one_line(msg: &str) -> Result<(), String> {
    if msg.is_empty() || msg.contains('\n') {
        Err(format!("error is not one line: {msg:?}"))
    } else {
        Ok(())
    }
}

/// Fails unless `largest` <= `limit`.
pub fn bounded(largest: usize, limit: usize) -> Result<(), String> {
    if largest > limit {
        Err(format!(
            "allocated {largest} bytes at once, more than the bound {limit}"
        ))
    } else {
        Ok(())
    }
}
