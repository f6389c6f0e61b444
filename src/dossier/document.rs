//! The dossier document (`dossier.json`, schema `robcert-dossier/1`): everything a regulator
//! needs to re-check a certification. Summaries are stored as JSON values so that `verify` can
//! compare them with its own recomputation field by field. Places for the methods still to come
//! (branch and bound, graph certificates) are reserved in `results`.

use super::criteria::{Criterion, Decision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema identifier written into every dossier.
pub const SCHEMA: &str = "robcert-dossier/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    pub name: String,
    pub version: String,
    /// The git commit robcert was built from (`unknown` outside a checkout).
    pub source_commit: String,
    /// The ONNX Runtime that ran the model, and its graph optimisation level: a deployment must
    /// match both for the certificates to apply to it.
    pub onnxruntime: crate::runtime::RuntimeInfo,
}

/// Model-risk documentation carried from the spec's `[context]` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Context {
    pub title: String,
    pub intended_use: String,
    pub assumptions: Vec<String>,
    pub limitations: Vec<String>,
    pub monitoring: String,
}

/// A file the dossier refers to, by path relative to the dossier folder (or as given for
/// inputs) and SHA-256.
pub use crate::util::FileHash;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    pub model: FileHash,
    pub data: FileHash,
    pub spec: FileHash,
    pub data_rows: usize,
}

/// Per-method parameters exactly as run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Methods {
    pub smoothing: Option<crate::smoothing::SmoothingConfig>,
    pub bounds: Option<crate::bounds::verdict::BoundsConfig>,
    pub attack: Option<crate::attack::AttackConfig>,
}

/// One method's results: its summary (as computed) and its per-row file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodResults {
    pub summary: serde_json::Value,
    pub rows: FileHash,
    /// For bound methods: the network they certified (the graph ONNX Runtime executes, its hash,
    /// the output transform) or why they fell back to the black-box attack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::pipeline::NetworkInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub smoothing: Option<MethodResults>,
    pub bounds: Option<MethodResults>,
    /// Training regimes compared under the same spec (`[compare]`), bounds and attacks only.
    pub compare: Option<serde_json::Value>,
    /// Reserved for graph (GNN) certificates.
    pub graph: Option<serde_json::Value>,
    /// Reserved for complete verification (branch and bound).
    pub complete: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignatureInfo {
    pub algorithm: String,
    pub public_key_fingerprint: String,
    pub signature_file: String,
}

/// The whole dossier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dossier {
    pub schema: String,
    pub engine: Engine,
    /// The only time-dependent field: everything else is a function of spec, inputs and seeds.
    pub generated_at: String,
    pub context: Context,
    pub inputs: Inputs,
    pub threat: serde_json::Value,
    pub methods: Methods,
    pub results: Results,
    /// Every metric the criteria can name, as computed (metric name → value).
    pub metrics: BTreeMap<String, f64>,
    pub acceptance: BTreeMap<String, f64>,
    pub criteria: Vec<Criterion>,
    pub decision: Decision,
    /// Other files of the dossier folder (counterexamples, plots, report) with their hashes.
    pub files: Vec<FileHash>,
    pub signature: SignatureInfo,
}
