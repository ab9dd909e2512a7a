//! The IDX format (MNIST, Fashion-MNIST), plain or gzip-compressed.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset, Label};

/// Largest decompressed IDX file read (a gzip bomb is an error, not an out-of-memory abort).
pub const MAX_IDX_BYTES: u64 = 4 << 30;

fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| DataError::Corrupt {
                path: path.to_path_buf(),
                offset: out.len() as u64,
                reason: format!("gzip stream is damaged: {e}"),
            })?;
        if out.len() as u64 > MAX_IDX_BYTES {
            return Err(DataError::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                reason: format!("decompresses to more than {MAX_IDX_BYTES} bytes"),
            });
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file of unsigned bytes (plain or gzip): returns its dimensions and data.
pub fn load_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let bytes = read(path)?;
    parse_idx(&bytes, path).map(|(dims, data)| (dims, data.to_vec()))
}

/// Parses the bytes of an (uncompressed) IDX file of unsigned bytes; `path` names it in errors.
/// Every declared dimension is checked, with checked arithmetic, against the bytes present.
pub fn parse_idx<'a>(bytes: &'a [u8], path: &Path) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let corrupt = |offset: usize, reason: String| DataError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    if bytes.len() < 4 {
        return Err(corrupt(
            0,
            format!("file is {} bytes, shorter than the IDX magic", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(corrupt(
            0,
            "not an IDX file (magic must start with two zero bytes)".into(),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(corrupt(
            2,
            format!(
                "element type 0x{:02x} is not unsigned byte (0x08)",
                bytes[2]
            ),
        ));
    }
    let ndim = usize::from(bytes[3]);
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(corrupt(
            bytes.len(),
            format!("truncated header: {ndim} dimensions need {header} bytes"),
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let have = bytes.len() - header;
    let Some(count) = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return Err(corrupt(
            4,
            format!("dimensions {dims:?} hold more elements than memory can address"),
        ));
    };
    if have < count {
        let per = dims
            .iter()
            .skip(1)
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or(usize::MAX)
            .max(1);
        return Err(corrupt(
            bytes.len(),
            format!(
                "truncated data: dimensions {dims:?} need {count} bytes, found {have} (record {} is incomplete)",
                have / per
            ),
        ));
    }
    if have > count {
        return Err(corrupt(
            header + count,
            format!("{} bytes of trailing garbage", have - count),
        ));
    }
    Ok((dims, &bytes[header..]))
}

/// Reads an images file (`N x H x W`) and its labels file (`N`) into a data set.
pub fn load_idx_pair(images: &Path, labels: &Path, classes: &[&str]) -> Result<Dataset, DataError> {
    let (idims, pixels) = load_idx(images)?;
    let (ldims, labels_v) = load_idx(labels)?;
    let bad = |p: &Path, reason: String| DataError::Corrupt {
        path: PathBuf::from(p),
        offset: 2,
        reason,
    };
    if idims.len() != 3 {
        return Err(bad(
            images,
            format!("images need 3 dimensions (N, H, W), found {idims:?}"),
        ));
    }
    if ldims.len() != 1 {
        return Err(bad(
            labels,
            format!("labels need 1 dimension, found {ldims:?}"),
        ));
    }
    if idims[0] != ldims[0] {
        return Err(DataError::Mismatch(format!(
            "{} holds {} images but {} holds {} labels",
            images.display(),
            idims[0],
            labels.display(),
            ldims[0]
        )));
    }
    if let Some((i, &l)) = labels_v
        .iter()
        .enumerate()
        .find(|(_, l)| usize::from(**l) >= classes.len())
    {
        return Err(DataError::Corrupt {
            path: labels.to_path_buf(),
            offset: (8 + i) as u64,
            reason: format!(
                "label {l} of record {i} is not below {} classes",
                classes.len()
            ),
        });
    }
    Dataset::from_pixels(
        pixels,
        labels_v.into_iter().map(Label::from).collect(),
        [1, idims[1], idims[2]],
        classes.iter().map(|s| s.to_string()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("meanet-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_plain_and_gzip_pairs() {
        let pixels: Vec<u8> = (0..3 * 2 * 2).map(|v| v as u8).collect();
        let images = idx(&[3, 2, 2], &pixels);
        let labels = idx(&[3], &[0, 2, 1]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&images).unwrap();
        let gz = gz.finish().unwrap();
        for img in [tmp("i.idx", &images), tmp("i.idx.gz", &gz)] {
            let d = load_idx_pair(&img, &tmp("l.idx", &labels), &["a", "b", "c"]).unwrap();
            assert_eq!(d.len(), 3);
            assert_eq!(d.shape, [1, 2, 2]);
            assert_eq!(d.read(&[1]).unwrap(), [4, 5, 6, 7]);
            assert_eq!(d.labels, vec![0, 2, 1]);
        }
    }

    #[test]
    fn truncated_and_corrupt_files_name_file_and_offset() {
        let full = idx(&[3, 2, 2], &[7; 12]);
        let p = tmp("trunc.idx", &full[..full.len() - 5]);
        let e = load_idx(&p).unwrap_err().to_string();
        assert!(
            e.contains("trunc.idx")
                && e.contains("record 1 is incomplete")
                && e.contains("at byte 23"),
            "{e}"
        );
        let e = load_idx(&tmp("magic.idx", &[1, 2, 3, 4, 5]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not an IDX file") && e.contains("at byte 0"),
            "{e}"
        );
        let e = load_idx(&tmp("short.idx", &[0, 0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("shorter than the IDX magic"), "{e}");
        let e = load_idx(&tmp("hdr.idx", &[0, 0, 8, 3, 0, 0]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated header"), "{e}");
        let e = load_idx(&tmp("gz.idx", &[0x1f, 0x8b, 8, 0, 1, 2]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("gzip stream is damaged"), "{e}");
        let e = load_idx_pair(
            &tmp("a.idx", &full),
            &tmp("b.idx", &idx(&[2], &[0, 1])),
            &["x", "y"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("holds 3 images but"), "{e}");
        let e = load_idx_pair(
            &tmp("a.idx", &full),
            &tmp("c.idx", &idx(&[3], &[0, 5, 1])),
            &["x", "y"],
        )
        .unwrap_err();
        assert!(e.to_string().contains("label 5 of record 1"), "{e}");
        assert!(
            load_idx(Path::new("/nonexistent/x.idx"))
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/x.idx")
        );
    }
}
