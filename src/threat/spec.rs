//! The threat spec file (TOML) as written by users. Every table rejects unknown keys, so a typo
//! is an error naming the key rather than a silently ignored setting.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    pub model: ModelSection,
    pub data: DataSection,
    pub threat: ThreatSection,
    #[serde(default)]
    pub methods: MethodsSection,
    /// Risk-acceptance criteria (see `dossier::criteria::METRICS`) and how they are evaluated.
    #[serde(default)]
    pub acceptance: crate::config::Acceptance,
    /// Model-risk documentation carried into the dossier.
    #[serde(default)]
    pub context: Option<crate::config::Context>,
    /// Other models (e.g. training regimes) to compare in the dossier, bounds and attacks only.
    #[serde(default)]
    pub compare: Option<CompareSection>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSection {
    /// ONNX files of the same architecture; relative to the spec file's folder.
    pub models: Vec<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// ONNX file; relative paths are resolved against the spec file's folder.
    pub path: PathBuf,
    /// ONNX Runtime graph optimisation level the deployment runs the model at (`disabled`,
    /// `basic`, `extended`, `layout`, `all`; default `all`, ONNX Runtime's own default). The
    /// certificates hold for sessions at this level with the recorded ONNX Runtime version.
    #[serde(default)]
    pub ort_optimization: crate::runtime::OptimizationLevel,
    /// The model's input features in input order. Needed when the model does not record them in
    /// its `robcert.features` metadata; if both are present they must agree.
    #[serde(default)]
    pub features: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// CSV file with a header row; relative to the spec file's folder.
    pub path: PathBuf,
    /// Label column: class indices 0, 1, ...
    pub label: String,
    /// Column holding the money at risk per row (optional; may also be a feature).
    #[serde(default)]
    pub amount: Option<String>,
    /// Column that identifies a row (e.g. a transaction id), carried into every output.
    #[serde(default)]
    pub id: Option<String>,
    /// Other columns that are not model inputs; any column that is neither a feature, the label,
    /// the amount, the id nor listed here is an error.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Class names by index; defaults to `["legit", "fraud"]` for two classes.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatSection {
    /// Feature → budget in the feature's own units (|x'_f - x_f| ≤ budget_f).
    pub mutable: BTreeMap<String, f64>,
    /// Features (or globs such as `country_*`) the attacker cannot change. Features that are in
    /// neither list are also held fixed; listing them documents intent and is checked.
    #[serde(default)]
    pub immutable: Vec<String>,
    /// Valid ranges: `"data"` (observed min/max) or `"none"`; `bounds` overrides per feature.
    #[serde(default = "default_clip")]
    pub clip: String,
    #[serde(default)]
    pub bounds: BTreeMap<String, [f64; 2]>,
    /// `"fraud->legit"` (only evasions count) or `"any"`.
    #[serde(default = "default_target")]
    pub target: String,
    /// Features that only take integer values (counts): attacks and smoothing keep them integer.
    #[serde(default)]
    pub integer: Vec<String>,
    /// One-hot groups, by name: a glob (`"country_*"`) or a list of features; exactly one member
    /// is 1 in every row.
    #[serde(default)]
    pub one_hot: BTreeMap<String, OneHotSpec>,
    /// One-hot groups within which the attacker may switch category.
    #[serde(default)]
    pub switchable: Vec<String>,
    /// Linear relations between features that every valid row satisfies, e.g.
    /// `"velocity_1h <= velocity_24h"` or `"2*a + b <= 10"`.
    #[serde(default)]
    pub relations: Vec<String>,
}

/// The members of a one-hot group.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneHotSpec {
    Glob(String),
    List(Vec<String>),
}

fn default_clip() -> String {
    "data".into()
}

fn default_target() -> String {
    "any".into()
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MethodsSection {
    #[serde(default)]
    pub smoothing: Option<crate::config::SmoothingConfig>,
    #[serde(default)]
    pub bounds: Option<crate::config::BoundsConfig>,
    #[serde(default)]
    pub attack: Option<crate::config::AttackConfig>,
}

/// A parsed spec with its own path (for resolving relative paths) and exact bytes (for hashing).
#[derive(Clone, Debug)]
pub struct LoadedSpec {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub spec: SpecFile,
}

impl LoadedSpec {
    pub fn load(path: &Path) -> Result<LoadedSpec> {
        let bytes = crate::util::read_limited(path, crate::util::MAX_SPEC_BYTES)?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| Error::SpecSyntax {
            path: path.to_path_buf(),
            message: "not UTF-8 text".into(),
        })?;
        let spec = parse(&text).map_err(|message| Error::SpecSyntax {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(LoadedSpec {
            path: path.to_path_buf(),
            bytes,
            spec,
        })
    }

    /// Resolves a path from the spec against the spec file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    pub fn model_path(&self) -> PathBuf {
        self.resolve(&self.spec.model.path)
    }

    pub fn data_path(&self) -> PathBuf {
        self.resolve(&self.spec.data.path)
    }
}

/// Parses spec text; the error message names the offending key and line.
pub fn parse(text: &str) -> std::result::Result<SpecFile, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
}
