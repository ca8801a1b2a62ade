//! The analytic arithmetic of SN-LeNet-5: multiply-adds per layer, and from them the floating-
//! point operations of a training step and of scoring, per pair. `siamese bench` divides its
//! measured speed by these to give GFLOP/s and the fraction of the machine's FMA peak.
//!
//! Counted are the multiply-adds (MACs) of the convolutions and dense layers, 2 FLOPs each;
//! pooling, activations, the comparison and output modules, the loss and Adam are O(size)
//! and left out (under 2% of the total for LeNet-5 on 28×28 inputs):
//!
//! ```text
//! conv:  MACs = K·OH·OW · C·kh·kw        dense: MACs = inputs · outputs
//! forward of one image  F = 2·Σ MACs
//! scoring one pair      2·F                       (two subnets)
//! training one pair     2·(F + F_dw + F_dx)       (forward, weight gradients, input gradients)
//!                       = 2·2·(2·MACs(conv1) + 3·MACs(rest)) (conv1 needs no input gradient)
//! ```
//!
//! A conv's count is the op's own
//! [`Conv2dGeom::macs`](siamese_tensor::ops::conv2d::Conv2dGeom::macs), for one image.

use crate::config::LenetDims;

/// Multiply-adds of each layer of one subnet, for one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerMacs {
    pub conv1: u64,
    pub conv2: u64,
    pub fc1: u64,
    pub fc2: u64,
    pub fc3: u64,
}

impl LayerMacs {
    /// All layers together.
    pub fn total(&self) -> u64 {
        self.conv1 + self.conv2 + self.fc1 + self.fc2 + self.fc3
    }

    /// FLOPs of one subnet's forward pass over one image, 2·Σ MACs.
    pub fn forward_flops(&self) -> u64 {
        2 * self.total()
    }

    /// FLOPs to score one pair: both images' forward passes.
    pub fn score_flops_per_pair(&self) -> u64 {
        2 * self.forward_flops()
    }

    /// FLOPs of one training step per pair: forward, weight gradients and input gradients of
    /// both images, less conv1's input gradient (the input is data).
    pub fn train_flops_per_pair(&self) -> u64 {
        2 * 2 * (2 * self.conv1 + 3 * (self.total() - self.conv1))
    }
}

impl LenetDims {
    /// Multiply-adds of each layer for one image.
    pub fn macs(&self) -> LayerMacs {
        // One image's conv multiply-adds, counted by the op's own geometry.
        let conv = |b: &crate::config::ConvBlockDims| b.geom(1).macs() as u64;
        let dense = |(i, o): (usize, usize)| (i * o) as u64;
        LayerMacs {
            conv1: conv(&self.conv1),
            conv2: conv(&self.conv2),
            fc1: dense(self.fc1),
            fc2: dense(self.fc2),
            fc3: dense(self.fc3),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{LenetDims, ModelConfig};

    /// The paper's subnet on MNIST with conv1 padded by 2, counted by hand (the same counts
    /// as the peers' analytic.py): conv1 6·28·28·25 = 117,600; conv2 16·10·10·150 = 240,000;
    /// fc1 400·120 = 48,000; fc2 120·84 = 10,080; fc3 84·10 = 840.
    #[test]
    fn lenet5_on_mnist_counts_match_the_hand_count() {
        let dims = LenetDims::new(&ModelConfig::for_input(1, 28, 28), 10).unwrap();
        let m = dims.macs();
        assert_eq!(
            (m.conv1, m.conv2, m.fc1, m.fc2, m.fc3),
            (117_600, 240_000, 48_000, 10_080, 840)
        );
        assert_eq!(m.total(), 416_520);
        assert_eq!(m.score_flops_per_pair(), 4 * 416_520);
        // 2 images · 2 FLOPs · (conv1 forward + dw, the rest forward + dw + dx).
        assert_eq!(
            m.train_flops_per_pair(),
            2 * 2 * (2 * 117_600 + 3 * (416_520 - 117_600))
        );
    }

    /// `--width K` on CIFAR-10 (3×32×32, no padding), counted by hand: conv1 6K·28·28·75,
    /// conv2 16K·10·10·150K (K² : both its filters and its input planes grow), fc1 400K·120K,
    /// fc2 120K·84K, fc3 84K·E (E = 32, ours).
    #[test]
    fn width_k_counts_on_cifar_match_the_hand_count() {
        for k in [1u64, 2, 3] {
            let mut cfg = ModelConfig::for_input(3, 32, 32);
            cfg.widen = k as usize;
            let m = LenetDims::new(&cfg, 32).unwrap().macs();
            assert_eq!(
                (m.conv1, m.conv2, m.fc1, m.fc2, m.fc3),
                (
                    6 * k * 28 * 28 * 75,
                    16 * k * 10 * 10 * 150 * k,
                    400 * k * 120 * k,
                    120 * k * 84 * k,
                    84 * k * 32
                ),
                "K = {k}"
            );
        }
    }
}
