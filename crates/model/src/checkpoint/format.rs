//! The safetensors file format, as far as checkpoints use it, read and written here (the
//! `safetensors` crate's current version would bring four more crates into a library user's
//! build). The layout (<https://github.com/huggingface/safetensors>): an 8-byte little-endian
//! header length N, N bytes of JSON, then the tensors' bytes. The JSON maps each tensor name to
//! `{"dtype", "shape", "data_offsets": [begin, end]}` (byte offsets into the data after the
//! header) and may hold `"__metadata__"`, an object of strings.
//!
//! Written: F32 tensors in name order, back to back, little-endian; the header padded with
//! spaces to a multiple of 8 bytes (so that the data is aligned, as the reference writer
//! does). Read: the checks of the reference reader: a header of at most 100 MB inside the
//! file, a JSON object, known dtypes, `shape` × dtype size = the offsets' span (with no
//! overflow), and the tensors back to back from offset 0 covering the data exactly. Nothing is
//! allocated from a size the file declares before that size is checked against the bytes
//! present.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::{Map, Value};

/// The largest header read: 100 MB, the reference reader's limit.
const MAX_HEADER: u64 = 100_000_000;

/// One tensor of the header.
pub(crate) struct Entry {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Its bytes within the data.
    pub range: Range<usize>,
}

/// A parsed file: its metadata, its tensors by name, and the data they point into.
pub(crate) struct SafeTensors<'a> {
    pub metadata: BTreeMap<String, String>,
    pub tensors: BTreeMap<String, Entry>,
    pub data: &'a [u8],
}

/// Bytes per element of each dtype of the format.
fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// Parses and checks `bytes` (see the module docs); the error says what is wrong.
pub(crate) fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, String> {
    let len: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{} bytes, shorter than the header length", bytes.len()))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER {
        return Err(format!(
            "a header of {n} bytes, more than the {MAX_HEADER}-byte limit"
        ));
    }
    let rest = &bytes[8..];
    if n > rest.len() as u64 {
        return Err(format!(
            "a header of {n} bytes in a file of {} bytes",
            bytes.len()
        ));
    }
    let (header, data) = rest.split_at(n as usize);
    let header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| format!("header: {e}"))?;
    let mut metadata = BTreeMap::new();
    let mut tensors = BTreeMap::new();
    for (name, v) in &header {
        if name == "__metadata__" {
            let m = v.as_object().ok_or("__metadata__ is not an object")?;
            for (k, v) in m {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("metadata '{k}' is not a string"))?;
                metadata.insert(k.clone(), s.to_string());
            }
        } else {
            tensors.insert(name.clone(), entry(name, v)?);
        }
    }
    let mut spans: Vec<(&String, &Range<usize>)> =
        tensors.iter().map(|(n, e)| (n, &e.range)).collect();
    spans.sort_by_key(|(_, r)| (r.start, r.end));
    let mut at = 0;
    for (name, r) in spans {
        if r.start != at {
            return Err(format!(
                "tensor '{name}' starts at data byte {}, expected {at} (tensors lie back to back)",
                r.start
            ));
        }
        at = r.end;
    }
    if at != data.len() {
        return Err(format!(
            "the tensors cover {at} bytes but {} bytes of data follow the header",
            data.len()
        ));
    }
    Ok(SafeTensors {
        metadata,
        tensors,
        data,
    })
}

/// One tensor's header entry, checked: known dtype, `shape` filling `data_offsets` exactly.
fn entry(name: &str, v: &Value) -> Result<Entry, String> {
    let bad = |what: String| format!("tensor '{name}': {what}");
    let dtype = v
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no dtype".into()))?;
    let size = dtype_size(dtype).ok_or_else(|| bad(format!("unknown dtype {dtype}")))?;
    let sizes = |key: &str| -> Result<Vec<usize>, String> {
        let list = v
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("no {key} list")))?;
        list.iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|x| usize::try_from(x).ok())
                    .ok_or_else(|| bad(format!("{key} holds {x}, not a size")))
            })
            .collect()
    };
    let shape = sizes("shape")?;
    let [start, end] = sizes("data_offsets")?[..] else {
        return Err(bad("data_offsets is not [begin, end]".into()));
    };
    let span = end.checked_sub(start).ok_or_else(|| {
        bad(format!(
            "data_offsets [{start}, {end}] end before they begin"
        ))
    })?;
    let need = shape.iter().try_fold(size, |acc, &d| acc.checked_mul(d));
    if need != Some(span) {
        return Err(bad(format!(
            "shape {shape:?} of {dtype} does not fill data_offsets [{start}, {end}]"
        )));
    }
    Ok(Entry {
        dtype: dtype.to_string(),
        shape,
        range: start..end,
    })
}

/// The file of F32 `tensors` (name, shape, values; written in name order) and `metadata`.
/// Errors on a name given twice.
pub(crate) fn serialize(
    tensors: &[(&str, &[usize], &[f32])], metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let mut sorted: Vec<&(&str, &[usize], &[f32])> = tensors.iter().collect();
    sorted.sort_by_key(|t| t.0);
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("the tensor name '{}' is given twice", w[0].0));
    }
    let mut header = Map::new();
    let meta = metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    header.insert("__metadata__".into(), Value::Object(meta));
    let mut at = 0;
    for (name, shape, values) in &sorted {
        let end = at + 4 * values.len();
        let e = serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [at, end]});
        header.insert(name.to_string(), e);
        at = end;
    }
    // Strings and integers only: serde_json cannot fail on them.
    let mut h = serde_json::to_vec(&Value::Object(header)).expect("the header serialises");
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + h.len() + at);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, _, values) in &sorted {
        for v in *values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let meta = BTreeMap::from([("format".to_string(), "x/v1".to_string())]);
        let (a, b) = ([1.0f32, -2.5, 3.0, 0.25, 5.0, 6.0], [7.5f32]);
        serialize(&[("b", &[1], &b), ("a", &[2, 3], &a)], &meta).unwrap()
    }

    #[test]
    fn round_trips_and_lays_out_as_the_format_says() {
        let bytes = sample();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0, "the data starts aligned");
        // The header is plain JSON with the format's keys; the data is little-endian f32 in
        // name order ("a" before "b").
        let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(header["a"]["data_offsets"], serde_json::json!([0, 24]));
        assert_eq!(header["b"]["data_offsets"], serde_json::json!([24, 28]));
        assert_eq!(header["a"]["shape"], serde_json::json!([2, 3]));
        assert_eq!(header["__metadata__"]["format"], "x/v1");
        assert_eq!(&bytes[8 + n..8 + n + 4], &1.0f32.to_le_bytes());
        let st = parse(&bytes).unwrap();
        assert_eq!(st.metadata["format"], "x/v1");
        let b = &st.tensors["b"];
        assert_eq!((b.dtype.as_str(), &b.shape[..]), ("F32", &[1usize][..]));
        assert_eq!(&st.data[b.range.clone()], &7.5f32.to_le_bytes());
        let twice = serialize(
            &[("a", &[1], &[1.0]), ("a", &[1], &[2.0])],
            &BTreeMap::new(),
        );
        assert!(twice.unwrap_err().contains("twice"));
    }

    #[test]
    fn refuses_what_the_reference_reader_refuses() {
        let good = sample();
        let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        let with_header = |h: &str, data: &[u8]| {
            let mut out = (h.len() as u64).to_le_bytes().to_vec();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out
        };
        let f32s = [0u8; 8];
        let cases: [(Vec<u8>, &str); 9] = [
            (good[..5].to_vec(), "shorter than the header length"),
            (
                good[..good.len() - 1].to_vec(),
                "the tensors cover 28 bytes",
            ),
            ([&good[..], &[0]].concat(), "the tensors cover 28 bytes"),
            (
                (u64::MAX).to_le_bytes().to_vec(),
                "more than the 100000000-byte limit",
            ),
            (good[..8 + n - 1].to_vec(), "in a file of"),
            (with_header("[1, 2]", &[]), "header:"),
            (
                with_header(
                    r#"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                    &f32s,
                ),
                "does not fill",
            ),
            (
                with_header(
                    r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                    &f32s,
                ),
                "starts at data byte 4",
            ),
            (
                with_header(
                    r#"{"t":{"dtype":"Q9","shape":[1],"data_offsets":[0,8]}}"#,
                    &f32s,
                ),
                "unknown dtype Q9",
            ),
        ];
        for (bytes, needle) in cases {
            let e = parse(&bytes)
                .err()
                .unwrap_or_else(|| panic!("accepted ({needle})"));
            assert!(e.contains(needle), "{e} (expected '{needle}')");
        }
        // A shape whose product overflows is a mismatch, not a panic or an allocation.
        let huge =
            r#"{"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#;
        let e = parse(&with_header(huge, &f32s)).err().unwrap();
        assert!(e.contains("does not fill"), "{e}");
    }
}
