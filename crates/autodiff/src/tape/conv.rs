//! Convolution on the tape: `conv2d`, and the fused LeNet-5 block conv → ReLU → 2×2 max-pool.
//! Both call the kernels of `siamese_tensor::ops::conv2d` in each direction.

use siamese_tensor::ops::conv2d;

use super::{Tape, Var};
use crate::error::Result;

impl Tape {
    /// Convolution, kernel `ops::conv2d`:
    /// `y[n,k,i,j] = b[k] + Σ_{c,u,v} w[k,c,u,v]·x[n,c,i·s+u−p,j·s+v−p]`;
    /// backward: dx, dw, db from `conv2d_backward` (dw = Σ dy·x, db = Σ dy, dx = Σ dy·w).
    /// x: N×C×H×W, w: K×C×KH×KW, b: K. Caches nothing: backward reads x and w.
    pub fn conv2d(
        &mut self, x: Var, w: Var, b: Option<Var>, stride: usize, pad: usize,
    ) -> Result<Var> {
        let bt = self.opt_value(b)?;
        let y = conv2d::conv2d_forward(self.value(x)?, self.value(w)?, bt, stride, pad)?;
        let mut ins = vec![x, w];
        ins.extend(b);
        Ok(self.push(y, &ins, move |g, _, dy| {
            let (xt, wt) = (g.value(x), g.value(w));
            if g.needs(x) {
                let d = conv2d::conv2d_backward(xt, wt, &dy, stride, pad)?;
                g.add(x, d.dx);
                g.add(w, d.dw);
                g.add(b, d.db);
            } else {
                // The input (images) needs no gradient: skip dx, the costlier half.
                let (dw, db) = conv2d::conv2d_backward_params(xt, wt, &dy, stride, pad)?;
                g.add(w, dw);
                g.add(b, db);
            }
            Ok(())
        }))
    }

    /// A LeNet-5 block in one op: stride-1 conv, ReLU, 2×2/2 max-pool,
    /// y = max(maxpool₂ₓ₂(conv2d(x, w) + b), 0) (`conv2d_relu_maxpool_forward`), without the
    /// batch-size conv output; backward: `dc[argmax] += dy` where y > 0, then the conv backward
    /// (dx only when x needs a gradient). Caches the argmax of every pooling window. Values
    /// and gradients equal `max_pool2d(relu(conv2d(x, w, b, 1, pad)), 2, 2)` bit for bit.
    pub fn conv2d_relu_max_pool2d(
        &mut self, x: Var, w: Var, b: Option<Var>, pad: usize,
    ) -> Result<Var> {
        let bt = self.opt_value(b)?;
        let (y, argmax) =
            conv2d::conv2d_relu_maxpool_forward(self.value(x)?, self.value(w)?, bt, pad)?;
        let mut ins = vec![x, w];
        ins.extend(b);
        Ok(self.push(y, &ins, move |g, y, dy| {
            let (xt, wt) = (g.value(x), g.value(w));
            let (dx, dw, db) =
                conv2d::conv2d_relu_maxpool_backward(xt, wt, y, &argmax, &dy, pad, g.needs(x))?;
            if let Some(dx) = dx {
                g.add(x, dx);
            }
            g.add(w, dw);
            g.add(b, db);
            Ok(())
        }))
    }
}
