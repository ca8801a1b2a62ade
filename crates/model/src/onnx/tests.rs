//! The export's bytes: hand-computed pieces, and the graph read back by a small decoder of
//! the wire format (fields of a message, by number).

use super::graph::{tensor, value_info, Dim, FLOAT};
use super::*;
use crate::config::{Activation, Distance, Head, ModelConfig, Pooling};

/// (field number, wire type, value) of a message's fields: varints as u64, length-delimited
/// values as their bytes, fixed32 as four bytes.
fn fields(mut b: &[u8]) -> Vec<(u32, u8, Vec<u8>, u64)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return v;
            }
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
        match wire {
            0 => out.push((field, wire, Vec::new(), varint(&mut b))),
            2 => {
                let len = varint(&mut b) as usize;
                out.push((field, wire, b[..len].to_vec(), 0));
                b = &b[len..];
            }
            5 => {
                out.push((field, wire, b[..4].to_vec(), 0));
                b = &b[4..];
            }
            w => panic!("wire type {w} is never written"),
        }
    }
    out
}

/// The values of field `f` (bytes of length-delimited ones).
fn get(m: &[u8], f: u32) -> Vec<Vec<u8>> {
    fields(m)
        .into_iter()
        .filter(|x| x.0 == f)
        .map(|x| x.2)
        .collect()
}

fn string(m: &[u8], f: u32) -> String {
    String::from_utf8(get(m, f)[0].clone()).unwrap()
}

/// A float tensor [2] holding 1.0, 2.0 named "w", by hand: dims (08 02), data_type FLOAT
/// (10 01), name (42 01 'w'), raw_data (4a 08 and the eight little-endian bytes).
#[test]
fn a_tensor_by_hand() {
    let raw: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let t = tensor("w", FLOAT, &[2], &raw);
    let mut want = vec![0x08, 0x02, 0x10, 0x01, 0x42, 0x01, b'w', 0x4a, 0x08];
    want.extend([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
    assert_eq!(t.as_bytes(), want.as_slice());
}

/// Input "x" of shape [N, 3]: ValueInfoProto{name, type{tensor_type{elem_type 1,
/// shape{dim{dim_param "N"}, dim{dim_value 3}}}}}, by hand.
#[test]
fn a_value_info_with_a_named_batch_dimension_by_hand() {
    let vi = value_info("x", &[Dim::Named("N"), Dim::Fixed(3)]);
    let dims = [0x0a, 0x03, 0x12, 0x01, b'N', 0x0a, 0x02, 0x08, 0x03];
    let mut shape = vec![0x12, dims.len() as u8];
    shape.extend(dims);
    let mut tt = vec![0x08, 0x01];
    tt.extend(&shape);
    let mut ty = vec![0x0a, tt.len() as u8];
    ty.extend(&tt);
    let mut want = vec![0x0a, 0x01, b'x', 0x12, ty.len() as u8];
    want.extend(&ty);
    assert_eq!(vi.as_bytes(), want.as_slice());
}

fn op_types(model: &[u8]) -> Vec<String> {
    let g = &get(model, 7)[0];
    get(g, 1).iter().map(|n| string(n, 4)).collect()
}

fn mnist() -> SnLenet5 {
    SnLenet5::new(ModelConfig::for_input(1, 28, 28), 3).unwrap()
}

/// The pair model of the default SN-LeNet-5: the ops of the forward pass in order, the
/// opset and IR version, every parameter and buffer as an initializer holding its exact
/// bytes under its checkpoint name, inputs a, b and outputs similarity, distance, and the
/// metadata (the model's own, then the caller's).
#[test]
fn the_pair_model_holds_the_forward_pass_and_every_weight() {
    let m = mnist();
    let meta = [("dataset".to_string(), "mnist".to_string())];
    let bytes = export(&m, Part::Pair, &meta);
    let block = ["Conv", "Relu", "MaxPool"];
    let mut want: Vec<&str> = vec!["Concat"];
    want.extend(block);
    want.extend(block);
    want.extend([
        "Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Tanh", "Split",
    ]);
    want.extend(["Sub", "Mul", "ReduceSum", "Max", "Sqrt"]);
    want.extend([
        "BatchNormalization",
        "Gemm",
        "Sigmoid",
        "Reshape",
        "Reshape",
    ]);
    assert_eq!(op_types(&bytes), want);
    assert_eq!(fields(&bytes)[0].3, IR_VERSION as u64);
    let opset = &get(&bytes, 8)[0];
    assert_eq!(fields(opset)[1].3, OPSET as u64);
    let g = &get(&bytes, 7)[0];
    let inits: Vec<(String, Vec<u8>)> = get(g, 5)
        .iter()
        .map(|t| (string(t, 8), get(t, 9)[0].clone()))
        .collect();
    for (name, t) in m.store.named_tensors() {
        let raw: Vec<u8> = t.data().iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(
            inits.contains(&(name.to_string(), raw)),
            "{name} missing or changed"
        );
    }
    let names = |f| get(g, f).iter().map(|v| string(v, 1)).collect::<Vec<_>>();
    assert_eq!(names(11), ["a", "b"]);
    assert_eq!(names(12), ["similarity", "distance"]);
    let props: Vec<(String, String)> = get(&bytes, 14)
        .iter()
        .map(|e| (string(e, 1), string(e, 2)))
        .collect();
    assert_eq!(props[0], ("part".into(), "pair".into()));
    assert_eq!(props[1], ("input_shape".into(), "1x28x28".into()));
    assert_eq!(props.last().unwrap(), &meta[0]);
}

/// The subnet alone has no head weights; the variants (tanh, average pooling, cosine, no
/// BatchNorm) change exactly their nodes.
#[test]
fn the_subnet_and_the_variants_change_their_nodes() {
    let m = mnist();
    let sub = export(&m, Part::Subnet, &[]);
    let ops = op_types(&sub);
    assert_eq!(ops.first().unwrap(), "Conv");
    assert_eq!(ops.last().unwrap(), "Identity");
    assert!(!ops.contains(&"Sigmoid".to_string()));
    let g = &get(&sub, 7)[0];
    assert!(get(g, 5)
        .iter()
        .all(|t| string(t, 8).starts_with("subnet.")));
    let mut c = ModelConfig::for_input(3, 32, 32);
    c.activation = Activation::Tanh;
    c.pooling = Pooling::Avg;
    c.distance = Distance::Cosine;
    c.head = Head::Plain;
    let v = SnLenet5::new(c, 1).unwrap();
    let ops = op_types(&export(&v, Part::Pair, &[]));
    assert!(ops.contains(&"AveragePool".to_string()) && !ops.contains(&"MaxPool".to_string()));
    assert!(!ops.contains(&"Relu".to_string()) && ops.contains(&"Div".to_string()));
    assert!(!ops.contains(&"BatchNormalization".to_string()));
}

/// A `--width 2` network exports with its wider layers: every initializer holds its
/// parameter's shape (dims, field 1) and bytes; the ops are those of width 1.
#[test]
fn a_width_2_network_exports_its_wider_shapes() {
    let mut c = ModelConfig::for_input(3, 32, 32);
    c.widen = 2;
    let m = SnLenet5::new(c, 4).unwrap();
    let bytes = export(&m, Part::Pair, &[]);
    let narrow = SnLenet5::new(ModelConfig::for_input(3, 32, 32), 4).unwrap();
    assert_eq!(
        op_types(&bytes),
        op_types(&export(&narrow, Part::Pair, &[]))
    );
    let g = &get(&bytes, 7)[0];
    let dims = |t: &[u8]| -> Vec<usize> {
        fields(t)
            .iter()
            .filter(|f| f.0 == 1)
            .map(|f| f.3 as usize)
            .collect()
    };
    let inits: Vec<(String, Vec<usize>, Vec<u8>)> = get(g, 5)
        .iter()
        .map(|t| (string(t, 8), dims(t), get(t, 9)[0].clone()))
        .collect();
    let shape_of = |n: &str| inits.iter().find(|i| i.0 == n).unwrap().1.clone();
    assert_eq!(shape_of("subnet.conv1.weight"), [12, 3, 5, 5]);
    assert_eq!(shape_of("subnet.conv2.weight"), [32, 12, 5, 5]);
    assert_eq!(shape_of("subnet.fc1.weight"), [240, 800]);
    assert_eq!(shape_of("subnet.fc2.weight"), [168, 240]);
    assert_eq!(shape_of("subnet.fc3.weight"), [10, 168]);
    for (name, t) in m.store.named_tensors() {
        let raw: Vec<u8> = t.data().iter().flat_map(|v| v.to_le_bytes()).collect();
        let want = (name.to_string(), t.shape().to_vec(), raw);
        assert!(inits.contains(&want), "{name} missing or changed");
    }
}
