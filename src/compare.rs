//! `robcert compare`: the same spec on several models of one architecture (training regimes),
//! side by side: clean accuracy, verified share per bound method, empirical robust recall, money
//! at risk, smoothing certified recall, and one plot of certified recall vs budget per model.

use crate::bounds::verdict::{survives_attack_at, target_share_curve};
use crate::error::{Error, Result};
use crate::pipeline::{BoundsJob, JobOptions, Overrides, bounds, prepare, smooth};
use crate::report::html::{Figure, HtmlReport, Section, Table};
use crate::report::plots::{LinePlot, Series, line_plot};
use crate::smoothing::SmoothingMode;
use crate::util::atomic_write;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One model's figures.
#[derive(Clone, Debug, Serialize)]
pub struct ModelComparison {
    pub model: String,
    pub sha256: String,
    pub clean_accuracy: f64,
    pub target_rows: usize,
    pub verified_share_by_method: BTreeMap<String, f64>,
    pub empirical_robust_recall: f64,
    pub money_at_risk: Option<f64>,
    pub smoothing_certified_recall: Option<f64>,
    /// (budget scale, share of target rows certified by the best method).
    pub certified_curve: Vec<(f64, f64)>,
    /// (budget scale, share of target rows not falsified by the attack).
    pub attack_curve: Vec<(f64, f64)>,
}

/// Runs the spec's bounds (and smoothing, if the spec has it) on every model.
/// `with_smoothing` also runs the spec's smoothing on each model (slow on large data).
pub fn compare(
    spec: &Path,
    models: &[PathBuf],
    options: &JobOptions,
    with_smoothing: bool,
) -> Result<Vec<ModelComparison>> {
    let mut out = Vec::new();
    for model in models {
        let prepared = prepare(
            spec,
            &Overrides {
                model: Some(model.clone()),
                data: None,
            },
            &options.runtime,
        )?;
        let s = &prepared.spec.spec;
        let job = BoundsJob {
            bounds: s.methods.bounds.clone().unwrap_or_default(),
            attack: Some(s.methods.attack.clone().unwrap_or_default()),
        };
        let (report, rows) = bounds(&prepared, &job, options)?;
        let smoothing = match s.methods.smoothing.as_ref().filter(|_| with_smoothing) {
            Some(c) => Some(
                smooth(&prepared, c, SmoothingMode::Certify, options)?
                    .0
                    .summary,
            ),
            None => None,
        };
        let grid: Vec<f64> = (0..=40)
            .map(|i| job.bounds.scale_max * i as f64 / 40.0)
            .collect();
        let certified_curve = target_share_curve(&rows, &grid, |r, sc| {
            r.methods.iter().any(|m| m.certified_at(sc))
        });
        let attack_curve = target_share_curve(&rows, &grid, survives_attack_at);
        out.push(ModelComparison {
            model: model.display().to_string(),
            sha256: prepared.model.sha256.clone(),
            clean_accuracy: report.summary.clean_accuracy,
            target_rows: report.summary.target_rows,
            verified_share_by_method: report.summary.verified_share_by_method.clone(),
            empirical_robust_recall: report.summary.empirical_robust_share,
            money_at_risk: report.summary.money_not_verified,
            smoothing_certified_recall: smoothing.map(|s| s.certified_target_recall_at_budget),
            certified_curve,
            attack_curve,
        });
    }
    Ok(out)
}

fn model_name(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map_or(path.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The comparison table: header and one row of formatted cells per model.
pub fn comparison_table(rows: &[ModelComparison]) -> (Vec<String>, Vec<Vec<String>>) {
    let methods: Vec<String> = rows
        .first()
        .map(|r| r.verified_share_by_method.keys().cloned().collect())
        .unwrap_or_default();
    let mut header = vec!["model".to_string(), "clean accuracy".to_string()];
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
            ];
            for m in &methods {
                c.push(format!(
                    "{:.2}%",
                    100.0
                        * r.verified_share_by_method
                            .get(m)
                            .copied()
                            .unwrap_or(f64::NAN)
                ));
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

/// Certified (solid) and attack (dashed) curves of every model in one plot.
pub fn comparison_plot(rows: &[ModelComparison]) -> Result<crate::report::plots::PlotFiles> {
    let mut series: Vec<Series> = rows
        .iter()
        .map(|r| Series {
            label: format!("{} certified", model_name(&r.model)),
            points: r.certified_curve.clone(),
            dashed: false,
        })
        .collect();
    series.extend(rows.iter().map(|r| Series {
        label: format!("{} attack", model_name(&r.model)),
        points: r.attack_curve.clone(),
        dashed: true,
    }));
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

/// Writes `compare.csv`, `compare.json`, `compare_certified_vs_budget.{png,svg}` and
/// `compare.html` into `dir`, and returns the printed table.
pub fn write_comparison(dir: &Path, rows: &[ModelComparison]) -> Result<String> {
    if rows.is_empty() {
        return Err(Error::param("models", "[]", "name at least one model"));
    }
    let methods: Vec<String> = rows[0].verified_share_by_method.keys().cloned().collect();
    let mut csv = String::from("model,sha256,clean_accuracy,target_rows");
    for m in &methods {
        csv.push_str(&format!(",verified_{m}"));
    }
    csv.push_str(",empirical_robust_recall,money_at_risk,smoothing_certified_recall\n");
    for r in rows {
        csv.push_str(&format!(
            "{},{},{},{}",
            r.model, r.sha256, r.clean_accuracy, r.target_rows
        ));
        for m in &methods {
            csv.push_str(&format!(
                ",{}",
                r.verified_share_by_method
                    .get(m)
                    .copied()
                    .unwrap_or(f64::NAN)
            ));
        }
        let money = r.money_at_risk.map_or(String::new(), |m| m.to_string());
        let smooth = r
            .smoothing_certified_recall
            .map_or(String::new(), |m| m.to_string());
        csv.push_str(&format!(
            ",{},{money},{smooth}\n",
            r.empirical_robust_recall
        ));
    }
    let (header, table_rows) = comparison_table(rows);
    let plot = comparison_plot(rows)?;
    atomic_write(&dir.join("compare.csv"), csv.as_bytes())?;
    atomic_write(
        &dir.join("compare.json"),
        (serde_json::to_string_pretty(rows).expect("serialisable") + "\n").as_bytes(),
    )?;
    atomic_write(&dir.join("compare_certified_vs_budget.png"), &plot.png)?;
    atomic_write(&dir.join("compare_certified_vs_budget.svg"), &plot.svg)?;
    let html = crate::report::html::render_html(&HtmlReport {
        title: "Training regimes compared".into(),
        subtitle: format!("robcert {}", env!("CARGO_PKG_VERSION")),
        decision: "COMPARISON".into(),
        decision_ok: true,
        decision_reasons: vec![format!("{} models, same spec and seeds", rows.len())],
        sections: vec![Section {
            heading: "Results".into(),
            paragraphs: vec!["Solid curves: share of fraud rows certified (best bound method) as the budget grows; dashed: share the attack does not falsify (an upper bound).".into()],
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
    atomic_write(&dir.join("compare.html"), html.as_bytes())?;
    let mut text = header.join(" | ") + "\n";
    for r in table_rows {
        text.push_str(&(r.join(" | ") + "\n"));
    }
    Ok(text)
}
