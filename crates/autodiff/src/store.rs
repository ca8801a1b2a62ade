//! [`ParamStore`]: the trained parameters, their gradient buffers and the untrained buffers
//! (e.g. BatchNorm running statistics), all by name and in a fixed registration order.
//!
//! Parameters live here and not on the tape, so a tape is rebuilt every step at the cost of a
//! reference count: [`crate::Tape::param`] shares the value (`Arc`), it does not copy it. The
//! optimizer later writes the value in place through [`ParamStore::value_mut`] /
//! [`ParamStore::params_and_grads_mut`], which only copies if a tape still holds the old value
//! (so drop the step's tape before the optimizer step and no parameter memory is reallocated).

use std::collections::HashMap;
use std::sync::Arc;

use siamese_tensor::Tensor;

use crate::error::{AutodiffError, Result};

/// Index of a trained parameter in a [`ParamStore`] (registration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub(crate) usize);

impl ParamId {
    /// Position of the parameter in registration order.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Index of an untrained buffer (running mean, running variance...) in a [`ParamStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub(crate) usize);

#[derive(Clone, Copy, Debug)]
enum Slot {
    Param(usize),
    Buffer(usize),
}

/// Named parameters with one gradient buffer each, plus named buffers that are saved but not
/// trained. Names follow PyTorch (`subnet.conv1.weight`), layouts too (conv weight
/// [out, in, kh, kw], linear weight [out, in]).
#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    names: Vec<String>,
    values: Vec<Arc<Tensor>>,
    grads: Vec<Tensor>,
    buffer_names: Vec<String>,
    buffers: Vec<Tensor>,
    index: HashMap<String, Slot>,
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn claim(&self, name: &str) -> Result<()> {
        if self.index.contains_key(name) {
            return Err(AutodiffError::DuplicateName(name.to_string()));
        }
        Ok(())
    }

    /// Registers a trained parameter with a zero gradient buffer of the same shape.
    pub fn add_param(&mut self, name: &str, value: Tensor) -> Result<ParamId> {
        self.claim(name)?;
        let id = self.values.len();
        self.grads.push(Tensor::zeros(value.shape())?);
        self.values.push(Arc::new(value));
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), Slot::Param(id));
        Ok(ParamId(id))
    }

    /// Registers an untrained buffer (saved in checkpoints, never touched by an optimizer).
    pub fn add_buffer(&mut self, name: &str, value: Tensor) -> Result<BufferId> {
        self.claim(name)?;
        let id = self.buffers.len();
        self.buffers.push(value);
        self.buffer_names.push(name.to_string());
        self.index.insert(name.to_string(), Slot::Buffer(id));
        Ok(BufferId(id))
    }

    /// Number of trained parameters (tensors, not scalars).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no parameter is registered.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of trained scalars.
    pub fn num_scalars(&self) -> usize {
        self.values.iter().map(|v| v.len()).sum()
    }

    /// Ids of all parameters, in registration order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> {
        (0..self.values.len()).map(ParamId)
    }

    /// The id of the parameter called `name`, if any.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        match self.index.get(name) {
            Some(Slot::Param(i)) => Some(ParamId(*i)),
            _ => None,
        }
    }

    /// The id of the buffer called `name`, if any.
    pub fn buffer_id(&self, name: &str) -> Option<BufferId> {
        match self.index.get(name) {
            Some(Slot::Buffer(i)) => Some(BufferId(*i)),
            _ => None,
        }
    }

    pub(crate) fn check(&self, id: ParamId) -> Result<()> {
        if id.0 >= self.values.len() {
            return Err(AutodiffError::ForeignParam {
                index: id.0,
                len: self.values.len(),
            });
        }
        Ok(())
    }

    /// Name of a parameter. Panics only if `id` came from another store (a programming error).
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[id.0]
    }

    /// Value of a parameter.
    pub fn value(&self, id: ParamId) -> &Tensor {
        &self.values[id.0]
    }

    /// The value shared with the tape (a reference count, no copy).
    pub(crate) fn shared(&self, id: ParamId) -> Result<Arc<Tensor>> {
        self.check(id)?;
        Ok(Arc::clone(&self.values[id.0]))
    }

    /// Mutable value of a parameter (copy-on-write only if a live tape still shares it).
    pub fn value_mut(&mut self, id: ParamId) -> &mut Tensor {
        Arc::make_mut(&mut self.values[id.0])
    }

    /// Accumulated gradient ∂L/∂θ of a parameter.
    pub fn grad(&self, id: ParamId) -> &Tensor {
        &self.grads[id.0]
    }

    /// Mutable gradient buffer of a parameter.
    pub fn grad_mut(&mut self, id: ParamId) -> &mut Tensor {
        &mut self.grads[id.0]
    }

    /// Value of a buffer.
    pub fn buffer(&self, id: BufferId) -> &Tensor {
        &self.buffers[id.0]
    }

    /// Mutable value of a buffer.
    pub fn buffer_mut(&mut self, id: BufferId) -> &mut Tensor {
        &mut self.buffers[id.0]
    }

    /// The parameter or buffer called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        match self.index.get(name)? {
            Slot::Param(i) => Some(&self.values[*i]),
            Slot::Buffer(i) => Some(&self.buffers[*i]),
        }
    }

    /// Overwrites the parameter or buffer called `name` with `value`'s elements, in place.
    /// Errors if the name is unknown or the shapes differ.
    pub fn set(&mut self, name: &str, value: &Tensor) -> Result<()> {
        let slot = *self
            .index
            .get(name)
            .ok_or_else(|| AutodiffError::UnknownName(name.to_string()))?;
        let dst = match slot {
            Slot::Param(i) => Arc::make_mut(&mut self.values[i]),
            Slot::Buffer(i) => &mut self.buffers[i],
        };
        if dst.shape() != value.shape() {
            return Err(crate::error::shape_err(
                "ParamStore::set",
                format!(
                    "`{name}` is {:?}, the new value is {:?}",
                    dst.shape(),
                    value.shape()
                ),
            ));
        }
        dst.data_mut().copy_from_slice(value.data());
        Ok(())
    }

    /// (name, value) of every parameter, in registration order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().map(|v| &**v))
    }

    /// (name, value) of every buffer, in registration order.
    pub fn buffers(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.buffer_names
            .iter()
            .map(String::as_str)
            .zip(self.buffers.iter())
    }

    /// Every parameter then every buffer: what a checkpoint saves.
    pub fn named_tensors(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.params().chain(self.buffers())
    }

    /// (id, value, gradient) of every parameter in registration order: the walk an optimizer
    /// makes. Values are writable in place.
    pub fn params_and_grads_mut(
        &mut self,
    ) -> impl Iterator<Item = (ParamId, &mut Tensor, &Tensor)> {
        self.values
            .iter_mut()
            .zip(self.grads.iter())
            .enumerate()
            .map(|(i, (v, g))| (ParamId(i), Arc::make_mut(v), g))
    }

    /// Sets every gradient buffer to zero (backward only ever adds into them).
    pub fn zero_grads(&mut self) {
        for g in &mut self.grads {
            g.data_mut().fill(0.0);
        }
    }

    /// √(Σ over all parameters of Σ g²), accumulated in f64 in registration order.
    pub fn grad_norm(&self) -> f64 {
        self.grads
            .iter()
            .flat_map(|g| g.data())
            .map(|&v| v as f64 * v as f64)
            .sum::<f64>()
            .sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_set() {
        let mut s = ParamStore::new();
        let w = s
            .add_param("fc.weight", Tensor::zeros(&[2, 3]).unwrap())
            .unwrap();
        let rm = s
            .add_buffer("bn.running_mean", Tensor::zeros(&[1]).unwrap())
            .unwrap();
        assert!(matches!(
            s.add_param("fc.weight", Tensor::zeros(&[1]).unwrap()),
            Err(AutodiffError::DuplicateName(_))
        ));
        assert_eq!(s.id("fc.weight"), Some(w));
        assert_eq!(s.buffer_id("bn.running_mean"), Some(rm));
        assert_eq!(s.id("bn.running_mean"), None);
        s.set("fc.weight", &Tensor::full(&[2, 3], 2.0).unwrap())
            .unwrap();
        assert_eq!(s.value(w).data(), &[2.0; 6]);
        assert!(s
            .set("fc.weight", &Tensor::zeros(&[3, 2]).unwrap())
            .is_err());
        assert!(matches!(
            s.set("nope", &Tensor::zeros(&[1]).unwrap()),
            Err(AutodiffError::UnknownName(_))
        ));
        let names: Vec<_> = s.named_tensors().map(|(n, _)| n.to_string()).collect();
        assert_eq!(names, ["fc.weight", "bn.running_mean"]);
    }

    #[test]
    fn optimizer_walk_writes_in_place() {
        let mut s = ParamStore::new();
        let a = s.add_param("a", Tensor::full(&[2], 1.0).unwrap()).unwrap();
        s.grad_mut(a).data_mut().copy_from_slice(&[0.5, -1.0]);
        let before = s.value(a).data().as_ptr();
        for (_, v, g) in s.params_and_grads_mut() {
            for (x, d) in v.data_mut().iter_mut().zip(g.data()) {
                *x -= d;
            }
        }
        assert_eq!(s.value(a).data(), &[0.5, 2.0]);
        assert_eq!(s.value(a).data().as_ptr(), before, "no reallocation");
        s.zero_grads();
        assert_eq!(s.grad(a).data(), &[0.0, 0.0]);
    }
}
