//! The output module of the paper: a sigmoid on the distance, as the Keras siamese example
//! builds it: distance d_n → BatchNorm → Dense(1) → σ, i.e.
//!   s_n = σ(w·BN(d_n) + b),
//! a similarity-like score in (0, 1) that [`crate::loss::contrastive_loss`] reads with
//! `ContrastiveReads::Similarity`. Without the BatchNorm ([`OutputModule::use_bn`] false) it
//! is s_n = σ(w·d_n + b).

use rand::Rng;
use siamese_autodiff::{ParamId, ParamStore, Tape, Var};

use crate::error::{invalid, Result};
use crate::init::Init;
use crate::layers::{BatchNorm1d, Linear, Module};

/// BatchNorm1d(1) + Linear(1, 1) + sigmoid, on an N-vector of distances, giving an N-vector.
/// Parameters `{name}.bn.*` and `{name}.fc.*`. With `use_bn` false the BatchNorm is skipped
/// (its parameters stay registered, at their identity values, so checkpoints keep one
/// layout).
///
/// Beware the collapse trap the peers' README describes: if the Linear weight starts
/// positive while y = 1 means same class, training can pull every embedding together and
/// stall at loss 0.25. Set `{name}.fc.weight` negative after construction to avoid it.
#[derive(Clone, Debug)]
pub struct OutputModule {
    pub bn: BatchNorm1d,
    pub fc: Linear,
    /// Normalise the distance before the Linear (default true).
    pub use_bn: bool,
}

impl OutputModule {
    /// Registers the BatchNorm and the 1→1 Linear (weight from `init`, bias 0).
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore, name: &str, init: Init, rng: &mut R,
    ) -> Result<Self> {
        Ok(Self {
            bn: BatchNorm1d::new(store, &format!("{name}.bn"), 1)?,
            fc: Linear::new(store, &format!("{name}.fc"), 1, 1, init, rng)?,
            use_bn: true,
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
        let h = if self.use_bn {
            self.bn.forward(tape, store, col)?
        } else {
            col
        };
        let z = self.fc.forward(tape, store, h)?;
        let s = tape.sigmoid(z)?;
        Ok(tape.reshape(s, &[n])?)
    }

    fn params(&self) -> Vec<ParamId> {
        let mut p = if self.use_bn {
            self.bn.params()
        } else {
            Vec::new()
        };
        p.extend(self.fc.params());
        p
    }

    fn set_training(&mut self, training: bool) {
        self.bn.set_training(training);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use siamese_tensor::Tensor;

    /// Without the BatchNorm the module is σ(w·d + b) on the distances as given; with it,
    /// the distances are normalised first (training mode: batch statistics), so the same
    /// weights score the same distances differently.
    #[test]
    fn plain_head_is_the_sigmoid_of_the_dense_layer_on_d() {
        let mut store = ParamStore::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut head =
            OutputModule::new(&mut store, "head", Init::GlorotUniform, &mut rng).unwrap();
        store
            .set(
                "head.fc.weight",
                &Tensor::from_vec(&[1, 1], vec![-2.0]).unwrap(),
            )
            .unwrap();
        store
            .set("head.fc.bias", &Tensor::from_vec(&[1], vec![0.5]).unwrap())
            .unwrap();
        let d = [0.25f32, 1.0, 3.0];
        let run = |head: &OutputModule, store: &mut ParamStore| -> Vec<f32> {
            let mut tape = Tape::new();
            let x = tape.input(Tensor::from_vec(&[3], d.to_vec()).unwrap());
            let s = head.forward(&mut tape, store, x).unwrap();
            tape.value(s).unwrap().data().to_vec()
        };
        head.use_bn = false;
        let plain = run(&head, &mut store);
        for (s, d) in plain.iter().zip(d) {
            let want = 1.0 / (1.0 + (-(-2.0 * d + 0.5f32)).exp());
            assert!((s - want).abs() < 1e-6, "{s} vs {want}");
        }
        assert_eq!(head.params().len(), 2, "the plain head trains w and b only");
        head.use_bn = true;
        let bn = run(&head, &mut store);
        assert!((bn[0] - plain[0]).abs() > 1e-3, "{bn:?} vs {plain:?}");
        assert_eq!(head.params().len(), 4);
    }
}
