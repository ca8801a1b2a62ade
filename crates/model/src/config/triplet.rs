//! The settings of `--loss triplet`: which triplets ([`Mining`]) and the margin
//! ([`TripletConfig`]).

use serde::{Deserialize, Serialize};

use super::Distance;
use crate::error::{ModelError, Result};

named_enum!(
    /// Which triplets of a batch `--loss triplet` is taken over (`siamese_tensor::ops::triplet`
    /// has the rules): `all` (every valid triplet), `batch-hard` (per anchor its farthest
    /// positive and nearest negative; Hermans et al. 2017) or `semi-hard` (per positive pair
    /// the nearest negative farther than the positive; Schroff et al. 2015).
    Mining { All = "all", BatchHard = "batch-hard", SemiHard = "semi-hard" }
);

/// The settings of `--loss triplet`: which triplets (`--mining`) and the margin m
/// (`--margin`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TripletConfig {
    pub mining: Mining,
    pub margin: f32,
}

impl TripletConfig {
    /// The largest margin accepted, a guard against typos (the defaults are 1 and 0.5; the
    /// distances of unit-length embeddings are at most 2).
    pub const MAX_MARGIN: f32 = 10.0;

    /// The defaults for a comparison module: semi-hard mining (batch-hard collapsed every
    /// MNIST run we tried: docs/results.md); margin 1 on the raw
    /// Euclidean distance (the paper's contrastive margin), 0.5 on unit-length embeddings
    /// (the cosine similarity), whose distances lie in [0, 2].
    pub fn default_for(distance: Distance) -> Self {
        Self {
            mining: Mining::SemiHard,
            margin: match distance {
                Distance::Euclidean => 1.0,
                Distance::Cosine => 0.5,
            },
        }
    }

    /// Errors unless the margin is in (0, [`Self::MAX_MARGIN`]].
    pub fn validate(&self) -> Result<()> {
        if !(self.margin > 0.0 && self.margin <= Self::MAX_MARGIN) {
            return Err(ModelError::Config(format!(
                "--margin must be in (0, {}], got {}",
                Self::MAX_MARGIN,
                self.margin
            )));
        }
        Ok(())
    }
}

impl Mining {
    /// The op's spelling of the same rule.
    pub fn op(self) -> siamese_nn::Mining {
        match self {
            Mining::All => siamese_nn::Mining::All,
            Mining::BatchHard => siamese_nn::Mining::BatchHard,
            Mining::SemiHard => siamese_nn::Mining::SemiHard,
        }
    }
}
