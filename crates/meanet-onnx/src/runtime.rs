//! Finding and loading the ONNX Runtime library, and session options.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::SessionBuilder;

use crate::{ORT_VERSION, OnnxError};

/// Where an execution provider runs the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Provider {
    /// ONNX Runtime's CPU provider (always available).
    #[default]
    Cpu,
    /// NVIDIA CUDA (cargo feature `cuda`, and an ONNX Runtime build with CUDA).
    Cuda,
    /// NVIDIA TensorRT (cargo feature `tensorrt`).
    TensorRt,
    /// Apple CoreML (cargo feature `coreml`).
    CoreMl,
    /// Intel OpenVINO (cargo feature `openvino`).
    OpenVino,
}

impl Provider {
    /// Parses `cpu`, `cuda`, `tensorrt`, `coreml` or `openvino`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cpu" => Some(Provider::Cpu),
            "cuda" => Some(Provider::Cuda),
            "tensorrt" => Some(Provider::TensorRt),
            "coreml" => Some(Provider::CoreMl),
            "openvino" => Some(Provider::OpenVino),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::CoreMl => "coreml",
            Provider::OpenVino => "openvino",
        }
    }

    fn dispatch(self) -> Result<Option<ort::ep::ExecutionProviderDispatch>, OnnxError> {
        let missing = |feature: &str| OnnxError::ProviderUnavailable {
            provider: self.name(),
            reason: format!("meanet-onnx was built without its `{feature}` cargo feature"),
        };
        match self {
            Provider::Cpu => Ok(None),
            #[cfg(feature = "cuda")]
            Provider::Cuda => Ok(Some(ort::ep::CUDA::default().build().error_on_failure())),
            #[cfg(feature = "tensorrt")]
            Provider::TensorRt => Ok(Some(
                ort::ep::TensorRT::default().build().error_on_failure(),
            )),
            #[cfg(feature = "coreml")]
            Provider::CoreMl => Ok(Some(ort::ep::CoreML::default().build().error_on_failure())),
            #[cfg(feature = "openvino")]
            Provider::OpenVino => Ok(Some(
                ort::ep::OpenVINO::default().build().error_on_failure(),
            )),
            #[allow(unreachable_patterns)]
            other => Err(missing(other.name())),
        }
    }
}

/// How sessions are created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// The library to load; `None` searches (see [`find_library`]).
    pub library: Option<PathBuf>,
    /// The execution provider. Requesting one that cannot be used is an error, never a silent
    /// fallback to the CPU.
    pub provider: Provider,
    /// Threads inside one operator (`None`: ONNX Runtime's default).
    pub intra_threads: Option<usize>,
    /// Threads across operators (`None`: ONNX Runtime's default).
    pub inter_threads: Option<usize>,
    /// Give memory back after each run: the CPU arena and the memory pattern off, so a session
    /// holds its weights between runs and not the peak of its largest batch (for a memory
    /// budget; a little slower).
    pub frugal: bool,
}

/// A loaded ONNX Runtime: the process-wide environment plus session options.
#[derive(Debug, Clone)]
pub struct Runtime {
    env: Environment,
    library: PathBuf,
    options: RuntimeOptions,
}

static LOADED: OnceLock<(Environment, PathBuf)> = OnceLock::new();

impl Runtime {
    /// Loads ONNX Runtime (once per process; later calls reuse the first library) and keeps
    /// `options` for the sessions this runtime creates.
    pub fn new(options: RuntimeOptions) -> Result<Self, OnnxError> {
        let (env, library) = match LOADED.get() {
            Some(loaded) => loaded.clone(),
            None => {
                let path = match &options.library {
                    Some(p) if p.exists() => p.clone(),
                    Some(p) => return Err(OnnxError::LibraryMissing(p.clone())),
                    None => find_library()?,
                };
                let builder = ort::init_from(&path).map_err(|source| OnnxError::LoadLibrary {
                    path: path.clone(),
                    source,
                })?;
                let env = builder
                    .with_name("meanet")
                    .build()
                    .map_err(OnnxError::Environment)?;
                LOADED.get_or_init(|| (env, path)).clone()
            }
        };
        // Fail now, not at the first model, when a provider cannot be used.
        options.provider.dispatch()?;
        Ok(Runtime {
            env,
            library,
            options,
        })
    }

    /// Loads ONNX Runtime with default options.
    pub fn with_defaults() -> Result<Self, OnnxError> {
        Self::new(RuntimeOptions::default())
    }

    /// The ONNX Runtime environment, for callers that drive `ort` directly (benchmarks comparing
    /// against raw sessions).
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The options sessions are created with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// A session for the model at `path`, with this runtime's options.
    pub(crate) fn session(&self, path: &Path) -> Result<Session, OnnxError> {
        let opts = |source: ort::Error| OnnxError::Options {
            path: path.to_path_buf(),
            source,
        };
        let mut builder: SessionBuilder = Session::builder(&self.env).map_err(opts)?;
        if self.options.frugal {
            builder = builder
                .with_memory_pattern(false)
                .map_err(|e| opts(e.into()))?;
            if self.options.provider == Provider::Cpu {
                builder = builder
                    .with_execution_providers([ort::ep::CPU::default()
                        .with_arena_allocator(false)
                        .build()
                        .error_on_failure()])
                    .map_err(|e| opts(e.into()))?;
            }
        }
        if let Some(ep) = self.options.provider.dispatch()? {
            builder = builder.with_execution_providers([ep]).map_err(|e| {
                OnnxError::ProviderUnavailable {
                    provider: self.options.provider.name(),
                    reason: ort::Error::<()>::from(e).to_string(),
                }
            })?;
        }
        if let Some(n) = self.options.intra_threads {
            builder = builder.with_intra_threads(n).map_err(|e| opts(e.into()))?;
        }
        if let Some(n) = self.options.inter_threads {
            builder = builder.with_inter_threads(n).map_err(|e| opts(e.into()))?;
        }
        builder
            .commit_from_file(path)
            .map_err(|source| OnnxError::Load {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// Finds `libonnxruntime`: `ORT_DYLIB_PATH`; then the cache filled by `scripts/setup`,
/// `onnxruntime/<version>/` under the cache root of meanet's one rule
/// ([`meanet_core::cache`]: `MEANET_CACHE`, the workspace's `.cache`, the user's cache
/// directory); then `.cache/onnxruntime/<version>/` in the executable's directory or any of its
/// parents (a `target/debug/meanet` run from elsewhere); then a Python `onnxruntime`
/// installation.
pub fn find_library() -> Result<PathBuf, OnnxError> {
    let mut tried = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(OnnxError::LibraryMissing(p))
        };
    }
    tried.push("$ORT_DYLIB_PATH (unset)".to_string());

    let in_cache = Path::new("onnxruntime")
        .join(ORT_VERSION)
        .join(format!("libonnxruntime.so.{ORT_VERSION}"));
    let cwd = std::env::current_dir().ok();
    let home = meanet_core::cache::resolve_cache(
        std::env::var_os(meanet_core::cache::CACHE_ENV).as_deref(),
        cwd.as_deref(),
        Path::is_file,
        dirs::cache_dir().as_deref(),
    );
    if let Some(root) = home {
        let candidate = root.path.join(&in_cache);
        if candidate.exists() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    let rel = Path::new(".cache").join(&in_cache);
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        if let Some(candidate) = exe_dir
            .ancestors()
            .map(|dir| dir.join(&rel))
            .find(|c| c.exists())
        {
            return Ok(candidate);
        }
        tried.push(format!("{}/**/{}", exe_dir.display(), rel.display()));
    }

    if let Some(p) = python_onnxruntime() {
        return Ok(p);
    }
    tried.push("python3 -c 'import onnxruntime'".to_string());
    Err(OnnxError::LibraryNotFound { tried })
}

/// The library shipped inside a Python `onnxruntime` package, if one is installed.
fn python_onnxruntime() -> Option<PathBuf> {
    let script = "import onnxruntime, os, glob; d = os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'); \
                  print(sorted(glob.glob(os.path.join(d, 'libonnxruntime.so*')))[-1])";
    let out = Command::new("python3").args(["-c", script]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    path.exists().then_some(path)
}
