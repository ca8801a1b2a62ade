//! JSON for people and tools (metrics.jsonl, test.json, `--json` outputs) without float
//! noise: a value that is exactly an f32 (a loss or a threshold widened to f64) is written in
//! its shortest f32 form (0.18703812, not 0.18703811967372894), and any other float is
//! rounded to 12 significant digits (0.1103, not the arithmetic residue 0.11030000000009595).
//! Checkpoints do not use this: their metadata must round-trip bit for bit.

use serde::Serialize;
use serde_json::{Number, Value};

/// The float as written: see the module documentation.
pub fn clean_f64(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let as_f32 = v as f32;
    let text = if f64::from(as_f32) == v {
        as_f32.to_string()
    } else {
        format!("{v:.11e}")
    };
    text.parse().unwrap_or(v)
}

/// Cleans every float inside `v` (see the module documentation).
pub fn clean(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(c) = n.as_f64().map(clean_f64).and_then(Number::from_f64) {
                *n = c;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean),
        Value::Object(map) => map.values_mut().for_each(clean),
        _ => {}
    }
}

/// `value` as one line of clean JSON.
pub fn to_line<T: Serialize>(value: &T) -> serde_json::Result<String> {
    let mut v = serde_json::to_value(value)?;
    clean(&mut v);
    serde_json::to_string(&v)
}

/// `value` as indented clean JSON.
pub fn to_pretty<T: Serialize>(value: &T) -> serde_json::Result<String> {
    let mut v = serde_json::to_value(value)?;
    clean(&mut v);
    serde_json::to_string_pretty(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widened_f32_and_arithmetic_residue_are_cleaned() {
        assert_eq!(clean_f64(f64::from(0.001f32)), 0.001);
        assert_eq!(
            clean_f64(f64::from(0.187_038_12_f32)).to_string(),
            "0.18703812"
        );
        assert_eq!(clean_f64(0.110_300_000_000_095_95), 0.1103);
        // Values that are neither keep their digits (up to 12 significant ones).
        assert_eq!(clean_f64(0.954_133_855), 0.954_133_855);
        assert_eq!(clean_f64(5.280_830_213), 5.280_830_213);
        #[derive(Serialize)]
        struct S {
            lr: f32,
            eer: f64,
            n: usize,
        }
        let s = S {
            lr: 0.001,
            eer: 0.110_300_000_000_095_95,
            n: 3,
        };
        assert_eq!(to_line(&s).unwrap(), r#"{"eer":0.1103,"lr":0.001,"n":3}"#);
        assert!(to_pretty(&s).unwrap().contains("\"lr\": 0.001"));
    }
}
