//! An image-folder tree (ImageNet style): `root/<class>/<image>`, classes in sorted order.

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, Label};

/// Reads every PNG/JPEG under `root/<class>/`, resized to `size x size`, as RGB (`channels = 3`)
/// or grayscale (`channels = 1`).
pub fn load_image_folder(root: &Path, size: u32, channels: usize) -> Result<Dataset, DataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Io { path, source }
    };
    let mut classes: Vec<(String, PathBuf)> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(DataError::Mismatch(format!(
            "{} has no class folders",
            root.display()
        )));
    }
    if classes.len() > usize::from(Label::MAX) + 1 {
        return Err(DataError::Mismatch(format!(
            "{} has {} classes; at most {} are supported",
            root.display(),
            classes.len(),
            usize::from(Label::MAX) + 1
        )));
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (label, (_, dir)) in (0..=Label::MAX).zip(&classes) {
        for f in image_files(dir)? {
            pixels.extend(decode_chw(&f, size, size, channels)?);
            labels.push(label);
        }
    }
    Ok(Dataset {
        pixels,
        labels,
        shape: [
            if channels == 1 { 1 } else { 3 },
            size as usize,
            size as usize,
        ],
        classes: classes.into_iter().map(|(n, _)| n).collect(),
    })
}

/// Decodes an image, resized to `h x w`, as `channels` (1: grayscale, else RGB) planes, CHW.
fn decode_chw(path: &Path, h: u32, w: u32, channels: usize) -> Result<Vec<u8>, DataError> {
    let img = image::open(path).map_err(|source| DataError::Image {
        path: path.to_path_buf(),
        source,
    })?;
    let img = img.resize_exact(w, h, image::imageops::FilterType::Triangle);
    let (plane, raw) = match channels {
        1 => (1, img.to_luma8().into_raw()),
        _ => (3, img.to_rgb8().into_raw()),
    };
    let hw = (h * w) as usize;
    Ok((0..plane)
        .flat_map(|c| raw.iter().skip(c).step_by(plane).take(hw).copied())
        .collect())
}

/// The PNG/JPEG files directly in `dir`, sorted by name.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| DataError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads every PNG/JPEG directly in `dir` (sorted by name), resized to `h x w`, unlabelled.
pub fn load_image_folder_flat(
    dir: &Path,
    h: u32,
    w: u32,
    channels: usize,
) -> Result<Dataset, DataError> {
    let files = image_files(dir)?;
    let mut pixels = Vec::new();
    for f in &files {
        pixels.extend(decode_chw(f, h, w, channels)?);
    }
    Ok(Dataset {
        pixels,
        labels: vec![0; files.len()],
        shape: [if channels == 1 { 1 } else { 3 }, h as usize, w as usize],
        classes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_generated_tree_and_names_broken_images() {
        let root = std::env::temp_dir().join(format!("meanet-folder-{}", std::process::id()));
        for (class, shade) in [("cat", 10u8), ("dog", 200u8)] {
            std::fs::create_dir_all(root.join(class)).unwrap();
            for i in 0..2 {
                let img = image::RgbImage::from_pixel(12, 10, image::Rgb([shade, shade / 2, i]));
                img.save(root.join(class).join(format!("{i}.png"))).unwrap();
            }
        }
        let d = load_image_folder(&root, 8, 3).unwrap();
        assert_eq!(d.classes, vec!["cat", "dog"]);
        assert_eq!(d.labels, vec![0, 0, 1, 1]);
        assert_eq!(d.shape, [3, 8, 8]);
        assert_eq!(d.sample(2)[0], 200);
        assert_eq!(d.sample(2)[64], 100);
        std::fs::write(root.join("dog/broken.jpg"), b"not a jpeg").unwrap();
        let e = load_image_folder(&root, 8, 3).unwrap_err().to_string();
        assert!(e.contains("broken.jpg"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn more_than_256_classes_get_their_own_labels() {
        let root = std::env::temp_dir().join(format!("meanet-folder-many-{}", std::process::id()));
        for c in 0..300 {
            let dir = root.join(format!("class{c:04}"));
            std::fs::create_dir_all(&dir).unwrap();
            image::GrayImage::from_pixel(2, 2, image::Luma([(c % 256) as u8]))
                .save(dir.join("0.png"))
                .unwrap();
        }
        let d = load_image_folder(&root, 2, 1).unwrap();
        assert_eq!(d.classes.len(), 300);
        assert_eq!(d.labels[299], 299);
        assert_eq!(d.classes[299], "class0299");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
