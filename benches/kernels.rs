//! Criterion benches of the siamese-tensor kernels on the exact LeNet-5 shapes.
//!
//! Throughput is reported with `Throughput::Elements(flops)`, so criterion's "elements/s" is
//! FLOP/s (conv forward = 2·MACs, conv backward = 4·MACs for dx and dw, GEMM = 2·m·n·k, pooling
//! = one FLOP per input element read). Names encode op, dtype and shape.
//!
//! The SIMD kernels (direct convolution, 2×2 max-pool) run once per path this CPU has
//! (`Direct_avx2`, `Direct_avx512`, …: siamese_tensor::ops::simd, side by side in one run);
//! `kernels: …` at the start names the path the library picks by default and why.
//!
//! Run: `cargo bench --bench kernels` (both cores), and with `RAYON_NUM_THREADS=1` for one
//! core (rayon is the only pool). Each bench: 10 samples, 2 s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use siamese_tensor::ops::conv2d::{self, Conv2dGeom, ConvAlgo};
use siamese_tensor::ops::simd::{self, Path};
use siamese_tensor::ops::{gemm, pool};
use siamese_tensor::Tensor;
use std::hint::black_box;
use std::time::Duration;

fn filled(shape: &[usize], seed: u32) -> Tensor {
    let n: usize = shape.iter().product();
    // A cheap deterministic pattern in [−1, 1).
    let data = (0..n)
        .map(|i| {
            let h = (i as u32)
                .wrapping_mul(2654435761)
                .wrapping_add(seed.wrapping_mul(40503));
            (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect();
    Tensor::from_vec(shape, data).unwrap()
}

/// (name, C, H, W, K, pad): the three LeNet-5 convolutions the workspace trains.
const CONVS: [(&str, usize, usize, usize, usize, usize); 3] = [
    ("mnist_conv1_c1_28x28_k6_p2", 1, 28, 28, 6, 2),
    ("mnist_conv2_c6_14x14_k16_p0", 6, 14, 14, 16, 0),
    ("cifar_conv1_c3_32x32_k6_p0", 3, 32, 32, 6, 0),
];

/// A bench's name and the SIMD path it runs on (None: the default).
struct Label(String, Option<Path>);

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Im2col (GEMM, no SIMD path of its own), then Direct on each path this CPU has.
fn algos() -> Vec<(ConvAlgo, Label)> {
    let mut v = vec![(ConvAlgo::Im2col, Label("Im2col".into(), None))];
    for p in Path::available() {
        v.push((
            ConvAlgo::Direct,
            Label(format!("Direct_{}", p.name()), Some(p)),
        ));
    }
    v
}

/// `f` on `path` (or the default path).
fn on<R>(path: Option<Path>, f: impl FnOnce() -> R) -> R {
    match path {
        // Cannot fail: the paths come from Path::available().
        Some(p) => simd::with_path(p, f).expect("an available path"),
        None => f(),
    }
}

fn conv(c: &mut Criterion) {
    println!("kernels: {}", simd::kernel_path());
    for (name, ch, h, w, k, pad) in CONVS {
        for n in [64usize, 128] {
            let x = filled(&[n, ch, h, w], 1);
            let wt = filled(&[k, ch, 5, 5], 2);
            let b = filled(&[k], 3);
            let g = Conv2dGeom::new(x.shape(), wt.shape(), 1, pad).unwrap();
            let dy = filled(&g.out_shape(), 4);
            let macs = g.macs() as u64;
            let mut gf = c.benchmark_group(format!("conv2d_f32_fwd/{name}_n{n}"));
            gf.sample_size(10)
                .measurement_time(Duration::from_secs(2))
                .warm_up_time(Duration::from_millis(500))
                .throughput(Throughput::Elements(2 * macs));
            for (algo, label) in algos() {
                gf.bench_function(BenchmarkId::from_parameter(&label), |bch| {
                    bch.iter(|| {
                        on(label.1, || {
                            conv2d::conv2d_forward_with(algo, &x, &wt, Some(&b), 1, pad).unwrap()
                        })
                    })
                });
            }
            // Direct on the default path, into a reused output buffer: no allocation or page
            // faults.
            let mut yb = vec![0.0f32; g.out_shape().iter().product()];
            gf.bench_function(BenchmarkId::from_parameter("Direct_into"), |bch| {
                bch.iter(|| {
                    conv2d::conv2d_forward_into(
                        ConvAlgo::Direct,
                        &x,
                        &wt,
                        Some(&b),
                        1,
                        pad,
                        &mut yb,
                    )
                    .unwrap()
                })
            });
            if n == 64 {
                gf.bench_function(BenchmarkId::from_parameter("reference"), |bch| {
                    bch.iter(|| {
                        conv2d::reference::conv2d_forward(&x, &wt, Some(&b), 1, pad).unwrap()
                    })
                });
            }
            gf.finish();
            let mut gb = c.benchmark_group(format!("conv2d_f32_bwd/{name}_n{n}"));
            gb.sample_size(10)
                .measurement_time(Duration::from_secs(2))
                .warm_up_time(Duration::from_millis(500))
                .throughput(Throughput::Elements(4 * macs));
            for (algo, label) in algos() {
                gb.bench_function(BenchmarkId::from_parameter(&label), |bch| {
                    bch.iter(|| {
                        on(label.1, || {
                            conv2d::conv2d_backward_with(algo, &x, &wt, &dy, 1, pad).unwrap()
                        })
                    })
                });
            }
            if n == 64 {
                gb.bench_function(BenchmarkId::from_parameter("reference"), |bch| {
                    bch.iter(|| conv2d::reference::conv2d_backward(&x, &wt, &dy, 1, pad).unwrap())
                });
            }
            gb.finish();
        }
    }
}

fn pooling(c: &mut Criterion) {
    let x = filled(&[64, 6, 28, 28], 5);
    let mut g = c.benchmark_group("pool2d_f32/n64_c6_28x28_k2_s2");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(x.len() as u64));
    let (y, arg) = pool::max_pool2d_forward(&x, 2, 2).unwrap();
    for p in Path::available() {
        g.bench_function(format!("max_fwd_{}", p.name()), |b| {
            b.iter(|| on(Some(p), || pool::max_pool2d_forward(&x, 2, 2).unwrap()))
        });
    }
    g.bench_function("max_bwd", |b| {
        b.iter(|| pool::max_pool2d_backward(&y, &arg, x.shape()).unwrap())
    });
    g.bench_function("avg_fwd", |b| {
        b.iter(|| pool::avg_pool2d_forward(&x, 2, 2).unwrap())
    });
    g.bench_function("avg_bwd", |b| {
        b.iter(|| pool::avg_pool2d_backward(&y, x.shape(), 2, 2).unwrap())
    });
    g.bench_function("max_fwd_reference", |b| {
        b.iter(|| pool::reference::max_pool2d_forward(&x, 2, 2).unwrap())
    });
    g.finish();
}

fn gemm_square(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_f32_square");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for n in [64usize, 128, 256, 512] {
        let a = filled(&[n, n], 6);
        let b = filled(&[n, n], 7);
        let mut out = vec![0.0f32; n * n];
        g.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        g.bench_function(BenchmarkId::from_parameter(n), |bch| {
            bch.iter(|| {
                gemm::gemm(
                    false,
                    false,
                    n,
                    n,
                    n,
                    1.0,
                    a.data(),
                    b.data(),
                    0.0,
                    &mut out,
                )
                .unwrap();
                black_box(out[0])
            })
        });
    }
    g.finish();
}

/// FMA-peak probe: 12 independent 8-lane FMA chains per thread, `ITERS` rounds.
const ITERS: u64 = 2_000_000;
const CHAINS: usize = 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_chains_avx2(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(1.000_000_1);
    let b = _mm256_set1_ps(0.999_999_9);
    let mut c = [_mm256_set1_ps(seed); CHAINS];
    for _ in 0..ITERS {
        for r in c.iter_mut() {
            *r = _mm256_fmadd_ps(*r, a, b);
        }
    }
    let mut s = _mm256_setzero_ps();
    for r in c {
        s = _mm256_add_ps(s, r);
    }
    let mut out = [0.0f32; 8];
    // SAFETY: `out` holds 8 f32; AVX is enabled on this function.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// Portable fallback chains (8-lane arrays, multiply then add) for CPUs without AVX2+FMA.
fn fma_chains_portable(seed: f32) -> f32 {
    let (a, b) = (1.000_000_1f32, 0.999_999_9f32);
    let mut c = [[seed; 8]; CHAINS];
    for _ in 0..ITERS {
        for r in c.iter_mut() {
            for l in r.iter_mut() {
                *l = *l * a + b;
            }
        }
    }
    c.iter().flatten().sum()
}

fn fma_chains(seed: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { fma_chains_avx2(seed) };
    }
    fma_chains_portable(seed)
}

fn fma_probe(c: &mut Criterion) {
    let mut g = c.benchmark_group("fma_probe_f32x8");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    let per_thread = ITERS * CHAINS as u64 * 8 * 2;
    for threads in [1u64, 2] {
        g.throughput(Throughput::Elements(per_thread * threads));
        g.bench_function(BenchmarkId::new("avx2_fma_threads", threads), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    let hs: Vec<_> = (0..threads)
                        .map(|t| s.spawn(move || fma_chains(black_box(0.1 + t as f32))))
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).sum::<f32>()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, fma_probe, conv, pooling, gemm_square);
criterion_main!(benches);
