//! The data-set readers over arbitrary bytes: an answer or an error naming the file, never a
//! panic, and a success always agrees with the bytes present.

#![allow(clippy::unwrap_used)] // test code: a panic is a failure

use std::path::Path;

use meanet_data::{CifarKind, parse_cifar, parse_idx};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn idx_reader_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let path = Path::new("hostile.idx");
        match parse_idx(&bytes, path) {
            Ok((dims, data)) => prop_assert_eq!(dims.iter().product::<usize>(), data.len()),
            Err(e) => prop_assert!(e.to_string().contains("hostile.idx"), "{}", e),
        }
    }

    /// A valid-looking header that declares huge dimensions: the product is checked.
    #[test]
    fn idx_dimensions_are_checked_against_the_bytes(dims in prop::collection::vec(any::<u32>(), 0..6), tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = vec![0, 0, 8, u8::try_from(dims.len()).unwrap()];
        for d in &dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(&tail);
        if let Ok((got, data)) = parse_idx(&bytes, Path::new("x.idx")) {
            prop_assert_eq!(got.iter().product::<usize>(), data.len());
            prop_assert_eq!(data.len(), tail.len());
        }
    }

    #[test]
    fn cifar_reader_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..7000), hundred: bool) {
        let kind = if hundred { CifarKind::Cifar100 } else { CifarKind::Cifar10 };
        match parse_cifar(&bytes, kind, Path::new("hostile.bin")) {
            Ok((pixels, labels)) => prop_assert_eq!(pixels.len(), labels.len() * 3072),
            Err(e) => prop_assert!(e.to_string().contains("hostile.bin"), "{}", e),
        }
    }
}
