//! `robcert compare`: the same spec on several models of one architecture (training regimes),
//! side by side: clean accuracy, verified / falsified / unknown counts per model, verified share
//! per bound method, empirical robust recall, money at risk, smoothing certified recall, and one
//! plot of certified recall vs budget per model (a certified and an attack curve per model, in
//! the model's own colour). Models must take the same inputs (feature names, width, classes).

use crate::bounds::verdict::{VerdictKind, survives_attack_at, target_share_curve};
use crate::error::{Error, Result};
use crate::pipeline::{BoundsJob, JobOptions, Overrides, bounds, prepare};
use crate::report::html::{Figure, HtmlReport, Section, Table};
use crate::report::plots::{LinePlot, Series, line_plot};
use crate::smoothing::{SmoothingMode, SmoothingRun, SmoothingSummary, run_smoothing};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One model's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelComparison {
    /// The model's file name.
    pub model: String,
    pub sha256: String,
    pub rows: usize,
    pub clean_correct: usize,
    pub clean_accuracy: f64,
    pub target_rows: usize,
    pub verified: usize,
    pub falsified: usize,
    pub unknown: usize,
    pub verified_share_by_method: BTreeMap<String, f64>,
    pub empirical_robust_recall: f64,
    pub money_at_risk: Option<f64>,
    pub smoothing_certified_recall: Option<f64>,
    /// (budget scale, share of target rows certified by the best method).
    pub certified_curve: Vec<(f64, f64)>,
    /// (budget scale, share of target rows not falsified by the attack).
    pub attack_curve: Vec<(f64, f64)>,
}

/// Runs the spec's bounds and attacks (and smoothing with `with_smoothing`, slow on large data)
/// on every model. The models must take the same inputs as the first one.
pub fn compare(
    spec: &Path,
    models: &[PathBuf],
    options: &JobOptions,
    with_smoothing: bool,
) -> Result<Vec<ModelComparison>> {
    let mut out = Vec::new();
    let mut first: Option<(Vec<String>, usize)> = None;
    for model in models {
        let prepared = prepare(
            spec,
            &Overrides {
                model: Some(model.clone()),
                data: None,
            },
            &options.runtime,
        )?;
        let inputs = (prepared.data.features.clone(), prepared.model.num_classes);
        match &first {
            None => first = Some(inputs),
            Some(f) if *f != inputs => {
                return Err(Error::param(
                    "models",
                    model.display(),
                    format!(
                        "takes other inputs than {} (features {:?}, {} classes vs {:?}, {} classes): \
                         compared models must take the same inputs",
                        models[0].display(),
                        inputs.0,
                        inputs.1,
                        f.0,
                        f.1
                    ),
                ));
            }
            _ => {}
        }
        out.push(compare_one(&prepared, options, with_smoothing)?);
    }
    Ok(out)
}

/// The figures of one prepared model under its spec.
pub fn compare_one(
    prepared: &crate::pipeline::Prepared,
    options: &JobOptions,
    with_smoothing: bool,
) -> Result<ModelComparison> {
    let s = &prepared.spec.spec;
    let job = BoundsJob {
        bounds: s.methods.bounds.clone(),
        attack: s.methods.attack.clone(),
    };
    let (report, rows) = bounds(prepared, &job, options)?;
    let smoothing = match s.methods.smoothing.as_ref().filter(|_| with_smoothing) {
        Some(c) => {
            let out = run_smoothing(&SmoothingRun {
                model: &prepared.model,
                data: &prepared.data,
                threat: &prepared.threat,
                config: c,
                mode: SmoothingMode::Certify,
                workers: options.workers,
                rows: None,
                progress: options.progress,
            })?;
            Some(SmoothingSummary::from_rows(&out.rows, &[]))
        }
        None => None,
    };
    let scale_max = job.bounds.as_ref().map_or(1.0, |b| b.scale_max);
    let grid: Vec<f64> = (0..=40).map(|i| scale_max * i as f64 / 40.0).collect();
    let certified_curve = target_share_curve(&rows, &grid, |r, sc| {
        r.methods.iter().any(|m| m.certified_at(sc))
    });
    let attack_curve = target_share_curve(&rows, &grid, survives_attack_at);
    let count = |k: VerdictKind| rows.iter().filter(|r| r.verdict == k).count();
    let name = prepared
        .model
        .path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    Ok(ModelComparison {
        model: name,
        sha256: prepared.model.sha256.clone(),
        rows: rows.len(),
        clean_correct: rows.iter().filter(|r| r.base_prediction == r.label).count(),
        clean_accuracy: report.summary.clean_accuracy,
        target_rows: report.summary.target_rows,
        verified: count(VerdictKind::Verified),
        falsified: count(VerdictKind::Falsified),
        unknown: count(VerdictKind::Unknown),
        verified_share_by_method: report.summary.verified_share_by_method.clone(),
        empirical_robust_recall: report.summary.empirical_robust_share,
        money_at_risk: report.summary.money_not_verified,
        smoothing_certified_recall: smoothing.map(|s| s.certified_target_recall_at_budget),
        certified_curve,
        attack_curve,
    })
}

fn model_name(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .map_or(file.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The comparison table: header and one row of formatted cells per model.
pub fn comparison_table(rows: &[ModelComparison]) -> (Vec<String>, Vec<Vec<String>>) {
    let methods: Vec<String> = rows
        .first()
        .map(|r| r.verified_share_by_method.keys().cloned().collect())
        .unwrap_or_default();
    let mut header = vec![
        "model".to_string(),
        "clean accuracy".to_string(),
        "verified / falsified / unknown (target rows)".to_string(),
    ];
    header.extend(methods.iter().map(|m| format!("verified ({m})")));
    header.extend([
        "not falsified (attack)".to_string(),
        "money at risk".to_string(),
        "smoothing certified".to_string(),
    ]);
    let cells = rows
        .iter()
        .map(|r| {
            let mut c = vec![
                model_name(&r.model),
                format!("{:.2}%", 100.0 * r.clean_accuracy),
                format!(
                    "{} / {} / {} of {}",
                    r.verified, r.falsified, r.unknown, r.target_rows
                ),
            ];
            for m in &methods {
                c.push(
                    r.verified_share_by_method
                        .get(m)
                        .map_or("—".into(), |v| format!("{:.2}%", 100.0 * v)),
                );
            }
            c.push(format!("{:.2}%", 100.0 * r.empirical_robust_recall));
            c.push(r.money_at_risk.map_or("—".into(), |m| format!("{m:.2}")));
            c.push(
                r.smoothing_certified_recall
                    .map_or("—".into(), |m| format!("{:.2}%", 100.0 * m)),
            );
            c
        })
        .collect();
    (header, cells)
}

/// Certified (solid) and attack (dashed) curves of every model in one plot; a model's two
/// curves share its colour.
pub fn comparison_plot(rows: &[ModelComparison]) -> Result<crate::report::plots::PlotFiles> {
    let mut series = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        series.push(Series {
            label: format!("{} certified", model_name(&r.model)),
            points: r.certified_curve.clone(),
            dashed: false,
            colour: Some(i),
        });
        series.push(Series {
            label: format!("{} not falsified", model_name(&r.model)),
            points: r.attack_curve.clone(),
            dashed: true,
            colour: Some(i),
        });
    }
    line_plot(&LinePlot {
        name: "compare_certified_vs_budget".into(),
        title: "Certified fraud recall vs budget, per training regime".into(),
        x_label: "budget scale (× threat budget)".into(),
        y_label: "share of fraud rows".into(),
        series,
        y_range: Some((0.0, 1.0)),
        vertical_marker: Some((1.0, "threat budget".into())),
    })
}

/// The comparison as CSV (pandas-ready).
pub fn comparison_csv(rows: &[ModelComparison]) -> Vec<u8> {
    let methods: Vec<String> = rows
        .first()
        .map(|r| r.verified_share_by_method.keys().cloned().collect())
        .unwrap_or_default();
    let mut header: Vec<String> = [
        "model",
        "sha256",
        "rows",
        "clean_accuracy",
        "target_rows",
        "verified",
        "falsified",
        "unknown",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(
        methods
            .iter()
            .map(|m| format!("verified_share_{}", crate::csvio::ident(m))),
    );
    header.extend(
        [
            "empirical_robust_recall",
            "money_at_risk",
            "smoothing_certified_recall",
        ]
        .map(String::from),
    );
    let mut w = crate::csvio::CsvOut::new(&header);
    for r in rows {
        let mut c = vec![
            r.model.clone(),
            r.sha256.clone(),
            r.rows.to_string(),
            crate::csvio::float(r.clean_accuracy),
            r.target_rows.to_string(),
            r.verified.to_string(),
            r.falsified.to_string(),
            r.unknown.to_string(),
        ];
        for m in &methods {
            c.push(crate::csvio::opt_float(
                r.verified_share_by_method.get(m).copied(),
            ));
        }
        c.push(crate::csvio::float(r.empirical_robust_recall));
        c.push(crate::csvio::opt_float(r.money_at_risk));
        c.push(crate::csvio::opt_float(r.smoothing_certified_recall));
        w.row(&c);
    }
    w.finish()
}

/// Named file contents.
pub type NamedFiles = Vec<(String, Vec<u8>)>;

/// The comparison's files (`compare.csv`, `compare.json`, the plot, `compare.html`) and the
/// printed table.
pub fn comparison_files(rows: &[ModelComparison]) -> Result<(NamedFiles, String)> {
    if rows.is_empty() {
        return Err(Error::param("models", "[]", "name at least one model"));
    }
    let (header, table_rows) = comparison_table(rows);
    let plot = comparison_plot(rows)?;
    let html = crate::report::html::render_html(&HtmlReport {
        title: "Training regimes compared".into(),
        subtitle: format!("robcert {}", env!("CARGO_PKG_VERSION")),
        decision: None,
        sections: vec![Section {
            heading: "Results".into(),
            paragraphs: vec![format!(
                "{} models under the same spec and seeds. Solid curves: share of fraud rows certified (best bound method) as the budget grows; dashed, in the same colour: share the attack does not falsify (an upper bound). This page compares; it decides nothing.",
                rows.len()
            )],
            tables: vec![Table {
                caption: "Per model, at the threat budget".into(),
                header: header.clone(),
                rows: table_rows.clone(),
                highlight_column: None,
            }],
            figures: vec![Figure {
                caption: "Certified fraud recall vs budget per model".into(),
                png: plot.png.clone(),
            }],
            code: None,
        }],
        footer: String::new(),
    });
    let files = vec![
        ("compare.csv".to_string(), comparison_csv(rows)),
        (
            "compare.json".to_string(),
            (serde_json::to_string_pretty(rows).expect("serialisable") + "\n").into_bytes(),
        ),
        ("compare_certified_vs_budget.png".to_string(), plot.png),
        ("compare_certified_vs_budget.svg".to_string(), plot.svg),
        ("compare.html".to_string(), html.into_bytes()),
    ];
    let mut text = header.join(" | ") + "\n";
    for r in table_rows {
        text.push_str(&(r.join(" | ") + "\n"));
    }
    Ok((files, text))
}
