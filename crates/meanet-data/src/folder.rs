//! An image-folder tree (ImageNet style): `root/<class>/<image>`, classes in sorted order. The
//! tree is listed, not read: images are decoded batch by batch when used (see
//! [`Batches`](crate::Batches)).

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, ImageFiles, Label, Resize};

/// The PNG/JPEG files under `root/<class>/`, as samples of `size x size`, RGB (`channels = 3`)
/// or grayscale (`channels = 1`), resized as `resize` says.
pub fn load_image_folder(
    root: &Path,
    size: u32,
    channels: usize,
    resize: Resize,
) -> Result<Dataset, DataError> {
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
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    for (label, (_, dir)) in (0..=Label::MAX).zip(&classes) {
        let files = image_files(dir)?;
        labels.extend(std::iter::repeat_n(label, files.len()));
        paths.extend(files);
    }
    let names = classes.into_iter().map(|(n, _)| n).collect();
    files_dataset(paths, labels, names, size, channels, resize)
}

/// A set read lazily from `paths`, samples of `size x size` in `channels` (1: grayscale, else
/// RGB).
fn files_dataset(
    paths: Vec<PathBuf>,
    labels: Vec<Label>,
    classes: Vec<String>,
    size: u32,
    channels: usize,
    resize: Resize,
) -> Result<Dataset, DataError> {
    let files = ImageFiles {
        paths,
        side: size,
        channels: if channels == 1 { 1 } else { 3 },
        resize,
    };
    Dataset::from_files(files, labels, classes)
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

/// Every PNG/JPEG directly in `dir` (sorted by name), as unlabelled samples of `size x size`.
pub fn load_image_folder_flat(
    dir: &Path,
    size: u32,
    channels: usize,
    resize: Resize,
) -> Result<Dataset, DataError> {
    let paths = image_files(dir)?;
    let labels = vec![0; paths.len()];
    files_dataset(paths, labels, Vec::new(), size, channels, resize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("meanet-folder-{name}-{}", std::process::id()))
    }

    #[test]
    fn reads_a_generated_tree_and_names_broken_images() {
        let root = tree("read");
        for (class, shade) in [("cat", 10u8), ("dog", 200u8)] {
            std::fs::create_dir_all(root.join(class)).unwrap();
            for i in 0..2 {
                let img = image::RgbImage::from_pixel(12, 10, image::Rgb([shade, shade / 2, i]));
                img.save(root.join(class).join(format!("{i}.png"))).unwrap();
            }
        }
        let d = load_image_folder(&root, 8, 3, Resize::Stretch).unwrap();
        assert_eq!(d.classes, vec!["cat", "dog"]);
        assert_eq!(d.labels, vec![0, 0, 1, 1]);
        assert_eq!(d.shape, [3, 8, 8]);
        let px = d.read(&[2]).unwrap();
        assert_eq!((px[0], px[64]), (200, 100));
        let crop = load_image_folder(&root, 8, 3, Resize::Crop).unwrap();
        assert_eq!(
            crop.read(&[2]).unwrap(),
            px,
            "a flat image crops to the same pixels"
        );
        std::fs::write(root.join("dog/broken.jpg"), b"not a jpeg").unwrap();
        let d = load_image_folder(&root, 8, 3, Resize::Stretch).unwrap();
        let e = d.read(&[0, 1, 2, 3, 4]).unwrap_err().to_string();
        assert!(e.contains("broken.jpg"), "{e}");
        let mut batches = d.batches(&[0, 1, 2, 3, 4], 2, None);
        assert!(batches.next().unwrap().is_ok());
        assert!(batches.next().unwrap().is_ok());
        let e = batches.next().unwrap().unwrap_err().to_string();
        assert!(e.contains("broken.jpg"), "{e}");
        assert!(batches.next().is_none(), "reading stops at the error");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn more_than_256_classes_get_their_own_labels() {
        let root = tree("many");
        for c in 0..300 {
            let dir = root.join(format!("class{c:04}"));
            std::fs::create_dir_all(&dir).unwrap();
            image::GrayImage::from_pixel(2, 2, image::Luma([(c % 256) as u8]))
                .save(dir.join("0.png"))
                .unwrap();
        }
        let d = load_image_folder(&root, 2, 1, Resize::Stretch).unwrap();
        assert_eq!(d.classes.len(), 300);
        assert_eq!(d.labels[299], 299);
        assert_eq!(d.classes[299], "class0299");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn crops_centre_for_evaluation_and_at_random_for_training() {
        let root = tree("crop");
        std::fs::create_dir_all(root.join("a")).unwrap();
        // A wide image: left third black, middle white, right third black.
        let img = image::RgbImage::from_fn(300, 100, |x, _| {
            let v = if (100..200).contains(&x) { 255 } else { 0 };
            image::Rgb([v, v, v])
        });
        img.save(root.join("a/wide.png")).unwrap();
        let stretch = load_image_folder(&root, 16, 3, Resize::Stretch).unwrap();
        let crop = load_image_folder(&root, 16, 3, Resize::Crop).unwrap();
        let s = stretch.read(&[0]).unwrap();
        let c = crop.read(&[0]).unwrap();
        // Stretched, the black thirds stay; cropped to the centre, it is all white.
        assert_eq!(s[0], 0);
        assert!(c[..256].iter().all(|&v| v == 255), "{:?}", &c[..16]);
        let order = vec![0; 8];
        let a: Vec<_> = crop
            .batches(&order, 8, Some(5))
            .map(Result::unwrap)
            .collect();
        let b: Vec<_> = crop
            .batches(&order, 8, Some(5))
            .map(Result::unwrap)
            .collect();
        assert_eq!(a, b, "the same seed, the same crops");
        let other: Vec<_> = crop
            .batches(&order, 8, Some(6))
            .map(Result::unwrap)
            .collect();
        assert_ne!(a, other);
        assert!(crop.augments_when_read() && !stretch.augments_when_read());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
