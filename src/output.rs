//! Writers for per-row CSV files and JSON summaries that pandas and jq read directly, and the
//! plain-text summary the CLI prints.

use crate::error::{Error, Result};
use crate::pipeline::SmoothingReport;
use crate::smoothing::RowCertificate;
use crate::util::atomic_write;
use std::fmt::Write as _;
use std::path::Path;

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Per-row smoothing results as CSV: one column per field, counts as `count_<class>`, empty
/// cells for values that do not apply (e.g. the radius of an abstained row).
pub fn smoothing_rows_csv(rows: &[RowCertificate], class_names: &[String]) -> String {
    let mut s = String::from(
        "index,label,base_prediction,prediction,abstain,n,p_lower,p_value,radius,region_radius,in_target,certified_at_budget,amount",
    );
    for c in class_names {
        write!(s, ",count_{c}").unwrap();
    }
    s.push('\n');
    for r in rows {
        write!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.index,
            r.label,
            r.base_prediction,
            opt(r.prediction),
            r.prediction.is_none(),
            r.n,
            opt(r.p_lower),
            opt(r.p_value),
            opt(r.radius),
            r.region_radius,
            r.in_target,
            r.certified_at_budget,
            opt(r.amount)
        )
        .unwrap();
        for c in &r.counts {
            write!(s, ",{c}").unwrap();
        }
        s.push('\n');
    }
    s
}

/// Writes `smoothing_rows.csv` and `smoothing_summary.json` into `dir` (each atomically).
pub fn write_smoothing(
    dir: &Path,
    report: &SmoothingReport,
    rows: &[RowCertificate],
) -> Result<()> {
    atomic_write(
        &dir.join("smoothing_rows.csv"),
        smoothing_rows_csv(rows, &report.threat.class_names).as_bytes(),
    )?;
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Csv {
        path: dir.join("smoothing_summary.json"),
        message: e.to_string(),
    })?;
    atomic_write(
        &dir.join("smoothing_summary.json"),
        (json + "\n").as_bytes(),
    )
}

/// A short human summary of a smoothing run.
pub fn smoothing_table(report: &SmoothingReport) -> String {
    let s = &report.summary;
    let t = &report.threat;
    let mut out = String::new();
    let target = match &t.target {
        crate::threat::Target::Evasion { from, to } => {
            format!("{} -> {}", t.class_names[*from], t.class_names[*to])
        }
        crate::threat::Target::Any => "any change".into(),
    };
    let budget: Vec<String> = t
        .mutable_indices()
        .iter()
        .map(|&f| format!("{} ±{}", t.features[f], t.budgets[f]))
        .collect();
    let pct = |x: f64| format!("{:6.2}%", 100.0 * x);
    writeln!(
        out,
        "randomized smoothing ({:?}) — model {}",
        report.mode, report.model.path
    )
    .unwrap();
    writeln!(out, "  threat: {} | target: {}", budget.join(", "), target).unwrap();
    writeln!(
        out,
        "  sigma {} (budget units), n0 {}, n {}, alpha {}, seed {}",
        report.config.sigma,
        report.config.n0,
        report.config.n,
        report.config.alpha,
        report.config.seed
    )
    .unwrap();
    writeln!(
        out,
        "  ------------------------------------------------------------"
    )
    .unwrap();
    writeln!(
        out,
        "  rows certified                        {:>10}",
        s.rows
    )
    .unwrap();
    writeln!(
        out,
        "  target rows                           {:>10}",
        s.target_rows
    )
    .unwrap();
    writeln!(
        out,
        "  clean accuracy (deployed model)       {:>10}",
        pct(s.clean_accuracy)
    )
    .unwrap();
    writeln!(
        out,
        "  smoothed accuracy                     {:>10}",
        pct(s.smoothed_accuracy)
    )
    .unwrap();
    writeln!(
        out,
        "  abstain rate                          {:>10}",
        pct(s.abstain_rate)
    )
    .unwrap();
    writeln!(
        out,
        "  certified accuracy at budget          {:>10}",
        pct(s.certified_accuracy_at_budget)
    )
    .unwrap();
    writeln!(
        out,
        "  certified target recall at budget     {:>10}",
        pct(s.certified_target_recall_at_budget)
    )
    .unwrap();
    if let Some(m) = s.money_not_certified {
        writeln!(out, "  money in uncertified target rows      {m:>10.2}").unwrap();
    }
    writeln!(out, "  certified accuracy by radius (budget-scaled L2):").unwrap();
    for p in s.certified_accuracy_vs_radius.iter().step_by(4) {
        writeln!(
            out,
            "    r = {:5.2}   all {}   target {}",
            p.radius,
            pct(p.certified_accuracy),
            pct(p.certified_target_recall)
        )
        .unwrap();
    }
    writeln!(
        out,
        "  {} model evaluations in {:.2} s ({:.2} M/s, {} workers)",
        report.performance.model_evaluations,
        report.performance.seconds,
        report.performance.evaluations_per_second / 1e6,
        report.performance.workers
    )
    .unwrap();
    out
}
