//! The dossier document (`dossier.json`, schema `robcert-dossier/2`): everything a regulator
//! needs to re-check a certification, with the exact spec it ran (`spec.toml`, in the folder).
//! The results are a list of sections (see `crate::sections`), each with its own typed record
//! and files; `verify` re-derives every metric, plot and report paragraph from them.

use super::criteria::{Criterion, Decision};
use super::metrics::Metric;
use crate::sections::SectionRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema identifier written into every dossier.
pub const SCHEMA: &str = "robcert-dossier/2";

/// The name of the spec's copy inside a dossier folder.
pub const SPEC_FILE: &str = "spec.toml";
/// The signed document and its signature.
pub const DOSSIER_FILE: &str = "dossier.json";
pub const SIGNATURE_FILE: &str = "dossier.sig";
/// The signer's public key, for convenience: `verify` never trusts it without the key or its
/// fingerprint from elsewhere.
pub const PUBLIC_KEY_FILE: &str = "pub.pem";
/// The report.
pub const REPORT_FILE: &str = "report.html";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    pub name: String,
    pub version: String,
    /// The git commit robcert was built from (`unknown` outside a checkout).
    pub source_commit: String,
    /// The ONNX Runtime that ran the model, and its graph optimisation level: a deployment must
    /// match both for the certificates to apply to it.
    pub onnxruntime: crate::runtime::RuntimeInfo,
}

pub use crate::config::Context;

/// A file the dossier refers to, by path relative to the dossier folder and SHA-256.
pub use crate::util::FileHash;

/// An input file (model or data), by the name it was given and its SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// The file name as given to the run (no folders: the dossier does not depend on where the
    /// certifier kept its files).
    pub name: String,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    pub model: InputFile,
    pub data: InputFile,
    pub data_rows: usize,
    /// The model's input features, in input order: the data's columns were matched to these
    /// names and fed in this order.
    pub features: Vec<String>,
    /// Where the feature order came from: `model metadata` or `spec`.
    pub features_from: String,
    /// The data column identifying rows, if any.
    pub id_column: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureInfo {
    pub algorithm: String,
    pub public_key_fingerprint: String,
    pub signature_file: String,
}

/// The whole dossier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dossier {
    pub schema: String,
    pub engine: Engine,
    /// The only time-dependent field: everything else is a function of spec, inputs and seeds.
    pub generated_at: String,
    /// The spec the run used, copied into the folder.
    pub spec: FileHash,
    pub context: Context,
    pub inputs: Inputs,
    pub threat: crate::threat::ThreatModel,
    /// Each method's results, in registry order.
    pub sections: Vec<SectionRecord>,
    /// Every figure the criteria can name, with its interval and confidence.
    pub metrics: BTreeMap<String, Metric>,
    pub acceptance: crate::config::Acceptance,
    /// Which certificate `certified_fraud_recall` counts.
    pub certificate: crate::config::CertificateChoice,
    pub criteria: Vec<Criterion>,
    pub decision: Decision,
    /// Every other file of the folder (spec, section files, plots, report, public key), sorted
    /// by path, with its hash: `verify` reports any file in the folder not listed here.
    pub files: Vec<FileHash>,
    pub signature: SignatureInfo,
}

impl Dossier {
    /// The section of `kind`, if the dossier has one.
    pub fn section(&self, kind: &str) -> Option<&SectionRecord> {
        self.sections.iter().find(|s| s.kind == kind)
    }
}
