use super::*;
use siamese_model::config::ModelConfig;
use siamese_model::metrics::accuracy;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn softmax_sums_to_one_and_ignores_a_shift() {
    let p = softmax(&[1.0, 2.0, 3.0]);
    let e = [1f64.exp(), 2f64.exp(), 3f64.exp()];
    let s: f64 = e.iter().sum();
    for (g, w) in p.iter().zip(e) {
        assert!(close(*g as f64, w / s, 1e-6), "{g} vs {}", w / s);
    }
    // No overflow for large logits: the same probabilities.
    assert_eq!(softmax(&[1001.0, 1002.0, 1003.0]), p);
}

/// Hand-made probabilities: Σ_c p_a(c)·p_b(c), and the hard rule on the argmax.
#[test]
fn both_rules_on_hand_made_probabilities() {
    let a = [0.5, 0.5, 0.0];
    let b = [0.5, 0.0, 0.5];
    assert_eq!(same_class_probability(&a, &b), 0.25);
    assert_eq!(same_class_probability(&[0.0, 1.0], &[0.0, 1.0]), 1.0);
    assert_eq!(same_class_probability(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
    let (c, d) = ([0.2, 0.7, 0.1], [0.1, 0.6, 0.3]);
    assert!(close(
        same_class_probability(&c, &d) as f64,
        0.02 + 0.42 + 0.03,
        1e-6
    ));
    let hard = VerifierRule::SamePredictedClass;
    assert_eq!(pair_similarity(hard, &c, &d), 1.0);
    assert_eq!(pair_similarity(hard, &c, &[0.5, 0.1, 0.4]), 0.0);
    // Two unsure images of one class: the soft rule says "different" at 0.5 (0.47), the hard
    // rule "same".
    assert!(pair_similarity(VerifierRule::SameClassProbability, &c, &d) < 0.5);
}

/// The even-error formula against the brute-force sum over both images' predictions of the
/// confusion matrix it assumes (a on the diagonal, (1 − a)/(k − 1) elsewhere).
#[test]
fn even_error_formula_matches_the_sum_over_predictions() {
    for (a, k) in [(0.5926, 10), (0.9, 10), (0.3, 4), (0.75, 3)] {
        let w = (1.0 - a) / (k as f64 - 1.0);
        let p = |true_class: usize, pred: usize| if true_class == pred { a } else { w };
        let same_prob = |i: usize, j: usize| (0..k).map(|c| p(i, c) * p(j, c)).sum::<f64>();
        let want = 0.5 * (same_prob(0, 0) + 1.0 - same_prob(0, 1));
        let got = even_error_pair_accuracy(a, k);
        assert!(close(got, want, 1e-12), "a {a} k {k}: {got} vs {want}");
    }
    assert!(close(even_error_pair_accuracy(1.0, 10), 1.0, 1e-12));
    assert!(close(even_error_pair_accuracy(0.1, 10), 0.5, 1e-12));
    for target in [0.5, 0.65, 0.8164, 0.99] {
        let a = even_error_accuracy_for(target, 10).unwrap();
        assert!(close(even_error_pair_accuracy(a, 10), target, 1e-9));
    }
    assert_eq!(even_error_accuracy_for(0.4, 10), None);
}

/// The verifier's own pair path (each image classified once) gives the similarities of the
/// default path (both images of every pair through `similarities`), and those are the rule
/// applied to the softmax of the classifier's logits.
#[test]
fn verifier_scores_pairs_from_the_logits() {
    let (_, data) = siamese_model::testing::tiny_run(1);
    let model = Lenet5Classifier::new(ModelConfig::for_input(1, 28, 28), 10, 3).unwrap();
    let pairs = data.test_pairs.clone();
    for rule in [
        VerifierRule::SameClassProbability,
        VerifierRule::SamePredictedClass,
    ] {
        let mut v = Verifier {
            model: &model,
            rule,
        };
        let fast = v.pair_similarities(&data.test, &pairs, 7).unwrap();
        let ia: Vec<u32> = pairs.iter().map(|p| p.a).collect();
        let ib: Vec<u32> = pairs.iter().map(|p| p.b).collect();
        let (xa, xb) = (
            images_tensor(&data.test, &ia).unwrap(),
            images_tensor(&data.test, &ib).unwrap(),
        );
        assert_eq!(fast, v.similarities(&xa, &xb, 5).unwrap());
        let (za, zb) = (model.logits(&xa, 9).unwrap(), model.logits(&xb, 9).unwrap());
        let want: Vec<f32> = za
            .chunks(10)
            .zip(zb.chunks(10))
            .map(|(x, y)| pair_similarity(rule, &softmax(x), &softmax(y)))
            .collect();
        assert_eq!(fast, want);
    }
}

/// A classifier that learnt the tiny set is a good verifier, by both rules; the evaluation
/// scores the run's test pairs by the rule it names.
#[test]
fn a_trained_classifier_verifies_pairs() {
    let (mut cfg, data) = siamese_model::testing::tiny_run(6);
    cfg.batch = 8;
    let (mut model, _) =
        crate::baseline::train_baseline(&cfg, &data, None, &mut crate::train::Silent).unwrap();
    let e = model.evaluate(&data, None).unwrap();
    let v = &e.verifier;
    assert!(e.accuracy >= 0.9, "test accuracy {}", e.accuracy);
    assert_eq!(v.same_predicted_class.pairs, data.test_pairs.len());
    assert!(v.same_predicted_class.accuracy_at_half >= 0.85, "{v:?}");
    assert!(
        v.same_class_probability.accuracy_at_threshold >= 0.85,
        "{v:?}"
    );
    assert!(v.same_class_probability.roc_auc.unwrap() >= 0.9, "{v:?}");
    let fresh = Lenet5Classifier::new(cfg.model.clone(), 10, 5).unwrap();
    let u = evaluate_verifier(&fresh, &data, 0.1, 64).unwrap();
    let (s, y) = siamese_model::score::score_pairs(
        &mut Verifier {
            model: &fresh,
            rule: VerifierRule::SameClassProbability,
        },
        &data.test,
        &data.test_pairs,
        64,
    )
    .unwrap();
    assert_eq!(
        u.same_class_probability.accuracy_at_half,
        accuracy(&s, &y, 0.5)
    );
}
