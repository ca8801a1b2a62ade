//! Seeded, stratified train/validation splits and subsampling.
//!
//! The paper holds out 12,000 of the 60,000 MNIST / Fashion-MNIST training images (48,000 / 12,000)
//! and 10,000 of the 50,000 CIFAR-10 ones (40,000 / 10,000). Stratified: each class gives the same
//! share of its images to validation (largest-remainder rounding so the total is exact).
//!
//! Class subsets (`--train-classes 0-6`): [`parse_classes`] reads a list of class indices,
//! ranges and names, and [`of_classes`] keeps the images of those classes. Filtering a
//! stratified split by class keeps it stratified and seeded.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::dataset::{ImageSet, Label};
use crate::error::{DataError, Result};
use crate::registry::DatasetKind;

/// How many images go to validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValSize {
    /// This many images in total, spread over classes in proportion to their sizes.
    Count(usize),
    /// This many images from every class.
    PerClass(usize),
}

/// Groups the positions `0..labels.len()` (or the given `indices`) by class, in ascending order.
fn by_class(labels: &[Label], indices: &[u32]) -> Result<Vec<Vec<u32>>> {
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut groups = vec![Vec::new(); classes];
    for &i in indices {
        let l = *labels.get(i as usize).ok_or_else(|| {
            DataError::InvalidArgument(format!("index {i} outside 0..{}", labels.len()))
        })?;
        groups[l as usize].push(i);
    }
    Ok(groups)
}

/// Per-class quotas summing exactly to `total`, proportional to `sizes` (largest remainder,
/// ties to the lower class index).
fn proportional_quotas(sizes: &[usize], total: usize) -> Vec<usize> {
    let n: usize = sizes.iter().sum();
    if n == 0 {
        return vec![0; sizes.len()];
    }
    let mut quotas: Vec<usize> = sizes.iter().map(|&s| s * total / n).collect();
    let mut rema: Vec<(usize, usize)> = sizes
        .iter()
        .enumerate()
        .map(|(c, &s)| ((s * total) % n, c))
        .collect();
    // Largest remainder first; ties broken by class index for determinism.
    rema.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = total - quotas.iter().sum::<usize>();
    for &(_, c) in &rema {
        if left == 0 {
            break;
        }
        if quotas[c] < sizes[c] {
            quotas[c] += 1;
            left -= 1;
        }
    }
    quotas
}

/// Splits the positions of `indices` (all of `labels` when `None`) into `(train, val)`, stratified
/// by class and seeded with `ChaCha8Rng::seed_from_u64(seed)`. Both lists come back sorted ascending.
///
/// Errors: validation larger than the data (or than a class, for `PerClass`), indices out of range.
pub fn stratified_of(
    labels: &[Label], indices: Option<&[u32]>, val: ValSize, seed: u64,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let all: Vec<u32>;
    let indices = match indices {
        Some(i) => i,
        None => {
            all = (0..labels.len() as u32).collect();
            &all
        }
    };
    let mut groups = by_class(labels, indices)?;
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    let quotas = match val {
        ValSize::Count(total) => {
            if total > indices.len() {
                return Err(DataError::InvalidArgument(format!(
                    "cannot hold out {total} validation images from {}",
                    indices.len()
                )));
            }
            proportional_quotas(&sizes, total)
        }
        ValSize::PerClass(k) => {
            if let Some((c, &s)) = sizes.iter().enumerate().find(|(_, &s)| s > 0 && s < k) {
                return Err(DataError::InvalidArgument(format!(
                    "class {c} has {s} images, fewer than {k} per class for validation"
                )));
            }
            sizes.iter().map(|&s| if s > 0 { k } else { 0 }).collect()
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(indices.len());
    let mut valid = Vec::with_capacity(quotas.iter().sum());
    for (group, &q) in groups.iter_mut().zip(&quotas) {
        group.shuffle(&mut rng);
        valid.extend_from_slice(&group[..q]);
        train.extend_from_slice(&group[q..]);
    }
    train.sort_unstable();
    valid.sort_unstable();
    Ok((train, valid))
}

/// Stratified split of all images: `(train_idx, val_idx)` (see [`stratified_of`]).
pub fn stratified(labels: &[Label], val: ValSize, seed: u64) -> Result<(Vec<u32>, Vec<u32>)> {
    stratified_of(labels, None, val, seed)
}

/// The paper's split of a training set: 48,000 / 12,000 (MNIST, Fashion-MNIST) or 40,000 / 10,000
/// (CIFAR-10), stratified and seeded. For a set smaller than the official one (hand-made or
/// subsampled), the same 20 % fraction is held out.
pub fn paper_split(kind: DatasetKind, train: &ImageSet, seed: u64) -> Result<(Vec<u32>, Vec<u32>)> {
    let val = if train.len() == kind.train_count() {
        kind.paper_val_count()
    } else {
        train.len() * kind.paper_val_count() / kind.train_count()
    };
    stratified(&train.labels, ValSize::Count(val), seed)
}

/// The share of a user's image folder held out for validation and, when the folder has no
/// `test/` part, for the test: 15 % each, stratified ([`folder_split`]).
pub const FOLDER_SHARE_PERCENT: usize = 15;

/// The seed of a folder's test split: fixed, so runs of every seed test on the same images.
pub const FOLDER_TEST_SEED: u64 = 0x7E57_5EED;

/// Splits the images `indices` into (kept, held out), seeded, so that both sides can make
/// positive pairs. Each class of n images holds out ⌊n·[`FOLDER_SHARE_PERCENT`]/100⌋ of them,
/// except that a share of 1 becomes 2 when n ≥ 4 (else 0): a held-out class has two images or
/// none, and a kept class keeps two. When no class then holds out two (every class is small),
/// whole classes are held out instead: ⌈15 %⌉ of the classes, at least 2, drawn by `seed`
/// (the unseen-class protocol). A folder without `test/` is split by it with
/// [`FOLDER_TEST_SEED`] (test), then its rest with the run's seed (validation); a folder
/// without `val/` by the latter only. Errors: fewer than 4 classes when whole classes must go.
pub fn folder_split(labels: &[Label], indices: &[u32], seed: u64) -> Result<(Vec<u32>, Vec<u32>)> {
    let mut groups = by_class(labels, indices)?;
    let quota = |n: usize| match n * FOLDER_SHARE_PERCENT / 100 {
        1 if n >= 4 => 2,
        1 => 0,
        q => q,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut kept, mut held) = (Vec::new(), Vec::new());
    if groups.iter().any(|g| quota(g.len()) >= 2) {
        for g in &mut groups {
            g.shuffle(&mut rng);
            let q = quota(g.len());
            held.extend_from_slice(&g[..q]);
            kept.extend_from_slice(&g[q..]);
        }
    } else {
        let mut present: Vec<usize> = (0..groups.len())
            .filter(|&c| !groups[c].is_empty())
            .collect();
        let take = (present.len() * FOLDER_SHARE_PERCENT).div_ceil(100).max(2);
        if present.len() < take + 2 {
            return Err(DataError::InvalidArgument(format!(
                "too few images to hold out: {} classes, none with {} or more images; give the folder test/ (and val/) subfolders",
                present.len(),
                100 / FOLDER_SHARE_PERCENT + 1
            )));
        }
        present.shuffle(&mut rng);
        for (k, &c) in present.iter().enumerate() {
            let side = if k < take { &mut held } else { &mut kept };
            side.extend_from_slice(&groups[c]);
        }
    }
    kept.sort_unstable();
    held.sort_unstable();
    Ok((kept, held))
}

/// A stratified, seeded subsample of `limit` of the given `indices` (all of them, sorted, when
/// `limit >= indices.len()`): the `--limit N` option for quick runs.
pub fn limit(labels: &[Label], indices: &[u32], limit: usize, seed: u64) -> Result<Vec<u32>> {
    if limit >= indices.len() {
        let mut all = indices.to_vec();
        all.sort_unstable();
        return Ok(all);
    }
    // "Validation" of the stratified split = the kept subsample.
    let (_, kept) = stratified_of(labels, Some(indices), ValSize::Count(limit), seed)?;
    Ok(kept)
}

/// Parses a class list such as `0-6`, `7,8,9`, `0-2,5` or `Trouser,Bag` (names from
/// `class_names`, case-insensitive; a whole item that names a class wins over a range, so
/// `T-shirt/top` is a name): the class indices, sorted, without repeats.
///
/// Errors: an empty list, an unknown name, an index outside `0..class_names.len()`, a range
/// whose end is below its start.
pub fn parse_classes(spec: &str, class_names: &[String]) -> Result<Vec<Label>> {
    let n = class_names.len();
    let bad = |m: String| DataError::InvalidArgument(format!("class list '{spec}': {m}"));
    let index = |t: &str| -> Result<usize> {
        let t = t.trim();
        if let Some(c) = class_names.iter().position(|c| c.eq_ignore_ascii_case(t)) {
            return Ok(c);
        }
        match t.parse::<usize>() {
            Ok(i) if i < n => Ok(i),
            Ok(i) => Err(bad(format!("class {i} outside 0..{n}"))),
            Err(_) => Err(bad(format!(
                "'{t}' is neither a class index nor one of {}",
                class_names.join(", ")
            ))),
        }
    };
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let named = class_names.iter().any(|c| c.eq_ignore_ascii_case(item));
        match item.split_once('-') {
            Some((lo, hi)) if !named => {
                let (lo, hi) = (index(lo)?, index(hi)?);
                if hi < lo {
                    return Err(bad(format!("range {item} ends below its start")));
                }
                out.extend(lo..=hi);
            }
            _ => out.push(index(item)?),
        }
    }
    if out.is_empty() {
        return Err(bad("no class given".into()));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out.into_iter().map(|c| c as Label).collect())
}

/// The entries of `indices` whose label is one of `classes`, in their order.
pub fn of_classes(labels: &[Label], indices: &[u32], classes: &[Label]) -> Vec<u32> {
    let mut keep = [false; 256];
    for &c in classes {
        keep[c as usize] = true;
    }
    indices
        .iter()
        .copied()
        .filter(|&i| labels.get(i as usize).is_some_and(|&l| keep[l as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_lists_parse_indices_ranges_and_names() {
        let digits: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(
            parse_classes("0-6", &digits).unwrap(),
            [0, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(parse_classes("9, 7,8,7", &digits).unwrap(), [7, 8, 9]);
        assert_eq!(parse_classes("0-1,5", &digits).unwrap(), [0, 1, 5]);
        let fashion: Vec<String> = ["T-shirt/top", "Trouser", "Pullover", "Ankle boot"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(parse_classes("t-shirt/top,bag-less", &fashion).is_err());
        assert_eq!(
            parse_classes("T-shirt/top,ankle boot", &fashion).unwrap(),
            [0, 3]
        );
        assert_eq!(parse_classes("trouser-2", &fashion).unwrap(), [1, 2]);
        for bad in ["", "10", "6-2", "x", "0-"] {
            let e = parse_classes(bad, &digits).unwrap_err().to_string();
            assert!(e.contains("class list"), "{bad}: {e}");
        }
    }

    #[test]
    fn folder_splits_leave_positive_pairs_on_both_sides() {
        let count = |idx: &[u32], l: &[Label], c: Label| {
            idx.iter().filter(|&&i| l[i as usize] == c).count()
        };
        // Classes of 20, 7, 3 and 1 images: 3, 2, 0 and 0 held out.
        let mut l: Vec<Label> = Vec::new();
        for (c, n) in [(0, 20), (1, 7), (2, 3), (3, 1)] {
            l.extend(std::iter::repeat_n(c, n));
        }
        let all: Vec<u32> = (0..l.len() as u32).collect();
        let (kept, held) = folder_split(&l, &all, 1).unwrap();
        let got: Vec<(usize, usize)> = (0..4)
            .map(|c| (count(&kept, &l, c), count(&held, &l, c)))
            .collect();
        assert_eq!(got, [(17, 3), (5, 2), (3, 0), (1, 0)]);
        assert_eq!(
            folder_split(&l, &all, 1).unwrap(),
            (kept.clone(), held.clone())
        );
        assert_ne!(folder_split(&l, &all, 2).unwrap().1, held, "seeded");
        // 300 classes of 3 images: whole classes (45) are held out.
        let l: Vec<Label> = (0..900).map(|i| (i / 3) as Label).collect();
        let all: Vec<u32> = (0..900).collect();
        let (kept, held) = folder_split(&l, &all, 0).unwrap();
        assert_eq!((kept.len(), held.len()), (765, 135));
        for c in 0..300 {
            let (k, h) = (count(&kept, &l, c), count(&held, &l, c));
            assert!(
                (k, h) == (3, 0) || (k, h) == (0, 3),
                "class {c}: {k} kept, {h} held"
            );
        }
        let few: Vec<Label> = vec![0, 0, 1, 1, 2, 2];
        assert!(folder_split(&few, &[0, 1, 2, 3, 4, 5], 0).is_err());
    }

    #[test]
    fn of_classes_keeps_exactly_the_listed_classes() {
        let l: Vec<Label> = (0..30).map(|i| (i % 10) as Label).collect();
        let idx: Vec<u32> = (0..30).rev().collect();
        let kept = of_classes(&l, &idx, &[7, 8, 9]);
        assert_eq!(kept, [29, 28, 27, 19, 18, 17, 9, 8, 7]);
        assert!(of_classes(&l, &[99], &[0]).is_empty());
    }

    fn labels(hist: &[usize]) -> Vec<Label> {
        // Interleave classes so that position says nothing about class.
        let mut out = Vec::new();
        let mut left = hist.to_vec();
        while left.iter().any(|&l| l > 0) {
            for (c, l) in left.iter_mut().enumerate() {
                if *l > 0 {
                    out.push(c as Label);
                    *l -= 1;
                }
            }
        }
        out
    }

    #[test]
    fn quotas_sum_exactly_and_are_proportional() {
        let sizes = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
        let q = proportional_quotas(&sizes, 12_000);
        assert_eq!(q.iter().sum::<usize>(), 12_000);
        for (s, q) in sizes.iter().zip(&q) {
            let exact = *s as f64 * 0.2;
            assert!((*q as f64 - exact).abs() < 1.0, "{q} vs {exact}");
        }
    }

    #[test]
    fn split_is_disjoint_complete_stratified_and_seeded() {
        let l = labels(&[30, 50, 20]);
        let (tr, va) = stratified(&l, ValSize::Count(20), 7).unwrap();
        assert_eq!(tr.len() + va.len(), l.len());
        assert_eq!(va.len(), 20);
        let mut all: Vec<u32> = tr.iter().chain(&va).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<u32>>());
        let hist = |ix: &[u32]| {
            let mut h = [0; 3];
            for &i in ix {
                h[l[i as usize] as usize] += 1;
            }
            h
        };
        assert_eq!(hist(&va), [6, 10, 4]);
        assert_eq!(stratified(&l, ValSize::Count(20), 7).unwrap().1, va);
        assert_ne!(stratified(&l, ValSize::Count(20), 8).unwrap().1, va);
        let (_, pc) = stratified(&l, ValSize::PerClass(5), 1).unwrap();
        assert_eq!(hist(&pc), [5, 5, 5]);
    }

    #[test]
    fn bad_sizes_are_errors() {
        let l = labels(&[3, 3]);
        assert!(stratified(&l, ValSize::Count(7), 0).is_err());
        assert!(stratified(&l, ValSize::PerClass(4), 0).is_err());
        assert!(stratified_of(&l, Some(&[99]), ValSize::Count(0), 0).is_err());
    }

    #[test]
    fn limit_is_stratified_subset() {
        let l = labels(&[40, 40, 20]);
        let idx: Vec<u32> = (0..100).collect();
        let kept = limit(&l, &idx, 10, 3).unwrap();
        assert_eq!(kept.len(), 10);
        let c2 = kept.iter().filter(|&&i| l[i as usize] == 2).count();
        assert_eq!(c2, 2);
        assert_eq!(limit(&l, &idx, 1000, 3).unwrap().len(), 100);
    }
}
