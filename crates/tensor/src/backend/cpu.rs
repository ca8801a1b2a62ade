//! [`CpuBackend`]: the [`Backend`] interface on the CPU, each method a call of the op it names.

use super::{
    check_len, check_lens, AdamHyper, BResult, Backend, BnMode, ContrastiveReads, Conv2dGeom,
};
use crate::ops::pool::Pool2dGeom;
use crate::ops::{adam, batchnorm, conv2d, distance, elementwise as ew, gemm, loss, pool};

/// The CPU behind the [`Backend`] interface: buffers are `Vec<f32>`, and every method calls
/// the [`crate::ops`] function it names on the buffers' slices (no copies, no arithmetic of
/// its own). It is the reference every other backend is tested against.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

/// The geometry of `planes` h×w planes under a 2×2/2 pool.
fn pool2x2(planes: usize, h: usize, w: usize) -> BResult<Pool2dGeom> {
    Ok(Pool2dGeom::new(&[planes, 1, h, w], 2, 2)?)
}

/// Splits a 2N×E pair buffer [A; B] into its halves, after checking its length.
fn halves<'a>(
    op: &'static str, n: usize, e: usize, emb: &'a [f32],
) -> BResult<(&'a [f32], &'a [f32])> {
    check_len(op, "emb", emb.len(), 2 * n * e)?;
    Ok(emb.split_at(n * e))
}

/// The mutable halves [dA; dB] of a 2N×E gradient buffer.
fn halves_mut<'a>(
    op: &'static str, n: usize, e: usize, demb: &'a mut [f32],
) -> BResult<(&'a mut [f32], &'a mut [f32])> {
    check_len(op, "demb", demb.len(), 2 * n * e)?;
    Ok(demb.split_at_mut(n * e))
}

impl Backend for CpuBackend {
    type Buf = Vec<f32>;
    type IdxBuf = Vec<u32>;

    fn device_name(&self) -> String {
        "cpu".into()
    }

    fn buf_len(&self, buf: &Vec<f32>) -> usize {
        buf.len()
    }

    fn idx_len(&self, buf: &Vec<u32>) -> usize {
        buf.len()
    }

    fn upload(&self, host: &[f32]) -> BResult<Vec<f32>> {
        Ok(host.to_vec())
    }

    fn upload_into(&self, host: &[f32], dst: &mut Vec<f32>) -> BResult<()> {
        check_len("upload_into", "destination", dst.len(), host.len())?;
        dst.copy_from_slice(host);
        Ok(())
    }

    fn idx_upload(&self, host: &[u32]) -> BResult<Vec<u32>> {
        Ok(host.to_vec())
    }

    fn download(&self, buf: &Vec<f32>) -> BResult<Vec<f32>> {
        Ok(buf.clone())
    }

    fn idx_download(&self, buf: &Vec<u32>) -> BResult<Vec<u32>> {
        Ok(buf.clone())
    }

    fn zeros(&self, len: usize) -> BResult<Vec<f32>> {
        Ok(vec![0.0; len])
    }

    fn idx_zeros(&self, len: usize) -> BResult<Vec<u32>> {
        Ok(vec![0; len])
    }

    fn synchronize(&self) -> BResult<()> {
        Ok(())
    }

    fn conv2d_forward(
        &self, g: &Conv2dGeom, x: &Vec<f32>, w: &Vec<f32>, b: &Vec<f32>, y: &mut Vec<f32>,
    ) -> BResult<()> {
        Ok(conv2d::conv2d_forward_slices(
            conv2d::ConvAlgo::Auto,
            g,
            x,
            w,
            Some(b),
            y,
        )?)
    }

    fn conv2d_backward(
        &self, g: &Conv2dGeom, x: &Vec<f32>, w: &Vec<f32>, dy: &Vec<f32>,
        dx: Option<&mut Vec<f32>>, dw: &mut Vec<f32>, db: &mut Vec<f32>,
    ) -> BResult<()> {
        let dx = dx.map(|d| d.as_mut_slice());
        Ok(conv2d::conv2d_backward_slices(g, x, w, dy, dx, dw, db)?)
    }

    fn max_pool2x2_forward(
        &self, planes: usize, h: usize, w: usize, x: &Vec<f32>, y: &mut Vec<f32>,
        argmax: &mut Vec<u32>,
    ) -> BResult<()> {
        let g = pool2x2(planes, h, w)?;
        Ok(pool::max_pool2d_forward_into(&g, x, false, y, argmax)?)
    }

    fn max_pool2x2_backward(
        &self, planes: usize, h: usize, w: usize, dy: &Vec<f32>, argmax: &Vec<u32>,
        dx: &mut Vec<f32>,
    ) -> BResult<()> {
        let g = pool2x2(planes, h, w)?;
        Ok(pool::max_pool2d_backward_into(&g, dy, argmax, None, dx)?)
    }

    fn avg_pool2x2_forward(
        &self, planes: usize, h: usize, w: usize, x: &Vec<f32>, y: &mut Vec<f32>,
    ) -> BResult<()> {
        let g = pool2x2(planes, h, w)?;
        Ok(pool::avg_pool2d_forward_into(&g, x, y)?)
    }

    fn avg_pool2x2_backward(
        &self, planes: usize, h: usize, w: usize, dy: &Vec<f32>, dx: &mut Vec<f32>,
    ) -> BResult<()> {
        let g = pool2x2(planes, h, w)?;
        Ok(pool::avg_pool2d_backward_into(&g, dy, dx)?)
    }

    fn gemm(
        &self, trans_a: bool, trans_b: bool, m: usize, n: usize, k: usize, alpha: f32,
        a: &Vec<f32>, b: &Vec<f32>, beta: f32, c: &mut Vec<f32>,
    ) -> BResult<()> {
        Ok(gemm::gemm(trans_a, trans_b, m, n, k, alpha, a, b, beta, c)?)
    }

    fn linear_forward(
        &self, m: usize, i: usize, o: usize, x: &Vec<f32>, w: &Vec<f32>, b: &Vec<f32>,
        y: &mut Vec<f32>,
    ) -> BResult<()> {
        Ok(gemm::linear_forward(m, i, o, x, w, Some(b), y)?)
    }

    fn linear_backward(
        &self, m: usize, i: usize, o: usize, x: &Vec<f32>, w: &Vec<f32>, dy: &Vec<f32>,
        dx: Option<&mut Vec<f32>>, dw: &mut Vec<f32>, db: &mut Vec<f32>,
    ) -> BResult<()> {
        let grads = gemm::LinearGrads {
            dx: dx.map(|d| d.as_mut_slice()),
            dw: Some(dw),
            db: Some(db),
        };
        Ok(gemm::linear_backward(m, i, o, x, w, dy, grads)?)
    }

    fn relu_inplace(&self, x: &mut Vec<f32>) -> BResult<()> {
        ew::relu_in_place(x);
        Ok(())
    }

    fn relu_backward_inplace(&self, y: &Vec<f32>, dy: &mut Vec<f32>) -> BResult<()> {
        Ok(ew::relu_backward_in_place(y, dy)?)
    }

    fn tanh_inplace(&self, x: &mut Vec<f32>) -> BResult<()> {
        ew::tanh_in_place(x);
        Ok(())
    }

    fn tanh_backward_inplace(&self, y: &Vec<f32>, dy: &mut Vec<f32>) -> BResult<()> {
        Ok(ew::tanh_backward_in_place(y, dy)?)
    }

    fn sigmoid_inplace(&self, x: &mut Vec<f32>) -> BResult<()> {
        ew::sigmoid_in_place(x);
        Ok(())
    }

    fn sigmoid_backward_inplace(&self, y: &Vec<f32>, dy: &mut Vec<f32>) -> BResult<()> {
        Ok(ew::sigmoid_backward_in_place(y, dy)?)
    }

    fn euclidean_forward(
        &self, n: usize, e: usize, emb: &Vec<f32>, eps: f32, d: &mut Vec<f32>,
    ) -> BResult<()> {
        let (a, b) = halves("euclidean_forward", n, e, emb)?;
        Ok(distance::euclidean_forward(n, e, a, b, eps, d)?)
    }

    fn euclidean_backward(
        &self, n: usize, e: usize, emb: &Vec<f32>, d: &Vec<f32>, dd: &Vec<f32>, eps: f32,
        demb: &mut Vec<f32>,
    ) -> BResult<()> {
        let op = "euclidean_backward";
        let (a, b) = halves(op, n, e, emb)?;
        let (da, db) = halves_mut(op, n, e, demb)?;
        Ok(distance::euclidean_backward(
            n, e, a, b, d, dd, eps, da, db,
        )?)
    }

    fn cosine_forward(
        &self, n: usize, e: usize, emb: &Vec<f32>, eps: f32, c: &mut Vec<f32>,
    ) -> BResult<()> {
        let (a, b) = halves("cosine_forward", n, e, emb)?;
        Ok(distance::cosine_forward(n, e, a, b, eps, c)?)
    }

    fn cosine_backward(
        &self, n: usize, e: usize, emb: &Vec<f32>, dc: &Vec<f32>, eps: f32, demb: &mut Vec<f32>,
    ) -> BResult<()> {
        let op = "cosine_backward";
        let (a, b) = halves(op, n, e, emb)?;
        let (da, db) = halves_mut(op, n, e, demb)?;
        Ok(distance::cosine_backward(n, e, a, b, dc, eps, da, db)?)
    }

    fn batchnorm_forward(
        &self, n: usize, c: usize, x: &Vec<f32>, gamma: &Vec<f32>, beta: &Vec<f32>, eps: f32,
        mode: BnMode, running_mean: &mut Vec<f32>, running_var: &mut Vec<f32>, xhat: &mut Vec<f32>,
        inv_std: &mut Vec<f32>, y: &mut Vec<f32>,
    ) -> BResult<()> {
        Ok(batchnorm::batchnorm_forward(
            n,
            c,
            x,
            gamma,
            beta,
            eps,
            mode,
            running_mean,
            running_var,
            xhat,
            inv_std,
            y,
        )?)
    }

    fn batchnorm_backward(
        &self, n: usize, c: usize, dy: &Vec<f32>, xhat: &Vec<f32>, inv_std: &Vec<f32>,
        gamma: &Vec<f32>, dx: &mut Vec<f32>, dgamma: &mut Vec<f32>, dbeta: &mut Vec<f32>,
    ) -> BResult<()> {
        Ok(batchnorm::batchnorm_backward(
            n,
            c,
            dy,
            xhat,
            inv_std,
            gamma,
            true,
            Some(dx),
            dgamma,
            dbeta,
        )?)
    }

    fn contrastive_loss(
        &self, n: usize, v: &Vec<f32>, y: &Vec<f32>, margin: f32, reads: ContrastiveReads,
        loss_out: &mut Vec<f32>, dv: &mut Vec<f32>,
    ) -> BResult<()> {
        check_lens(
            "contrastive_loss",
            &[("v", v.len(), n), ("loss", loss_out.len(), 1)],
        )?;
        loss_out[0] = loss::contrastive_forward(v, y, margin, reads)?;
        Ok(loss::contrastive_backward(v, y, margin, reads, 1.0, dv)?)
    }

    fn bce_loss(
        &self, n: usize, p: &Vec<f32>, y: &Vec<f32>, eps: f32, loss_out: &mut Vec<f32>,
        dp: &mut Vec<f32>,
    ) -> BResult<()> {
        check_lens(
            "bce_loss",
            &[("p", p.len(), n), ("loss", loss_out.len(), 1)],
        )?;
        loss_out[0] = loss::bce_forward(p, y, eps)?;
        Ok(loss::bce_backward(p, y, eps, 1.0, dp)?)
    }

    fn softmax_ce_loss(
        &self, n: usize, k: usize, z: &Vec<f32>, labels: &Vec<u32>, probs: &mut Vec<f32>,
        loss_out: &mut Vec<f32>, dz: &mut Vec<f32>,
    ) -> BResult<()> {
        check_len("softmax_ce_loss", "loss", loss_out.len(), 1)?;
        loss_out[0] = loss::softmax_ce_forward(n, k, z, labels, probs)?;
        Ok(loss::softmax_ce_backward(n, k, probs, labels, 1.0, dz)?)
    }

    fn adam_update(
        &self, h: &AdamHyper, theta: &mut Vec<f32>, grad: &Vec<f32>, m: &mut Vec<f32>,
        v: &mut Vec<f32>,
    ) -> BResult<()> {
        Ok(adam::adam_update(h, theta, grad, m, v)?)
    }
}
