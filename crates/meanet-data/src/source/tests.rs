use super::*;

#[test]
fn names_round_trip_and_unknown_names_are_listed() {
    for k in DatasetKind::ALL {
        assert_eq!(k.name().parse::<DatasetKind>(), Ok(k));
    }
    let e = "imagenet".parse::<DatasetKind>().unwrap_err().to_string();
    assert!(e.contains("\"imagenet\"") && e.contains("cifar100"), "{e}");
    assert_eq!(CIFAR100_CLASSES.len(), 100);
}

#[test]
fn a_cifar_directory_missing_a_batch_is_named() {
    let dir = std::env::temp_dir().join(format!("meanet-src-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = DataSource::new(DatasetKind::Cifar10, Some(dir.clone()))
        .load(&dir)
        .unwrap_err()
        .to_string();
    assert!(e.contains("data_batch_1.bin"), "{e}");
    let e = DataSource::new(DatasetKind::Cifar100, None)
        .load(&dir)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--data") && e.contains("cifar100"), "{e}");
    let mut s = DataSource::new(DatasetKind::Folder, Some(dir.clone()));
    s.image_size = Some(0);
    let e = s.load(&dir).unwrap_err().to_string();
    assert!(e.contains("--image-size 0"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
