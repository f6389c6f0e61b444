//! ONNX Runtime: the only module that touches `ort`.
//!
//! ONNX Runtime is loaded at run time from a shared library (`load-dynamic`), obtained from the
//! PyPI wheel `onnxruntime==1.32.0` by `scripts/setup`. A session is not shareable across threads
//! (`Session::run` takes `&mut self`), so callers create one [`ModelSession`] per worker from a
//! shared [`OnnxModel`].

pub mod graph_ops;

use crate::error::{Error, Result};
use ort::session::{Session, builder::GraphOptimizationLevel};
use ort::value::{TensorElementType, TensorRef, ValueType};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The library file name inside the onnxruntime wheel that robcert is tested with.
pub const ORT_LIBRARY_FILE: &str = "libonnxruntime.so.1.32.0";
/// Rows of the batch-independence probe (see [`OnnxModel::load`]).
pub const BATCH_PROBE_ROWS: usize = 4;
/// Relative difference between a row's scores alone and in a batch that the probe tolerates
/// (kernels blocked differently for different batch sizes may round differently; measured: the
/// bundled models give identical bits).
pub const BATCH_PROBE_REL_TOLERANCE: f64 = 1e-5;

/// Where `scripts/setup` installs the wheel, relative to the repository root.
pub const ORT_DEFAULT_DIR: &str = ".ort/onnxruntime/capi";

static ENVIRONMENT: OnceLock<
    std::result::Result<(ort::environment::Environment, PathBuf), String>,
> = OnceLock::new();

/// Candidate locations of the ONNX Runtime library, in the order they are tried: an explicit
/// path, `ROBCERT_ORT_LIB`, `ORT_DYLIB_PATH`, then `.ort/` under the working directory and under
/// each ancestor of the executable (so `target/release/robcert` finds the repository's copy).
pub fn library_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push(p.to_path_buf());
        return out;
    }
    for var in ["ROBCERT_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            out.push(PathBuf::from(v));
        }
    }
    let rel = Path::new(ORT_DEFAULT_DIR).join(ORT_LIBRARY_FILE);
    if let Ok(cwd) = std::env::current_dir() {
        out.push(cwd.join(&rel));
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            out.push(dir.join(&rel));
        }
    }
    out
}

/// Loads ONNX Runtime once per process. `explicit` wins over the environment and defaults; a
/// second call returns the environment of the first.
pub fn init(explicit: Option<&Path>) -> Result<&'static ort::environment::Environment> {
    let outcome = ENVIRONMENT.get_or_init(|| {
        let candidates = library_candidates(explicit);
        let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
            return Err(format!(
                "missing:{}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let env = ort::init_from(&path)
            .map_err(|e| format!("init:{}:{e}", path.display()))?
            .with_name("robcert")
            .build()
            .map_err(|e| format!("init:{}:{e}", path.display()))?;
        Ok((env, path))
    });
    match outcome {
        Ok((env, _)) => Ok(env),
        Err(msg) => Err(match msg.split_once(':') {
            Some(("missing", searched)) => Error::RuntimeLibraryMissing {
                searched: searched.to_string(),
            },
            _ => {
                let rest = msg.strip_prefix("init:").unwrap_or(msg);
                let (path, message) = rest.split_once(':').unwrap_or((rest, ""));
                Error::RuntimeInit {
                    path: PathBuf::from(path),
                    message: message.to_string(),
                }
            }
        }),
    }
}

/// The path of the ONNX Runtime library in use, once [`init`] succeeded.
pub fn library_path() -> Option<&'static Path> {
    match ENVIRONMENT.get() {
        Some(Ok((_, p))) => Some(p.as_path()),
        _ => None,
    }
}

/// ONNX Runtime's graph optimisation level (`GraphOptimizationLevel`). The level changes the
/// graph ONNX Runtime executes (constant folding, fusions such as Gemm + Relu, MatMul + scale,
/// MatMul + BatchNormalization) and with it the float32 results: robcert runs and certifies the
/// model at one level, and a certificate holds for deployments that use the same level (and the
/// same ONNX Runtime version). `all` is ONNX Runtime's default for Python and C++ sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizationLevel {
    /// `ORT_DISABLE_ALL`: the graph as written.
    Disabled,
    /// `ORT_ENABLE_BASIC`: constant folding, redundant-node elimination, simple fusions.
    Basic,
    /// `ORT_ENABLE_EXTENDED`: plus complex fusions (Gemm + activation, MatMul + Add, ...).
    Extended,
    /// `ORT_ENABLE_LAYOUT`: plus memory-layout optimisations.
    Layout,
    /// `ORT_ENABLE_ALL`: every optimisation (ONNX Runtime's default).
    #[default]
    All,
}

impl OptimizationLevel {
    pub fn name(&self) -> &'static str {
        match self {
            OptimizationLevel::Disabled => "disabled",
            OptimizationLevel::Basic => "basic",
            OptimizationLevel::Extended => "extended",
            OptimizationLevel::Layout => "layout",
            OptimizationLevel::All => "all",
        }
    }

    /// The C API's name for the level.
    pub fn ort_name(&self) -> &'static str {
        match self {
            OptimizationLevel::Disabled => "ORT_DISABLE_ALL",
            OptimizationLevel::Basic => "ORT_ENABLE_BASIC",
            OptimizationLevel::Extended => "ORT_ENABLE_EXTENDED",
            OptimizationLevel::Layout => "ORT_ENABLE_LAYOUT",
            OptimizationLevel::All => "ORT_ENABLE_ALL",
        }
    }

    fn to_ort(self) -> GraphOptimizationLevel {
        match self {
            OptimizationLevel::Disabled => GraphOptimizationLevel::Disable,
            OptimizationLevel::Basic => GraphOptimizationLevel::Level1,
            OptimizationLevel::Extended => GraphOptimizationLevel::Level2,
            OptimizationLevel::Layout => GraphOptimizationLevel::Level3,
            OptimizationLevel::All => GraphOptimizationLevel::All,
        }
    }
}

/// Session settings. Defaults match the benchmark baseline: one intra-op thread per session,
/// parallelism across sessions, every graph optimisation (ONNX Runtime's own default).
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// ONNX Runtime intra-op threads per session.
    pub intra_threads: usize,
    /// Explicit path to `libonnxruntime.so` (otherwise see [`library_candidates`]).
    pub library: Option<PathBuf>,
    /// Graph optimisation level of every session (the spec's `[model] ort_optimization`).
    pub optimization: OptimizationLevel,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            intra_threads: 1,
            library: None,
            optimization: OptimizationLevel::default(),
        }
    }
}

/// Which ONNX Runtime robcert ran, for the dossier: what a deployment must match.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeInfo {
    /// File name of the shared library (its version suffix names the release, e.g.
    /// `libonnxruntime.so.1.32.0`).
    pub library: String,
    /// ONNX Runtime's build string (git commit, build flags).
    pub build_info: String,
    /// SHA-256 of the shared library file.
    pub library_sha256: String,
    /// The graph optimisation level of every session.
    pub optimization: OptimizationLevel,
}

/// Describes the loaded ONNX Runtime (after [`init`]) at the given optimisation level.
pub fn runtime_info(config: &RuntimeConfig) -> Result<RuntimeInfo> {
    init(config.library.as_deref())?;
    static LIBRARY_HASH: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    let hash = LIBRARY_HASH.get_or_init(|| {
        let path = library_path().ok_or("ONNX Runtime is not loaded")?;
        std::fs::read(path)
            .map(|b| sha256_hex(&b))
            .map_err(|e| format!("{}: {e}", path.display()))
    });
    let library_sha256 = hash.clone().map_err(|message| Error::RuntimeInit {
        path: library_path().map(Path::to_path_buf).unwrap_or_default(),
        message,
    })?;
    Ok(RuntimeInfo {
        library: library_path()
            .and_then(Path::file_name)
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        build_info: ort::info().to_string(),
        library_sha256,
        optimization: config.optimization,
    })
}

/// A tabular classifier as ONNX Runtime sees it: one `float32[N, F]` input, first output
/// `float32[N, C]` scores (logits or probabilities; argmax is what counts).
#[derive(Clone, Debug)]
pub struct OnnxModel {
    pub path: PathBuf,
    pub sha256: String,
    bytes: std::sync::Arc<Vec<u8>>,
    pub input_name: String,
    pub output_name: String,
    pub input_width: usize,
    /// Shape of one row of the input (dimensions after the batch dimension).
    pub row_shape: Vec<usize>,
    /// Rows per ONNX Runtime call when the model fixes its batch dimension (e.g. 1).
    pub fixed_batch: Option<usize>,
    pub num_classes: usize,
    /// The input features in input order, from the model's `robcert.features` metadata.
    pub feature_names: Option<Vec<String>>,
    /// The class names in output order, from the model's `robcert.classes` metadata.
    pub class_names: Option<Vec<String>>,
    config: RuntimeConfig,
}

/// A `metadata_props` value that must be a JSON array of distinct, non-empty strings.
fn names_from_metadata(
    path: &Path,
    graph: Option<&crate::onnx::OnnxGraph>,
    key: &str,
) -> Result<Option<Vec<String>>> {
    let Some(text) = graph.and_then(|g| g.metadata.get(key)) else {
        return Ok(None);
    };
    let bad = |why: String| Error::ModelSignature {
        path: path.to_path_buf(),
        message: format!(
            "metadata `{key}` = {text:?} {why}; it must be a JSON array of names such as \
             [\"amount\", \"hour\"]"
        ),
    };
    let names: Vec<String> =
        serde_json::from_str(text).map_err(|e| bad(format!("is not a JSON array ({e})")))?;
    let mut seen = std::collections::BTreeSet::new();
    for n in &names {
        if n.is_empty() || !seen.insert(n.as_str()) {
            return Err(bad(format!("has an empty or repeated name `{n}`")));
        }
    }
    Ok(Some(names))
}

fn describe(t: &ValueType) -> String {
    match t {
        ValueType::Tensor { ty, shape, .. } => format!("tensor {ty:?} {:?}", &shape[..]),
        other => format!("{other:?}"),
    }
}

fn session_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::NotOnnx {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Hex SHA-256 of a byte string.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl OnnxModel {
    /// Reads and checks a model: it must load in ONNX Runtime and have the tabular signature.
    /// The class count is read from the output shape or, if dynamic, from a one-row probe run.
    pub fn load(path: &Path, config: &RuntimeConfig) -> Result<OnnxModel> {
        let bytes = crate::util::read_limited(path, crate::util::MAX_MODEL_BYTES)?;
        init(config.library.as_deref())?;
        // robcert's own decoder reads the metadata and the graph for the static checks; a model
        // it cannot decode still runs (ONNX Runtime is the reference), without those checks.
        let decoded = crate::onnx::decode(path, &bytes).ok();
        let session = build_session(path, &bytes, config)?;
        let sig_err = |message: String| Error::ModelSignature {
            path: path.to_path_buf(),
            message,
        };
        if session.inputs().len() != 1 {
            return Err(sig_err(format!(
                "robcert needs exactly one input float32[N, F], the model has {} ({})",
                session.inputs().len(),
                session
                    .inputs()
                    .iter()
                    .map(|i| format!("{}: {}", i.name(), describe(i.dtype())))
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        let input = &session.inputs()[0];
        let (row_shape, fixed_batch) = match input.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() >= 2 && shape[1..].iter().all(|&d| d > 0) => (
                shape[1..].iter().map(|&d| d as usize).collect::<Vec<_>>(),
                (shape[0] > 0).then_some(shape[0] as usize),
            ),
            other => {
                return Err(sig_err(format!(
                    "input `{}` is {}; robcert needs float32[N, F] (or [N, d1, d2, ...]) with every dimension but N fixed",
                    input.name(),
                    describe(other)
                )));
            }
        };
        if fixed_batch.is_some_and(|b| b != 1) {
            return Err(sig_err(format!(
                "input `{}` fixes the batch dimension to {}; robcert needs a dynamic batch or 1",
                input.name(),
                fixed_batch.unwrap_or(0)
            )));
        }
        let input_width: usize = row_shape.iter().product();
        let output = session
            .outputs()
            .first()
            .ok_or_else(|| sig_err("the model has no outputs".into()))?;
        let declared_classes = match output.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 2 => (shape[1] > 0).then_some(shape[1] as usize),
            other => {
                return Err(sig_err(format!(
                    "output `{}` is {}; robcert needs float32[N, C] class scores as the first output",
                    output.name(),
                    describe(other)
                )));
            }
        };
        let mut model = OnnxModel {
            path: path.to_path_buf(),
            sha256: sha256_hex(&bytes),
            bytes: std::sync::Arc::new(bytes),
            input_name: input.name().to_string(),
            output_name: output.name().to_string(),
            input_width,
            row_shape,
            fixed_batch,
            num_classes: declared_classes.unwrap_or(0),
            feature_names: names_from_metadata(path, decoded.as_ref(), crate::onnx::FEATURES_KEY)?,
            class_names: names_from_metadata(path, decoded.as_ref(), crate::onnx::CLASSES_KEY)?,
            config: config.clone(),
        };
        drop(session);
        if declared_classes.is_none() {
            let mut s = model.session()?;
            let probe = vec![0.0f32; input_width];
            model.num_classes = s.run_raw(&probe, 1)?.1;
        }
        if model.num_classes < 2 {
            return Err(sig_err(format!(
                "output `{}` has {} class score(s); robcert needs at least 2",
                model.output_name, model.num_classes
            )));
        }
        model.check_rows_independent(decoded.as_ref())?;
        if let Some(names) = &model.feature_names
            && names.len() != model.input_width
        {
            return Err(sig_err(format!(
                "metadata `{}` lists {} features but the input has {} values per row",
                crate::onnx::FEATURES_KEY,
                names.len(),
                model.input_width
            )));
        }
        if let Some(names) = &model.class_names
            && names.len() != model.num_classes
        {
            return Err(sig_err(format!(
                "metadata `{}` lists {} classes but the model scores {}",
                crate::onnx::CLASSES_KEY,
                names.len(),
                model.num_classes
            )));
        }
        Ok(model)
    }

    /// Refuses models whose output is random or, for a row, depends on the other rows of the
    /// batch: first static passes over the graph (`onnx::batch`), then a probe that scores
    /// distinct rows twice (bit-identical), together and one at a time (the same classes and,
    /// up to float32 noise of a differently blocked kernel, [`BATCH_PROBE_REL_TOLERANCE`], the
    /// same scores). A model with a fixed batch of 1 cannot mix rows.
    fn check_rows_independent(&self, graph: Option<&crate::onnx::OnnxGraph>) -> Result<()> {
        let coupled = |message: String| Error::BatchCoupled {
            path: self.path.clone(),
            message,
        };
        if let Some(graph) = graph {
            if let Some((node, op, why)) = crate::onnx::batch::randomness(graph) {
                return Err(Error::ModelSignature {
                    path: self.path.clone(),
                    message: format!(
                        "node `{node}` ({op}) makes the output random ({why}); robcert certifies \
                         deterministic models"
                    ),
                });
            }
            if let Some((node, op, why)) = crate::onnx::batch::batch_coupling(graph) {
                return Err(coupled(format!("node `{node}` ({op}): {why}")));
            }
        }
        if self.fixed_batch.is_some() {
            return Ok(());
        }
        let rows = BATCH_PROBE_ROWS;
        let w = self.input_width;
        // Distinct, deterministic probe rows (a fixed low-discrepancy pattern in [-2, 2]).
        let x: Vec<f32> = (0..rows * w)
            .map(|i| ((i as f64 * 0.618_033_988_749_894_9).fract() * 4.0 - 2.0) as f32)
            .collect();
        let mut session = self.session()?;
        let together = session.scores(&x, rows)?;
        let again = session.scores(&x, rows)?;
        if together
            .iter()
            .zip(&again)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            return Err(Error::ModelSignature {
                path: self.path.clone(),
                message: "the same rows scored twice give different outputs: the model is not \
                          deterministic, and robcert certifies deterministic models"
                    .into(),
            });
        }
        let mut reversed_rows = Vec::with_capacity(rows * w);
        for r in (0..rows).rev() {
            reversed_rows.extend_from_slice(&x[r * w..(r + 1) * w]);
        }
        let reversed = session.scores(&reversed_rows, rows)?;
        let c = self.num_classes;
        for r in 0..rows {
            let alone = session.scores(&x[r * w..(r + 1) * w], 1)?;
            let batched = &together[r * c..(r + 1) * c];
            let moved = &reversed[(rows - 1 - r) * c..(rows - r) * c];
            for other in [batched, moved] {
                let same_class = argmax(other) == argmax(&alone);
                let close = other.iter().zip(&alone).all(|(&a, &b)| {
                    (a.is_nan() && b.is_nan())
                        || a == b
                        || (f64::from(a) - f64::from(b)).abs()
                            <= BATCH_PROBE_REL_TOLERANCE * (f64::from(a).abs() + f64::from(b).abs())
                });
                if !same_class || !close {
                    return Err(coupled(format!(
                        "probe row {r} scores {alone:?} alone but {other:?} in a batch of {rows}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks that the model's input width equals the data's feature count.
    pub fn check_width(&self, features: &[String]) -> Result<()> {
        if features.len() == self.input_width {
            return Ok(());
        }
        Err(Error::InputWidthMismatch {
            path: self.path.clone(),
            model_width: self.input_width,
            data_width: features.len(),
            hint: format!(
                "feature columns: {}; add non-feature columns to the data's ignore list",
                features.join(", ")
            ),
        })
    }

    /// The graph ONNX Runtime executes for this model: the ONNX file that ONNX Runtime saves after
    /// applying its graph optimisations at this model's level (constant folding in float32,
    /// fusions such as `FusedGemm`), decoded. This, not the file as written, is what the bound
    /// engine certifies; its bytes are hashed into the dossier.
    pub fn executed_graph(&self) -> Result<(crate::onnx::OnnxGraph, String)> {
        let dir = PrivateDir::new().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let out = dir.0.join("optimized.onnx");
        drop(build_session_saving(
            &self.path,
            &self.bytes,
            &self.config,
            Some(&out),
        )?);
        let bytes = std::fs::read(&out).map_err(|e| Error::io(&out, e))?;
        let graph = crate::onnx::decode(&self.path, &bytes)?;
        Ok((graph, sha256_hex(&bytes)))
    }

    /// The runtime settings of this model's sessions.
    pub fn runtime_config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// A new session on this model, for one worker thread.
    pub fn session(&self) -> Result<ModelSession> {
        Ok(ModelSession {
            session: build_session(&self.path, &self.bytes, &self.config)?,
            path: self.path.clone(),
            width: self.input_width,
            row_shape: self.row_shape.clone(),
            fixed_batch: self.fixed_batch,
            classes: self.num_classes,
        })
    }
}

fn build_session(path: &Path, bytes: &[u8], config: &RuntimeConfig) -> Result<Session> {
    build_session_saving(path, bytes, config, None)
}

/// Builds a session; with `optimized_out`, ONNX Runtime also writes the graph it will execute
/// (after its optimisations at `config.optimization`) to that file.
fn build_session_saving(
    path: &Path,
    bytes: &[u8],
    config: &RuntimeConfig,
    optimized_out: Option<&Path>,
) -> Result<Session> {
    let env = init(config.library.as_deref())?;
    let threads = config.intra_threads.max(1);
    // rc.15's builder errors carry the builder (not Send + Sync): convert inside the closure.
    // The `ai.robcert` operators are registered only for models that mention the domain, and
    // such sessions are created one at a time: ONNX Runtime's registration of a custom domain is
    // not safe against concurrent session creation ("domain is already exist").
    let custom = uses_graph_operators(bytes);
    let build = || -> ort::Result<Session> {
        let mut builder = Session::builder(env)?
            .with_optimization_level(config.optimization.to_ort())?
            .with_intra_threads(threads)?
            .with_inter_threads(1)?;
        if custom {
            builder = builder.with_operators(graph_ops::graph_operator_domain()?)?;
        }
        if let Some(out) = optimized_out {
            builder = builder.with_optimized_model_path(out)?;
        }
        builder.commit_from_memory(bytes)
    };
    static CUSTOM_DOMAIN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = custom.then(|| {
        CUSTOM_DOMAIN_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    build().map_err(|e| session_error(path, e))
}

/// Whether a serialized model may use robcert's `ai.robcert` operators (its bytes name the
/// domain; a false positive only registers operators the model does not use).
fn uses_graph_operators(bytes: &[u8]) -> bool {
    let needle = graph_ops::DOMAIN.as_bytes();
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// A fresh private folder (mode 0700) for a file ONNX Runtime writes; removed on drop.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> std::io::Result<PrivateDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("robcert-{}-{n}", std::process::id()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&dir) {
                Ok(()) => return Ok(PrivateDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One ONNX Runtime session, owned by one worker.
pub struct ModelSession {
    session: Session,
    path: PathBuf,
    width: usize,
    row_shape: Vec<usize>,
    fixed_batch: Option<usize>,
    classes: usize,
}

impl ModelSession {
    pub fn num_classes(&self) -> usize {
        self.classes
    }

    /// Runs `rows` rows (row-major in `x`) and returns the scores and the class count.
    fn run_raw(&mut self, x: &[f32], rows: usize) -> Result<(Vec<f32>, usize)> {
        let mut out = Vec::new();
        let classes = self.run_into(x, rows, &mut out)?;
        Ok((out, classes))
    }

    /// Runs `rows` rows and writes the `rows × C` scores into `out` (resized). Zero-copy input.
    /// Models with a fixed batch of 1 are run one row at a time.
    pub fn run_into(&mut self, x: &[f32], rows: usize, out: &mut Vec<f32>) -> Result<usize> {
        assert_eq!(
            x.len(),
            rows * self.width,
            "caller passed a mis-sized batch"
        );
        out.clear();
        if self.fixed_batch == Some(1) && rows != 1 {
            let mut classes = 0;
            let mut one = Vec::new();
            for r in 0..rows {
                classes = self.run_batch(&x[r * self.width..(r + 1) * self.width], 1, &mut one)?;
                out.extend_from_slice(&one);
            }
            return Ok(classes);
        }
        self.run_batch(x, rows, out)
    }

    fn run_batch(&mut self, x: &[f32], rows: usize, out: &mut Vec<f32>) -> Result<usize> {
        let infer = |message: String| Error::Inference {
            path: self.path.clone(),
            message,
        };
        let mut shape = Vec::with_capacity(self.row_shape.len() + 1);
        shape.push(rows);
        shape.extend_from_slice(&self.row_shape);
        let input = TensorRef::from_array_view((shape, x)).map_err(|e| infer(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![input])
            .map_err(|e| infer(e.to_string()))?;
        let (shape, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| infer(format!("first output is not a float32 tensor: {e}")))?;
        if shape.len() != 2 || shape[0] as usize != rows {
            return Err(infer(format!(
                "output shape {:?} is not [{rows}, C]",
                &shape[..]
            )));
        }
        let classes = shape[1] as usize;
        out.clear();
        out.extend_from_slice(data);
        Ok(classes)
    }

    /// Scores of `rows` rows, `rows × C`.
    pub fn scores(&mut self, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        Ok(self.run_raw(x, rows)?.0)
    }

    /// Predicted class (argmax, lowest index on ties) of each row.
    pub fn predict(&mut self, x: &[f32], rows: usize) -> Result<Vec<usize>> {
        let (scores, c) = self.run_raw(x, rows)?;
        Ok(scores.chunks_exact(c).map(argmax).collect())
    }
}

/// Index of the largest score; the lowest index wins ties; NaN never wins.
pub fn argmax(scores: &[f32]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate().skip(1) {
        if s > scores[best] || scores[best].is_nan() {
            best = i;
        }
    }
    best
}
