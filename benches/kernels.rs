//! Criterion benches of the siamese-tensor kernels on the exact LeNet-5 shapes.
//!
//! Throughput is reported with `Throughput::Elements(flops)`, so criterion's "elements/s" is
//! FLOP/s (conv forward = 2·MACs, conv backward = 4·MACs for dx and dw, dw alone
//! (`conv2d_f32_dw`) = 2·MACs, GEMM = 2·m·n·k, pooling = one FLOP per input element read).
//! Names encode op, dtype and shape.
//!
//! The SIMD kernels (direct convolution, 2×2 max-pool) run once per path this CPU has
//! (`Direct_avx2`, `Direct_avx512`, …: siamese_tensor::ops::simd, side by side in one run);
//! `kernels: …` at the start names the path the library picks by default and why.
//!
//! The run starts by measuring the fp32 FMA peak of the threads the kernels use (the probe of
//! `siamese bench`, `src/bin/siamese-bench/peak.rs`) and ends with a table of every kernel of
//! this run: median time, GFLOP/s and the fraction of that peak.
//!
//! Run: `cargo bench --bench kernels` (both cores), and with `RAYON_NUM_THREADS=1` for one
//! core (rayon is the only pool). Each bench: 10 samples, 2 s. On a machine shared with other
//! jobs, `SIAMESE_BENCH_CPU_TIME=1` makes the conv and pool benches measure the process's CPU
//! time (all its threads, Linux `/proc/self/task/*/schedstat`) instead of wall time: time spent
//! waiting for a core no longer counts (use it with `RAYON_NUM_THREADS=1`).

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use siamese_tensor::ops::conv2d::{self, Conv2dGeom, ConvAlgo};
use siamese_tensor::ops::simd::{self, Path};
use siamese_tensor::ops::{gemm, pool};
use siamese_tensor::Tensor;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

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

/// Benches `f` in wall time, or in CPU time with `SIAMESE_BENCH_CPU_TIME=1` (module doc).
fn timed<R>(b: &mut criterion::Bencher, mut f: impl FnMut() -> R) {
    if std::env::var("SIAMESE_BENCH_CPU_TIME").is_ok_and(|v| v == "1") {
        b.iter_custom(|n| {
            let t0 = process_cpu_time();
            for _ in 0..n {
                black_box(f());
            }
            process_cpu_time().saturating_sub(t0)
        });
    } else {
        b.iter(f);
    }
}

/// The CPU time this process's threads have run: the first field (ns) of each
/// `/proc/self/task/<tid>/schedstat`, summed; zero where there is no such file.
fn process_cpu_time() -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten();
    let ns: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

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
                    timed(bch, || {
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
                timed(bch, || {
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
                    timed(bch, || {
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
                    timed(bch, || {
                        on(label.1, || {
                            conv2d::conv2d_backward_with(algo, &x, &wt, &dy, 1, pad).unwrap()
                        })
                    })
                });
            }
            if n == 64 {
                gb.bench_function(BenchmarkId::from_parameter("reference"), |bch| {
                    timed(bch, || {
                        conv2d::reference::conv2d_backward(&x, &wt, &dy, 1, pad).unwrap()
                    })
                });
            }
            gb.finish();
            dw_only(c, name, n, &x, &wt, &dy, pad);
        }
    }
}

/// The weight gradient alone (dw and db, no dx: `conv2d_backward_params`, what a first layer
/// runs), on each path, where the layer takes the direct kernels; dx alone is the backward's
/// time less this one.
fn dw_only(
    c: &mut Criterion, name: &str, n: usize, x: &Tensor, wt: &Tensor, dy: &Tensor, pad: usize,
) {
    // Cannot fail: the same shapes made the forward above.
    let g = Conv2dGeom::new(x.shape(), wt.shape(), 1, pad).unwrap();
    if !conv2d::prefers_direct(&g) {
        return;
    }
    let mut gd = c.benchmark_group(format!("conv2d_f32_dw/{name}_n{n}"));
    gd.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(2 * g.macs() as u64));
    for p in Path::available() {
        gd.bench_function(format!("Direct_{}", p.name()), |bch| {
            timed(bch, || {
                on(Some(p), || {
                    conv2d::conv2d_backward_params(x, wt, dy, 1, pad).unwrap()
                })
            })
        });
    }
    gd.finish();
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
            timed(b, || {
                on(Some(p), || pool::max_pool2d_forward(&x, 2, 2).unwrap())
            })
        });
    }
    g.bench_function("max_bwd", |b| {
        timed(b, || {
            pool::max_pool2d_backward(&y, &arg, x.shape()).unwrap()
        })
    });
    g.bench_function("avg_fwd", |b| {
        timed(b, || pool::avg_pool2d_forward(&x, 2, 2).unwrap())
    });
    g.bench_function("avg_bwd", |b| {
        timed(b, || {
            pool::avg_pool2d_backward(&y, x.shape(), 2, 2).unwrap()
        })
    });
    g.bench_function("max_fwd_reference", |b| {
        timed(b, || pool::reference::max_pool2d_forward(&x, 2, 2).unwrap())
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

/// The FMA-peak probe of `siamese bench` (one file, two programs).
#[path = "../src/bin/siamese-bench/peak.rs"]
#[allow(dead_code)]
mod peak;

/// After the benches: each kernel's median time, GFLOP/s and fraction of `peak` (GFLOP/s of
/// the threads the kernels ran on, measured at the start of this run), read back from the
/// estimates criterion wrote in this run (older results in the folder are skipped).
fn summary(started: SystemTime, peak: f64) {
    let home = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
            PathBuf::from(target).join("criterion")
        });
    let mut rows = Vec::new();
    collect(&home, started, &mut rows);
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    println!(
        "\n{:<72} {:>11} {:>9} {:>8}",
        "kernel (this run)", "median", "GFLOP/s", "of peak"
    );
    for (id, ns, flops) in rows {
        let gflops = flops / ns;
        println!(
            "{id:<72} {:>8.1} us {gflops:>9.1} {:>7.1}%",
            ns / 1e3,
            100.0 * gflops / peak
        );
    }
}

/// (full id, median ns, FLOPs) of every bench under `dir` that wrote its estimates after
/// `since`.
fn collect(dir: &std::path::Path, since: SystemTime, out: &mut Vec<(String, f64, f64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "new") {
            let fresh = std::fs::metadata(p.join("estimates.json"))
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            let read = |f: &str| -> Option<serde_json::Value> {
                serde_json::from_str(&std::fs::read_to_string(p.join(f)).ok()?).ok()
            };
            if let (true, Some(b), Some(est)) =
                (fresh, read("benchmark.json"), read("estimates.json"))
            {
                let id = b["full_id"].as_str().unwrap_or("?").to_string();
                let flops = b["throughput"]["Elements"].as_f64();
                let ns = est["median"]["point_estimate"].as_f64();
                if let (Some(f), Some(ns)) = (flops, ns) {
                    out.push((id, ns, f));
                }
            }
        } else if p.is_dir() {
            collect(&p, since, out);
        }
    }
}

fn main() {
    let started = SystemTime::now();
    let threads = rayon::current_num_threads();
    let peak = peak::probe(threads);
    println!(
        "FMA peak: {:.0} GFLOP/s on {threads} thread(s) ({})",
        peak.gflops,
        peak.width.name()
    );
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary(started, peak.gflops);
}

criterion_group!(benches, conv, pooling, gemm_square);
