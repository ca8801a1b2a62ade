//! Pooling on the tape: max and average over k×k windows, kernels of
//! `siamese_tensor::ops::pool` in each direction.

use siamese_tensor::ops::pool;

use super::{Tape, Var};
use crate::error::Result;

impl Tape {
    /// Max-pooling over k×k windows, stride s: y = max over the window; backward routes dy to
    /// the cached argmax (`dx[argmax] += dy`).
    pub fn max_pool2d(&mut self, x: Var, k: usize, stride: usize) -> Result<Var> {
        let (y, argmax) = pool::max_pool2d_forward(self.value(x)?, k, stride)?;
        Ok(self.unary(x, y, move |x, _, dy| {
            Ok(pool::max_pool2d_backward(&dy, &argmax, x.shape())?)
        }))
    }

    /// Average-pooling: y = (1/k²) Σ_window x; backward: dx = dy/k² over each window.
    /// Caches nothing.
    pub fn avg_pool2d(&mut self, x: Var, k: usize, stride: usize) -> Result<Var> {
        let y = pool::avg_pool2d_forward(self.value(x)?, k, stride)?;
        Ok(self.unary(x, y, move |x, _, dy| {
            Ok(pool::avg_pool2d_backward(&dy, x.shape(), k, stride)?)
        }))
    }
}
