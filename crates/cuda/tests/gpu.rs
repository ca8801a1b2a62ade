//! The GPU tests: every method of siamese-tensor's [`Backend`] on [`CudaBackend`] against
//! [`CpuBackend`] (the specification) on seeded random shapes, with the tolerance of the CPU
//! kernel tests (|gpu − cpu| ≤ 1e-5·√(terms per output)·(1 + |cpu|); indices exactly), and the
//! whole device step of SN-LeNet-5 on the GPU against the same step on the CPU backend.
//!
//! Each kernel test is a [`Case`]: host inputs and one generic `run` that uploads them to a
//! backend, calls the methods under test and downloads every output; the harness runs it on
//! both backends and compares the outputs.
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
use siamese_tensor::backend::{AdamHyper, BResult, Backend, BnMode, ContrastiveReads, Conv2dGeom};
use siamese_tensor::{CpuBackend, Tensor};

type TestResult = Result<(), Failed>;
/// A GPU test: its seed in, pass or fail out.
type GpuTest = fn(u64) -> TestResult;

/// Random shapes drawn per kernel test.
const SHAPES: usize = 8;

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

macro_rules! t {
    ($e:expr) => {
        $e.map_err(|e| Failed::from(e.to_string()))?
    };
}

/// One output of a case: its name, its values and the terms summed per value (the scale of
/// the tolerance; 0 = must be equal, for indices).
type Out = (&'static str, Vec<f32>, usize);

/// A kernel test: host inputs, and the calls under test on any backend.
trait Case {
    /// The case's sizes, for a failure message.
    fn shape(&self) -> String;
    /// Uploads the inputs to `be`, runs the methods under test, downloads every output.
    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>>;
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
        let tol = if terms == 0 {
            0.0
        } else {
            1e-5 * (terms as f32).sqrt()
        };
        for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
            let d = (g - c).abs();
            let both_nan = g.is_nan() && c.is_nan();
            if !both_nan && (d.is_nan() || d > tol * (1.0 + c.abs())) {
                return Err(
                    format!("{what}[{i}]: gpu {g} vs cpu {c} (tolerance {tol}·(1+|cpu|))").into(),
                );
            }
            if !both_nan {
                self.max = self.max.max(d);
            }
        }
        Ok(())
    }

    /// Runs `case` on the GPU and on the CPU and compares every output.
    fn case(&mut self, case: &impl Case) -> TestResult {
        let g = t!(case.run(&*gpu()?));
        let c = t!(case.run(&CpuBackend));
        for ((name, gv, terms), (_, cv, _)) in g.iter().zip(&c) {
            self.check(&format!("{}: {name}", case.shape()), gv, cv, *terms)?;
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

/// Labels y ∈ {0, 1}.
fn labels(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(0..2) as f32).collect()
}

/// Draws `SHAPES` cases with `draw` and compares each on both backends.
fn each_case<C: Case>(
    seed: u64, name: &str, draw: impl Fn(&mut ChaCha8Rng, usize) -> C,
) -> TestResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut diff = Diff::default();
    for i in 0..SHAPES {
        diff.case(&draw(&mut rng, i))?;
    }
    diff.report(name, SHAPES)
}

struct Conv {
    g: Conv2dGeom,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
    with_dx: bool,
}

impl Case for Conv {
    fn shape(&self) -> String {
        format!("{:?}, dx {}", self.g, self.with_dx)
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let g = &self.g;
        let (x, w, b, dy) = (
            be.upload(&self.x)?,
            be.upload(&self.w)?,
            be.upload(&self.b)?,
            be.upload(&self.dy)?,
        );
        let mut y = be.zeros(self.dy.len())?;
        be.conv2d_forward(g, &x, &w, &b, &mut y)?;
        let (mut dx, mut dw, mut db) = (
            be.zeros(self.x.len())?,
            be.zeros(self.w.len())?,
            be.zeros(g.k)?,
        );
        let dxo = self.with_dx.then_some(&mut dx);
        be.conv2d_backward(g, &x, &w, &dy, dxo, &mut dw, &mut db)?;
        let per_w = g.n * g.out_h() * g.out_w();
        Ok(vec![
            ("y", be.download(&y)?, g.c * g.kh * g.kw),
            ("dw", be.download(&dw)?, per_w),
            ("db", be.download(&db)?, per_w),
            ("dx", be.download(&dx)?, g.k * g.kh * g.kw),
        ])
    }
}

fn conv2d(seed: u64) -> TestResult {
    each_case(seed, "conv2d forward/backward (dw, db, dx)", |rng, i| {
        let (kh, kw) = (rng.gen_range(1..=5), rng.gen_range(1..=5));
        let g = Conv2dGeom {
            n: rng.gen_range(1..=4),
            c: rng.gen_range(1..=4),
            h: rng.gen_range(kh.max(3)..=14),
            w: rng.gen_range(kw.max(3)..=14),
            k: rng.gen_range(1..=6),
            kh,
            kw,
            stride: rng.gen_range(1..=2),
            pad: rng.gen_range(0..=2),
        };
        let ny: usize = g.out_shape().iter().product();
        Conv {
            x: rand_vec(rng, g.n * g.c * g.h * g.w, 1.0),
            w: rand_vec(rng, g.k * g.c * g.kh * g.kw, 0.5),
            b: rand_vec(rng, g.k, 0.5),
            dy: rand_vec(rng, ny, 1.0),
            with_dx: i % 2 == 0,
            g,
        }
    })
}

struct Pools {
    planes: usize,
    h: usize,
    w: usize,
    x: Vec<f32>,
    dy: Vec<f32>,
}

impl Case for Pools {
    fn shape(&self) -> String {
        format!("{} planes of {}×{}", self.planes, self.h, self.w)
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let (p, h, w) = (self.planes, self.h, self.w);
        let out = self.dy.len();
        let (x, dy) = (be.upload(&self.x)?, be.upload(&self.dy)?);
        let (mut y, mut arg, mut dx) = (be.zeros(out)?, be.idx_zeros(out)?, be.zeros(p * h * w)?);
        be.max_pool2x2_forward(p, h, w, &x, &mut y, &mut arg)?;
        be.max_pool2x2_backward(p, h, w, &dy, &arg, &mut dx)?;
        let argmax = be.idx_download(&arg)?.iter().map(|&i| i as f32).collect();
        let (mut ya, mut dxa) = (be.zeros(out)?, be.zeros(p * h * w)?);
        be.avg_pool2x2_forward(p, h, w, &x, &mut ya)?;
        be.avg_pool2x2_backward(p, h, w, &dy, &mut dxa)?;
        Ok(vec![
            ("max y", be.download(&y)?, 1),
            ("argmax", argmax, 0),
            ("max dx", be.download(&dx)?, 1),
            ("avg y", be.download(&ya)?, 4),
            ("avg dx", be.download(&dxa)?, 1),
        ])
    }
}

fn pools(seed: u64) -> TestResult {
    each_case(
        seed,
        "max-pool (values, argmax) and avg-pool 2x2, forward and backward",
        |rng, _| {
            let (planes, h, w) = (
                rng.gen_range(1..=12),
                rng.gen_range(2..=15),
                rng.gen_range(2..=15),
            );
            let mut x = rand_vec(rng, planes * h * w, 1.0);
            // Ties, so the first-maximum rule is exercised.
            for v in x.iter_mut().step_by(3) {
                *v = 0.25;
            }
            let dy = rand_vec(rng, planes * (h / 2) * (w / 2), 1.0);
            Pools {
                planes,
                h,
                w,
                x,
                dy,
            }
        },
    )
}

struct Gemm {
    trans: (bool, bool),
    mnk: (usize, usize, usize),
    alpha: f32,
    beta: f32,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Case for Gemm {
    fn shape(&self) -> String {
        format!(
            "transposes {:?}, m n k {:?}, α {}, β {}",
            self.trans, self.mnk, self.alpha, self.beta
        )
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let ((ta, tb), (m, n, k)) = (self.trans, self.mnk);
        let (a, b, mut c) = (
            be.upload(&self.a)?,
            be.upload(&self.b)?,
            be.upload(&self.c)?,
        );
        be.gemm(ta, tb, m, n, k, self.alpha, &a, &b, self.beta, &mut c)?;
        Ok(vec![("C", be.download(&c)?, k)])
    }
}

fn gemm(seed: u64) -> TestResult {
    each_case(
        seed,
        "gemm (cuBLAS sgemm, transposes, alpha/beta)",
        |rng, i| {
            let (m, n, k) = (
                rng.gen_range(1..=70),
                rng.gen_range(1..=70),
                rng.gen_range(1..=70),
            );
            Gemm {
                trans: (i % 2 == 1, i % 4 >= 2),
                mnk: (m, n, k),
                alpha: rng.gen_range(-2.0..2.0),
                beta: [0.0, 1.0, 0.5][i % 3],
                a: rand_vec(rng, m * k, 1.0),
                b: rand_vec(rng, k * n, 1.0),
                c: rand_vec(rng, m * n, 1.0),
            }
        },
    )
}

struct Linear {
    mio: (usize, usize, usize),
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
    with_dx: bool,
}

impl Case for Linear {
    fn shape(&self) -> String {
        format!("m i o {:?}, dx {}", self.mio, self.with_dx)
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let (m, i, o) = self.mio;
        let (x, w, b, dy) = (
            be.upload(&self.x)?,
            be.upload(&self.w)?,
            be.upload(&self.b)?,
            be.upload(&self.dy)?,
        );
        let mut y = be.zeros(m * o)?;
        be.linear_forward(m, i, o, &x, &w, &b, &mut y)?;
        let (mut dx, mut dw, mut db) = (be.zeros(m * i)?, be.zeros(o * i)?, be.zeros(o)?);
        let dxo = self.with_dx.then_some(&mut dx);
        be.linear_backward(m, i, o, &x, &w, &dy, dxo, &mut dw, &mut db)?;
        Ok(vec![
            ("y", be.download(&y)?, i),
            ("dx", be.download(&dx)?, o),
            ("dW", be.download(&dw)?, m),
            ("db", be.download(&db)?, m),
        ])
    }
}

fn linear(seed: u64) -> TestResult {
    each_case(
        seed,
        "linear forward/backward (gemm, bias rows, column sums)",
        |rng, k| {
            // The output module's 1→1 layer, then dense layers of LeNet-5's sizes.
            let (m, i, o) = if k == 0 {
                (rng.gen_range(1..=600), 1, 1)
            } else {
                (
                    rng.gen_range(1..=300),
                    rng.gen_range(1..=130),
                    rng.gen_range(1..=130),
                )
            };
            Linear {
                mio: (m, i, o),
                x: rand_vec(rng, m * i, 1.0),
                w: rand_vec(rng, o * i, 0.5),
                b: rand_vec(rng, o, 0.5),
                dy: rand_vec(rng, m * o, 1.0),
                with_dx: k % 2 == 0,
            }
        },
    )
}

struct Activations {
    x: Vec<f32>,
    dy: Vec<f32>,
}

impl Case for Activations {
    fn shape(&self) -> String {
        format!("{} values", self.x.len())
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        type Fwd<B> = fn(&B, &mut <B as Backend>::Buf) -> BResult<()>;
        type Bwd<B> = fn(&B, &<B as Backend>::Buf, &mut <B as Backend>::Buf) -> BResult<()>;
        let ops: [(&str, &str, Fwd<B>, Bwd<B>); 3] = [
            (
                "relu",
                "relu backward",
                B::relu_inplace,
                B::relu_backward_inplace,
            ),
            (
                "tanh",
                "tanh backward",
                B::tanh_inplace,
                B::tanh_backward_inplace,
            ),
            (
                "sigmoid",
                "sigmoid backward",
                B::sigmoid_inplace,
                B::sigmoid_backward_inplace,
            ),
        ];
        let mut out = Vec::new();
        for (name, bname, fwd, bwd) in ops {
            let (mut x, mut dy) = (be.upload(&self.x)?, be.upload(&self.dy)?);
            fwd(be, &mut x)?;
            bwd(be, &x, &mut dy)?;
            out.push((name, be.download(&x)?, 1));
            out.push((bname, be.download(&dy)?, 1));
        }
        Ok(out)
    }
}

fn activations(seed: u64) -> TestResult {
    each_case(
        seed,
        "relu, tanh and sigmoid, forward and backward",
        |rng, _| {
            let n = rng.gen_range(1..=5000);
            let mut x = rand_vec(rng, n, 3.0);
            // Large logits, where a naive sigmoid overflows, and exact zeros.
            x[0] = 0.0;
            x[n / 2] = if n % 2 == 0 { 90.0 } else { -90.0 };
            Activations {
                x,
                dy: rand_vec(rng, n, 1.0),
            }
        },
    )
}

struct Distances {
    ne: (usize, usize),
    emb: Vec<f32>,
    dd: Vec<f32>,
}

impl Case for Distances {
    fn shape(&self) -> String {
        format!("N E {:?}", self.ne)
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let (n, e) = self.ne;
        let eps = 1e-7;
        let (emb, dd) = (be.upload(&self.emb)?, be.upload(&self.dd)?);
        let (mut d, mut c) = (be.zeros(n)?, be.zeros(n)?);
        let (mut ded, mut dec) = (be.zeros(2 * n * e)?, be.zeros(2 * n * e)?);
        be.euclidean_forward(n, e, &emb, eps, &mut d)?;
        be.euclidean_backward(n, e, &emb, &d, &dd, eps, &mut ded)?;
        be.cosine_forward(n, e, &emb, eps, &mut c)?;
        be.cosine_backward(n, e, &emb, &dd, eps, &mut dec)?;
        Ok(vec![
            ("euclidean", be.download(&d)?, e),
            ("euclidean backward", be.download(&ded)?, e),
            ("cosine", be.download(&c)?, e),
            ("cosine backward", be.download(&dec)?, e),
        ])
    }
}

fn distances(seed: u64) -> TestResult {
    each_case(
        seed,
        "euclidean distance and cosine similarity, forward and backward",
        |rng, _| {
            let (n, e) = (rng.gen_range(2..=700), rng.gen_range(1..=12));
            let mut emb = rand_vec(rng, 2 * n * e, 1.0);
            // One identical pair (the √ guard of the distance) and one zero embedding (the guard
            // of the cosine).
            emb.copy_within(0..e, n * e);
            emb[e..2 * e].iter_mut().for_each(|v| *v = 0.0);
            Distances {
                ne: (n, e),
                emb,
                dd: rand_vec(rng, n, 1.0),
            }
        },
    )
}

struct BatchNorm {
    nc: (usize, usize),
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    running: (Vec<f32>, Vec<f32>),
    dy: Vec<f32>,
    mode: BnMode,
}

impl Case for BatchNorm {
    fn shape(&self) -> String {
        format!("N C {:?}, {:?}", self.nc, self.mode)
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let (n, c) = self.nc;
        let (x, gamma, beta, dy) = (
            be.upload(&self.x)?,
            be.upload(&self.gamma)?,
            be.upload(&self.beta)?,
            be.upload(&self.dy)?,
        );
        let (mut rm, mut rv) = (be.upload(&self.running.0)?, be.upload(&self.running.1)?);
        let (mut xhat, mut inv, mut y) = (be.zeros(n * c)?, be.zeros(c)?, be.zeros(n * c)?);
        be.batchnorm_forward(
            n, c, &x, &gamma, &beta, 1e-3, self.mode, &mut rm, &mut rv, &mut xhat, &mut inv, &mut y,
        )?;
        let (mut dx, mut dg, mut db) = (be.zeros(n * c)?, be.zeros(c)?, be.zeros(c)?);
        be.batchnorm_backward(n, c, &dy, &xhat, &inv, &gamma, &mut dx, &mut dg, &mut db)?;
        Ok(vec![
            ("y", be.download(&y)?, n),
            ("x̂", be.download(&xhat)?, n),
            ("inv_std", be.download(&inv)?, n),
            ("running mean", be.download(&rm)?, n),
            ("running var", be.download(&rv)?, n),
            ("dx", be.download(&dx)?, n),
            ("dγ", be.download(&dg)?, n),
            ("dβ", be.download(&db)?, n),
        ])
    }
}

fn batchnorm(seed: u64) -> TestResult {
    each_case(
        seed,
        "batchnorm N×C forward (train/eval) and backward",
        |rng, i| {
            // The output module's N×1 first, then wider ones.
            let (n, c) = (
                rng.gen_range(1..=700),
                if i < 2 { 1 } else { rng.gen_range(1..=6) },
            );
            let mode = if i % 2 == 0 {
                BnMode::Train { momentum: 0.99 }
            } else {
                BnMode::Eval
            };
            BatchNorm {
                nc: (n, c),
                x: rand_vec(rng, n * c, 2.0).iter().map(|v| v + 1.0).collect(),
                gamma: (0..c).map(|_| rng.gen_range(0.5..1.5)).collect(),
                beta: rand_vec(rng, c, 0.3),
                running: (
                    (0..c).map(|_| rng.gen_range(0.0..1.0)).collect(),
                    (0..c).map(|_| rng.gen_range(0.5..2.0)).collect(),
                ),
                dy: rand_vec(rng, n * c, 1.0),
                mode,
            }
        },
    )
}

struct Losses {
    n: usize,
    k: usize,
    v: Vec<f32>,
    y: Vec<f32>,
    p: Vec<f32>,
    z: Vec<f32>,
    classes: Vec<u32>,
}

impl Case for Losses {
    fn shape(&self) -> String {
        format!("N {}, K {}", self.n, self.k)
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let (n, k) = (self.n, self.k);
        let (v, y, p, z) = (
            be.upload(&self.v)?,
            be.upload(&self.y)?,
            be.upload(&self.p)?,
            be.upload(&self.z)?,
        );
        let classes = be.idx_upload(&self.classes)?;
        let mut out = Vec::new();
        for (name, dname, reads) in [
            (
                "contrastive (similarity)",
                "dv (similarity)",
                ContrastiveReads::Similarity,
            ),
            (
                "contrastive (distance)",
                "dv (distance)",
                ContrastiveReads::Distance,
            ),
        ] {
            let (mut l, mut dv) = (be.zeros(1)?, be.zeros(n)?);
            be.contrastive_loss(n, &v, &y, 1.0, reads, &mut l, &mut dv)?;
            out.push((name, be.download(&l)?, n));
            out.push((dname, be.download(&dv)?, 1));
        }
        let (mut l, mut dp) = (be.zeros(1)?, be.zeros(n)?);
        be.bce_loss(n, &p, &y, 1e-7, &mut l, &mut dp)?;
        out.push(("bce", be.download(&l)?, n));
        out.push(("dp", be.download(&dp)?, 1));
        let (mut probs, mut l, mut dz) = (be.zeros(n * k)?, be.zeros(1)?, be.zeros(n * k)?);
        be.softmax_ce_loss(n, k, &z, &classes, &mut probs, &mut l, &mut dz)?;
        out.push(("softmax", be.download(&probs)?, k));
        out.push(("softmax ce", be.download(&l)?, n * k));
        out.push(("dz", be.download(&dz)?, k));
        Ok(out)
    }
}

fn losses(seed: u64) -> TestResult {
    each_case(
        seed,
        "contrastive (both readings), BCE, softmax cross-entropy",
        |rng, _| {
            let (n, k) = (rng.gen_range(1..=700), rng.gen_range(1..=12));
            let mut p: Vec<f32> = (0..n).map(|_| rng.gen_range(0.0..1.0)).collect();
            // Probabilities at and beyond the clip range.
            p[0] = 0.0;
            p[n - 1] = 1.0;
            Losses {
                n,
                k,
                v: (0..n).map(|_| rng.gen_range(0.0..2.0)).collect(),
                y: labels(rng, n),
                p,
                z: rand_vec(rng, n * k, 5.0),
                classes: (0..n).map(|_| rng.gen_range(0..k as u32)).collect(),
            }
        },
    )
}

struct Adam {
    h: AdamHyper,
    theta: Vec<f32>,
    grad: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Case for Adam {
    fn shape(&self) -> String {
        format!("{} values, {:?}", self.theta.len(), self.h)
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let g = be.upload(&self.grad)?;
        let (mut th, mut m, mut v) = (
            be.upload(&self.theta)?,
            be.upload(&self.m)?,
            be.upload(&self.v)?,
        );
        be.adam_update(&self.h, &mut th, &g, &mut m, &mut v)?;
        Ok(vec![
            ("theta", be.download(&th)?, 1),
            ("m", be.download(&m)?, 1),
            ("v", be.download(&v)?, 1),
        ])
    }
}

fn adam(seed: u64) -> TestResult {
    each_case(seed, "adam update", |rng, _| {
        let n = rng.gen_range(1..=10_000);
        Adam {
            h: AdamHyper::at_step(1e-3, 0.9, 0.999, 1e-8, rng.gen_range(1..50)),
            theta: rand_vec(rng, n, 1.0),
            grad: rand_vec(rng, n, 0.1),
            m: rand_vec(rng, n, 0.01),
            v: rand_vec(rng, n, 0.001).iter().map(|v| v.abs()).collect(),
        }
    })
}

struct Memory {
    values: Vec<f32>,
    indices: Vec<u32>,
}

impl Case for Memory {
    fn shape(&self) -> String {
        format!("{} values", self.values.len())
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        let n = self.values.len();
        let mut buf = be.zeros(n)?;
        let zeros = be.download(&buf)?;
        be.upload_into(&self.values, &mut buf)?;
        let idx = be.idx_upload(&self.indices)?;
        let lens = [
            be.buf_len(&buf),
            be.idx_len(&idx),
            be.idx_len(&be.idx_zeros(n)?),
        ];
        let as_f32 = |v: &[u32]| v.iter().map(|&i| i as f32).collect::<Vec<_>>();
        Ok(vec![
            ("zeros", zeros, 0),
            ("upload_into", be.download(&buf)?, 0),
            ("upload", be.download(&be.upload(&self.values)?)?, 0),
            ("idx_upload", as_f32(&be.idx_download(&idx)?), 0),
            ("lengths", lens.iter().map(|&l| l as f32).collect(), 0),
        ])
    }
}

fn memory(seed: u64) -> TestResult {
    each_case(
        seed,
        "upload, download, zeros, index buffers, lengths",
        |rng, _| {
            let n = rng.gen_range(1..=3000);
            Memory {
                values: rand_vec(rng, n, 10.0),
                indices: (0..n).map(|_| rng.gen_range(0..1 << 20)).collect(),
            }
        },
    )
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
            let what = format!("{c}x{side} step {step}");
            close(&mut diff, &format!("{what} loss"), &[lg], &[lc])?;
            close(&mut diff, &format!("{what} similarity"), &sg, &sc)?;
            for (i, (x, y)) in t!(gd.grads()).iter().zip(&t!(cd.grads())).enumerate() {
                close(&mut diff, &format!("{what} grad {i}"), x, y)?;
            }
        }
        let (mut mg, mut mc) = (
            t!(SnLenet5::new(model.config.clone(), 0)),
            t!(SnLenet5::new(model.config.clone(), 0)),
        );
        t!(gd.write_to(&mut mg));
        t!(cd.write_to(&mut mc));
        for ((name, x), (_, y)) in mg.store.named_tensors().zip(mc.store.named_tensors()) {
            let what = format!("{c}x{side} {name} after 5 steps");
            close(&mut diff, &what, x.data(), y.data())?;
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
    let tests: [(&str, GpuTest); 11] = [
        ("gpu_memory_matches_cpu", memory),
        ("gpu_conv2d_matches_cpu", conv2d),
        ("gpu_pools_match_cpu", pools),
        ("gpu_gemm_matches_cpu", gemm),
        ("gpu_linear_matches_cpu", linear),
        ("gpu_activations_match_cpu", activations),
        ("gpu_distances_match_cpu", distances),
        ("gpu_batchnorm_matches_cpu", batchnorm),
        ("gpu_losses_match_cpu", losses),
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
