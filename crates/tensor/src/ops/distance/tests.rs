use super::*;
use crate::ops::testutil::{assert_close, dot, numeric_grad, uniform};

const EPS: f32 = 1e-7;

#[test]
fn euclidean_hand_values_and_guard() {
    // d((0,0),(3,4)) = 5; identical rows sit in the guard: √ε, zero gradient.
    let (a, b) = ([0.0, 0.0, 1.0, 2.0], [3.0, 4.0, 1.0, 2.0]);
    let mut d = [0.0; 2];
    euclidean_forward(2, 2, &a, &b, EPS, &mut d).unwrap();
    assert_eq!(d[0], 5.0);
    assert!((d[1] - EPS.sqrt()).abs() < 1e-9, "{}", d[1]);
    let (mut da, mut db) = ([9.0; 4], [9.0; 4]);
    euclidean_backward(2, 2, &a, &b, &d, &[1.0, 1.0], EPS, &mut da, &mut db).unwrap();
    assert_eq!(da, [-0.6, -0.8, 0.0, 0.0]);
    assert_eq!(db, [0.6, 0.8, 0.0, 0.0]);
}

#[test]
fn cosine_hand_values() {
    // Parallel, orthogonal and opposite pairs.
    let a = [1.0, 0.0, 1.0, 0.0, 2.0, 2.0];
    let b = [3.0, 0.0, 0.0, 5.0, -1.0, -1.0];
    let mut c = [0.0; 3];
    cosine_forward(3, 2, &a, &b, EPS, &mut c).unwrap();
    assert_close("cosine", &c, &[1.0, 0.0, -1.0], 1e-6, 1e-7);
}

/// A forward of the module: (n, e, a, b, ε, out).
type Forward = fn(usize, usize, &[f32], &[f32], f32, &mut [f32]) -> Result<()>;
/// A backward given (a, b, forward output, upstream gradient, da, db).
type Backward<'a> = &'a dyn Fn(&[f32], &[f32], &[f32], &[f32], &mut [f32], &mut [f32]);

/// Backward against central differences of forward, weighted by a random upstream dd.
fn fd_check(fwd: Forward, bwd: Backward<'_>) {
    let (n, e) = (5, 7);
    let (a, b) = (uniform(n * e, -1.0, 1.0, 1), uniform(n * e, -1.0, 1.0, 2));
    let up = uniform(n, -1.0, 1.0, 3);
    let mut out = vec![0.0; n];
    fwd(n, e, &a, &b, EPS, &mut out).unwrap();
    let (mut da, mut db) = (vec![0.0; n * e], vec![0.0; n * e]);
    bwd(&a, &b, &out, &up, &mut da, &mut db);
    let loss = |a: &[f32], b: &[f32]| {
        let mut o = vec![0.0; n];
        fwd(n, e, a, b, EPS, &mut o).unwrap();
        dot(&up, &o)
    };
    let na = numeric_grad(&a, 1e-2, |x| loss(x, &b));
    let nb = numeric_grad(&b, 1e-2, |x| loss(&a, x));
    assert_close("da", &da, &na, 1e-2, 1e-3);
    assert_close("db", &db, &nb, 1e-2, 1e-3);
}

#[test]
fn euclidean_backward_matches_finite_differences() {
    fd_check(euclidean_forward, &|a, b, d, up, da, db| {
        euclidean_backward(5, 7, a, b, d, up, EPS, da, db).unwrap()
    });
}

#[test]
fn cosine_backward_matches_finite_differences() {
    fd_check(cosine_forward, &|a, b, _c, up, da, db| {
        cosine_backward(5, 7, a, b, up, EPS, da, db).unwrap()
    });
}

#[test]
fn wrong_lengths_are_errors() {
    let mut d = [0.0; 2];
    let e = euclidean_forward(2, 3, &[0.0; 6], &[0.0; 5], EPS, &mut d).unwrap_err();
    assert!(e.to_string().contains("euclidean_forward"), "{e}");
    assert!(cosine_forward(2, 3, &[0.0; 6], &[0.0; 6], EPS, &mut [0.0; 3]).is_err());
}

#[test]
fn unit_rows_hand_values_fd_and_guard() {
    // (3, 4) → (0.6, 0.8); a zero row stays zero (guard), with gradient dy/√ε.
    let mut y = [0.0; 4];
    unit_rows_forward(2, 2, &[3.0, 4.0, 0.0, 0.0], EPS, &mut y).unwrap();
    assert_close("unit rows", &y, &[0.6, 0.8, 0.0, 0.0], 1e-6, 1e-7);
    let mut dx = [0.0; 4];
    unit_rows_backward(
        2,
        2,
        &[3.0, 4.0, 0.0, 0.0],
        &[0.0, 0.0, 1.0, 0.0],
        EPS,
        &mut dx,
    )
    .unwrap();
    assert_close("guarded dx", &dx[2..], &[1.0 / EPS.sqrt(), 0.0], 1e-5, 1e-3);
    // Backward against central differences, weighted by a random upstream dy.
    let (n, e) = (4, 5);
    let x = uniform(n * e, -1.0, 1.0, 4);
    let up = uniform(n * e, -1.0, 1.0, 5);
    let mut g = vec![0.0; n * e];
    unit_rows_backward(n, e, &x, &up, EPS, &mut g).unwrap();
    let num = numeric_grad(&x, 1e-3, |x| {
        let mut y = vec![0.0; n * e];
        unit_rows_forward(n, e, x, EPS, &mut y).unwrap();
        dot(&up, &y)
    });
    assert_close("unit rows dx", &g, &num, 1e-2, 1e-3);
    assert!(unit_rows_forward(2, 2, &[0.0; 4], EPS, &mut [0.0; 3]).is_err());
}
