//! The randomized-smoothing section: CERTIFY on every row (Cohen et al. 2019), each row's
//! certificate at level `alpha / rows` (Bonferroni) so all hold together with probability at
//! least `1 − alpha`; its rows file, metrics, plots and report.

use super::{
    CheckInputs, DeriveInputs, Derived, Figure, Files, RowFacts, RunInputs, Section, file, invalid,
    same_setting, share_text, typed,
};
use crate::config::SmoothingConfig;
use crate::csvio::{self, CsvIn, CsvOut};
use crate::dossier::metrics::Metric;
use crate::error::Result;
use crate::report::html;
use crate::report::plots::{Histogram, LinePlot, Series, histogram, line_plot};
use crate::smoothing::certify::{largest_reachable_radius, sample_size_warnings};
use crate::smoothing::stats::{certified_radius, clopper_pearson_lower};
use crate::smoothing::{
    RowCertificate, SmoothingMode, SmoothingRun, SmoothingSummary, run_smoothing,
};
use crate::threat::spec::SpecFile;
use serde::{Deserialize, Serialize};

/// The rows file of the section.
pub const ROWS_FILE: &str = "smoothing_rows.csv";

/// What the section records in the dossier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmoothingRecord {
    /// The settings as run (the spec's `[methods.smoothing]`).
    pub config: SmoothingConfig,
    pub mode: SmoothingMode,
    /// Rows certified (every row of the data).
    pub rows: usize,
    /// The level of each row's certificate: `alpha / rows` (Bonferroni).
    pub alpha_per_row: f64,
    /// The largest radius CERTIFY can reach with `n` samples at `alpha_per_row`.
    pub largest_reachable_radius: f64,
    pub warnings: Vec<String>,
    pub summary: SmoothingSummary,
}

/// The radius grid of the certified-accuracy curve: 0 to a little beyond the largest radius
/// any realistic sample size can certify (σ·Φ⁻¹(1 − 10⁻⁶)), in 40 steps.
pub fn radius_grid(sigma: f64) -> Vec<f64> {
    let max_radius = sigma * crate::smoothing::stats::normal_quantile(1.0 - 1e-6);
    crate::smoothing::result::radius_grid((max_radius * 4.0).ceil() / 4.0, 40)
}

/// The rows file: one line per row; `count_<class>` per class; empty cells where a value does
/// not apply (the radius of an abstained row).
pub fn rows_csv(rows: &[RowCertificate], class_names: &[String]) -> Vec<u8> {
    let mut header: Vec<String> = [
        "row",
        "id",
        "label",
        "base_prediction",
        "top",
        "prediction",
        "abstain",
        "n",
        "p_lower",
        "p_value",
        "radius",
        "region_radius",
        "in_target",
        "certified_at_budget",
        "amount",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(
        csvio::idents(class_names)
            .iter()
            .map(|c| format!("count_{c}")),
    );
    let mut w = CsvOut::new(&header);
    for r in rows {
        let mut cells = vec![
            r.index.to_string(),
            r.id.clone(),
            r.label.to_string(),
            r.base_prediction.to_string(),
            r.top.to_string(),
            csvio::opt(r.prediction),
            r.prediction.is_none().to_string(),
            r.n.to_string(),
            csvio::opt_float(r.p_lower),
            csvio::opt_float(r.p_value),
            csvio::opt_float(r.radius),
            csvio::float(r.region_radius),
            r.in_target.to_string(),
            r.certified_at_budget.to_string(),
            csvio::opt_float(r.amount),
        ];
        cells.extend(r.counts.iter().map(u64::to_string));
        w.row(&cells);
    }
    w.finish()
}

/// Reads the rows file back.
pub fn read_rows(bytes: &[u8], class_names: &[String]) -> Result<Vec<RowCertificate>> {
    let t = CsvIn::read(ROWS_FILE, bytes)?;
    let counts: Vec<String> = csvio::idents(class_names)
        .iter()
        .map(|c| format!("count_{c}"))
        .collect();
    (0..t.records.len())
        .map(|i| {
            Ok(RowCertificate {
                index: t.parse(i, "row")?,
                id: t.cell(i, "id")?.to_string(),
                label: t.parse(i, "label")?,
                base_prediction: t.parse(i, "base_prediction")?,
                top: t.parse(i, "top")?,
                prediction: t.optional(i, "prediction")?,
                counts: counts
                    .iter()
                    .map(|c| t.parse(i, c))
                    .collect::<Result<_>>()?,
                n: t.parse(i, "n")?,
                p_lower: t.optional(i, "p_lower")?,
                p_value: t.optional(i, "p_value")?,
                radius: t.optional(i, "radius")?,
                region_radius: t.parse(i, "region_radius")?,
                in_target: t.parse(i, "in_target")?,
                certified_at_budget: t.parse(i, "certified_at_budget")?,
                amount: t.optional(i, "amount")?,
            })
        })
        .collect()
}

pub struct SmoothingSection;

impl SmoothingSection {
    fn config(spec: &SpecFile) -> Result<&SmoothingConfig> {
        spec.methods
            .smoothing
            .as_ref()
            .ok_or_else(|| invalid("the spec has no [methods.smoothing]"))
    }
}

impl Section for SmoothingSection {
    fn kind(&self) -> &'static str {
        "smoothing"
    }

    fn requested(&self, spec: &SpecFile) -> bool {
        spec.methods.smoothing.is_some()
    }

    fn run(&self, inputs: &RunInputs) -> Result<(serde_json::Value, Files)> {
        let p = inputs.prepared;
        let config = Self::config(&p.spec.spec)?;
        let run = SmoothingRun {
            model: &p.model,
            data: &p.data,
            threat: &p.threat,
            config,
            mode: SmoothingMode::Certify,
            workers: inputs.job.workers,
            rows: None,
            progress: inputs.job.progress,
        };
        let out = run_smoothing(&run)?;
        let record = SmoothingRecord {
            config: config.clone(),
            mode: SmoothingMode::Certify,
            rows: out.rows.len(),
            alpha_per_row: out.alpha_per_row,
            largest_reachable_radius: largest_reachable_radius(config, out.alpha_per_row),
            warnings: out.warnings.clone(),
            summary: SmoothingSummary::from_rows(&out.rows, &radius_grid(config.sigma)),
        };
        let mut files = Files::new();
        files.insert(ROWS_FILE.into(), rows_csv(&out.rows, &p.threat.class_names));
        Ok((serde_json::to_value(&record).expect("serialisable"), files))
    }

    fn derive(
        &self,
        record: &serde_json::Value,
        files: &Files,
        inputs: &DeriveInputs,
    ) -> Result<Derived> {
        let rec: SmoothingRecord = typed(record, self.kind())?;
        let rows = read_rows(file(files, ROWS_FILE)?, &inputs.threat.class_names)?;
        let conf = inputs.acceptance.confidence;
        let target: Vec<&RowCertificate> = rows.iter().filter(|r| r.in_target).collect();
        let certified = target.iter().filter(|r| r.certified_at_budget).count() as u64;
        let mut derived = Derived {
            certificate_risk: rec.config.alpha,
            ..Derived::default()
        };
        let m = &mut derived.metrics;
        m.insert(
            "smoothing_certified_recall".into(),
            Metric::share(
                certified,
                target.len() as u64,
                conf,
                rec.config.alpha,
                "target rows whose smoothed prediction is the label and whose certified radius covers the whole threat box",
                "smoothing",
            ),
        );
        m.insert(
            "clean_accuracy".into(),
            Metric::share(
                rows.iter().filter(|r| r.base_prediction == r.label).count() as u64,
                rows.len() as u64,
                conf,
                0.0,
                "rows the deployed model (ONNX Runtime) classifies correctly without any change",
                "smoothing",
            ),
        );
        derived.rows = Some(
            rows.iter()
                .map(|r| RowFacts {
                    in_target: r.in_target,
                    certified: r.in_target && r.certified_at_budget,
                    amount: r.amount,
                })
                .collect(),
        );
        derived.figures = plots(&rows, &rec)?;
        let recall = &derived.metrics["smoothing_certified_recall"];
        let s = &rec.summary;
        let mut paragraphs = vec![format!(
            "Randomized smoothing (Cohen, Rosenfeld & Kolter 2019) certifies the smoothed classifier: \
             with noise N(0, (σ·b_f)²) on each mutable feature f (budget b_f), it returns the certified \
             class for every input within the budget-scaled L2 radius R. All {} row certificates hold \
             together with probability ≥ {} (each at level α/{} = {:.3e}, Bonferroni), so every \
             share below counts certificates that are jointly right with that probability.",
            rec.rows,
            1.0 - rec.config.alpha,
            rec.rows,
            rec.alpha_per_row
        )];
        paragraphs.extend(rec.warnings.iter().map(|w| format!("Warning: {w}")));
        paragraphs.push(
            "The certificate is about the smoothed classifier, not the deployed network itself; the bound methods certify the deployed network.".into(),
        );
        derived.report.push(html::Section {
            heading: "Randomized smoothing".into(),
            paragraphs,
            tables: vec![
                html::Table {
                    caption: "Settings".into(),
                    header: vec!["parameter".into(), "value".into()],
                    rows: vec![
                        vec![
                            "σ (noise, in budget units)".into(),
                            rec.config.sigma.to_string(),
                        ],
                        vec!["n0 (selection samples)".into(), rec.config.n0.to_string()],
                        vec!["n (estimation samples)".into(), rec.config.n.to_string()],
                        vec![
                            "α (all certificates together)".into(),
                            rec.config.alpha.to_string(),
                        ],
                        vec![
                            "α per row (Bonferroni)".into(),
                            format!("{:.3e}", rec.alpha_per_row),
                        ],
                        vec![
                            "largest reachable radius".into(),
                            format!("{:.4}", rec.largest_reachable_radius),
                        ],
                        vec!["seed".into(), rec.config.seed.to_string()],
                        vec![
                            "batch (rows per ONNX Runtime call; no effect on results)".into(),
                            rec.config.batch.to_string(),
                        ],
                    ],
                    highlight_column: None,
                },
                html::Table {
                    caption: format!(
                        "Results ({:.0}% Clopper–Pearson intervals over the rows)",
                        100.0 * conf
                    ),
                    header: vec!["figure".into(), "value".into()],
                    rows: vec![
                        vec![
                            "rows / target rows".into(),
                            format!("{} / {}", s.rows, s.target_rows),
                        ],
                        vec![
                            "certified target recall at the budget".into(),
                            share_text(recall),
                        ],
                        vec![
                            "smoothed accuracy (abstentions count as wrong)".into(),
                            format!("{:.2}%", 100.0 * s.smoothed_accuracy),
                        ],
                        vec![
                            "abstain rate".into(),
                            format!("{:.2}%", 100.0 * s.abstain_rate),
                        ],
                        vec![
                            "money in target rows not certified".into(),
                            s.money_not_certified
                                .map_or("—".into(), |v| super::money(v, inputs.currency)),
                        ],
                    ],
                    highlight_column: None,
                },
            ],
            figures: derived
                .figures
                .iter()
                .map(|f| html::Figure {
                    caption: f.caption.clone(),
                    png: f.files.png.clone(),
                })
                .collect(),
            code: None,
        });
        Ok(derived)
    }

    fn check(
        &self,
        record: &serde_json::Value,
        files: &Files,
        inputs: &CheckInputs,
    ) -> Result<String> {
        let rec: SmoothingRecord = typed(record, self.kind())?;
        same_setting(
            "methods.smoothing",
            &rec.config,
            Self::config(&inputs.spec.spec)?,
        )?;
        same_setting("smoothing mode", &rec.mode, &SmoothingMode::Certify)?;
        let rows = read_rows(file(files, ROWS_FILE)?, &inputs.threat.class_names)?;
        if rows.len() != rec.rows || rec.rows != inputs.data_rows {
            return Err(invalid(format!(
                "{ROWS_FILE} has {} rows, the section records {} and the data {}",
                rows.len(),
                rec.rows,
                inputs.data_rows
            )));
        }
        let alpha_row = rec.config.alpha_per_row(rec.rows);
        same_setting("smoothing alpha_per_row", &rec.alpha_per_row, &alpha_row)?;
        same_setting(
            "smoothing largest_reachable_radius",
            &rec.largest_reachable_radius,
            &largest_reachable_radius(&rec.config, alpha_row),
        )?;
        let switchable = inputs.threat.constraints.has_switchable();
        for (i, r) in rows.iter().enumerate() {
            let line = format!("{ROWS_FILE} row {}", r.index);
            if r.index != i
                || r.counts.iter().sum::<u64>() != r.n
                || r.n != rec.config.n
                || r.top >= r.counts.len()
            {
                return Err(invalid(format!(
                    "{line}: counts do not add up to n = {}",
                    rec.config.n
                )));
            }
            let p = clopper_pearson_lower(r.counts[r.top], r.n, alpha_row);
            if r.p_lower != Some(p) {
                return Err(invalid(format!(
                    "{line}: recorded p_lower {:?} but the counts give {p}",
                    r.p_lower
                )));
            }
            let radius = certified_radius(rec.config.sigma, p);
            if r.radius != radius || r.prediction != radius.map(|_| r.top) {
                return Err(invalid(format!(
                    "{line}: recorded radius {:?} / prediction {:?} but the counts give {radius:?}",
                    r.radius, r.prediction
                )));
            }
            let certified = !switchable
                && r.prediction == Some(r.label)
                && radius.is_some_and(|x| x > r.region_radius);
            if certified != r.certified_at_budget
                || r.in_target != inputs.threat.target.covers(r.label)
            {
                return Err(invalid(format!(
                    "{line}: certified_at_budget / in_target do not follow from the counts"
                )));
            }
        }
        let summary = SmoothingSummary::from_rows(&rows, &radius_grid(rec.config.sigma));
        if summary != rec.summary {
            return Err(invalid(
                "the smoothing summary does not match the recorded rows",
            ));
        }
        let radii: Vec<f64> = rows
            .iter()
            .filter(|r| r.in_target)
            .map(|r| r.region_radius)
            .collect();
        let warnings = sample_size_warnings(&rec.config, rec.rows, alpha_row, &radii, switchable);
        same_setting("smoothing warnings", &rec.warnings, &warnings)?;
        Ok(format!(
            "{} smoothing rows: Clopper–Pearson bounds at α/{} per row, radii, certification, summary, warnings",
            rows.len(),
            rec.rows
        ))
    }
}

fn plots(rows: &[RowCertificate], rec: &SmoothingRecord) -> Result<Vec<Figure>> {
    let grid = radius_grid(rec.config.sigma);
    let target: Vec<&RowCertificate> = rows.iter().filter(|r| r.in_target).collect();
    let share = |set: &[&RowCertificate], radius: f64| {
        set.iter()
            .filter(|r| r.prediction == Some(r.label) && r.radius.is_some_and(|x| x >= radius))
            .count() as f64
            / set.len().max(1) as f64
    };
    let all: Vec<&RowCertificate> = rows.iter().collect();
    let median_box = crate::util::median(target.iter().map(|r| r.region_radius).collect());
    let curve = line_plot(&LinePlot {
        name: "smoothing_certified_vs_radius".into(),
        title: "Smoothing: share certified vs radius".into(),
        x_label: "certified radius (budget-scaled L2)".into(),
        y_label: "share of rows".into(),
        series: vec![
            Series {
                label: format!("all rows ({})", all.len()),
                points: grid.iter().map(|&r| (r, share(&all, r))).collect(),
                dashed: false,
                colour: None,
            },
            Series {
                label: format!("target (fraud) rows ({})", target.len()),
                points: grid.iter().map(|&r| (r, share(&target, r))).collect(),
                dashed: false,
                colour: None,
            },
        ],
        y_range: Some((0.0, 1.0)),
        vertical_marker: median_box
            .is_finite()
            .then(|| (median_box, "median threat-box radius".into())),
    })?;
    let mut figures = vec![Figure {
        name: "smoothing_certified_vs_radius".into(),
        caption: "Share of rows whose smoothed prediction is correct and certified at each radius, for all rows and for the target (fraud) rows separately; a row is certified at the budget when its radius exceeds its own threat-box radius (median marked).".into(),
        files: curve,
    }];
    let radii: Vec<f64> = target.iter().map(|r| r.radius.unwrap_or(0.0)).collect();
    if !radii.is_empty() {
        figures.push(Figure {
            name: "smoothing_radius_fraud".into(),
            caption: "Certified radii of the target (fraud) rows alone (0 = abstained); right of the marker is certified over the median threat box.".into(),
            files: histogram(&Histogram {
                name: "smoothing_radius_fraud".into(),
                title: "Smoothing: certified radius of target rows".into(),
                x_label: "certified radius (budget-scaled L2)".into(),
                groups: vec![("target (fraud) rows".into(), radii)],
                bins: 30,
                vertical_marker: median_box
                    .is_finite()
                    .then(|| (median_box, "median box".into())),
            })?,
        });
    }
    Ok(figures)
}

/// The extra statistical check of `verify --replay --fresh-sample`: CERTIFY again with a fresh,
/// independent seed, and test every row: the recorded Clopper–Pearson lower bound on the top
/// class's probability must not exceed the fresh sample's upper bound on it (each at the
/// dossier's per-row level). With an honest dossier, all recorded lower bounds hold together
/// with probability ≥ 1 − α and all fresh upper bounds with probability ≥ 1 − α, so a row fails
/// the test with probability at most 2α: a failure is evidence against the recorded counts.
pub fn fresh_sample_test(
    record: &serde_json::Value,
    files: &Files,
    inputs: &RunInputs,
) -> Result<String> {
    let rec: SmoothingRecord = typed(record, "smoothing")?;
    let p = inputs.prepared;
    let recorded = read_rows(file(files, ROWS_FILE)?, &p.threat.class_names)?;
    let mut config = rec.config.clone();
    config.seed = rec.config.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let out = run_smoothing(&SmoothingRun {
        model: &p.model,
        data: &p.data,
        threat: &p.threat,
        config: &config,
        mode: SmoothingMode::Certify,
        workers: inputs.job.workers,
        rows: None,
        progress: inputs.job.progress,
    })?;
    let mut failed = Vec::new();
    let mut agree = 0;
    for (a, b) in recorded.iter().zip(&out.rows) {
        let k = b.counts[a.top];
        let upper = 1.0 - clopper_pearson_lower(b.n - k, b.n, rec.alpha_per_row);
        if a.p_lower.is_some_and(|p| p > upper) {
            failed.push(a.id.clone());
        }
        agree += usize::from(a.certified_at_budget == b.certified_at_budget);
    }
    if !failed.is_empty() {
        return Err(invalid(format!(
            "fresh smoothing sample (seed {}): the recorded lower bound of {} row(s) exceeds the \
             fresh sample's upper bound (first: {}); an honest dossier fails this test with \
             probability at most 2α = {}",
            config.seed,
            failed.len(),
            failed[0],
            2.0 * rec.config.alpha
        )));
    }
    Ok(format!(
        "fresh smoothing sample (seed {}): every recorded lower bound is within the fresh sample's \
         upper bound (test size ≤ 2α = {}); {agree} of {} rows agree on certification at the budget",
        config.seed,
        2.0 * rec.config.alpha,
        recorded.len()
    ))
}
