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

/// Session settings. Defaults match the benchmark baseline: one intra-op thread per session,
/// parallelism across sessions.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// ONNX Runtime intra-op threads per session.
    pub intra_threads: usize,
    /// Explicit path to `libonnxruntime.so` (otherwise see [`library_candidates`]).
    pub library: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            intra_threads: 1,
            library: None,
        }
    }
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
    config: RuntimeConfig,
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
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        init(config.library.as_deref())?;
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
        Ok(model)
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
    let env = init(config.library.as_deref())?;
    let threads = config.intra_threads.max(1);
    // rc.15's builder errors carry the builder (not Send + Sync): convert inside the closure.
    let build = || -> ort::Result<Session> {
        Session::builder(env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?
            .with_intra_threads(threads)?
            .with_inter_threads(1)?
            .with_operators(graph_ops::graph_operator_domain()?)?
            .commit_from_memory(bytes)
    };
    build().map_err(|e| session_error(path, e))
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
