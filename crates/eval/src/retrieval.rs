//! Similarity search on embeddings: exact nearest neighbours by the model's own distance,
//! and the retrieval metrics recall@k and mean average precision.
//!
//! **Distances.** A search follows the distance the model was trained with (its
//! [`Distance`]): the Euclidean distance ‖q − g‖ or the cosine distance 1 − c(q, g), c the
//! comparison module's cosine similarity. A block of queries Q (m×E) against a block of the
//! gallery G (n×E) is one cross-distance matrix, siamese-tensor's
//! [`cross_distance_forward`] (one GEMM plus the row norms, formulas in its doc). A Euclidean
//! search ranks by the squared distance (the same order, without the √) and reports the
//! distance itself. The search is exact (every gallery row is compared); memory stays bounded
//! because queries go [`QUERY_BLOCK`] at a time (one rayon task each) and the gallery
//! [`GALLERY_BLOCK`] rows at a time, so a task holds one QUERY_BLOCK × GALLERY_BLOCK block of
//! distances (8 MiB).
//!
//! **Order.** Neighbours are ranked by (distance, gallery index): ties go to the lower index,
//! so every result is deterministic and independent of the thread count.
//!
//! **Metrics**, for a query of class c against a gallery holding R images of class c:
//! - recall@k = 1 when at least one of the k nearest gallery images has class c, else 0
//!   (the usual definition in metric learning), averaged over queries;
//! - average precision AP = (1/R)·Σ_{j=1..R} j / rank_j, where rank_j is the rank (1-based)
//!   of the j-th nearest gallery image of class c; mAP is its mean over queries (queries
//!   whose class is absent from the gallery are left out of both figures).

use rayon::prelude::*;
use serde::Serialize;
use siamese_data::{images_tensor, ImageSet, Label};
use siamese_tensor::ops::distance::{cross_distance_forward, CrossDistance};

use siamese_model::config::Distance;
use siamese_model::error::{ModelError, Result};
use siamese_model::siamese::{SnLenet5, DISTANCE_EPS};

/// Queries per block (one rayon task).
pub const QUERY_BLOCK: usize = 256;
/// Gallery rows per block of distances.
pub const GALLERY_BLOCK: usize = 8192;
/// The most neighbours of an image query accepted (`siamese retrieve --k`; the `--strip`
/// draws each): 1024.
pub const MAX_NEIGHBOURS: usize = 1024;
/// The most split queries accepted (`retrieve --max-queries`): 2^24, above every split's size.
pub const MAX_QUERIES: usize = 1 << 24;

/// A gallery row and its distance to the query, by the model's distance (Euclidean ‖q − g‖
/// or cosine 1 − c).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Neighbour {
    pub index: u32,
    pub distance: f32,
}

/// The cross distance a search by `distance` ranks by: the squared Euclidean distance (the
/// Euclidean order, no √) or the cosine distance.
pub fn ranked_by(distance: Distance) -> CrossDistance {
    match distance {
        Distance::Euclidean => CrossDistance::SquaredEuclidean,
        Distance::Cosine => CrossDistance::Cosine,
    }
}

/// The distance reported for a ranking value of [`ranked_by`]: the √ of a squared Euclidean
/// distance, a cosine distance as it is.
fn reported(by: CrossDistance, v: f32) -> f32 {
    match by {
        CrossDistance::SquaredEuclidean => v.sqrt(),
        _ => v,
    }
}

/// The search key of a distance (negatives and NaN count as 0) and an index: ordering the
/// u64 orders by (distance, index), because the bits of a non-negative f32 grow with its value.
fn key(d: f32, index: usize) -> u64 {
    let d = if d > 0.0 { d } else { 0.0 };
    (u64::from(d.to_bits()) << 32) | index as u64
}

fn unkey(by: CrossDistance, k: u64) -> Neighbour {
    Neighbour {
        index: k as u32,
        distance: reported(by, f32::from_bits((k >> 32) as u32)),
    }
}

fn check(queries: &[f32], gallery: &[f32], dim: usize) -> Result<()> {
    if dim == 0 || !queries.len().is_multiple_of(dim) || !gallery.len().is_multiple_of(dim) {
        return Err(ModelError::Config(format!(
            "search: {} query and {} gallery values are not rows of {dim}",
            queries.len(),
            gallery.len()
        )));
    }
    if gallery.len() >= (u32::MAX as usize) * dim {
        return Err(ModelError::Config("search: gallery too large".into()));
    }
    Ok(())
}

/// Calls `visit(state, query, g0, distances)` for every query with its distances `by` (module
/// doc) to the gallery rows `g0..g0 + distances.len()`, gallery block by gallery block in
/// order; queries run in blocks of `query_block` in parallel, each with its own `init()`
/// state, returned in query order.
#[allow(clippy::too_many_arguments)]
fn for_each_block<S: Send>(
    by: CrossDistance, queries: &[f32], gallery: &[f32], dim: usize, query_block: usize,
    init: impl Fn() -> S + Sync, visit: impl Fn(&mut S, usize, usize, &[f32]) + Sync,
) -> Result<Vec<S>> {
    check(queries, gallery, dim)?;
    let (nq, ng) = (queries.len() / dim, gallery.len() / dim);
    let blocks: Vec<Result<Vec<S>>> = queries
        .par_chunks(query_block * dim)
        .enumerate()
        .map(|(b, qb)| {
            let m = qb.len() / dim;
            let mut states: Vec<S> = (0..m).map(|_| init()).collect();
            let mut d = vec![0.0f32; m * GALLERY_BLOCK.min(ng)];
            for g0 in (0..ng).step_by(GALLERY_BLOCK) {
                let n = GALLERY_BLOCK.min(ng - g0);
                let gb = &gallery[g0 * dim..(g0 + n) * dim];
                let d = &mut d[..m * n];
                cross_distance_forward(by, m, n, dim, qb, gb, DISTANCE_EPS, d)?;
                for (i, row) in d.chunks_exact(n).enumerate() {
                    visit(&mut states[i], b * query_block + i, g0, row);
                }
            }
            Ok(states)
        })
        .collect();
    let mut out = Vec::with_capacity(nq);
    for b in blocks {
        out.extend(b?);
    }
    Ok(out)
}

/// The `k` nearest gallery rows of every query (rows of `dim` values) by `distance`, nearest
/// first, by the blocked search of the module doc.
pub fn knn_search(
    queries: &[f32], gallery: &[f32], dim: usize, k: usize, distance: Distance,
) -> Result<Vec<Vec<Neighbour>>> {
    let ng = gallery.len().checked_div(dim).unwrap_or(0);
    let k = k.min(ng);
    let by = ranked_by(distance);
    let tops = for_each_block(
        by,
        queries,
        gallery,
        dim,
        QUERY_BLOCK,
        || Vec::<u64>::with_capacity(k + 1),
        |top, _, g0, row| {
            for (j, &d) in row.iter().enumerate() {
                let key = key(d, g0 + j);
                if top.len() < k || key < top[k - 1] {
                    // Insert in order; keep k.
                    let at = top.partition_point(|&t| t < key);
                    top.insert(at, key);
                    top.truncate(k);
                }
            }
        },
    )?;
    Ok(tops
        .into_iter()
        .map(|t| t.into_iter().map(|k| unkey(by, k)).collect())
        .collect())
}

/// Recall@k and mAP of a retrieval run (module doc).
#[derive(Clone, Debug, Serialize)]
pub struct RetrievalReport {
    pub queries: usize,
    pub gallery: usize,
    /// (k, recall@k) for each k asked.
    pub recall_at: Vec<(usize, f64)>,
    pub mean_average_precision: f64,
}

/// The ranks (1-based, ascending) of the gallery rows relevant to a query, from its distances
/// to every gallery row: the relevant keys sorted, then each irrelevant row counted before
/// the relevant rows it precedes (a binary search), then prefix sums.
fn relevant_ranks(dist: &[f32], labels: &[Label], class: Label) -> Vec<usize> {
    let mut rel: Vec<u64> = Vec::new();
    for (j, (&d, &l)) in dist.iter().zip(labels).enumerate() {
        if l == class {
            rel.push(key(d, j));
        }
    }
    rel.sort_unstable();
    let mut before = vec![0usize; rel.len() + 1];
    for (j, (&d, &l)) in dist.iter().zip(labels).enumerate() {
        if l != class {
            before[rel.partition_point(|&r| r < key(d, j))] += 1;
        }
    }
    let mut irrelevant = 0;
    (0..rel.len())
        .map(|i| {
            irrelevant += before[i];
            i + 1 + irrelevant
        })
        .collect()
}

/// Recall@k (for each k in `ks`) and mAP of `queries` (labels `query_labels`) against
/// `gallery` (labels `gallery_labels`), all rows of `dim` values (module doc). Each query's
/// distance row to the whole gallery is held until its ranks are counted (queries go 32 per
/// task, so a task holds 32 rows: 6 MiB for 48,000 gallery images). Ranks follow `distance`.
#[allow(clippy::too_many_arguments)]
pub fn retrieval_metrics(
    queries: &[f32], query_labels: &[Label], gallery: &[f32], gallery_labels: &[Label], dim: usize,
    ks: &[usize], distance: Distance,
) -> Result<RetrievalReport> {
    check(queries, gallery, dim)?;
    let (nq, ng) = (queries.len() / dim, gallery.len() / dim);
    if query_labels.len() != nq || gallery_labels.len() != ng {
        return Err(ModelError::Config(format!(
            "retrieval: {nq} queries and {ng} gallery rows but {} and {} labels",
            query_labels.len(),
            gallery_labels.len()
        )));
    }
    // Per query: its distance row, filled block by block; at the last block the row gives
    // way to (first relevant rank, AP), or None when no gallery row is relevant. A task
    // holds the rows of its 32 queries only.
    type State = (Vec<f32>, Option<(usize, f64)>);
    let states: Vec<State> = for_each_block(
        ranked_by(distance),
        queries,
        gallery,
        dim,
        32,
        || (Vec::new(), None),
        |(row, result): &mut State, q, g0, block| {
            if g0 == 0 {
                row.reserve_exact(ng);
            }
            row.extend_from_slice(block);
            if row.len() == ng {
                let ranks = relevant_ranks(row, gallery_labels, query_labels[q]);
                *result = ranks.first().map(|&first| {
                    let ap = ranks
                        .iter()
                        .enumerate()
                        .map(|(j, &r)| (j + 1) as f64 / r as f64)
                        .sum::<f64>();
                    (first, ap / ranks.len() as f64)
                });
                *row = Vec::new();
            }
        },
    )?;
    let per_query = states.into_iter().map(|s| s.1);
    let scored: Vec<(usize, f64)> = per_query.flatten().collect();
    let n = scored.len().max(1) as f64;
    Ok(RetrievalReport {
        queries: scored.len(),
        gallery: ng,
        recall_at: ks
            .iter()
            .map(|&k| (k, scored.iter().filter(|s| s.0 <= k).count() as f64 / n))
            .collect(),
        mean_average_precision: scored.iter().map(|s| s.1).sum::<f64>() / n,
    })
}

/// The recall@1/5/10 of `siamese retrieve`.
pub const REPORTED_KS: [usize; 3] = [1, 5, 10];

/// What a search of split queries against a split gallery reports ([`search_split`]).
#[derive(Clone, Debug, Serialize)]
pub struct SplitSearch {
    #[serde(flatten)]
    pub metrics: RetrievalReport,
    /// Seconds embedding the gallery and the queries.
    pub embed_seconds: f64,
    /// Seconds of the search behind the figures: every query's distances to the whole gallery
    /// and the ranks of its class's images (the exact search of the module doc).
    pub metrics_seconds: f64,
    /// Seconds embedding the gallery (part of `embed_seconds`).
    #[serde(skip)]
    pub gallery_embed_seconds: f64,
    /// Query images searched (the scored `metrics.queries` leaves out absent classes).
    #[serde(skip)]
    pub query_images: usize,
}

/// Embeds the gallery images `gallery.1` of `gallery.0` and the queries likewise (`batch` at a
/// time), then scores recall@[`REPORTED_KS`] and mAP by the model's distance. The times are of
/// the work reported: the embeddings, and the ranking behind the figures.
pub fn search_split(
    model: &SnLenet5, gallery: (&ImageSet, &[u32]), queries: (&ImageSet, &[u32]), batch: usize,
) -> Result<SplitSearch> {
    let dim = model.subnet.dims.embedding();
    let labels = |(set, ids): (&ImageSet, &[u32])| -> Vec<Label> {
        ids.iter().map(|&i| set.labels[i as usize]).collect()
    };
    let t = std::time::Instant::now();
    let g = embed_images(model, gallery.0, gallery.1, batch)?;
    let gallery_embed_seconds = t.elapsed().as_secs_f64();
    let q = embed_images(model, queries.0, queries.1, batch)?;
    let embed_seconds = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let (ql, gl) = (labels(queries), labels(gallery));
    let distance = model.config.distance;
    let metrics = retrieval_metrics(&q, &ql, &g, &gl, dim, &REPORTED_KS, distance)?;
    Ok(SplitSearch {
        metrics,
        embed_seconds,
        metrics_seconds: t.elapsed().as_secs_f64(),
        gallery_embed_seconds,
        query_images: queries.1.len(),
    })
}

/// A gallery image found for an image query ([`nearest_images`]), in one index space: `image`
/// is its index in the gallery's image set (the dataset's training or test file, in file
/// order), with its class and its distance to the query by the model's distance (Euclidean
/// ‖q − g‖ or cosine 1 − c, as [`Neighbour`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoundImage {
    pub image: u32,
    pub label: Label,
    pub class: String,
    pub distance: f32,
}

/// The `k` gallery images (`ids` of `set`) nearest one query image (`image`, a 1-image
/// batch), by the model's distance, nearest first.
pub fn nearest_images(
    model: &SnLenet5, set: &ImageSet, ids: &[u32], image: &siamese_tensor::Tensor, k: usize,
    batch: usize,
) -> Result<Vec<FoundImage>> {
    let dim = model.subnet.dims.embedding();
    let gallery = embed_images(model, set, ids, batch)?;
    let q = model.embed(image)?;
    let mut nn = knn_search(q.data(), &gallery, dim, k, model.config.distance)?;
    let found = nn.pop().unwrap_or_default().into_iter().map(|n| {
        let image = ids[n.index as usize];
        let label = set.labels[image as usize];
        FoundImage {
            image,
            label,
            class: set.class_names[label as usize].clone(),
            distance: n.distance,
        }
    });
    Ok(found.collect())
}

/// The subnet's embeddings of the images `ids` of `set` (row-major, E values each), `batch`
/// images converted to f32 and embedded at a time ([`SnLenet5::embed`]).
pub fn embed_images(
    model: &SnLenet5, set: &ImageSet, ids: &[u32], batch: usize,
) -> Result<Vec<f32>> {
    let e = model.subnet.dims.embedding();
    let mut out = Vec::with_capacity(ids.len() * e);
    for chunk in ids.chunks(batch.max(1)) {
        out.extend_from_slice(model.embed(&images_tensor(set, chunk)?)?.data());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const E: Distance = Distance::Euclidean;

    /// The brute-force reference: every distance as Σ(q−g)² in f64, sorted by (distance, index).
    fn brute(q: &[f32], g: &[f32], dim: usize) -> Vec<Vec<(f64, usize)>> {
        q.chunks(dim)
            .map(|q| {
                let mut d: Vec<(f64, usize)> = g
                    .chunks(dim)
                    .enumerate()
                    .map(|(j, g)| {
                        let s = q
                            .iter()
                            .zip(g)
                            .map(|(a, b)| (*a as f64 - *b as f64).powi(2));
                        (s.sum(), j)
                    })
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                d
            })
            .collect()
    }

    #[test]
    fn the_gemm_search_finds_the_brute_force_neighbours() {
        let mut rng = ChaCha8Rng::seed_from_u64(16);
        let mut cases = 0;
        // Sizes crossing the query and gallery block edges (300 > 256 queries, 9000 > 8192 rows).
        for (nq, ng, dim, k) in [
            (7, 40, 3, 5),
            (300, 9000, 10, 10),
            (33, 500, 784, 4),
            (5, 3, 2, 8),
        ] {
            let q: Vec<f32> = (0..nq * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let g: Vec<f32> = (0..ng * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let got = knn_search(&q, &g, dim, k, Distance::Euclidean).unwrap();
            let want = brute(&q, &g, dim);
            for (qi, (got, want)) in got.iter().zip(&want).enumerate() {
                assert_eq!(got.len(), k.min(ng));
                for (n, w) in got.iter().zip(want) {
                    // The k smallest distances (up to the f32 rounding of the expansion) ...
                    let tol = 1e-4 * (1.0 + w.0);
                    let sq = (n.distance as f64).powi(2);
                    assert!((sq - w.0).abs() < tol, "{n:?} vs {w:?}");
                    // ... and each reported distance is its reported row's true distance.
                    let j = n.index as usize;
                    let truth: f64 = q[qi * dim..][..dim]
                        .iter()
                        .zip(&g[j * dim..][..dim])
                        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
                        .sum();
                    assert!((sq - truth).abs() < tol, "{n:?} vs {truth}");
                }
            }
            cases += nq;
        }
        println!("nearest-neighbour search checked on {cases} random queries");
    }

    #[test]
    fn recall_and_map_of_hand_made_embeddings() {
        // Gallery on a line: x = 0, 1, 2, 3, 4 with classes a a b b a (0 0 1 1 0).
        let gallery = [0.0, 1.0, 2.0, 3.0, 4.0];
        let gl = [0, 0, 1, 1, 0];
        // Query 1 at 2.2, class 0: order 2(b) 3(b) 1(a) 4(a) 0(a): class-0 ranks 3, 4, 5.
        //   AP = (1/3 + 2/4 + 3/5)/3 = 0.477777…, first hit at rank 3.
        // Query 2 at -1, class 1: order 0 1 2(b) 3(b) 4: ranks 3, 4: AP = (1/3 + 2/4)/2.
        // Query 3 of class 7 (absent from the gallery) is left out.
        let q = [2.2, -1.0, 0.0];
        let r = retrieval_metrics(&q, &[0, 1, 7], &gallery, &gl, 1, &[1, 2, 3, 5], E).unwrap();
        assert_eq!((r.queries, r.gallery), (2, 5));
        let ap1 = (1.0 / 3.0 + 2.0 / 4.0 + 3.0 / 5.0) / 3.0;
        let ap2 = (1.0 / 3.0 + 2.0 / 4.0) / 2.0;
        assert!((r.mean_average_precision - (ap1 + ap2) / 2.0).abs() < 1e-12);
        let recall: Vec<f64> = r.recall_at.iter().map(|x| x.1).collect();
        assert_eq!(recall, [0.0, 0.0, 1.0, 1.0]);
        // A perfect ranking: AP 1 and recall@1 1.
        let r = retrieval_metrics(&[3.9], &[0], &[4.0, 3.8, 0.0], &[0, 0, 1], 1, &[1], E).unwrap();
        assert_eq!((r.mean_average_precision, r.recall_at[0].1), (1.0, 1.0));
        // Ties go to the lower gallery index: query at 0.5 between row 0 (class 1) and row 1 (class 0).
        let r = retrieval_metrics(&[0.5], &[0], &[0.0, 1.0], &[1, 0], 1, &[1], E).unwrap();
        assert_eq!((r.recall_at[0].1, r.mean_average_precision), (0.0, 0.5));
        assert!(retrieval_metrics(&[0.5], &[0, 1], &[0.0], &[1], 1, &[1], E).is_err());
    }

    #[test]
    fn relevant_ranks_match_a_full_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let d: Vec<f32> = (0..500)
            .map(|_| (rng.gen_range(0..50) as f32) * 0.5)
            .collect();
        let l: Vec<Label> = (0..500).map(|_| rng.gen_range(0..4)).collect();
        let mut order: Vec<usize> = (0..500).collect();
        order.sort_by(|&a, &b| d[a].total_cmp(&d[b]).then(a.cmp(&b)));
        let want: Vec<usize> = (1..=500).filter(|&r| l[order[r - 1]] == 2).collect();
        assert_eq!(relevant_ranks(&d, &l, 2), want);
    }
}
