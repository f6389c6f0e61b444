//! A dossier is made of sections, one per method the spec asks for (randomized smoothing, bounds
//! and attacks, the training-regime comparison; graph certificates, complete verification and
//! tree ensembles plug in the same way). Each section is one module implementing [`Section`]:
//!
//! - `run`: executes the method on the prepared model and data and returns its **record** (a
//!   typed, serialisable result: the settings as run, fallbacks with reasons, summaries) and its
//!   **files** (rows, counterexamples);
//! - `derive`: a pure function of the record and files that produces everything stated from
//!   them: the **metrics** criteria may use (with intervals), per-row facts for cross-section
//!   metrics, the **plots** and the **report** section. `certify` calls it on what `run` produced;
//!   `verify` calls it on the folder's files, so every figure, plot and report paragraph is
//!   recomputed, never trusted;
//! - `check`: consistency of the record with the spec it claims to have run (settings equal to
//!   what the spec resolves to) and with its own files (summaries recomputed from the rows);
//! - `replay`: re-runs the method on the model and data and requires the same record and the
//!   same file bytes (everything is deterministic given the seeds).
//!
//! A new method is one module and one line in [`registry`]; `verify` covers it by construction.

pub mod bounds;
pub mod compare;
pub mod smoothing;

use crate::config::Acceptance;
use crate::dossier::metrics::Metric;
use crate::error::{Error, Result};
use crate::pipeline::{JobOptions, Prepared};
use crate::report::html;
use crate::report::plots::PlotFiles;
use crate::threat::ThreatModel;
use crate::threat::spec::{LoadedSpec, SpecFile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A section as stored in `dossier.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionRecord {
    /// Which section (`smoothing`, `bounds`, `compare`, ...).
    pub kind: String,
    /// The section's typed record, as JSON.
    pub record: serde_json::Value,
    /// The section's own files (rows, counterexamples) with their hashes.
    pub files: Vec<crate::util::FileHash>,
}

/// The files of a dossier folder by name (in memory during `certify`, read from the folder by
/// `verify`).
pub type Files = BTreeMap<String, Vec<u8>>;

/// What `run` needs.
pub struct RunInputs<'a> {
    pub prepared: &'a Prepared,
    pub job: &'a JobOptions,
    /// Where the `[compare]` models are, by file name (replay); `None` resolves the spec's
    /// paths against the spec's folder.
    pub compare_dir: Option<&'a std::path::Path>,
}

/// What `derive` may read besides the record and the files: facts stated elsewhere in the
/// dossier (themselves checked).
pub struct DeriveInputs<'a> {
    pub threat: &'a ThreatModel,
    pub acceptance: &'a Acceptance,
    /// Currency of the amounts, for display.
    pub currency: &'a str,
    pub data_rows: usize,
}

/// Per data row, what a certifying section concluded (for cross-section metrics).
#[derive(Clone, Debug, PartialEq)]
pub struct RowFacts {
    pub in_target: bool,
    /// Certified at the threat budget by this section's certificate.
    pub certified: bool,
    pub amount: Option<f64>,
}

/// A plot a section states.
pub struct Figure {
    pub name: String,
    pub caption: String,
    pub files: PlotFiles,
}

/// Everything a section states, derived from its record and files.
#[derive(Default)]
pub struct Derived {
    pub metrics: BTreeMap<String, Metric>,
    /// Per data row (in row order), when the section certifies rows.
    pub rows: Option<Vec<RowFacts>>,
    /// Probability that any certificate of this section is wrong (0 for deterministic ones).
    pub certificate_risk: f64,
    pub figures: Vec<Figure>,
    pub report: Vec<html::Section>,
}

/// What `check` may compare the record with.
pub struct CheckInputs<'a> {
    pub spec: &'a LoadedSpec,
    pub threat: &'a ThreatModel,
    pub data_rows: usize,
}

/// One method's part of a dossier.
pub trait Section: Sync {
    /// The `kind` written into the dossier.
    fn kind(&self) -> &'static str;
    /// Whether the spec asks for this section.
    fn requested(&self, spec: &SpecFile) -> bool;
    /// Runs the method: the record (as JSON) and the files (name → bytes).
    fn run(&self, inputs: &RunInputs) -> Result<(serde_json::Value, Files)>;
    /// States everything that follows from the record and the files.
    fn derive(
        &self,
        record: &serde_json::Value,
        files: &Files,
        inputs: &DeriveInputs,
    ) -> Result<Derived>;
    /// Checks the record against the spec and its own files; returns what was checked.
    fn check(
        &self,
        record: &serde_json::Value,
        files: &Files,
        inputs: &CheckInputs,
    ) -> Result<String>;
    /// Re-runs the method and requires identical results; returns what was checked. The
    /// default re-runs `run` and compares the record and every file byte for byte.
    fn replay(
        &self,
        record: &serde_json::Value,
        files: &Files,
        inputs: &RunInputs,
    ) -> Result<String> {
        let (again, again_files) = self.run(inputs)?;
        if let Some(path) = first_difference(record, &again, self.kind()) {
            return Err(invalid(format!(
                "replayed {} section differs at `{path}`",
                self.kind()
            )));
        }
        for (name, bytes) in &again_files {
            let recorded = files
                .get(name)
                .ok_or_else(|| invalid(format!("{name} is missing")))?;
            if recorded != bytes {
                return Err(invalid(format!(
                    "replayed {name} differs from the recorded one{}",
                    first_line_difference(recorded, bytes)
                )));
            }
        }
        Ok(format!(
            "replayed {} section: identical record and {} file(s)",
            self.kind(),
            again_files.len()
        ))
    }
}

/// Every section kind, in the order sections appear in a dossier.
pub fn registry() -> Vec<&'static dyn Section> {
    vec![
        &smoothing::SmoothingSection,
        &bounds::BoundsSection,
        &compare::CompareSection,
    ]
}

/// The section implementing `kind`.
pub fn find(kind: &str) -> Option<&'static dyn Section> {
    registry().into_iter().find(|s| s.kind() == kind)
}

/// An INVALID verdict on a dossier (the message says which check failed).
pub fn invalid(message: impl Into<String>) -> Error {
    Error::DossierInvalid {
        message: message.into(),
    }
}

/// Reads a typed record, naming the section in the error.
pub fn typed<T: serde::de::DeserializeOwned>(record: &serde_json::Value, kind: &str) -> Result<T> {
    serde_json::from_value(record.clone())
        .map_err(|e| invalid(format!("the {kind} section is not readable: {e}")))
}

/// The path of the first difference between two JSON values (`None` when equal).
pub fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value::{Array, Object};
    match (a, b) {
        (Object(x), Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let here = format!("{at}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &here) {
                            return Some(d);
                        }
                    }
                    _ => return Some(here),
                }
            }
            None
        }
        (Array(x), Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at} (length {} vs {})", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}/{i}")))
        }
        _ if a == b => None,
        _ => Some(format!("{at} ({a} vs {b})")),
    }
}

/// `": line N"` for the first line where two texts differ.
pub fn first_line_difference(a: &[u8], b: &[u8]) -> String {
    let (ta, tb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let mut la = ta.lines();
    let mut lb = tb.lines();
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (None, None) => return String::new(),
            (x, y) if x == y => n += 1,
            _ => return format!(": line {n}"),
        }
    }
}

/// The file named `name`, or an INVALID error.
pub fn file<'a>(files: &'a Files, name: &str) -> Result<&'a [u8]> {
    files
        .get(name)
        .map(Vec::as_slice)
        .ok_or_else(|| invalid(format!("{name} is missing from the dossier folder")))
}

/// Requires `recorded == expected` for a setting, naming it.
pub fn same_setting<T: PartialEq + std::fmt::Debug>(
    what: &str,
    recorded: &T,
    expected: &T,
) -> Result<()> {
    if recorded != expected {
        return Err(invalid(format!(
            "{what} is recorded as {recorded:?} but the dossier's spec says {expected:?}"
        )));
    }
    Ok(())
}

/// The grid of budget scales plots and curves use.
pub fn scale_grid(max: f64) -> Vec<f64> {
    (0..=40).map(|i| max * i as f64 / 40.0).collect()
}

/// A money amount with its currency.
pub fn money(amount: f64, currency: &str) -> String {
    if currency.is_empty() {
        format!("{amount:.2}")
    } else {
        format!("{amount:.2} {currency}")
    }
}

/// A share as a percentage with its interval.
pub fn share_text(m: &Metric) -> String {
    match (m.lower, m.upper) {
        (Some(l), Some(u)) => format!(
            "{:.2}% [{:.2}%, {:.2}%] ({} of {})",
            100.0 * m.value,
            100.0 * l,
            100.0 * u,
            m.count.unwrap_or(0),
            m.rows
        ),
        _ => format!("{:.6}", m.value),
    }
}
