use super::*;

fn dot<V: Lanes>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = V::splat(0.0);
    for (x, y) in a.chunks_exact(V::N).zip(b.chunks_exact(V::N)) {
        acc = V::load(x).mul_add(V::load(y), acc);
    }
    let mut a = [0.0f32; 16];
    acc.store(&mut a);
    a[..V::N].iter().sum()
}
simd_dispatch!(fn dot_dispatch => dot(a: &[f32], b: &[f32]) -> f32);

/// Every path the CPU has computes the same dot product (to rounding) and is recorded as
/// taken; on a CPU with AVX-512F that includes the 16-lane one, so this cannot pass on
/// 8-lane code alone. `SIAMESE_ENSURE_AVX512=1` (or `SIAMESE_ENSURE_AVX2=1`) makes a CPU
/// without it a failure instead of a skip.
#[test]
fn every_available_path_agrees_and_is_taken() {
    let a: Vec<f32> = (0..64).map(|i| i as f32 * 0.25).collect();
    let b: Vec<f32> = (0..64).map(|i| 1.0 - i as f32 * 0.5).collect();
    let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    for p in Path::available() {
        let d = with_path(p, || dot_dispatch(path(), &a, &b)).unwrap();
        assert!(
            (d - want).abs() <= 1e-3 * want.abs(),
            "{p:?}: {d} vs {want}"
        );
        assert!(p.taken(), "{p:?} ran but was not recorded");
        println!("{} path exercised", p.name());
    }
    for (p, var) in [
        (Path::Avx2, "SIAMESE_ENSURE_AVX2"),
        (Path::Avx512, "SIAMESE_ENSURE_AVX512"),
    ] {
        if !p.supported() {
            println!("Skipping the {} path: this CPU does not have it", p.name());
            assert!(std::env::var(var).is_err(), "{var}: {} required", p.name());
        }
    }
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        Path::Avx512.supported(),
        std::is_x86_feature_detected!("avx512f") && Path::Avx2.supported()
    );
}

#[test]
fn with_path_applies_to_this_thread_and_restores() {
    let outer = path();
    with_path(Path::Portable, || {
        assert_eq!(path(), Path::Portable);
        // Another thread keeps the process-wide choice.
        let other = std::thread::spawn(path).join().unwrap();
        assert_eq!(other, choice().path);
        if let Some(p) = Path::available().last() {
            with_path(*p, || assert_eq!(path(), *p)).unwrap();
        }
        assert_eq!(path(), Path::Portable);
    })
    .unwrap();
    assert_eq!(path(), outer);
    for p in Path::ALL {
        assert_eq!(with_path(p, || ()).is_some(), p.supported());
    }
}

#[test]
fn the_rule_picks_avx512_only_where_it_measured_faster() {
    let never = || -> f64 { panic!("the probe must not run here") };
    assert_eq!(
        choose(Some("portable"), false, false, never).0,
        Path::Portable
    );
    assert_eq!(choose(None, true, false, never).0, Path::Portable);
    assert_eq!(choose(None, false, true, never).0, Path::Avx2.at_most());
    assert_eq!(
        choose(Some("avx2"), true, false, never).0,
        Path::Avx2.at_most()
    );
    let forced = choose(Some("avx512"), false, false, never);
    assert_eq!(forced.0, Path::Avx512.at_most());
    let bad = choose(Some("sse9"), true, false, never);
    assert_eq!(bad.0, Path::Portable);
    assert!(bad.1.contains("\"sse9\" is not"), "{}", bad.1);
    if Path::Avx512.supported() {
        assert_eq!(choose(None, false, false, || 1.9).0, Path::Avx512);
        assert_eq!(
            choose(None, false, false, || 1.02).0,
            Path::Avx512vl.at_most()
        );
        let g = probe::avx512_gain();
        assert!(g > 0.5 && g < 4.0, "implausible 512/256 FMA gain {g}");
        println!("512-bit over 256-bit FMA throughput: {g:.2}");
    } else {
        assert_eq!(
            choose(None, false, false, never).0,
            Path::Avx512vl.at_most()
        );
    }
    assert!(kernel_path().starts_with(choice().path.name()));
}
