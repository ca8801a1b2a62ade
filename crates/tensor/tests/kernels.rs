//! Every fast kernel against its `reference` twin on random shapes (proptest), the algebraic
//! properties of style-guide §7.8, thread-count independence, and shape errors. The SIMD
//! kernels (direct convolution, 2×2 max-pool) run on every path this CPU has
//! ([`on_every_path`]: portable, AVX2, AVX-512VL's 8 lanes, AVX-512F's 16 lanes).
//!
//! Tolerance for a result that sums R products of values in [−1, 1]:
//! |fast − ref| ≤ 1e-5 · √R · (1 + |ref|) (f32 rounding grows like √R for random signs; the
//! reference accumulates in f64).

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use siamese_tensor::ops::conv2d::{self, Conv2dGeom, ConvAlgo};
use siamese_tensor::ops::simd::{self, Path};
use siamese_tensor::ops::{elementwise as ew, gemm, pool};
use siamese_tensor::{fpmode, Tensor};

fn rand_vec(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

fn rand_t(shape: &[usize], rng: &mut ChaCha8Rng) -> Tensor {
    Tensor::from_vec(shape, rand_vec(shape.iter().product(), rng)).unwrap()
}

fn assert_close(got: &[f32], want: &[f32], red: usize, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{} length", what);
    let tol = 1e-5 * (red.max(1) as f32).sqrt();
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        prop_assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{}[{}]: {} vs reference {} (tol {})",
            what,
            i,
            a,
            b,
            tol
        );
    }
    Ok(())
}

/// Runs `f` with the SIMD kernels on each path this CPU has, and fails unless each path's
/// kernels ran (where the CPU has AVX-512F, the 16-lane path is among them).
fn on_every_path(
    mut f: impl FnMut(Path) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let paths = Path::available();
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
        prop_assert!(paths.contains(&Path::Avx512), "AVX-512F but no avx512 path");
    }
    for p in paths {
        simd::with_path(p, || f(p)).expect("an available path")?;
        prop_assert!(p.taken(), "no kernel ran on the {} path", p.name());
    }
    Ok(())
}

/// A random convolution: (x shape, w shape, stride, pad), channels 1..7, odd sizes.
fn conv_case() -> impl Strategy<Value = ([usize; 4], [usize; 4], usize, usize)> {
    (
        1usize..4,
        1usize..8,
        1usize..8,
        1usize..6,
        1usize..6,
        prop_oneof![Just(1usize), Just(2)],
        prop_oneof![Just(0usize), Just(1), Just(2)],
        0usize..9,
        0usize..9,
    )
        .prop_map(|(n, c, k, kh, kw, s, p, dh, dw)| {
            // H + 2p ≥ KH always: H = max(KH − 2p, 1) + dh.
            let h = (kh.saturating_sub(2 * p)).max(1) + dh;
            let w = (kw.saturating_sub(2 * p)).max(1) + dw;
            ([n, c, h, w], [k, c, kh, kw], s, p)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn conv_matches_reference((xs, ws, s, p) in conv_case(), seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = rand_t(&xs, &mut rng);
        let w = rand_t(&ws, &mut rng);
        let b = rand_t(&[ws[0]], &mut rng);
        let g = Conv2dGeom::new(&xs, &ws, s, p).unwrap();
        let dy = rand_t(&g.out_shape(), &mut rng);
        let y_ref = conv2d::reference::conv2d_forward(&x, &w, Some(&b), s, p).unwrap();
        let g_ref = conv2d::reference::conv2d_backward(&x, &w, &dy, s, p).unwrap();
        let check = |algo: ConvAlgo, what: &str| -> Result<(), TestCaseError> {
            let y = conv2d::conv2d_forward_with(algo, &x, &w, Some(&b), s, p).unwrap();
            prop_assert_eq!(y.shape(), y_ref.shape());
            assert_close(y.data(), y_ref.data(), ws[1] * ws[2] * ws[3], &format!("{what} y"))?;
            let gr = conv2d::conv2d_backward_with(algo, &x, &w, &dy, s, p).unwrap();
            assert_close(gr.dx.data(), g_ref.dx.data(), ws[0] * ws[2] * ws[3], &format!("{what} dx"))?;
            let nred = xs[0] * g.out_h() * g.out_w();
            assert_close(gr.dw.data(), g_ref.dw.data(), nred, &format!("{what} dw"))?;
            assert_close(gr.db.data(), g_ref.db.data(), nred, &format!("{what} db"))
        };
        check(ConvAlgo::Im2col, "Im2col")?;
        check(ConvAlgo::Auto, "Auto")?;
        on_every_path(|path| check(ConvAlgo::Direct, &format!("Direct on {}", path.name())))?;
    }

    /// ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩: backward's dx is the adjoint of the bias-free forward.
    #[test]
    fn conv_dx_is_adjoint_of_forward((xs, ws, s, p) in conv_case(), seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = rand_t(&xs, &mut rng);
        let w = rand_t(&ws, &mut rng);
        let g = Conv2dGeom::new(&xs, &ws, s, p).unwrap();
        let y = rand_t(&g.out_shape(), &mut rng);
        let check = |algo: ConvAlgo, path: Path| -> Result<(), TestCaseError> {
            let cx = conv2d::conv2d_forward_with(algo, &x, &w, None, s, p).unwrap();
            let dx = conv2d::conv2d_backward_with(algo, &x, &w, &y, s, p).unwrap().dx;
            let lhs: f64 = cx.data().iter().zip(y.data()).map(|(a, b)| *a as f64 * *b as f64).sum();
            let rhs: f64 = x.data().iter().zip(dx.data()).map(|(a, b)| *a as f64 * *b as f64).sum();
            let scale = (cx.len() as f64).sqrt() * (ws[1] * ws[2] * ws[3]) as f64;
            prop_assert!((lhs - rhs).abs() <= 1e-5 * (1.0 + scale), "{:?} on {:?}: {} vs {}", algo, path, lhs, rhs);
            Ok(())
        };
        check(ConvAlgo::Im2col, simd::path())?;
        on_every_path(|path| check(ConvAlgo::Direct, path))?;
    }

    #[test]
    fn gemm_matches_reference(m in 1usize..40, n in 1usize..40, k in 1usize..40, ta in any::<bool>(), tb in any::<bool>(), beta in prop_oneof![Just(0.0f32), Just(1.0), Just(-0.5)], seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = rand_vec(m * k, &mut rng);
        let b = rand_vec(k * n, &mut rng);
        // β = 0 must overwrite C, even NaN.
        let c0 = if beta == 0.0 { vec![f32::NAN; m * n] } else { rand_vec(m * n, &mut rng) };
        let (mut c, mut c_ref) = (c0.clone(), c0.clone());
        gemm::gemm(ta, tb, m, n, k, 0.75, &a, &b, beta, &mut c).unwrap();
        gemm::reference::gemm(ta, tb, m, n, k, 0.75, &a, &b, beta, &mut c_ref).unwrap();
        assert_close(&c, &c_ref, k, "gemm")?;
        // gemm_batched over 3 copies with different data equals 3 reference calls.
        let bat = 3;
        let ab = rand_vec(bat * m * k, &mut rng);
        let bb = rand_vec(bat * k * n, &mut rng);
        let mut cb = vec![f32::NAN; bat * m * n];
        gemm::gemm_batched(bat, ta, tb, m, n, k, 1.0, &ab, &bb, 0.0, &mut cb).unwrap();
        for i in 0..bat {
            let mut ci = vec![0.0; m * n];
            gemm::reference::gemm(ta, tb, m, n, k, 1.0, &ab[i * m * k..][..m * k], &bb[i * k * n..][..k * n], 0.0, &mut ci).unwrap();
            assert_close(&cb[i * m * n..][..m * n], &ci, k, "gemm_batched")?;
        }
    }

    /// The fused conv → ReLU → 2×2 max-pool (stride 1) equals conv2d then the fused pool,
    /// forward (values and argmax) and backward (dx, dw, db), bit for bit.
    #[test]
    fn fused_conv_relu_pool_matches_composition(n in 1usize..11, c in 1usize..4, k in 1usize..9, kh in 1usize..6, kw in 1usize..6, pad in 0usize..3, dh in 1usize..12, dw in 1usize..12, need_dx in any::<bool>(), seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // OH = H + 2p − KH + 1 ≥ 2.
        let (h, w) = ((kh + 1).saturating_sub(2 * pad).max(1) + dh, (kw + 1).saturating_sub(2 * pad).max(1) + dw);
        let x = rand_t(&[n, c, h, w], &mut rng);
        let wt = rand_t(&[k, c, kh, kw], &mut rng);
        let b = rand_t(&[k], &mut rng);
        let dy = rand_t(&[n, k, (h + 2 * pad + 1 - kh) / 2, (w + 2 * pad + 1 - kw) / 2], &mut rng);
        on_every_path(|_| {
            let conv = conv2d::conv2d_forward(&x, &wt, Some(&b), 1, pad).unwrap();
            let (y_ref, arg_ref) = pool::relu_max_pool2d_forward(&conv, 2, 2).unwrap();
            let (y, arg) = conv2d::conv2d_relu_maxpool_forward(&x, &wt, Some(&b), pad).unwrap();
            prop_assert_eq!(&y, &y_ref);
            prop_assert_eq!(&arg, &arg_ref);
            prop_assert_eq!(dy.shape(), y.shape());
            let dc = pool::relu_max_pool2d_backward(&dy, &y_ref, &arg_ref, conv.shape()).unwrap();
            let want = conv2d::conv2d_backward(&x, &wt, &dc, 1, pad).unwrap();
            let (dx, dw_, db) = conv2d::conv2d_relu_maxpool_backward(&x, &wt, &y, &arg, &dy, pad, need_dx).unwrap();
            prop_assert_eq!(&dw_, &want.dw);
            prop_assert_eq!(&db, &want.db);
            match dx {
                Some(dx) => prop_assert_eq!(&dx, &want.dx),
                None => prop_assert!(!need_dx),
            }
            Ok(())
        })?;
    }

    /// The 2×2/2 max-pool of LeNet-5 on rows wide enough for the 8- and 16-window SIMD steps
    /// (and widths that end with an overlapping or a masked step): values, ties and NaNs as
    /// the reference, on every path.
    #[test]
    fn max_pool_2x2_wide_rows_match_reference(n in 1usize..3, c in 1usize..4, oh in 1usize..5, ow in 1usize..40, odd_h in any::<bool>(), odd_w in any::<bool>(), nan_every in 0usize..40, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let xs = [n, c, 2 * oh + odd_h as usize, 2 * ow + odd_w as usize];
        let len = xs.iter().product::<usize>();
        let x = Tensor::from_vec(&xs, (0..len).map(|i| {
            if nan_every > 0 && i % (nan_every + 7) == nan_every { f32::NAN } else { rng.gen_range(-3i32..3) as f32 }
        }).collect()).unwrap();
        let (y_ref, arg_ref) = pool::reference::max_pool2d_forward(&x, 2, 2).unwrap();
        let dy = rand_t(y_ref.shape(), &mut rng);
        on_every_path(|_| {
            let (y, arg) = pool::max_pool2d_forward(&x, 2, 2).unwrap();
            prop_assert_eq!(&arg, &arg_ref);
            let same = y.data().iter().zip(y_ref.data()).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
            prop_assert!(same, "{:?} vs {:?}", y.data(), y_ref.data());
            // The fused ReLU variant: y = max(maxpool(x), 0) and dx[argmax] += dy·[y > 0].
            let (yr, arg_r) = pool::relu_max_pool2d_forward(&x, 2, 2).unwrap();
            prop_assert_eq!(&arg_r, &arg_ref);
            let clamped: Vec<f32> = y_ref.data().iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect();
            prop_assert_eq!(yr.data(), &clamped[..]);
            let masked = Tensor::from_vec(dy.shape(), dy.data().iter().zip(&clamped).map(|(&d, &v)| if v > 0.0 { d } else { 0.0 }).collect()).unwrap();
            prop_assert_eq!(
                pool::relu_max_pool2d_backward(&dy, &yr, &arg_r, &xs).unwrap(),
                pool::reference::max_pool2d_backward(&masked, &arg_ref, &xs).unwrap()
            );
            Ok(())
        })?;
    }

    #[test]
    fn pool_matches_reference(n in 1usize..3, c in 1usize..5, k in 1usize..4, s in 1usize..4, dh in 0usize..8, dw in 0usize..8, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let xs = [n, c, k + dh, k + dw];
        // Coarse values make ties likely: the first-in-row-major rule is exercised.
        let x = Tensor::from_vec(&xs, (0..xs.iter().product::<usize>()).map(|_| rng.gen_range(-3i32..3) as f32).collect()).unwrap();
        let (y_ref, arg_ref) = pool::reference::max_pool2d_forward(&x, k, s).unwrap();
        on_every_path(|_| {
            let (y, arg) = pool::max_pool2d_forward(&x, k, s).unwrap();
            prop_assert_eq!(&y, &y_ref);
            prop_assert_eq!(&arg, &arg_ref);
            Ok(())
        })?;
        let (y, arg) = (y_ref, arg_ref);
        let dy = rand_t(y.shape(), &mut rng);
        prop_assert_eq!(pool::max_pool2d_backward(&dy, &arg, &xs).unwrap(), pool::reference::max_pool2d_backward(&dy, &arg, &xs).unwrap());
        let a = pool::avg_pool2d_forward(&x, k, s).unwrap();
        let a_ref = pool::reference::avg_pool2d_forward(&x, k, s).unwrap();
        assert_close(a.data(), a_ref.data(), k * k, "avg")?;
        let da = pool::avg_pool2d_backward(&dy, &xs, k, s).unwrap();
        let da_ref = pool::reference::avg_pool2d_backward(&dy, &xs, k, s).unwrap();
        assert_close(da.data(), da_ref.data(), k * k, "avg dx")?;
    }

    #[test]
    fn elementwise_matches_reference(len in 0usize..70, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = Tensor::from_vec(&[len], (0..len).map(|_| rng.gen_range(-30.0f32..30.0)).collect()).unwrap();
        let b = rand_t(&[len], &mut rng);
        let pos = ew::reference::sqrt(&ew::reference::square(&a));
        // Bit-exact: the same IEEE operations in the same order.
        prop_assert_eq!(ew::add(&a, &b).unwrap(), ew::reference::add(&a, &b).unwrap());
        prop_assert_eq!(ew::sub(&a, &b).unwrap(), ew::reference::sub(&a, &b).unwrap());
        prop_assert_eq!(ew::mul(&a, &b).unwrap(), ew::reference::mul(&a, &b).unwrap());
        prop_assert_eq!(ew::scale(&a, -1.5), ew::reference::scale(&a, -1.5));
        prop_assert_eq!(ew::relu(&a), ew::reference::relu(&a));
        prop_assert_eq!(ew::relu_backward(&a, &b).unwrap(), ew::reference::relu_backward(&a, &b).unwrap());
        prop_assert_eq!(ew::tanh(&a), ew::reference::tanh(&a));
        prop_assert_eq!(ew::tanh_backward(&b, &a).unwrap(), ew::reference::tanh_backward(&b, &a).unwrap());
        prop_assert_eq!(ew::sigmoid_backward(&b, &a).unwrap(), ew::reference::sigmoid_backward(&b, &a).unwrap());
        prop_assert_eq!(ew::square(&a), ew::reference::square(&a));
        prop_assert_eq!(ew::square_backward(&a, &b).unwrap(), ew::reference::square_backward(&a, &b).unwrap());
        prop_assert_eq!(ew::sqrt(&pos), ew::reference::sqrt(&pos));
        prop_assert_eq!(ew::sqrt_backward(&pos, &b).unwrap(), ew::reference::sqrt_backward(&pos, &b).unwrap());
        let g = ew::sqrt_guarded(&a, 0.5);
        prop_assert_eq!(&g, &ew::reference::sqrt_guarded(&a, 0.5));
        prop_assert_eq!(ew::sqrt_guarded_backward(&a, &g, &b, 0.5).unwrap(), ew::reference::sqrt_guarded_backward(&a, &g, &b, 0.5).unwrap());
        // σ through wide's exp: a few ulp.
        let (s, s_ref) = (ew::sigmoid(&a), ew::reference::sigmoid(&a));
        for (x, y) in s.data().iter().zip(s_ref.data()) {
            prop_assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()) && (*x >= 0.0 && *x <= 1.0), "{} vs {}", x, y);
        }
        // f64 sums in another (fixed) order: equal after rounding to f32 up to 1 ulp.
        let (su, su_ref) = (ew::sum(&a), ew::reference::sum(&a));
        prop_assert!((su - su_ref).abs() <= 1e-6 * (1.0 + su_ref.abs()));
        let (me, me_ref) = (ew::mean(&a), ew::reference::mean(&a));
        prop_assert!((me - me_ref).abs() <= 1e-6 * (1.0 + me_ref.abs()));
    }
}

#[test]
fn sigmoid_is_stable_at_extremes() {
    let x = Tensor::from_vec(&[7], vec![-1e30, -100.0, -88.0, 0.0, 88.0, 100.0, 1e30]).unwrap();
    let s = ew::sigmoid(&x);
    let want = [0.0, 0.0, ew::sigmoid_scalar(-88.0), 0.5, 1.0, 1.0, 1.0];
    for (a, b) in s.data().iter().zip(want) {
        assert!(a.is_finite() && (a - b).abs() <= 1e-7, "{a} vs {b}");
    }
}

#[test]
fn conv_with_delta_kernel_is_identity() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = rand_t(&[2, 3, 9, 11], &mut rng);
    // w[k,c,2,2] = [k == c]: a 5×5 delta per channel, pad 2 keeps the size.
    let mut w = Tensor::zeros(&[3, 3, 5, 5]).unwrap();
    for c in 0..3 {
        w.set(&[c, c, 2, 2], 1.0).unwrap();
    }
    for algo in [ConvAlgo::Im2col, ConvAlgo::Direct, ConvAlgo::Auto] {
        let y = conv2d::conv2d_forward_with(algo, &x, &w, None, 1, 2).unwrap();
        assert_eq!(y, x, "{algo:?}");
    }
}

#[test]
fn avg_pool_of_constant_is_constant() {
    for (k, s) in [(2, 2), (3, 1), (2, 3)] {
        let x = Tensor::full(&[2, 3, 8, 7], 0.375).unwrap();
        let y = pool::avg_pool2d_forward(&x, k, s).unwrap();
        assert!(
            y.data().iter().all(|&v| (v - 0.375).abs() <= 1e-7),
            "k={k} s={s}"
        );
    }
}

#[test]
fn a_times_identity_is_a() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (m, n) in [(1, 1), (7, 13), (33, 64), (127, 9)] {
        let a = rand_t(&[m, n], &mut rng);
        let mut eye = Tensor::zeros(&[n, n]).unwrap();
        for i in 0..n {
            eye.set(&[i, i], 1.0).unwrap();
        }
        assert_eq!(gemm::matmul(&a, &eye, false, false).unwrap(), a);
        let mut eye_m = Tensor::zeros(&[m, m]).unwrap();
        for i in 0..m {
            eye_m.set(&[i, i], 1.0).unwrap();
        }
        assert_eq!(gemm::matmul(&eye_m, &a, false, false).unwrap(), a);
    }
}

/// GEMMs big enough to run as parallel row blocks (m = 100 > 64 rows, ≥ 2^18 multiply-adds)
/// match the reference for every transpose and β, with A and C row blocks at every offset.
#[test]
fn large_gemm_in_row_blocks_matches_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let (m, n, k) = (100, 70, 50);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for ta in [false, true] {
        for tb in [false, true] {
            for beta in [0.0f32, 0.5] {
                let a = rand_vec(m * k, &mut rng);
                let b = rand_vec(k * n, &mut rng);
                let c0 = rand_vec(m * n, &mut rng);
                let (mut c, mut c_ref) = (c0.clone(), c0);
                pool.install(|| gemm::gemm(ta, tb, m, n, k, 0.75, &a, &b, beta, &mut c))
                    .unwrap();
                gemm::reference::gemm(ta, tb, m, n, k, 0.75, &a, &b, beta, &mut c_ref).unwrap();
                assert_close(&c, &c_ref, k, "row-block gemm").unwrap();
            }
        }
    }
}

/// All parallel kernels give bit-identical results on 1 and 2 rayon threads, on every SIMD path.
#[test]
fn results_do_not_depend_on_thread_count() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // 21 samples: not a multiple of the chunk size.
    let x = rand_t(&[21, 6, 14, 14], &mut rng);
    let w = rand_t(&[16, 6, 5, 5], &mut rng);
    let b = rand_t(&[16], &mut rng);
    let dy = rand_t(&[21, 16, 10, 10], &mut rng);
    let ga = rand_vec(5 * 30 * 40, &mut rng);
    let gb = rand_vec(5 * 40 * 20, &mut rng);
    let (big_a, big_b) = (rand_vec(100 * 50, &mut rng), rand_vec(50 * 70, &mut rng));
    let run = || {
        let mut out = Vec::new();
        for algo in [ConvAlgo::Im2col, ConvAlgo::Direct] {
            out.push(conv2d::conv2d_forward_with(algo, &x, &w, Some(&b), 1, 0).unwrap());
            let g = conv2d::conv2d_backward_with(algo, &x, &w, &dy, 1, 0).unwrap();
            out.extend([g.dx, g.dw, g.db]);
        }
        let (y, arg) = pool::max_pool2d_forward(&x, 2, 2).unwrap();
        out.push(pool::max_pool2d_backward(&y, &arg, x.shape()).unwrap());
        out.push(y);
        let a = pool::avg_pool2d_forward(&x, 2, 2).unwrap();
        out.push(pool::avg_pool2d_backward(&a, x.shape(), 2, 2).unwrap());
        out.push(a);
        let mut c = vec![0.0; 5 * 30 * 20];
        gemm::gemm_batched(5, false, false, 30, 20, 40, 1.0, &ga, &gb, 0.0, &mut c).unwrap();
        out.push(Tensor::from_vec(&[c.len()], c).unwrap());
        // One GEMM large enough to be split into row blocks.
        let mut c = vec![0.0; 100 * 70];
        gemm::gemm(false, true, 100, 70, 50, 1.0, &big_a, &big_b, 0.0, &mut c).unwrap();
        out.push(Tensor::from_vec(&[c.len()], c).unwrap());
        out
    };
    // In both subnormal modes (siamese_tensor::fpmode), every worker set as it starts.
    for flush in [false, true] {
        let pool_of = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .start_handler(move |_| fpmode::set_flush(flush))
                .build()
                .unwrap()
        };
        // On every SIMD path (set inside the pool: `install` runs on a worker).
        for p in Path::available() {
            let on = |n| pool_of(n).install(|| simd::with_path(p, run).unwrap());
            let (one, two) = (on(1), on(2));
            assert_eq!(one.len(), two.len());
            for (i, (a, b)) in one.iter().zip(&two).enumerate() {
                let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(a),
                    bits(b),
                    "output {i} differs between 1 and 2 threads (flush {flush}, {p:?})"
                );
            }
        }
    }
}

/// With subnormals flushed (the library's default mode), on the test thread and the pool
/// alike, the fast conv and GEMM paths still match their references, on inputs where a
/// third of the values are subnormal (read as zero by both).
#[test]
fn kernels_match_references_with_subnormals_flushed() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut t = |shape: &[usize]| {
        let mut x = rand_t(shape, &mut rng);
        for (i, v) in x.data_mut().iter_mut().enumerate() {
            if i % 3 == 0 {
                *v *= 1e-39;
            }
        }
        x
    };
    let (x, w, b, dy) = (
        t(&[5, 3, 12, 12]),
        t(&[4, 3, 5, 5]),
        t(&[4]),
        t(&[5, 4, 10, 10]),
    );
    let (ga, gb) = (t(&[60 * 80]), t(&[80 * 90]));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| fpmode::set_flush(true))
        .build()
        .unwrap();
    fpmode::with_flush(true, || {
        let y_ref = conv2d::reference::conv2d_forward(&x, &w, Some(&b), 1, 1).unwrap();
        let g_ref = conv2d::reference::conv2d_backward(&x, &w, &dy, 1, 1).unwrap();
        let mut c_ref = vec![0.0; 60 * 90];
        let (a, bm) = (ga.data(), gb.data());
        gemm::reference::gemm(false, false, 60, 90, 80, 1.0, a, bm, 0.0, &mut c_ref).unwrap();
        for algo in [ConvAlgo::Im2col, ConvAlgo::Direct] {
            let (y, g) = pool.install(|| {
                let y = conv2d::conv2d_forward_with(algo, &x, &w, Some(&b), 1, 1).unwrap();
                (
                    y,
                    conv2d::conv2d_backward_with(algo, &x, &w, &dy, 1, 1).unwrap(),
                )
            });
            assert_close(y.data(), y_ref.data(), 75, "flushed conv forward").unwrap();
            assert_close(g.dx.data(), g_ref.dx.data(), 100, "flushed conv dx").unwrap();
            assert_close(g.dw.data(), g_ref.dw.data(), 500, "flushed conv dw").unwrap();
        }
        let mut c = vec![0.0; 60 * 90];
        pool.install(|| gemm::gemm(false, false, 60, 90, 80, 1.0, a, bm, 0.0, &mut c))
            .unwrap();
        assert_close(&c, &c_ref, 80, "flushed gemm").unwrap();
    });
}

#[test]
fn shape_errors_are_errors_not_panics() {
    let x = Tensor::zeros(&[1, 2, 4, 4]).unwrap();
    let v3 = Tensor::zeros(&[3]).unwrap();
    let v4 = Tensor::zeros(&[4]).unwrap();
    assert!(ew::add(&v3, &v4).is_err());
    assert!(ew::sub(&v3, &v4).is_err());
    assert!(ew::mul(&v3, &v4).is_err());
    assert!(ew::relu_backward(&v3, &v4).is_err());
    assert!(ew::tanh_backward(&v3, &v4).is_err());
    assert!(ew::sigmoid_backward(&v3, &v4).is_err());
    assert!(ew::square_backward(&v3, &v4).is_err());
    assert!(ew::sqrt_backward(&v3, &v4).is_err());
    assert!(pool::max_pool2d_forward(&x, 5, 1).is_err());
    assert!(pool::max_pool2d_forward(&x, 2, 0).is_err());
    assert!(pool::avg_pool2d_forward(&v3, 2, 2).is_err());
    let dy = Tensor::zeros(&[1, 2, 2, 2]).unwrap();
    assert!(pool::max_pool2d_backward(&dy, &[0; 7], x.shape()).is_err());
    assert!(pool::max_pool2d_backward(&dy, &[99; 8], x.shape()).is_err());
    assert!(pool::avg_pool2d_backward(&dy, &[1, 2, 6, 6], 2, 2).is_err());
    let mut c = vec![0.0; 6];
    assert!(gemm::gemm(false, false, 2, 3, 4, 1.0, &[0.0; 7], &[0.0; 12], 0.0, &mut c).is_err());
    assert!(
        gemm::gemm_batched(2, false, false, 2, 3, 4, 1.0, &[0.0; 16], &[0.0; 24], 0.0, &mut c)
            .is_err()
    );
    assert!(gemm::matmul(&v3, &v4, false, false).is_err());
    let m23 = Tensor::zeros(&[2, 3]).unwrap();
    assert!(gemm::matmul(&m23, &m23, false, false).is_err());
}
