//! Finite-difference gradient checks of every op of the tape, plus the properties backward
//! must have: accumulation (+=), shared-parameter gradient sums, hand-computed values.

mod common;

use common::{rand_tensor, store_of};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use siamese_autodiff::{
    check_gradients, project_to_scalar, GradCheck, ParamStore, Result, Tape, Var,
};
use siamese_tensor::ops::batchnorm::BnMode;
use siamese_tensor::Tensor;

/// Values in (−1, 1) kept at least 0.05 away from 0 (away from the kinks of relu/sqrt).
fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
    let mut t = rand_tensor(shape, seed, -1.0, 1.0);
    for v in t.data_mut() {
        if v.abs() < 0.05 {
            *v += 0.1f32.copysign(*v);
        }
    }
    t
}

/// A permutation of distinct values spaced 0.1 apart (no ties for max-pool, even after ±h).
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..n).map(|i| i as f32 * 0.1 - n as f32 * 0.05).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.gen_range(0..=i));
    }
    Tensor::from_vec(shape, v).unwrap()
}

/// Gradient-checks `f(tape, params) -> y` through a random projection of y to a scalar.
fn check<F>(tensors: &[(&str, Tensor)], f: F)
where
    F: Fn(&mut Tape, &[Var]) -> Result<Var>,
{
    let (mut store, ids) = store_of(tensors);
    let report = check_gradients(
        &mut store,
        |tape, st| {
            let vars: Vec<Var> = ids.iter().map(|&id| tape.param(st, id).unwrap()).collect();
            let y = f(tape, &vars)?;
            project_to_scalar(tape, y, 7)
        },
        &GradCheck::default(),
    )
    .unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn conv2d_with_bias_padding_and_stride() {
    for (stride, pad) in [(1, 0), (1, 1), (2, 1)] {
        check(
            &[
                ("x", rand_tensor(&[2, 2, 5, 5], 1, -1.0, 1.0)),
                ("w", rand_tensor(&[3, 2, 3, 3], 2, -1.0, 1.0)),
                ("b", rand_tensor(&[3], 3, -1.0, 1.0)),
            ],
            |t, v| t.conv2d(v[0], v[1], Some(v[2]), stride, pad),
        );
    }
    check(
        &[
            ("x", rand_tensor(&[1, 1, 4, 4], 4, -1.0, 1.0)),
            ("w", rand_tensor(&[2, 1, 2, 2], 5, -1.0, 1.0)),
        ],
        |t, v| t.conv2d(v[0], v[1], None, 1, 0),
    );
}

#[test]
fn pooling() {
    check(&[("x", distinct(&[2, 2, 4, 6], 11))], |t, v| {
        t.max_pool2d(v[0], 2, 2)
    });
    check(&[("x", distinct(&[1, 2, 5, 5], 12))], |t, v| {
        t.max_pool2d(v[0], 3, 1)
    });
    check(
        &[("x", rand_tensor(&[2, 2, 4, 6], 13, -1.0, 1.0))],
        |t, v| t.avg_pool2d(v[0], 2, 2),
    );
}

#[test]
fn matmul_all_transposes() {
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let a_shape = if ta { [4, 3] } else { [3, 4] };
        let b_shape = if tb { [5, 4] } else { [4, 5] };
        check(
            &[
                ("a", rand_tensor(&a_shape, 21, -1.0, 1.0)),
                ("b", rand_tensor(&b_shape, 22, -1.0, 1.0)),
            ],
            |t, v| t.matmul(v[0], v[1], ta, tb),
        );
    }
}

#[test]
fn linear_with_and_without_bias() {
    let x = rand_tensor(&[4, 3], 31, -1.0, 1.0);
    let w = rand_tensor(&[5, 3], 32, -1.0, 1.0);
    let b = rand_tensor(&[5], 33, -1.0, 1.0);
    check(&[("x", x.clone()), ("w", w.clone()), ("b", b)], |t, v| {
        t.linear(v[0], v[1], Some(v[2]))
    });
    check(&[("x", x), ("w", w)], |t, v| t.linear(v[0], v[1], None));
}

#[test]
fn linear_equals_matmul_plus_bias() {
    let mut t = Tape::new();
    let x = t.input(rand_tensor(&[4, 3], 34, -1.0, 1.0));
    let w = t.input(rand_tensor(&[5, 3], 35, -1.0, 1.0));
    let b = t.input(rand_tensor(&[5], 36, -1.0, 1.0));
    let y1 = t.linear(x, w, Some(b)).unwrap();
    let m = t.matmul(x, w, false, true).unwrap();
    let y2 = t.add_bias(m, b).unwrap();
    assert!(t.value(y1).unwrap().max_abs_diff(t.value(y2).unwrap()) < 1e-6);
}

/// The fused dense layer + ReLU: finite differences, and the same bits as `linear` then
/// `relu`, forward and backward (x, w, b all take gradients).
#[test]
fn linear_relu_is_linear_then_relu() {
    let x = away_from_zero(&[6, 4], 37);
    let w = away_from_zero(&[5, 4], 38);
    let b = away_from_zero(&[5], 39);
    check(
        &[("x", x.clone()), ("w", w.clone()), ("b", b.clone())],
        |t, v| t.linear_relu(v[0], v[1], Some(v[2])),
    );
    let run = |fused: bool| {
        let mut t = Tape::new();
        let vars: Vec<Var> = [&x, &w, &b]
            .iter()
            .map(|v| t.input_with_grad((*v).clone()))
            .collect();
        let y = if fused {
            t.linear_relu(vars[0], vars[1], Some(vars[2])).unwrap()
        } else {
            let h = t.linear(vars[0], vars[1], Some(vars[2])).unwrap();
            t.relu(h).unwrap()
        };
        let value = t.value(y).unwrap().clone();
        assert!(value.data().contains(&0.0) && value.data().iter().any(|&v| v > 0.0));
        let loss = t.sum(y).unwrap();
        t.backward(loss, &mut ParamStore::new()).unwrap();
        let grads: Vec<Tensor> = vars.iter().map(|&v| t.grad(v).unwrap().clone()).collect();
        (value, grads)
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn binary_elementwise() {
    let a = rand_tensor(&[2, 3, 2], 41, -1.0, 1.0);
    let b = rand_tensor(&[2, 3, 2], 42, -1.0, 1.0);
    let pos = rand_tensor(&[2, 3, 2], 43, 0.5, 2.0);
    check(&[("a", a.clone()), ("b", b.clone())], |t, v| {
        t.add(v[0], v[1])
    });
    check(&[("a", a.clone()), ("b", b.clone())], |t, v| {
        t.sub(v[0], v[1])
    });
    check(&[("a", a.clone()), ("b", b.clone())], |t, v| {
        t.mul(v[0], v[1])
    });
    check(&[("a", a), ("b", pos)], |t, v| t.div(v[0], v[1]));
}

#[test]
fn bias_broadcast_rank_2_and_4() {
    check(
        &[
            ("x", rand_tensor(&[3, 4], 51, -1.0, 1.0)),
            ("b", rand_tensor(&[4], 52, -1.0, 1.0)),
        ],
        |t, v| t.add_bias(v[0], v[1]),
    );
    check(
        &[
            ("x", rand_tensor(&[2, 3, 2, 2], 53, -1.0, 1.0)),
            ("b", rand_tensor(&[3], 54, -1.0, 1.0)),
        ],
        |t, v| t.add_bias(v[0], v[1]),
    );
}

#[test]
fn unary_elementwise() {
    let x = away_from_zero(&[3, 5], 61);
    check(&[("x", x.clone())], |t, v| t.scale(v[0], -1.7));
    check(&[("x", x.clone())], |t, v| t.add_scalar(v[0], 0.3));
    check(&[("x", x.clone())], |t, v| t.relu(v[0]));
    check(&[("x", x.clone())], |t, v| t.tanh(v[0]));
    check(&[("x", x.clone())], |t, v| t.sigmoid(v[0]));
    check(&[("x", x)], |t, v| t.square(v[0]));
    check(&[("x", rand_tensor(&[3, 5], 62, 0.2, 2.0))], |t, v| {
        t.sqrt(v[0], 1e-7)
    });
}

#[test]
fn sqrt_guard_is_flat_below_eps() {
    let mut store = ParamStore::new();
    let id = store
        .add_param("x", Tensor::from_vec(&[3], vec![0.0, 1e-9, 4.0]).unwrap())
        .unwrap();
    let mut t = Tape::new();
    let x = t.param(&store, id).unwrap();
    let y = t.sqrt(x, 1e-6).unwrap();
    let l = t.sum(y).unwrap();
    assert_eq!(t.value(y).unwrap().data(), &[1e-3, 1e-3, 2.0]);
    t.backward(l, &mut store).unwrap();
    // Below ε the guard is flat; above it d√x/dx = 1/(2√x) = 0.25 at x = 4.
    assert_eq!(store.grad(id).data(), &[0.0, 0.0, 0.25]);
}

#[test]
fn reductions() {
    let x = rand_tensor(&[2, 3, 4], 71, -1.0, 1.0);
    check(&[("x", x.clone())], |t, v| t.sum(v[0]));
    check(&[("x", x.clone())], |t, v| t.mean(v[0]));
    for axis in 0..3 {
        check(&[("x", x.clone())], |t, v| t.sum_axis(v[0], axis));
        check(&[("x", x.clone())], |t, v| t.mean_axis(v[0], axis));
    }
    let mut t = Tape::new();
    let a = t.input(Tensor::from_vec(&[2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap());
    let s0 = t.sum_axis(a, 0).unwrap();
    let m1 = t.mean_axis(a, 1).unwrap();
    assert_eq!(t.value(s0).unwrap().data(), &[5., 7., 9.]);
    assert_eq!(t.value(m1).unwrap().data(), &[2., 5.]);
}

#[test]
fn shapes_concat_split() {
    let x = rand_tensor(&[2, 3, 2, 2], 81, -1.0, 1.0);
    check(&[("x", x.clone())], |t, v| t.reshape(v[0], &[4, 6]));
    check(&[("x", x.clone())], |t, v| t.flatten(v[0]));
    check(
        &[
            ("a", x.clone()),
            ("b", rand_tensor(&[3, 3, 2, 2], 82, -1.0, 1.0)),
        ],
        |t, v| t.concat(&[v[0], v[1], v[0]]),
    );
    check(&[("x", rand_tensor(&[5, 3], 83, -1.0, 1.0))], |t, v| {
        let parts = t.split(v[0], &[2, 3])?;
        // weight the parts differently so a swapped backward fails
        let b = t.scale(parts[1], 3.0)?;
        let a = t.concat(&[b, parts[0]])?;
        t.slice(a, 1, 3)
    });
}

#[test]
fn concat_then_split_round_trips() {
    let mut t = Tape::new();
    let a = t.input(rand_tensor(&[2, 3], 84, -1.0, 1.0));
    let b = t.input(rand_tensor(&[4, 3], 85, -1.0, 1.0));
    let c = t.concat(&[a, b]).unwrap();
    let p = t.split(c, &[2, 4]).unwrap();
    assert_eq!(t.value(p[0]).unwrap(), t.value(a).unwrap());
    assert_eq!(t.value(p[1]).unwrap(), t.value(b).unwrap());
    assert!(t.split(c, &[2, 3]).is_err());
}

#[test]
fn batch_norm_train_and_eval() {
    let x = rand_tensor(&[6, 3], 91, -2.0, 2.0);
    let g = rand_tensor(&[3], 92, 0.5, 1.5);
    let b = rand_tensor(&[3], 93, -1.0, 1.0);
    check(
        &[("x", x.clone()), ("g", g.clone()), ("b", b.clone())],
        |t, v| {
            let (mut rm, mut rv) = ([0.0; 3], [1.0; 3]);
            let train = BnMode::Train { momentum: 0.99 };
            t.batch_norm(v[0], v[1], v[2], 1e-3, train, &mut rm, &mut rv)
        },
    );
    check(&[("x", x.clone()), ("g", g), ("b", b)], |t, v| {
        let (mut rm, mut rv) = ([0.1, -0.2, 0.3], [0.5, 1.5, 2.0]);
        t.batch_norm(v[0], v[1], v[2], 1e-3, BnMode::Eval, &mut rm, &mut rv)
    });
    // Training output has zero mean and (almost) unit variance per feature when γ=1, β=0.
    let mut t = Tape::new();
    let xv = t.input(x);
    let one = t.input(Tensor::full(&[3], 1.0).unwrap());
    let zero = t.input(Tensor::zeros(&[3]).unwrap());
    // Momentum 0: the running statistics become the batch's.
    let (mut run_mean, mut run_var) = ([0.0; 3], [0.0; 3]);
    let train = BnMode::Train { momentum: 0.0 };
    let y = t
        .batch_norm(xv, one, zero, 0.0, train, &mut run_mean, &mut run_var)
        .unwrap();
    let yt = t.value(y).unwrap();
    assert!(run_var.iter().all(|&v| v > 0.0), "{run_var:?}");
    for j in 0..3 {
        let col: Vec<f64> = (0..6).map(|i| yt.data()[i * 3 + j] as f64).collect();
        let mean = col.iter().sum::<f64>() / 6.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 6.0;
        assert!(
            mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{mean} {var}"
        );
    }
}

#[test]
fn cross_entropies() {
    let labels = [2usize, 0, 1, 2];
    check(&[("z", rand_tensor(&[4, 3], 101, -3.0, 3.0))], |t, v| {
        t.softmax_cross_entropy(v[0], &labels)
    });
    let y = Tensor::from_vec(&[5], vec![1., 0., 1., 0., 1.]).unwrap();
    check(&[("p", rand_tensor(&[5], 102, 0.1, 0.9))], |t, v| {
        t.binary_cross_entropy(v[0], &y, 1e-7)
    });
    // Hand values: uniform logits over K classes give ln K; huge logits do not overflow.
    let mut t = Tape::new();
    let z = t.input(Tensor::from_vec(&[2, 4], vec![0., 0., 0., 0., 1000., 0., 0., 0.]).unwrap());
    let l = t.softmax_cross_entropy(z, &[1, 0]).unwrap();
    assert!((t.scalar(l).unwrap() - (4f32.ln() / 2.0)).abs() < 1e-6);
    let p = t.input(Tensor::from_vec(&[2], vec![0.5, 0.25]).unwrap());
    let l = t
        .binary_cross_entropy(p, &Tensor::from_vec(&[2], vec![1., 0.]).unwrap(), 1e-7)
        .unwrap();
    let want = -(0.5f64.ln() + 0.75f64.ln()) / 2.0;
    assert!((t.scalar(l).unwrap() as f64 - want).abs() < 1e-6);
}

/// The siamese property: a parameter used by two branches gets the SUM of both branches'
/// gradients, and a batched (concat) forward gives the same sum.
#[test]
fn shared_parameter_gradients_add_up() {
    let xa = rand_tensor(&[3, 4], 111, -1.0, 1.0);
    let xb = rand_tensor(&[3, 4], 112, -1.0, 1.0);
    let (mut store, ids) = store_of(&[
        ("w", rand_tensor(&[2, 4], 113, -1.0, 1.0)),
        ("b", rand_tensor(&[2], 114, -1.0, 1.0)),
    ]);
    let branch = |store: &mut ParamStore, x: &Tensor, seed: u64| {
        let mut t = Tape::new();
        let w = t.param(store, ids[0]).unwrap();
        let b = t.param(store, ids[1]).unwrap();
        let xv = t.input(x.clone());
        let y = t.linear(xv, w, Some(b)).unwrap();
        let y = t.tanh(y).unwrap();
        let l = project_to_scalar(&mut t, y, seed).unwrap();
        t.backward(l, store).unwrap();
    };
    // Each branch alone.
    store.zero_grads();
    branch(&mut store, &xa, 1);
    let (ga_w, ga_b) = (store.grad(ids[0]).clone(), store.grad(ids[1]).clone());
    store.zero_grads();
    branch(&mut store, &xb, 2);
    let (gb_w, gb_b) = (store.grad(ids[0]).clone(), store.grad(ids[1]).clone());
    let sum = |a: &Tensor, b: &Tensor| {
        Tensor::from_vec(
            a.shape(),
            a.data().iter().zip(b.data()).map(|(x, y)| x + y).collect(),
        )
        .unwrap()
    };
    // Both branches on one tape, the same parameter Vars used twice.
    store.zero_grads();
    let mut t = Tape::new();
    let w = t.param(&store, ids[0]).unwrap();
    let b = t.param(&store, ids[1]).unwrap();
    let mut losses = vec![];
    for (x, seed) in [(&xa, 1), (&xb, 2)] {
        let xv = t.input(x.clone());
        let y = t.linear(xv, w, Some(b)).unwrap();
        let y = t.tanh(y).unwrap();
        losses.push(project_to_scalar(&mut t, y, seed).unwrap());
    }
    let l = t.add(losses[0], losses[1]).unwrap();
    t.backward(l, &mut store).unwrap();
    assert!(store.grad(ids[0]).max_abs_diff(&sum(&ga_w, &gb_w)) < 1e-6);
    assert!(store.grad(ids[1]).max_abs_diff(&sum(&ga_b, &gb_b)) < 1e-6);
    assert!(
        store.grad(ids[0]).max_abs_diff(&ga_w) > 1e-3,
        "b's path contributed"
    );
    // Batched: concat A and B, one forward, split, same losses.
    store.zero_grads();
    let mut t = Tape::new();
    let w = t.param(&store, ids[0]).unwrap();
    let b = t.param(&store, ids[1]).unwrap();
    let a_in = t.input(xa.clone());
    let b_in = t.input(xb.clone());
    let x = t.concat(&[a_in, b_in]).unwrap();
    let y = t.linear(x, w, Some(b)).unwrap();
    let y = t.tanh(y).unwrap();
    let parts = t.split(y, &[3, 3]).unwrap();
    let la = project_to_scalar(&mut t, parts[0], 1).unwrap();
    let lb = project_to_scalar(&mut t, parts[1], 2).unwrap();
    let l = t.add(la, lb).unwrap();
    t.backward(l, &mut store).unwrap();
    assert!(store.grad(ids[0]).max_abs_diff(&sum(&ga_w, &gb_w)) < 1e-5);
    assert!(store.grad(ids[1]).max_abs_diff(&sum(&ga_b, &gb_b)) < 1e-5);
}

#[test]
fn backward_accumulates_until_zeroed() {
    let (mut store, ids) = store_of(&[("x", Tensor::from_vec(&[3], vec![1., -2., 3.]).unwrap())]);
    for round in 1..=2 {
        let mut t = Tape::new();
        let x = t.param(&store, ids[0]).unwrap();
        // y = x² + 5x + 4, dy/dx = 2x + 5 (candle's hand example)
        let sq = t.square(x).unwrap();
        let fx = t.scale(x, 5.0).unwrap();
        let s = t.add(sq, fx).unwrap();
        let y = t.add_scalar(s, 4.0).unwrap();
        assert_eq!(t.value(y).unwrap().data(), &[10., -2., 28.]);
        let l = t.sum(y).unwrap();
        t.backward(l, &mut store).unwrap();
        let r = round as f32;
        assert_eq!(store.grad(ids[0]).data(), &[7. * r, 1. * r, 11. * r]);
    }
    store.zero_grads();
    assert_eq!(store.grad(ids[0]).data(), &[0., 0., 0.]);
}

#[test]
fn input_gradients_are_kept_for_leaves_that_ask() {
    let mut store = ParamStore::new();
    let mut t = Tape::new();
    let x = t.input_with_grad(Tensor::from_vec(&[2], vec![3., -1.]).unwrap());
    let c = t.input(Tensor::from_vec(&[2], vec![2., 2.]).unwrap());
    let y = t.mul(x, c).unwrap();
    let y = t.square(y).unwrap(); // (2x)², d/dx = 8x
    let l = t.sum(y).unwrap();
    t.backward(l, &mut store).unwrap();
    assert_eq!(t.grad(x).unwrap().data(), &[24., -8.]);
    assert!(t.grad(c).is_none(), "constants get no gradient");
}

/// The checker must be able to fail: x ⊙ stopgrad(x) has true derivative 2x but backward
/// (correctly for the detached graph) reports x, so the finite differences disagree.
#[test]
fn gradient_check_catches_a_wrong_gradient() {
    let (mut store, ids) = store_of(&[("x", rand_tensor(&[4], 121, 0.5, 1.5))]);
    let report = check_gradients(
        &mut store,
        |t, st| {
            let x = t.param(st, ids[0])?;
            let d = t.detach(x)?;
            let y = t.mul(x, d)?;
            t.sum(y)
        },
        &GradCheck::default(),
    )
    .unwrap();
    assert!(!report.passed());
    assert_eq!(report.failed, 4);
}

#[test]
fn shape_errors_are_typed_not_panics() {
    let mut t = Tape::new();
    let a = t.input(Tensor::zeros(&[2, 3]).unwrap());
    let b = t.input(Tensor::zeros(&[3, 2]).unwrap());
    assert!(t.add(a, b).is_err());
    assert!(t.div(a, b).is_err());
    assert!(t.linear(a, a, None).is_ok());
    assert!(t.linear(a, b, None).is_err());
    assert!(t.add_bias(a, b).is_err());
    assert!(t.sum_axis(a, 2).is_err());
    assert!(t.softmax_cross_entropy(a, &[0, 3]).is_err());
    assert!(t.value(siamese_autodiff_var(99)).is_err());
}

fn siamese_autodiff_var(i: usize) -> Var {
    // A Var from a longer tape is foreign to a short one.
    let mut long = Tape::new();
    let mut v = long.input(Tensor::scalar(0.0));
    for _ in 0..i {
        v = long.input(Tensor::scalar(0.0));
    }
    v
}

/// A bias broadcast over an empty trailing axis is an empty result, not a panic.
#[test]
fn add_bias_over_an_empty_axis() {
    let mut t = Tape::new();
    let x = t.input(Tensor::zeros(&[2, 3, 0]).unwrap());
    let b = t.input(Tensor::from_vec(&[3], vec![1.0, 2.0, 3.0]).unwrap());
    let y = t.add_bias(x, b).unwrap();
    assert_eq!(t.value(y).unwrap().shape(), &[2, 3, 0]);
}
