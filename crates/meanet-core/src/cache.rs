//! Where meanet keeps what it fetches (data sets, the ONNX Runtime library): one rule shared by
//! `scripts/setup`, the CLI, the adapters and the tests.
//!
//! 1. `MEANET_CACHE`, when set and not empty;
//! 2. else the `.cache` directory of the meanet workspace that holds the working directory (so a
//!    checkout keeps its data beside it, in a directory `.gitignore` ignores at any depth);
//! 3. else `meanet/` under the user's cache directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux).
//!
//! A command's `--cache` flag wins over all three. The rule is pure: the caller reads the
//! environment and the file system and passes what it found, so it is tested without either.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The environment variable that names the cache root.
pub const CACHE_ENV: &str = "MEANET_CACHE";

/// Which step of the rule chose a cache root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOrigin {
    /// `MEANET_CACHE`.
    Env,
    /// The `.cache` of the workspace that holds the working directory.
    Workspace,
    /// The user's cache directory.
    User,
}

/// A resolved cache root. Data sets live under `datasets/`, the ONNX Runtime library under
/// `onnxruntime/<version>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRoot {
    /// The directory.
    pub path: PathBuf,
    /// Which step of the rule chose it.
    pub origin: CacheOrigin,
}

impl CacheRoot {
    /// Where data sets are kept.
    pub fn datasets(&self) -> PathBuf {
        self.path.join("datasets")
    }
}

/// Whether `dir` is the root of a meanet workspace: it holds `Cargo.toml` and
/// `crates/meanet-core/Cargo.toml`. `is_file` is the caller's probe of the file system.
pub fn is_meanet_workspace(dir: &Path, is_file: impl Fn(&Path) -> bool) -> bool {
    is_file(&dir.join("Cargo.toml")) && is_file(&dir.join("crates/meanet-core/Cargo.toml"))
}

/// Applies the rule (module docs) to what the caller found: the value of [`CACHE_ENV`], the
/// working directory, the caller's probe of the file system (`is_file`, which
/// [`is_meanet_workspace`] asks), and the user's cache directory. `None` only when all three
/// steps come up empty.
pub fn resolve_cache(
    env: Option<&OsStr>,
    cwd: Option<&Path>,
    is_file: impl Fn(&Path) -> bool,
    user_cache: Option<&Path>,
) -> Option<CacheRoot> {
    if let Some(v) = env.filter(|v| !v.is_empty()) {
        return Some(CacheRoot {
            path: PathBuf::from(v),
            origin: CacheOrigin::Env,
        });
    }
    if let Some(root) = cwd.and_then(|c| c.ancestors().find(|d| is_meanet_workspace(d, &is_file))) {
        return Some(CacheRoot {
            path: root.join(".cache"),
            origin: CacheOrigin::Workspace,
        });
    }
    user_cache.map(|u| CacheRoot {
        path: u.join("meanet"),
        origin: CacheOrigin::User,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file system holding one meanet workspace, at /src/meanet.
    fn ws(f: &Path) -> bool {
        f == Path::new("/src/meanet/Cargo.toml")
            || f == Path::new("/src/meanet/crates/meanet-core/Cargo.toml")
    }

    #[test]
    fn the_rule_in_order() {
        let user = Some(Path::new("/home/u/.cache"));
        let inside = Some(Path::new("/src/meanet/crates/meanet-cli"));
        let outside = Some(Path::new("/tmp/elsewhere"));
        // (MEANET_CACHE, working directory, user cache) -> (root, origin)
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a Path>,
            Option<&'a Path>,
            Option<(&'a str, CacheOrigin)>,
        );
        let table: [Case<'_>; 6] = [
            (Some("/c"), inside, user, Some(("/c", CacheOrigin::Env))),
            // An empty variable is unset.
            (
                Some(""),
                inside,
                user,
                Some(("/src/meanet/.cache", CacheOrigin::Workspace)),
            ),
            (
                None,
                inside,
                user,
                Some(("/src/meanet/.cache", CacheOrigin::Workspace)),
            ),
            (
                None,
                outside,
                user,
                Some(("/home/u/.cache/meanet", CacheOrigin::User)),
            ),
            (
                None,
                None,
                user,
                Some(("/home/u/.cache/meanet", CacheOrigin::User)),
            ),
            (None, outside, None, None),
        ];
        for (env, cwd, user, want) in table {
            let got = resolve_cache(env.map(OsStr::new), cwd, ws, user);
            let want = want.map(|(p, origin)| CacheRoot {
                path: PathBuf::from(p),
                origin,
            });
            assert_eq!(got, want, "env {env:?}, cwd {cwd:?}, user {user:?}");
        }
    }

    #[test]
    fn a_workspace_is_recognised_by_its_core_crate() {
        let files = [
            "/w/Cargo.toml",
            "/w/crates/meanet-core/Cargo.toml",
            "/other/Cargo.toml",
        ];
        let probe = |p: &Path| files.iter().any(|f| Path::new(f) == p);
        assert!(is_meanet_workspace(Path::new("/w"), probe));
        assert!(!is_meanet_workspace(Path::new("/other"), probe));
        assert_eq!(
            resolve_cache(None, Some(Path::new("/w/a/b")), probe, None).map(|r| r.datasets()),
            Some(PathBuf::from("/w/.cache/datasets"))
        );
    }
}
