//! Flush-to-zero on the threads of rayon pools: read back from each worker's control
//! register, and seen in its arithmetic. One test function, run in order, because the global
//! pool and the process policy exist once per process.

use std::hint::black_box;

use siamese_tensor::fpmode::{
    apply_to_pool, current_thread_flushes, init_global_pool, pool_builder, set_flush,
    set_ieee_subnormals,
};

/// Per worker of the current pool: (control register says flush, 1e-30·1e-10 came out 0).
fn workers() -> Vec<(bool, bool)> {
    rayon::broadcast(|_| {
        let product = black_box(1e-30f32) * black_box(1e-10f32);
        (current_thread_flushes(), product == 0.0)
    })
}

#[test]
fn every_rayon_worker_flushes_subnormals_unless_ieee_is_asked() {
    if cfg!(not(any(target_arch = "x86_64", target_arch = "aarch64"))) {
        return;
    }
    // The global pool, as the CLI and the library build it.
    init_global_pool(Some(2)).unwrap();
    assert!(current_thread_flushes(), "the calling thread");
    let global = workers();
    assert_eq!(global.len(), 2);
    assert!(
        global.iter().all(|&(reg, zero)| reg && zero),
        "global pool workers: {global:?}"
    );

    // A pool built elsewhere, by a thread in the default mode (new threads inherit their
    // creator's mode), starts without flushing: what the check above would catch …
    set_flush(false);
    let plain = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let before = plain.install(workers);
    assert!(
        before.iter().all(|&(reg, zero)| !reg && !zero),
        "{before:?}"
    );
    // … and apply_to_pool, which train() and the evaluations call, switches every worker.
    plain.install(apply_to_pool);
    let after = plain.install(workers);
    assert!(after.iter().all(|&(reg, zero)| reg && zero), "{after:?}");

    // Strict IEEE on request: new pools start with gradual underflow, even when built by a
    // flushing thread (the start handler sets the mode, inheritance does not decide it) …
    set_ieee_subnormals(true);
    set_flush(true);
    let ieee = pool_builder().num_threads(2).build().unwrap();
    let strict = ieee.install(workers);
    assert!(
        strict.iter().all(|&(reg, zero)| !reg && !zero),
        "{strict:?}"
    );
    // … and back: flushing workers built by a thread in the default mode.
    set_ieee_subnormals(false);
    set_flush(false);
    let flushed = pool_builder().num_threads(2).build().unwrap();
    assert!(flushed
        .install(workers)
        .iter()
        .all(|&(reg, zero)| reg && zero));
}
