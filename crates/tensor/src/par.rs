//! Keeping the rayon workers awake through a training step.
//!
//! A step of SN-LeNet-5 is a few milliseconds of parallel regions (one per conv block, per
//! large GEMM, Adam) with short serial stretches between them (the tape's small ops, the
//! loss). A rayon worker that finds no work for a short while goes to sleep, and waking it
//! for the next region is slow in the virtual machines we run on, several times per step
//! (`cargo bench --bench wake`; the figures are in docs/performance.md, "Measurements behind
//! the code's choices"). [`with_warm_workers`] runs a closure while every other worker of the
//! pool polls for its parallel work with `rayon::yield_now` instead of sleeping, so that each
//! region's pieces are taken at once. Which worker runs a piece changes; the pieces and so the
//! values do not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A polling worker gives up after this long without work: a closure that has finished its
/// parallel work (or a serial stretch longer than any in a step) does not keep the other
/// cores busy for nothing, and the worker goes back to rayon's usual sleep.
pub const MAX_IDLE: Duration = Duration::from_millis(2);

/// Runs `f` on a worker of the current rayon pool (the global pool when called from outside
/// one) while the pool's other workers poll for its parallel work instead of sleeping;
/// returns `f`'s result. On a one-thread pool it simply calls `f`. A panic in `f` is
/// propagated once the other workers have stopped polling.
pub fn with_warm_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_num_threads() < 2 {
        return f();
    }
    /// Ends the polling when `f` returns or unwinds.
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let done = AtomicBool::new(false);
    rayon::scope(|s| {
        // Every worker gets one poller; the one running `f` drops its own at once.
        let me = rayon::current_thread_index();
        let done = &done;
        s.spawn_broadcast(move |_, ctx| {
            if Some(ctx.index()) != me {
                poll_for_work(done);
            }
        });
        let _done = Done(done);
        f()
    })
}

/// Runs pending pool work as it appears until `done`, or until it has polled for
/// [`MAX_IDLE`] without finding any. Only time spent polling counts: a poller that the system
/// took off its core for a while (a gap of more than 20 µs between two polls) does not
/// return for that.
fn poll_for_work(done: &AtomicBool) {
    const DESCHEDULED: Duration = Duration::from_micros(20);
    let mut idle = Duration::ZERO;
    let mut last = Instant::now();
    while !done.load(Ordering::Acquire) {
        let found = rayon::yield_now() == Some(rayon::Yield::Executed);
        let now = Instant::now();
        let since = now - last;
        last = now;
        if found {
            idle = Duration::ZERO;
            continue;
        }
        if since < DESCHEDULED {
            idle += since;
        }
        if idle > MAX_IDLE {
            return;
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// A parallel sum in fixed chunks, and which workers ran its pieces.
    fn work() -> (f64, Vec<bool>) {
        let ran = (0..rayon::current_num_threads())
            .map(|_| AtomicBool::new(false))
            .collect::<Vec<_>>();
        let sum = (0..64u32)
            .into_par_iter()
            .with_max_len(1)
            .map(|i| {
                if let Some(t) = rayon::current_thread_index() {
                    ran[t].store(true, Ordering::Relaxed);
                }
                // Long enough that the other workers take pieces.
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(100) {
                    std::hint::spin_loop();
                }
                (0..1000u32).map(|j| ((i * j) as f64).sqrt()).sum::<f64>()
            })
            .collect::<Vec<_>>()
            .iter()
            .sum();
        (sum, ran.iter().map(|r| r.load(Ordering::Relaxed)).collect())
    }

    #[test]
    fn results_are_those_of_the_closure_on_any_pool() {
        let (serial, _) = pool(1).install(work);
        for threads in [1, 2, 3] {
            let (sum, ran) = pool(threads).install(|| with_warm_workers(work));
            assert_eq!(sum, serial, "{threads} threads");
            // The other worker did take pieces (with 3 threads on a 2-core machine, one of
            // them may not get a core in time, so only 1 and 2 are checked).
            if threads <= 2 {
                assert_eq!(
                    ran.iter().filter(|&&r| r).count(),
                    threads,
                    "{threads} threads"
                );
            }
        }
        // From outside any pool: runs in the global pool.
        assert_eq!(with_warm_workers(work).0, serial);
    }

    #[test]
    fn nested_calls_and_serial_gaps_finish() {
        let p = pool(2);
        let total = p.install(|| {
            with_warm_workers(|| {
                let a = with_warm_workers(work).0;
                // A serial stretch longer than MAX_IDLE: the poller gives up, then the next
                // region runs on rayon's usual wake-up.
                std::thread::sleep(MAX_IDLE * 4);
                a + work().0
            })
        });
        assert_eq!(total, 2.0 * pool(1).install(work).0);
    }

    #[test]
    fn a_panic_in_the_closure_is_propagated() {
        let p = pool(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            p.install(|| with_warm_workers(|| -> u32 { panic!("inside") }))
        }));
        assert!(r.is_err());
        // The pool still works.
        assert_eq!(p.install(|| with_warm_workers(|| 7)), 7);
    }
}
