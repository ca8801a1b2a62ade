//! Unit tests of the two fast algorithms against `reference` on the LeNet-5 shapes (the direct
//! one on every SIMD path the CPU has), plus shape errors. Random shapes are covered by the proptests in `crates/tensor/tests/`.

use super::*;
use crate::ops::simd::{self, Path};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_t(shape: &[usize], rng: &mut ChaCha8Rng) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(shape, (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()).unwrap()
}

/// |a − b| ≤ tol·√len·(1 + |b|) element-wise.
fn close(a: &Tensor, b: &Tensor, len: usize, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    let tol = 1e-5 * (len as f32).sqrt();
    for (i, (x, y)) in a.data().iter().zip(b.data()).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn check(x: [usize; 4], w: [usize; 4], stride: usize, pad: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let xt = rand_t(&x, &mut rng);
    let wt = rand_t(&w, &mut rng);
    let bt = rand_t(&[w[0]], &mut rng);
    let g = Conv2dGeom::new(&x, &w, stride, pad).unwrap();
    let dy = rand_t(&g.out_shape(), &mut rng);
    let want = reference::conv2d_forward(&xt, &wt, Some(&bt), stride, pad).unwrap();
    let wantg = reference::conv2d_backward(&xt, &wt, &dy, stride, pad).unwrap();
    let red = w[1] * w[2] * w[3];
    let algos = [ConvAlgo::Im2col, ConvAlgo::Direct, ConvAlgo::Auto];
    // Im2col once; the direct kernels on every SIMD path this CPU has.
    let runs = std::iter::once((ConvAlgo::Im2col, simd::path())).chain(
        Path::available()
            .into_iter()
            .flat_map(|p| algos[1..].iter().map(move |&a| (a, p))),
    );
    for (algo, path) in runs {
        simd::with_path(path, || {
            let what = format!("{algo:?} on {path:?}");
            let y = conv2d_forward_with(algo, &xt, &wt, Some(&bt), stride, pad).unwrap();
            close(&y, &want, red, &format!("{what} y"));
            let gr = conv2d_backward_with(algo, &xt, &wt, &dy, stride, pad).unwrap();
            close(&gr.dx, &wantg.dx, w[0] * w[2] * w[3], &format!("{what} dx"));
            let nred = x[0] * g.out_h() * g.out_w();
            close(&gr.dw, &wantg.dw, nred, &format!("{what} dw"));
            close(&gr.db, &wantg.db, nred, &format!("{what} db"));
        })
        .unwrap();
        // Im2col runs no SIMD kernel of its own; Direct and Auto (Direct here) do.
        assert!(algo == ConvAlgo::Im2col || path.taken(), "{path:?}");
    }
}

#[test]
fn lenet_shapes_match_reference() {
    check([3, 1, 28, 28], [6, 1, 5, 5], 1, 2);
    check([2, 6, 14, 14], [16, 6, 5, 5], 1, 0);
    check([2, 3, 32, 32], [6, 3, 5, 5], 1, 0);
}

#[test]
fn strided_and_large_padding_match_reference() {
    check([2, 2, 9, 7], [3, 2, 3, 3], 2, 1);
    check([1, 1, 5, 6], [2, 1, 2, 3], 3, 4);
    check([9, 2, 6, 5], [5, 2, 3, 2], 1, 3);
}

#[test]
fn shape_errors_are_errors() {
    let x = Tensor::zeros(&[1, 2, 5, 5]).unwrap();
    let w = Tensor::zeros(&[3, 2, 3, 3]).unwrap();
    for algo in [ConvAlgo::Im2col, ConvAlgo::Direct] {
        let bad_w = Tensor::zeros(&[3, 1, 3, 3]).unwrap();
        assert!(conv2d_forward_with(algo, &x, &bad_w, None, 1, 0).is_err());
        let bad_b = Tensor::zeros(&[2]).unwrap();
        assert!(conv2d_forward_with(algo, &x, &w, Some(&bad_b), 1, 0).is_err());
        assert!(conv2d_forward_with(algo, &x, &w, None, 0, 0).is_err());
        let big = Tensor::zeros(&[3, 2, 7, 7]).unwrap();
        assert!(conv2d_forward_with(algo, &x, &big, None, 1, 0).is_err());
        let x3 = Tensor::zeros(&[2, 5, 5]).unwrap();
        assert!(conv2d_forward_with(algo, &x3, &w, None, 1, 0).is_err());
        let bad_dy = Tensor::zeros(&[1, 3, 4, 4]).unwrap();
        assert!(conv2d_backward_with(algo, &x, &w, &bad_dy, 1, 0).is_err());
    }
}

/// `conv2d_backward_params` returns bit for bit the dw, db of `conv2d_backward` (same kernel,
/// same chunked reduction), for a Direct shape (LeNet conv1) and an im2col shape (stride 2).
#[test]
fn backward_params_equals_full_backward() {
    for (x, w, stride, pad) in [
        ([19, 1, 28, 28], [6, 1, 5, 5], 1, 2),
        ([11, 3, 9, 9], [4, 3, 3, 3], 2, 1),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let xt = rand_t(&x, &mut rng);
        let wt = rand_t(&w, &mut rng);
        let g = Conv2dGeom::new(&x, &w, stride, pad).unwrap();
        let dy = rand_t(&g.out_shape(), &mut rng);
        let full = conv2d_backward(&xt, &wt, &dy, stride, pad).unwrap();
        let (dw, db) = conv2d_backward_params(&xt, &wt, &dy, stride, pad).unwrap();
        assert_eq!(dw, full.dw, "dw {x:?}");
        assert_eq!(db, full.db, "db {x:?}");
        assert!(dw.data().iter().any(|&v| v != 0.0));
    }
}

#[test]
fn fused_backward_rejects_an_argmax_outside_its_sample() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = rand_t(&[2, 1, 8, 8], &mut rng);
    let w = rand_t(&[2, 1, 3, 3], &mut rng);
    let (y, mut arg) = conv2d_relu_maxpool_forward(&x, &w, None, 1).unwrap();
    let dy = rand_t(y.shape(), &mut rng);
    assert!(conv2d_relu_maxpool_backward(&x, &w, &y, &arg, &dy, 1, true).is_ok());
    // Sample 1's first window pointing into sample 0's conv output (in range of the batch).
    let per_p = arg.len() / 2;
    arg[per_p] = 0;
    let err = conv2d_relu_maxpool_backward(&x, &w, &y, &arg, &dy, 1, true).unwrap_err();
    assert!(err.to_string().contains("sample 1"), "{err}");
    // And past the end of the batch.
    arg[per_p] = u32::MAX;
    assert!(conv2d_relu_maxpool_backward(&x, &w, &y, &arg, &dy, 1, false).is_err());
}

/// The direct forward on both of its planes (flattened with junk columns, and tap columns),
/// on every SIMD path, against the reference, whichever [`direct::prefers_columns`] picks;
/// and the rule picks columns for LeNet's conv2 and the flat plane for its conv1.
#[test]
fn both_forward_planes_match_reference() {
    let lanes = simd::path().lanes();
    let g1 = Conv2dGeom::new(&[1, 1, 28, 28], &[6, 1, 5, 5], 1, 2).unwrap();
    let g2 = Conv2dGeom::new(&[1, 6, 14, 14], &[16, 6, 5, 5], 1, 0).unwrap();
    assert!(!direct::prefers_columns(&g1, lanes) && direct::prefers_columns(&g2, lanes));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (x, w, stride, pad) in [
        ([3, 1, 28, 28], [6, 1, 5, 5], 1, 2),
        ([2, 6, 14, 14], [16, 6, 5, 5], 1, 0),
        ([2, 2, 9, 7], [3, 2, 3, 3], 2, 1),
        ([2, 3, 11, 6], [7, 3, 4, 2], 1, 2),
    ] {
        let (xt, wt, bt) = (
            rand_t(&x, &mut rng),
            rand_t(&w, &mut rng),
            rand_t(&[w[0]], &mut rng),
        );
        let g = Conv2dGeom::new(&x, &w, stride, pad).unwrap();
        let want = reference::conv2d_forward(&xt, &wt, Some(&bt), stride, pad).unwrap();
        let per_x = g.c * g.h * g.w;
        for path in Path::available() {
            for cols in [false, true] {
                let mut y = Tensor::zeros(want.shape()).unwrap();
                simd::with_path(path, || {
                    let plan = direct::Plan::forward_with(&g, wt.data(), cols);
                    let mut s = plan.scratch();
                    let per_y = y.len() / x[0];
                    for (n, yn) in y.data_mut().chunks_exact_mut(per_y).enumerate() {
                        let xn = &xt.data()[n * per_x..][..per_x];
                        plan.forward_sample(&mut s, xn, Some(bt.data()), yn);
                    }
                })
                .unwrap();
                close(
                    &y,
                    &want,
                    w[1] * w[2] * w[3],
                    &format!("{x:?} {path:?} cols {cols}"),
                );
            }
        }
    }
}
