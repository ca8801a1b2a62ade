//! SN-LeNet-5 as an ONNX graph: each op of the forward pass ([`crate::lenet`],
//! [`crate::siamese`]) as the ONNX node(s) computing the same equation (docs/equations.md,
//! its ONNX column), parameters as initializers under their checkpoint names.

use std::collections::BTreeSet;

use siamese_autodiff::{BufferId, ParamId, ParamStore};
use siamese_nn::head::OutputModule;
use siamese_nn::layers::{Conv2d, Linear};

use super::proto::Message;
use crate::config::{Activation, Distance, EmbeddingActivation, Pooling};
use crate::lenet::Subnet;
use crate::siamese::DISTANCE_EPS;

/// TensorProto.DataType FLOAT.
pub const FLOAT: i64 = 1;
/// TensorProto.DataType INT64.
const INT64: i64 = 7;
/// AttributeProto.AttributeType FLOAT, INT, INTS.
const ATTR_FLOAT: i64 = 1;
const ATTR_INT: i64 = 2;
const ATTR_INTS: i64 = 7;

/// One dimension of a graph input or output: fixed, or named (dynamic).
#[derive(Clone, Copy, Debug)]
pub enum Dim<'a> {
    Fixed(usize),
    Named(&'a str),
}

/// An int attribute.
fn attr_int(name: &str, v: i64) -> Message {
    let mut a = Message::new();
    a.string(1, name).int(3, v).int(20, ATTR_INT);
    a
}

/// An ints attribute.
fn attr_ints(name: &str, vs: &[i64]) -> Message {
    let mut a = Message::new();
    a.string(1, name).ints(8, vs).int(20, ATTR_INTS);
    a
}

/// A float attribute.
fn attr_float(name: &str, v: f32) -> Message {
    let mut a = Message::new();
    a.string(1, name).float(2, v).int(20, ATTR_FLOAT);
    a
}

/// A TensorProto with its data inline (raw_data, little-endian).
pub fn tensor(name: &str, data_type: i64, dims: &[usize], raw: &[u8]) -> Message {
    let mut t = Message::new();
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    t.ints(1, &dims)
        .int(2, data_type)
        .string(8, name)
        .bytes(9, raw);
    t
}

/// A ValueInfoProto: a float tensor of these dimensions.
pub fn value_info(name: &str, dims: &[Dim]) -> Message {
    let mut shape = Message::new();
    for d in dims {
        let mut dim = Message::new();
        match *d {
            Dim::Fixed(v) => dim.int(1, v as i64),
            Dim::Named(p) => dim.string(2, p),
        };
        shape.message(1, &dim);
    }
    let mut tt = Message::new();
    tt.int(1, FLOAT).message(2, &shape);
    let mut ty = Message::new();
    ty.message(1, &tt);
    let mut vi = Message::new();
    vi.string(1, name).message(2, &ty);
    vi
}

/// The nodes and initializers of a graph under construction.
pub struct Graph<'a> {
    store: &'a ParamStore,
    pub nodes: Vec<Message>,
    pub initializers: Vec<Message>,
    named: BTreeSet<String>,
}

impl<'a> Graph<'a> {
    pub fn new(store: &'a ParamStore) -> Self {
        Self {
            store,
            nodes: Vec::new(),
            initializers: Vec::new(),
            named: BTreeSet::new(),
        }
    }

    /// Appends node `name` of type `op`.
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[Message]) {
        let mut n = Message::new();
        for i in inputs {
            n.string(1, i);
        }
        for o in outputs {
            n.string(2, o);
        }
        n.string(3, name).string(4, op);
        for a in attrs {
            n.message(5, a);
        }
        self.nodes.push(n);
    }

    /// A one-input, one-output node whose output is `{name}` itself.
    fn unary(&mut self, op: &str, name: &str, x: &str, attrs: &[Message]) -> String {
        self.node(op, name, &[x], &[name], attrs);
        name.to_string()
    }

    /// A float initializer `name` (added once).
    fn init_f32(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        if self.named.insert(name.to_string()) {
            let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.initializers.push(tensor(name, FLOAT, dims, &raw));
        }
        name.to_string()
    }

    /// An int64 initializer `name` (added once).
    fn init_i64(&mut self, name: &str, data: &[i64]) -> String {
        if self.named.insert(name.to_string()) {
            let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.initializers
                .push(tensor(name, INT64, &[data.len()], &raw));
        }
        name.to_string()
    }

    /// The parameter as an initializer under its checkpoint name.
    fn param(&mut self, id: ParamId) -> String {
        let (name, t) = (self.store.name(id), self.store.value(id));
        self.init_f32(name, t.shape(), t.data())
    }

    /// The buffer (running statistic) as an initializer under its checkpoint name.
    fn buffer(&mut self, id: BufferId) -> String {
        let store = self.store;
        let name = store
            .buffers()
            .map(|(n, _)| n)
            .find(|n| store.buffer_id(n) == Some(id))
            .expect("a buffer id of this store has a name");
        let t = store.buffer(id);
        self.init_f32(name, t.shape(), t.data())
    }

    /// The subnet on images `x` (N×C×H×W): conv → act → pool twice, Flatten, then the dense
    /// layers ([`Subnet::forward`]); returns the N×E embedding's name.
    pub fn subnet(&mut self, s: &Subnet, x: &str) -> String {
        let h = self.block(s, &s.conv1, "subnet.conv1", x);
        let h = self.block(s, &s.conv2, "subnet.conv2", &h);
        let h = self.unary("Flatten", "subnet.flatten", &h, &[attr_int("axis", 1)]);
        let h = self.dense(&s.fc1, "subnet.fc1", &h);
        let h = self.act(s.activation, "subnet.fc1", &h);
        let h = self.dense(&s.fc2, "subnet.fc2", &h);
        let h = self.act(s.activation, "subnet.fc2", &h);
        let e = self.dense(&s.fc3, "subnet.fc3", &h);
        match s.output_activation {
            EmbeddingActivation::Tanh => self.unary("Tanh", "subnet.fc3.tanh", &e, &[]),
            EmbeddingActivation::Linear => e,
        }
    }

    fn act(&mut self, a: Activation, layer: &str, x: &str) -> String {
        match a {
            Activation::Relu => self.unary("Relu", &format!("{layer}.relu"), x, &[]),
            Activation::Tanh => self.unary("Tanh", &format!("{layer}.tanh"), x, &[]),
        }
    }

    /// Conv (y = b + Σ w·x, zero padding p on every side) → act → 2×2/2 pool (floor).
    fn block(&mut self, s: &Subnet, conv: &Conv2d, layer: &str, x: &str) -> String {
        let (w, b) = (self.param(conv.weight), self.param(conv.bias));
        let (k, st, p) = (
            conv.spec.kernel as i64,
            conv.spec.stride as i64,
            conv.spec.pad as i64,
        );
        let attrs = [
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[st, st]),
            attr_ints("pads", &[p, p, p, p]),
        ];
        self.node("Conv", layer, &[x, &w, &b], &[layer], &attrs);
        let h = self.act(s.activation, layer, layer);
        let op = match s.pooling {
            Pooling::Max => "MaxPool",
            Pooling::Avg => "AveragePool",
        };
        let pool = [
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
        ];
        self.unary(op, &format!("{layer}.pool"), &h, &pool)
    }

    /// y = x·Wᵀ + b: Gemm with transB (W is [out, in], PyTorch's layout).
    fn dense(&mut self, l: &Linear, layer: &str, x: &str) -> String {
        let (w, b) = (self.param(l.weight), self.param(l.bias));
        self.node(
            "Gemm",
            layer,
            &[x, &w, &b],
            &[layer],
            &[attr_int("transB", 1)],
        );
        layer.to_string()
    }

    /// Σ over the embedding axis, kept as N×1.
    fn row_sum(&mut self, name: &str, x: &str) -> String {
        let axes = self.init_i64("const.axis_1", &[1]);
        self.node(
            "ReduceSum",
            name,
            &[x, &axes],
            &[name],
            &[attr_int("keepdims", 1)],
        );
        name.to_string()
    }

    fn binary(&mut self, op: &str, name: &str, a: &str, b: &str) -> String {
        self.node(op, name, &[a, b], &[name], &[]);
        name.to_string()
    }

    /// √max(v, ε) with ε the comparison module's guard.
    fn guarded_sqrt(&mut self, name: &str, v: &str) -> String {
        let eps = self.init_f32("const.distance_eps", &[], &[DISTANCE_EPS]);
        let m = self.binary("Max", &format!("{name}.guard"), v, &eps);
        self.unary("Sqrt", name, &m, &[])
    }

    /// The comparison module on embeddings a, b (N×E): N×1 distances
    /// d = √max(Σ(a − b)², ε), or cosine similarities ⟨a,b⟩/√max(‖a‖²‖b‖², ε).
    pub fn comparison(&mut self, distance: Distance, a: &str, b: &str) -> String {
        match distance {
            Distance::Euclidean => {
                let diff = self.binary("Sub", "comparison.diff", a, b);
                let sq = self.binary("Mul", "comparison.sq", &diff, &diff);
                let ss = self.row_sum("comparison.sum_sq", &sq);
                self.guarded_sqrt("comparison.distance", &ss)
            }
            Distance::Cosine => {
                let ab = self.binary("Mul", "comparison.ab", a, b);
                let aa = self.binary("Mul", "comparison.aa", a, a);
                let bb = self.binary("Mul", "comparison.bb", b, b);
                let ab = self.row_sum("comparison.dot", &ab);
                let aa = self.row_sum("comparison.norm_a", &aa);
                let bb = self.row_sum("comparison.norm_b", &bb);
                let den = self.binary("Mul", "comparison.norms", &aa, &bb);
                let den = self.guarded_sqrt("comparison.den", &den);
                self.binary("Div", "comparison.distance", &ab, &den)
            }
        }
    }

    /// The output module on N×1 distances: BatchNormalization with the running statistics
    /// (inference form) when used, Gemm 1→1, Sigmoid; returns the N×1 similarity.
    pub fn head(&mut self, h: &OutputModule, d: &str) -> String {
        let mut x = d.to_string();
        if h.use_bn {
            let (g, b) = (self.param(h.bn.gamma), self.param(h.bn.beta));
            let (m, v) = (
                self.buffer(h.bn.running_mean),
                self.buffer(h.bn.running_var),
            );
            let eps = [attr_float("epsilon", h.bn.eps)];
            self.node(
                "BatchNormalization",
                "head.bn",
                &[&x, &g, &b, &m, &v],
                &["head.bn"],
                &eps,
            );
            x = "head.bn".into();
        }
        let z = self.dense(&h.fc, "head.fc", &x);
        self.unary("Sigmoid", "head.sigmoid", &z, &[])
    }

    /// N×1 → N (`Reshape` to [−1]) under the graph output name `out`.
    pub fn vector_output(&mut self, x: &str, out: &str) -> String {
        let shape = self.init_i64("const.shape_n", &[-1]);
        self.node("Reshape", out, &[x, &shape], &[out], &[]);
        out.to_string()
    }

    /// `x` under the graph output name `out` (`Identity`).
    pub fn output(&mut self, x: &str, out: &str) {
        self.node("Identity", out, &[x], &[out], &[]);
    }

    /// Images a and b (N each) as one 2N batch (`Concat`), as [`crate::SnLenet5::forward`]
    /// runs the two weight-shared subnets.
    pub fn stack(&mut self, a: &str, b: &str) -> String {
        self.node(
            "Concat",
            "pair.stack",
            &[a, b],
            &["pair.stack"],
            &[attr_int("axis", 0)],
        );
        "pair.stack".into()
    }

    /// The 2N embeddings split back into the N of a and the N of b (`Split` in two halves).
    pub fn split(&mut self, e: &str) -> (String, String) {
        let outs = ["embedding_a", "embedding_b"];
        self.node("Split", "pair.split", &[e], &outs, &[attr_int("axis", 0)]);
        (outs[0].into(), outs[1].into())
    }
}
