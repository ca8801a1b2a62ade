//! Learning-rate schedules: α as a function of the step index t (0-based).
//!
//! | schedule | α(t) |
//! |---|---|
//! | Constant | α₀ |
//! | Cosine | α_min + (α₀ − α_min)·(1 + cos(π·min(t, T)/T))/2 |

/// A learning-rate schedule, the one carrier of the learning rate: call [`LrSchedule::at`]
/// before each step and hand the value to the step ([`crate::Optimizer::step`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    /// α(t) = α₀.
    Constant { lr: f32 },
    /// Cosine decay from α₀ to α_min over `total` steps, then α_min.
    Cosine { lr: f32, min_lr: f32, total: u64 },
}

impl LrSchedule {
    /// The learning rate at step t.
    pub fn at(&self, t: u64) -> f32 {
        match *self {
            LrSchedule::Constant { lr } => lr,
            LrSchedule::Cosine { lr, min_lr, total } => {
                let frac = if total == 0 {
                    1.0
                } else {
                    t.min(total) as f64 / total as f64
                };
                let c = (1.0 + (std::f64::consts::PI * frac).cos()) / 2.0;
                (min_lr as f64 + (lr - min_lr) as f64 * c) as f32
            }
        }
    }
}
