//! The kernel cases: for each family of [`Backend`] methods, seeded random shapes (plus the
//! fixed sizes that reach a kernel's second pass) whose outputs are held to the CPU's.
//!
//! Every op is fed host inputs, never another op's device output: a backward gets the
//! forward's values as the CPU computes them, so each output is judged on identical inputs
//! and a wrong forward cannot hide in (or be blamed on) its backward.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use siamese_tensor::backend::{AdamHyper, BResult, Backend, BnMode, ContrastiveReads, Conv2dGeom};
use siamese_tensor::CpuBackend;

use super::{check_case, Case, Out, Tol, ADAM_DELTA, F32_SUM, ROUNDING, TRANSCENDENTAL};

/// Random shapes drawn per family.
pub const SHAPES: usize = 8;

/// A family's check on a device backend: its seed in, the largest |dev − cpu| or the first
/// failure out.
pub type Family<D> = fn(&D, u64) -> Result<f32, String>;

/// Every family: (test name, what it covers, the check).
pub fn families<D: Backend>() -> Vec<(&'static str, &'static str, Family<D>)> {
    vec![
        (
            "memory",
            "upload, download, zeros, index buffers, lengths",
            memory,
        ),
        ("conv2d", "conv2d forward/backward (dw, db, dx)", conv2d),
        (
            "pools",
            "max-pool (values, argmax), avg-pool 2x2, both ways",
            pools,
        ),
        ("gemm", "gemm (cuBLAS sgemm, transposes, alpha/beta)", gemm),
        (
            "linear",
            "linear forward/backward (m = 257, 700 and random)",
            linear,
        ),
        (
            "activations",
            "relu, tanh, sigmoid, forward and backward",
            activations,
        ),
        (
            "distances",
            "euclidean and cosine, forward and backward",
            distances,
        ),
        (
            "batchnorm",
            "batchnorm N×C (N = 257, 700 and random)",
            batchnorm,
        ),
        (
            "losses",
            "contrastive, BCE, softmax CE (N = 257, 700, random)",
            losses,
        ),
        ("adam", "adam update (Δθ, Δm, Δv)", adam),
        ("empty", "every op with N = 0: the CPU's answer", empty),
    ]
}

/// Draws `SHAPES` cases with `draw` and compares each on `dev` and the CPU.
fn each_case<D: Backend, C: Case>(
    dev: &D, seed: u64, draw: impl Fn(&mut ChaCha8Rng, usize) -> C,
) -> Result<f32, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut max = 0f32;
    for i in 0..SHAPES {
        max = max.max(check_case(dev, &draw(&mut rng, i))?);
    }
    Ok(max)
}

pub fn rand_vec(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
}

/// Labels y ∈ {0, 1}.
fn labels(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(0..2) as f32).collect()
}

fn cpu<T>(r: BResult<T>) -> T {
    r.expect("the CPU computes a case's inputs")
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
        // f32 sums of C·KH·KW (y), N·OH·OW (dw, db) and K·KH·KW (dx) terms; the GPU sums dw
        // and db in double, the CPU in f32 lanes.
        Ok(vec![
            ("y", be.download(&y)?, F32_SUM),
            ("dw", be.download(&dw)?, F32_SUM),
            ("db", be.download(&db)?, F32_SUM),
            ("dx", be.download(&dx)?, F32_SUM),
        ])
    }
}

fn conv2d<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, i| {
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
        let (mut y, mut arg) = (be.zeros(out)?, be.idx_zeros(out)?);
        be.max_pool2x2_forward(p, h, w, &x, &mut y, &mut arg)?;
        // The backward routes dy through the CPU's argmax (the forward's is compared above).
        let mut cpu_arg = vec![0; out];
        let mut cpu_y = vec![0.0; out];
        cpu(CpuBackend.max_pool2x2_forward(p, h, w, &self.x, &mut cpu_y, &mut cpu_arg));
        let (arg_in, mut dx) = (be.idx_upload(&cpu_arg)?, be.zeros(p * h * w)?);
        be.max_pool2x2_backward(p, h, w, &dy, &arg_in, &mut dx)?;
        let argmax = be.idx_download(&arg)?.iter().map(|&i| i as f32).collect();
        let (mut ya, mut dxa) = (be.zeros(out)?, be.zeros(p * h * w)?);
        be.avg_pool2x2_forward(p, h, w, &x, &mut ya)?;
        be.avg_pool2x2_backward(p, h, w, &dy, &mut dxa)?;
        Ok(vec![
            ("max y", be.download(&y)?, Tol::Exact),
            ("argmax", argmax, Tol::Exact),
            ("max dx", be.download(&dx)?, Tol::Exact),
            // ((x₀ + x₁) + (x₂ + x₃))·¼ on both sides: three roundings.
            ("avg y", be.download(&ya)?, ROUNDING),
            ("avg dx", be.download(&dxa)?, Tol::Exact),
        ])
    }
}

fn pools<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, _| {
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
    })
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
        Ok(vec![("C", be.download(&c)?, F32_SUM)])
    }
}

fn gemm<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, i| {
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
    })
}

struct Linear {
    mio: (usize, usize, usize),
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
    with_dx: bool,
}

impl Linear {
    fn draw(rng: &mut ChaCha8Rng, (m, i, o): (usize, usize, usize), with_dx: bool) -> Self {
        Linear {
            mio: (m, i, o),
            x: rand_vec(rng, m * i, 1.0),
            w: rand_vec(rng, o * i, 0.5),
            b: rand_vec(rng, o, 0.5),
            dy: rand_vec(rng, m * o, 1.0),
            with_dx,
        }
    }
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
            ("y", be.download(&y)?, F32_SUM),
            ("dx", be.download(&dx)?, F32_SUM),
            ("dW", be.download(&dw)?, F32_SUM),
            // Σ_rows dy in f64 on both sides (sum_rows), rounded once.
            ("db", be.download(&db)?, ROUNDING),
        ])
    }
}

fn linear<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, k| {
        // The output module's 1→1 layer at 257 and 700 rows (sum_rows's block loop turns
        // twice and three times), then dense layers of LeNet-5's sizes.
        let mio = match k {
            0 => (257, 1, 1),
            1 => (700, 1, 1),
            _ => (
                rng.gen_range(1..=300),
                rng.gen_range(1..=130),
                rng.gen_range(1..=130),
            ),
        };
        Linear::draw(rng, mio, k % 2 == 0)
    })
}

/// The activations' forward on `x`, and their backward from host values of the forward's
/// output (the CPU's).
pub struct Activations {
    x: Vec<f32>,
    dy: Vec<f32>,
}

impl Activations {
    /// n values of x in ±3 with an exact zero and a ±90 logit (where a naive sigmoid
    /// overflows), and dy in ±1.
    pub fn draw(rng: &mut ChaCha8Rng, n: usize) -> Self {
        let mut x = rand_vec(rng, n, 3.0);
        x[0] = 0.0;
        x[n / 2] = if n.is_multiple_of(2) { 90.0 } else { -90.0 };
        Activations {
            x,
            dy: rand_vec(rng, n, 1.0),
        }
    }
}

impl Case for Activations {
    fn shape(&self) -> String {
        format!("{} values", self.x.len())
    }

    fn run<B: Backend>(&self, be: &B) -> BResult<Vec<Out>> {
        type Fwd<B> = fn(&B, &mut <B as Backend>::Buf) -> BResult<()>;
        type Bwd<B> = fn(&B, &<B as Backend>::Buf, &mut <B as Backend>::Buf) -> BResult<()>;
        let cpu_fwd: [Fwd<CpuBackend>; 3] = [
            CpuBackend::relu_inplace,
            CpuBackend::tanh_inplace,
            CpuBackend::sigmoid_inplace,
        ];
        /// (forward name, backward name, forward, backward, the forward's tolerance)
        type Act<B> = (&'static str, &'static str, Fwd<B>, Bwd<B>, Tol);
        let ops: [Act<B>; 3] = [
            (
                "relu",
                "relu backward",
                B::relu_inplace,
                B::relu_backward_inplace,
                Tol::Exact,
            ),
            (
                "tanh",
                "tanh backward",
                B::tanh_inplace,
                B::tanh_backward_inplace,
                TRANSCENDENTAL,
            ),
            (
                "sigmoid",
                "sigmoid backward",
                B::sigmoid_inplace,
                B::sigmoid_backward_inplace,
                TRANSCENDENTAL,
            ),
        ];
        let mut out = Vec::new();
        for ((name, bname, fwd, bwd, tol), cpu_fwd) in ops.into_iter().zip(cpu_fwd) {
            let mut x = be.upload(&self.x)?;
            fwd(be, &mut x)?;
            let mut y_host = self.x.clone();
            cpu_fwd(&CpuBackend, &mut y_host)?;
            let (y, mut dy) = (be.upload(&y_host)?, be.upload(&self.dy)?);
            bwd(be, &y, &mut dy)?;
            out.push((name, be.download(&x)?, tol));
            // From identical y: a product of two or three roundings.
            let btol = if tol == Tol::Exact { tol } else { ROUNDING };
            out.push((bname, be.download(&dy)?, btol));
        }
        Ok(out)
    }
}

fn activations<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, _| {
        let n = rng.gen_range(1..=5000);
        Activations::draw(rng, n)
    })
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
        let mut d_host = vec![0.0; n];
        cpu(CpuBackend.euclidean_forward(n, e, &self.emb, eps, &mut d_host));
        let (emb, dd, d_in) = (
            be.upload(&self.emb)?,
            be.upload(&self.dd)?,
            be.upload(&d_host)?,
        );
        let (mut d, mut c) = (be.zeros(n)?, be.zeros(n)?);
        let (mut ded, mut dec) = (be.zeros(2 * n * e)?, be.zeros(2 * n * e)?);
        be.euclidean_forward(n, e, &emb, eps, &mut d)?;
        be.euclidean_backward(n, e, &emb, &d_in, &dd, eps, &mut ded)?;
        be.cosine_forward(n, e, &emb, eps, &mut c)?;
        be.cosine_backward(n, e, &emb, &dd, eps, &mut dec)?;
        // Sums in f64 on both sides, then a few f32 roundings per value.
        Ok(vec![
            ("euclidean", be.download(&d)?, ROUNDING),
            ("euclidean backward", be.download(&ded)?, ROUNDING),
            ("cosine", be.download(&c)?, ROUNDING),
            ("cosine backward", be.download(&dec)?, ROUNDING),
        ])
    }
}

fn distances<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, _| {
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
    })
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
        let eps = 1e-3;
        let (x, gamma, beta, dy) = (
            be.upload(&self.x)?,
            be.upload(&self.gamma)?,
            be.upload(&self.beta)?,
            be.upload(&self.dy)?,
        );
        let (mut rm, mut rv) = (be.upload(&self.running.0)?, be.upload(&self.running.1)?);
        let (mut xhat, mut inv, mut y) = (be.zeros(n * c)?, be.zeros(c)?, be.zeros(n * c)?);
        be.batchnorm_forward(
            n, c, &x, &gamma, &beta, eps, self.mode, &mut rm, &mut rv, &mut xhat, &mut inv, &mut y,
        )?;
        // The backward from the CPU's cache (x̂, inv_std).
        let (mut hm, mut hv) = self.running.clone();
        let (mut hx, mut hi, mut hy) = (vec![0.0; n * c], vec![0.0; c], vec![0.0; n * c]);
        cpu(CpuBackend.batchnorm_forward(
            n,
            c,
            &self.x,
            &self.gamma,
            &self.beta,
            eps,
            self.mode,
            &mut hm,
            &mut hv,
            &mut hx,
            &mut hi,
            &mut hy,
        ));
        let (xhat_in, inv_in) = (be.upload(&hx)?, be.upload(&hi)?);
        let (mut dx, mut dg, mut db) = (be.zeros(n * c)?, be.zeros(c)?, be.zeros(c)?);
        be.batchnorm_backward(
            n, c, &dy, &xhat_in, &inv_in, &gamma, &mut dx, &mut dg, &mut db,
        )?;
        // Statistics and batch sums in f64 on both sides, rounded once; x̂, y and dx a few
        // f32 roundings from them.
        Ok(vec![
            ("y", be.download(&y)?, ROUNDING),
            ("x̂", be.download(&xhat)?, ROUNDING),
            ("inv_std", be.download(&inv)?, ROUNDING),
            ("running mean", be.download(&rm)?, ROUNDING),
            ("running var", be.download(&rv)?, ROUNDING),
            ("dx", be.download(&dx)?, ROUNDING),
            ("dγ", be.download(&dg)?, ROUNDING),
            ("dβ", be.download(&db)?, ROUNDING),
        ])
    }
}

fn batchnorm<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, i| {
        // The output module's N×1 at 257 and 700 (the block loop turns twice and three
        // times), then random N with wider C.
        let (n, c) = match i {
            0 => (257, 1),
            1 => (700, 1),
            _ => (rng.gen_range(1..=700), rng.gen_range(1..=6)),
        };
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
    })
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
        // Each loss: non-negative terms summed in f64 and rounded once; each gradient a few
        // f32 roundings per value (held to the gradient's own largest value, about 2/N).
        for (name, dname, reads) in [
            ("contrastive (s)", "dv (s)", ContrastiveReads::Similarity),
            ("contrastive (d)", "dv (d)", ContrastiveReads::Distance),
        ] {
            let (mut l, mut dv) = (be.zeros(1)?, be.zeros(n)?);
            be.contrastive_loss(n, &v, &y, 1.0, reads, &mut l, &mut dv)?;
            out.push((name, be.download(&l)?, ROUNDING));
            out.push((dname, be.download(&dv)?, ROUNDING));
        }
        let (mut l, mut dp) = (be.zeros(1)?, be.zeros(n)?);
        be.bce_loss(n, &p, &y, 1e-7, &mut l, &mut dp)?;
        out.push(("bce", be.download(&l)?, ROUNDING));
        out.push(("dp", be.download(&dp)?, ROUNDING));
        let (mut probs, mut l, mut dz) = (be.zeros(n * k)?, be.zeros(1)?, be.zeros(n * k)?);
        be.softmax_ce_loss(n, k, &z, &classes, &mut probs, &mut l, &mut dz)?;
        out.push(("softmax", be.download(&probs)?, ROUNDING));
        out.push(("softmax ce", be.download(&l)?, ROUNDING));
        out.push(("dz", be.download(&dz)?, ROUNDING));
        Ok(out)
    }
}

fn losses<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, i| {
        // 257 and 700 pairs: the single block's loop turns twice and three times.
        let n = match i {
            0 => 257,
            1 => 700,
            _ => rng.gen_range(1..=700),
        };
        let k = rng.gen_range(1..=12);
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
    })
}

/// One Adam update; compared as Δθ, Δm, Δv.
pub struct Adam {
    h: AdamHyper,
    theta: Vec<f32>,
    grad: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    /// n values at a step t < 50. θ ∈ ±0.01 and v ≤ 1e-4, so that one ulp of θ (≤ 1e-9)
    /// and of v (≤ 7e-12) stay below 1e-6 of the largest Δθ (about lr = 1e-3) and Δv
    /// (about (1 − β₂)·g² ≈ 1e-5): the deltas measure the update, not the storage.
    pub fn draw(rng: &mut ChaCha8Rng, n: usize) -> Self {
        Adam {
            h: AdamHyper::at_step(1e-3, 0.9, 0.999, 1e-8, rng.gen_range(1..50)),
            theta: rand_vec(rng, n, 0.01),
            grad: rand_vec(rng, n, 0.1),
            m: rand_vec(rng, n, 0.01),
            v: rand_vec(rng, n, 1e-4).iter().map(|v| v.abs()).collect(),
        }
    }
}

/// after − before, element by element.
pub fn delta(after: &[f32], before: &[f32]) -> Vec<f32> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
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
            ("Δθ", delta(&be.download(&th)?, &self.theta), ADAM_DELTA),
            ("Δm", delta(&be.download(&m)?, &self.m), ADAM_DELTA),
            ("Δv", delta(&be.download(&v)?, &self.v), ADAM_DELTA),
        ])
    }
}

fn adam<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, _| {
        let n = rng.gen_range(1..=10_000);
        Adam::draw(rng, n)
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
            ("zeros", zeros, Tol::Exact),
            ("upload_into", be.download(&buf)?, Tol::Exact),
            (
                "upload",
                be.download(&be.upload(&self.values)?)?,
                Tol::Exact,
            ),
            ("idx_upload", as_f32(&be.idx_download(&idx)?), Tol::Exact),
            (
                "lengths",
                lens.iter().map(|&l| l as f32).collect(),
                Tol::Exact,
            ),
        ])
    }
}

fn memory<D: Backend>(dev: &D, seed: u64) -> Result<f32, String> {
    each_case(dev, seed, |rng, _| {
        let n = rng.gen_range(1..=3000);
        Memory {
            values: rand_vec(rng, n, 10.0),
            indices: (0..n).map(|_| rng.gen_range(0..1 << 20)).collect(),
        }
    })
}

pub use super::empty::empty;

/// The big fixed cases of the GPU tests (too slow to repeat in the CPU mutation check):
/// an activation family and Adam on `n` values.
pub fn big<D: Backend>(dev: &D, seed: u64, n: usize) -> Result<f32, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = check_case(dev, &Activations::draw(&mut rng, n))?;
    Ok(a.max(check_case(dev, &Adam::draw(&mut rng, n))?))
}
