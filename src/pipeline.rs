//! Jobs that tie the pieces together: spec → data → model → threat → method → report. The CLI
//! calls these; tests call them too, so everything the binary does is testable in-process.

use crate::data::{DataLayout, Dataset};
use crate::error::{Error, Result};
use crate::runtime::{OnnxModel, RuntimeConfig, sha256_hex};
use crate::smoothing::certify::SmoothingOutput;
use crate::smoothing::result::radius_grid;
use crate::smoothing::{
    RowCertificate, SmoothingConfig, SmoothingMode, SmoothingRun, SmoothingSummary, run_smoothing,
};
use crate::threat::ThreatModel;
use crate::threat::spec::LoadedSpec;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A spec with its model, data and threat model loaded and checked against each other.
pub struct Prepared {
    pub spec: LoadedSpec,
    pub model: OnnxModel,
    pub data: Dataset,
    pub data_sha256: String,
    pub threat: ThreatModel,
}

/// Paths that replace the spec's own (e.g. to run one spec on several models).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub model: Option<PathBuf>,
    pub data: Option<PathBuf>,
}

/// Loads and cross-checks everything a spec names.
pub fn prepare(
    spec_path: &Path,
    overrides: &Overrides,
    runtime: &RuntimeConfig,
) -> Result<Prepared> {
    let spec = LoadedSpec::load(spec_path)?;
    let data_path = overrides.data.clone().unwrap_or_else(|| spec.data_path());
    let model_path = overrides.model.clone().unwrap_or_else(|| spec.model_path());
    let layout = DataLayout {
        label: spec.spec.data.label.clone(),
        amount: spec.spec.data.amount.clone(),
        ignore: spec.spec.data.ignore.clone(),
    };
    let data = Dataset::from_csv(&data_path, &layout)?;
    let data_sha256 = sha256_hex(&std::fs::read(&data_path).map_err(|e| Error::io(&data_path, e))?);
    let model = OnnxModel::load(&model_path, runtime)?;
    model.check_width(&data.features)?;
    let threat = ThreatModel::resolve(
        &spec.spec.threat,
        &data,
        spec.spec.data.classes.as_deref(),
        model.num_classes,
    )?;
    if let Some(&bad) = data.labels.iter().find(|&&l| l >= model.num_classes) {
        return Err(Error::spec(
            "data.label",
            format!(
                "label {bad} is not a class of the model, which scores {} classes",
                model.num_classes
            ),
        ));
    }
    Ok(Prepared {
        spec,
        model,
        data,
        data_sha256,
        threat,
    })
}

/// Where a file came from and its SHA-256.
#[derive(Clone, Debug, Serialize)]
pub struct FileRef {
    pub path: String,
    pub sha256: String,
}

/// Throughput of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Performance {
    pub model_evaluations: u64,
    pub seconds: f64,
    pub evaluations_per_second: f64,
    pub workers: usize,
    pub intra_threads: usize,
}

/// The smoothing summary file: provenance, parameters, aggregates.
#[derive(Clone, Debug, Serialize)]
pub struct SmoothingReport {
    pub robcert_version: &'static str,
    pub method: &'static str,
    pub mode: SmoothingMode,
    pub model: FileRef,
    pub data: FileRef,
    pub spec: FileRef,
    pub threat: ThreatModel,
    pub config: SmoothingConfig,
    pub summary: SmoothingSummary,
    pub performance: Performance,
}

/// Options of a smoothing job that do not change its results.
#[derive(Clone, Debug)]
pub struct JobOptions {
    pub workers: usize,
    pub runtime: RuntimeConfig,
    pub progress: bool,
    /// Certify only the first `limit` rows.
    pub limit: Option<usize>,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            runtime: RuntimeConfig::default(),
            progress: false,
            limit: None,
        }
    }
}

/// Runs randomized smoothing as the prepared spec says, with `config` (the spec's
/// `[methods.smoothing]` plus command-line overrides).
pub fn smooth(
    prepared: &Prepared,
    config: &SmoothingConfig,
    mode: SmoothingMode,
    options: &JobOptions,
) -> Result<(SmoothingReport, Vec<RowCertificate>)> {
    let rows = options
        .limit
        .map(|l| (0..l.min(prepared.data.rows())).collect());
    let run = SmoothingRun {
        model: &prepared.model,
        data: &prepared.data,
        threat: &prepared.threat,
        config,
        mode,
        workers: options.workers,
        rows,
        progress: options.progress,
    };
    let SmoothingOutput {
        rows,
        model_evaluations,
        seconds,
    } = run_smoothing(&run)?;
    let max_radius = config.sigma * crate::smoothing::stats::normal_quantile(1.0 - 1e-6);
    let summary =
        SmoothingSummary::from_rows(&rows, &radius_grid((max_radius * 4.0).ceil() / 4.0, 40));
    let report = SmoothingReport {
        robcert_version: env!("CARGO_PKG_VERSION"),
        method: "randomized_smoothing",
        mode,
        model: FileRef {
            path: prepared.model.path.display().to_string(),
            sha256: prepared.model.sha256.clone(),
        },
        data: FileRef {
            path: prepared.data.path.display().to_string(),
            sha256: prepared.data_sha256.clone(),
        },
        spec: FileRef {
            path: prepared.spec.path.display().to_string(),
            sha256: sha256_hex(&prepared.spec.bytes),
        },
        threat: prepared.threat.clone(),
        config: config.clone(),
        summary,
        performance: Performance {
            model_evaluations,
            seconds,
            evaluations_per_second: model_evaluations as f64 / seconds.max(1e-9),
            workers: options.workers,
            intra_threads: options.runtime.intra_threads,
        },
    };
    Ok((report, rows))
}
