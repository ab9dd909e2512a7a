use super::*;

#[test]
fn default_settings_are_the_trainers_defaults_and_flags_override_them() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainArgs,
    }
    let none = Cli::parse_from(["train", "--out", "b"]).args;
    assert_eq!(
        config(&apply(&none, TrainSettings::default()), &none),
        TrainConfig::default()
    );
    let flags = Cli::parse_from([
        "train",
        "--out",
        "b",
        "--preset",
        "resnet32",
        "--hard-by",
        "precision",
        "--epochs-cloud",
        "3",
        "--no-augment",
    ])
    .args;
    let file = TrainSettings {
        hard_fraction: 0.25,
        ..TrainSettings::default()
    };
    let c = config(&apply(&flags, file), &flags);
    assert_eq!((c.preset, c.hard_by), (Preset::Resnet32, HardBy::Precision));
    assert_eq!(
        (c.hard_fraction, c.cloud.epochs, c.main.epochs),
        (0.25, 3, 10)
    );
    assert!(!c.main.augment && !c.cloud.augment);
}

#[test]
fn a_nan_or_a_large_difference_fails_the_export() {
    check_diff(0.0).unwrap();
    check_diff(9e-5).unwrap();
    let e = check_diff(2e-4).unwrap_err().to_string();
    assert!(
        e.contains("disagree by 2.000e-4") && e.contains("no bundle"),
        "{e}"
    );
    let e = check_diff(f32::NAN).unwrap_err().to_string();
    assert!(e.contains("NaN"), "{e}");
}
