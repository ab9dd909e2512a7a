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

#[test]
fn a_user_directory_with_generated_idx_files_is_used() {
    let dir = std::env::temp_dir().join(format!("meanet-fm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let idx = |dims: &[u32], data: Vec<u8>| {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend(data);
        v
    };
    for (prefix, n) in [("train", 20u32), ("t10k", 10)] {
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            idx(&[n, 28, 28], vec![9; (n * 784) as usize]),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx(&[n], (0..n).map(|i| (i % 10) as u8).collect()),
        )
        .unwrap();
    }
    let (train, test) = fashion_mnist(Some(&dir), &dir.join("cache")).unwrap();
    assert_eq!((train.len(), test.len()), (20, 10));
    assert_eq!(train.classes[9], "Ankle boot");
    let missing = fashion_mnist(Some(&dir.join("nope")), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("does not hold the four IDX files"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
