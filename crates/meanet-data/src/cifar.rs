//! The CIFAR-10 / CIFAR-100 binary formats.
//!
//! CIFAR-10 records: 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32).
//! CIFAR-100 records: 1 coarse label byte + 1 fine label byte + 3072 pixel bytes.

use std::path::Path;

use super::{DataError, Dataset, Label};

/// Which CIFAR binary layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// 10 classes, one label byte per record.
    Cifar10,
    /// 100 fine classes, coarse + fine label bytes per record (the fine label is used).
    Cifar100,
}

const PIXELS: usize = 3 * 32 * 32;

impl CifarKind {
    /// Label bytes per record and number of classes.
    fn layout(self) -> (usize, usize) {
        match self {
            CifarKind::Cifar10 => (1, 10),
            CifarKind::Cifar100 => (2, 100),
        }
    }
}

/// Parses the bytes of one CIFAR binary batch file: `(pixels, labels)`, checking that the file
/// is whole records and every label is in range; `path` names the file in errors.
pub fn parse_cifar(
    bytes: &[u8],
    kind: CifarKind,
    path: &Path,
) -> Result<(Vec<u8>, Vec<Label>), DataError> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    append_cifar(bytes, kind, path, &mut pixels, &mut labels)?;
    Ok((pixels, labels))
}

/// [`parse_cifar`], appending to `pixels` and `labels` (so a data set of several files is
/// copied once).
fn append_cifar(
    bytes: &[u8],
    kind: CifarKind,
    path: &Path,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<Label>,
) -> Result<(), DataError> {
    let (label_bytes, n_classes) = kind.layout();
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        let whole = bytes.len() / record;
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            offset: (whole * record) as u64,
            reason: format!(
                "{} bytes is not a whole number of {record}-byte records (record {whole} is incomplete)",
                bytes.len()
            ),
        });
    }
    let n = bytes.len() / record;
    pixels.reserve(n * PIXELS);
    labels.reserve(n);
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[label_bytes - 1];
        if usize::from(label) >= n_classes {
            return Err(DataError::Corrupt {
                path: path.to_path_buf(),
                offset: (i * record + label_bytes - 1) as u64,
                reason: format!("record {i} has label {label}, not below {n_classes}"),
            });
        }
        labels.push(Label::from(label));
        pixels.extend_from_slice(&r[label_bytes..]);
    }
    Ok(())
}

/// Reads CIFAR binary batch files (in order) into one data set with `classes` names.
pub fn load_cifar(
    files: &[&Path],
    kind: CifarKind,
    classes: &[String],
) -> Result<Dataset, DataError> {
    let (_, n_classes) = kind.layout();
    if classes.len() != n_classes {
        return Err(DataError::Mismatch(format!(
            "{kind:?} has {n_classes} classes but {} names were given",
            classes.len()
        )));
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        append_cifar(&bytes, kind, path, &mut pixels, &mut labels)?;
    }
    Dataset::from_pixels(pixels, labels, [3, 32, 32], classes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    fn write(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("meanet-cifar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_generated_cifar10_and_cifar100_files() {
        let mut c10 = Vec::new();
        for l in [3u8, 7] {
            c10.push(l);
            c10.extend((0..PIXELS).map(|i| (i % 251) as u8 ^ l));
        }
        let d = load_cifar(
            &[&write("data_batch_1.bin", &c10)],
            CifarKind::Cifar10,
            &names(10),
        )
        .unwrap();
        assert_eq!(d.labels, vec![3, 7]);
        assert_eq!(d.shape, [3, 32, 32]);
        assert_eq!(d.read(&[1]).unwrap()[0], 7);
        let mut c100 = Vec::new();
        for (coarse, fine) in [(1u8, 42u8), (19, 99)] {
            c100.extend([coarse, fine]);
            c100.extend(std::iter::repeat_n(fine, PIXELS));
        }
        let d = load_cifar(
            &[&write("train.bin", &c100)],
            CifarKind::Cifar100,
            &names(100),
        )
        .unwrap();
        assert_eq!(d.labels, vec![42, 99]);
        assert_eq!(d.read(&[0]).unwrap()[5], 42);
    }

    #[test]
    fn truncated_and_bad_records_are_named() {
        let mut c10 = vec![1u8];
        c10.extend(vec![0u8; PIXELS]);
        c10.extend([2u8, 0, 0]);
        let e = load_cifar(&[&write("cut.bin", &c10)], CifarKind::Cifar10, &names(10))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cut.bin")
                && e.contains("record 1 is incomplete")
                && e.contains("at byte 3073"),
            "{e}"
        );
        let mut bad = vec![12u8];
        bad.extend(vec![0u8; PIXELS]);
        let e = load_cifar(&[&write("bad.bin", &bad)], CifarKind::Cifar10, &names(10))
            .unwrap_err()
            .to_string();
        assert!(e.contains("record 0 has label 12"), "{e}");
        assert!(
            load_cifar(
                &[&write("ok.bin", &[0u8; 3073])],
                CifarKind::Cifar10,
                &names(3)
            )
            .is_err()
        );
    }
}
