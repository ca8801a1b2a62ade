//! N-way K-shot recognition: can the network tell which of N classes a new image belongs to
//! from K examples of each (classes it may never have been trained on)?
//!
//! **Episodes** ([`draw_episodes`]), seeded with `ChaCha8Rng::seed_from_u64(seed)`: N distinct
//! classes drawn uniformly from the allowed ones; the query's class drawn uniformly among them;
//! K support images drawn without replacement from each class, the query a further image of
//! its class (never one of its supports).
//!
//! **Predictions**, both reported, by name:
//! - `mean-similarity`: the class w maximising (1/K)·Σ_k s(q, x_{w,k}), with s the output
//!   module's similarity of the pair (query, support), as `siamese compare` scores it;
//! - `prototype`: the class w whose prototype p_w = (1/K)·Σ_k f(x_{w,k}), the mean of its
//!   support embeddings (prototypical networks), is nearest the query's embedding f(q), by the
//!   distance the model was trained with: ‖f(q) − p_w‖ (Euclidean, ranked by its square) or
//!   1 − c(f(q), p_w) (cosine), through siamese-tensor's cross-distance op.
//!
//! Ties go to the class drawn first. **Accuracy** is the fraction of episodes predicted
//! right, with the 95 % Wilson score interval ([`wilson_interval`]); chance is 1/N.

use std::collections::HashMap;
use std::sync::Arc;

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use siamese_data::{ImageSet, Label, Pair};

use crate::retrieval::{embed_images, ranked_by};
use siamese_model::config::{in_range, Distance};
use siamese_model::error::{ModelError, Result};
use siamese_model::score::PairScorer;
use siamese_model::siamese::SnLenet5;
use siamese_model::siamese::DISTANCE_EPS;
use siamese_tensor::ops::distance::cross_distance_forward;

/// One episode: the N classes, K support images per class, the query and its class's position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    pub classes: Vec<Label>,
    /// `support[w]` holds the K images of `classes[w]`.
    pub support: Vec<Vec<u32>>,
    pub query: u32,
    /// The position of the query's class in `classes`.
    pub answer: usize,
}

/// Draws `episodes` N-way (`ways`) K-shot (`shots`) episodes from the images of `classes` in
/// `labels` (module doc), all at once: [`EpisodeDrawer`] one at a time, the same episodes.
pub fn draw_episodes(
    labels: &[Label], classes: &[Label], ways: usize, shots: usize, episodes: usize, seed: u64,
) -> Result<Vec<Episode>> {
    let mut d = EpisodeDrawer::new(labels, classes, ways, shots, seed)?;
    Ok((0..episodes).map(|_| d.draw()).collect())
}

/// Draws episodes one at a time from a seeded generator (module doc), so that any number of
/// them takes the memory of the ones being scored.
pub struct EpisodeDrawer {
    members: HashMap<Label, Vec<u32>>,
    classes: Vec<Label>,
    ways: usize,
    shots: usize,
    rng: ChaCha8Rng,
}

impl EpisodeDrawer {
    /// Errors: `ways` outside 2 to [`MAX_WAYS`] or above the classes given, `shots` outside 1
    /// to [`MAX_SHOTS`], or a class with fewer than `shots` + 1 images.
    pub fn new(
        labels: &[Label], classes: &[Label], ways: usize, shots: usize, seed: u64,
    ) -> Result<Self> {
        in_range("--ways", ways, 2, MAX_WAYS)?;
        in_range("--shots", shots, 1, MAX_SHOTS)?;
        if ways > classes.len() {
            return Err(ModelError::Config(format!(
                "{ways}-way episodes need at least {ways} classes, got {}",
                classes.len()
            )));
        }
        let mut members: HashMap<Label, Vec<u32>> = HashMap::new();
        for (i, &l) in labels.iter().enumerate() {
            if classes.contains(&l) {
                members.entry(l).or_default().push(i as u32);
            }
        }
        for &c in classes {
            let have = members.get(&c).map_or(0, Vec::len);
            if have < shots + 1 {
                return Err(ModelError::Config(format!(
                    "class {c} has {have} test images, fewer than {} for {shots} supports and a query",
                    shots + 1
                )));
            }
        }
        Ok(Self {
            members,
            classes: classes.to_vec(),
            ways,
            shots,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The next episode.
    pub fn draw(&mut self) -> Episode {
        let (ways, shots, rng) = (self.ways, self.shots, &mut self.rng);
        let chosen: Vec<Label> = sample(rng, self.classes.len(), ways)
            .into_iter()
            .map(|i| self.classes[i])
            .collect();
        let answer = rng.gen_range(0..ways);
        let mut support = Vec::with_capacity(ways);
        let mut query = 0;
        for (w, c) in chosen.iter().enumerate() {
            let m = &self.members[c];
            let take = shots + usize::from(w == answer);
            let picked: Vec<u32> = sample(rng, m.len(), take)
                .into_iter()
                .map(|i| m[i])
                .collect();
            if w == answer {
                query = picked[shots];
            }
            support.push(picked[..shots].to_vec());
        }
        Episode {
            classes: chosen,
            support,
            query,
            answer,
        }
    }
}

/// The first position of the largest value (`better(a, b)`: a beats b).
fn first_best(values: impl Iterator<Item = f64>, better: fn(f64, f64) -> bool) -> usize {
    let mut best = (0, f64::NAN);
    for (i, v) in values.enumerate() {
        if i == 0 || better(v, best.1) {
            best = (i, v);
        }
    }
    best.0
}

/// `mean-similarity`: the class whose K similarities to the query (`sims[w·K + k]`) have the
/// largest mean.
pub fn predict_mean_similarity(sims: &[f32], shots: usize) -> usize {
    let means = sims
        .chunks(shots)
        .map(|s| s.iter().map(|&v| f64::from(v)).sum::<f64>() / shots as f64);
    first_best(means, |a, b| a > b)
}

/// `prototype`: the class whose mean support embedding is nearest the query's embedding by
/// `distance` (module doc); `support` holds N·K embeddings of `dim` values, class by class.
/// The means are taken in f64 and rounded to f32 for the distance.
pub fn predict_prototype(
    query: &[f32], support: &[f32], shots: usize, dim: usize, distance: Distance,
) -> Result<usize> {
    let prototypes: Vec<f32> = support
        .chunks(shots * dim)
        .flat_map(|class| {
            (0..dim).map(move |e| {
                let p: f64 = (0..shots).map(|k| f64::from(class[k * dim + e])).sum();
                (p / shots as f64) as f32
            })
        })
        .collect();
    let ways = prototypes.len() / dim.max(1);
    let mut d = vec![0.0f32; ways];
    let by = ranked_by(distance);
    cross_distance_forward(by, 1, ways, dim, query, &prototypes, DISTANCE_EPS, &mut d)?;
    Ok(first_best(d.into_iter().map(f64::from), |a, b| a < b))
}

/// The 95 % Wilson score interval of a proportion, `correct` of `n`:
/// (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n), z = 1.96.
pub fn wilson_interval(correct: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, n) = (1.96f64, n as f64);
    let p = correct as f64 / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The accuracy of one prediction rule over the episodes.
#[derive(Clone, Debug, Serialize)]
pub struct MethodAccuracy {
    pub method: &'static str,
    pub correct: usize,
    pub accuracy: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

impl MethodAccuracy {
    fn of(method: &'static str, right: impl Iterator<Item = bool>) -> Self {
        let (mut correct, mut n) = (0, 0);
        for r in right {
            correct += usize::from(r);
            n += 1;
        }
        let (lo, hi) = wilson_interval(correct, n);
        Self {
            method,
            correct,
            accuracy: correct as f64 / n.max(1) as f64,
            ci95_low: lo,
            ci95_high: hi,
        }
    }
}

/// What `siamese oneshot` reports.
#[derive(Clone, Debug, Serialize)]
pub struct OneShotReport {
    pub ways: usize,
    pub shots: usize,
    pub episodes: usize,
    pub seed: u64,
    pub classes: Vec<Label>,
    /// 1/N.
    pub chance: f64,
    pub methods: Vec<MethodAccuracy>,
}

/// Runs the episodes on `set` with `model`: the query–support similarities of every episode in
/// one scoring pass (each image embedded once), and the embeddings of the images used.
pub fn evaluate_episodes(
    model: &mut SnLenet5, set: &Arc<ImageSet>, episodes: &[Episode], batch: usize,
) -> Result<(Vec<bool>, Vec<bool>)> {
    let pairs: Vec<Pair> = episodes
        .iter()
        .flat_map(|e| {
            e.support.iter().flatten().map(|&s| Pair {
                a: e.query,
                b: s,
                y: u8::from(set.labels[s as usize] == set.labels[e.query as usize]),
            })
        })
        .collect();
    let sims = model.pair_similarities(set, &Arc::new(pairs), batch)?;
    // Embeddings of every image an episode uses, once each.
    let mut ids: Vec<u32> = episodes
        .iter()
        .flat_map(|e| e.support.iter().flatten().copied().chain([e.query]))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let (dim, distance) = (model.subnet.dims.embedding(), model.config.distance);
    let emb = embed_images(model, set, &ids, batch)?;
    let row = |i: u32| {
        let r = ids.binary_search(&i).unwrap_or(0);
        &emb[r * dim..(r + 1) * dim]
    };
    let (mut by_sim, mut by_proto) = (Vec::new(), Vec::new());
    let mut at = 0;
    for e in episodes {
        let shots = e.support[0].len();
        let n = e.classes.len() * shots;
        by_sim.push(predict_mean_similarity(&sims[at..at + n], shots) == e.answer);
        at += n;
        let support: Vec<f32> = e
            .support
            .iter()
            .flatten()
            .flat_map(|&s| row(s).iter().copied())
            .collect();
        let proto = predict_prototype(row(e.query), &support, shots, dim, distance)?;
        by_proto.push(proto == e.answer);
    }
    Ok((by_sim, by_proto))
}

/// Classes per episode unless told otherwise (`siamese oneshot --ways`).
pub const DEFAULT_WAYS: usize = 5;
/// Support images per class unless told otherwise (`--shots`).
pub const DEFAULT_SHOTS: usize = 1;
/// Episodes unless told otherwise (`--episodes`).
pub const DEFAULT_EPISODES: usize = 1000;
/// The most classes per episode accepted (`--ways`, at least 2): 256 (an episode embeds `ways × (shots + 1)` images at once).
pub const MAX_WAYS: usize = 256;
/// The most support images per class accepted (`--shots`): 10,000 (a class must also hold
/// `shots` + 1 test images).
pub const MAX_SHOTS: usize = 10_000;
/// The most episodes accepted (`--episodes`): 10^6. They are drawn and scored in chunks
/// ([`EPISODE_PAIRS`]), so memory does not grow with their number.
pub const MAX_EPISODES: usize = 1_000_000;
/// Query–support pairs scored per chunk of episodes (at least one episode a chunk).
pub const EPISODE_PAIRS: usize = 100_000;

/// What [`one_shot`] runs.
#[derive(Clone, Debug)]
pub struct OneShotOptions {
    /// N: classes per episode.
    pub ways: usize,
    /// K: support images per class.
    pub shots: usize,
    pub episodes: usize,
    /// The classes the episodes draw from.
    pub classes: Vec<Label>,
    /// The seed of the episodes.
    pub seed: u64,
    /// Images per scoring and embedding batch.
    pub batch: usize,
}

impl OneShotReport {
    /// How many of the episodes' classes are outside `trained_on` (the run's training
    /// classes; `None`: it trained on every class, so 0).
    pub fn unseen(&self, trained_on: Option<&[Label]>) -> usize {
        let seen = |c: &Label| trained_on.is_none_or(|t| t.contains(c));
        self.classes.iter().filter(|c| !seen(c)).count()
    }
}

/// Draws the episodes and scores both prediction rules (module doc).
pub fn one_shot(
    model: &mut SnLenet5, set: &Arc<ImageSet>, o: &OneShotOptions,
) -> Result<OneShotReport> {
    in_range("--episodes", o.episodes, 1, MAX_EPISODES)?;
    let mut drawer = EpisodeDrawer::new(&set.labels, &o.classes, o.ways, o.shots, o.seed)?;
    // Chunks of episodes, drawn in order from the one generator: the same episodes as
    // drawing them all first, in the memory of one chunk.
    let per_chunk = (EPISODE_PAIRS / (o.ways * o.shots)).max(1);
    let (mut by_sim, mut by_proto) = (Vec::new(), Vec::new());
    let mut left = o.episodes;
    while left > 0 {
        let n = left.min(per_chunk);
        let eps: Vec<Episode> = (0..n).map(|_| drawer.draw()).collect();
        let (s, p) = evaluate_episodes(model, set, &eps, o.batch)?;
        by_sim.extend(s);
        by_proto.extend(p);
        left -= n;
    }
    Ok(OneShotReport {
        ways: o.ways,
        shots: o.shots,
        episodes: o.episodes,
        seed: o.seed,
        classes: o.classes.clone(),
        chance: 1.0 / o.ways as f64,
        methods: vec![
            MethodAccuracy::of("mean-similarity", by_sim.into_iter()),
            MethodAccuracy::of("prototype", by_proto.into_iter()),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_are_seeded_and_well_formed() {
        let labels: Vec<Label> = (0..200).map(|i| (i % 10) as Label).collect();
        let classes = [7, 8, 9, 2];
        let eps = draw_episodes(&labels, &classes, 3, 5, 50, 1).unwrap();
        assert_eq!(eps.len(), 50);
        let mut answers = [0; 3];
        for e in &eps {
            assert_eq!(e.classes.len(), 3);
            assert!(e.classes.iter().all(|c| classes.contains(c)));
            let mut c = e.classes.clone();
            c.dedup();
            assert_eq!(c.len(), 3);
            assert_eq!(labels[e.query as usize], e.classes[e.answer]);
            for (w, s) in e.support.iter().enumerate() {
                assert_eq!(s.len(), 5);
                assert!(s.iter().all(|&i| labels[i as usize] == e.classes[w]));
                assert!(!s.contains(&e.query));
            }
            answers[e.answer] += 1;
        }
        assert!(answers.iter().all(|&a| a > 5), "{answers:?}");
        assert_eq!(draw_episodes(&labels, &classes, 3, 5, 50, 1).unwrap(), eps);
        assert_ne!(draw_episodes(&labels, &classes, 3, 5, 50, 2).unwrap(), eps);
        assert!(draw_episodes(&labels, &classes, 5, 1, 1, 0).is_err());
        assert!(draw_episodes(&labels, &classes, 2, 20, 1, 0).is_err());
    }

    /// Issue 27, cause 3: `--shots usize::MAX` overflowed `shots + 1` (a panic); sizes are
    /// checked against their stated maxima first, and episodes are drawn one at a time.
    #[test]
    fn huge_sizes_are_errors_and_episodes_are_drawn_lazily() {
        let labels: Vec<Label> = (0..200).map(|i| (i % 10) as Label).collect();
        let classes = [0, 1, 2];
        for (ways, shots) in [(2, usize::MAX), (usize::MAX, 1), (1, 1), (2, 0)] {
            let e = EpisodeDrawer::new(&labels, &classes, ways, shots, 0)
                .err()
                .expect("refused")
                .to_string();
            assert!(e.contains("must be at least"), "{e}");
        }
        let mut d = EpisodeDrawer::new(&labels, &classes, 3, 2, 4).unwrap();
        let lazy: Vec<Episode> = (0..20).map(|_| d.draw()).collect();
        assert_eq!(lazy, draw_episodes(&labels, &classes, 3, 2, 20, 4).unwrap());
    }

    #[test]
    fn predictions_on_hand_made_similarities_and_embeddings() {
        // 3 ways, 2 shots: means 0.5, 0.65, 0.6 -> class 1.
        assert_eq!(
            predict_mean_similarity(&[0.9, 0.1, 0.6, 0.7, 0.6, 0.6], 2),
            1
        );
        // Equal means: the first drawn wins.
        assert_eq!(predict_mean_similarity(&[0.5, 0.5, 0.25, 0.75], 2), 0);
        // Prototypes (2-D, 2 shots): class 0 mean (0, 0), class 1 mean (4, 0), class 2 mean (1, 3).
        let support = [-1.0, 0.0, 1.0, 0.0, 4.0, 1.0, 4.0, -1.0, 1.0, 2.0, 1.0, 4.0];
        let proto =
            |q: [f32; 2]| predict_prototype(&q, &support, 2, 2, Distance::Euclidean).unwrap();
        assert_eq!(proto([2.5, 0.0]), 1);
        assert_eq!(proto([1.0, 2.0]), 2);
        // Nearest single support would be class 0's (1, 0) for (1.9, 0), the prototype says 0 too;
        // at (2.1, 0): distance² to (0,0) is 4.41, to (4,0) is 3.61 -> class 1.
        assert_eq!(proto([2.1, 0.0]), 1);
        assert_eq!(proto([1.9, 0.0]), 0);
    }

    #[test]
    fn wilson_interval_by_hand_and_n_way_accuracy() {
        let (lo, hi) = wilson_interval(50, 100);
        assert!(
            (lo - 0.403_83).abs() < 1e-4 && (hi - 0.596_17).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson_interval(10, 10);
        assert!((lo - 0.722_46).abs() < 1e-4 && hi == 1.0, "{lo} {hi}");
        let m = MethodAccuracy::of("x", [true, false, true, true].into_iter());
        assert_eq!((m.correct, m.accuracy), (3, 0.75));
    }
}
