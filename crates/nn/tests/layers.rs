//! Finite-difference checks of every layer, the distances, the output module and the losses;
//! hand-computed loss values; initialiser statistics; BatchNorm running statistics.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use siamese_autodiff::{check_gradients, project_to_scalar, GradCheck, ParamStore, Tape};
use siamese_nn::*;
use siamese_tensor::Tensor;

fn rand_tensor(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| rng.gen_range(lo..hi)).collect()).unwrap()
}

/// Gradient-checks `layer` on input `x` (registered as parameter "x" so dx is checked too).
fn check_layer(store: &mut ParamStore, layer: &dyn Module, x: Tensor) {
    let xid = store.add_param("x", x).unwrap();
    let report = check_gradients(
        store,
        |t, st| -> siamese_nn::Result<_> {
            let x = t.param(st, xid)?;
            let y = layer.forward(t, st, x)?;
            Ok(project_to_scalar(t, y, 3)?)
        },
        &GradCheck::default(),
    )
    .unwrap();
    assert!(report.passed(), "{report}");
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

#[test]
fn conv2d_layer() {
    let mut s = ParamStore::new();
    let spec = Conv2dSpec::new(2, 3, 3).pad(1);
    let conv = Conv2d::new(&mut s, "conv", spec, Init::GlorotUniform, &mut rng(1)).unwrap();
    // non-zero bias so its gradient path is exercised with a non-trivial value
    s.set("conv.bias", &rand_tensor(&[3], 2, -1.0, 1.0))
        .unwrap();
    assert_eq!(s.get("conv.weight").unwrap().shape(), &[3, 2, 3, 3]);
    check_layer(&mut s, &conv, rand_tensor(&[2, 2, 5, 5], 3, -1.0, 1.0));
}

#[test]
fn linear_layer() {
    let mut s = ParamStore::new();
    let fc = Linear::new(&mut s, "fc", 4, 3, Init::HeUniform, &mut rng(4)).unwrap();
    assert_eq!(s.get("fc.weight").unwrap().shape(), &[3, 4]);
    check_layer(&mut s, &fc, rand_tensor(&[5, 4], 5, -1.0, 1.0));
}

#[test]
fn pools_activations_flatten() {
    // distinct values spaced 0.1 apart, none near 0: no max-pool ties, no ReLU kink
    let mut v: Vec<f32> = (0..32).map(|i| i as f32 * 0.1 - 1.55).collect();
    let mut r = rng(6);
    for i in (1..v.len()).rev() {
        v.swap(i, r.gen_range(0..=i));
    }
    let x = Tensor::from_vec(&[2, 1, 4, 4], v).unwrap();
    let layers: Vec<Box<dyn Module>> = vec![
        Box::new(MaxPool2d {
            kernel: 2,
            stride: 2,
        }),
        Box::new(AvgPool2d {
            kernel: 2,
            stride: 2,
        }),
        Box::new(ReLU),
        Box::new(Tanh),
        Box::new(Sigmoid),
        Box::new(Flatten),
    ];
    for l in &layers {
        check_layer(&mut ParamStore::new(), l.as_ref(), x.clone());
    }
}

#[test]
fn batch_norm_layer_train_eval_and_running_stats() {
    let mut s = ParamStore::new();
    let mut bn = BatchNorm1d::new(&mut s, "bn", 2).unwrap();
    s.set(
        "bn.weight",
        &Tensor::from_vec(&[2], vec![1.5, -0.7]).unwrap(),
    )
    .unwrap();
    s.set("bn.bias", &Tensor::from_vec(&[2], vec![0.2, 0.1]).unwrap())
        .unwrap();
    let x = rand_tensor(&[8, 2], 7, -2.0, 2.0);
    check_layer(&mut s, &bn, x.clone());
    // Running statistics: after one training forward, running = 0.99·init + 0.01·batch.
    let mut s2 = ParamStore::new();
    let bn2 = BatchNorm1d::new(&mut s2, "bn", 2).unwrap();
    let mut t = Tape::new();
    let xv = t.input(x.clone());
    bn2.forward(&mut t, &mut s2, xv).unwrap();
    for j in 0..2 {
        let col: Vec<f64> = (0..8).map(|i| x.data()[i * 2 + j] as f64).collect();
        let mean = col.iter().sum::<f64>() / 8.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 8.0;
        let rm = s2.get("bn.running_mean").unwrap().data()[j] as f64;
        let rv = s2.get("bn.running_var").unwrap().data()[j] as f64;
        assert!((rm - 0.01 * mean).abs() < 1e-6, "{rm} vs {}", 0.01 * mean);
        assert!((rv - (0.99 + 0.01 * var)).abs() < 1e-6);
    }
    // Eval mode uses the running statistics and is checked too.
    bn.set_training(false);
    s.set(
        "bn.running_mean",
        &Tensor::from_vec(&[2], vec![0.3, -0.1]).unwrap(),
    )
    .unwrap();
    s.set(
        "bn.running_var",
        &Tensor::from_vec(&[2], vec![2.0, 0.5]).unwrap(),
    )
    .unwrap();
    let mut s3 = s.clone();
    let xid = s3.id("x").unwrap();
    let mut t = Tape::new();
    let xv = t.param(&s3, xid).unwrap();
    let y = bn.forward(&mut t, &mut s3, xv).unwrap();
    let want = 1.5 * (x.data()[0] - 0.3) / (2.0f32 + 1e-3).sqrt() + 0.2;
    assert!((t.value(y).unwrap().data()[0] - want).abs() < 1e-5);
    let before = s3.get("bn.running_mean").unwrap().clone();
    let mut s4 = ParamStore::new();
    std::mem::swap(&mut s4, &mut s);
    s4.zero_grads();
    let xid = s4.id("x").unwrap();
    let report = check_gradients(
        &mut s4,
        |t, st| -> siamese_nn::Result<_> {
            let x = t.param(st, xid)?;
            let y = bn.forward(t, st, x)?;
            Ok(project_to_scalar(t, y, 3)?)
        },
        &GradCheck::default(),
    )
    .unwrap();
    assert!(report.passed(), "eval mode: {report}");
    assert_eq!(
        s3.get("bn.running_mean").unwrap(),
        &before,
        "eval leaves buffers alone"
    );
}

#[test]
fn small_lenet_like_stack() {
    let mut s = ParamStore::new();
    let mut r = rng(8);
    let net = Sequential::new()
        .with(
            Conv2d::new(
                &mut s,
                "c1",
                Conv2dSpec::new(1, 2, 3),
                Init::GlorotUniform,
                &mut r,
            )
            .unwrap(),
        )
        .with(Tanh)
        .with(AvgPool2d {
            kernel: 2,
            stride: 2,
        })
        .with(Flatten)
        .with(Linear::new(&mut s, "f1", 8, 3, Init::GlorotUniform, &mut r).unwrap())
        .with(Tanh);
    assert_eq!(net.params().len(), 4);
    check_layer(&mut s, &net, rand_tensor(&[2, 1, 6, 6], 9, -1.0, 1.0));
}

#[test]
fn distances_gradients_and_values() {
    let a = rand_tensor(&[4, 5], 10, -1.0, 1.0);
    let b = rand_tensor(&[4, 5], 11, -1.0, 1.0);
    for cosine in [false, true] {
        let (mut s, _) = (ParamStore::new(), ());
        let ia = s.add_param("a", a.clone()).unwrap();
        let ib = s.add_param("b", b.clone()).unwrap();
        let report = check_gradients(
            &mut s,
            |t, st| -> siamese_nn::Result<_> {
                let (va, vb) = (t.param(st, ia)?, t.param(st, ib)?);
                let d = if cosine {
                    cosine_similarity(t, va, vb, 1e-12)?
                } else {
                    euclidean(t, va, vb, KERAS_EPSILON)?
                };
                Ok(project_to_scalar(t, d, 5)?)
            },
            &GradCheck::default(),
        )
        .unwrap();
        assert!(report.passed(), "cosine={cosine}: {report}");
    }
    // Hand values: d((0,0),(3,4)) = 5; identical rows give √ε; cos of parallel = 1, of
    // orthogonal = 0.
    let mut t = Tape::new();
    let x = t.input(Tensor::from_vec(&[3, 2], vec![0., 0., 1., 1., 1., 0.]).unwrap());
    let y = t.input(Tensor::from_vec(&[3, 2], vec![3., 4., 1., 1., 0., 2.]).unwrap());
    let d = euclidean(&mut t, x, y, KERAS_EPSILON).unwrap();
    let dv = t.value(d).unwrap().data().to_vec();
    assert!((dv[0] - 5.0).abs() < 1e-6 && (dv[1] - 1e-7f32.sqrt()).abs() < 1e-9);
    assert!((dv[2] - 5f32.sqrt()).abs() < 1e-6);
    let c = cosine_similarity(&mut t, x, y, 1e-12).unwrap();
    let cv = t.value(c).unwrap().data().to_vec();
    assert!((cv[1] - 1.0).abs() < 1e-6 && cv[2].abs() < 1e-6);
    assert!(euclidean(&mut t, x, d, 1e-7).is_err());
}

#[test]
fn contrastive_loss_hand_values() {
    // s = (0.8, 0.3, 0.6, 0.1), y = (1, 1, 0, 0), margin 1:
    // Similarity: 0.2², 0.7², 0.6², 0.1² → (0.04 + 0.49 + 0.36 + 0.01)/4 = 0.225
    // Distance:   0.8², 0.3², 0.4², 0.9² → (0.64 + 0.09 + 0.16 + 0.81)/4 = 0.425
    let y = Tensor::from_vec(&[4], vec![1., 1., 0., 0.]).unwrap();
    for (reads, want) in [
        (ContrastiveReads::Similarity, 0.225f32),
        (ContrastiveReads::Distance, 0.425),
    ] {
        let mut t = Tape::new();
        let s = t.input(Tensor::from_vec(&[4, 1], vec![0.8, 0.3, 0.6, 0.1]).unwrap());
        let l = contrastive_loss(&mut t, s, &y, 1.0, reads).unwrap();
        assert!((t.scalar(l).unwrap() - want).abs() < 1e-6, "{reads:?}");
    }
    // Beyond the margin a dissimilar pair (Distance) costs nothing.
    let mut t = Tape::new();
    let d = t.input(Tensor::from_vec(&[2], vec![1.5, 0.0]).unwrap());
    let l = contrastive_loss(
        &mut t,
        d,
        &Tensor::from_vec(&[2], vec![0., 1.]).unwrap(),
        1.0,
        ContrastiveReads::Distance,
    )
    .unwrap();
    assert_eq!(t.scalar(l).unwrap(), 0.0);
    // Bad labels and shapes are typed errors.
    let bad = Tensor::from_vec(&[2], vec![0., 2.]).unwrap();
    assert!(contrastive_loss(&mut t, d, &bad, 1.0, ContrastiveReads::Distance).is_err());
    let three = Tensor::from_vec(&[3], vec![0., 1., 1.]).unwrap();
    assert!(contrastive_loss(&mut t, d, &three, 1.0, ContrastiveReads::Distance).is_err());
}

#[test]
fn losses_gradients() {
    let y = Tensor::from_vec(&[6], vec![1., 0., 1., 0., 1., 0.]).unwrap();
    // Values away from the hinge kink at margin 1 (Similarity in (0,1); Distance both sides).
    let sims = Tensor::from_vec(&[6], vec![0.2, 0.7, 0.9, 0.1, 0.5, 0.4]).unwrap();
    let dists = Tensor::from_vec(&[6], vec![0.3, 0.6, 1.4, 1.3, 0.8, 0.2]).unwrap();
    let cases: [(Tensor, Option<ContrastiveReads>); 3] = [
        (sims.clone(), Some(ContrastiveReads::Similarity)),
        (dists, Some(ContrastiveReads::Distance)),
        (sims, None),
    ];
    for (v, reads) in cases {
        let mut s = ParamStore::new();
        let id = s.add_param("v", v).unwrap();
        let report = check_gradients(
            &mut s,
            |t, st| -> siamese_nn::Result<_> {
                let v = t.param(st, id)?;
                match reads {
                    Some(r) => contrastive_loss(t, v, &y, 1.0, r),
                    None => binary_cross_entropy(t, v, &y, KERAS_EPSILON),
                }
            },
            &GradCheck::default(),
        )
        .unwrap();
        assert!(report.passed(), "{reads:?}: {report}");
    }
    let mut s = ParamStore::new();
    let id = s
        .add_param("z", rand_tensor(&[3, 4], 12, -2.0, 2.0))
        .unwrap();
    let report = check_gradients(
        &mut s,
        |t, st| -> siamese_nn::Result<_> {
            let z = t.param(st, id)?;
            softmax_cross_entropy(t, z, &[3, 0, 2])
        },
        &GradCheck::default(),
    )
    .unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn output_module_gradients() {
    let mut s = ParamStore::new();
    let head = OutputModule::new(&mut s, "head", Init::GlorotUniform, &mut rng(13)).unwrap();
    s.set(
        "head.fc.weight",
        &Tensor::from_vec(&[1, 1], vec![-0.8]).unwrap(),
    )
    .unwrap();
    s.set("head.fc.bias", &Tensor::from_vec(&[1], vec![0.1]).unwrap())
        .unwrap();
    let names: Vec<_> = s.named_tensors().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        names,
        [
            "head.bn.weight",
            "head.bn.bias",
            "head.fc.weight",
            "head.fc.bias",
            "head.bn.running_mean",
            "head.bn.running_var"
        ]
    );
    check_layer(&mut s, &head, rand_tensor(&[6], 14, 0.1, 2.0));
}

/// The siamese forward the model will use: concat A and B, one subnet pass, split, distance,
/// output module, contrastive loss, all gradient-checked, and the batched gradients equal
/// the two-tower gradients.
#[test]
fn siamese_pipeline_gradients_and_batched_equals_two_towers() {
    let mut s = ParamStore::new();
    let mut r = rng(15);
    let subnet = Sequential::new()
        .with(Linear::new(&mut s, "subnet.fc1", 4, 5, Init::GlorotUniform, &mut r).unwrap())
        .with(Tanh)
        .with(Linear::new(&mut s, "subnet.fc2", 5, 3, Init::GlorotUniform, &mut r).unwrap());
    let head = OutputModule::new(&mut s, "head", Init::GlorotUniform, &mut r).unwrap();
    let xa = rand_tensor(&[4, 4], 16, -1.0, 1.0);
    let xb = rand_tensor(&[4, 4], 17, -1.0, 1.0);
    let y = Tensor::from_vec(&[4], vec![1., 0., 1., 0.]).unwrap();
    let batched = |t: &mut Tape, st: &mut ParamStore| -> siamese_nn::Result<_> {
        let a = t.input(xa.clone());
        let b = t.input(xb.clone());
        let x = t.concat(&[a, b])?;
        let e = subnet.forward(t, st, x)?;
        let parts = t.split(e, &[4, 4])?;
        let d = euclidean(t, parts[0], parts[1], KERAS_EPSILON)?;
        let sc = head.forward(t, st, d)?;
        contrastive_loss(t, sc, &y, 1.0, ContrastiveReads::Similarity)
    };
    let report = check_gradients(&mut s, batched, &GradCheck::default()).unwrap();
    assert!(report.passed(), "{report}");
    let g_batched: Vec<Tensor> = s.ids().map(|id| s.grad(id).clone()).collect();
    s.zero_grads();
    let mut t = Tape::new();
    let a = t.input(xa.clone());
    let b = t.input(xb.clone());
    let ea = subnet.forward(&mut t, &mut s, a).unwrap();
    let eb = subnet.forward(&mut t, &mut s, b).unwrap();
    let d = euclidean(&mut t, ea, eb, KERAS_EPSILON).unwrap();
    let sc = head.forward(&mut t, &mut s, d).unwrap();
    let l = contrastive_loss(&mut t, sc, &y, 1.0, ContrastiveReads::Similarity).unwrap();
    t.backward(l, &mut s).unwrap();
    for (id, g) in s.ids().zip(&g_batched) {
        assert!(s.grad(id).max_abs_diff(g) < 1e-5, "{}", s.name(id));
    }
}

#[test]
fn initialisers_follow_their_formulas_and_seed() {
    let shape = [64, 16, 5, 5]; // fan_in 400, fan_out 1600
    let t = Init::GlorotUniform.tensor(&shape, &mut rng(18)).unwrap();
    let a = (6.0f64 / 2000.0).sqrt();
    let n = t.len() as f64;
    let var = t.data().iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n;
    assert!(t.data().iter().all(|&v| (v as f64).abs() <= a + 1e-7));
    assert!(
        (var / (a * a / 3.0) - 1.0).abs() < 0.05,
        "U(-a,a) variance a²/3"
    );
    let h = Init::HeNormal.tensor(&shape, &mut rng(19)).unwrap();
    let hv = h.data().iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n;
    assert!(
        (hv / (2.0 / 400.0) - 1.0).abs() < 0.05,
        "He normal variance 2/fan_in: {hv}"
    );
    let hu = Init::HeUniform.tensor(&[10, 30], &mut rng(20)).unwrap();
    assert!(hu.data().iter().all(|&v| v.abs() <= (6.0f32 / 30.0).sqrt()));
    assert_eq!(
        t,
        Init::GlorotUniform.tensor(&shape, &mut rng(18)).unwrap(),
        "seeded"
    );
    assert_ne!(t, Init::GlorotUniform.tensor(&shape, &mut rng(99)).unwrap());
    assert_eq!(init::fans(&[120, 400]), (400, 120));
    assert!(Init::GlorotUniform.tensor(&[0, 3], &mut rng(1)).is_err());
}

/// The triplet loss through the tape, on raw and on unit-length embeddings, for every mining:
/// a dense layer → (unit rows) → triplet loss, gradient-checked against finite differences
/// of the layer's weights and its input.
#[test]
fn triplet_loss_gradients_through_a_layer_for_every_mining() {
    let classes = [0u32, 0, 0, 1, 1, 1, 2, 2];
    for mining in [Mining::All, Mining::BatchHard, Mining::SemiHard] {
        for unit in [false, true] {
            let mut s = ParamStore::new();
            let layer = Linear::new(&mut s, "fc", 5, 3, Init::GlorotUniform, &mut rng(13)).unwrap();
            let xid = s
                .add_param("x", rand_tensor(&[8, 5], 14, -1.0, 1.0))
                .unwrap();
            let report = check_gradients(
                &mut s,
                |t, st| -> siamese_nn::Result<_> {
                    let x = t.param(st, xid)?;
                    let mut e = layer.forward(t, st, x)?;
                    if unit {
                        e = unit_rows(t, e, KERAS_EPSILON)?;
                    }
                    triplet_loss(t, e, &classes, 0.3, mining, KERAS_EPSILON)
                },
                &GradCheck {
                    h: 1e-3,
                    ..GradCheck::default()
                },
            )
            .unwrap();
            assert!(report.passed(), "{mining:?} unit={unit}: {report}");
        }
    }
    let mut t = Tape::new();
    let e = t.input(Tensor::zeros(&[3, 2]).unwrap());
    assert!(triplet_loss(&mut t, e, &[0, 0], 1.0, Mining::All, KERAS_EPSILON).is_err());
    assert!(triplet_loss(&mut t, e, &[0, 0, 1], 0.0, Mining::All, KERAS_EPSILON).is_err());
}
