use super::*;
use crate::ops::testutil::{assert_close, numeric_grad, uniform};

const EPS: f32 = 1e-7;

/// Four 1-D embeddings at 0, 1, 1.5 and 4, classes 0, 0, 1, 1: D01 = 1, D02 = 1.5, D03 = 4,
/// D12 = 0.5, D13 = 3, D23 = 2.5.
fn line() -> (Vec<f32>, Vec<u32>) {
    (vec![0.0, 1.0, 1.5, 4.0], vec![0, 0, 1, 1])
}

#[test]
fn each_mining_chooses_what_its_rule_says_by_hand() {
    let (emb, classes) = line();
    let run = |mining| triplet_forward(4, 1, &emb, &classes, 1.0, mining, EPS).unwrap();
    // Batch-hard: per anchor the farthest positive, the nearest negative.
    // Hinges: 1 − 1.5 + 1, 1 − 0.5 + 1, 2.5 − 0.5 + 1, 2.5 − 3 + 1.
    let (l, t) = run(Mining::BatchHard);
    assert_eq!(t, vec![(0, 1, 2), (1, 0, 2), (2, 3, 1), (3, 2, 1)]);
    assert!((l - 1.375).abs() < 1e-6, "{l}");
    // Semi-hard: per positive pair the nearest negative beyond it; anchor 2 has none beyond
    // D23 = 2.5, so it takes its farthest negative (0, at 1.5).
    let (l, t) = run(Mining::SemiHard);
    assert_eq!(t, vec![(0, 1, 2), (1, 0, 3), (2, 3, 0), (3, 2, 1)]);
    assert!((l - 0.75).abs() < 1e-6, "{l}");
    // All: the eight valid triplets, hinges 0.5, 0, 1.5, 0, 2, 3, 0, 0.5.
    let (l, t) = run(Mining::All);
    assert_eq!(t.len(), 8);
    assert!((l - 0.9375).abs() < 1e-6, "{l}");
}

#[test]
fn mining_changes_what_is_trained_on_negative_control() {
    // On a random batch the three rules choose different triplets, so the gradients differ:
    // a rule that ignored `mining` (or fell back to every triplet) would fail here.
    let (m, e) = (12, 4);
    let emb = uniform(m * e, -1.0, 1.0, 3);
    let classes: Vec<u32> = (0..m as u32).map(|i| i % 3).collect();
    let grad = |mining| {
        let (_, t) = triplet_forward(m, e, &emb, &classes, 0.5, mining, EPS).unwrap();
        let mut g = vec![0.0; m * e];
        triplet_backward(m, e, &emb, &classes, &t, 0.5, EPS, 1.0, &mut g).unwrap();
        (t, g)
    };
    let (all, hard, semi) = (
        grad(Mining::All),
        grad(Mining::BatchHard),
        grad(Mining::SemiHard),
    );
    assert_eq!(
        all.0.len(),
        12 * 3 * 8,
        "every (a, p, n): 3 positives, 8 negatives"
    );
    assert_eq!(hard.0.len(), 12, "one per anchor");
    assert_eq!(semi.0.len(), 12 * 3, "one per positive pair");
    assert_ne!(hard.1, all.1);
    assert_ne!(semi.1, all.1);
    assert_ne!(hard.1, semi.1);
    // Batch-hard's triplet is, for every anchor, the hardest one that `all` contains.
    let d = distance_matrix(m, e, &emb, EPS);
    for &(a, p, n) in &hard.0 {
        let (a, p, n) = (a as usize, p as usize, n as usize);
        for &(_, p2, n2) in all.0.iter().filter(|t| t.0 as usize == a) {
            assert!(d[a * m + p2 as usize] <= d[a * m + p]);
            assert!(d[a * m + n2 as usize] >= d[a * m + n]);
        }
    }
}

#[test]
fn gradients_match_finite_differences_for_every_mining() {
    let (m, e) = (10, 3);
    let emb = uniform(m * e, -1.0, 1.0, 7);
    let classes = [0u32, 0, 0, 1, 1, 1, 2, 2, 3, 3];
    let dl = 0.8;
    for mining in [Mining::All, Mining::BatchHard, Mining::SemiHard] {
        // A margin that leaves some hinges open and some closed.
        let margin = 0.3;
        let (_, chosen) = triplet_forward(m, e, &emb, &classes, margin, mining, EPS).unwrap();
        let mut g = vec![0.0; m * e];
        triplet_backward(m, e, &emb, &classes, &chosen, margin, EPS, dl, &mut g).unwrap();
        let num = numeric_grad(&emb, 1e-3, |x| {
            dl as f64
                * triplet_forward(m, e, x, &classes, margin, mining, EPS)
                    .unwrap()
                    .0 as f64
        });
        assert_close(&format!("triplet {mining:?}"), &g, &num, 2e-2, 2e-3);
        assert!(
            g.iter().any(|&v| v != 0.0),
            "{mining:?}: some hinge is open"
        );
    }
}

#[test]
fn a_batch_without_triplets_costs_nothing_and_bad_shapes_are_errors() {
    // One class only: no negatives; all different classes: no positives.
    for classes in [[4u32, 4, 4], [0, 1, 2]] {
        for mining in [Mining::All, Mining::BatchHard, Mining::SemiHard] {
            let (l, t) = triplet_forward(3, 2, &[0.0; 6], &classes, 1.0, mining, EPS).unwrap();
            assert_eq!((l, t.len()), (0.0, 0));
        }
    }
    assert!(triplet_forward(3, 2, &[0.0; 5], &[0, 0, 1], 1.0, Mining::All, EPS).is_err());
    assert!(triplet_forward(0, 2, &[], &[], 1.0, Mining::All, EPS).is_err());
    let mut g = vec![0.0; 4];
    assert!(triplet_backward(3, 2, &[0.0; 6], &[0, 0, 1], &[], 1.0, EPS, 1.0, &mut g).is_err());
}

#[test]
fn identical_embeddings_get_no_nan_gradient() {
    // Every row at one point (the collapse): every distance is √ε, the hinge is m, and the
    // guard keeps the gradient at 0 instead of 0/0.
    let classes = [0u32, 0, 1, 1];
    let emb = [0.5f32; 8];
    let (l, t) = triplet_forward(4, 2, &emb, &classes, 1.0, Mining::BatchHard, EPS).unwrap();
    assert!((l - 1.0).abs() < 1e-6, "{l}");
    let mut g = vec![1.0; 8];
    triplet_backward(4, 2, &emb, &classes, &t, 1.0, EPS, 1.0, &mut g).unwrap();
    assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
}
