use super::*;
use crate::numerics::Measure;
use crate::policy::{PerClassThresholds, RoutingThresholds, Thresholds};

pub(crate) fn sample() -> Manifest {
    Manifest {
        format: 1,
        name: "t".into(),
        classes: (0..4).map(|c| format!("c{c}")).collect(),
        hard_classes: vec![1, 3],
        input: InputSpec {
            shape: vec![1, 8, 8],
            mean: vec![0.5],
            std: vec![0.25],
        },
        models: Models {
            main: "m.onnx".into(),
            extension: "x.onnx".into(),
            cloud: "c.onnx".into(),
        },
        tensors: Tensors::default(),
        macs: None,
        cloud: None,
        thresholds: None,
        split: None,
        dataset: None,
        quantization: None,
    }
}

#[test]
fn valid_manifest_passes_and_yields_the_partition() {
    let m = sample();
    m.validate().unwrap();
    assert_eq!(m.partition().unwrap().hard_classes(), &[1, 3]);
    assert_eq!(m.sample_len(), 64);
}

#[test]
fn per_class_thresholds_round_trip_through_toml_with_inf_as_no_check() {
    let p = ClassPartition::try_new(4, vec![1, 3]).unwrap();
    let per = PerClassThresholds {
        measure: Measure::Entropy,
        main: vec![Some(0.25), None, Some(0.0), Some(1.5)],
        extension: vec![None, Some(0.75)],
    };
    let mut m = sample();
    m.thresholds = Some(
        ThresholdSpec::from_thresholds(&Thresholds::default(), Some("offload=0.2".into()))
            .with_per_class(&per),
    );
    let text = toml::to_string_pretty(&m).unwrap();
    assert!(text.contains("inf"), "{text}");
    let back: Manifest = toml::from_str(&text).unwrap();
    back.validate().unwrap();
    let routing = back.thresholds.unwrap().routing(&p).unwrap();
    assert_eq!(routing, RoutingThresholds::PerClass(per));
}

#[test]
fn inconsistencies_name_the_key() {
    type Edit = Box<dyn Fn(&mut Manifest)>;
    let table: Vec<(Edit, &str)> = vec![
        (
            Box::new(|m| m.hard_classes = vec![9]),
            "hard_classes: hard class 9 is out of range for 4 classes",
        ),
        (
            Box::new(|m| m.hard_classes = vec![]),
            "hard_classes: a partition needs at least one hard class",
        ),
        (
            Box::new(|m| m.input.shape = vec![1, 8]),
            "input: shape must be [C, H, W]",
        ),
        (
            Box::new(|m| m.input.mean = vec![0.1, 0.2]),
            "input: mean and std need one value per channel",
        ),
        (
            Box::new(|m| m.input.std = vec![0.0]),
            "input: std must be finite and > 0",
        ),
        (
            Box::new(|m| m.models.cloud = "../x.onnx".into()),
            "models.cloud",
        ),
        (Box::new(|m| m.format = 7), "unsupported manifest format 7"),
        (
            Box::new(|m| m.tensors.features = String::new()),
            "tensors.features",
        ),
        (
            Box::new(|m| {
                m.split = Some(SplitSpec {
                    seed: 1,
                    validation: 1.5,
                })
            }),
            "split: validation = 1.5",
        ),
        (
            Box::new(|m| {
                m.thresholds = Some(ThresholdSpec {
                    measure: "vibes".into(),
                    main: None,
                    cloud_main: None,
                    extension: None,
                    hard_mass: None,
                    target: None,
                    per_class: None,
                })
            }),
            "thresholds: unknown measure",
        ),
        (
            Box::new(|m| {
                m.thresholds = Some(ThresholdSpec {
                    measure: "entropy".into(),
                    main: None,
                    cloud_main: None,
                    extension: None,
                    hard_mass: Some(1.5),
                    target: None,
                    per_class: None,
                })
            }),
            "thresholds: hard_mass must be a probability",
        ),
        (
            Box::new(|m| {
                m.thresholds = Some(
                    ThresholdSpec::from_thresholds(&Thresholds::default(), None).with_per_class(
                        &PerClassThresholds {
                            measure: Measure::Entropy,
                            main: vec![Some(0.5); 3],
                            extension: vec![None; 2],
                        },
                    ),
                )
            }),
            "thresholds: per_class.main has 3 thresholds, the bundle needs 4",
        ),
        (
            Box::new(|m| {
                m.thresholds = Some(ThresholdSpec {
                    per_class: Some(PerClassSpec {
                        main: vec![0.1, 0.2, f64::NAN, 0.3],
                        extension: vec![0.1, 0.2],
                    }),
                    ..ThresholdSpec::from_thresholds(&Thresholds::default(), None)
                })
            }),
            "thresholds: per_class.main[2] must be >= 0",
        ),
    ];
    for (edit, want) in table {
        let mut m = sample();
        edit(&mut m);
        let err = m.validate().unwrap_err().to_string();
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
    }
}

#[test]
fn the_cloud_section_round_trips_and_a_mismatch_names_the_key() {
    let mut m = sample();
    m.cloud = Some(CloudSpec::expected(&m));
    let text = toml::to_string_pretty(&m).unwrap();
    assert!(text.contains("[cloud.input]"), "{text}");
    let back: Manifest = toml::from_str(&text).unwrap();
    back.validate().unwrap();
    assert_eq!(back.cloud.as_ref().and_then(CloudSpec::outputs), Some(4));
    assert_eq!(back.cloud.as_ref().unwrap().input.shape, vec![-1, 1, 8, 8]);

    let mut wrong = back.clone();
    wrong.cloud.as_mut().unwrap().output.shape = vec![-1, 5];
    let e = wrong.validate().unwrap_err().to_string();
    assert!(e.contains("cloud.output.shape is [-1, 5]"), "{e}");
    assert!(e.contains("[-1, 4]"), "{e}");
    let mut wrong = back.clone();
    wrong.cloud.as_mut().unwrap().input.datatype = "UINT8".into();
    let e = wrong.validate().unwrap_err().to_string();
    assert!(e.contains("cloud.input.datatype"), "{e}");
    let mut wrong = back;
    wrong.cloud.as_mut().unwrap().input.name.clear();
    let e = wrong.validate().unwrap_err().to_string();
    assert!(e.contains("cloud.input.name"), "{e}");
}
