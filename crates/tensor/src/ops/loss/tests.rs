use super::*;
use crate::ops::testutil::{assert_close, numeric_grad, uniform};

#[test]
fn contrastive_hand_values() {
    // s = (0.9, 0.3), y = (1, 0): Similarity ((1 − 0.9)² + 0.3²)/2 = 0.05;
    // D = (0.2, 0.4): Distance (0.2² + (1 − 0.4)²)/2 = 0.2; D ≥ margin pays nothing.
    let s =
        contrastive_forward(&[0.9, 0.3], &[1.0, 0.0], 1.0, ContrastiveReads::Similarity).unwrap();
    assert!((s - 0.05).abs() < 1e-7, "{s}");
    let d = contrastive_forward(&[0.2, 0.4], &[1.0, 0.0], 1.0, ContrastiveReads::Distance).unwrap();
    assert!((d - 0.2).abs() < 1e-7, "{d}");
    let far = contrastive_forward(&[1.5], &[0.0], 1.0, ContrastiveReads::Distance).unwrap();
    assert_eq!(far, 0.0);
}

#[test]
fn gradients_match_finite_differences() {
    let n = 9;
    let v = uniform(n, 0.05, 0.95, 1);
    let y: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let dl = 0.7;
    for reads in [ContrastiveReads::Similarity, ContrastiveReads::Distance] {
        let mut g = vec![0.0; n];
        contrastive_backward(&v, &y, 0.8, reads, dl, &mut g).unwrap();
        let num = numeric_grad(&v, 1e-3, |x| {
            dl as f64 * contrastive_forward(x, &y, 0.8, reads).unwrap() as f64
        });
        assert_close("contrastive dv", &g, &num, 1e-2, 1e-3);
    }
    let mut g = vec![0.0; n];
    bce_backward(&v, &y, 1e-7, dl, &mut g).unwrap();
    let num = numeric_grad(&v, 1e-3, |x| {
        dl as f64 * bce_forward(x, &y, 1e-7).unwrap() as f64
    });
    assert_close("bce dp", &g, &num, 1e-2, 1e-3);
    let (rows, k) = (3, 4);
    let z = uniform(rows * k, -3.0, 3.0, 2);
    let labels = [0u32, 3, 1];
    let mut probs = vec![0.0; rows * k];
    softmax_ce_forward(rows, k, &z, &labels, &mut probs).unwrap();
    let mut dz = vec![0.0; rows * k];
    softmax_ce_backward(rows, k, &probs, &labels, dl, &mut dz).unwrap();
    let num = numeric_grad(&z, 1e-2, |x| {
        let mut p = vec![0.0; rows * k];
        dl as f64 * softmax_ce_forward(rows, k, x, &labels, &mut p).unwrap() as f64
    });
    assert_close("softmax dz", &dz, &num, 1e-2, 1e-3);
}

#[test]
fn bce_and_softmax_hand_values_and_stability() {
    // −ln 0.8 for a confident right answer; clipping keeps p = 0 finite.
    let l = bce_forward(&[0.8], &[1.0], 1e-7).unwrap();
    assert!((l - (-(0.8f32).ln())).abs() < 1e-6, "{l}");
    assert!(bce_forward(&[0.0], &[1.0], 1e-7).unwrap().is_finite());
    let mut g = [9.0];
    bce_backward(&[0.0], &[1.0], 1e-7, 1.0, &mut g).unwrap();
    assert_eq!(g, [0.0], "clipped: no gradient");
    // Equal logits: ln K; huge logits do not overflow.
    let mut p = [0.0; 4];
    let l = softmax_ce_forward(1, 4, &[0.0; 4], &[2], &mut p).unwrap();
    assert!((l - 4f32.ln()).abs() < 1e-6, "{l}");
    let l = softmax_ce_forward(1, 2, &[1000.0, 0.0], &[0], &mut [0.0; 2]).unwrap();
    assert!(l.is_finite() && l.abs() < 1e-6, "{l}");
}

#[test]
fn bad_labels_and_lengths_are_errors() {
    let e = contrastive_forward(&[0.5], &[2.0], 1.0, ContrastiveReads::Similarity).unwrap_err();
    assert!(e.to_string().contains("outside [0, 1]"), "{e}");
    assert!(contrastive_forward(&[0.5, 0.1], &[1.0], 1.0, ContrastiveReads::Similarity).is_err());
    assert!(bce_backward(&[0.5], &[1.0], 1e-7, 1.0, &mut [0.0; 2]).is_err());
    let e = softmax_ce_forward(1, 2, &[0.0; 2], &[2], &mut [0.0; 2]).unwrap_err();
    assert!(e.to_string().contains("not below"), "{e}");
}

#[test]
fn softmax_rows_hand_values_and_shape_errors() {
    // Row (0, ln 3) → (1/4, 3/4); a shift of the row changes nothing; the rows are independent.
    let z = [0.0, 3f32.ln(), 100.0, 100.0 + 3f32.ln()];
    // (100 + ln 3 rounds in f32: a looser tolerance for the shifted row.)
    let mut p = [0.0; 4];
    softmax_forward(2, 2, &z, &mut p).unwrap();
    assert_close("softmax", &p, &[0.25, 0.75, 0.25, 0.75], 1e-4, 1e-5);
    assert!(softmax_forward(2, 2, &z, &mut [0.0; 3]).is_err());
    assert!(softmax_forward(0, 2, &[], &mut []).is_err());
}
