//! A late-training state, so that what slows training down as it converges shows in the
//! bench: the fresh model trained `--late-steps` steps over the bench's few batches (it fits
//! them, so the loss falls as it does after many epochs of real data), with strict IEEE
//! subnormals, as a run without flush-to-zero would reach it. Gradients, Adam's moments and
//! saturated units then hold subnormal values; [`Census`] counts them. The bench times steps
//! from this state with flush-to-zero and with IEEE subnormals, side by side.

use siamese::autodiff::ParamStore;
use siamese::model::SnLenet5;
use siamese::optim::Adam;
use siamese::tensor::fpmode;

/// Values, and subnormal values among them, in the parameters, their gradients and Adam's
/// moments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Census {
    pub values: usize,
    pub subnormal: usize,
}

impl Census {
    pub fn fraction(&self) -> f64 {
        self.subnormal as f64 / self.values.max(1) as f64
    }

    fn add(&mut self, xs: &[f32]) {
        self.values += xs.len();
        self.subnormal += xs.iter().filter(|&&x| fpmode::is_subnormal(x)).count();
    }

    /// Counts over the model's parameters and gradients and the optimiser's m and v.
    pub fn of(model: &SnLenet5, adam: &Adam) -> Census {
        let mut c = Census::default();
        for id in model.store.ids() {
            c.add(model.store.value(id).data());
            c.add(model.store.grad(id).data());
        }
        let s = adam.state();
        for t in s.m.iter().chain(&s.v) {
            c.add(t.data());
        }
        c
    }
}

/// A saved (parameters, optimiser) pair to start each timed repetition from.
#[derive(Clone)]
pub struct Snapshot {
    pub store: ParamStore,
    pub adam: Adam,
}

impl Snapshot {
    pub fn take(model: &SnLenet5, adam: &Adam) -> Self {
        Snapshot {
            store: model.store.clone(),
            adam: adam.clone(),
        }
    }

    pub fn restore(&self, model: &mut SnLenet5, adam: &mut Adam) {
        model.store = self.store.clone();
        *adam = self.adam.clone();
    }
}

/// Runs `f` with this thread and the current pool in the given mode, then puts the process
/// policy back and re-applies it.
pub fn in_mode<T>(flush: bool, f: impl FnOnce() -> T) -> T {
    let policy = fpmode::flush_policy();
    fpmode::set_ieee_subnormals(!flush);
    fpmode::apply_to_pool();
    let out = f();
    fpmode::set_ieee_subnormals(!policy);
    fpmode::apply_to_pool();
    out
}
