//! [`Tensor`]: an owned, contiguous, row-major f32 array of up to four axes (N, C, H, W).

use crate::error::{Result, TensorError};

/// An owned, contiguous f32 tensor with at most four axes, row-major (the last axis is
/// contiguous), so a 4-D tensor is laid out N, C, H, W. No strides: a reshape is free and
/// every kernel reads plain slices.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Shape,
    data: Vec<f32>,
}

/// Up to four axis lengths held inline, so making a tensor allocates only its data (a
/// training step makes a few hundred tensors).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Shape {
    dims: [usize; 4],
    rank: usize,
}

impl Shape {
    /// The shape `s`, of at most four axes (the caller checked it with `check_rank`).
    fn new(s: &[usize]) -> Self {
        let mut dims = [0; 4];
        dims[..s.len()].copy_from_slice(s);
        Self {
            dims,
            rank: s.len(),
        }
    }
}

impl std::ops::Deref for Shape {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.dims[..self.rank]
    }
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

fn check_rank(shape: &[usize]) -> Result<()> {
    if shape.len() > 4 {
        return Err(TensorError::TooManyAxes(shape.to_vec()));
    }
    Ok(())
}

impl Tensor {
    /// A tensor of zeros. Errors only if `shape` has more than four axes.
    pub fn zeros(shape: &[usize]) -> Result<Self> {
        Self::full(shape, 0.0)
    }

    /// A tensor whose every element is `value`. Large tensors (conv activations and their
    /// gradients) are filled by all rayon workers: a serial fill of a few MB per op was the
    /// main sequential part of a training step.
    pub fn full(shape: &[usize], value: f32) -> Result<Self> {
        /// Below this many elements one thread fills faster than a fork/join costs.
        const PAR_FILL: usize = 1 << 16;
        check_rank(shape)?;
        let len: usize = shape.iter().product();
        let data = if len >= PAR_FILL && rayon::current_num_threads() > 1 {
            use rayon::prelude::*;
            // An indexed parallel collect writes each element once, straight into the Vec.
            (0..len).into_par_iter().map(|_| value).collect()
        } else {
            vec![value; len]
        };
        Ok(Self {
            shape: Shape::new(shape),
            data,
        })
    }

    /// Wraps `data` as a tensor of `shape`; the length must equal the product of the shape.
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Result<Self> {
        check_rank(shape)?;
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(TensorError::LengthMismatch {
                shape: shape.to_vec(),
                expected,
                got: data.len(),
            });
        }
        Ok(Self {
            shape: Shape::new(shape),
            data,
        })
    }

    /// A 0-axis tensor holding one value.
    pub fn scalar(value: f32) -> Self {
        Self {
            shape: Shape::new(&[]),
            data: vec![value],
        }
    }

    /// The shape, outermost axis first.
    pub fn shape(&self) -> &[usize] {
        &self.shape[..]
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no element (some axis is 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements in row-major order.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The elements in row-major order, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Gives up the tensor, returning its buffer.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// The same values under another shape with the same number of elements.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        check_rank(shape)?;
        let to_len: usize = shape.iter().product();
        if to_len != self.data.len() {
            return Err(TensorError::BadReshape {
                from: self.shape.to_vec(),
                to: shape.to_vec(),
                from_len: self.data.len(),
                to_len,
            });
        }
        self.shape = Shape::new(shape);
        Ok(self)
    }

    /// Row-major offset of a multi-index, or `None` when it is out of range or of the wrong rank.
    pub fn offset(&self, index: &[usize]) -> Option<usize> {
        if index.len() != self.shape.len() {
            return None;
        }
        let mut off = 0;
        for (&i, &d) in index.iter().zip(self.shape.iter()) {
            if i >= d {
                return None;
            }
            off = off * d + i;
        }
        Some(off)
    }

    /// The element at a multi-index, or `None` when it is out of range.
    pub fn get(&self, index: &[usize]) -> Option<f32> {
        self.offset(index).map(|o| self.data[o])
    }

    /// Sets the element at a multi-index; errors when it is out of range.
    pub fn set(&mut self, index: &[usize], value: f32) -> Result<()> {
        match self.offset(index) {
            Some(o) => {
                self.data[o] = value;
                Ok(())
            }
            None => Err(crate::error::shape_err(
                "set",
                format!("index {index:?} is outside shape {:?}", self.shape),
            )),
        }
    }

    /// The shape padded on the left with 1s to exactly four axes (N, C, H, W).
    pub fn nchw(&self) -> [usize; 4] {
        let mut s = [1usize; 4];
        let r = self.shape.len();
        s[4 - r..].copy_from_slice(&self.shape);
        s
    }

    /// Items `start..start + len` along the first axis (e.g. a sub-batch of an N×C×H×W
    /// batch), copied into a new tensor; errors when the range runs past the end.
    pub fn batch_slice(&self, start: usize, len: usize) -> Result<Self> {
        let n = self.shape.first().copied().unwrap_or(0);
        if start.checked_add(len).is_none_or(|end| end > n) {
            return Err(crate::error::shape_err(
                "batch_slice",
                format!(
                    "items {start}..{} of shape {:?}",
                    start.saturating_add(len),
                    self.shape
                ),
            ));
        }
        let per: usize = self.shape[1..].iter().product();
        let mut shape = self.shape;
        shape.dims[0] = len;
        Self::from_vec(&shape, self.data[start * per..(start + len) * per].to_vec())
    }

    /// The items `indices` of the first axis, in that order (a copy): N×… → len(indices)×….
    pub fn gather_batch(&self, indices: &[usize]) -> Result<Self> {
        let n = self.shape.first().copied().unwrap_or(0);
        if let Some(&i) = indices.iter().find(|&&i| i >= n) {
            return Err(crate::error::shape_err(
                "gather_batch",
                format!("item {i} of shape {:?}", self.shape),
            ));
        }
        let per: usize = self.shape[1..].iter().product();
        let mut shape = self.shape;
        shape.dims[0] = indices.len();
        let mut data = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            data.extend_from_slice(&self.data[i * per..][..per]);
        }
        Self::from_vec(&shape, data)
    }

    /// Largest absolute element-wise difference to `other` (infinite if the shapes differ).
    pub fn max_abs_diff(&self, other: &Tensor) -> f32 {
        if self.shape != other.shape {
            return f32::INFINITY;
        }
        self.data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_checks_length() {
        assert!(Tensor::from_vec(&[2, 3], vec![0.0; 6]).is_ok());
        let e = Tensor::from_vec(&[2, 3], vec![0.0; 5]).unwrap_err();
        assert_eq!(
            e,
            TensorError::LengthMismatch {
                shape: vec![2, 3],
                expected: 6,
                got: 5
            }
        );
    }

    #[test]
    fn rank_is_at_most_four() {
        assert!(matches!(
            Tensor::zeros(&[1, 1, 1, 1, 1]),
            Err(TensorError::TooManyAxes(_))
        ));
    }

    #[test]
    fn reshape_is_checked() {
        let t = Tensor::zeros(&[2, 6]).unwrap();
        let t = t.reshape(&[3, 4]).unwrap();
        assert_eq!(t.shape(), &[3, 4]);
        assert!(t.reshape(&[5]).is_err());
    }

    #[test]
    fn batch_slice_takes_items_along_the_first_axis() {
        let t = Tensor::from_vec(&[3, 1, 2], (0..6).map(|v| v as f32).collect()).unwrap();
        let s = t.batch_slice(1, 2).unwrap();
        assert_eq!(s.shape(), &[2, 1, 2]);
        assert_eq!(s.data(), &[2.0, 3.0, 4.0, 5.0]);
        assert!(t.batch_slice(2, 2).is_err());
        assert!(t.batch_slice(usize::MAX, 2).is_err());
        assert_eq!(t.batch_slice(3, 0).unwrap().len(), 0);
    }

    #[test]
    fn gather_batch_takes_items_in_the_given_order() {
        let t = Tensor::from_vec(&[3, 1, 2], (0..6).map(|v| v as f32).collect()).unwrap();
        let g = t.gather_batch(&[2, 0, 2]).unwrap();
        assert_eq!(g.shape(), &[3, 1, 2]);
        assert_eq!(g.data(), &[4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
        assert!(t.gather_batch(&[3]).is_err());
        assert_eq!(t.gather_batch(&[]).unwrap().len(), 0);
    }

    #[test]
    fn full_fills_large_tensors_in_parallel_with_the_value() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let t = pool.install(|| Tensor::full(&[3, 70_000], 1.5).unwrap());
        assert_eq!(t.len(), 210_000);
        assert!(t.data().iter().all(|&v| v == 1.5));
    }

    #[test]
    fn indexing_is_row_major() {
        let t = Tensor::from_vec(&[2, 3], (0..6).map(|v| v as f32).collect()).unwrap();
        assert_eq!(t.get(&[1, 2]), Some(5.0));
        assert_eq!(t.get(&[0, 1]), Some(1.0));
        assert_eq!(t.get(&[2, 0]), None);
        assert_eq!(t.get(&[0]), None);
        assert_eq!(t.nchw(), [1, 1, 2, 3]);
    }
}
