//! Which data set a command reads, and reading it: one entry point for every format.
//!
//! | kind            | `path` holds                                                          |
//! |-----------------|-----------------------------------------------------------------------|
//! | `fashion-mnist` | the four IDX files (default: Debian's, else fetched)                  |
//! | `mnist`         | the four IDX files (`train-images-idx3-ubyte[.gz]`, ...)              |
//! | `cifar10`       | the binary version: `data_batch_{1..5}.bin`, `test_batch.bin`         |
//! | `cifar100`      | the binary version: `train.bin`, `test.bin` (fine labels)             |
//! | `folder`        | `train/<class>/*.png\|jpg` and `test/<class>/*` (or `val/<class>/*`)  |
//!
//! IDX and CIFAR sets are small and read into memory; folders are listed, and their images
//! decoded batch by batch when used ([`Dataset::batches`](crate::Dataset::batches)).

use std::path::{Path, PathBuf};

pub use meanet_core::manifest::{DatasetKind, UnknownDataset};

use crate::{
    CifarKind, DataError, Dataset, FASHION_MNIST_CLASSES, Resize, load_cifar, load_idx_pair,
    load_image_folder, locate_fashion_mnist,
};

/// Where a data set is and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    /// The format.
    pub kind: DatasetKind,
    /// Its directory (required except for Fashion-MNIST, which is found or fetched).
    pub path: Option<PathBuf>,
    /// Side of the square images a folder is resized to (folders only; default 32).
    pub image_size: Option<u32>,
    /// How a folder's images are resized (folders only; default
    /// [`Resize::default_for`] the size).
    pub resize: Option<Resize>,
}

/// The default side images of a folder are resized to.
pub const DEFAULT_IMAGE_SIZE: u32 = 32;

/// The largest `--image-size` accepted (a 3 x 1024 x 1024 sample is 3 MiB).
pub const MAX_IMAGE_SIZE: u32 = 1024;

/// The training and test splits of a data set.
#[derive(Debug, Clone)]
pub struct Splits {
    /// The training split (meanet holds out its validation split from it).
    pub train: Dataset,
    /// The test split.
    pub test: Dataset,
}

const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

const CIFAR100_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

fn idx_file(dir: &Path, stem: &str) -> PathBuf {
    let gz = dir.join(format!("{stem}.gz"));
    if gz.is_file() { gz } else { dir.join(stem) }
}

fn idx_split(dir: &Path, prefix: &str, classes: &[&str]) -> Result<Dataset, DataError> {
    load_idx_pair(
        &idx_file(dir, &format!("{prefix}-images-idx3-ubyte")),
        &idx_file(dir, &format!("{prefix}-labels-idx1-ubyte")),
        classes,
    )
}

const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Class names of a CIFAR directory: `batches.meta.txt` / `fine_label_names.txt` when present
/// (and of the right length), else the published names.
fn cifar_classes(dir: &Path, kind: CifarKind) -> Vec<String> {
    let (file, builtin): (&str, &[&str]) = match kind {
        CifarKind::Cifar10 => ("batches.meta.txt", &CIFAR10_CLASSES),
        CifarKind::Cifar100 => ("fine_label_names.txt", &CIFAR100_CLASSES),
    };
    let names: Vec<String> = std::fs::read_to_string(dir.join(file))
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if names.len() == builtin.len() {
        names
    } else {
        builtin.iter().map(|s| s.to_string()).collect()
    }
}

/// The CIFAR batch files of one split in `dir`, checking they exist.
fn cifar_files(dir: &Path, kind: CifarKind, train: bool) -> Result<Vec<PathBuf>, DataError> {
    let names: Vec<String> = match (kind, train) {
        (CifarKind::Cifar10, true) => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        (CifarKind::Cifar10, false) => vec!["test_batch.bin".into()],
        (CifarKind::Cifar100, true) => vec!["train.bin".into()],
        (CifarKind::Cifar100, false) => vec!["test.bin".into()],
    };
    let files: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    match files.iter().find(|f| !f.is_file()) {
        Some(missing) => Err(DataError::Mismatch(format!(
            "{} is not a CIFAR binary directory: {} is missing (expected {})",
            dir.display(),
            missing.display(),
            names.join(", ")
        ))),
        None => Ok(files),
    }
}

fn cifar(dir: &Path, kind: CifarKind, files: &[PathBuf]) -> Result<Dataset, DataError> {
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    load_cifar(&refs, kind, &cifar_classes(dir, kind))
}

fn need_path(source: &DataSource) -> Result<&Path, DataError> {
    source.path.as_deref().ok_or_else(|| {
        DataError::Mismatch(format!(
            "--data: the {} data set needs the directory it is in",
            source.kind
        ))
    })
}

fn image_size(source: &DataSource) -> Result<u32, DataError> {
    let size = source.image_size.unwrap_or(DEFAULT_IMAGE_SIZE);
    if size == 0 || size > MAX_IMAGE_SIZE {
        return Err(DataError::Mismatch(format!(
            "--image-size {size} must be between 1 and {MAX_IMAGE_SIZE}"
        )));
    }
    Ok(size)
}

impl DataSource {
    /// A source of `kind` at `path`.
    pub fn new(kind: DatasetKind, path: Option<PathBuf>) -> Self {
        DataSource {
            kind,
            path,
            image_size: None,
            resize: None,
        }
    }

    /// How this source resizes a folder's images to `size`.
    pub fn resize_for(&self, size: u32) -> Resize {
        self.resize.unwrap_or_else(|| Resize::default_for(size))
    }

    /// Reads the training and test splits. `cache` is where Fashion-MNIST is fetched to.
    pub fn load(&self, cache: &Path) -> Result<Splits, DataError> {
        let (train, test) = match self.kind {
            DatasetKind::FashionMnist => {
                let dir = locate_fashion_mnist(self.path.as_deref(), cache)?;
                (
                    idx_split(&dir, "train", &FASHION_MNIST_CLASSES)?,
                    idx_split(&dir, "t10k", &FASHION_MNIST_CLASSES)?,
                )
            }
            DatasetKind::Mnist => {
                let dir = need_path(self)?;
                (
                    idx_split(dir, "train", &MNIST_CLASSES)?,
                    idx_split(dir, "t10k", &MNIST_CLASSES)?,
                )
            }
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
                let dir = need_path(self)?;
                let kind = self.cifar_kind();
                (
                    cifar(dir, kind, &cifar_files(dir, kind, true)?)?,
                    cifar(dir, kind, &cifar_files(dir, kind, false)?)?,
                )
            }
            DatasetKind::Folder => {
                let dir = need_path(self)?;
                let size = image_size(self)?;
                let test_dir = ["test", "val"]
                    .iter()
                    .map(|s| dir.join(s))
                    .find(|d| d.is_dir())
                    .ok_or_else(|| {
                        DataError::Mismatch(format!(
                            "{} has no test/ or val/ folder (expected train/<class>/* and test/<class>/*)",
                            dir.display()
                        ))
                    })?;
                let resize = self.resize_for(size);
                let train = load_image_folder(&dir.join("train"), size, 3, resize)?;
                let test = load_image_folder(&test_dir, size, 3, resize)?;
                if test.classes != train.classes {
                    return Err(DataError::Mismatch(format!(
                        "{} and {} have different class folders",
                        dir.join("train").display(),
                        test_dir.display()
                    )));
                }
                (train, test)
            }
        };
        Ok(Splits { train, test })
    }

    /// Reads the test split alone (what `run` and `eval` need): for IDX and CIFAR, the training
    /// files are not read at all.
    pub fn load_test(&self, cache: &Path) -> Result<Dataset, DataError> {
        match self.kind {
            DatasetKind::FashionMnist => {
                let dir = locate_fashion_mnist(self.path.as_deref(), cache)?;
                idx_split(&dir, "t10k", &FASHION_MNIST_CLASSES)
            }
            DatasetKind::Mnist => idx_split(need_path(self)?, "t10k", &MNIST_CLASSES),
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
                let dir = need_path(self)?;
                let kind = self.cifar_kind();
                cifar(dir, kind, &cifar_files(dir, kind, false)?)
            }
            // The class list comes from both folders, which must agree.
            DatasetKind::Folder => Ok(self.load(cache)?.test),
        }
    }

    /// Reads one labelled set in this source's format from `path` (a validation set the user
    /// provides): an IDX directory (the `t10k-*` pair, else the `train-*` pair), a CIFAR binary
    /// file or a directory of them (`test_batch.bin`/`test.bin`), or a folder
    /// `path/<class>/*` (also `path/val/<class>/*` or `path/test/<class>/*`).
    pub fn load_labelled(&self, path: &Path) -> Result<Dataset, DataError> {
        match self.kind {
            DatasetKind::FashionMnist | DatasetKind::Mnist => {
                let classes: &[&str] = match self.kind {
                    DatasetKind::Mnist => &MNIST_CLASSES,
                    _ => &FASHION_MNIST_CLASSES,
                };
                let prefix = if idx_file(path, "t10k-images-idx3-ubyte").is_file() {
                    "t10k"
                } else {
                    "train"
                };
                idx_split(path, prefix, classes)
            }
            DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
                let kind = self.cifar_kind();
                if path.is_file() {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    return cifar(dir, kind, &[path.to_path_buf()]);
                }
                cifar(path, kind, &cifar_files(path, kind, false)?)
            }
            DatasetKind::Folder => {
                let size = image_size(self)?;
                let root = ["val", "test"]
                    .iter()
                    .map(|s| path.join(s))
                    .find(|d| d.is_dir())
                    .unwrap_or_else(|| path.to_path_buf());
                load_image_folder(&root, size, 3, self.resize_for(size))
            }
        }
    }

    fn cifar_kind(&self) -> CifarKind {
        match self.kind {
            DatasetKind::Cifar100 => CifarKind::Cifar100,
            _ => CifarKind::Cifar10,
        }
    }
}

/// Loads Fashion-MNIST `(train, test)` (see [`locate_fashion_mnist`](crate::locate_fashion_mnist) for where from): the
/// `fashion-mnist` [`DataSource`].
pub fn fashion_mnist(
    user_dir: Option<&Path>,
    cache: &Path,
) -> Result<(Dataset, Dataset), DataError> {
    let source = DataSource::new(DatasetKind::FashionMnist, user_dir.map(Path::to_path_buf));
    let splits = source.load(cache)?;
    Ok((splits.train, splits.test))
}

#[cfg(test)]
mod tests;
