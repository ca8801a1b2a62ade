//! ONNX export: SN-LeNet-5 (or its subnet alone) as a plain `.onnx` file that ONNX Runtime,
//! onnx.js, OpenCV's dnn module and the like run.
//!
//! The file is one ModelProto at opset [`OPSET`] (IR version [`IR_VERSION`]) of the default
//! domain, every node one that ONNX Runtime's CPU provider runs; the weights are inline
//! initializers named as in the checkpoint (`subnet.conv1.weight`, `head.bn.running_mean`, …);
//! the batch dimension is the named dimension `N`. [`Part::Pair`] maps images `a`, `b`
//! (N×C×H×W) to `similarity` and `distance` (N each): the two weight-shared subnets as one
//! batched pass over [a; b], the comparison module, and the output module with its BatchNorm
//! in inference form (running statistics). [`Part::Subnet`] maps `image` (N×C×H×W) to
//! `embedding` (N×E), for search.
//!
//! Inputs are float32 in [0, 1]: x = pixel / 255 (`siamese_data::batch::scale_pixel`), no
//! per-channel standardisation; the file's metadata says so ([`PREPROCESSING`]) rather than
//! the graph doing it, so that resized or converted images (as `siamese compare` reads
//! them) go in as they are.
//!
//! The protobuf bytes come from [`proto`], a writer of the wire format's three field kinds:
//! no protobuf crate fits the library's 40-crate limit (`.ci/check-library-crates`; prost
//! alone brings bytes and its derive's proc-macro tree), and the export needs a dozen
//! message types, written once each.

mod graph;
pub mod proto;

use graph::{value_info, Dim, Graph};
use proto::Message;

use crate::error::{ModelError, Result};
use crate::siamese::SnLenet5;

/// The operator set: 17, run by ONNX Runtime ≥ 1.13 (every node here is also in opset 13).
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
pub const IR_VERSION: i64 = 8;
/// The named batch dimension of every input and output.
pub const BATCH_DIM: &str = "N";
/// The input preprocessing, as the metadata states it.
pub const PREPROCESSING: &str = "float32 NCHW in [0, 1]: x = pixel / 255 (u8 pixels; RGB channel order for 3 channels, ITU-R 601 luma for gray); no mean/std standardisation";

/// Which network the file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Images a, b → similarity, distance (the whole SN-LeNet-5).
    Pair,
    /// Image → embedding (the subnet alone).
    Subnet,
}

impl Part {
    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Part::Pair => "pair",
            Part::Subnet => "subnet",
        }
    }
}

impl std::str::FromStr for Part {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pair" => Ok(Part::Pair),
            "subnet" => Ok(Part::Subnet),
            _ => Err(ModelError::Config(format!(
                "unknown part '{s}' (expected one of: pair, subnet)"
            ))),
        }
    }
}

/// The graph of `part` of `model` (in evaluation form): nodes, initializers, inputs, outputs.
fn graph(model: &SnLenet5, part: Part) -> Message {
    let c = &model.config;
    let n = Dim::Named(BATCH_DIM);
    let image = [
        n,
        Dim::Fixed(c.channels),
        Dim::Fixed(c.height),
        Dim::Fixed(c.width),
    ];
    let mut g = Graph::new(&model.store);
    let (inputs, outputs) = match part {
        Part::Subnet => {
            let e = g.subnet(&model.subnet, "image");
            g.output(&e, "embedding");
            let out = [n, Dim::Fixed(c.embedding)];
            (
                vec![value_info("image", &image)],
                vec![value_info("embedding", &out)],
            )
        }
        Part::Pair => {
            let x = g.stack("a", "b");
            let e = g.subnet(&model.subnet, &x);
            let (ea, eb) = g.split(&e);
            let d = g.comparison(c.distance, &ea, &eb);
            let s = g.head(&model.head, &d);
            g.vector_output(&s, "similarity");
            g.vector_output(&d, "distance");
            let ins = vec![value_info("a", &image), value_info("b", &image)];
            let outs = vec![value_info("similarity", &[n]), value_info("distance", &[n])];
            (ins, outs)
        }
    };
    let mut m = Message::new();
    for node in &g.nodes {
        m.message(1, node);
    }
    m.string(2, &format!("sn-lenet5-{}", part.name()));
    for t in &g.initializers {
        m.message(5, t);
    }
    for i in &inputs {
        m.message(11, i);
    }
    for o in &outputs {
        m.message(12, o);
    }
    m
}

/// `part` of `model` as the bytes of an `.onnx` file, with `metadata` (key, value) as its
/// metadata_props after the ones the model itself gives: `part`, `input_shape` (C×H×W),
/// `preprocessing`, `distance`, `embedding`.
pub fn export(model: &SnLenet5, part: Part, metadata: &[(String, String)]) -> Vec<u8> {
    let c = &model.config;
    let own = [
        ("part", part.name().to_string()),
        (
            "input_shape",
            format!("{}x{}x{}", c.channels, c.height, c.width),
        ),
        ("preprocessing", PREPROCESSING.to_string()),
        ("distance", c.distance.name().to_string()),
        ("embedding", c.embedding.to_string()),
    ];
    let mut m = Message::new();
    m.int(1, IR_VERSION)
        .string(2, "siamese")
        .string(3, env!("CARGO_PKG_VERSION"))
        .string(
            6,
            "SN-LeNet-5 (siamese LeNet-5), exported by siamese export",
        );
    m.message(7, &graph(model, part));
    let mut opset = Message::new();
    opset.string(1, "").int(2, OPSET);
    m.message(8, &opset);
    let all = own.iter().map(|(k, v)| (*k, v.as_str()));
    for (k, v) in all.chain(metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        let mut e = Message::new();
        e.string(1, k).string(2, v);
        m.message(14, &e);
    }
    m.into_bytes()
}

#[cfg(test)]
mod tests;
