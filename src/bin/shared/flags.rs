//! The one check of the flags' values, for both programs (`siamese`, `siamese-bench`; included
//! by both with `#[path]`): every flag that takes a count, a size, a thread count or a
//! threshold names one of these parsers (`value_parser = flags::count::<MAX>`), so that a value
//! out of range is refused by clap while parsing (one `error:` line, exit code 2), before any
//! file or dataset is read. The limits are the library's constants (docs/reliability.md lists
//! each flag's), and the words are the library's ([`check_range`], [`check_threshold`]).

// Each program uses the parsers its own flags need.
#![allow(dead_code)]

use siamese::model::config::{check_range, check_threshold, max_threads};

fn whole(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .map_err(|_| format!("must be a whole number, got '{s}'"))
}

/// A value from `LO` to `HI`.
pub fn between<const LO: usize, const HI: usize>(s: &str) -> Result<usize, String> {
    let v = whole(s)?;
    check_range(v, LO, HI)?;
    Ok(v)
}

/// A count: 1 to `MAX` (zero would report a result from nothing).
pub fn count<const MAX: usize>(s: &str) -> Result<usize, String> {
    between::<1, MAX>(s)
}

/// A worker-thread count, as `train --threads`: 1 to [`max_threads`] (4 per core, at most 1024).
/// `--input CxHxW` ([`siamese::data::parse_input`]).
pub fn input_shape(s: &str) -> Result<(usize, usize, usize), String> {
    siamese::data::parse_input(s).map_err(|e| e.to_string())
}

pub fn threads(s: &str) -> Result<usize, String> {
    let v = whole(s)?;
    check_range(v, 1, max_threads())?;
    Ok(v)
}

/// A similarity threshold: finite, from 0 to 1.
pub fn threshold(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("must be a number from 0 to 1, got '{s}'"))?;
    check_threshold(v)?;
    Ok(v)
}

/// A positive finite number of at most `max` (parsed by [`positive_up_to`]'s callers' closures).
pub fn positive_up_to(s: &str, max: f32) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("must be a number, got '{s}'"))?;
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(v)
    } else {
        Err(format!(
            "must be positive, finite and at most {max}, got {v}"
        ))
    }
}
