//! The inference tape: every op's value bit-identical to the training tape's, and no
//! backward pass.

mod common;

use common::{rand_tensor, store_of};
use siamese_autodiff::{AutodiffError, Result, Tape, Var};
use siamese_tensor::Tensor;

/// Runs `f` (which records ops on the parameters and returns the variables to compare) on a
/// training tape and on an inference tape, and asserts every returned value is the same to
/// the bit. Returns the number of elements compared.
fn same_values<F>(tensors: &[(&str, Tensor)], f: F) -> usize
where
    F: Fn(&mut Tape, &[Var]) -> Result<Vec<Var>>,
{
    let (store, ids) = store_of(tensors);
    let run = |mut t: Tape| {
        let params: Vec<Var> = ids.iter().map(|&id| t.param(&store, id).unwrap()).collect();
        let outs = f(&mut t, &params).unwrap();
        let values: Vec<(Vec<usize>, Vec<u32>)> = outs
            .iter()
            .map(|&v| {
                let x = t.value(v).unwrap();
                (
                    x.shape().to_vec(),
                    x.data().iter().map(|e| e.to_bits()).collect(),
                )
            })
            .collect();
        (t.len(), values)
    };
    let (train_len, train) = run(Tape::new());
    let (infer_len, infer) = run(Tape::inference());
    assert_eq!(train_len, infer_len, "both tapes record the same ops");
    let mut compared = 0;
    for (i, (a, b)) in train.iter().zip(&infer).enumerate() {
        assert_eq!(a.0, b.0, "output {i}: shape");
        assert_eq!(a.1, b.1, "output {i}: values differ");
        assert!(
            a.1.iter().any(|&bits| f32::from_bits(bits) != 0.0),
            "output {i} is all zeros: nothing was compared"
        );
        compared += a.1.len();
    }
    compared
}

#[test]
fn conv_and_pooling_values_match() {
    let n = same_values(
        &[
            ("x", rand_tensor(&[2, 2, 8, 8], 1, -1.0, 1.0)),
            ("w", rand_tensor(&[3, 2, 3, 3], 2, -1.0, 1.0)),
            ("b", rand_tensor(&[3], 3, -1.0, 1.0)),
        ],
        |t, v| {
            let block = t.conv2d_relu_max_pool2d(v[0], v[1], Some(v[2]), 1)?;
            let conv = t.conv2d(v[0], v[1], Some(v[2]), 2, 1)?;
            let max = t.max_pool2d(conv, 2, 2)?;
            let avg = t.avg_pool2d(conv, 2, 1)?;
            Ok(vec![block, conv, max, avg])
        },
    );
    assert_eq!(
        n,
        2 * 3 * 4 * 4 + 2 * 3 * 4 * 4 + 2 * 3 * 2 * 2 + 2 * 3 * 3 * 3
    );
}

#[test]
fn linear_and_matmul_values_match() {
    same_values(
        &[
            ("x", rand_tensor(&[4, 6], 11, -1.0, 1.0)),
            ("w", rand_tensor(&[5, 6], 12, -1.0, 1.0)),
            ("b", rand_tensor(&[5], 13, -1.0, 1.0)),
        ],
        |t, v| {
            let with_bias = t.linear(v[0], v[1], Some(v[2]))?;
            let without = t.linear(v[0], v[1], None)?;
            let product = t.matmul(v[1], v[0], false, true)?;
            let biased = t.add_bias(without, v[2])?;
            Ok(vec![with_bias, without, product, biased])
        },
    );
}

#[test]
fn batch_norm_values_match_in_eval_and_training_mode() {
    let (rm, rv) = ([0.1, -0.2, 0.3], [0.5, 1.5, 2.0]);
    let tensors = [
        ("x", rand_tensor(&[6, 3], 21, -2.0, 2.0)),
        ("g", rand_tensor(&[3], 22, 0.5, 1.5)),
        ("b", rand_tensor(&[3], 23, -1.0, 1.0)),
    ];
    same_values(&tensors, |t, v| {
        Ok(vec![
            t.batch_norm(v[0], v[1], v[2], 1e-3, Some((&rm, &rv)))?.0,
        ])
    });
    same_values(&tensors, |t, v| {
        Ok(vec![t.batch_norm(v[0], v[1], v[2], 1e-3, None)?.0])
    });
    // The batch statistics a training-mode batch norm returns are the same too.
    let stats = |mut t: Tape| {
        let x = t.input(tensors[0].1.clone());
        let (g, b) = (t.input(tensors[1].1.clone()), t.input(tensors[2].1.clone()));
        t.batch_norm(x, g, b, 1e-3, None).unwrap().1.unwrap()
    };
    assert_eq!(stats(Tape::new()), stats(Tape::inference()));
}

/// A small siamese stack: A and B through one batched conv block and fc layers, then the
/// distance, the output module (batch norm in eval mode, sigmoid) and both losses.
#[test]
fn a_small_siamese_stack_matches() {
    let (rm, rv) = ([0.4], [0.3]);
    same_values(
        &[
            ("xa", rand_tensor(&[3, 1, 8, 8], 31, 0.0, 1.0)),
            ("xb", rand_tensor(&[3, 1, 8, 8], 32, 0.0, 1.0)),
            ("w", rand_tensor(&[2, 1, 3, 3], 33, -0.5, 0.5)),
            ("cb", rand_tensor(&[2], 34, -0.1, 0.1)),
            ("fw", rand_tensor(&[4, 32], 35, -0.3, 0.3)),
            ("fb", rand_tensor(&[4], 36, -0.1, 0.1)),
            ("g", rand_tensor(&[1], 37, 0.5, 1.5)),
            ("b", rand_tensor(&[1], 38, -0.5, 0.5)),
        ],
        |t, v| {
            let x = t.concat(&[v[0], v[1]])?;
            let h = t.conv2d_relu_max_pool2d(x, v[2], Some(v[3]), 1)?;
            let h = t.flatten(h)?;
            let e = t.linear(h, v[4], Some(v[5]))?;
            let e = t.tanh(e)?;
            let ab = t.split(e, &[3, 3])?;
            let diff = t.sub(ab[0], ab[1])?;
            let sq = t.square(diff)?;
            let d2 = t.sum_axis(sq, 1)?;
            let d2 = t.reshape(d2, &[3, 1])?;
            let d = t.sqrt(d2, 1e-7)?;
            let (z, _) = t.batch_norm(d, v[6], v[7], 1e-5, Some((&rm, &rv)))?;
            let s = t.sigmoid(z)?;
            let y = Tensor::from_vec(&[3, 1], vec![1.0, 0.0, 1.0]).unwrap();
            let bce = t.binary_cross_entropy(s, &y, 1e-7)?;
            let logits = t.reshape(e, &[3, 8])?;
            let ce = t.softmax_cross_entropy(logits, &[1, 7, 3])?;
            let loss = t.add(bce, ce)?;
            Ok(vec![e, d, s, bce, ce, loss])
        },
    );
}

#[test]
fn backward_on_an_inference_tape_is_a_typed_error() {
    let (mut store, ids) = store_of(&[("w", rand_tensor(&[2, 3], 41, -1.0, 1.0))]);
    let mut t = Tape::inference();
    assert!(t.is_inference() && !Tape::new().is_inference());
    let w = t.param(&store, ids[0]).unwrap();
    let x = t.input_with_grad(rand_tensor(&[4, 3], 42, -1.0, 1.0));
    let y = t.linear(x, w, None).unwrap();
    let l = t.sum(y).unwrap();
    let err = t.backward(l, &mut store).unwrap_err();
    assert_eq!(err, AutodiffError::InferenceTape);
    assert!(err
        .to_string()
        .contains("inference tape records no backward pass"));
    assert!(store.grad(ids[0]).data().iter().all(|&g| g == 0.0));
    assert!(t.grad(x).is_none());
    // The values are all there: the loss reads as on a training tape.
    assert!(t.scalar(l).unwrap().is_finite());
}
