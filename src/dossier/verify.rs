//! `robcert verify`: re-checks a dossier without trusting whoever produced it. In order:
//! the Ed25519 signature over the exact bytes of `dossier.json`; the signer's fingerprint; the
//! hash of every file the dossier lists (and of the model and data, when given); every
//! per-row statistic recomputed from the recorded counts (Clopper–Pearson bounds, radii,
//! certification at the budget, verdict consistency); every summary, metric, criterion and the
//! decision; and with `--replay` the deterministic bounds re-run on the model and data, plus a
//! fresh smoothing sample whose agreement is reported. The first failing check is the error.

use super::criteria;
use super::document::{Dossier, FileHash, SCHEMA};
use super::{metrics, rows, sign};
use crate::bounds::verdict::VerdictKind;
use crate::error::{Error, Result};
use crate::pipeline::BoundsSummary;
use crate::runtime::sha256_hex;
use crate::smoothing::SmoothingSummary;
use crate::smoothing::stats::{certified_radius, clopper_pearson_lower};
use std::path::{Path, PathBuf};

/// What to check.
pub struct VerifyOptions {
    pub dir: PathBuf,
    pub pubkey: PathBuf,
    pub model: Option<PathBuf>,
    pub data: Option<PathBuf>,
    /// Re-run the deterministic bounds and a fresh smoothing sample (needs model and data).
    pub replay: bool,
    pub job: crate::pipeline::JobOptions,
}

/// The checks that passed, in order, and notes (e.g. replay agreement).
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub passed: Vec<String>,
    pub notes: Vec<String>,
}

fn fail(dir: &Path, message: impl Into<String>) -> Error {
    Error::Dossier {
        path: dir.to_path_buf(),
        message: message.into(),
    }
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn check_file(dir: &Path, f: &FileHash) -> Result<()> {
    let p = dir.join(&f.path);
    let bytes = std::fs::read(&p).map_err(|e| {
        fail(
            dir,
            format!("{} listed in the dossier cannot be read: {e}", f.path),
        )
    })?;
    let h = sha256_hex(&bytes);
    if h != f.sha256 {
        return Err(fail(
            dir,
            format!(
                "{} has SHA-256 {h}, the dossier records {}",
                f.path, f.sha256
            ),
        ));
    }
    Ok(())
}

/// Runs every check; `Ok` only when all pass.
pub fn verify(options: &VerifyOptions) -> Result<VerifyReport> {
    let dir = &options.dir;
    let mut report = VerifyReport::default();
    let json_path = dir.join("dossier.json");
    let bytes = std::fs::read(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let sig_path = dir.join("dossier.sig");
    let signature = std::fs::read(&sig_path).map_err(|e| Error::io(&sig_path, e))?;
    let key = sign::load_verifying_key(&options.pubkey)?;
    sign::verify_bytes(&key, &bytes, &signature)?;
    report
        .passed
        .push("Ed25519 signature over dossier.json".into());

    let dossier: Dossier = serde_json::from_slice(&bytes)
        .map_err(|e| fail(dir, format!("dossier.json is not a robcert dossier: {e}")))?;
    if dossier.schema != SCHEMA {
        return Err(fail(
            dir,
            format!("schema `{}` is not `{SCHEMA}`", dossier.schema),
        ));
    }
    if super::canonical::to_canonical(&dossier)? != bytes {
        return Err(fail(dir, "dossier.json is not in canonical form"));
    }
    let fp = sign::fingerprint(&key);
    if fp != dossier.signature.public_key_fingerprint {
        return Err(fail(
            dir,
            format!(
                "the dossier names signer {}, the given key is {fp}",
                dossier.signature.public_key_fingerprint
            ),
        ));
    }
    report.passed.push(format!("signer fingerprint {fp}"));

    let mut listed: Vec<&FileHash> = dossier.files.iter().collect();
    listed.extend(dossier.results.smoothing.as_ref().map(|r| &r.rows));
    listed.extend(dossier.results.bounds.as_ref().map(|r| &r.rows));
    for f in &listed {
        check_file(dir, f)?;
    }
    report
        .passed
        .push(format!("SHA-256 of {} dossier files", listed.len()));
    for (given, recorded, what) in [
        (&options.model, &dossier.inputs.model, "model"),
        (&options.data, &dossier.inputs.data, "data"),
    ] {
        if let Some(p) = given {
            let h = sha256_hex(&std::fs::read(p).map_err(|e| Error::io(p, e))?);
            if h != recorded.sha256 {
                return Err(fail(
                    dir,
                    format!(
                        "{what} {} has SHA-256 {h}, the dossier records {}",
                        p.display(),
                        recorded.sha256
                    ),
                ));
            }
            report.passed.push(format!("{what} hash"));
        }
    }

    let class_names: Vec<String> = serde_json::from_value(dossier.threat["class_names"].clone())
        .map_err(|e| fail(dir, format!("threat.class_names: {e}")))?;
    let target: crate::threat::Target = target_from_json(&dossier.threat["target"])
        .ok_or_else(|| fail(dir, "threat.target is not readable"))?;

    let mut smoothing_summary = None;
    if let (Some(res), Some(config)) = (&dossier.results.smoothing, &dossier.methods.smoothing) {
        let rows = rows::read_smoothing(&dir.join(&res.rows.path), &class_names)?;
        for r in &rows {
            let line = format!("smoothing row {}", r.index);
            if r.counts.iter().sum::<u64>() != r.n || r.n != config.n || r.top >= r.counts.len() {
                return Err(fail(
                    dir,
                    format!("{line}: counts do not add up to n = {}", config.n),
                ));
            }
            let p = clopper_pearson_lower(r.counts[r.top], r.n, config.alpha);
            if r.p_lower.is_none_or(|x| !same(x, p)) {
                return Err(fail(
                    dir,
                    format!(
                        "{line}: recorded p_lower {:?} but the counts give {p}",
                        r.p_lower
                    ),
                ));
            }
            let radius = certified_radius(config.sigma, p);
            if r.radius.is_some() != radius.is_some()
                || r.radius.zip(radius).is_some_and(|(a, b)| !same(a, b))
            {
                return Err(fail(
                    dir,
                    format!(
                        "{line}: recorded radius {:?} but the counts give {radius:?}",
                        r.radius
                    ),
                ));
            }
            if r.prediction != radius.map(|_| r.top) {
                return Err(fail(
                    dir,
                    format!(
                        "{line}: prediction {:?} is inconsistent with the radius",
                        r.prediction
                    ),
                ));
            }
            let certified =
                r.prediction == Some(r.label) && radius.is_some_and(|x| x > r.region_radius);
            if certified != r.certified_at_budget || r.in_target != target.covers(r.label) {
                return Err(fail(
                    dir,
                    format!(
                        "{line}: certified_at_budget / in_target do not follow from the counts"
                    ),
                ));
            }
        }
        let summary =
            SmoothingSummary::from_rows(&rows, &crate::pipeline::radius_grid_for(config.sigma));
        if serde_json::to_value(&summary).ok().as_ref() != Some(&res.summary) {
            return Err(fail(
                dir,
                "the smoothing summary does not match the recorded rows",
            ));
        }
        report.passed.push(format!(
            "{} smoothing rows: Clopper–Pearson bounds, radii, certification, summary",
            rows.len()
        ));
        smoothing_summary = Some(summary);
    }
    let mut bounds_summary: Option<BoundsSummary> = None;
    if let (Some(res), Some(config)) = (&dossier.results.bounds, &dossier.methods.bounds) {
        let rows = rows::read_bounds(&dir.join(&res.rows.path), &config.methods)?;
        let threshold = res
            .summary
            .get("margin_threshold")
            .and_then(|v| v.as_f64())
            .filter(|t| [0.0, crate::numerics::SOFTMAX_ORDER_MARGIN].contains(t))
            .ok_or_else(|| {
                fail(
                    dir,
                    "the bounds summary's margin_threshold is missing or not one robcert uses",
                )
            })?;
        let network = res.network.as_ref().ok_or_else(|| {
            fail(
                dir,
                "the bounds results do not say which network was bounded",
            )
        })?;
        let expected = match network.output_transform.as_deref() {
            Some("identity") | None => 0.0,
            Some("softmax") => crate::numerics::SOFTMAX_ORDER_MARGIN,
            Some(other) => {
                return Err(fail(dir, format!("unknown output transform `{other}`")));
            }
        };
        if threshold != expected {
            return Err(fail(
                dir,
                format!(
                    "margin_threshold {threshold} does not match the output transform {:?}",
                    network.output_transform
                ),
            ));
        }
        for r in &rows {
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
                VerdictKind::NotTargeted => !target.covers(r.label),
            };
            let margins_ok = r
                .methods
                .iter()
                .all(|m| m.verified == (m.margin_lower > threshold));
            if !ok || !margins_ok {
                return Err(fail(
                    dir,
                    format!(
                        "bounds row {}: verdict `{}` does not follow from its margins and counterexample",
                        r.index,
                        r.verdict.name()
                    ),
                ));
            }
        }
        let summary = BoundsSummary::from_rows(&rows, &config.methods, threshold);
        if serde_json::to_value(&summary).ok().as_ref() != Some(&res.summary) {
            return Err(fail(
                dir,
                "the bounds summary does not match the recorded rows",
            ));
        }
        let ce_lines = std::fs::read_to_string(dir.join("counterexamples.csv"))
            .map_err(|e| Error::io(dir.join("counterexamples.csv"), e))?
            .lines()
            .count()
            .saturating_sub(1);
        if ce_lines != rows.iter().filter(|r| r.counterexample.is_some()).count() {
            return Err(fail(
                dir,
                "counterexamples.csv does not hold one line per row with a counterexample",
            ));
        }
        report
            .passed
            .push(format!("{} bounds rows: verdicts, summary", rows.len()));
        bounds_summary = Some(summary);
    }

    let metric_values = metrics::compute(smoothing_summary.as_ref(), bounds_summary.as_ref());
    if metric_values.len() != dossier.metrics.len()
        || metric_values
            .iter()
            .any(|(k, v)| dossier.metrics.get(k).is_none_or(|x| !same(*x, *v)))
    {
        return Err(fail(
            dir,
            "the recorded metrics do not follow from the recorded rows",
        ));
    }
    criteria::validate(&dossier.acceptance)?;
    let (crit, decision) = criteria::evaluate(&dossier.acceptance, &metric_values);
    if crit != dossier.criteria || decision != dossier.decision {
        return Err(fail(
            dir,
            format!(
                "the recorded criteria or decision ({}) do not follow from the metrics (recomputed: {})",
                dossier.decision.outcome, decision.outcome
            ),
        ));
    }
    report.passed.push(format!(
        "metrics, {} criteria and the decision {}",
        crit.len(),
        decision.outcome
    ));

    if options.replay {
        replay(options, &dossier, &mut report)?;
    }
    Ok(report)
}

fn target_from_json(v: &serde_json::Value) -> Option<crate::threat::Target> {
    if v.as_str() == Some("any") {
        return Some(crate::threat::Target::Any);
    }
    let e = v.get("evasion")?;
    Some(crate::threat::Target::Evasion {
        from: e.get("from")?.as_u64()? as usize,
        to: e.get("to")?.as_u64()? as usize,
    })
}

/// Re-runs the deterministic bounds (rows must match byte for byte) and a fresh smoothing sample.
fn replay(options: &VerifyOptions, dossier: &Dossier, report: &mut VerifyReport) -> Result<()> {
    let dir = &options.dir;
    let (Some(model), Some(data)) = (&options.model, &options.data) else {
        return Err(fail(dir, "--replay needs --model and --data"));
    };
    let spec_path = Path::new(&dossier.inputs.spec.path);
    let overrides = crate::pipeline::Overrides {
        model: Some(model.clone()),
        data: Some(data.clone()),
    };
    let prepared = crate::pipeline::prepare(spec_path, &overrides, &options.job.runtime)?;
    if sha256_hex(&prepared.spec.bytes) != dossier.inputs.spec.sha256 {
        return Err(fail(
            dir,
            format!(
                "the spec at {} changed since the dossier was made",
                spec_path.display()
            ),
        ));
    }
    if let (Some(res), Some(config)) = (&dossier.results.bounds, &dossier.methods.bounds) {
        let job = crate::pipeline::BoundsJob {
            bounds: config.clone(),
            attack: dossier.methods.attack.clone(),
        };
        let (_, rows) = crate::pipeline::bounds(&prepared, &job, &options.job)?;
        let csv = crate::output::bounds_rows_csv(&rows, &config.methods);
        if sha256_hex(csv.as_bytes()) != res.rows.sha256 {
            return Err(fail(
                dir,
                "replayed bounds differ from the recorded bounds_rows.csv",
            ));
        }
        report
            .passed
            .push("replayed bounds and attacks: identical rows".into());
    }
    if let (Some(res), Some(config)) = (&dossier.results.smoothing, &dossier.methods.smoothing) {
        let mut fresh = config.clone();
        fresh.seed = config.seed.wrapping_add(1);
        let (_, rows) = crate::pipeline::smooth(
            &prepared,
            &fresh,
            crate::smoothing::SmoothingMode::Certify,
            &options.job,
        )?;
        let recorded =
            rows::read_smoothing(&dir.join(&res.rows.path), &prepared.threat.class_names)?;
        let agree = rows
            .iter()
            .zip(&recorded)
            .filter(|(a, b)| a.certified_at_budget == b.certified_at_budget)
            .count();
        report.notes.push(format!(
            "fresh smoothing sample (seed {}): {agree} of {} rows agree on certification at the budget",
            fresh.seed,
            rows.len()
        ));
    }
    Ok(())
}
