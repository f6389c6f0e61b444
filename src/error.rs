//! One typed error enum for the library. Every variant carries the facts a user needs to act:
//! the file, the row and column, the key, the op and node. A verification *outcome* is never an
//! error (see `Verdict` types); errors are for inputs robcert cannot work with.

use std::path::PathBuf;

/// Errors raised by robcert. The `Display` text is what the CLI prints.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} does not exist")]
    MissingFile { path: PathBuf },

    #[error(
        "ONNX Runtime library not found (looked in: {searched}).\n  Install it with `scripts/setup` \
         (pip installs the onnxruntime==1.32.0 wheel into .ort/), or point ROBCERT_ORT_LIB / --ort-lib \
         at libonnxruntime.so"
    )]
    RuntimeLibraryMissing { searched: String },

    #[error("ONNX Runtime could not be initialised from {path}: {message}")]
    RuntimeInit { path: PathBuf, message: String },

    #[error("{path} is not a loadable ONNX model: {message}")]
    NotOnnx { path: PathBuf, message: String },

    #[error("model {path}: {message}")]
    ModelSignature { path: PathBuf, message: String },

    #[error(
        "model {path} expects {model_width} input features but the data has {data_width} feature columns \
         ({hint})"
    )]
    InputWidthMismatch {
        path: PathBuf,
        model_width: usize,
        data_width: usize,
        hint: String,
    },

    #[error(
        "model {path}: a row's output depends on the other rows of its batch ({message}); \
         robcert certifies models that score each row on its own"
    )]
    BatchCoupled { path: PathBuf, message: String },

    #[error("ONNX Runtime failed while running {path}: {message}")]
    Inference { path: PathBuf, message: String },

    #[error("{path}: {message}")]
    Csv { path: PathBuf, message: String },

    #[error("{path}, line {line}, column `{column}`: {message}")]
    BadValue {
        path: PathBuf,
        line: u64,
        column: String,
        message: String,
    },

    #[error("{path}: {message}")]
    ColumnsMismatch { path: PathBuf, message: String },

    #[error("{path}: column `{column}` not found (columns: {available})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },

    #[error("{path}, line {line}: expected {expected} fields as in the header, found {found}")]
    RowWidth {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
    },

    #[error("threat spec {path}: {message}")]
    SpecSyntax { path: PathBuf, message: String },

    #[error("threat spec: `{key}`: {message}")]
    SpecValue { key: String, message: String },

    #[error("{path}: cannot decode the ONNX protobuf: {message}")]
    OnnxDecode { path: PathBuf, message: String },

    #[error("{path}: {message}")]
    OnnxGraph { path: PathBuf, message: String },

    #[error("{path}: unsupported by robcert's bound engine ({count} node(s)):\n{list}\n  \
             (randomized smoothing and black-box attacks still run such models through ONNX Runtime)",
            count = .nodes.len(),
            list = .nodes.iter().map(|(op, node, why)| format!("    op `{op}` in node `{node}`: {why}")).collect::<Vec<_>>().join("\n"))]
    UnsupportedOps {
        path: PathBuf,
        /// (op type, node name, reason) for every unsupported node.
        nodes: Vec<(String, String, String)>,
    },

    #[error(
        "soundness violation on row {row}: {method} verified the region but ONNX Runtime confirms a \
         counterexample {counterexample:?}; please report this with the model and row"
    )]
    SoundnessViolation {
        row: usize,
        method: String,
        counterexample: Vec<f32>,
    },

    #[error("key {path}: {message}")]
    Key { path: PathBuf, message: String },

    #[error("signature check failed: {message}")]
    Signature { message: String },

    #[error("plot `{name}`: {message}")]
    Plot { name: String, message: String },

    #[error("dossier {path}: {message}")]
    Dossier { path: PathBuf, message: String },

    #[error(
        "{path} is not a regular file (a directory, FIFO, device or socket); robcert reads regular files only"
    )]
    NotARegularFile { path: PathBuf },

    #[error(
        "{path} is {size} bytes, more than robcert's limit of {limit} bytes for this kind of file"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    #[error("{message}")]
    DossierInvalid { message: String },

    #[error("{message}")]
    Usage { message: String },

    #[error("invalid input region: {message}")]
    Region { message: String },

    #[error("invalid parameter `{name}` = {value}: {message}")]
    Parameter {
        name: &'static str,
        value: String,
        message: String,
    },

    #[error("{path}:{line}:{column}: {message} (at {at})", at = token_label(.token))]
    VnnLib {
        path: PathBuf,
        /// 1-based line and column (in characters) of the offending token.
        line: usize,
        column: usize,
        /// The offending token as written; empty at the end of the file.
        token: String,
        message: String,
    },

    #[error(
        "{path} declares {property_inputs} input(s) X_ and {property_outputs} output(s) Y_, but the \
         network has {network_inputs} input(s) and {network_outputs} output(s); is this the property \
         for this network?"
    )]
    VnnLibDimensions {
        path: PathBuf,
        property_inputs: usize,
        property_outputs: usize,
        network_inputs: usize,
        network_outputs: usize,
    },
}

fn token_label(token: &str) -> String {
    if token.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{token}`")
    }
}

impl Error {
    /// Whether the error says the bound engine cannot represent a model that ONNX Runtime runs
    /// (unsupported ops or structure): the black-box methods still apply.
    pub fn is_model_unsupported(&self) -> bool {
        matches!(
            self,
            Error::UnsupportedOps { .. } | Error::OnnxGraph { .. } | Error::OnnxDecode { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::MissingFile { path }
        } else {
            Error::Io { path, source }
        }
    }

    pub(crate) fn spec(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::SpecValue {
            key: key.into(),
            message: message.into(),
        }
    }

    pub(crate) fn param(
        name: &'static str,
        value: impl ToString,
        message: impl Into<String>,
    ) -> Self {
        Error::Parameter {
            name,
            value: value.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
