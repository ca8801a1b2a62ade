//! [`Backend`] for [`CudaBackend`]: the buffers are device memory on the backend's stream, and
//! each op method hands its arguments to the launch code of its family (`crate::ops`), which
//! checks them as the CPU does and queues the CUDA twin of the op.

use siamese_tensor::backend::{
    check_len, AdamHyper, BResult, Backend, BnMode, ContrastiveReads, Conv2dGeom,
};

use crate::ops::{self, batchnorm::BnState, Buf, IdxBuf};
use crate::sources::K;
use crate::{dev_err, CudaBackend};

impl Backend for CudaBackend {
    type Buf = Buf;
    type IdxBuf = IdxBuf;

    fn device_name(&self) -> String {
        self.name.clone()
    }

    fn buf_len(&self, buf: &Buf) -> usize {
        buf.len()
    }

    fn idx_len(&self, buf: &IdxBuf) -> usize {
        buf.len()
    }

    fn upload(&self, host: &[f32]) -> BResult<Buf> {
        self.alloc_from(host)
    }

    fn upload_into(&self, host: &[f32], dst: &mut Buf) -> BResult<()> {
        check_len("upload_into", "destination", dst.len(), host.len())?;
        if host.is_empty() {
            return Ok(());
        }
        self.stream
            .memcpy_htod(host, dst.mem_mut())
            .map_err(dev_err("upload"))
    }

    fn idx_upload(&self, host: &[u32]) -> BResult<IdxBuf> {
        self.alloc_from(host)
    }

    fn download(&self, buf: &Buf) -> BResult<Vec<f32>> {
        self.fetch(buf)
    }

    fn idx_download(&self, buf: &IdxBuf) -> BResult<Vec<u32>> {
        self.fetch(buf)
    }

    fn zeros(&self, len: usize) -> BResult<Buf> {
        self.alloc_zeros(len)
    }

    fn idx_zeros(&self, len: usize) -> BResult<IdxBuf> {
        self.alloc_zeros(len)
    }

    fn synchronize(&self) -> BResult<()> {
        self.stream.synchronize().map_err(dev_err("synchronize"))
    }

    fn conv2d_forward(
        &self, g: &Conv2dGeom, x: &Buf, w: &Buf, b: &Buf, y: &mut Buf,
    ) -> BResult<()> {
        ops::conv2d::forward(self, g, (x, w, b), y)
    }

    fn conv2d_backward(
        &self, g: &Conv2dGeom, x: &Buf, w: &Buf, dy: &Buf, dx: Option<&mut Buf>, dw: &mut Buf,
        db: &mut Buf,
    ) -> BResult<()> {
        ops::conv2d::backward(self, g, (x, w, dy), dx, (dw, db))
    }

    fn max_pool2x2_forward(
        &self, planes: usize, h: usize, w: usize, x: &Buf, y: &mut Buf, argmax: &mut IdxBuf,
    ) -> BResult<()> {
        ops::pool::max_forward(self, (planes, h, w), x, (y, argmax))
    }

    fn max_pool2x2_backward(
        &self, planes: usize, h: usize, w: usize, dy: &Buf, argmax: &IdxBuf, dx: &mut Buf,
    ) -> BResult<()> {
        ops::pool::max_backward(self, (planes, h, w), (dy, argmax), dx)
    }

    fn avg_pool2x2_forward(
        &self, planes: usize, h: usize, w: usize, x: &Buf, y: &mut Buf,
    ) -> BResult<()> {
        ops::pool::avg(self, K::AvgPool2x2Forward, (planes, h, w), x, y)
    }

    fn avg_pool2x2_backward(
        &self, planes: usize, h: usize, w: usize, dy: &Buf, dx: &mut Buf,
    ) -> BResult<()> {
        ops::pool::avg(self, K::AvgPool2x2Backward, (planes, h, w), dy, dx)
    }

    fn gemm(
        &self, trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32, a: &Buf,
        b: &Buf, beta: f32, c: &mut Buf,
    ) -> BResult<()> {
        ops::gemm::gemm(
            self,
            (trans_a, trans_b),
            (m, n, k),
            (alpha, a, b),
            (beta, c),
        )
    }

    fn linear_forward(
        &self, m: usize, i: usize, o: usize, x: &Buf, w: &Buf, b: &Buf, y: &mut Buf,
    ) -> BResult<()> {
        ops::gemm::linear_forward(self, (m, i, o), (x, w, b), y)
    }

    fn linear_backward(
        &self, m: usize, i: usize, o: usize, x: &Buf, w: &Buf, dy: &Buf, dx: Option<&mut Buf>,
        dw: &mut Buf, db: &mut Buf,
    ) -> BResult<()> {
        ops::gemm::linear_backward(self, (m, i, o), (x, w, dy), dx, (dw, db))
    }

    fn relu_inplace(&self, x: &mut Buf) -> BResult<()> {
        ops::elementwise::forward(self, K::ReluInplace, x)
    }

    fn relu_backward_inplace(&self, y: &Buf, dy: &mut Buf) -> BResult<()> {
        ops::elementwise::backward(self, K::ReluBackwardInplace, y, dy)
    }

    fn tanh_inplace(&self, x: &mut Buf) -> BResult<()> {
        ops::elementwise::forward(self, K::TanhInplace, x)
    }

    fn tanh_backward_inplace(&self, y: &Buf, dy: &mut Buf) -> BResult<()> {
        ops::elementwise::backward(self, K::TanhBackwardInplace, y, dy)
    }

    fn sigmoid_inplace(&self, x: &mut Buf) -> BResult<()> {
        ops::elementwise::forward(self, K::SigmoidInplace, x)
    }

    fn sigmoid_backward_inplace(&self, y: &Buf, dy: &mut Buf) -> BResult<()> {
        ops::elementwise::backward(self, K::SigmoidBackwardInplace, y, dy)
    }

    fn euclidean_forward(
        &self, n: usize, e: usize, emb: &Buf, eps: f32, d: &mut Buf,
    ) -> BResult<()> {
        ops::distance::forward(self, K::EuclideanForward, (n, e), (emb, eps), d)
    }

    fn euclidean_backward(
        &self, n: usize, e: usize, emb: &Buf, d: &Buf, dd: &Buf, eps: f32, demb: &mut Buf,
    ) -> BResult<()> {
        ops::distance::euclidean_backward(self, (n, e), (emb, d, dd, eps), demb)
    }

    fn cosine_forward(&self, n: usize, e: usize, emb: &Buf, eps: f32, c: &mut Buf) -> BResult<()> {
        ops::distance::forward(self, K::CosineForward, (n, e), (emb, eps), c)
    }

    fn cosine_backward(
        &self, n: usize, e: usize, emb: &Buf, dc: &Buf, eps: f32, demb: &mut Buf,
    ) -> BResult<()> {
        ops::distance::cosine_backward(self, (n, e), (emb, dc, eps), demb)
    }

    fn batchnorm_forward(
        &self, n: usize, c: usize, x: &Buf, gamma: &Buf, beta: &Buf, eps: f32, mode: BnMode,
        running_mean: &mut Buf, running_var: &mut Buf, xhat: &mut Buf, inv_std: &mut Buf,
        y: &mut Buf,
    ) -> BResult<()> {
        let st = BnState {
            running_mean,
            running_var,
            xhat,
            inv_std,
        };
        ops::batchnorm::forward(self, (n, c), (x, gamma, beta), (eps, mode), st, y)
    }

    fn batchnorm_backward(
        &self, n: usize, c: usize, dy: &Buf, xhat: &Buf, inv_std: &Buf, gamma: &Buf, dx: &mut Buf,
        dgamma: &mut Buf, dbeta: &mut Buf,
    ) -> BResult<()> {
        let grads = (dx, dgamma, dbeta);
        ops::batchnorm::backward(self, (n, c), (dy, xhat, inv_std, gamma), grads)
    }

    fn contrastive_loss(
        &self, n: usize, v: &Buf, y: &Buf, margin: f32, reads: ContrastiveReads, loss: &mut Buf,
        dv: &mut Buf,
    ) -> BResult<()> {
        ops::loss::contrastive(self, n, (v, y), (margin, reads), (loss, dv))
    }

    fn bce_loss(
        &self, n: usize, p: &Buf, y: &Buf, eps: f32, loss: &mut Buf, dp: &mut Buf,
    ) -> BResult<()> {
        ops::loss::bce(self, n, (p, y, eps), (loss, dp))
    }

    fn softmax_ce_loss(
        &self, n: usize, k: usize, z: &Buf, labels: &IdxBuf, probs: &mut Buf, loss: &mut Buf,
        dz: &mut Buf,
    ) -> BResult<()> {
        ops::loss::softmax_ce(self, (n, k), (z, labels), (probs, loss, dz))
    }

    fn adam_update(
        &self, h: &AdamHyper, theta: &mut Buf, grad: &Buf, m: &mut Buf, v: &mut Buf,
    ) -> BResult<()> {
        ops::adam::update(self, (h, grad), (theta, m, v))
    }
}
