//! Fuzz test of checkpoint loading on mutated real bytes (issue 13): a real SN-LeNet-5
//! checkpoint (made here from a freshly built model, as `siamese train` writes it) gets
//! several thousand seeded bit flips, truncations, extensions and header-field edits (the
//! safetensors header's shapes and offsets, and the `model` metadata's sizes), within a fixed
//! time budget. Every case must load into a working model or fail with a one-line error,
//! without a panic and without any single allocation beyond a small multiple of the file's
//! size (a counting global allocator watches). It prints its case count and time. A run's
//! test.json is fuzzed the same way (issue 27).

#[path = "../../data/tests/support/alloc.rs"]
mod alloc;
// The IDX and PNG header editors of the shared fuzzer are not used here.
#[allow(dead_code)]
#[path = "../../data/tests/support/fuzz.rs"]
mod fuzz;

use std::path::Path;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use siamese_data::DatasetKind;
use siamese_model::checkpoint::Checkpoint;
use siamese_model::run::TrainConfig;
use siamese_model::SnLenet5;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

fn real_checkpoint() -> Vec<u8> {
    let cfg = TrainConfig::paper(DatasetKind::Mnist);
    let model = SnLenet5::new(cfg.model.clone(), 5).unwrap();
    Checkpoint::of_run(&cfg, &model.store).to_bytes().unwrap()
}

/// The safetensors header (JSON after an 8-byte little-endian length) and the data after it.
fn split(bytes: &[u8]) -> (Value, &[u8]) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        &bytes[8 + n..],
    )
}

fn join(header: &Value, data: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

fn interesting(rng: &mut ChaCha8Rng, was: u64) -> u64 {
    match rng.gen_range(0..6) {
        0 => 0,
        1 => 1 << 33,
        2 => u64::MAX,
        3 => was + 1,
        4 => was.saturating_sub(1),
        _ => was * rng.gen_range(2..1_000_000),
    }
}

/// Edits one number of the header: a tensor's shape or data offsets, or a size in the
/// `model` metadata (embedding, channels, height, width, pad1).
fn edit_header(rng: &mut ChaCha8Rng, bytes: &[u8]) -> Vec<u8> {
    let (mut header, data) = split(bytes);
    let obj = header.as_object_mut().unwrap();
    if rng.gen_bool(0.4) {
        let meta = obj["__metadata__"].as_object_mut().unwrap();
        let mut model: Value = serde_json::from_str(meta["model"].as_str().unwrap()).unwrap();
        let field = ["embedding", "channels", "height", "width", "pad1"][rng.gen_range(0..5)];
        let was = model[field].as_u64().unwrap();
        model[field] = interesting(rng, was).into();
        meta["model"] = model.to_string().into();
    } else {
        let names: Vec<String> = obj
            .keys()
            .filter(|k| *k != "__metadata__")
            .cloned()
            .collect();
        let t = &mut obj[&names[rng.gen_range(0..names.len())]];
        let key = if rng.gen_bool(0.5) {
            "shape"
        } else {
            "data_offsets"
        };
        let list = t[key].as_array_mut().unwrap();
        if !list.is_empty() {
            let i = rng.gen_range(0..list.len());
            let was = list[i].as_u64().unwrap();
            list[i] = interesting(rng, was).into();
        }
    }
    join(&header, data)
}

#[test]
fn fuzz_checkpoints() {
    let honest = real_checkpoint();
    let bound = 4 * honest.len() + (1 << 20);
    let check = |b: &[u8]| {
        let path = Path::new("fuzz.safetensors");
        let (result, largest) = alloc::largest_allocation(|| {
            let ck = Checkpoint::from_bytes(b, path)?;
            let (mut model, _) = SnLenet5::from_loaded_checkpoint(&ck, path)?;
            // A model that loads must score a pair (finite weights can still be extreme
            // enough to make a similarity NaN: that is the model's answer, not a bad read).
            let x = siamese_tensor::Tensor::full(&[1, 1, 28, 28], 0.5)?;
            model.score(&x, &x, 1)
        });
        fuzz::bounded(largest, bound)?;
        match result {
            Ok(s) if s.len() == 1 => Ok(()),
            Ok(s) => Err(format!("a loaded model scores {s:?}")),
            Err(e) => fuzz::one_line(&e.to_string()),
        }
    };
    let r = fuzz::run(
        "checkpoint",
        &honest,
        29,
        3000,
        Duration::from_secs(5),
        &edit_header,
        &check,
    );
    assert!(r.cases >= 300, "{r:?}");
}

/// Issue 13, causes 1 and 2: a 250 KB checkpoint whose `model` metadata claims an embedding
/// of 10^6 (or 2^33) over the tensors of an embedding of 10 is refused by name before any
/// model is built from the metadata (it cost 700 MB, or aborted, before).
#[test]
fn metadata_that_does_not_match_the_tensors_is_refused_before_building() {
    let honest = real_checkpoint();
    for (embedding, needle) in [
        (1_000_000u64, "at most 4096"),
        (1 << 33, "at most 4096"),
        (
            11,
            "tensor 'subnet.fc3.weight' is [10, 84] but its 'model' metadata needs [11, 84]",
        ),
    ] {
        let (mut header, data) = split(&honest);
        let meta = header["__metadata__"].as_object_mut().unwrap();
        let mut model: Value = serde_json::from_str(meta["model"].as_str().unwrap()).unwrap();
        model["embedding"] = embedding.into();
        meta["model"] = model.to_string().into();
        let bytes = join(&header, data);
        let (r, largest) = alloc::largest_allocation(|| {
            Checkpoint::from_bytes(&bytes, Path::new("m.safetensors"))
                .and_then(|ck| SnLenet5::from_loaded_checkpoint(&ck, Path::new("m.safetensors")))
        });
        let e = r.unwrap_err().to_string();
        assert!(e.contains("m.safetensors") && e.contains(needle), "{e}");
        assert!(
            largest < 2 * honest.len(),
            "{embedding}: allocated {largest} bytes at once"
        );
    }
}

/// A real test.json, as the training loop writes it (a hand-made perfect scorer's
/// evaluation of a tiny run's pairs).
fn real_test_json() -> Vec<u8> {
    let (_, data) = siamese_model::testing::tiny_run(1);
    let mut scorer = siamese_model::testing::BlockReader;
    let e = siamese_model::score::evaluate_with_threshold(&mut scorer, &data, 16).unwrap();
    siamese_model::json::to_pretty(&e).unwrap().into_bytes()
}

/// Sets the threshold (what `compare` and `show` call pairs by) or a count to an edge value.
fn edit_test_json(rng: &mut ChaCha8Rng, bytes: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    let value: Value = match rng.gen_range(0..7) {
        0 => 2.0.into(),
        1 => (-1.0).into(),
        2 => 1e39.into(),
        3 => Value::Null,
        4 => "0.5".into(),
        5 => u64::MAX.into(),
        _ => 1.0.into(),
    };
    let field = ["threshold", "pairs", "timed_pairs"][rng.gen_range(0..3)];
    v[field] = value;
    serde_json::to_vec(&v).unwrap()
}

/// Issue 27: a run's test.json (its threshold calls pairs "same" for `compare` and `show`).
/// Every case must read back with a threshold in [0, 1], or be a one-line error naming the
/// file: never "absent" (the file is there), never a panic, in memory bounded by its size.
#[test]
fn fuzz_test_json() {
    let honest = real_test_json();
    let dir = std::env::temp_dir().join(format!("siamese-fuzz-test-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("test.json");
    let bound = 4 * honest.len() + (1 << 20);
    let check = |b: &[u8]| {
        std::fs::write(&path, b).map_err(|e| e.to_string())?;
        let (result, largest) =
            alloc::largest_allocation(|| siamese_model::score::PairEvaluation::read(&path));
        fuzz::bounded(largest, bound)?;
        match result {
            Ok(Some(e)) if e.threshold.is_finite() && (0.0..=1.0).contains(&e.threshold) => Ok(()),
            Ok(Some(e)) => Err(format!("threshold {} accepted", e.threshold)),
            Ok(None) => Err("a damaged test.json read as absent".into()),
            Err(e) if e.to_string().contains("test.json") => fuzz::one_line(&e.to_string()),
            Err(e) => Err(format!("the error does not name the file: {e}")),
        }
    };
    let r = fuzz::run(
        "test.json",
        &honest,
        31,
        3000,
        Duration::from_secs(4),
        &edit_test_json,
        &check,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(r.cases >= 300, "{r:?}");
}
