//! The comparison module on the tape: Euclidean distance and cosine similarity of the rows of
//! two N×E embeddings, one value per pair. Forward and backward are
//! `siamese_tensor::ops::distance` (the formulas and the √ guard are there).

use siamese_tensor::ops::distance::{
    cosine_backward, cosine_forward, euclidean_backward, euclidean_forward, unit_rows_backward,
    unit_rows_forward,
};
use siamese_tensor::{Result as TensorResult, Tensor};

use super::{Tape, Var};

/// A comparison op's forward: (N, E, a, b, ε, out).
type PairForward = fn(usize, usize, &[f32], &[f32], f32, &mut [f32]) -> TensorResult<()>;
/// Its backward: (N, E, (a, b), (out, dout), ε, da, db).
type PairBackward = fn(
    usize,
    usize,
    (&[f32], &[f32]),
    (&[f32], &[f32]),
    f32,
    &mut [f32],
    &mut [f32],
) -> TensorResult<()>;
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

    /// Records a comparison-module op of two N×E embeddings: `fwd` gives one value per pair,
    /// `bwd` (given the pairs, the values and their upstream gradient) da and db.
    fn pair_op(
        &mut self, op: &'static str, (a, b): (Var, Var), eps: f32, fwd: PairForward,
        bwd: PairBackward,
    ) -> Result<Var> {
        let (n, e) = self.pair_sizes(op, a, b)?;
        let mut out = Tensor::zeros(&[n])?;
        fwd(
            n,
            e,
            self.value(a)?.data(),
            self.value(b)?.data(),
            eps,
            out.data_mut(),
        )?;
        Ok(self.push(out, &[a, b], move |g, y, dy| {
            let (mut da, mut db) = (Tensor::zeros(&[n, e])?, Tensor::zeros(&[n, e])?);
            let ab = (g.value(a).data(), g.value(b).data());
            bwd(
                n,
                e,
                ab,
                (y.data(), dy.data()),
                eps,
                da.data_mut(),
                db.data_mut(),
            )?;
            g.add(a, da);
            g.add(b, db);
            Ok(())
        }))
    }

    /// Euclidean distance d_n = √max(Σ_i (a_ni − b_ni)², ε) (\[N\]);
    /// backward: da_n = dd_n·(a_n − b_n)/d_n = −db_n where Σ² > ε, else 0.
    pub fn euclidean(&mut self, a: Var, b: Var, eps: f32) -> Result<Var> {
        self.pair_op(
            "euclidean",
            (a, b),
            eps,
            euclidean_forward,
            |n, e, (a, b), (d, dd), eps, da, db| euclidean_backward(n, e, a, b, d, dd, eps, da, db),
        )
    }

    /// Cosine similarity c_n = ⟨a_n, b_n⟩/√max(‖a_n‖²‖b_n‖², ε) (\[N\]);
    /// backward: da_n = dc_n·(b_n/den − c_n·a_n/‖a_n‖²), symmetric in b.
    pub fn cosine_similarity(&mut self, a: Var, b: Var, eps: f32) -> Result<Var> {
        self.pair_op(
            "cosine_similarity",
            (a, b),
            eps,
            cosine_forward,
            |n, e, (a, b), (_, dc), eps, da, db| cosine_backward(n, e, a, b, dc, eps, da, db),
        )
    }

    /// Unit rows ê_n = e_n/√max(‖e_n‖², ε) of an N×E matrix (N×E);
    /// backward: de_n = (dê_n − ê_n·⟨ê_n, dê_n⟩)/r_n (guard: dê_n/√ε).
    pub fn unit_rows(&mut self, x: Var, eps: f32) -> Result<Var> {
        let xt = self.value(x)?;
        if xt.rank() != 2 {
            return Err(shape_err(
                "unit_rows",
                format!("need an N×E matrix, got {:?}", xt.shape()),
            ));
        }
        let (n, e) = (xt.shape()[0], xt.shape()[1]);
        let mut out = Tensor::zeros(&[n, e])?;
        unit_rows_forward(n, e, xt.data(), eps, out.data_mut())?;
        Ok(self.unary(x, out, move |xt, _, dy| {
            let mut dx = Tensor::zeros(&[n, e])?;
            unit_rows_backward(n, e, xt.data(), dy.data(), eps, dx.data_mut())?;
            Ok(dx)
        }))
    }
}
