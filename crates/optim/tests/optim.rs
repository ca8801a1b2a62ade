//! Adam against hand-computed steps and a quadratic it must minimise; exact resume from its
//! state; SGD with momentum by hand; the schedules' formulas.

use siamese_autodiff::{ParamId, ParamStore, Tape};
use siamese_optim::*;
use siamese_tensor::Tensor;

fn one_param(v: &[f32]) -> (ParamStore, ParamId) {
    let mut s = ParamStore::new();
    let id = s
        .add_param("theta", Tensor::from_vec(&[v.len()], v.to_vec()).unwrap())
        .unwrap();
    (s, id)
}

/// θ₀ = 1, gradients 1, −2, 0.5, defaults (α = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8).
/// By hand (f64):
///   t=1: m = 0.1,    v = 0.001,     m̂ = 1,        v̂ = 1,        θ = 0.99900000001
///   t=2: m = −0.11,  v = 0.004999,  m̂ = −0.11/0.19 = −0.578947, v̂ = 0.004999/0.001999 =
///        2.500750,  θ = 0.999 + 0.001·0.578947/1.581376 = 0.9993661035
///   t=3: m = −0.049, v = 0.005244001, m̂ = −0.049/0.271 = −0.180812,
///        v̂ = 0.005244001/0.002997001 = 1.749749, θ = 0.9995027942
#[test]
fn adam_matches_hand_computed_steps() {
    let (mut s, id) = one_param(&[1.0]);
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    let lr = 1e-3;
    let want = [0.99900000001f64, 0.9993661035347208, 0.9995027941967383];
    for (g, w) in [1.0f32, -2.0, 0.5].into_iter().zip(want) {
        s.grad_mut(id).data_mut()[0] = g;
        adam.step(&mut s, lr).unwrap();
        let got = s.value(id).data()[0] as f64;
        assert!((got - w).abs() < 2e-7, "{got} vs {w}");
    }
    let st = adam.state();
    assert_eq!(st.step, 3);
    assert!((st.m[0].data()[0] as f64 + 0.049).abs() < 1e-7);
    // f32 holds 1 − β₂ as 0.00100005, a relative error of 5e-5 on v
    assert!((st.v[0].data()[0] as f64 / 0.005244001 - 1.0).abs() < 1e-4);
}

/// Without bias correction the first step would be α·0.1/√0.001 ≈ 3.16α; with it, exactly α
/// per coordinate whatever the gradient's scale.
#[test]
fn adam_first_step_is_lr_times_sign() {
    let (mut s, id) = one_param(&[0.0, 0.0, 0.0]);
    s.grad_mut(id)
        .data_mut()
        .copy_from_slice(&[1e-3, -50.0, 7.0]);
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    adam.step(&mut s, 0.01).unwrap();
    for (got, want) in s.value(id).data().iter().zip([-0.01f32, 0.01, -0.01]) {
        assert!((got - want).abs() < 1e-6, "{got}");
    }
}

/// f(θ) = ½ Σ aᵢ(θᵢ − cᵢ)², minimum at θ = c, built on the tape (so autodiff supplies ∇f).
/// Adam with a cosine schedule must land on c.
#[test]
fn adam_minimises_a_quadratic() {
    let c = Tensor::from_vec(&[4], vec![3.0, -1.0, 0.5, 10.0]).unwrap();
    let a = Tensor::from_vec(&[4], vec![1.0, 10.0, 0.1, 2.0]).unwrap();
    let (mut s, id) = one_param(&[0.0, 0.0, 0.0, 0.0]);
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    let steps = 3000;
    let sched = LrSchedule::Cosine {
        lr: 0.1,
        min_lr: 0.0,
        total: steps,
    };
    for t in 0..steps {
        s.zero_grads();
        let mut tape = Tape::new();
        let th = tape.param(&s, id).unwrap();
        let cv = tape.input(c.clone());
        let av = tape.input(a.clone());
        let d = tape.sub(th, cv).unwrap();
        let d2 = tape.square(d).unwrap();
        let w = tape.mul(av, d2).unwrap();
        let sum = tape.sum(w).unwrap();
        let f = tape.scale(sum, 0.5).unwrap();
        tape.backward(f, &mut s).unwrap();
        drop(tape);
        adam.step(&mut s, sched.at(t)).unwrap();
    }
    let got = s.value(id);
    assert!(got.max_abs_diff(&c) < 1e-3, "{:?}", got.data());
}

fn run(adam: &mut Adam, s: &mut ParamStore, id: ParamId, from: usize, to: usize) {
    for t in from..to {
        // a deterministic, varying gradient: g = θ − sin(t)
        let th: Vec<f32> = s.value(id).data().to_vec();
        let g = s.grad_mut(id);
        for (i, (gv, x)) in g.data_mut().iter_mut().zip(th).enumerate() {
            *gv = x - ((t + i) as f32).sin();
        }
        adam.step(s, 1e-3).unwrap();
    }
}

#[test]
fn adam_resumes_bit_exactly_from_its_state() {
    let (mut s, id) = one_param(&[0.3, -0.2]);
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    run(&mut adam, &mut s, id, 0, 5);
    let (saved_store, saved_state) = (s.clone(), adam.state().clone());
    run(&mut adam, &mut s, id, 5, 10);
    // Resume: a new optimizer, the saved parameters and state.
    let mut s2 = ParamStore::new();
    let id2 = s2
        .add_param("theta", saved_store.value(id).clone())
        .unwrap();
    let mut adam2 = Adam::new(AdamConfig::default()).unwrap();
    adam2.set_state(saved_state, &s2).unwrap();
    run(&mut adam2, &mut s2, id2, 5, 10);
    assert_eq!(s.value(id).data(), s2.value(id2).data());
    assert_eq!(adam.state(), adam2.state());
    // A state for other shapes is refused.
    let (s3, _) = one_param(&[1.0, 2.0, 3.0]);
    let bad = adam.state().clone();
    assert!(matches!(
        Adam::new(AdamConfig::default())
            .unwrap()
            .set_state(bad, &s3),
        Err(OptimError::StateMismatch(_))
    ));
    assert!(Adam::new(AdamConfig {
        beta1: 1.0,
        ..Default::default()
    })
    .is_err());
}

/// u₁ = g₁ = 1 → θ = 1 − 0.1·1 = 0.9; u₂ = 0.5·1 + 2 = 2.5 → θ = 0.9 − 0.25 = 0.65;
/// u₃ = 0.5·2.5 − 1 = 0.25 → θ = 0.65 − 0.025 = 0.625.
#[test]
fn sgd_momentum_by_hand() {
    let (mut s, id) = one_param(&[1.0]);
    let mut sgd = Sgd::new(0.5).unwrap();
    for (g, want) in [(1.0f32, 0.9f32), (2.0, 0.65), (-1.0, 0.625)] {
        s.grad_mut(id).data_mut()[0] = g;
        Optimizer::step(&mut sgd, &mut s, 0.1).unwrap();
        assert!((s.value(id).data()[0] - want).abs() < 1e-6);
    }
    assert!(Sgd::new(1.0).is_err());
    // The step's learning rate is checked where it arrives.
    assert!(sgd.step(&mut s, f32::NAN).is_err());
    assert!(Adam::new(AdamConfig::default())
        .unwrap()
        .step(&mut s, -1.0)
        .is_err());
}

#[test]
fn schedules() {
    assert_eq!(LrSchedule::Constant { lr: 0.1 }.at(1000), 0.1);
    let cos = LrSchedule::Cosine {
        lr: 1.0,
        min_lr: 0.1,
        total: 100,
    };
    assert!((cos.at(0) - 1.0).abs() < 1e-7);
    assert!((cos.at(50) - 0.55).abs() < 1e-6);
    assert!((cos.at(100) - 0.1).abs() < 1e-7 && (cos.at(500) - 0.1).abs() < 1e-7);
}
