//! Image pairs: for each anchor image one positive pair (same class, `y = 1`) and one negative pair
//! (different class, `y = 0`), so the pair list is exactly 50 % positive.
//!
//! The negative partner's class is drawn uniformly from the other classes present, so negatives are
//! balanced over classes; partners are drawn uniformly within their class. Everything comes from
//! `ChaCha8Rng::seed_from_u64(seed)`: the same seed gives the same pairs on every machine.
//! Test pairs use the fixed [`TEST_PAIR_SEED`], so every run scores the same 20,000 test pairs.
//!
//! For a run trained on a class subset, [`test_pairs_of`] makes the same kind of test pairs
//! inside a class subset (seen or unseen classes) and [`cross_pairs`] pairs every image of one
//! group with a uniform partner from the other (the mixed pairs: all negative when the groups
//! share no class).

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::dataset::{ImageSet, Label};
use crate::error::{DataError, Result};

/// One image pair: indices into an [`ImageSet`] and the target (1 = same class, 0 = different).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pair {
    /// Anchor image index.
    pub a: u32,
    /// Partner image index.
    pub b: u32,
    /// 1 when both images have the same class, else 0.
    pub y: u8,
}

/// Checks that both image indices of every pair `(a, b)` lie in `0..n`, the images of a set (the
/// one home of this rule: batches, pair pictures and indexed scoring all call it; an
/// [`ImageSet`] passes its own `len()` through [`ImageSet::check_pairs`]). Errors: the first
/// pair that does not, as "pair (a, b) outside the n images".
pub fn check_pair_indices(pairs: impl IntoIterator<Item = (u32, u32)>, n: usize) -> Result<()> {
    match pairs
        .into_iter()
        .find(|&(a, b)| a as usize >= n || b as usize >= n)
    {
        Some((a, b)) => Err(DataError::InvalidArgument(format!(
            "pair ({a}, {b}) outside the {n} images"
        ))),
        None => Ok(()),
    }
}

impl ImageSet {
    /// [`check_pair_indices`] for `pairs` over this set's images.
    pub fn check_pairs(&self, pairs: &[Pair]) -> Result<()> {
        check_pair_indices(pairs.iter().map(|p| (p.a, p.b)), self.len())
    }
}

/// Seed of the fixed test pairs.
pub const TEST_PAIR_SEED: u64 = 0x7E57_0000_5EED_0001;

/// Whether training pairs are drawn once or again every epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PairMode {
    /// The same pairs every epoch (drawn with the run's seed).
    #[default]
    Fixed,
    /// New pairs every epoch (drawn with [`epoch_seed`]`(seed, epoch)`).
    PerEpoch,
}

/// Derives a per-epoch seed from a run seed (SplitMix64 finaliser of `seed + epoch * golden`).
pub fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    let mut z = seed.wrapping_add(epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Two pairs per anchor in `indices` (positive then negative), partners drawn from `indices` too.
///
/// An image alone in its class among `indices` (a one-image class of a user's folder) is never
/// an anchor: its only positive pair would be itself. It still serves as the negative partner
/// of other anchors, so the pairs stay balanced. Errors: an index outside `labels`, fewer than
/// two classes among `indices` (no negative pair possible), or no class with two images.
pub fn make_pairs(labels: &[Label], indices: &[u32], seed: u64) -> Result<Vec<Pair>> {
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); classes];
    // Position of each anchor inside its class group, to exclude it when drawing its partner.
    let mut pos_in_group = vec![0u32; labels.len()];
    for &i in indices {
        let l = *labels.get(i as usize).ok_or_else(|| {
            DataError::InvalidArgument(format!("pair index {i} outside 0..{}", labels.len()))
        })? as usize;
        pos_in_group[i as usize] = groups[l].len() as u32;
        groups[l].push(i);
    }
    let present: Vec<usize> = (0..classes).filter(|&c| !groups[c].is_empty()).collect();
    if present.len() < 2 {
        return Err(DataError::InvalidArgument(format!(
            "negative pairs need at least two classes, found {} among {} images",
            present.len(),
            indices.len()
        )));
    }
    if present.iter().all(|&c| groups[c].len() < 2) {
        return Err(DataError::InvalidArgument(format!(
            "positive pairs need a class with two images; all {} classes among {} images have one",
            present.len(),
            indices.len()
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(indices.len() * 2);
    for &a in indices {
        let c = labels[a as usize] as usize;
        let group = &groups[c];
        if group.len() < 2 {
            continue;
        }
        // Positive: uniform over the other members of the class (skip the anchor's own slot).
        let mut r = rng.gen_range(0..group.len() - 1);
        if r >= pos_in_group[a as usize] as usize {
            r += 1;
        }
        out.push(Pair {
            a,
            b: group[r],
            y: 1,
        });
        // Negative: uniform over the other present classes, then uniform within that class.
        let own = present.iter().position(|&p| p == c).unwrap_or(0);
        let mut r = rng.gen_range(0..present.len() - 1);
        if r >= own {
            r += 1;
        }
        let other = &groups[present[r]];
        let b = other[rng.gen_range(0..other.len())];
        out.push(Pair { a, b, y: 0 });
    }
    Ok(out)
}

/// Training pairs for one epoch: [`PairMode::Fixed`] uses `seed` every epoch, [`PairMode::PerEpoch`]
/// uses [`epoch_seed`]`(seed, epoch)`.
pub fn pairs_for_epoch(
    mode: PairMode, labels: &[Label], indices: &[u32], seed: u64, epoch: u64,
) -> Result<Vec<Pair>> {
    let s = match mode {
        PairMode::Fixed => seed,
        PairMode::PerEpoch => epoch_seed(seed, epoch),
    };
    make_pairs(labels, indices, s)
}

/// The fixed test pairs: every test image is an anchor (20,000 pairs for a 10,000-image test set),
/// drawn with [`TEST_PAIR_SEED`].
pub fn test_pairs(test: &ImageSet) -> Result<Vec<Pair>> {
    let all: Vec<u32> = (0..test.len() as u32).collect();
    make_pairs(&test.labels, &all, TEST_PAIR_SEED)
}

/// The fixed test pairs among the test images of `classes` (as [`test_pairs`], every such
/// image an anchor, drawn with [`TEST_PAIR_SEED`]).
pub fn test_pairs_of(test: &ImageSet, classes: &[Label]) -> Result<Vec<Pair>> {
    let all: Vec<u32> = (0..test.len() as u32).collect();
    let idx = crate::split::of_classes(&test.labels, &all, classes);
    make_pairs(&test.labels, &idx, TEST_PAIR_SEED)
}

/// Pairs across two groups of images: every image of `first`, then every image of `second`,
/// as anchor, its partner drawn uniformly from the other group; `y = 1` exactly when the two
/// labels agree. Errors: an empty group, an index outside `labels`.
pub fn cross_pairs(
    labels: &[Label], first: &[u32], second: &[u32], seed: u64,
) -> Result<Vec<Pair>> {
    if first.is_empty() || second.is_empty() {
        return Err(DataError::InvalidArgument(
            "cross pairs need images in both groups".into(),
        ));
    }
    if let Some(&i) = first
        .iter()
        .chain(second)
        .find(|&&i| i as usize >= labels.len())
    {
        return Err(DataError::InvalidArgument(format!(
            "pair index {i} outside 0..{}",
            labels.len()
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(first.len() + second.len());
    for (anchors, partners) in [(first, second), (second, first)] {
        for &a in anchors {
            let b = partners[rng.gen_range(0..partners.len())];
            let y = u8::from(labels[a as usize] == labels[b as usize]);
            out.push(Pair { a, b, y });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_and_cross_pairs_stay_in_their_groups() {
        let labels: Vec<Label> = (0..100).map(|i| (i % 10) as Label).collect();
        let names = (0..10).map(|k| k.to_string()).collect();
        let set = ImageSet::new(vec![0; 100], labels.clone(), (1, 1, 1), names).unwrap();
        let seen = test_pairs_of(&set, &[0, 1, 2]).unwrap();
        assert_eq!(seen.len(), 60);
        assert!(seen
            .iter()
            .all(|p| labels[p.a as usize] < 3 && labels[p.b as usize] < 3));
        let first: Vec<u32> = (0..100).filter(|i| i % 10 < 7).collect();
        let second: Vec<u32> = (0..100).filter(|i| i % 10 >= 7).collect();
        let mixed = cross_pairs(&labels, &first, &second, 4).unwrap();
        assert_eq!(mixed.len(), 100);
        for p in &mixed {
            let (la, lb) = (labels[p.a as usize], labels[p.b as usize]);
            assert_ne!(la < 7, lb < 7, "{p:?}");
            assert_eq!(p.y, 0);
        }
        assert_eq!(cross_pairs(&labels, &first, &second, 4).unwrap(), mixed);
        assert!(cross_pairs(&labels, &first, &[], 4).is_err());
        assert!(cross_pairs(&labels, &first, &[100], 4).is_err());
    }

    #[test]
    fn one_image_classes_are_negatives_only_and_labels_go_past_255() {
        // 300 classes: 0..150 with three images each, 150..300 with one.
        let mut labels: Vec<Label> = (0..450).map(|i| (i % 150) as Label).collect();
        labels.extend(150..300);
        let idx: Vec<u32> = (0..labels.len() as u32).collect();
        let pairs = make_pairs(&labels, &idx, 5).unwrap();
        assert_eq!(
            pairs.len(),
            2 * 450,
            "one positive and one negative per anchor"
        );
        let single = |i: u32| labels[i as usize] >= 150;
        assert!(
            pairs.iter().all(|p| !single(p.a)),
            "a one-image class is never an anchor"
        );
        for p in &pairs {
            let same = labels[p.a as usize] == labels[p.b as usize];
            assert_eq!(same, p.y == 1, "{p:?}");
            assert_ne!(p.a, p.b);
        }
        assert!(
            pairs.iter().any(|p| p.y == 0 && single(p.b)),
            "singles serve as negatives"
        );
        let all_single: Vec<Label> = (0..5).collect();
        assert!(make_pairs(&all_single, &[0, 1, 2, 3, 4], 1).is_err());
    }

    #[test]
    fn pair_indices_must_lie_inside_the_set() {
        assert!(check_pair_indices([(0, 2), (2, 1)], 3).is_ok());
        assert!(check_pair_indices([], 0).is_ok());
        let err = check_pair_indices([(0, 1), (1, 3), (4, 0)], 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument: pair (1, 3) outside the 3 images"
        );
        assert!(check_pair_indices([(3, 0)], 3).is_err());
        let set = ImageSet::new(
            vec![0; 4],
            vec![0, 1, 0, 1],
            (1, 1, 1),
            vec!["a".into(), "b".into()],
        )
        .unwrap();
        assert!(set.check_pairs(&[Pair { a: 3, b: 0, y: 0 }]).is_ok());
        assert!(set.check_pairs(&[Pair { a: 0, b: 4, y: 0 }]).is_err());
    }

    #[test]
    fn pairs_are_balanced_correct_and_seeded() {
        let labels: Vec<Label> = (0..300).map(|i| (i % 3) as Label).collect();
        let idx: Vec<u32> = (0..300).collect();
        let p = make_pairs(&labels, &idx, 11).unwrap();
        assert_eq!(p.len(), 600);
        let pos = p.iter().filter(|q| q.y == 1).count();
        assert_eq!(pos, 300);
        let mut neg_class = [0usize; 3];
        for q in &p {
            let same = labels[q.a as usize] == labels[q.b as usize];
            assert_eq!(same, q.y == 1);
            if q.y == 1 {
                assert_ne!(q.a, q.b);
            } else {
                neg_class[labels[q.b as usize] as usize] += 1;
            }
        }
        assert!(
            neg_class.iter().all(|&n| (70..=130).contains(&n)),
            "{neg_class:?}"
        );
        assert_eq!(make_pairs(&labels, &idx, 11).unwrap(), p);
        assert_ne!(make_pairs(&labels, &idx, 12).unwrap(), p);
    }

    #[test]
    fn partners_stay_inside_the_given_indices() {
        let labels: Vec<Label> = (0..100).map(|i| (i % 2) as Label).collect();
        let idx: Vec<u32> = (0..100).filter(|i| i % 5 == 0 || i % 5 == 1).collect();
        for q in make_pairs(&labels, &idx, 3).unwrap() {
            assert!(idx.contains(&q.a) && idx.contains(&q.b));
        }
    }

    #[test]
    fn one_class_is_an_error_and_singletons_are_never_anchors() {
        assert!(make_pairs(&[0, 0, 0], &[0, 1, 2], 0).is_err());
        assert!(make_pairs(&[0, 1], &[0, 5], 0).is_err());
        assert!(make_pairs(&[0, 1], &[0, 1], 0).is_err());
        let p = make_pairs(&[0, 0, 1], &[0, 1, 2], 0).unwrap();
        let want = [(0, 1, 1), (0, 2, 0), (1, 0, 1), (1, 2, 0)];
        let got: Vec<(u32, u32, u8)> = p.iter().map(|q| (q.a, q.b, q.y)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn per_epoch_mode_changes_pairs_fixed_does_not() {
        let labels: Vec<Label> = (0..50).map(|i| (i % 5) as Label).collect();
        let idx: Vec<u32> = (0..50).collect();
        let f0 = pairs_for_epoch(PairMode::Fixed, &labels, &idx, 1, 0).unwrap();
        let f1 = pairs_for_epoch(PairMode::Fixed, &labels, &idx, 1, 1).unwrap();
        assert_eq!(f0, f1);
        let e0 = pairs_for_epoch(PairMode::PerEpoch, &labels, &idx, 1, 0).unwrap();
        let e1 = pairs_for_epoch(PairMode::PerEpoch, &labels, &idx, 1, 1).unwrap();
        assert_ne!(e0, e1);
    }
}
