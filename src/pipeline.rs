//! Jobs that tie the pieces together: spec → data → model → threat → method → report. The CLI
//! calls these; tests call them too, so everything the binary does is testable in-process.

use crate::data::{DataLayout, Dataset};
use crate::error::{Error, Result};
use crate::runtime::{OnnxModel, RuntimeConfig, sha256_hex};
use crate::smoothing::certify::SmoothingOutput;
use crate::smoothing::{
    RowCertificate, SmoothingConfig, SmoothingMode, SmoothingRun, SmoothingSummary, run_smoothing,
};
use crate::threat::ThreatModel;
use crate::threat::spec::LoadedSpec;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A spec with its model, data and threat model loaded and checked against each other.
#[derive(Clone)]
pub struct Prepared {
    pub spec: LoadedSpec,
    pub model: OnnxModel,
    pub data: Dataset,
    pub data_sha256: String,
    pub threat: ThreatModel,
}

impl Prepared {
    /// Model, data and spec as file references with their SHA-256.
    pub fn input_files(&self) -> (FileRef, FileRef, FileRef) {
        (
            FileRef {
                path: self.model.path.display().to_string(),
                sha256: self.model.sha256.clone(),
            },
            FileRef {
                path: self.data.path.display().to_string(),
                sha256: self.data_sha256.clone(),
            },
            FileRef {
                path: self.spec.path.display().to_string(),
                sha256: sha256_hex(&self.spec.bytes),
            },
        )
    }
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
    let runtime = &RuntimeConfig {
        optimization: spec.spec.model.ort_optimization,
        ..runtime.clone()
    };
    let data_path = overrides.data.clone().unwrap_or_else(|| spec.data_path());
    let model_path = overrides.model.clone().unwrap_or_else(|| spec.model_path());
    let relative_hint = |key: &str, given: &Path, e: Error| match e {
        Error::MissingFile { path } if given.is_relative() => Error::spec(
            key,
            format!(
                "{} does not exist (relative paths in a spec are resolved against the spec's folder, {})",
                path.display(),
                spec.path
                    .parent()
                    .map_or(".".into(), |p| p.display().to_string())
            ),
        ),
        other => other,
    };
    let model = OnnxModel::load(&model_path, runtime)
        .map_err(|e| relative_hint("model.path", &spec.spec.model.path, e))?;
    let features = model_features(&model, spec.spec.model.features.as_deref())?;
    let layout = DataLayout {
        features: Some(features),
        label: spec.spec.data.label.clone(),
        amount: spec.spec.data.amount.clone(),
        id: spec.spec.data.id.clone(),
        ignore: spec.spec.data.ignore.clone(),
    };
    let data = Dataset::from_csv(&data_path, &layout)
        .map_err(|e| relative_hint("data.path", &spec.spec.data.path, e))?;
    let data_sha256 = sha256_hex(&crate::util::read_limited(
        &data_path,
        crate::util::MAX_DATA_BYTES,
    )?);
    model.check_width(&data.features)?;
    let class_names = match (
        spec.spec.data.classes.as_deref(),
        model.class_names.as_deref(),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::spec(
                "data.classes",
                format!(
                    "{a:?} differ from the model's own class names {b:?} (metadata `{}`)",
                    crate::onnx::CLASSES_KEY
                ),
            ));
        }
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    let threat = ThreatModel::resolve(&spec.spec.threat, &data, class_names, model.num_classes)?;
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

/// The model's input features in order: from its `robcert.features` metadata or the spec's
/// `[model] features` (which must agree when both are given).
pub fn model_features(model: &OnnxModel, from_spec: Option<&[String]>) -> Result<Vec<String>> {
    match (model.feature_names.as_deref(), from_spec) {
        (Some(a), Some(b)) if a != b => Err(Error::spec(
            "model.features",
            format!(
                "{b:?} differ from the features the model records in its `{}` metadata, {a:?}",
                crate::onnx::FEATURES_KEY
            ),
        )),
        (Some(a), _) => Ok(a.to_vec()),
        (None, Some(b)) => {
            if b.len() != model.input_width {
                return Err(Error::spec(
                    "model.features",
                    format!(
                        "{} names for a model input of {} values per row",
                        b.len(),
                        model.input_width
                    ),
                ));
            }
            Ok(b.to_vec())
        }
        (None, None) => Err(Error::spec(
            "model.features",
            format!(
                "{} does not say which feature each of its {} inputs is, so data columns cannot be \
                 matched to it by name. Either list them in the spec, `[model] features = [\"amount\", \
                 \"hour\", ...]` in the model's input order, or record them in the model once, as a \
                 JSON array under the metadata key `{}` (`python notebooks/add_feature_names.py \
                 MODEL.onnx --features amount,hour,...`, or with the onnx package: `p = \
                 m.metadata_props.add(); p.key = \"{}\"; p.value = json.dumps(names)`)",
                model.path.display(),
                model.input_width,
                crate::onnx::FEATURES_KEY,
                crate::onnx::FEATURES_KEY
            ),
        )),
    }
}

pub use crate::util::FileHash as FileRef;

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
    /// Each row's certificate level (α / rows, Bonferroni).
    pub alpha_per_row: f64,
    pub warnings: Vec<String>,
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

/// The radius grid of the certified-accuracy curve: 0 to a little beyond the largest radius
/// any realistic sample size can certify (σ·Φ⁻¹(1 − 10⁻⁶)), in 40 steps.
pub fn radius_grid_for(sigma: f64) -> Vec<f64> {
    crate::sections::smoothing::radius_grid(sigma)
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
        alpha_per_row,
        warnings,
    } = run_smoothing(&run)?;
    let summary = SmoothingSummary::from_rows(&rows, &radius_grid_for(config.sigma));
    let (model, data, spec) = prepared.input_files();
    let report = SmoothingReport {
        robcert_version: env!("CARGO_PKG_VERSION"),
        method: "randomized_smoothing",
        mode,
        model,
        data,
        spec,
        threat: prepared.threat.clone(),
        config: config.clone(),
        alpha_per_row,
        warnings,
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

/// Bound-engine settings of one job (the spec's `[methods.bounds]` and `[methods.attack]`).
#[derive(Clone, Debug)]
pub struct BoundsJob {
    /// `None` runs no bound method (rows can then only be falsified or unknown).
    pub bounds: Option<crate::config::BoundsConfig>,
    /// `None` runs no attack (rows can then only be verified or unknown).
    pub attack: Option<crate::config::AttackConfig>,
}

impl BoundsJob {
    /// The bound settings the verdicts use: the job's, or none at all (no method, no scale
    /// search) when the spec has no `[methods.bounds]`.
    pub fn effective_bounds(&self) -> crate::config::BoundsConfig {
        self.bounds
            .clone()
            .unwrap_or_else(|| crate::config::BoundsConfig {
                methods: Vec::new(),
                scale_search: false,
                ..crate::config::BoundsConfig::default()
            })
    }
}

/// Aggregates of a bounds run.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundsSummary {
    /// A method verifies a row when its margin lower bound exceeds this (0 for raw scores, the
    /// Softmax tie margin after a final Softmax).
    pub margin_threshold: f64,
    pub rows: usize,
    pub target_rows: usize,
    pub clean_accuracy: f64,
    pub verified: usize,
    pub falsified: usize,
    pub unknown: usize,
    /// Among target rows: share verified by each method at the threat budget.
    pub verified_share_by_method: std::collections::BTreeMap<String, f64>,
    /// Among target rows: median of the largest certified scale per method.
    pub median_certified_scale_by_method: std::collections::BTreeMap<String, f64>,
    /// Among target rows: share not falsified by the attack (empirical robust accuracy).
    pub empirical_robust_share: f64,
    /// Sum of `amount` over target rows not verified (upper bound on money at risk).
    pub money_not_verified: Option<f64>,
    /// Sum of `amount` over target rows with a confirmed counterexample (lower bound).
    pub money_falsified: Option<f64>,
}

/// The bounds summary file.
#[derive(Clone, Debug, Serialize)]
pub struct BoundsReport {
    pub robcert_version: &'static str,
    pub method: &'static str,
    pub model: FileRef,
    pub data: FileRef,
    pub spec: FileRef,
    pub threat: ThreatModel,
    pub bounds: Option<crate::config::BoundsConfig>,
    pub attack: Option<crate::config::AttackConfig>,
    /// The bound methods that ran (none without `[methods.bounds]` or after a fallback).
    pub methods_run: Vec<crate::config::Method>,
    /// What the bound engine certified: the graph ONNX Runtime executes, or why it could not.
    pub network: NetworkInfo,
    pub summary: BoundsSummary,
    pub seconds: f64,
}

/// The network the bound methods ran on.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct NetworkInfo {
    /// ONNX Runtime and its graph optimisation level (the executed graph depends on both).
    pub runtime: crate::runtime::RuntimeInfo,
    /// SHA-256 of the optimised ONNX graph ONNX Runtime saved for these session options: the
    /// graph the bounds are about. `None` when the bound engine could not import it.
    pub executed_graph_sha256: Option<String>,
    /// `identity` or `softmax` (a final Softmax/LogSoftmax whose order the margins must survive).
    pub output_transform: Option<String>,
    /// Why the bound methods did not run (only the black-box attack did), if so.
    pub fallback: Option<String>,
}

impl BoundsSummary {
    /// `margin_threshold`: what a margin bound had to exceed to verify (see
    /// [`crate::ir::OutputTransform::margin_threshold`]).
    pub fn from_rows(
        rows: &[crate::bounds::verdict::RowVerdict],
        methods: &[crate::bounds::Method],
        margin_threshold: f64,
    ) -> BoundsSummary {
        use crate::bounds::verdict::VerdictKind as V;
        let target: Vec<_> = rows
            .iter()
            .filter(|r| r.verdict != V::NotTargeted)
            .collect();
        let nt = target.len().max(1) as f64;
        let count = |k: V| target.iter().filter(|r| r.verdict == k).count();
        let mut verified_share_by_method = std::collections::BTreeMap::new();
        let mut median_certified_scale_by_method = std::collections::BTreeMap::new();
        for m in methods {
            let results: Vec<_> = target
                .iter()
                .filter_map(|r| r.methods.iter().find(|x| x.method == *m))
                .collect();
            verified_share_by_method.insert(
                m.name().to_string(),
                results.iter().filter(|x| x.verified).count() as f64 / nt,
            );
            let scales: Vec<f64> = results.iter().filter_map(|x| x.certified_scale).collect();
            if !scales.is_empty() {
                median_certified_scale_by_method
                    .insert(m.name().to_string(), crate::util::median(scales));
            }
        }
        let has_amounts = rows.iter().all(|r| r.amount.is_some()) && !rows.is_empty();
        let money = |pred: &dyn Fn(&&&crate::bounds::verdict::RowVerdict) -> bool| {
            has_amounts.then(|| {
                target
                    .iter()
                    .filter(pred)
                    .map(|r| r.amount.unwrap_or(0.0))
                    .sum()
            })
        };
        BoundsSummary {
            margin_threshold,
            rows: rows.len(),
            target_rows: target.len(),
            clean_accuracy: rows.iter().filter(|r| r.base_prediction == r.label).count() as f64
                / rows.len().max(1) as f64,
            verified: count(V::Verified),
            falsified: count(V::Falsified),
            unknown: count(V::Unknown),
            verified_share_by_method,
            median_certified_scale_by_method,
            empirical_robust_share: 1.0 - count(V::Falsified) as f64 / nt,
            money_not_verified: money(&|r| r.verdict != V::Verified),
            money_falsified: money(&|r| r.verdict == V::Falsified),
        }
    }
}

/// The bound engine's IR of the graph ONNX Runtime executes for `model` (see
/// [`OnnxModel::executed_graph`]), with that graph's SHA-256.
pub fn load_network(model: &OnnxModel) -> Result<(crate::ir::Graph, String)> {
    let (onnx, sha) = model.executed_graph()?;
    Ok((crate::onnx::import::import(&onnx)?, sha))
}

/// Runs bounds, attacks and verdicts on every selected row, in parallel over rows (one ONNX
/// Runtime session per worker). Rows are independent and seeded by index: results do not depend
/// on the number of workers.
pub fn bounds(
    prepared: &Prepared,
    job: &BoundsJob,
    options: &JobOptions,
) -> Result<(BoundsReport, Vec<crate::bounds::verdict::RowVerdict>)> {
    use crate::bounds::verdict::{VerdictContext, judge_row};
    if let Some(b) = &job.bounds {
        b.validate()?;
    }
    if let Some(a) = &job.attack {
        a.validate()?;
    }
    let bounds_config = job.effective_bounds();
    let start = std::time::Instant::now();
    let runtime = crate::runtime::runtime_info(prepared.model.runtime_config())?;
    let mut network = NetworkInfo {
        runtime,
        executed_graph_sha256: None,
        output_transform: None,
        fallback: None,
    };
    // The network is only read when a bound method or the gradient attack needs it.
    let needs_graph = job.bounds.is_some()
        || job
            .attack
            .as_ref()
            .is_some_and(|a| a.method == crate::config::AttackMethod::Pgd);
    let graph = if !needs_graph {
        None
    } else {
        match load_network(&prepared.model) {
            Ok((graph, sha)) => {
                network.executed_graph_sha256 = Some(sha);
                network.output_transform = Some(
                    match graph.output_transform {
                        crate::ir::OutputTransform::Identity => "identity",
                        crate::ir::OutputTransform::Softmax { .. } => "softmax",
                    }
                    .into(),
                );
                Some(graph)
            }
            // The bound engine cannot represent the model: attacks still run through ONNX
            // Runtime, as a black box; the reason is recorded.
            Err(e) if job.attack.is_some() && e.is_model_unsupported() => {
                network.fallback = Some(e.to_string());
                None
            }
            Err(e) => return Err(e),
        }
    };
    if let Some(graph) = graph
        .as_ref()
        .filter(|g| g.input_size != prepared.data.width())
    {
        return Err(Error::InputWidthMismatch {
            path: prepared.model.path.clone(),
            model_width: graph.input_size,
            data_width: prepared.data.width(),
            hint: "the bound engine reads the input width from the ONNX graph".into(),
        });
    }
    let base = crate::smoothing::certify::base_predictions(&prepared.model, &prepared.data, 4096)?;
    let n = options
        .limit
        .unwrap_or(usize::MAX)
        .min(prepared.data.rows());
    let threshold = graph.as_ref().map_or(0.0, |g| g.margin_threshold());
    // Without a network (black-box attack, or a fallback) no bound method can run.
    let methods_config = if graph.is_some() {
        bounds_config
    } else {
        crate::config::BoundsConfig {
            methods: Vec::new(),
            ..bounds_config
        }
    };
    let ctx = VerdictContext {
        graph: graph.as_ref(),
        threat: &prepared.threat,
        bounds: &methods_config,
        attack: job.attack.as_ref(),
    };
    let progress = if options.progress {
        let bar = indicatif::ProgressBar::new(n as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} bounds [{bar:40}] {pos}/{len} rows  {per_sec}  eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(n));
    let workers = options.workers.clamp(1, n.max(1));
    let outcomes: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    let mut session = prepared.model.session()?;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        let amount = prepared.data.amounts.as_ref().map(|a| a[i]);
                        let mut row = judge_row(
                            &ctx,
                            &mut session,
                            i,
                            prepared.data.row(i),
                            prepared.data.labels[i],
                            base[i],
                            amount,
                        )?;
                        row.id = prepared.data.id(i);
                        results.lock().expect("no poisoned lock").push(row);
                        progress.inc(1);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bounds worker panicked"))
            .collect()
    });
    progress.finish_and_clear();
    outcomes.into_iter().collect::<Result<Vec<()>>>()?;
    let mut rows = results.into_inner().expect("no poisoned lock");
    rows.sort_by_key(|r| r.index);
    let (model, data, spec) = prepared.input_files();
    let report = BoundsReport {
        robcert_version: env!("CARGO_PKG_VERSION"),
        method: "bounds",
        model,
        data,
        spec,
        threat: prepared.threat.clone(),
        bounds: job.bounds.clone(),
        attack: job.attack.clone(),
        methods_run: methods_config.methods.clone(),
        network,
        summary: BoundsSummary::from_rows(&rows, &methods_config.methods, threshold),
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((report, rows))
}
