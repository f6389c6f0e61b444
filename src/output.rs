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
        "index,label,base_prediction,top,prediction,abstain,n,p_lower,p_value,radius,region_radius,in_target,certified_at_budget,amount",
    );
    for c in class_names {
        write!(s, ",count_{c}").unwrap();
    }
    s.push('\n');
    for r in rows {
        write!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.index,
            r.label,
            r.base_prediction,
            r.top,
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

/// Per-row verdicts as CSV: one `margin_<method>`, `verified_<method>` and `scale_<method>` column
/// per method; empty cells where a value does not apply.
pub fn bounds_rows_csv(
    rows: &[crate::bounds::verdict::RowVerdict],
    methods: &[crate::bounds::Method],
) -> String {
    let mut s = String::from("index,label,base_prediction,verdict,verified_by");
    for m in methods {
        let n = m.name();
        write!(s, ",margin_{n},verified_{n},scale_{n}").unwrap();
    }
    s.push_str(",attack_scale,has_counterexample,amount\n");
    for r in rows {
        write!(
            s,
            "{},{},{},{},{}",
            r.index,
            r.label,
            r.base_prediction,
            r.verdict.name(),
            r.verified_by.map(|m| m.name()).unwrap_or("")
        )
        .unwrap();
        for m in methods {
            match r.methods.iter().find(|x| x.method == *m) {
                Some(x) => write!(
                    s,
                    ",{},{},{}",
                    x.margin_lower,
                    x.verified,
                    opt(x.certified_scale)
                )
                .unwrap(),
                None => s.push_str(",,,"),
            }
        }
        writeln!(
            s,
            ",{},{},{}",
            opt(r.attack_scale),
            r.counterexample.is_some(),
            opt(r.amount)
        )
        .unwrap();
    }
    s
}

/// Counterexamples as CSV: row index, ONNX Runtime's prediction and scores, then the input in
/// the data's feature columns (float32 values exactly as fed to ONNX Runtime).
pub fn counterexamples_csv(
    rows: &[crate::bounds::verdict::RowVerdict],
    features: &[String],
    classes: &[String],
) -> String {
    let mut s = String::from("index,predicted");
    for c in classes {
        write!(s, ",score_{c}").unwrap();
    }
    for f in features {
        write!(s, ",{f}").unwrap();
    }
    s.push('\n');
    for r in rows {
        if let Some(ce) = &r.counterexample {
            write!(s, "{},{}", r.index, ce.predicted).unwrap();
            for v in &ce.scores {
                write!(s, ",{v:?}").unwrap();
            }
            for v in &ce.x {
                write!(s, ",{v:?}").unwrap();
            }
            s.push('\n');
        }
    }
    s
}

/// Writes `bounds_rows.csv`, `counterexamples.csv` and `bounds_summary.json` into `dir`.
pub fn write_bounds(
    dir: &Path,
    report: &crate::pipeline::BoundsReport,
    rows: &[crate::bounds::verdict::RowVerdict],
) -> Result<()> {
    atomic_write(
        &dir.join("bounds_rows.csv"),
        bounds_rows_csv(rows, &report.bounds.methods).as_bytes(),
    )?;
    atomic_write(
        &dir.join("counterexamples.csv"),
        counterexamples_csv(rows, &report.threat.features, &report.threat.class_names).as_bytes(),
    )?;
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Csv {
        path: dir.join("bounds_summary.json"),
        message: e.to_string(),
    })?;
    atomic_write(&dir.join("bounds_summary.json"), (json + "\n").as_bytes())
}

/// A short human summary of a bounds run.
pub fn bounds_table(report: &crate::pipeline::BoundsReport) -> String {
    let s = &report.summary;
    let pct = |x: f64| format!("{:6.2}%", 100.0 * x);
    let mut out = String::new();
    writeln!(out, "bounds and attacks — model {}", report.model.path).unwrap();
    writeln!(
        out,
        "  ------------------------------------------------------------"
    )
    .unwrap();
    writeln!(
        out,
        "  rows / target rows                {:>7} / {}",
        s.rows, s.target_rows
    )
    .unwrap();
    writeln!(
        out,
        "  clean accuracy                    {:>10}",
        pct(s.clean_accuracy)
    )
    .unwrap();
    writeln!(
        out,
        "  verified / falsified / unknown    {:>4} / {} / {}",
        s.verified, s.falsified, s.unknown
    )
    .unwrap();
    for (m, share) in &s.verified_share_by_method {
        let scale = s
            .median_certified_scale_by_method
            .get(m)
            .map(|x| format!("  (median certified scale {x:.3})"))
            .unwrap_or_default();
        writeln!(
            out,
            "  verified by {m:<6}                {:>10}{scale}",
            pct(*share)
        )
        .unwrap();
    }
    writeln!(
        out,
        "  not falsified by the attack       {:>10}",
        pct(s.empirical_robust_share)
    )
    .unwrap();
    if let (Some(hi), Some(lo)) = (s.money_not_verified, s.money_falsified) {
        writeln!(
            out,
            "  money at risk (falsified .. not verified)  {lo:.2} .. {hi:.2}"
        )
        .unwrap();
    }
    writeln!(out, "  {:.2} s", report.seconds).unwrap();
    out
}
