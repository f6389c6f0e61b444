//! The bounds section: the bound methods (IBP, CROWN, alpha-CROWN) on the graph ONNX Runtime
//! executes and the attacks, as the spec states them (`[methods.bounds]`, `[methods.attack]`;
//! a method the spec does not name does not run), with every fallback and its reason; the rows
//! and counterexamples files, metrics, plots and report.

use super::{
    CheckInputs, DeriveInputs, Derived, Figure, Files, RowFacts, RunInputs, Section, file, invalid,
    money, same_setting, scale_grid, share_text, typed,
};
use crate::attack::Counterexample;
use crate::bounds::verdict::{
    MethodResult, RowVerdict, VerdictKind, survives_attack_at, target_share_curve,
};
use crate::config::{AttackConfig, BoundsConfig, Method};
use crate::csvio::{self, CsvIn, CsvOut};
use crate::dossier::metrics::Metric;
use crate::error::Result;
use crate::pipeline::{BoundsJob, BoundsSummary, NetworkInfo};
use crate::report::html;
use crate::report::plots::{Histogram, LinePlot, Series, histogram, line_plot};
use crate::threat::ThreatModel;
use crate::threat::spec::SpecFile;
use serde::{Deserialize, Serialize};

pub const ROWS_FILE: &str = "bounds_rows.csv";
pub const COUNTEREXAMPLES_FILE: &str = "counterexamples.csv";

/// What the section records in the dossier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundsRecord {
    /// `[methods.bounds]` as run; `None` when the spec has none (no bound method ran).
    pub bounds: Option<BoundsConfig>,
    /// `[methods.attack]` as run; `None` when the spec has none.
    pub attack: Option<AttackConfig>,
    /// The bound methods that actually ran (none after a fallback).
    pub methods_run: Vec<Method>,
    /// The network the methods ran on, or why they could not.
    pub network: NetworkInfo,
    pub summary: BoundsSummary,
}

fn rows_header(methods: &[Method]) -> Vec<String> {
    let mut h: Vec<String> = [
        "row",
        "id",
        "label",
        "base_prediction",
        "verdict",
        "verified_by",
        "misclassified",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for m in methods {
        let n = m.ident();
        h.extend([
            format!("margin_{n}"),
            format!("verified_{n}"),
            format!("scale_{n}"),
        ]);
    }
    h.extend(["attack_scale", "has_counterexample", "amount"].map(String::from));
    h
}

/// The rows file: one line per data row (`not_targeted` for rows outside the target).
pub fn rows_csv(rows: &[RowVerdict], methods: &[Method]) -> Vec<u8> {
    let mut w = CsvOut::new(&rows_header(methods));
    for r in rows {
        let mut cells = vec![
            r.index.to_string(),
            r.id.clone(),
            r.label.to_string(),
            r.base_prediction.to_string(),
            r.verdict.name().to_string(),
            r.verified_by
                .map(|m| m.name().to_string())
                .unwrap_or_default(),
            (r.base_prediction != r.label).to_string(),
        ];
        for m in methods {
            match r.methods.iter().find(|x| x.method == *m) {
                Some(x) => cells.extend([
                    csvio::float(x.margin_lower),
                    x.verified.to_string(),
                    csvio::opt_float(x.certified_scale),
                ]),
                None => cells.extend([String::new(), String::new(), String::new()]),
            }
        }
        cells.extend([
            csvio::opt_float(r.attack_scale),
            r.counterexample.is_some().to_string(),
            csvio::opt_float(r.amount),
        ]);
        w.row(&cells);
    }
    w.finish()
}

/// Reads the rows file back (counterexamples are attached from the counterexamples file).
pub fn read_rows(bytes: &[u8], methods: &[Method]) -> Result<Vec<RowVerdict>> {
    let t = CsvIn::read(ROWS_FILE, bytes)?;
    let mut out = Vec::with_capacity(t.records.len());
    for i in 0..t.records.len() {
        let verdict = match t.cell(i, "verdict")? {
            "verified" => VerdictKind::Verified,
            "falsified" => VerdictKind::Falsified,
            "unknown" => VerdictKind::Unknown,
            "not_targeted" => VerdictKind::NotTargeted,
            other => {
                return Err(invalid(format!(
                    "{ROWS_FILE} line {}: unknown verdict `{other}`",
                    i + 2
                )));
            }
        };
        let verified_by = match t.cell(i, "verified_by")? {
            "" => None,
            name => Some(
                methods
                    .iter()
                    .copied()
                    .find(|m| m.name() == name)
                    .ok_or_else(|| {
                        invalid(format!(
                            "{ROWS_FILE} line {}: unknown method `{name}`",
                            i + 2
                        ))
                    })?,
            ),
        };
        let mut results = Vec::new();
        for &m in methods {
            let n = m.ident();
            if let Some(margin) = t.optional::<f64>(i, &format!("margin_{n}"))? {
                results.push(MethodResult {
                    method: m,
                    margin_lower: margin,
                    verified: t.parse(i, &format!("verified_{n}"))?,
                    certified_scale: t.optional(i, &format!("scale_{n}"))?,
                });
            }
        }
        let has_ce: bool = t.parse(i, "has_counterexample")?;
        out.push(RowVerdict {
            index: t.parse(i, "row")?,
            id: t.cell(i, "id")?.to_string(),
            label: t.parse(i, "label")?,
            base_prediction: t.parse(i, "base_prediction")?,
            verdict,
            verified_by,
            methods: results,
            attack_scale: t.optional(i, "attack_scale")?,
            // A placeholder until the counterexamples file is read.
            counterexample: has_ce.then(|| Counterexample {
                x: Vec::new(),
                scores: Vec::new(),
                predicted: usize::MAX,
            }),
            amount: t.optional(i, "amount")?,
        });
        let misclassified: bool = t.parse(i, "misclassified")?;
        let r = out.last().expect("just pushed");
        if misclassified != (r.base_prediction != r.label) {
            return Err(invalid(format!(
                "{ROWS_FILE} line {}: `misclassified` contradicts label and base prediction",
                i + 2
            )));
        }
    }
    Ok(out)
}

/// One line of the counterexamples file: a changed feature of one row's counterexample (or, when
/// the counterexample is the clean row itself, a line without a feature).
#[derive(Clone, Debug, PartialEq)]
pub struct CounterexampleLine {
    pub row: usize,
    pub id: String,
    pub label: usize,
    pub predicted: usize,
    pub scores: Vec<f32>,
    pub feature: Option<String>,
    pub original: Option<f32>,
    pub counterexample: Option<f32>,
    pub delta: Option<f64>,
}

/// The counterexamples file: per row with a counterexample, one line per changed feature with
/// the original value, the counterexample's value (the float32 fed to ONNX Runtime) and the
/// delta, and ONNX Runtime's scores on the counterexample.
pub fn counterexamples_csv(
    rows: &[RowVerdict],
    original: &dyn Fn(usize) -> Vec<f32>,
    threat: &ThreatModel,
) -> Vec<u8> {
    let mut header: Vec<String> = ["row", "id", "label", "predicted"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let classes = csvio::idents(&threat.class_names);
    header.extend(classes.iter().map(|c| format!("score_{c}")));
    header.extend(["feature", "original", "counterexample", "delta"].map(String::from));
    let mut w = CsvOut::new(&header);
    for r in rows {
        let Some(ce) = &r.counterexample else {
            continue;
        };
        let x0 = original(r.index);
        let mut head = vec![
            r.index.to_string(),
            r.id.clone(),
            r.label.to_string(),
            ce.predicted.to_string(),
        ];
        head.extend(ce.scores.iter().map(|&s| csvio::float32(s)));
        let changed: Vec<usize> = (0..x0.len()).filter(|&f| ce.x[f] != x0[f]).collect();
        if changed.is_empty() {
            let mut cells = head.clone();
            cells.extend([String::new(), String::new(), String::new(), String::new()]);
            w.row(&cells);
        }
        for f in changed {
            let mut cells = head.clone();
            cells.extend([
                threat.features[f].clone(),
                csvio::float32(x0[f]),
                csvio::float32(ce.x[f]),
                csvio::float(f64::from(ce.x[f]) - f64::from(x0[f])),
            ]);
            w.row(&cells);
        }
    }
    w.finish()
}

/// Reads the counterexamples file back.
pub fn read_counterexamples(bytes: &[u8], threat: &ThreatModel) -> Result<Vec<CounterexampleLine>> {
    let t = CsvIn::read(COUNTEREXAMPLES_FILE, bytes)?;
    let classes = csvio::idents(&threat.class_names);
    (0..t.records.len())
        .map(|i| {
            let feature = t.cell(i, "feature")?;
            Ok(CounterexampleLine {
                row: t.parse(i, "row")?,
                id: t.cell(i, "id")?.to_string(),
                label: t.parse(i, "label")?,
                predicted: t.parse(i, "predicted")?,
                scores: classes
                    .iter()
                    .map(|c| t.parse(i, &format!("score_{c}")))
                    .collect::<Result<_>>()?,
                feature: (!feature.is_empty()).then(|| feature.to_string()),
                original: t.optional(i, "original")?,
                counterexample: t.optional(i, "counterexample")?,
                delta: t.optional(i, "delta")?,
            })
        })
        .collect()
}

pub struct BoundsSection;

impl BoundsSection {
    fn job(spec: &SpecFile) -> BoundsJob {
        BoundsJob {
            bounds: spec.methods.bounds.clone(),
            attack: spec.methods.attack.clone(),
        }
    }
}

impl Section for BoundsSection {
    fn kind(&self) -> &'static str {
        "bounds"
    }

    fn requested(&self, spec: &SpecFile) -> bool {
        spec.methods.bounds.is_some() || spec.methods.attack.is_some()
    }

    fn run(&self, inputs: &RunInputs) -> Result<(serde_json::Value, Files)> {
        let p = inputs.prepared;
        let job = Self::job(&p.spec.spec);
        let options = crate::pipeline::JobOptions {
            limit: None,
            ..inputs.job.clone()
        };
        let (report, rows) = crate::pipeline::bounds(p, &job, &options)?;
        let record = BoundsRecord {
            bounds: report.bounds,
            attack: report.attack,
            methods_run: report.methods_run.clone(),
            network: report.network,
            summary: report.summary,
        };
        let mut files = Files::new();
        files.insert(ROWS_FILE.into(), rows_csv(&rows, &report.methods_run));
        files.insert(
            COUNTEREXAMPLES_FILE.into(),
            counterexamples_csv(&rows, &|i| p.data.row(i).to_vec(), &p.threat),
        );
        Ok((serde_json::to_value(&record).expect("serialisable"), files))
    }

    fn derive(
        &self,
        record: &serde_json::Value,
        files: &Files,
        inputs: &DeriveInputs,
    ) -> Result<Derived> {
        let rec: BoundsRecord = typed(record, self.kind())?;
        let rows = read_rows(file(files, ROWS_FILE)?, &rec.methods_run)?;
        let ces = read_counterexamples(file(files, COUNTEREXAMPLES_FILE)?, inputs.threat)?;
        let conf = inputs.acceptance.confidence;
        let target: Vec<&RowVerdict> = rows
            .iter()
            .filter(|r| r.verdict != VerdictKind::NotTargeted)
            .collect();
        let nt = target.len() as u64;
        let count = |k: VerdictKind| target.iter().filter(|r| r.verdict == k).count() as u64;
        let misclassified = target
            .iter()
            .filter(|r| r.base_prediction != r.label)
            .count() as u64;
        let falsified = count(VerdictKind::Falsified);
        let bounds_ran = !rec.methods_run.is_empty();
        let mut derived = Derived::default();
        let m = &mut derived.metrics;
        let share = |k: u64, what: &str| Metric::share(k, nt, conf, 0.0, what, "bounds");
        if bounds_ran {
            m.insert(
                "bounds_verified_recall".into(),
                share(
                    count(VerdictKind::Verified),
                    "target rows a bound method verifies over the whole threat box (the deployed model, as ONNX Runtime runs it)",
                ),
            );
        }
        m.insert(
            "unknown_share".into(),
            share(
                count(VerdictKind::Unknown),
                "target rows neither verified nor falsified",
            ),
        );
        if rec.attack.is_some() {
            m.insert(
                "falsified_share".into(),
                share(
                    falsified,
                    "target rows with a counterexample confirmed by ONNX Runtime",
                ),
            );
            m.insert(
                "evasion_share".into(),
                share(
                    falsified.saturating_sub(misclassified),
                    "target rows classified correctly on the clean row but flipped by the attack inside the box",
                ),
            );
            m.insert(
                "empirical_robust_recall".into(),
                share(
                    nt - falsified,
                    "target rows the attack did not falsify (an upper bound on robustness)",
                ),
            );
            if let Some(v) = rec.summary.money_falsified {
                m.insert(
                    "money_falsified".into(),
                    Metric::amount(
                        v,
                        nt,
                        1.0,
                        "amount in target rows with a confirmed counterexample (a lower bound on money at risk on these rows)",
                        "bounds",
                    ),
                );
            }
        }
        m.insert(
            "misclassified_share".into(),
            share(
                misclassified,
                "target rows the deployed model already gets wrong without any change",
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
                "bounds",
            ),
        );
        if bounds_ran {
            derived.rows = Some(
                rows.iter()
                    .map(|r| RowFacts {
                        in_target: r.verdict != VerdictKind::NotTargeted,
                        certified: r.verdict == VerdictKind::Verified,
                        amount: r.amount,
                    })
                    .collect(),
            );
        }
        derived.figures = plots(&rows, &rec, inputs.currency)?;
        derived.report = report(&rec, &rows, &ces, &derived, inputs)?;
        Ok(derived)
    }

    fn check(
        &self,
        record: &serde_json::Value,
        files: &Files,
        inputs: &CheckInputs,
    ) -> Result<String> {
        let rec: BoundsRecord = typed(record, self.kind())?;
        let spec = &inputs.spec.spec;
        same_setting("methods.bounds", &rec.bounds, &spec.methods.bounds)?;
        same_setting("methods.attack", &rec.attack, &spec.methods.attack)?;
        let expected_methods = match (&rec.bounds, &rec.network.fallback) {
            (Some(b), None) => b.methods.clone(),
            _ => Vec::new(),
        };
        same_setting("the bound methods run", &rec.methods_run, &expected_methods)?;
        if rec.network.fallback.is_some() && rec.attack.is_none() {
            return Err(invalid(
                "the bounds section records a fallback to the black-box attack, but no attack ran",
            ));
        }
        let threshold = rec.summary.margin_threshold;
        let expected_threshold = match rec.network.output_transform.as_deref() {
            Some("identity") | None => 0.0,
            Some("softmax") => crate::numerics::SOFTMAX_ORDER_MARGIN,
            Some(other) => return Err(invalid(format!("unknown output transform `{other}`"))),
        };
        same_setting("the margin threshold", &threshold, &expected_threshold)?;
        let mut rows = read_rows(file(files, ROWS_FILE)?, &rec.methods_run)?;
        if rows.len() != inputs.data_rows {
            return Err(invalid(format!(
                "{ROWS_FILE} has {} rows, the data {}",
                rows.len(),
                inputs.data_rows
            )));
        }
        let ces = read_counterexamples(file(files, COUNTEREXAMPLES_FILE)?, inputs.threat)?;
        check_counterexamples(&mut rows, &ces, inputs.threat)?;
        for (i, r) in rows.iter().enumerate() {
            let ok = match r.verdict {
                VerdictKind::Verified => {
                    r.counterexample.is_none()
                        && r.methods
                            .iter()
                            .any(|m| m.verified && m.margin_lower > threshold)
                }
                VerdictKind::Falsified => {
                    r.counterexample.is_some() && !r.methods.iter().any(|m| m.verified)
                }
                VerdictKind::Unknown => {
                    r.counterexample.is_none() && !r.methods.iter().any(|m| m.verified)
                }
                VerdictKind::NotTargeted => !inputs.threat.target.covers(r.label),
            };
            let targeted =
                inputs.threat.target.covers(r.label) == (r.verdict != VerdictKind::NotTargeted);
            let margins_ok = r
                .methods
                .iter()
                .all(|m| m.verified == (m.margin_lower > threshold));
            let first = r.methods.iter().find(|m| m.verified).map(|m| m.method);
            if !ok || !targeted || !margins_ok || r.verified_by != first || r.index != i {
                return Err(invalid(format!(
                    "{ROWS_FILE} row {}: verdict `{}` does not follow from its margins, target \
                     and counterexample",
                    r.index,
                    r.verdict.name()
                )));
            }
        }
        let summary = BoundsSummary::from_rows(&rows, &rec.methods_run, threshold);
        if summary != rec.summary {
            return Err(invalid(
                "the bounds summary does not match the recorded rows",
            ));
        }
        Ok(format!(
            "{} bounds rows and {} counterexample lines: verdicts, margins, boxes, summary",
            rows.len(),
            ces.len()
        ))
    }
}

/// Attaches the counterexamples to their rows, checking that each changed feature may change,
/// stays within its budget and valid range around the original value, and that deltas add up.
fn check_counterexamples(
    rows: &mut [RowVerdict],
    lines: &[CounterexampleLine],
    threat: &ThreatModel,
) -> Result<()> {
    let movable = threat.movable();
    for (k, l) in lines.iter().enumerate() {
        let line = k + 2;
        let r = rows
            .get_mut(l.row)
            .filter(|r| r.counterexample.is_some() && r.id == l.id && r.label == l.label)
            .ok_or_else(|| {
                invalid(format!(
                    "{COUNTEREXAMPLES_FILE} line {line}: row {} has no counterexample in {ROWS_FILE}",
                    l.row
                ))
            })?;
        let ce = r.counterexample.as_mut().expect("filtered");
        if ce.predicted == usize::MAX {
            ce.predicted = l.predicted;
            ce.scores = l.scores.clone();
        } else if ce.predicted != l.predicted || ce.scores != l.scores {
            return Err(invalid(format!(
                "{COUNTEREXAMPLES_FILE} line {line}: scores differ between lines of row {}",
                l.row
            )));
        }
        if crate::runtime::argmax(&l.scores) != l.predicted
            || !crate::bounds::verdict::attack_targets(&threat.target, l.label, l.scores.len())
                .contains(&l.predicted)
        {
            return Err(invalid(format!(
                "{COUNTEREXAMPLES_FILE} line {line}: the recorded scores do not give the target class {}",
                l.predicted
            )));
        }
        if let (Some(name), Some(orig), Some(new), Some(delta)) =
            (&l.feature, l.original, l.counterexample, l.delta)
        {
            let f = threat
                .features
                .iter()
                .position(|x| x == name)
                .ok_or_else(|| {
                    invalid(format!(
                        "{COUNTEREXAMPLES_FILE} line {line}: unknown feature `{name}`"
                    ))
                })?;
            let (o, n) = (f64::from(orig), f64::from(new));
            let b = threat.budgets[f];
            let inside = movable[f]
                && n >= threat.lower[f].min(o)
                && n <= threat.upper[f].max(o)
                && (b == 0.0 || (n - o).abs() <= b);
            if !inside || delta != n - o {
                return Err(invalid(format!(
                    "{COUNTEREXAMPLES_FILE} line {line}: `{name}` changes from {orig} to {new}, \
                     outside what the threat allows (or a wrong delta)"
                )));
            }
        } else if l.feature.is_some() || l.original.is_some() || l.counterexample.is_some() {
            return Err(invalid(format!(
                "{COUNTEREXAMPLES_FILE} line {line}: incomplete change"
            )));
        }
    }
    if let Some(r) = rows.iter().find(|r| {
        r.counterexample
            .as_ref()
            .is_some_and(|c| c.predicted == usize::MAX)
    }) {
        return Err(invalid(format!(
            "row {} has a counterexample in {ROWS_FILE} but none in {COUNTEREXAMPLES_FILE}",
            r.index
        )));
    }
    Ok(())
}

fn plots(rows: &[RowVerdict], rec: &BoundsRecord, currency: &str) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let scale_max = rec.bounds.as_ref().map_or(1.0, |b| b.scale_max);
    let grid = scale_grid(scale_max);
    let search = rec.bounds.as_ref().is_some_and(|b| b.scale_search);
    let mut series: Vec<Series> = rec
        .methods_run
        .iter()
        .map(|&method| Series {
            label: format!("certified: {}", method.name()),
            points: target_share_curve(rows, &grid, |r, s| {
                r.methods
                    .iter()
                    .any(|m| m.method == method && m.certified_at(s))
            }),
            dashed: false,
            colour: None,
        })
        .collect();
    if rec.attack.is_some() && search {
        series.push(Series {
            label: "not falsified by the attack (upper bound)".into(),
            points: target_share_curve(rows, &grid, survives_attack_at),
            dashed: true,
            colour: None,
        });
    }
    if search && !series.is_empty() {
        figures.push(Figure {
            name: "certified_vs_budget".into(),
            caption: "Share of target (fraud) rows certified as the attacker's budget grows (1 = the threat budget). Solid: certified lower bounds; dashed: the attack's empirical upper bound.".into(),
            files: line_plot(&LinePlot {
                name: "certified_vs_budget".into(),
                title: "Certified fraud recall vs budget scale".into(),
                x_label: "budget scale (× threat budget)".into(),
                y_label: "share of target rows".into(),
                series,
                y_range: Some((0.0, 1.0)),
                vertical_marker: Some((1.0, "threat budget".into())),
            })?,
        });
    }
    if let Some(&best) = rec.methods_run.last() {
        let margins: Vec<f64> = rows
            .iter()
            .flat_map(|r| {
                r.methods
                    .iter()
                    .filter(|x| x.method == best && x.margin_lower.is_finite())
                    .map(|x| x.margin_lower)
            })
            .collect();
        if !margins.is_empty() {
            figures.push(Figure {
                name: "margin_bounds".into(),
                caption: format!("Lower bounds ({}) of the label-minus-target score margin over each target row's threat box; right of the threshold is verified.", best.name()),
                files: histogram(&Histogram {
                    name: "margin_bounds".into(),
                    title: format!("Margin lower bounds ({})", best.name()),
                    x_label: "score[label] − score[target], lower bound over the box".into(),
                    groups: vec![("target rows".into(), margins)],
                    bins: 30,
                    vertical_marker: Some((rec.summary.margin_threshold, "verified ▸".into())),
                })?,
            });
        }
    }
    if search && rows.iter().all(|r| r.amount.is_some()) && !rows.is_empty() {
        let target: Vec<&RowVerdict> = rows
            .iter()
            .filter(|r| r.verdict != VerdictKind::NotTargeted)
            .collect();
        let sum = |pred: &dyn Fn(&RowVerdict) -> bool| -> f64 {
            target
                .iter()
                .filter(|r| pred(r))
                .map(|r| r.amount.unwrap_or(0.0))
                .sum()
        };
        let mut series = Vec::new();
        if !rec.methods_run.is_empty() {
            series.push(Series {
                label: "not certified (upper bound)".into(),
                points: grid
                    .iter()
                    .map(|&s| (s, sum(&|r| !r.methods.iter().any(|x| x.certified_at(s)))))
                    .collect(),
                dashed: false,
                colour: None,
            });
        }
        if rec.attack.is_some() {
            series.push(Series {
                label: "flipped by the attack (lower bound)".into(),
                points: grid
                    .iter()
                    .map(|&s| (s, sum(&|r| r.attack_scale.is_some_and(|a| a <= s))))
                    .collect(),
                dashed: true,
                colour: None,
            });
        }
        if !series.is_empty() {
            figures.push(Figure {
                name: "money_at_risk".into(),
                caption: format!("Money at risk as the budget grows{}: amount in target rows not certified (upper bound) and in rows the attack flipped (lower bound).", if currency.is_empty() { String::new() } else { format!(" ({currency})") }),
                files: line_plot(&LinePlot {
                    name: "money_at_risk".into(),
                    title: "Money at risk vs budget scale".into(),
                    x_label: "budget scale (× threat budget)".into(),
                    y_label: if currency.is_empty() { "amount".into() } else { format!("amount ({currency})") },
                    series,
                    y_range: None,
                    vertical_marker: Some((1.0, "threat budget".into())),
                })?,
            });
        }
    }
    Ok(figures)
}

fn report(
    rec: &BoundsRecord,
    rows: &[RowVerdict],
    ces: &[CounterexampleLine],
    derived: &Derived,
    inputs: &DeriveInputs,
) -> Result<Vec<html::Section>> {
    let mut settings = Vec::new();
    match &rec.bounds {
        Some(b) => {
            settings.push(vec![
                "bound methods (in order)".into(),
                b.methods
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
            settings.push(vec![
                "budget-scale search".into(),
                if b.scale_search {
                    format!(
                        "up to {} × the budget, {} bisection steps",
                        b.scale_max, b.bisection_steps
                    )
                } else {
                    "off".into()
                },
            ]);
        }
        None => settings.push(vec![
            "bound methods".into(),
            "none (the spec has no [methods.bounds])".into(),
        ]),
    }
    match &rec.attack {
        Some(a) => settings.push(vec![
            "attack".into(),
            format!(
                "{}: {} steps, {} restarts, step {} of the half-width, seed {}",
                a.method.name(),
                a.steps,
                a.restarts,
                a.step_size,
                a.seed
            ),
        ]),
        None => settings.push(vec![
            "attack".into(),
            "none (the spec has no [methods.attack])".into(),
        ]),
    }
    let n = &rec.network;
    settings.push(vec![
        "ONNX Runtime".into(),
        format!(
            "{} ({}), graph optimisation level `{}`",
            n.runtime.library,
            n.runtime.build_info,
            n.runtime.optimization.name()
        ),
    ]);
    settings.push(vec![
        "graph certified".into(),
        n.executed_graph_sha256.as_ref().map_or("—".into(), |h| {
            format!("the graph ONNX Runtime executes, SHA-256 {h}")
        }),
    ]);
    settings.push(vec![
        "margin threshold".into(),
        format!(
            "{} ({})",
            rec.summary.margin_threshold,
            n.output_transform.as_deref().unwrap_or("—")
        ),
    ]);
    if let Some(why) = &n.fallback {
        settings.push(vec![
            "fallback".into(),
            format!("bound methods did not run: {why}"),
        ]);
    }
    let mut results = vec![vec![
        "rows / target rows".into(),
        format!("{} / {}", rec.summary.rows, rec.summary.target_rows),
    ]];
    for (key, label) in [
        ("bounds_verified_recall", "verified over the whole box"),
        ("unknown_share", "unknown"),
        ("falsified_share", "falsified (confirmed counterexample)"),
        (
            "misclassified_share",
            "… of which already misclassified without any change",
        ),
        (
            "evasion_share",
            "… of which true evasions (correct, flipped by the attack)",
        ),
        ("empirical_robust_recall", "not falsified by the attack"),
    ] {
        if let Some(m) = derived.metrics.get(key) {
            results.push(vec![label.into(), share_text(m)]);
        }
    }
    if let Some(v) = rec
        .summary
        .money_not_verified
        .filter(|_| !rec.methods_run.is_empty())
    {
        results.push(vec![
            "money in target rows not verified".into(),
            money(v, inputs.currency),
        ]);
    }
    if let Some(v) = rec.summary.money_falsified.filter(|_| rec.attack.is_some()) {
        results.push(vec![
            "money in falsified target rows".into(),
            money(v, inputs.currency),
        ]);
    }
    let mut sections = vec![html::Section {
        heading: "Bound methods and attacks".into(),
        paragraphs: vec![
            "Bound methods (IBP, CROWN, alpha-CROWN) prove that the deployed network, as ONNX Runtime executes it in float32, keeps the label over each row's whole threat box; attacks find counterexamples that ONNX Runtime confirms. A row is verified, falsified or unknown; a verified row with a counterexample would have stopped the run.".into(),
        ],
        tables: vec![
            html::Table {
                caption: "Settings (as run)".into(),
                header: vec!["setting".into(), "value".into()],
                rows: settings,
                highlight_column: None,
            },
            html::Table {
                caption: format!(
                    "Results ({:.0}% Clopper–Pearson intervals over the target rows)",
                    100.0 * inputs.acceptance.confidence
                ),
                header: vec!["figure".into(), "value".into()],
                rows: results,
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
    }];
    let uncertified: Vec<&RowVerdict> = rows
        .iter()
        .filter(|r| matches!(r.verdict, VerdictKind::Falsified | VerdictKind::Unknown))
        .collect();
    if !uncertified.is_empty() {
        let changes = |r: &RowVerdict| -> String {
            let parts: Vec<String> = ces
                .iter()
                .filter(|l| l.row == r.index)
                .filter_map(|l| {
                    Some(format!(
                        "{} {} → {}",
                        l.feature.as_ref()?,
                        l.original?,
                        l.counterexample?
                    ))
                })
                .collect();
            if parts.is_empty() && r.counterexample.is_some() {
                "the clean row itself".into()
            } else {
                parts.join("; ")
            }
        };
        let table_rows = uncertified
            .iter()
            .take(25)
            .map(|r| {
                let kind = match r.verdict {
                    VerdictKind::Falsified if r.base_prediction != r.label => "misclassified",
                    VerdictKind::Falsified => "evasion",
                    _ => "unknown",
                };
                vec![
                    r.id.clone(),
                    kind.into(),
                    r.amount
                        .map_or(String::new(), |a| money(a, inputs.currency)),
                    r.methods
                        .iter()
                        .map(|m| format!("{}: {:.4}", m.method.name(), m.margin_lower))
                        .collect::<Vec<_>>()
                        .join(", "),
                    r.attack_scale.map_or("—".into(), |a| format!("{a:.3}")),
                    changes(r),
                ]
            })
            .collect();
        sections.push(html::Section {
            heading: "Target rows not certified".into(),
            paragraphs: vec![format!(
                "{} rows (up to 25 shown); the full list is in {ROWS_FILE} and every counterexample, feature by feature, in {COUNTEREXAMPLES_FILE}. \"misclassified\" rows are wrong without any change; \"evasion\" rows are correct until the attack changes them.",
                uncertified.len()
            )],
            tables: vec![html::Table {
                caption: "Rows falsified or unknown".into(),
                header: vec![
                    "id".into(),
                    "verdict".into(),
                    "amount".into(),
                    "margin lower bounds".into(),
                    "attack scale".into(),
                    "counterexample".into(),
                ],
                rows: table_rows,
                highlight_column: Some(1),
            }],
            figures: vec![],
            code: None,
        });
    }
    Ok(sections)
}
