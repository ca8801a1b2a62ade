//! The device step of SN-LeNet-5 on a device backend against the same step on the CPU
//! backend, re-synced before every step: the device model is built afresh from the CPU
//! model's parameters, running statistics and Adam moments, so each step is judged from
//! identical state and errors cannot compound over steps.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use siamese_model::device_step::DeviceModel;
use siamese_model::siamese::stack_pairs;
use siamese_model::{ModelConfig, SnLenet5};
use siamese_optim::AdamConfig;
use siamese_tensor::backend::{AdamHyper, BResult, Backend};
use siamese_tensor::ops::adam::adam_update;
use siamese_tensor::{CpuBackend, Tensor};

use super::cases::delta;
use super::{compare, Tol, ADAM_DELTA};

/// The loss, the similarities, the running statistics and the scores: the whole forward
/// (convolutions as f32 sums in another order, tanh, the distance, BatchNorm, sigmoid) on
/// both sides; each stage keeps a few ulp, and BatchNorm divides the distances' spread by
/// its standard deviation, so 1e-4 of the largest value.
const FORWARD: Tol = Tol::Rel(1e-4);
/// The parameter gradients: the forward's differences carried back through every layer and
/// summed over the batch, where a last-bit difference can also flip a max-pool choice or a
/// ReLU mask near a tie and move a few values by a whole term. So 1e-3 in norm (‖Δ‖₂ over
/// ‖g‖₂: a 1% error in one value of a tensor is still seen) and 2e-2 of the largest value per
/// element. `tests/mutation.rs` measures the margin: 16 ulps of noise on every value of every
/// op pass, 32 fail conv1's gradient, where elementwise 1e-3 failed at 8.
const GRADIENT: Tol = Tol::Norm {
    norm: 1e-3,
    elem: 2e-2,
};
/// The output module's four one-value gradients (γ, β, w, b) are each a sum over the batch of
/// terms of both signs: the sum can be far below its terms (the terms are about 2/N·¼ of the
/// loss gradient, N = 64: ~1e-2), so "relative to its own value" is no scale; an absolute
/// floor of 1e-5 (1e-3 of a term) covers the forward's differences summed N times.
const HEAD_GRADIENT: Tol = Tol::Floor {
    rel: 1e-3,
    abs: 1e-5,
};

/// The tolerance of a delta after − before of a stored tensor (θ, m or v) in the device
/// step: Δ is a cancelling difference of two stored f32 values, and a correct device that
/// rounds the update one way where the CPU rounds the other moves Δ by an ulp of the stored
/// value (3e-8 at |θ| = 0.3, 3% of Adam's 1e-3 step), however right its update. So beside
/// ADAM_DELTA's 1e-5 of the largest delta, a floor of 4 ulps (4·2⁻²³) of the largest stored
/// value; a 1% error in the step (1e-5) stays 40 times above it at |θ| ≤ 0.5.
fn stored_delta(before: &[f32], after: &[f32]) -> Tol {
    let Tol::Rel(rel) = ADAM_DELTA else {
        unreachable!("ADAM_DELTA is relative")
    };
    let top = before.iter().chain(after).fold(0f32, |m, v| m.max(v.abs()));
    Tol::Floor {
        rel,
        abs: 4.0 * f32::EPSILON * top,
    }
}

fn e2s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn images(rng: &mut ChaCha8Rng, n: usize, c: usize, side: usize) -> Tensor {
    Tensor::from_vec(
        &[n, c, side, side],
        (0..n * c * side * side)
            .map(|_| rng.gen_range(0.0..1.0))
            .collect(),
    )
    .expect("n·c·side² values")
}

/// Parameters, running statistics and Adam's state of a device model, on the host.
struct Snapshot {
    model: SnLenet5,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

fn snapshot<B: Backend>(dm: &DeviceModel<B>, like: &SnLenet5) -> Result<Snapshot, String> {
    let mut model = SnLenet5::new(like.config.clone(), 0).map_err(e2s)?;
    dm.write_to(&mut model).map_err(e2s)?;
    let st = dm.adam_state(&model).map_err(e2s)?;
    let take = |t: &[Tensor]| t.iter().map(|t| t.data().to_vec()).collect::<Vec<_>>();
    let zeros = || {
        model
            .store
            .params()
            .map(|(_, p)| vec![0.0; p.len()])
            .collect()
    };
    let (m, v) = if st.step == 0 {
        (zeros(), zeros())
    } else {
        (take(&st.m), take(&st.v))
    };
    Ok(Snapshot { model, m, v })
}

fn params(model: &SnLenet5) -> Vec<(String, Vec<f32>)> {
    model
        .store
        .params()
        .map(|(n, t)| (n.to_string(), t.data().to_vec()))
        .collect()
}

/// `steps` training steps per geometry (channels, side, pairs) on the device backend `make()`
/// gives and on the CPU backend, then scoring 300 pairs; the largest difference seen.
///
/// Per step: loss, similarities (FORWARD), gradients (GRADIENT, HEAD_GRADIENT for the output
/// module's one-value tensors), the running statistics after the step (FORWARD), and the
/// update: the device's Δθ, Δm, Δv against Adam (the CPU's one home) applied to the device's
/// own gradients from the same state (ADAM_DELTA), which judges the update kernel without
/// amplifying the gradients' differences (Adam's first steps move θ by ±lr whatever |g| is).
pub fn device_step<D: Backend>(
    make: &dyn Fn() -> BResult<D>, seed: u64, geoms: &[(usize, usize, usize)], steps: usize,
) -> Result<f32, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut max = 0f32;
    let mut check = |what: &str, d: &[f32], c: &[f32], tol: Tol| -> Result<(), String> {
        max = max.max(compare(what, d, c, tol)?);
        Ok(())
    };
    let adam = AdamConfig::default();
    let lr = siamese_model::run::PAPER_LR;
    for &(c, side, pairs) in geoms {
        let model = SnLenet5::new(ModelConfig::for_input(c, side, side), seed).map_err(e2s)?;
        let mut cd = DeviceModel::from_model(CpuBackend, &model, adam, None).map_err(e2s)?;
        let hd = &model.head;
        let head = [hd.bn.gamma, hd.bn.beta, hd.fc.weight, hd.fc.bias].map(|id| id.index());
        for step in 0..steps {
            let what = format!("{c}x{side} step {step}");
            let before = snapshot(&cd, &model)?;
            let state = cd.adam_state(&before.model).map_err(e2s)?;
            let mut gd =
                DeviceModel::from_model(make().map_err(e2s)?, &before.model, adam, Some(&state))
                    .map_err(e2s)?;
            let (a, b) = (
                images(&mut rng, pairs, c, side),
                images(&mut rng, pairs, c, side),
            );
            let stacked = stack_pairs(&a, &b).map_err(e2s)?;
            let y: Vec<f32> = (0..pairs).map(|i| ((i + step) % 2) as f32).collect();
            let (lg, sg) = gd.train_step(&stacked, &y, lr).map_err(e2s)?;
            let (lc, sc) = cd.train_step(&stacked, &y, lr).map_err(e2s)?;
            check(&format!("{what} loss"), &[lg], &[lc], FORWARD)?;
            check(&format!("{what} similarity"), &sg, &sc, FORWARD)?;
            let (gg, gc) = (gd.grads().map_err(e2s)?, cd.grads().map_err(e2s)?);
            for (i, (x, y)) in gg.iter().zip(&gc).enumerate() {
                let tol = if head.contains(&i) {
                    HEAD_GRADIENT
                } else {
                    GRADIENT
                };
                check(&format!("{what} grad {i}"), x, y, tol)?;
            }
            let (after_d, after_c) = (snapshot(&gd, &model)?, snapshot(&cd, &model)?);
            for (name, bufs) in [("running mean", 0), ("running var", 1)] {
                let bn = &model.head.bn;
                let id = [bn.running_mean, bn.running_var][bufs];
                let (d, c) = (
                    after_d.model.store.buffer(id),
                    after_c.model.store.buffer(id),
                );
                check(&format!("{what} {name}"), d.data(), c.data(), FORWARD)?;
            }
            let h = AdamHyper::at_step(lr, adam.beta1, adam.beta2, adam.eps, step as u64 + 1);
            let (p0, pd) = (params(&before.model), params(&after_d.model));
            for (i, ((name, th0), (_, thd))) in p0.iter().zip(&pd).enumerate() {
                let (mut th, mut m, mut v) =
                    (th0.clone(), before.m[i].clone(), before.v[i].clone());
                adam_update(&h, &mut th, &gg[i], &mut m, &mut v).map_err(e2s)?;
                let w = format!("{what} {name}");
                let tol = stored_delta(th0, &th);
                check(&format!("{w} Δθ"), &delta(thd, th0), &delta(&th, th0), tol)?;
                for (x, dev, cpu, b) in [
                    ("m", &after_d.m[i], &m, &before.m[i]),
                    ("v", &after_d.v[i], &v, &before.v[i]),
                ] {
                    let tol = stored_delta(b, cpu);
                    check(&format!("{w} Δ{x}"), &delta(dev, b), &delta(cpu, b), tol)?;
                }
            }
        }
        let synced = snapshot(&cd, &model)?;
        let mut gd = DeviceModel::from_model(make().map_err(e2s)?, &synced.model, adam, None)
            .map_err(e2s)?;
        let (a, b) = (
            images(&mut rng, 300, c, side),
            images(&mut rng, 300, c, side),
        );
        let sg = gd.score(&a, &b, 128).map_err(e2s)?;
        let sc = cd.score(&a, &b, 128).map_err(e2s)?;
        check(&format!("{c}x{side} scores"), &sg, &sc, FORWARD)?;
    }
    Ok(max)
}
