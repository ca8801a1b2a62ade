//! The GPU tests: every kernel of [`CudaBackend`] against [`CpuBackend`] (the specification)
//! on seeded random shapes, with the tolerance of the CPU kernel tests
//! (|gpu − cpu| ≤ 1e-5·√(terms per output)·(1 + |cpu|)), and the whole device step of
//! SN-LeNet-5 on the GPU against the same step on the CPU backend.
//!
//! A custom harness (libtest-mimic): when no CUDA device can be opened, every test is
//! reported as `ignored` with the reason (the one-line error), also under `--include-ignored`,
//! so a CPU-only `cargo test --workspace -- --include-ignored` lists them without running or
//! passing them. With `SIAMESE_REQUIRE_GPU=1` (set by scripts/gpu-check.sh) a missing device
//! fails every test instead. Each test prints the largest |gpu − cpu| it saw.

use std::cell::RefCell;
use std::rc::Rc;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use siamese_cuda::CudaBackend;
use siamese_model::device_step::DeviceModel;
use siamese_model::siamese::stack_pairs;
use siamese_model::{ModelConfig, SnLenet5};
use siamese_optim::AdamConfig;
use siamese_tensor::backend::{AdamHyper, Backend, BnMode, Conv2dGeom, HeadGrads, HeadParams};
use siamese_tensor::{CpuBackend, Tensor};

type TestResult = Result<(), Failed>;
/// A GPU test: its seed in, pass or fail out.
type GpuTest = fn(u64) -> TestResult;

/// Random shapes drawn per kernel test.
const SHAPES: usize = 6;

thread_local! {
    /// One backend for all tests (they run on one thread): NVRTC compiles the kernels once.
    static GPU: RefCell<Option<Rc<CudaBackend>>> = const { RefCell::new(None) };
}

fn gpu() -> Result<Rc<CudaBackend>, Failed> {
    GPU.with(|g| {
        if let Some(b) = g.borrow().as_ref() {
            return Ok(b.clone());
        }
        let b = Rc::new(CudaBackend::new(0).map_err(|e| Failed::from(e.to_string()))?);
        *g.borrow_mut() = Some(b.clone());
        Ok(b)
    })
}

/// Largest |gpu − cpu| of one test, and the check of the CPU tests' tolerance.
#[derive(Default)]
struct Diff {
    max: f32,
}

impl Diff {
    fn check(&mut self, what: &str, gpu: &[f32], cpu: &[f32], terms: usize) -> TestResult {
        if gpu.len() != cpu.len() {
            return Err(format!(
                "{what}: {} values on the GPU, {} on the CPU",
                gpu.len(),
                cpu.len()
            )
            .into());
        }
        let tol = 1e-5 * (terms.max(1) as f32).sqrt();
        for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
            let d = (g - c).abs();
            if d.is_nan() || d > tol * (1.0 + c.abs()) {
                return Err(
                    format!("{what}[{i}]: gpu {g} vs cpu {c} (tolerance {tol}·(1+|cpu|))").into(),
                );
            }
            self.max = self.max.max(d);
        }
        Ok(())
    }

    fn report(&self, name: &str, cases: usize) -> TestResult {
        println!(
            "    {name}: max |gpu - cpu| = {:.3e} over {cases} random shapes",
            self.max
        );
        Ok(())
    }
}

fn rand_vec(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
}

fn dl(g: &CudaBackend, b: &<CudaBackend as Backend>::Buf) -> Result<Vec<f32>, Failed> {
    g.download(b).map_err(|e| e.to_string().into())
}

macro_rules! t {
    ($e:expr) => {
        $e.map_err(|e| Failed::from(e.to_string()))?
    };
}

fn conv_geom(rng: &mut ChaCha8Rng) -> Conv2dGeom {
    let (kh, kw) = (rng.gen_range(1..=5), rng.gen_range(1..=5));
    let pad = rng.gen_range(0..=2);
    let h = rng.gen_range(kh.max(3)..=14);
    let w = rng.gen_range(kw.max(3)..=14);
    Conv2dGeom {
        n: rng.gen_range(1..=4),
        c: rng.gen_range(1..=4),
        h,
        w,
        k: rng.gen_range(1..=6),
        kh,
        kw,
        stride: rng.gen_range(1..=2),
        pad,
    }
}

fn conv2d(seed: u64) -> TestResult {
    let g_be = gpu()?;
    let g = &*g_be;
    let c = CpuBackend;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    for case in 0..SHAPES {
        let geo = conv_geom(&mut rng);
        let (nx, nw) = (
            geo.n * geo.c * geo.h * geo.w,
            geo.k * geo.c * geo.kh * geo.kw,
        );
        let ny: usize = geo.out_shape().iter().product();
        let (x, w, b) = (
            rand_vec(&mut rng, nx, 1.0),
            rand_vec(&mut rng, nw, 0.5),
            rand_vec(&mut rng, geo.k, 0.5),
        );
        let dy = rand_vec(&mut rng, ny, 1.0);
        let (xg, wg, bg, dyg) = (
            t!(g.upload(&x)),
            t!(g.upload(&w)),
            t!(g.upload(&b)),
            t!(g.upload(&dy)),
        );
        let mut yg = t!(g.zeros(ny));
        let mut yc = vec![0.0; ny];
        t!(g.conv2d_forward(&geo, &xg, &wg, &bg, &mut yg));
        t!(c.conv2d_forward(&geo, &x, &w, &b, &mut yc));
        diff.check(
            &format!("case {case} {geo:?} y"),
            &dl(g, &yg)?,
            &yc,
            geo.c * geo.kh * geo.kw,
        )?;
        let (mut dxg, mut dwg, mut dbg) = (t!(g.zeros(nx)), t!(g.zeros(nw)), t!(g.zeros(geo.k)));
        let (mut dxc, mut dwc, mut dbc) = (vec![0.0; nx], vec![0.0; nw], vec![0.0; geo.k]);
        let with_dx = case % 2 == 0;
        t!(g.conv2d_backward(
            &geo,
            &xg,
            &wg,
            &dyg,
            with_dx.then_some(&mut dxg),
            &mut dwg,
            &mut dbg
        ));
        t!(c.conv2d_backward(
            &geo,
            &x,
            &w,
            &dy,
            with_dx.then_some(&mut dxc),
            &mut dwc,
            &mut dbc
        ));
        let per_w = geo.n * geo.out_h() * geo.out_w();
        diff.check(&format!("case {case} dw"), &dl(g, &dwg)?, &dwc, per_w)?;
        diff.check(&format!("case {case} db"), &dl(g, &dbg)?, &dbc, per_w)?;
        if with_dx {
            diff.check(
                &format!("case {case} dx"),
                &dl(g, &dxg)?,
                &dxc,
                geo.k * geo.kh * geo.kw,
            )?;
        }
    }
    diff.report("conv2d forward/backward (dw, db, dx)", SHAPES)
}

fn max_pool(seed: u64) -> TestResult {
    let g_be = gpu()?;
    let g = &*g_be;
    let c = CpuBackend;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    for case in 0..SHAPES {
        let (planes, h, w) = (
            rng.gen_range(1..=12),
            rng.gen_range(2..=15),
            rng.gen_range(2..=15),
        );
        let mut x = rand_vec(&mut rng, planes * h * w, 1.0);
        // Ties, so the first-maximum rule is exercised.
        for v in x.iter_mut().step_by(3) {
            *v = 0.25;
        }
        let out = planes * (h / 2) * (w / 2);
        let dy = rand_vec(&mut rng, out, 1.0);
        let xg = t!(g.upload(&x));
        let (mut yg, mut ag) = (t!(g.zeros(out)), t!(g.idx_zeros(out)));
        let (mut yc, mut ac) = (vec![0.0; out], vec![0u32; out]);
        t!(g.max_pool2x2_forward(planes, h, w, &xg, &mut yg, &mut ag));
        t!(c.max_pool2x2_forward(planes, h, w, &x, &mut yc, &mut ac));
        diff.check(&format!("case {case} y"), &dl(g, &yg)?, &yc, 1)?;
        let agh = t!(g.context().default_stream().clone_dtoh(&ag));
        if agh != ac {
            return Err(format!("case {case} ({planes}×{h}×{w}): argmax differs").into());
        }
        let (dyg, mut dxg) = (t!(g.upload(&dy)), t!(g.zeros(planes * h * w)));
        let mut dxc = vec![0.0; planes * h * w];
        t!(g.max_pool2x2_backward(planes, h, w, &dyg, &ag, &mut dxg));
        t!(c.max_pool2x2_backward(planes, h, w, &dy, &ac, &mut dxc));
        diff.check(&format!("case {case} dx"), &dl(g, &dxg)?, &dxc, 1)?;
    }
    diff.report("max-pool 2x2 forward (values, argmax) and backward", SHAPES)
}

fn gemm(seed: u64) -> TestResult {
    let g_be = gpu()?;
    let g = &*g_be;
    let c = CpuBackend;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    let mut cases = 0;
    for _ in 0..SHAPES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, n, k) = (
                rng.gen_range(1..=70),
                rng.gen_range(1..=70),
                rng.gen_range(1..=70),
            );
            let (alpha, beta) = (rng.gen_range(-2.0..2.0), [0.0, 1.0, 0.5][cases % 3]);
            let (a, b) = (
                rand_vec(&mut rng, m * k, 1.0),
                rand_vec(&mut rng, k * n, 1.0),
            );
            let c0 = rand_vec(&mut rng, m * n, 1.0);
            let (ag, bg) = (t!(g.upload(&a)), t!(g.upload(&b)));
            let mut cg = t!(g.upload(&c0));
            let mut cc = c0.clone();
            t!(g.gemm(ta, tb, m, n, k, alpha, &ag, &bg, beta, &mut cg));
            t!(c.gemm(ta, tb, m, n, k, alpha, &a, &b, beta, &mut cc));
            diff.check(
                &format!("gemm ta={ta} tb={tb} m={m} n={n} k={k}"),
                &dl(g, &cg)?,
                &cc,
                k,
            )?;
            cases += 1;
        }
    }
    diff.report("gemm (cuBLAS sgemm, all transposes, alpha/beta)", cases)
}

fn bias_and_sums(seed: u64) -> TestResult {
    let g_be = gpu()?;
    let g = &*g_be;
    let c = CpuBackend;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    for case in 0..SHAPES {
        let (rows, cols) = (rng.gen_range(1..=600), rng.gen_range(1..=130));
        let (b, y0) = (
            rand_vec(&mut rng, cols, 1.0),
            rand_vec(&mut rng, rows * cols, 1.0),
        );
        let bg = t!(g.upload(&b));
        let mut yg = t!(g.upload(&y0));
        let mut yc = y0.clone();
        t!(g.add_bias_rows(rows, cols, &bg, &mut yg));
        t!(c.add_bias_rows(rows, cols, &b, &mut yc));
        diff.check(&format!("case {case} add_bias_rows"), &dl(g, &yg)?, &yc, 1)?;
        let mut sg = t!(g.zeros(cols));
        let mut sc = vec![0.0; cols];
        t!(g.sum_rows(rows, cols, &yg, &mut sg));
        t!(c.sum_rows(rows, cols, &yc, &mut sc));
        diff.check(&format!("case {case} sum_rows"), &dl(g, &sg)?, &sc, rows)?;
    }
    diff.report("bias rows and column sums", SHAPES)
}

fn activations(seed: u64) -> TestResult {
    let g_be = gpu()?;
    let g = &*g_be;
    let c = CpuBackend;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    for case in 0..SHAPES {
        let n = rng.gen_range(1..=5000);
        let (x, dy) = (rand_vec(&mut rng, n, 3.0), rand_vec(&mut rng, n, 1.0));
        for tanh in [false, true] {
            let mut xg = t!(g.upload(&x));
            let mut xc = x.clone();
            if tanh {
                t!(g.tanh_inplace(&mut xg));
                t!(c.tanh_inplace(&mut xc));
            } else {
                t!(g.relu_inplace(&mut xg));
                t!(c.relu_inplace(&mut xc));
            }
            diff.check(
                &format!("case {case} tanh={tanh} forward"),
                &dl(g, &xg)?,
                &xc,
                1,
            )?;
            let mut dg = t!(g.upload(&dy));
            let mut dc = dy.clone();
            if tanh {
                t!(g.tanh_backward_inplace(&xg, &mut dg));
                t!(c.tanh_backward_inplace(&xc, &mut dc));
            } else {
                t!(g.relu_backward_inplace(&xg, &mut dg));
                t!(c.relu_backward_inplace(&xc, &mut dc));
            }
            diff.check(
                &format!("case {case} tanh={tanh} backward"),
                &dl(g, &dg)?,
                &dc,
                1,
            )?;
        }
    }
    diff.report("relu and tanh forward/backward", SHAPES)
}

fn distance_head_loss(seed: u64) -> TestResult {
    let g_be = gpu()?;
    let g = &*g_be;
    let c = CpuBackend;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    for case in 0..SHAPES {
        let (n, e) = (rng.gen_range(1..=700), rng.gen_range(1..=12));
        let mut emb = rand_vec(&mut rng, 2 * n * e, 1.0);
        // One identical pair: the √ guard is active there.
        emb.copy_within(0..e, n * e);
        let eps = 1e-7;
        let embg = t!(g.upload(&emb));
        let (mut dg, mut dc) = (t!(g.zeros(n)), vec![0.0; n]);
        t!(g.euclidean_forward(n, e, &embg, eps, &mut dg));
        t!(c.euclidean_forward(n, e, &emb, eps, &mut dc));
        diff.check(&format!("case {case} distance"), &dl(g, &dg)?, &dc, e)?;
        let dd = rand_vec(&mut rng, n, 1.0);
        let ddg = t!(g.upload(&dd));
        let (mut deg, mut dec) = (t!(g.zeros(2 * n * e)), vec![0.0; 2 * n * e]);
        t!(g.euclidean_backward(n, e, &embg, &dg, &ddg, eps, &mut deg));
        t!(c.euclidean_backward(n, e, &emb, &dc, &dd, eps, &mut dec));
        diff.check(
            &format!("case {case} distance backward"),
            &dl(g, &deg)?,
            &dec,
            e,
        )?;

        // The output module, training and evaluation mode, and its backward.
        let hp: Vec<f32> = vec![
            rng.gen_range(0.5..1.5),
            rng.gen_range(-0.3..0.3),
            rng.gen_range(-2.0..-0.5),
            rng.gen_range(-0.5..0.5),
        ];
        let hpg: Vec<_> = hp
            .iter()
            .map(|v| g.upload(&[*v]))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let hpc: Vec<Vec<f32>> = hp.iter().map(|v| vec![*v]).collect();
        let pg = HeadParams::<CudaBackend> {
            gamma: &hpg[0],
            beta: &hpg[1],
            w: &hpg[2],
            b: &hpg[3],
        };
        let pc = HeadParams::<CpuBackend> {
            gamma: &hpc[0],
            beta: &hpc[1],
            w: &hpc[2],
            b: &hpc[3],
        };
        for mode in [BnMode::Train { momentum: 0.99 }, BnMode::Eval] {
            let (rm, rv) = (rng.gen_range(0.0..1.0f32), rng.gen_range(0.5..2.0f32));
            let (mut rmg, mut rvg) = (t!(g.upload(&[rm])), t!(g.upload(&[rv])));
            let (mut rmc, mut rvc) = (vec![rm], vec![rv]);
            let (mut cg, mut cc) = (t!(g.zeros(n + 1)), vec![0.0; n + 1]);
            let (mut sg, mut sc) = (t!(g.zeros(n)), vec![0.0; n]);
            t!(g.head_forward(n, &dg, &pg, mode, 1e-3, &mut rmg, &mut rvg, &mut cg, &mut sg));
            t!(c.head_forward(n, &dc, &pc, mode, 1e-3, &mut rmc, &mut rvc, &mut cc, &mut sc));
            diff.check(
                &format!("case {case} {mode:?} similarity"),
                &dl(g, &sg)?,
                &sc,
                n,
            )?;
            diff.check(&format!("case {case} {mode:?} cache"), &dl(g, &cg)?, &cc, n)?;
            diff.check(
                &format!("case {case} {mode:?} running mean"),
                &dl(g, &rmg)?,
                &rmc,
                n,
            )?;
            diff.check(
                &format!("case {case} {mode:?} running var"),
                &dl(g, &rvg)?,
                &rvc,
                n,
            )?;
            if mode == BnMode::Eval {
                continue;
            }
            // The loss on these similarities, then the head's backward.
            let y: Vec<f32> = (0..n).map(|_| rng.gen_range(0..2) as f32).collect();
            let yg = t!(g.upload(&y));
            let (mut lg, mut lc) = (t!(g.zeros(1)), vec![0.0]);
            let (mut dsg, mut dsc) = (t!(g.zeros(n)), vec![0.0; n]);
            t!(g.contrastive_loss(n, &sg, &yg, 1.0, &mut lg, &mut dsg));
            t!(c.contrastive_loss(n, &sc, &y, 1.0, &mut lc, &mut dsc));
            diff.check(&format!("case {case} loss"), &dl(g, &lg)?, &lc, n)?;
            diff.check(&format!("case {case} dloss/ds"), &dl(g, &dsg)?, &dsc, 1)?;
            let mut gg: Vec<_> = (0..4)
                .map(|_| g.zeros(1))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let mut gc: Vec<Vec<f32>> = vec![vec![0.0]; 4];
            let (mut ddg2, mut ddc2) = (t!(g.zeros(n)), vec![0.0; n]);
            {
                let [g0, g1, g2, g3] = &mut gg[..] else {
                    unreachable!()
                };
                let mut hg = HeadGrads::<CudaBackend> {
                    gamma: g0,
                    beta: g1,
                    w: g2,
                    b: g3,
                };
                t!(g.head_backward(n, &dsg, &sg, &cg, &pg, &mut hg, &mut ddg2));
                let [c0, c1, c2, c3] = &mut gc[..] else {
                    unreachable!()
                };
                let mut hc = HeadGrads::<CpuBackend> {
                    gamma: c0,
                    beta: c1,
                    w: c2,
                    b: c3,
                };
                t!(c.head_backward(n, &dsc, &sc, &cc, &pc, &mut hc, &mut ddc2));
            }
            for (i, name) in ["dgamma", "dbeta", "dw", "db"].iter().enumerate() {
                diff.check(&format!("case {case} {name}"), &dl(g, &gg[i])?, &gc[i], n)?;
            }
            diff.check(&format!("case {case} dd"), &dl(g, &ddg2)?, &ddc2, n)?;
        }
    }
    diff.report(
        "euclidean distance, output module (train/eval), contrastive loss, backward",
        SHAPES,
    )
}

fn adam(seed: u64) -> TestResult {
    let g_be = gpu()?;
    let g = &*g_be;
    let c = CpuBackend;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    for case in 0..SHAPES {
        let n = rng.gen_range(1..=10_000);
        let (th, gr) = (rand_vec(&mut rng, n, 1.0), rand_vec(&mut rng, n, 0.1));
        let (m0, v0) = (
            rand_vec(&mut rng, n, 0.01),
            rand_vec(&mut rng, n, 0.001)
                .iter()
                .map(|v| v.abs())
                .collect::<Vec<_>>(),
        );
        let t = rng.gen_range(1..50);
        let h = AdamHyper {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            bc1: (1.0 - 0.9f64.powi(t)) as f32,
            bc2: (1.0 - 0.999f64.powi(t)) as f32,
        };
        let (mut thg, grg, mut mg, mut vg) = (
            t!(g.upload(&th)),
            t!(g.upload(&gr)),
            t!(g.upload(&m0)),
            t!(g.upload(&v0)),
        );
        let (mut thc, mut mc, mut vc) = (th.clone(), m0.clone(), v0.clone());
        t!(g.adam_update(&h, &mut thg, &grg, &mut mg, &mut vg));
        t!(c.adam_update(&h, &mut thc, &gr, &mut mc, &mut vc));
        diff.check(&format!("case {case} theta"), &dl(g, &thg)?, &thc, 1)?;
        diff.check(&format!("case {case} m"), &dl(g, &mg)?, &mc, 1)?;
        diff.check(&format!("case {case} v"), &dl(g, &vg)?, &vc, 1)?;
    }
    diff.report("adam update", SHAPES)
}

fn images(rng: &mut ChaCha8Rng, n: usize, c: usize, side: usize) -> Tensor {
    Tensor::from_vec(
        &[n, c, side, side],
        (0..n * c * side * side)
            .map(|_| rng.gen_range(0.0..1.0))
            .collect(),
    )
    .unwrap()
}

/// Five training steps of SN-LeNet-5 on the GPU and on the CPU backend from the same weights:
/// the same losses, similarities, gradients and parameters (to 1e-4 of each tensor's
/// largest value, as float sums in another order drift), then the same scores.
fn device_step(seed: u64) -> TestResult {
    // A backend of its own: DeviceModel owns its backend.
    gpu()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    for (c, side, pairs) in [(1usize, 28usize, 64usize), (3, 32, 16)] {
        let model = t!(SnLenet5::new(ModelConfig::for_input(c, side, side), seed));
        let mut gd = t!(DeviceModel::from_model(
            t!(CudaBackend::new(0)),
            &model,
            AdamConfig::default(),
            None
        ));
        let mut cd = t!(DeviceModel::from_model(
            CpuBackend,
            &model,
            AdamConfig::default(),
            None
        ));
        for step in 0..5 {
            let (a, b) = (
                images(&mut rng, pairs, c, side),
                images(&mut rng, pairs, c, side),
            );
            let stacked = t!(stack_pairs(&a, &b));
            let y: Vec<f32> = (0..pairs).map(|i| ((i + step) % 2) as f32).collect();
            let (lg, sg) = t!(gd.train_step(&stacked, &y, 1e-3));
            let (lc, sc) = t!(cd.train_step(&stacked, &y, 1e-3));
            close(
                &mut diff,
                &format!("{c}x{side} step {step} loss"),
                &[lg],
                &[lc],
            )?;
            close(
                &mut diff,
                &format!("{c}x{side} step {step} similarity"),
                &sg,
                &sc,
            )?;
            for (i, (x, y)) in t!(gd.grads()).iter().zip(&t!(cd.grads())).enumerate() {
                close(&mut diff, &format!("{c}x{side} step {step} grad {i}"), x, y)?;
            }
        }
        let (mut mg, mut mc) = (
            t!(SnLenet5::new(model.config.clone(), 0)),
            t!(SnLenet5::new(model.config.clone(), 0)),
        );
        t!(gd.write_to(&mut mg));
        t!(cd.write_to(&mut mc));
        for ((name, x), (_, y)) in mg.store.named_tensors().zip(mc.store.named_tensors()) {
            close(
                &mut diff,
                &format!("{c}x{side} {name} after 5 steps"),
                x.data(),
                y.data(),
            )?;
        }
        let (a, b) = (
            images(&mut rng, 300, c, side),
            images(&mut rng, 300, c, side),
        );
        let sg = t!(gd.score(&a, &b, 128));
        let sc = t!(cd.score(&a, &b, 128));
        close(&mut diff, &format!("{c}x{side} scores"), &sg, &sc)?;
    }
    diff.report(
        "SN-LeNet-5 device step (5 steps, MNIST and CIFAR geometry) and scoring",
        2,
    )
}

/// |gpu − cpu| ≤ 1e-4·max|cpu| (+1e-7) over a whole tensor.
fn close(diff: &mut Diff, what: &str, gpu: &[f32], cpu: &[f32]) -> TestResult {
    if gpu.len() != cpu.len() {
        return Err(format!("{what}: lengths {} vs {}", gpu.len(), cpu.len()).into());
    }
    let scale = cpu.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let d = (g - c).abs();
        if d.is_nan() || d > 1e-4 * scale + 1e-7 {
            return Err(format!("{what}[{i}]: gpu {g} vs cpu {c} (scale {scale})").into());
        }
        diff.max = diff.max.max(d);
    }
    Ok(())
}

fn main() {
    let mut args = Arguments::from_args();
    // One GPU, one stream: the tests run one after another on the main thread (which also
    // lets them share one backend).
    args.test_threads = Some(1);
    let require = std::env::var("SIAMESE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let tests: [(&str, GpuTest); 8] = [
        ("gpu_conv2d_matches_cpu", conv2d),
        ("gpu_max_pool_matches_cpu", max_pool),
        ("gpu_gemm_matches_cpu", gemm),
        ("gpu_bias_and_column_sums_match_cpu", bias_and_sums),
        ("gpu_activations_match_cpu", activations),
        ("gpu_distance_head_loss_match_cpu", distance_head_loss),
        ("gpu_adam_matches_cpu", adam),
        ("gpu_device_step_matches_cpu_backend", device_step),
    ];
    // Open the device once up front: its error is the reason every test is skipped.
    let unavailable = match gpu() {
        Ok(be) => {
            println!("GPU tests on {}", be.device_name());
            None
        }
        Err(e) => Some(e.message().unwrap_or("CUDA unavailable").to_string()),
    };
    let trials = tests
        .into_iter()
        .enumerate()
        .map(|(i, (name, f))| {
            let why = unavailable.clone();
            Trial::ignorable_test(name, move || match why {
                None => f(0x5EED + i as u64).map(|()| Completion::Completed),
                Some(why) if require => Err(format!("SIAMESE_REQUIRE_GPU=1 but {why}").into()),
                Some(why) => Ok(Completion::Ignored {
                    reason: Some(format!("no GPU: {why}")),
                }),
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
