//! Getting Fashion-MNIST: from a directory the user gives, else Debian's
//! `/usr/share/datasets/fashion-mnist`, else `apt-get download dataset-fashion-mnist` and
//! `dpkg-deb -x` into a cache directory. Idempotent.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::DataError;

/// Fashion-MNIST class names in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

fn file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

fn complete(dir: &Path) -> bool {
    [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    .iter()
    .all(|s| file(dir, s).is_some())
}

/// The cache root by meanet's one rule ([`meanet_core::cache`]): `MEANET_CACHE`, else the
/// `.cache` of the meanet workspace holding the working directory, else `meanet/` under the
/// user's cache directory. Reads the environment and the file system; `None` only when no home
/// directory is known either.
pub fn cache_root() -> Option<meanet_core::cache::CacheRoot> {
    let cwd = std::env::current_dir().ok();
    meanet_core::cache::resolve_cache(
        std::env::var_os(meanet_core::cache::CACHE_ENV).as_deref(),
        cwd.as_deref(),
        Path::is_file,
        dirs::cache_dir().as_deref(),
    )
}

/// Where data sets are kept when no `--cache` is given: `datasets/` under [`cache_root`], or
/// `.cache/datasets` in the working directory when no root is known at all.
pub fn default_dataset_cache() -> PathBuf {
    cache_root().map_or_else(|| PathBuf::from(".cache/datasets"), |r| r.datasets())
}

/// Finds (fetching if needed) Fashion-MNIST and returns the directory holding its IDX files.
pub fn locate_fashion_mnist(user_dir: Option<&Path>, cache: &Path) -> Result<PathBuf, DataError> {
    let fail = |reason: String| DataError::Fetch {
        name: "fashion-mnist".into(),
        reason,
    };
    if let Some(d) = user_dir {
        return if complete(d) {
            Ok(d.to_path_buf())
        } else {
            Err(fail(format!(
                "{} does not hold the four IDX files (train-images-idx3-ubyte[.gz], ...)",
                d.display()
            )))
        };
    }
    let debian = Path::new(DEBIAN_DIR);
    if complete(debian) {
        return Ok(debian.to_path_buf());
    }
    let extracted = cache.join("fashion-mnist").join("root");
    let dir = extracted.join("usr/share/datasets/fashion-mnist");
    if complete(&dir) {
        return Ok(dir);
    }
    let download = cache.join("fashion-mnist").join("deb");
    std::fs::create_dir_all(&download)
        .map_err(|e| fail(format!("creating {}: {e}", download.display())))?;
    let run = |cmd: &mut Command, what: &str| -> Result<(), DataError> {
        let out = cmd.output().map_err(|e| fail(format!("{what}: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(fail(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    run(
        Command::new("apt-get")
            .args(["download", "dataset-fashion-mnist"])
            .current_dir(&download),
        "apt-get download dataset-fashion-mnist (no directory given and none in /usr/share/datasets)",
    )?;
    let deb = std::fs::read_dir(&download)
        .map_err(|e| fail(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| {
            fail(format!(
                "no .deb in {} after apt-get download",
                download.display()
            ))
        })?;
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted),
        "dpkg-deb -x",
    )?;
    if complete(&dir) {
        Ok(dir)
    } else {
        Err(fail(format!(
            "the package did not contain the IDX files under {}",
            dir.display()
        )))
    }
}
