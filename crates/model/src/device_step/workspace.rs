//! The device step's activation workspace: every forward value and gradient of one batch of
//! M = 2N images as a backend buffer, sized from [`LenetDims`].

use siamese_tensor::backend::Backend;

use crate::config::LenetDims;
use crate::error::Result;

/// Activations and their gradients for one batch of M = 2N images, allocated once per
/// batch size and reused: per conv block its output `a`, pooled output `p` and pooling
/// argmax; the dense outputs `f1`, `f2`, the embeddings, the distances d, the output module's
/// values, the similarities s, labels y, the loss; and a `d`-prefixed gradient of each.
pub(super) struct Workspace<B: Backend> {
    pub(super) n: usize,
    pub(super) x: B::Buf,
    pub(super) a1: B::Buf,
    pub(super) p1: B::Buf,
    pub(super) arg1: B::IdxBuf,
    pub(super) a2: B::Buf,
    pub(super) p2: B::Buf,
    pub(super) arg2: B::IdxBuf,
    pub(super) f1: B::Buf,
    pub(super) f2: B::Buf,
    pub(super) emb: B::Buf,
    pub(super) d: B::Buf,
    /// The output module's BatchNorm cache (x̂, 1/√(σ²+ε)) and output h = γ·x̂ + β.
    pub(super) xhat: B::Buf,
    pub(super) inv_std: B::Buf,
    pub(super) h: B::Buf,
    pub(super) s: B::Buf,
    pub(super) y: B::Buf,
    pub(super) loss: B::Buf,
    pub(super) ds: B::Buf,
    pub(super) dh: B::Buf,
    pub(super) dd: B::Buf,
    pub(super) demb: B::Buf,
    pub(super) df2: B::Buf,
    pub(super) df1: B::Buf,
    pub(super) dp2: B::Buf,
    pub(super) da2: B::Buf,
    pub(super) dp1: B::Buf,
    pub(super) da1: B::Buf,
}

impl<B: Backend> Workspace<B> {
    /// Zeroed buffers for N pairs, every size from `dm`.
    pub(super) fn new(be: &B, dm: &LenetDims, n: usize) -> Result<Self> {
        let m = 2 * n;
        let (a1, p1) = (dm.conv1.conv_len(m), dm.conv1.pool_len(m));
        let (a2, p2) = (dm.conv2.conv_len(m), dm.conv2.pool_len(m));
        let (f1, f2, e) = (m * dm.fc1.1, m * dm.fc2.1, m * dm.embedding());
        Ok(Self {
            n,
            x: be.zeros(m * dm.image_len())?,
            a1: be.zeros(a1)?,
            p1: be.zeros(p1)?,
            arg1: be.idx_zeros(p1)?,
            a2: be.zeros(a2)?,
            p2: be.zeros(p2)?,
            arg2: be.idx_zeros(p2)?,
            f1: be.zeros(f1)?,
            f2: be.zeros(f2)?,
            emb: be.zeros(e)?,
            d: be.zeros(n)?,
            xhat: be.zeros(n)?,
            inv_std: be.zeros(1)?,
            h: be.zeros(n)?,
            s: be.zeros(n)?,
            y: be.zeros(n)?,
            loss: be.zeros(1)?,
            ds: be.zeros(n)?,
            dh: be.zeros(n)?,
            dd: be.zeros(n)?,
            demb: be.zeros(e)?,
            df2: be.zeros(f2)?,
            df1: be.zeros(f1)?,
            dp2: be.zeros(p2)?,
            da2: be.zeros(a2)?,
            dp1: be.zeros(p1)?,
            da1: be.zeros(a1)?,
        })
    }
}
