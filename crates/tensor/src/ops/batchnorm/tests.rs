use super::*;
use crate::ops::testutil::{assert_close, dot, numeric_grad, uniform};

const EPS: f32 = 1e-3;

/// y of a forward pass with fresh running statistics (mean 0.5, var 2), and the statistics after.
fn forward(
    n: usize, c: usize, x: &[f32], g: &[f32], b: &[f32], mode: BnMode,
) -> (Vec<f32>, [Vec<f32>; 4]) {
    let (mut rm, mut rv) = (vec![0.5; c], vec![2.0; c]);
    let (mut xhat, mut inv, mut y) = (vec![0.0; n * c], vec![0.0; c], vec![0.0; n * c]);
    batchnorm_forward(
        n, c, x, g, b, EPS, mode, &mut rm, &mut rv, &mut xhat, &mut inv, &mut y,
    )
    .unwrap();
    (y, [rm, rv, xhat, inv])
}

#[test]
fn training_forward_and_running_statistics_by_hand() {
    // One feature, x = (1, 3): μ = 2, σ² = 1, x̂ = ±1/√(1 + ε).
    let (y, [rm, rv, xhat, inv]) = forward(
        2,
        1,
        &[1.0, 3.0],
        &[2.0],
        &[0.5],
        BnMode::Train { momentum: 0.9 },
    );
    let s = 1.0 / (1.0 + EPS).sqrt();
    assert_close("x̂", &xhat, &[-s, s], 1e-6, 0.0);
    assert_close("inv_std", &inv, &[s], 1e-6, 0.0);
    assert_close("y", &y, &[0.5 - 2.0 * s, 0.5 + 2.0 * s], 1e-6, 0.0);
    // r ← 0.9·r + 0.1·batch
    assert_close("running mean", &rm, &[0.9 * 0.5 + 0.1 * 2.0], 1e-6, 0.0);
    assert_close("running var", &rv, &[0.9 * 2.0 + 0.1 * 1.0], 1e-6, 0.0);
}

#[test]
fn eval_forward_uses_the_running_statistics_unchanged() {
    let (y, [rm, rv, ..]) = forward(2, 1, &[1.0, 3.0], &[2.0], &[0.5], BnMode::Eval);
    let s = 1.0 / (2.0 + EPS).sqrt();
    assert_close(
        "y",
        &y,
        &[0.5 + 2.0 * (0.5 * s), 0.5 + 2.0 * (2.5 * s)],
        1e-6,
        0.0,
    );
    assert_eq!((rm[0], rv[0]), (0.5, 2.0));
}

/// Backward against central differences of forward in both modes, for x, γ and β.
#[test]
fn backward_matches_finite_differences() {
    let (n, c) = (6, 3);
    let x = uniform(n * c, -2.0, 2.0, 1);
    let g = uniform(c, 0.5, 1.5, 2);
    let b = uniform(c, -0.5, 0.5, 3);
    let up = uniform(n * c, -1.0, 1.0, 4);
    for mode in [BnMode::Train { momentum: 0.99 }, BnMode::Eval] {
        let train = mode != BnMode::Eval;
        let (_, [_, _, xhat, inv]) = forward(n, c, &x, &g, &b, mode);
        let (mut dx, mut dg, mut db) = (vec![0.0; n * c], vec![0.0; c], vec![0.0; c]);
        batchnorm_backward(
            n,
            c,
            &up,
            &xhat,
            &inv,
            &g,
            train,
            Some(&mut dx),
            &mut dg,
            &mut db,
        )
        .unwrap();
        let loss = |x: &[f32], g: &[f32], b: &[f32]| dot(&up, &forward(n, c, x, g, b, mode).0);
        assert_close(
            "dx",
            &dx,
            &numeric_grad(&x, 1e-2, |v| loss(v, &g, &b)),
            1e-2,
            1e-3,
        );
        assert_close(
            "dγ",
            &dg,
            &numeric_grad(&g, 1e-2, |v| loss(&x, v, &b)),
            1e-2,
            1e-3,
        );
        assert_close(
            "dβ",
            &db,
            &numeric_grad(&b, 1e-2, |v| loss(&x, &g, v)),
            1e-2,
            1e-3,
        );
    }
}

#[test]
fn bad_sizes_and_empty_training_batch_are_errors() {
    let (mut rm, mut rv, mut inv) = ([0.0], [1.0], [0.0]);
    let e = batchnorm_forward(
        0,
        1,
        &[],
        &[1.0],
        &[0.0],
        EPS,
        BnMode::Train { momentum: 0.9 },
        &mut rm,
        &mut rv,
        &mut [],
        &mut inv,
        &mut [],
    )
    .unwrap_err();
    assert!(e.to_string().contains("needs a batch"), "{e}");
    let e = batchnorm_backward(
        2,
        1,
        &[0.0; 2],
        &[0.0; 3],
        &[1.0],
        &[1.0],
        true,
        None,
        &mut [0.0],
        &mut [0.0],
    )
    .unwrap_err();
    assert!(e.to_string().contains("x̂"), "{e}");
}
