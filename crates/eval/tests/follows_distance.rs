//! Retrieval, the k-NN vote and one-shot prototypes follow the distance a model was trained
//! with: on embeddings of very different norms, where the Euclidean and the cosine orders
//! disagree, a cosine model gets the cosine answer (and a Euclidean model the Euclidean one,
//! so the case does tell them apart).

use siamese_eval::knn::knn_predict;
use siamese_eval::oneshot::predict_prototype;
use siamese_eval::retrieval::{knn_search, retrieval_metrics};
use siamese_model::config::Distance;

/// The query (1, 0), of class 0; gallery row 0 = (10, 0.5), class 0, far away but in the
/// query's direction (Euclidean 9.01, cosine distance 0.0012); row 1 = (0.2, 0.6), class 1,
/// near but off at 72° (Euclidean 1.00, cosine distance 0.68).
const QUERY: [f32; 2] = [1.0, 0.0];
const GALLERY: [f32; 4] = [10.0, 0.5, 0.2, 0.6];
const LABELS: [u32; 2] = [0, 1];

#[test]
fn search_ranks_by_the_models_distance() {
    let nearest = |d| knn_search(&QUERY, &GALLERY, 2, 2, d).unwrap().remove(0);
    let cos = nearest(Distance::Cosine);
    assert_eq!((cos[0].index, cos[1].index), (0, 1));
    // Cosine distances reported as 1 − c.
    let c0 = 10.0 / (100.0f32 + 0.25).sqrt();
    assert!((cos[0].distance - (1.0 - c0)).abs() < 1e-6, "{cos:?}");
    let euc = nearest(Distance::Euclidean);
    assert_eq!((euc[0].index, euc[1].index), (1, 0));
    // Euclidean distances reported as ‖q − g‖ (not squared).
    assert!((euc[0].distance - 1.0).abs() < 1e-6, "{euc:?}");

    // recall@1 and mAP follow it: the class-0 row is first by cosine, second by Euclidean.
    let metrics = |d| retrieval_metrics(&QUERY, &[0], &GALLERY, &LABELS, 2, &[1], d).unwrap();
    let (c, e) = (metrics(Distance::Cosine), metrics(Distance::Euclidean));
    assert_eq!((c.recall_at[0].1, c.mean_average_precision), (1.0, 1.0));
    assert_eq!((e.recall_at[0].1, e.mean_average_precision), (0.0, 0.5));
}

#[test]
fn the_knn_vote_uses_the_models_distance() {
    let vote = |d| knn_predict(&GALLERY, &LABELS, &QUERY, 2, 1, d).unwrap();
    assert_eq!(vote(Distance::Cosine), [0]);
    assert_eq!(vote(Distance::Euclidean), [1]);
}

#[test]
fn prototypes_are_compared_by_the_models_distance() {
    // 2 ways, 2 shots: class 0's prototype is (9, 0) (far, same direction as the query),
    // class 1's is (0.2, 0.5) (near, 68° off): Euclidean 8.0 against 0.94, cosine distance 0
    // against 0.63.
    let support = [10.0, 0.5, 8.0, -0.5, 0.2, 0.6, 0.2, 0.4];
    let proto = |d| predict_prototype(&QUERY, &support, 2, 2, d).unwrap();
    assert_eq!(proto(Distance::Cosine), 0);
    assert_eq!(proto(Distance::Euclidean), 1);
}

/// The pipelines read the distance from the model: a cosine SN-LeNet-5 reports the cosine
/// distances of its embeddings (1 − c, not ‖q − g‖) for an image query, and its split search
/// scores what the cosine ranking of its embeddings scores.
#[test]
fn a_cosine_models_pipelines_search_by_cosine() {
    use siamese_eval::retrieval::{embed_images, nearest_images, search_split};
    use siamese_model::config::ModelConfig;
    use siamese_model::siamese::SnLenet5;
    use siamese_model::testing::{images, tiny_set};

    let mut config = ModelConfig::for_input(1, 28, 28);
    config.distance = Distance::Cosine;
    let model = SnLenet5::new(config, 7).unwrap();
    let set = tiny_set(60, 3);
    let (gallery, queries): (Vec<u32>, Vec<u32>) = ((0..40).collect(), (40..60).collect());
    let dim = model.subnet.dims.embedding();
    let g = embed_images(&model, &set, &gallery, 16).unwrap();

    let image = images(1, 1, 28, 5);
    let got = nearest_images(&model, &set, &gallery, &image, 5, 16).unwrap();
    let q = model.embed(&image).unwrap();
    // The gallery is images 0..40 of the set: a gallery row is the image's own index.
    let by = |d| -> Vec<(u32, f32)> {
        let nn = knn_search(q.data(), &g, dim, 5, d).unwrap().remove(0);
        nn.iter().map(|n| (n.index, n.distance)).collect()
    };
    let found: Vec<(u32, f32)> = got.iter().map(|f| (f.image, f.distance)).collect();
    assert_eq!(found, by(Distance::Cosine));
    assert_ne!(found, by(Distance::Euclidean));
    for f in &got {
        assert_eq!(f.label, set.labels[f.image as usize]);
        assert_eq!(f.class, set.class_names[f.label as usize]);
    }

    let r = search_split(&model, (&set, &gallery), (&set, &queries), 16).unwrap();
    let q = embed_images(&model, &set, &queries, 16).unwrap();
    let labels =
        |ids: &[u32]| -> Vec<u32> { ids.iter().map(|&i| set.labels[i as usize]).collect() };
    let (ql, gl) = (labels(&queries), labels(&gallery));
    let want = retrieval_metrics(&q, &ql, &g, &gl, dim, &[1, 5, 10], Distance::Cosine).unwrap();
    assert_eq!(r.metrics.recall_at, want.recall_at);
    assert_eq!(
        r.metrics.mean_average_precision,
        want.mean_average_precision
    );
    assert_eq!((r.metrics.queries, r.query_images), (20, 20));
}
