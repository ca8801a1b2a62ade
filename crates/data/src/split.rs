//! Seeded, stratified train/validation splits and subsampling.
//!
//! The paper holds out 12,000 of the 60,000 MNIST / Fashion-MNIST training images (48,000 / 12,000)
//! and 10,000 of the 50,000 CIFAR-10 ones (40,000 / 10,000). Stratified: each class gives the same
//! share of its images to validation (largest-remainder rounding so the total is exact).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::dataset::ImageSet;
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
fn by_class(labels: &[u8], indices: &[u32]) -> Result<Vec<Vec<u32>>> {
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
    labels: &[u8], indices: Option<&[u32]>, val: ValSize, seed: u64,
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
pub fn stratified(labels: &[u8], val: ValSize, seed: u64) -> Result<(Vec<u32>, Vec<u32>)> {
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

/// A stratified, seeded subsample of `limit` of the given `indices` (all of them, sorted, when
/// `limit >= indices.len()`): the `--limit N` option for quick runs.
pub fn limit(labels: &[u8], indices: &[u32], limit: usize, seed: u64) -> Result<Vec<u32>> {
    if limit >= indices.len() {
        let mut all = indices.to_vec();
        all.sort_unstable();
        return Ok(all);
    }
    // "Validation" of the stratified split = the kept subsample.
    let (_, kept) = stratified_of(labels, Some(indices), ValSize::Count(limit), seed)?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(hist: &[usize]) -> Vec<u8> {
        // Interleave classes so that position says nothing about class.
        let mut out = Vec::new();
        let mut left = hist.to_vec();
        while left.iter().any(|&l| l > 0) {
            for (c, l) in left.iter_mut().enumerate() {
                if *l > 0 {
                    out.push(c as u8);
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
