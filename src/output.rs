//! Writers for per-row CSV files and JSON summaries that pandas and jq read directly, and the
//! plain-text summary the CLI prints.

use crate::error::Result;
use crate::pipeline::SmoothingReport;
use crate::smoothing::RowCertificate;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Writes the output folder of `robcert smooth`: `smoothing_rows.csv` (the dossier's format) and
/// `smoothing_summary.json`, under the output-folder rules (`dossier::folder`).
pub fn write_smoothing(
    dir: &Path,
    force: bool,
    report: &SmoothingReport,
    rows: &[RowCertificate],
) -> Result<()> {
    let mut files = BTreeMap::new();
    files.insert(
        crate::sections::smoothing::ROWS_FILE.to_string(),
        crate::sections::smoothing::rows_csv(rows, &report.threat.class_names),
    );
    let json = serde_json::to_string_pretty(report).expect("serialisable") + "\n";
    files.insert("smoothing_summary.json".to_string(), json.into_bytes());
    crate::dossier::folder::write_folder(dir, force, &files)
}

/// Writes the output folder of `robcert bounds`: `bounds_rows.csv`, `counterexamples.csv` (the
/// dossier's formats) and `bounds_summary.json`.
pub fn write_bounds(
    dir: &Path,
    force: bool,
    prepared: &crate::pipeline::Prepared,
    report: &crate::pipeline::BoundsReport,
    rows: &[crate::bounds::verdict::RowVerdict],
) -> Result<()> {
    use crate::sections::bounds as b;
    let mut files = BTreeMap::new();
    files.insert(
        b::ROWS_FILE.to_string(),
        b::rows_csv(rows, &report.methods_run),
    );
    files.insert(
        b::COUNTEREXAMPLES_FILE.to_string(),
        b::counterexamples_csv(rows, &|i| prepared.data.row(i).to_vec(), &report.threat),
    );
    let json = serde_json::to_string_pretty(report).expect("serialisable") + "\n";
    files.insert("bounds_summary.json".to_string(), json.into_bytes());
    crate::dossier::folder::write_folder(dir, force, &files)
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
