//! What the device step implements ([`check_supported`]) and how a model's tensors reach the
//! device: where each layer sits in the parameter list ([`Slots`]) and the upload of the
//! parameters, their gradient buffers and Adam's moments ([`upload_params`]).

use siamese_autodiff::ParamStore;
use siamese_optim::AdamState;
use siamese_tensor::backend::Backend;

use crate::config::{Activation, Distance, EmbeddingActivation, LossKind, ModelConfig, Pooling};
use crate::error::{ModelError, Result};
use crate::siamese::SnLenet5;

/// The configuration the device step implements, for error messages.
pub const SUPPORTED: &str = "--act relu --pool max --embedding tanh --distance euclidean --loss contrastive-sigmoid (the paper's defaults)";

/// Errors unless `model` and `loss` are the configuration the device step implements.
pub fn check_supported(model: &ModelConfig, loss: LossKind) -> Result<()> {
    let mut bad = Vec::new();
    if model.activation != Activation::Relu {
        bad.push(format!("--act {}", model.activation));
    }
    if model.pooling != Pooling::Max {
        bad.push(format!("--pool {}", model.pooling));
    }
    if model.embedding_activation != EmbeddingActivation::Tanh {
        bad.push(format!("--embedding {}", model.embedding_activation));
    }
    if model.distance != Distance::Euclidean {
        bad.push(format!("--distance {}", model.distance));
    }
    if loss != LossKind::ContrastiveSigmoid {
        bad.push(format!("--loss {loss}"));
    }
    if model.head != crate::config::Head::Bn {
        bad.push(format!("--head {}", model.head));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ModelError::Config(format!(
            "the device step does not implement {}; it supports {SUPPORTED}",
            bad.join(" ")
        )))
    }
}

/// Where each layer's tensors sit in the parameter list (the [`ParamStore`] order).
#[derive(Clone, Copy, Debug)]
pub(super) struct Slots {
    pub(super) conv1: (usize, usize),
    pub(super) conv2: (usize, usize),
    pub(super) fc1: (usize, usize),
    pub(super) fc2: (usize, usize),
    pub(super) fc3: (usize, usize),
    /// γ, β, w, b of the output module.
    pub(super) head: [usize; 4],
}

impl Slots {
    /// The slots of `model`'s layers in its store.
    pub(super) fn of(model: &SnLenet5) -> Self {
        let sn = &model.subnet;
        let idx = |id: siamese_autodiff::ParamId| id.index();
        Slots {
            conv1: (idx(sn.conv1.weight), idx(sn.conv1.bias)),
            conv2: (idx(sn.conv2.weight), idx(sn.conv2.bias)),
            fc1: (idx(sn.fc1.weight), idx(sn.fc1.bias)),
            fc2: (idx(sn.fc2.weight), idx(sn.fc2.bias)),
            fc3: (idx(sn.fc3.weight), idx(sn.fc3.bias)),
            head: [
                idx(model.head.bn.gamma),
                idx(model.head.bn.beta),
                idx(model.head.fc.weight),
                idx(model.head.fc.bias),
            ],
        }
    }
}

/// Errors unless both convolutions are stride-1 with the kernel, padding and channels of
/// the model's [`crate::config::LenetDims`] (what the device step's buffers are sized for).
pub(super) fn check_convolutions(model: &SnLenet5) -> Result<()> {
    let (sn, dims) = (&model.subnet, model.subnet.dims);
    for (name, l, b) in [
        ("conv1", &sn.conv1, dims.conv1),
        ("conv2", &sn.conv2, dims.conv2),
    ] {
        let s = l.spec;
        if s.stride != 1 || (s.kernel, s.pad, s.out_channels) != (b.kernel, b.pad, b.out_channels) {
            return Err(ModelError::Config(format!(
                "the device step expects stride-1 convolutions of the sizes {b:?}, {name} is {s:?}"
            )));
        }
    }
    Ok(())
}

/// Parameters, zeroed gradients and Adam's moments on the device, in [`ParamStore`] order.
pub(super) struct Uploaded<B: Backend> {
    pub params: Vec<B::Buf>,
    pub grads: Vec<B::Buf>,
    pub m: Vec<B::Buf>,
    pub v: Vec<B::Buf>,
}

/// Uploads every parameter of `st` with a zeroed gradient buffer, and Adam's moments from
/// `moments` (which must match the parameters in number and size) or zeros.
pub(super) fn upload_params<B: Backend>(
    be: &B, st: &ParamStore, moments: Option<&AdamState>,
) -> Result<Uploaded<B>> {
    if let Some(s) = moments {
        if s.m.len() != st.len() || s.v.len() != st.len() {
            return Err(ModelError::Config(format!(
                "optimiser state has {} moments for {} parameters",
                s.m.len(),
                st.len()
            )));
        }
    }
    let mut up = Uploaded {
        params: Vec::with_capacity(st.len()),
        grads: Vec::with_capacity(st.len()),
        m: Vec::with_capacity(st.len()),
        v: Vec::with_capacity(st.len()),
    };
    for (i, (name, p)) in st.params().enumerate() {
        up.params.push(be.upload(p.data())?);
        up.grads.push(be.zeros(p.len())?);
        match moments {
            Some(s) => {
                if s.m[i].len() != p.len() || s.v[i].len() != p.len() {
                    return Err(ModelError::Config(format!(
                        "optimiser moments of `{name}` do not match its shape {:?}",
                        p.shape()
                    )));
                }
                up.m.push(be.upload(s.m[i].data())?);
                up.v.push(be.upload(s.v[i].data())?);
            }
            None => {
                up.m.push(be.zeros(p.len())?);
                up.v.push(be.zeros(p.len())?);
            }
        }
    }
    Ok(up)
}
