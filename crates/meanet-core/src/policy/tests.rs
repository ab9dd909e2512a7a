use super::*;
use proptest::prelude::*;

fn arb_logits(c: usize) -> impl Strategy<Value = Vec<f32>> {
    proptest::collection::vec(-6.0f32..6.0, c)
}

fn arb_threshold() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![Just(None), Just(Some(0.0)), (0.0f64..2.5).prop_map(Some)]
}

proptest! {
    /// Per-class thresholds spread from global ones route exactly as the global policy.
    #[test]
    fn per_class_from_global_routes_as_global(
        main in arb_logits(5),
        ext in arb_logits(2),
        t in (arb_threshold(), arb_threshold(), arb_threshold()),
    ) {
        let p = ClassPartition::try_new(5, vec![1, 4]).unwrap();
        let global = Thresholds { main: t.0, cloud_main: t.1, extension: t.2, ..Thresholds::default() };
        let per = MeaNetPerClass { thresholds: PerClassThresholds::from_global(&global, &p) };
        per.thresholds.validate(&p).unwrap();
        let g = MeaNet { thresholds: global };
        let s = scores(&main, &p);
        prop_assert_eq!(per.after_main(&s, &p), g.after_main(&s, &p));
        let x = Scores::from_logits(&ext).unwrap();
        prop_assert_eq!(per.after_extension(&x), g.after_extension(&x));
    }

    /// A sample is offloaded at scale `s` exactly when its critical scale exceeds `s`.
    #[test]
    fn critical_scale_decides_offloading(
        main in arb_logits(5),
        ext in arb_logits(2),
        tm in proptest::collection::vec(arb_threshold(), 5),
        te in proptest::collection::vec(arb_threshold(), 2),
        scale in 0.05f64..8.0,
        per_class in any::<bool>(),
    ) {
        let p = ClassPartition::try_new(5, vec![1, 4]).unwrap();
        let base = if per_class {
            RoutingThresholds::PerClass(PerClassThresholds { measure: Measure::Entropy, main: tm, extension: te })
        } else {
            RoutingThresholds::Global(Thresholds { main: tm[0], cloud_main: tm[1], extension: te[0], ..Thresholds::default() })
        };
        let policy = base.scaled(scale).policy();
        let s = scores(&main, &p);
        let x = Scores::from_logits(&ext).unwrap();
        let offloaded = match policy.after_main(&s, &p).0 {
            Route::ExitMain => false,
            Route::Offload => true,
            Route::RunExtension => policy.after_extension(&x).0 == ExtensionRoute::Offload,
        };
        let critical = base.critical(&s, Some(&x), &p);
        // Scaling multiplies in floating point: stay off the exact boundary.
        prop_assume!((critical - scale).abs() > 1e-9 * scale.max(1.0));
        prop_assert_eq!(offloaded, critical > scale, "critical {}", critical);
    }
}

#[test]
fn per_class_thresholds_name_the_bad_entry() {
    let p = ClassPartition::try_new(3, vec![2]).unwrap();
    let mut t = PerClassThresholds::from_global(&Thresholds::default(), &p);
    t.main.pop();
    assert!(
        t.validate(&p)
            .unwrap_err()
            .contains("per_class.main has 2 thresholds")
    );
    let mut t = PerClassThresholds::from_global(&Thresholds::default(), &p);
    t.extension[0] = Some(f64::NAN);
    assert_eq!(
        t.validate(&p).unwrap_err(),
        "per_class.extension[0] must be >= 0 (or inf: no check)"
    );
}

fn scores(logits: &[f32], p: &ClassPartition) -> Scores {
    Scores::from_logits_masked(logits, &p.hard_mask()).unwrap()
}

#[test]
fn meanet_routes_as_the_method_says() {
    let p = ClassPartition::try_new(4, vec![2, 3]).unwrap();
    let t = Thresholds {
        main: Some(0.5),
        cloud_main: Some(1.0),
        extension: Some(0.3),
        ..Thresholds::default()
    };
    let policy = MeaNet { thresholds: t };
    let table: [(&[f32], Route, RouteReason); 5] = [
        (
            &[9.0, 0.0, 0.0, 0.0],
            Route::ExitMain,
            RouteReason::EasyConfident,
        ),
        (
            &[1.0, 0.9, 0.0, 0.0],
            Route::Offload,
            RouteReason::EasyUncertain,
        ),
        (
            &[0.0, 0.0, 9.0, 0.0],
            Route::RunExtension,
            RouteReason::HardClass,
        ),
        (
            &[0.0, 0.0, 0.5, 0.4],
            Route::Offload,
            RouteReason::MainTooUncertain,
        ),
        (
            &[0.0, 0.0, 0.0, 3.0],
            Route::RunExtension,
            RouteReason::HardClass,
        ),
    ];
    for (logits, route, reason) in table {
        assert_eq!(
            policy.after_main(&scores(logits, &p), &p),
            (route, reason),
            "{logits:?}"
        );
    }
    let confident = Scores::from_logits(&[8.0, 0.0]).unwrap();
    let unsure = Scores::from_logits(&[0.1, 0.0]).unwrap();
    assert_eq!(
        policy.after_extension(&confident).0,
        ExtensionRoute::ExitExtension
    );
    assert_eq!(policy.after_extension(&unsure).0, ExtensionRoute::Offload);
}

#[test]
fn hard_mass_treats_an_easy_prediction_as_hard() {
    let p = ClassPartition::try_new(3, vec![1, 2]).unwrap();
    let policy = MeaNet {
        thresholds: Thresholds {
            hard_mass: Some(0.5),
            cloud_main: None,
            ..Thresholds::default()
        },
    };
    // class 0 wins with p ~ 0.39, but hard classes hold ~ 0.61 together.
    let s = scores(&[0.2, 0.0, 0.0], &p);
    assert_eq!(s.class, 0);
    assert_eq!(policy.after_main(&s, &p).0, Route::RunExtension);
}

#[test]
fn baselines_route_as_named() {
    let p = ClassPartition::try_new(2, vec![1]).unwrap();
    let hard = scores(&[0.0, 5.0], &p);
    let easy = scores(&[5.0, 0.0], &p);
    assert_eq!(EdgeOnly.after_main(&hard, &p).0, Route::ExitMain);
    assert_eq!(CloudOnly.after_main(&easy, &p).0, Route::Offload);
    assert_eq!(MainExtension.after_main(&hard, &p).0, Route::RunExtension);
    assert_eq!(MainExtension.after_main(&easy, &p).0, Route::ExitMain);
    let b = BranchyNet {
        measure: Measure::Entropy,
        threshold: 0.1,
    };
    assert_eq!(b.after_main(&easy, &p).0, Route::ExitMain);
    assert_eq!(b.after_main(&scores(&[0.0, 0.1], &p), &p).0, Route::Offload);
}
