//! What a parallel region costs after a serial stretch: the overhead of a 2-way
//! `rayon::join` of two 50 µs pieces, after 20, 100 and 400 µs of serial work on the calling
//! thread, with the pool's other worker left to rayon (it falls asleep and is woken) and
//! kept polling by `siamese_tensor::par::with_warm_workers`, called as the training step calls
//! it (once per "step" of 8 joins here). Medians and 90th percentiles of 2000 joins each, in
//! microseconds (the 50 µs of a piece subtracted); then what one `with_warm_workers` call
//! costs around an empty closure.
//!
//! `cargo bench --bench wake` (2 worker threads; RAYON_NUM_THREADS is not read).

use std::time::{Duration, Instant};

use siamese::tensor::par::with_warm_workers;

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Overheads in µs of `n` joins, each after `gap` of serial work.
fn joins(n: usize, gap: Duration) -> Vec<f64> {
    let piece = Duration::from_micros(50);
    (0..n)
        .map(|_| {
            spin(gap);
            let t = Instant::now();
            rayon::join(|| spin(piece), || spin(piece));
            (t.elapsed() - piece).as_secs_f64() * 1e6
        })
        .collect()
}

/// (median, p90).
fn quantiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() * 9 / 10])
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a 2-thread pool");
    println!("join overhead after a serial gap, 2 workers (median / p90, µs)");
    println!(
        "{:>8} {:>18} {:>18}",
        "gap", "left to rayon", "warm workers"
    );
    for gap in [20, 100, 400] {
        let gap = Duration::from_micros(gap);
        let cold = quantiles(pool.install(|| joins(2000, gap)));
        let warm = (0..250)
            .flat_map(|_| pool.install(|| with_warm_workers(|| joins(8, gap))))
            .collect();
        let warm = quantiles(warm);
        println!(
            "{:>6}µs {:>8.1} / {:>6.1} {:>8.1} / {:>6.1}",
            gap.as_micros(),
            cold.0,
            cold.1,
            warm.0,
            warm.1
        );
    }
    let call = (0..2000)
        .map(|_| {
            let t = Instant::now();
            pool.install(|| with_warm_workers(|| ()));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let (med, p90) = quantiles(call);
    println!("one with_warm_workers call around nothing: {med:.1} / {p90:.1} µs");
}
