//! `robcert certify`: one spec in, a signed dossier folder out.
//!
//! Runs every method the spec asks for (smoothing, bounds, attacks), evaluates the
//! risk-acceptance criteria, renders plots and the HTML report, writes `dossier.json` in
//! canonical form and signs its exact bytes. Everything is written into a temporary sibling
//! folder which is renamed into place at the end: a killed run leaves no partial dossier under
//! the final name.

use crate::bounds::Method;
use crate::bounds::verdict::{RowVerdict, VerdictKind, survives_attack_at, target_share_curve};
use crate::dossier::criteria::{self, Criterion, Decision};
use crate::dossier::document::*;
use crate::dossier::{canonical, metrics, sign};
use crate::error::{Error, Result};
use crate::output::{bounds_rows_csv, counterexamples_csv, smoothing_rows_csv};
use crate::pipeline::{
    BoundsJob, BoundsReport, JobOptions, Overrides, Prepared, SmoothingReport, bounds, prepare,
    smooth,
};
use crate::report::html::{Figure, HtmlReport, Section, Table};
use crate::report::plots::{Histogram, LinePlot, PlotFiles, Series, histogram, line_plot};
use crate::runtime::sha256_hex;
use crate::smoothing::{RowCertificate, SmoothingMode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of one certification run.
pub struct CertifyOptions {
    pub out: PathBuf,
    /// Replace an existing output folder.
    pub force: bool,
    /// Private key (PEM) that signs `dossier.json`.
    pub key: PathBuf,
    pub job: JobOptions,
    /// The `generated_at` value; `None` takes the current UTC time.
    pub timestamp: Option<String>,
    /// The `engine.source_commit` value; `None` takes the commit robcert was built from. Set
    /// both to reproduce an earlier dossier byte for byte.
    pub source_commit: Option<String>,
}

/// What a certification produced.
pub struct Certified {
    pub dossier: Dossier,
    pub dir: PathBuf,
}

/// The files of a dossier folder before they are written: relative path → bytes.
#[derive(Default)]
struct Files(BTreeMap<String, Vec<u8>>);

impl Files {
    fn add(&mut self, path: &str, bytes: Vec<u8>) -> FileHash {
        let hash = FileHash {
            path: path.to_string(),
            sha256: sha256_hex(&bytes),
        };
        self.0.insert(path.to_string(), bytes);
        hash
    }
}

/// The git commit of the source tree robcert was built from.
pub fn source_commit() -> String {
    option_env!("ROBCERT_SOURCE_COMMIT")
        .unwrap_or("unknown")
        .to_string()
}

/// Seconds since the Unix epoch as an RFC 3339 UTC timestamp (no external time crate).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn scale_grid(max: f64) -> Vec<f64> {
    (0..=40).map(|i| max * i as f64 / 40.0).collect()
}

struct Rendered {
    figures: Vec<(String, String, PlotFiles)>,
}

fn render_plots(
    prepared: &Prepared,
    smoothing: Option<&(SmoothingReport, Vec<RowCertificate>)>,
    bounds_out: Option<&(BoundsReport, Vec<RowVerdict>)>,
) -> Result<Rendered> {
    let mut figures = Vec::new();
    let m = prepared.threat.mutable_indices().len() as f64;
    if let Some((report, rows)) = bounds_out {
        let grid = scale_grid(report.bounds.scale_max);
        let mut series: Vec<Series> = report
            .bounds
            .methods
            .iter()
            .map(|&method| Series {
                label: format!("certified: {}", method.name()),
                points: target_share_curve(rows, &grid, |r, s| {
                    r.methods
                        .iter()
                        .any(|m| m.method == method && m.certified_at(s))
                }),
                dashed: false,
            })
            .collect();
        if report.attack.is_some() {
            series.push(Series {
                label: "not falsified by the attack (upper bound)".into(),
                points: target_share_curve(rows, &grid, survives_attack_at),
                dashed: true,
            });
        }
        if let Some((s_report, s_rows)) = smoothing {
            let target: Vec<&RowCertificate> = s_rows.iter().filter(|r| r.in_target).collect();
            let n = target.len().max(1) as f64;
            let _ = s_report;
            series.push(Series {
                label: "smoothed classifier certified (box radius √m·s)".into(),
                points: grid
                    .iter()
                    .map(|&s| {
                        let k = target
                            .iter()
                            .filter(|r| {
                                r.prediction == Some(r.label)
                                    && r.radius.is_some_and(|x| x > s * m.sqrt())
                            })
                            .count();
                        (s, k as f64 / n)
                    })
                    .collect(),
                dashed: false,
            });
        }
        figures.push((
            "certified_vs_budget".to_string(),
            "Share of fraud rows certified as the attacker's budget grows (1 = the threat budget). Solid: certified lower bounds; dashed: the attack's empirical upper bound.".to_string(),
            line_plot(&LinePlot {
                name: "certified_vs_budget".into(),
                title: "Certified fraud recall vs budget scale".into(),
                x_label: "budget scale (× threat budget)".into(),
                y_label: "share of fraud rows".into(),
                series,
                y_range: Some((0.0, 1.0)),
                vertical_marker: Some((1.0, "threat budget".into())),
            })?,
        ));
        let best = report
            .bounds
            .methods
            .last()
            .copied()
            .unwrap_or(Method::Crown);
        let margins: Vec<f64> = rows
            .iter()
            .flat_map(|r| {
                r.methods
                    .iter()
                    .filter(|x| x.method == best)
                    .map(|x| x.margin_lower)
            })
            .collect();
        if !margins.is_empty() {
            figures.push((
                "margin_bounds".to_string(),
                format!("Lower bounds ({}) of the fraud-minus-legit score margin over each fraud row's threat box; right of 0 is verified.", best.name()),
                histogram(&Histogram {
                    name: "margin_bounds".into(),
                    title: format!("Margin lower bounds ({})", best.name()),
                    x_label: "score[fraud] − score[legit], lower bound over the box".into(),
                    groups: vec![("fraud rows".into(), margins)],
                    bins: 30,
                    vertical_marker: Some((0.0, "verified ▸".into())),
                })?,
            ));
        }
        if rows.iter().all(|r| r.amount.is_some()) {
            let target: Vec<&RowVerdict> = rows
                .iter()
                .filter(|r| r.verdict != VerdictKind::NotTargeted)
                .collect();
            let upper: Vec<(f64, f64)> = grid
                .iter()
                .map(|&s| {
                    let money = target
                        .iter()
                        .filter(|r| !r.methods.iter().any(|x| x.certified_at(s)))
                        .map(|r| r.amount.unwrap_or(0.0))
                        .sum();
                    (s, money)
                })
                .collect();
            let lower: Vec<(f64, f64)> = grid
                .iter()
                .map(|&s| {
                    let money = target
                        .iter()
                        .filter(|r| r.attack_scale.is_some_and(|a| a <= s))
                        .map(|r| r.amount.unwrap_or(0.0))
                        .sum();
                    (s, money)
                })
                .collect();
            figures.push((
                "money_at_risk".to_string(),
                "Money at risk as the budget grows: amount in fraud rows not certified (upper bound) and in rows the attack flipped (lower bound).".to_string(),
                line_plot(&LinePlot {
                    name: "money_at_risk".into(),
                    title: "Money at risk vs budget scale".into(),
                    x_label: "budget scale (× threat budget)".into(),
                    y_label: "amount".into(),
                    series: vec![
                        Series { label: "not certified (upper bound)".into(), points: upper, dashed: false },
                        Series { label: "flipped by the attack (lower bound)".into(), points: lower, dashed: true },
                    ],
                    y_range: None,
                    vertical_marker: Some((1.0, "threat budget".into())),
                })?,
            ));
        }
    }
    if let Some((_, rows)) = smoothing {
        let radii = |target: bool| -> Vec<f64> {
            rows.iter()
                .filter(|r| !target || r.in_target)
                .map(|r| r.radius.unwrap_or(0.0))
                .collect()
        };
        figures.push((
            "smoothing_radius".to_string(),
            "Certified radii of the smoothed classifier (budget-scaled L2; 0 = abstained). Rows right of the marker are certified over their whole threat box.".to_string(),
            histogram(&Histogram {
                name: "smoothing_radius".into(),
                title: "Smoothing: certified radius".into(),
                x_label: "certified radius (budget-scaled L2)".into(),
                groups: vec![("all rows".into(), radii(false)), ("fraud rows".into(), radii(true))],
                bins: 30,
                vertical_marker: Some((m.sqrt(), "threat box corner".into())),
            })?,
        ));
    }
    Ok(Rendered { figures })
}

fn html_report(
    dossier: &Dossier,
    figures: &[(String, String, PlotFiles)],
    bounds_rows: Option<&[RowVerdict]>,
    comparison: Option<&[crate::compare::ModelComparison]>,
) -> String {
    let criteria_table = Table {
        caption: "Risk-acceptance criteria".into(),
        header: vec![
            "criterion".into(),
            "value".into(),
            "threshold".into(),
            "result".into(),
        ],
        rows: dossier
            .criteria
            .iter()
            .map(|c: &Criterion| {
                vec![
                    c.metric.clone(),
                    c.value.map_or("not computed".into(), |v| format!("{v:.6}")),
                    format!("{} {}", c.comparison, c.threshold),
                    c.result.clone(),
                ]
            })
            .collect(),
        highlight_column: Some(3),
    };
    let metrics_table = Table {
        caption: "Metrics".into(),
        header: vec!["metric".into(), "value".into()],
        rows: dossier
            .metrics
            .iter()
            .map(|(k, v)| vec![k.clone(), format!("{v:.6}")])
            .collect(),
        highlight_column: None,
    };
    let threat = &dossier.threat;
    let features = threat["features"].as_array().cloned().unwrap_or_default();
    let budgets = threat["budgets"].as_array().cloned().unwrap_or_default();
    let threat_table = Table {
        caption: "Features the attacker controls (others are held fixed)".into(),
        header: vec![
            "feature".into(),
            "budget (feature units)".into(),
            "valid range".into(),
        ],
        rows: features
            .iter()
            .zip(&budgets)
            .enumerate()
            .filter(|(_, (_, b))| b.as_f64().unwrap_or(0.0) > 0.0)
            .map(|(i, (f, b))| {
                vec![
                    f.as_str().unwrap_or("").to_string(),
                    format!("± {}", b),
                    format!(
                        "[{}, {}]",
                        short(&threat["lower"][i]),
                        short(&threat["upper"][i])
                    ),
                ]
            })
            .collect(),
        highlight_column: None,
    };
    let inputs_table = Table {
        caption: "Inputs".into(),
        header: vec!["input".into(), "path".into(), "SHA-256".into()],
        rows: [
            ("model", &dossier.inputs.model),
            ("data", &dossier.inputs.data),
            ("spec", &dossier.inputs.spec),
        ]
        .iter()
        .map(|(k, f)| vec![k.to_string(), f.path.clone(), f.sha256.clone()])
        .collect(),
        highlight_column: None,
    };
    let mut sections = vec![
        Section {
            heading: "Decision and criteria".into(),
            paragraphs: vec![format!(
                "Model {} certified on {} rows of {}.",
                dossier.inputs.model.path, dossier.inputs.data_rows, dossier.inputs.data.path
            )],
            tables: vec![criteria_table, metrics_table],
            figures: vec![],
            code: None,
        },
        Section {
            heading: "Threat model".into(),
            paragraphs: vec![target_text(&threat["target"], &threat["class_names"])],
            tables: vec![threat_table],
            figures: vec![],
            code: None,
        },
        Section {
            heading: "Results".into(),
            paragraphs: vec![
                "Bound methods (IBP, CROWN, alpha-CROWN) prove that the deployed network keeps its fraud verdict over each row's whole threat box, including float32 rounding; attacks find real counterexamples confirmed by ONNX Runtime. Randomized smoothing certifies a smoothed version of the model with probability 1 − α per row.".into(),
            ],
            tables: vec![],
            figures: figures
                .iter()
                .map(|(_, caption, files)| Figure {
                    caption: caption.clone(),
                    png: files.png.clone(),
                })
                .collect(),
            code: None,
        },
    ];
    if let Some(rows) = bounds_rows {
        let uncertified: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| matches!(r.verdict, VerdictKind::Falsified | VerdictKind::Unknown))
            .take(25)
            .map(|r| {
                vec![
                    r.index.to_string(),
                    r.verdict.name().to_string(),
                    r.amount.map_or(String::new(), |a| format!("{a:.2}")),
                    r.methods
                        .iter()
                        .map(|m| format!("{}: {:.4}", m.method.name(), m.margin_lower))
                        .collect::<Vec<_>>()
                        .join(", "),
                    r.attack_scale.map_or("—".into(), |a| format!("{a:.3}")),
                ]
            })
            .collect();
        sections.push(Section {
            heading: "Fraud rows not certified".into(),
            paragraphs: vec!["Up to 25 rows; the full list is in bounds_rows.csv and the counterexamples in counterexamples.csv.".into()],
            tables: vec![Table {
                caption: "Rows falsified or unknown".into(),
                header: vec!["row".into(), "verdict".into(), "amount".into(), "margin lower bounds".into(), "attack scale".into()],
                rows: uncertified,
                highlight_column: Some(1),
            }],
            figures: vec![],
            code: None,
        });
    }
    if let Some(rows) = comparison {
        let (header, cells) = crate::compare::comparison_table(rows);
        sections.push(Section {
            heading: "Training regimes compared".into(),
            paragraphs: vec!["The same threat spec, bounds and attacks on each model of the [compare] table (smoothing omitted); the certified-vs-budget curves are in the Results section.".into()],
            tables: vec![Table {
                caption: "Per model, at the threat budget".into(),
                header,
                rows: cells,
                highlight_column: None,
            }],
            figures: vec![],
            code: None,
        });
    }
    let ctx = &dossier.context;
    sections.push(Section {
        heading: "Model-risk context".into(),
        paragraphs: [
            format!("Intended use: {}", ctx.intended_use),
            format!("Assumptions: {}", ctx.assumptions.join("; ")),
            format!("Limitations: {}", ctx.limitations.join("; ")),
            format!("Monitoring: {}", ctx.monitoring),
        ]
        .into_iter()
        .collect(),
        tables: vec![inputs_table],
        figures: vec![],
        code: None,
    });
    sections.push(Section {
        heading: "How to verify this dossier".into(),
        paragraphs: vec![
            format!(
                "dossier.json is signed with Ed25519; the signing key's fingerprint is {}. Check the signature with OpenSSL alone, then let robcert re-check every hash and recompute every statistic from the recorded counts:",
                dossier.signature.public_key_fingerprint
            ),
        ],
        tables: vec![],
        figures: vec![],
        code: Some(
            "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in dossier.json -sigfile dossier.sig\nrobcert verify <this folder> --pubkey pub.pem --model <model.onnx> --data <data.csv> [--replay]".into(),
        ),
    });
    crate::report::html::render_html(&HtmlReport {
        title: if ctx.title.is_empty() {
            "Robustness certification dossier".into()
        } else {
            ctx.title.clone()
        },
        subtitle: format!(
            "robcert {} · {}",
            dossier.engine.version, dossier.generated_at
        ),
        decision: dossier.decision.outcome.clone(),
        decision_ok: dossier.decision.outcome == "ACCEPT",
        decision_reasons: dossier.decision.reasons.clone(),
        sections,
        footer: format!(
            "schema {} · engine commit {}",
            dossier.schema, dossier.engine.source_commit
        ),
    })
}

/// A JSON number with at most 6 significant digits (`unbounded` for null, i.e. infinite).
fn short(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{}", (x * 1e6).round() / 1e6),
        None => "unbounded".into(),
    }
}

fn target_text(target: &serde_json::Value, classes: &serde_json::Value) -> String {
    let name = |i: &serde_json::Value| {
        i.as_u64()
            .and_then(|i| classes.get(i as usize))
            .and_then(|c| c.as_str())
            .unwrap_or("?")
            .to_string()
    };
    match target.get("evasion") {
        Some(e) => format!(
            "Target: evasions only — {} rows must not be moved to {}.",
            name(&e["from"]),
            name(&e["to"])
        ),
        None => "Target: any change of prediction counts.".into(),
    }
}

/// Writes `files` into a fresh temporary sibling of `out` and renames it into place.
fn write_folder(out: &Path, force: bool, files: &Files) -> Result<()> {
    if out.exists() && !force {
        return Err(Error::Dossier {
            path: out.to_path_buf(),
            message: "the output folder exists; choose another --out or pass --force to replace it"
                .into(),
        });
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dossier".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| -> Result<()> {
        for (rel, bytes) in &files.0 {
            let p = tmp.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
            crate::util::atomic_write(&p, bytes)?;
        }
        if out.exists() {
            let old = parent.join(format!(".{name}.old-{}", std::process::id()));
            std::fs::rename(out, &old).map_err(|e| Error::io(out, e))?;
            std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Runs a certification and writes the signed dossier folder.
pub fn certify(
    spec_path: &Path,
    overrides: &Overrides,
    options: &CertifyOptions,
) -> Result<Certified> {
    if options.out.exists() && !options.force {
        return Err(Error::Dossier {
            path: options.out.clone(),
            message: "the output folder exists; choose another --out or pass --force to replace it"
                .into(),
        });
    }
    let key = sign::load_signing_key(&options.key)?;
    let prepared = prepare(spec_path, overrides, &options.job.runtime)?;
    let spec = &prepared.spec.spec;
    criteria::validate(&spec.acceptance)?;
    let mut files = Files::default();

    let smoothing = match &spec.methods.smoothing {
        Some(config) => Some(smooth(
            &prepared,
            config,
            SmoothingMode::Certify,
            &options.job,
        )?),
        None => None,
    };
    let run_bounds = spec.methods.bounds.is_some() || spec.methods.attack.is_some();
    let bounds_out = if run_bounds {
        let job = BoundsJob {
            bounds: spec.methods.bounds.clone().unwrap_or_default(),
            attack: spec.methods.attack.clone(),
        };
        Some(bounds(&prepared, &job, &options.job)?)
    } else {
        None
    };
    if smoothing.is_none() && bounds_out.is_none() {
        return Err(Error::spec(
            "methods",
            "the spec runs no method: add [methods.smoothing], [methods.bounds] or [methods.attack]",
        ));
    }

    let class_names = &prepared.threat.class_names;
    let smoothing_results = smoothing.as_ref().map(|(report, rows)| MethodResults {
        network: None,
        summary: serde_json::to_value(&report.summary).expect("serialisable summary"),
        rows: files.add(
            "smoothing_rows.csv",
            smoothing_rows_csv(rows, class_names).into_bytes(),
        ),
    });
    let bounds_results = bounds_out.as_ref().map(|(report, rows)| MethodResults {
        network: Some(report.network.clone()),
        summary: serde_json::to_value(&report.summary).expect("serialisable summary"),
        rows: files.add(
            "bounds_rows.csv",
            bounds_rows_csv(rows, &report.bounds.methods).into_bytes(),
        ),
    });
    let mut other = Vec::new();
    if let Some((_, rows)) = &bounds_out {
        other.push(files.add(
            "counterexamples.csv",
            counterexamples_csv(rows, &prepared.threat.features, class_names).into_bytes(),
        ));
    }
    let mut rendered = render_plots(&prepared, smoothing.as_ref(), bounds_out.as_ref())?;
    let comparison = match &spec.compare {
        Some(c) => {
            let models: Vec<PathBuf> = c.models.iter().map(|m| prepared.spec.resolve(m)).collect();
            let rows = crate::compare::compare(&prepared.spec.path, &models, &options.job, false)?;
            rendered.figures.push((
                "compare_certified_vs_budget".to_string(),
                "Training regimes under the same spec: share of fraud rows certified (solid, best bound method) and not falsified by the attack (dashed) as the budget grows.".to_string(),
                crate::compare::comparison_plot(&rows)?,
            ));
            Some(rows)
        }
        None => None,
    };
    for (name, _, plot) in &rendered.figures {
        other.push(files.add(&format!("plots/{name}.png"), plot.png.clone()));
        other.push(files.add(&format!("plots/{name}.svg"), plot.svg.clone()));
    }

    let metric_values = metrics::compute(
        smoothing.as_ref().map(|s| &s.0.summary),
        bounds_out.as_ref().map(|b| &b.0.summary),
    );
    let (criteria_list, decision): (Vec<Criterion>, Decision) =
        criteria::evaluate(&spec.acceptance, &metric_values);
    let verifying = key.verifying_key();
    let mut dossier = Dossier {
        schema: SCHEMA.to_string(),
        engine: Engine {
            name: "robcert".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_commit: options.source_commit.clone().unwrap_or_else(source_commit),
            onnxruntime: crate::runtime::runtime_info(prepared.model.runtime_config())?,
        },
        generated_at: options.timestamp.clone().unwrap_or_else(utc_now),
        context: spec.context.clone().unwrap_or_default(),
        inputs: {
            let (model, data, spec) = prepared.input_files();
            Inputs {
                model,
                data,
                spec,
                data_rows: prepared.data.rows(),
            }
        },
        threat: serde_json::to_value(&prepared.threat).expect("serialisable threat"),
        methods: Methods {
            smoothing: spec.methods.smoothing.clone(),
            bounds: bounds_out.as_ref().map(|(r, _)| r.bounds.clone()),
            attack: bounds_out.as_ref().and_then(|(r, _)| r.attack.clone()),
        },
        results: Results {
            smoothing: smoothing_results,
            bounds: bounds_results,
            compare: comparison
                .as_ref()
                .map(|c| serde_json::to_value(c).expect("serialisable comparison")),
            graph: None,
            complete: None,
        },
        metrics: metric_values,
        acceptance: spec.acceptance.clone(),
        criteria: criteria_list,
        decision,
        files: Vec::new(),
        signature: SignatureInfo {
            algorithm: "Ed25519".into(),
            public_key_fingerprint: sign::fingerprint(&verifying),
            signature_file: "dossier.sig".into(),
        },
    };
    let html = html_report(
        &dossier,
        &rendered.figures,
        bounds_out.as_ref().map(|(_, r)| r.as_slice()),
        comparison.as_deref(),
    );
    other.push(files.add("report.html", html.into_bytes()));
    other.sort_by(|a, b| a.path.cmp(&b.path));
    dossier.files = other;
    let json = canonical::to_canonical(&dossier)?;
    let signature = sign::sign_bytes(&key, &json);
    files.add("dossier.json", json);
    files.add("dossier.sig", signature.to_vec());
    files.add(
        "pub.pem",
        ed25519_dalek::pkcs8::EncodePublicKey::to_public_key_pem(
            &verifying,
            ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
        )
        .map_err(|e| Error::Key {
            path: options.key.clone(),
            message: e.to_string(),
        })?
        .into_bytes(),
    );
    write_folder(&options.out, options.force, &files)?;
    Ok(Certified {
        dossier,
        dir: options.out.clone(),
    })
}
