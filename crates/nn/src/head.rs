//! The output module of the paper: a sigmoid on the distance, as the Keras siamese example
//! builds it: distance d_n → BatchNorm → Dense(1) → σ, i.e.
//!   s_n = σ(w·BN(d_n) + b),
//! a similarity-like score in (0, 1) that [`crate::loss::contrastive_loss`] reads with
//! `ContrastiveReads::Similarity`.

use rand::Rng;
use siamese_autodiff::{ParamId, ParamStore, Tape, Var};

use crate::error::{invalid, Result};
use crate::init::Init;
use crate::layers::{BatchNorm1d, Linear, Module};

/// BatchNorm1d(1) + Linear(1, 1) + sigmoid, on an N-vector of distances, giving an N-vector.
/// Parameters `{name}.bn.*` and `{name}.fc.*`.
///
/// Beware the collapse trap the peers' README describes: if the Linear weight starts
/// positive while y = 1 means same class, training can pull every embedding together and
/// stall at loss 0.25. Set `{name}.fc.weight` negative after construction to avoid it.
#[derive(Clone, Debug)]
pub struct OutputModule {
    pub bn: BatchNorm1d,
    pub fc: Linear,
}

impl OutputModule {
    /// Registers the BatchNorm and the 1→1 Linear (weight from `init`, bias 0).
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore, name: &str, init: Init, rng: &mut R,
    ) -> Result<Self> {
        Ok(Self {
            bn: BatchNorm1d::new(store, &format!("{name}.bn"), 1)?,
            fc: Linear::new(store, &format!("{name}.fc"), 1, 1, init, rng)?,
        })
    }
}

impl Module for OutputModule {
    /// d: \[N\] (or [N, 1]) → s: \[N\].
    fn forward(&self, tape: &mut Tape, store: &mut ParamStore, d: Var) -> Result<Var> {
        let shape = tape.value(d)?.shape().to_vec();
        let n = match shape[..] {
            [n] | [n, 1] => n,
            _ => {
                return Err(invalid(
                    "OutputModule",
                    format!("distances of shape {shape:?}"),
                ))
            }
        };
        let col = tape.reshape(d, &[n, 1])?;
        let h = self.bn.forward(tape, store, col)?;
        let z = self.fc.forward(tape, store, h)?;
        let s = tape.sigmoid(z)?;
        Ok(tape.reshape(s, &[n])?)
    }

    fn params(&self) -> Vec<ParamId> {
        let mut p = self.bn.params();
        p.extend(self.fc.params());
        p
    }

    fn set_training(&mut self, training: bool) {
        self.bn.set_training(training);
    }
}
