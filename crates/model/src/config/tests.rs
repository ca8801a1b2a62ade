use super::*;

/// The classic LeNet-5 geometry: 28×28 padded by 2 and 32×32 unpadded both give
/// 28 → 14 → 10 → 5, so 16·5·5 = 400 features; CIFAR keeps its 3 channels.
#[test]
fn dims_of_the_paper_inputs() {
    for (c, side) in [(1, 28), (3, 32)] {
        let d = ModelConfig::for_input(c, side, side).dims().unwrap();
        assert_eq!(d.image(), [c, side, side]);
        assert_eq!(d.conv1.conv_side, (28, 28));
        assert_eq!(d.conv1.pool_side, (14, 14));
        assert_eq!(d.conv2.in_side, (14, 14));
        assert_eq!(d.conv2.conv_side, (10, 10));
        assert_eq!(d.conv2.pool_side, (5, 5));
        assert_eq!(d.flat, 400);
        assert_eq!((d.fc1, d.fc2, d.fc3), ((400, 120), (120, 84), (84, 10)));
        let g = d.conv1.geom(7);
        assert_eq!(g.out_shape(), [7, 6, 28, 28]);
        assert_eq!(d.conv1.pool_planes(7), (42, 28, 28));
        assert_eq!(d.conv2.pool_len(7), 7 * 400);
        assert_eq!(d.check_images(&[4, c, side, side]).unwrap(), 4);
        assert!(d.check_images(&[4, c, side, side + 1]).is_err());
    }
}

/// Odd sides floor at each pool. The smallest unpadded square input is 16×16
/// (16 → 12 → 6 → 2 → 1); 15×15 ends in a 1×1 conv2 output, which no 2×2 pool fits.
/// Zero sizes are errors.
#[test]
fn dims_of_odd_and_too_small_inputs() {
    let mut cfg = ModelConfig::for_input(1, 33, 30);
    cfg.pad1 = 0;
    let d = cfg.dims().unwrap();
    assert_eq!((d.conv1.conv_side, d.conv1.pool_side), ((29, 26), (14, 13)));
    assert_eq!((d.conv2.conv_side, d.conv2.pool_side), ((10, 9), (5, 4)));
    assert_eq!(d.flat, 16 * 5 * 4);
    let small = |side: usize| {
        let mut cfg = ModelConfig::for_input(1, side, side);
        cfg.pad1 = 0;
        cfg.dims()
    };
    assert_eq!(small(16).unwrap().conv2.pool_side, (1, 1));
    let e = small(15).unwrap_err().to_string();
    assert!(e.contains("too small for LeNet-5"), "{e}");
    assert!(small(4).is_err());
    cfg.embedding = 0;
    assert!(cfg.validate().is_err());
    cfg.embedding = 10;
    assert!(cfg.validate().is_ok());
    assert!(LenetDims::new(&ModelConfig::for_input(0, 28, 28), 10).is_err());
}

/// Sizes from flags or checkpoint metadata are bounded before anything is allocated: the
/// error names the setting and its valid range (issue 13, cause 1: `--embedding 100000000`
/// and `usize::MAX` used to abort the process in the allocator).
#[test]
fn oversized_settings_are_refused_with_their_range() {
    let base = ModelConfig::for_input(1, 28, 28);
    type Change = fn(&mut ModelConfig);
    let cases: [(Change, &str); 5] = [
        (
            |c| c.embedding = 100_000_000,
            "--embedding must be at least 1 and at most 4096, got 100000000",
        ),
        (
            |c| c.embedding = usize::MAX,
            "--embedding must be at least 1 and at most 4096",
        ),
        (
            |c| c.height = 1 << 33,
            "input height must be at least 1 and at most 512",
        ),
        (
            |c| c.channels = 1000,
            "channels must be at least 1 and at most 4",
        ),
        (
            |c| c.pad1 = 1 << 20,
            "first-conv padding must be at least 0 and at most 8",
        ),
    ];
    for (change, needle) in cases {
        let mut c = base.clone();
        change(&mut c);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
    assert!(validate_threads(0).is_err());
    assert!(validate_threads(10_000)
        .unwrap_err()
        .to_string()
        .contains("--threads must be at least 1 and at most"));
    assert!(validate_threads(1).is_ok());
    assert!(validate_eval_batch(0)
        .unwrap_err()
        .to_string()
        .contains("--batch must be at least 1 and at most 16384, got 0"));
}

#[test]
fn subnet_shapes_are_those_of_the_built_subnet() {
    let d = ModelConfig::for_input(3, 32, 32).dims().unwrap();
    let shapes = d.subnet_shapes("subnet");
    assert_eq!(shapes.len(), 10);
    assert_eq!(shapes[0], ("subnet.conv1.weight".into(), vec![6, 3, 5, 5]));
    assert_eq!(shapes[4], ("subnet.fc1.weight".into(), vec![120, 400]));
    assert_eq!(shapes[9], ("subnet.fc3.bias".into(), vec![10]));
}

/// `--head` and `--init` round-trip through the JSON of a checkpoint's metadata, and a
/// config written before they existed reads as today's behaviour (bn, sign-aware).
#[test]
fn head_and_init_round_trip_and_default_for_old_checkpoints() {
    let mut cfg = ModelConfig::for_input(1, 28, 28);
    cfg.head = Head::Plain;
    cfg.init = HeadInit::Glorot;
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(json.contains(r#""head":"plain""#) && json.contains(r#""init":"glorot""#));
    assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), cfg);
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    let fields = old.as_object_mut().unwrap();
    fields.remove("head");
    fields.remove("init");
    let back: ModelConfig = serde_json::from_value(old).unwrap();
    assert_eq!((back.head, back.init), (Head::Bn, HeadInit::SignAware));
    assert_eq!("plain".parse::<Head>().unwrap(), Head::Plain);
    let e = "ln".parse::<HeadInit>().unwrap_err().to_string();
    assert!(e.contains("sign-aware, glorot"), "{e}");
}

/// The sign-aware start makes the output module's weight ≤ −0.5 for every seed; `glorot`
/// leaves it as drawn, positive for some seeds; `plain` turns the BatchNorm off.
#[test]
fn init_and_head_reach_the_model() {
    let w = |init: HeadInit, seed: u64| -> f32 {
        let mut cfg = ModelConfig::for_input(1, 28, 28);
        cfg.init = init;
        let m = crate::SnLenet5::new(cfg, seed).unwrap();
        m.store.value(m.head.fc.weight).data()[0]
    };
    assert!((0..10).all(|s| w(HeadInit::SignAware, s) <= -0.5));
    assert!((0..10).any(|s| w(HeadInit::Glorot, s) > 0.0));
    let mut cfg = ModelConfig::for_input(1, 28, 28);
    assert!(crate::SnLenet5::new(cfg.clone(), 0).unwrap().head.use_bn);
    cfg.head = Head::Plain;
    assert!(!crate::SnLenet5::new(cfg, 0).unwrap().head.use_bn);
}

/// `--width K` multiplies conv1's 6 and conv2's 16 filters and fc1's 120 and fc2's 84 units
/// by K (so fc1's inputs, 16K·5·5, too); the input and the embedding stay. K = 1 is the
/// paper's LeNet-5; 0 and anything above 8 are refused with the range; a config written
/// before the field existed reads as K = 1.
#[test]
fn width_k_multiplies_every_hidden_layer() {
    for k in [2usize, 3] {
        let mut cfg = ModelConfig::for_input(3, 32, 32);
        cfg.widen = k;
        let d = cfg.dims().unwrap();
        assert_eq!(d.image(), [3, 32, 32]);
        assert_eq!(
            (
                d.conv1.out_channels,
                d.conv2.in_channels,
                d.conv2.out_channels
            ),
            (6 * k, 6 * k, 16 * k)
        );
        assert_eq!(d.conv2.pool_side, (5, 5));
        assert_eq!(d.flat, 400 * k);
        assert_eq!(
            (d.fc1, d.fc2, d.fc3),
            ((400 * k, 120 * k), (120 * k, 84 * k), (84 * k, 10))
        );
        let shapes = d.subnet_shapes("subnet");
        assert_eq!(shapes[0].1, vec![6 * k, 3, 5, 5]);
        assert_eq!(shapes[8].1, vec![10, 84 * k]);
    }
    for bad in [0, 9, usize::MAX] {
        let mut cfg = ModelConfig::for_input(1, 28, 28);
        cfg.widen = bad;
        let e = cfg.validate().unwrap_err().to_string();
        assert_eq!(e.lines().count(), 1, "one line: {e}");
        assert!(
            e.contains(&format!(
                "--width must be at least 1 and at most 8, got {bad}"
            )),
            "{e}"
        );
    }
    let cfg = ModelConfig::for_input(1, 28, 28);
    let mut old = serde_json::to_value(&cfg).unwrap();
    assert_eq!(old["widen"], 1);
    old.as_object_mut().unwrap().remove("widen");
    assert_eq!(serde_json::from_value::<ModelConfig>(old).unwrap(), cfg);
}
