//! The device step on the CPU backend against the tape (two independently written
//! schedules), device scoring against the model's scoring, and the supported configuration.

use super::*;
use crate::config::{ModelConfig, Pooling};
use crate::siamese::stack_pairs;
use crate::testing::images;
use siamese_autodiff::Tape;
use siamese_optim::Adam;
use siamese_tensor::CpuBackend;

fn close(what: &str, got: &[f32], want: &[f32], rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * scale + 1e-7,
            "{what}[{i}]: device step {g} vs tape {w} (scale {scale})"
        );
    }
}

/// The tape path: loss, similarities and every gradient of one step.
fn tape_step(model: &mut SnLenet5, stacked: &Tensor, y: &Tensor) -> (f32, Vec<f32>, Vec<Vec<f32>>) {
    model.store.zero_grads();
    let mut tape = Tape::new();
    let out = model.forward(&mut tape, stacked.clone()).unwrap();
    let loss = model
        .loss(&mut tape, out, y, LossKind::ContrastiveSigmoid)
        .unwrap();
    let l = tape.scalar(loss).unwrap();
    let s = tape.value(out.similarity).unwrap().data().to_vec();
    tape.backward(loss, &mut model.store).unwrap();
    let st = &model.store;
    (
        l,
        s,
        st.ids().map(|id| st.grad(id).data().to_vec()).collect(),
    )
}

/// On the CPU backend the explicit backward gives the tape's loss, similarities, every
/// parameter gradient and the BatchNorm running statistics (MNIST and CIFAR geometry, and
/// CIFAR at `--width 2`), and five Adam steps give the CPU trainer's parameters.
#[test]
fn device_step_on_cpu_matches_the_tape() {
    for (c, side, pairs, widen) in [
        (1usize, 28usize, 7usize, 1usize),
        (3, 32, 4, 1),
        (3, 32, 3, 2),
    ] {
        let mut cfg = ModelConfig::for_input(c, side, side);
        cfg.widen = widen;
        let mut tape_model = SnLenet5::new(cfg.clone(), 11).unwrap();
        let adam_cfg = AdamConfig::default();
        let mut dev = DeviceModel::from_model(CpuBackend, &tape_model, adam_cfg, None).unwrap();
        let mut adam = Adam::new(adam_cfg).unwrap();
        for step in 0..5u64 {
            let a = images(pairs, c, side, 10 + step);
            let b = images(pairs, c, side, 20 + step);
            let stacked = stack_pairs(&a, &b).unwrap();
            let yv: Vec<f32> = (0..pairs)
                .map(|i| ((i + step as usize) % 2) as f32)
                .collect();
            let y = Tensor::from_vec(&[pairs], yv.clone()).unwrap();
            let lr = 1e-3 * (1.0 + step as f32);
            // Gradients from the same weights: the device model takes the tape model's
            // parameters and running statistics before each step (the moments stay its
            // own, so Adam is compared over the whole run below).
            dev.read_from(&tape_model).unwrap();
            let (l_tape, s_tape, g_tape) = tape_step(&mut tape_model, &stacked, &y);
            adam.step(&mut tape_model.store, lr).unwrap();
            let (l_dev, s_dev) = dev.train_step(&stacked, &yv, lr).unwrap();
            close("loss", &[l_dev], &[l_tape], 1e-5);
            close("similarity", &s_dev, &s_tape, 1e-5);
            let g_dev = dev.grads().unwrap();
            let names: Vec<String> = tape_model
                .store
                .params()
                .map(|(n, _)| n.to_string())
                .collect();
            for ((name, gd), gt) in names.iter().zip(&g_dev).zip(&g_tape) {
                // The head's four gradients are single sums over the batch of terms of
                // both signs (Σ dh, Σ dh·x̂, …): cancellation leaves them 1e-4-relative.
                let rtol = if name.starts_with("head.") {
                    1e-4
                } else {
                    1e-5
                };
                close(&format!("step {step} grad {name}"), gd, gt, rtol);
                assert!(gt.iter().any(|&v| v != 0.0), "{name} gets a gradient");
            }
            // Parameters (and running statistics) after Adam.
            let mut mirror = SnLenet5::new(cfg.clone(), 11).unwrap();
            dev.write_to(&mut mirror).unwrap();
            for ((name, want), (_, got)) in tape_model
                .store
                .named_tensors()
                .zip(mirror.store.named_tensors())
            {
                close(
                    &format!("step {step} value {name}"),
                    got.data(),
                    want.data(),
                    1e-5,
                );
            }
        }
        assert_eq!(dev.adam_step(), 5);
        let st = dev.adam_state(&tape_model).unwrap();
        for (i, (m, v)) in adam.state().m.iter().zip(&adam.state().v).enumerate() {
            close("adam m", st.m[i].data(), m.data(), 1e-4);
            close("adam v", st.v[i].data(), v.data(), 1e-4);
        }
    }
}

/// Scoring on the device equals the model's scoring (inference tapes, eval-mode BatchNorm),
/// in uneven chunks.
#[test]
fn device_score_matches_model_score() {
    let mut model = SnLenet5::new(ModelConfig::for_input(1, 28, 28), 3).unwrap();
    let rm = model.head.bn.running_mean;
    model.store.buffer_mut(rm).data_mut()[0] = 0.4;
    let (a, b) = (images(23, 1, 28, 1), images(23, 1, 28, 2));
    let want = model.score(&a, &b, 10).unwrap();
    let mut dev = DeviceModel::from_model(CpuBackend, &model, AdamConfig::default(), None).unwrap();
    let got = dev.score(&a, &b, 6).unwrap();
    close("score", &got, &want, 1e-5);
    assert!(
        want.iter().any(|&w| (w - want[0]).abs() > 1e-6),
        "scores vary"
    );
}

/// Other configurations get an error naming the supported one.
#[test]
fn unsupported_configurations_are_named() {
    let mut cfg = ModelConfig::for_input(1, 28, 28);
    cfg.pooling = Pooling::Avg;
    let e = check_supported(&cfg, LossKind::Bce)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--pool avg") && e.contains("--loss bce"), "{e}");
    assert!(e.contains(SUPPORTED), "{e}");
    let model = SnLenet5::new(cfg, 0).unwrap();
    assert!(DeviceModel::from_model(CpuBackend, &model, AdamConfig::default(), None).is_err());
    assert!(check_supported(
        &ModelConfig::for_input(3, 32, 32),
        LossKind::ContrastiveSigmoid
    )
    .is_ok());
}
