//! The comparison module on the tape: Euclidean distance and cosine similarity of the rows of
//! two N×E embeddings, one value per pair. Forward and backward are
//! `siamese_tensor::ops::distance` (the formulas and the √ guard are there).

use siamese_tensor::ops::distance::{
    cosine_backward, cosine_forward, euclidean_backward, euclidean_forward,
};
use siamese_tensor::Tensor;

use super::{Tape, Var};
use crate::error::{shape_err, Result};

impl Tape {
    /// (N, E) of two embeddings that must both be N×E.
    fn pair_sizes(&self, op: &'static str, a: Var, b: Var) -> Result<(usize, usize)> {
        let (sa, sb) = (self.value(a)?.shape(), self.value(b)?.shape());
        if sa.len() != 2 || sa != sb {
            return Err(shape_err(
                op,
                format!("embeddings must both be N×E, got {sa:?} and {sb:?}"),
            ));
        }
        Ok((sa[0], sa[1]))
    }

    /// Euclidean distance d_n = √max(Σ_i (a_ni − b_ni)², ε) ([N]);
    /// backward: da_n = dd_n·(a_n − b_n)/d_n = −db_n where Σ² > ε, else 0.
    pub fn euclidean(&mut self, a: Var, b: Var, eps: f32) -> Result<Var> {
        let (n, e) = self.pair_sizes("euclidean", a, b)?;
        let mut d = Tensor::zeros(&[n])?;
        let (at, bt) = (self.value(a)?.data(), self.value(b)?.data());
        euclidean_forward(n, e, at, bt, eps, d.data_mut())?;
        Ok(self.push(d, &[a, b], move |g, d, dd| {
            let (mut da, mut db) = (Tensor::zeros(&[n, e])?, Tensor::zeros(&[n, e])?);
            let (at, bt) = (g.value(a).data(), g.value(b).data());
            euclidean_backward(
                n,
                e,
                at,
                bt,
                d.data(),
                dd.data(),
                eps,
                da.data_mut(),
                db.data_mut(),
            )?;
            g.add(a, da);
            g.add(b, db);
            Ok(())
        }))
    }

    /// Cosine similarity c_n = ⟨a_n, b_n⟩/√max(‖a_n‖²‖b_n‖², ε) ([N]);
    /// backward: da_n = dc_n·(b_n/den − c_n·a_n/‖a_n‖²), symmetric in b.
    pub fn cosine_similarity(&mut self, a: Var, b: Var, eps: f32) -> Result<Var> {
        let (n, e) = self.pair_sizes("cosine_similarity", a, b)?;
        let mut c = Tensor::zeros(&[n])?;
        let (at, bt) = (self.value(a)?.data(), self.value(b)?.data());
        cosine_forward(n, e, at, bt, eps, c.data_mut())?;
        Ok(self.push(c, &[a, b], move |g, _, dc| {
            let (mut da, mut db) = (Tensor::zeros(&[n, e])?, Tensor::zeros(&[n, e])?);
            let (at, bt) = (g.value(a).data(), g.value(b).data());
            cosine_backward(n, e, at, bt, dc.data(), eps, da.data_mut(), db.data_mut())?;
            g.add(a, da);
            g.add(b, db);
            Ok(())
        }))
    }
}
