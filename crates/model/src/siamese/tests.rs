//! Tests of SN-LeNet-5: the fused and unfused subnet blocks, scoring against the taped
//! forward, scoring by index.

use super::*;
use crate::config::{Activation, Pooling};

use crate::testing::images;

/// `Subnet::forward` records conv → ReLU → max-pool as the fused op by default; forced onto
/// the unfused conv, relu, max-pool ops it gives the same loss and every parameter gradient,
/// bit for bit. The fused tape holds four nodes fewer (two per block), so the two runs did
/// take different paths.
#[test]
fn fused_relu_pool_matches_subnet_forward() {
    let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 5).unwrap();
    assert!(model.subnet.fuse_blocks, "fused by default");
    let (a, b) = (images(6, 1, 28, 3), images(6, 1, 28, 4));
    let y = Tensor::from_vec(&[6], vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
    let run = |model: &mut SnLenet5, fused: bool| -> (f32, Vec<Vec<f32>>, usize) {
        model.subnet.fuse_blocks = fused;
        model.store.zero_grads();
        let mut tape = Tape::new();
        let out = model
            .forward(&mut tape, stack_pairs(&a, &b).unwrap())
            .unwrap();
        let loss = model
            .loss(&mut tape, out, &y, LossKind::ContrastiveSigmoid)
            .unwrap();
        let l = tape.scalar(loss).unwrap();
        tape.backward(loss, &mut model.store).unwrap();
        let st = &model.store;
        let grads = st.ids().map(|id| st.grad(id).data().to_vec()).collect();
        (l, grads, tape.len())
    };
    let (l0, g0, nodes0) = run(&mut model, false);
    let (l1, g1, nodes1) = run(&mut model, true);
    assert_eq!(l0, l1);
    assert_eq!(g0, g1);
    assert_eq!(
        nodes0,
        nodes1 + 4,
        "the fused path records one op per block"
    );
    assert!(g0[0].iter().any(|&v| v != 0.0), "conv1 gets a gradient");
}

/// Scoring (the subnet on inference tapes, chunked) gives the similarities of the taped
/// eval-mode forward, for
/// both activations, both poolings, both distances, and a batch that splits the pairs
/// into uneven chunks.
#[test]
fn score_matches_taped_forward() {
    let cases = [
        (1, 28, Activation::Relu, Pooling::Max, Distance::Euclidean),
        (3, 32, Activation::Tanh, Pooling::Avg, Distance::Cosine),
    ];
    for (c, side, act, pool, dist) in cases {
        let mut cfg = ModelConfig::for_input(c, side, side);
        cfg.activation = act;
        cfg.pooling = pool;
        cfg.distance = dist;
        let mut model = SnLenet5::new(cfg, 3).unwrap();
        // Non-trivial running statistics and biases.
        let rm = model.head.bn.running_mean;
        model.store.buffer_mut(rm).data_mut()[0] = 0.3;
        for id in [model.subnet.conv1.bias, model.subnet.fc1.bias] {
            for (i, v) in model.store.value_mut(id).data_mut().iter_mut().enumerate() {
                *v = 0.01 * (i % 7) as f32 - 0.02;
            }
        }
        let (a, b) = (images(45, c, side, 1), images(45, c, side, 2));
        let got = model.score(&a, &b, 20).unwrap();
        model.set_training(false);
        let mut tape = Tape::new();
        let out = model
            .forward(&mut tape, stack_pairs(&a, &b).unwrap())
            .unwrap();
        let want = tape.value(out.similarity).unwrap().data().to_vec();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6,
                "{act:?}/{pool:?} pair {i}: {g} vs {w}"
            );
        }
        assert!(
            want.iter().any(|&w| (w - want[0]).abs() > 1e-6),
            "scores vary"
        );
    }
}

/// Scoring pairs by index (each used image embedded once) gives the per-pair scores of
/// the gathered images, in pair order; a bad index is an error.
#[test]
fn score_indexed_matches_score_on_gathered_images() {
    let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 4).unwrap();
    let imgs = images(30, 1, 28, 5);
    // Repeats, an unused image (29), both orders, a self-pair.
    let pairs: Vec<(u32, u32)> = (0..40u32)
        .map(|i| ((i * 7) % 29, (i * 11 + 3) % 29))
        .chain([(5, 5), (28, 0)])
        .collect();
    let ia: Vec<usize> = pairs.iter().map(|p| p.0 as usize).collect();
    let ib: Vec<usize> = pairs.iter().map(|p| p.1 as usize).collect();
    let want = model
        .score(
            &imgs.gather_batch(&ia).unwrap(),
            &imgs.gather_batch(&ib).unwrap(),
            16,
        )
        .unwrap();
    let got = model.score_indexed(&imgs, &pairs, 16).unwrap();
    assert_eq!(got.len(), pairs.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-6, "pair {i}: {g} vs {w}");
    }
    assert!(model.score_indexed(&imgs, &[(0, 30)], 16).is_err());
}
