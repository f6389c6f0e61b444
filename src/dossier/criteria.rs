//! Risk-acceptance criteria: named metrics with thresholds, evaluated to PASS / FAIL /
//! INCONCLUSIVE, and the decision: ACCEPT only when every criterion passes, REJECT when one
//! fails, NO DECISION when there are no criteria or some criterion is inconclusive and none fails.
//!
//! A share criterion compares its threshold with the conservative end of the metric's
//! confidence interval by default (the lower bound for `_min`, the upper bound for `_max`), or
//! with the point estimate when the spec says `basis = "estimate"`. A criterion on a metric
//! measured on fewer rows than `[acceptance] min_rows` is INCONCLUSIVE, never PASS.

use super::metrics::Metric;
use crate::config::{Acceptance, Basis};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A metric robcert can evaluate, and which way its threshold points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// Key in the spec's `[acceptance]` table.
    pub key: &'static str,
    /// Name of the metric in the dossier.
    pub metric: &'static str,
    /// `true`: the value must be ≥ the threshold; `false`: ≤.
    pub at_least: bool,
    /// A share in [0, 1] (thresholds must be too) rather than an amount.
    pub share: bool,
    pub description: &'static str,
}

/// Every criterion the `[acceptance]` table may name.
pub const METRICS: [MetricDef; 10] = [
    MetricDef {
        key: "certified_fraud_recall_min",
        metric: "certified_fraud_recall",
        at_least: true,
        share: true,
        description: "share of target (fraud) rows certified at the threat budget, by the certificate `[acceptance] certificate` names (bounds, smoothing or either)",
    },
    MetricDef {
        key: "smoothing_certified_recall_min",
        metric: "smoothing_certified_recall",
        at_least: true,
        share: true,
        description: "share of target rows whose smoothed prediction is certified over the whole threat box",
    },
    MetricDef {
        key: "unknown_share_max",
        metric: "unknown_share",
        at_least: false,
        share: true,
        description: "share of target rows that bounds and attacks leave undecided",
    },
    MetricDef {
        key: "money_at_risk_max",
        metric: "money_at_risk",
        at_least: false,
        share: false,
        description: "sum of the amount column over target rows not certified (an upper bound on what an attacker could move past the model on these rows)",
    },
    MetricDef {
        key: "money_falsified_max",
        metric: "money_falsified",
        at_least: false,
        share: false,
        description: "sum of the amount column over target rows with a counterexample confirmed by ONNX Runtime (a lower bound on money at risk)",
    },
    MetricDef {
        key: "clean_accuracy_min",
        metric: "clean_accuracy",
        at_least: true,
        share: true,
        description: "accuracy of the deployed model on the clean rows",
    },
    MetricDef {
        key: "empirical_robust_recall_min",
        metric: "empirical_robust_recall",
        at_least: true,
        share: true,
        description: "share of target rows the attack did not falsify (an upper bound on true robustness)",
    },
    MetricDef {
        key: "falsified_share_max",
        metric: "falsified_share",
        at_least: false,
        share: true,
        description: "share of target rows with a confirmed counterexample (misclassified clean rows and evasions)",
    },
    MetricDef {
        key: "evasion_share_max",
        metric: "evasion_share",
        at_least: false,
        share: true,
        description: "share of target rows the model gets right on the clean row but an attack flips inside the threat box",
    },
    MetricDef {
        key: "misclassified_share_max",
        metric: "misclassified_share",
        at_least: false,
        share: true,
        description: "share of target rows the model already gets wrong without any attack",
    },
];

/// The outcome of one criterion.
pub const PASS: &str = "PASS";
pub const FAIL: &str = "FAIL";
pub const INCONCLUSIVE: &str = "INCONCLUSIVE";
/// Decisions.
pub const ACCEPT: &str = "ACCEPT";
pub const REJECT: &str = "REJECT";
pub const NO_DECISION: &str = "NO DECISION";

/// One evaluated criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub key: String,
    pub metric: String,
    /// `>=` or `<=`.
    pub comparison: String,
    pub threshold: f64,
    /// `bound` (the interval's conservative end) or `estimate`.
    pub basis: String,
    /// The number compared with the threshold; `None` when the metric was not computed.
    pub compared: Option<f64>,
    /// The metric's point estimate and rows, for the reader.
    pub estimate: Option<f64>,
    pub rows: Option<u64>,
    /// PASS, FAIL or INCONCLUSIVE.
    pub result: String,
    /// Why, in one sentence.
    pub reason: String,
}

/// ACCEPT / REJECT / NO DECISION with its reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub outcome: String,
    pub reasons: Vec<String>,
}

/// Checks the `[acceptance]` table: known keys, finite thresholds in range (a share in [0, 1]:
/// 80 instead of 0.80 is an error), a confidence in (0, 1), at least one row required.
pub fn validate(acceptance: &Acceptance) -> Result<()> {
    if !(acceptance.confidence > 0.0 && acceptance.confidence < 1.0) {
        return Err(Error::spec(
            "acceptance.confidence",
            format!(
                "{} is not a probability strictly between 0 and 1 (e.g. 0.95)",
                acceptance.confidence
            ),
        ));
    }
    if acceptance.min_rows == 0 {
        return Err(Error::spec("acceptance.min_rows", "must be at least 1"));
    }
    for (key, spec) in &acceptance.criteria {
        let Some(def) = METRICS.iter().find(|m| m.key == key) else {
            return Err(Error::spec(
                format!("acceptance.{key}"),
                format!(
                    "unknown criterion; known: confidence, min_rows, certificate, {}",
                    METRICS.iter().map(|m| m.key).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let t = spec.threshold();
        if !t.is_finite() {
            return Err(Error::spec(
                format!("acceptance.{key}"),
                "threshold must be a finite number",
            ));
        }
        if def.share && !(0.0..=1.0).contains(&t) {
            return Err(Error::spec(
                format!("acceptance.{key}"),
                format!("{t} is not a share: write shares between 0 and 1 (0.80, not 80)"),
            ));
        }
        if !def.share && t < 0.0 {
            return Err(Error::spec(
                format!("acceptance.{key}"),
                format!("{t} is negative; an amount of money is at least 0"),
            ));
        }
    }
    Ok(())
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.6}")
    }
}

/// Evaluates each criterion against `metrics` (metric name → figure).
pub fn evaluate(
    acceptance: &Acceptance,
    metrics: &BTreeMap<String, Metric>,
) -> (Vec<Criterion>, Decision) {
    let mut criteria = Vec::new();
    for (key, spec) in &acceptance.criteria {
        let def = METRICS
            .iter()
            .find(|m| m.key == key)
            .expect("validated criteria");
        let comparison = if def.at_least { ">=" } else { "<=" };
        let threshold = spec.threshold();
        let basis = spec.basis();
        let metric = metrics.get(def.metric);
        let compared = metric.map(|m| match (basis, m.is_share()) {
            (Basis::Bound, true) if def.at_least => m.lower.unwrap_or(m.value),
            (Basis::Bound, true) => m.upper.unwrap_or(m.value),
            _ => m.value,
        });
        let basis_text = match (basis, metric.is_some_and(Metric::is_share)) {
            (Basis::Bound, true) => "bound",
            _ => "estimate",
        };
        let (result, reason) = match (metric, compared) {
            (None, _) | (_, None) => (
                INCONCLUSIVE,
                format!("{}: not computed by the methods this spec runs", def.metric),
            ),
            (Some(m), _) if (m.rows as usize) < acceptance.min_rows => (
                INCONCLUSIVE,
                format!(
                    "{}: measured on {} rows, fewer than the minimum of {} ([acceptance] min_rows)",
                    def.metric, m.rows, acceptance.min_rows
                ),
            ),
            (Some(m), Some(c)) => {
                let pass = if def.at_least {
                    c >= threshold
                } else {
                    c <= threshold
                };
                let what = match basis_text {
                    "bound" => format!(
                        "its {}% {} bound {}",
                        (acceptance.confidence * 100.0).round(),
                        if def.at_least { "lower" } else { "upper" },
                        fmt(c)
                    ),
                    _ => format!("its estimate {}", fmt(c)),
                };
                let verdict = if pass { "is" } else { "is not" };
                (
                    if pass { PASS } else { FAIL },
                    format!(
                        "{}: {what} {verdict} {comparison} {} (estimate {} on {} rows)",
                        def.metric,
                        fmt(threshold),
                        fmt(m.value),
                        m.rows
                    ),
                )
            }
        };
        criteria.push(Criterion {
            key: key.clone(),
            metric: def.metric.to_string(),
            comparison: comparison.to_string(),
            threshold,
            basis: basis_text.to_string(),
            compared,
            estimate: metric.map(|m| m.value),
            rows: metric.map(|m| m.rows),
            result: result.to_string(),
            reason,
        });
    }
    let failed: Vec<String> = criteria
        .iter()
        .filter(|c| c.result == FAIL)
        .map(|c| c.reason.clone())
        .collect();
    let inconclusive: Vec<String> = criteria
        .iter()
        .filter(|c| c.result == INCONCLUSIVE)
        .map(|c| c.reason.clone())
        .collect();
    let decision = if criteria.is_empty() {
        Decision {
            outcome: NO_DECISION.into(),
            reasons: vec![
                "the spec states no acceptance criteria, so the dossier decides nothing".into(),
            ],
        }
    } else if !failed.is_empty() {
        Decision {
            outcome: REJECT.into(),
            reasons: failed,
        }
    } else if !inconclusive.is_empty() {
        Decision {
            outcome: NO_DECISION.into(),
            reasons: inconclusive,
        }
    } else {
        Decision {
            outcome: ACCEPT.into(),
            reasons: vec![format!("all {} criteria pass", criteria.len())],
        }
    };
    (criteria, decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CriterionSpec;

    fn acceptance(criteria: &[(&str, CriterionSpec)]) -> Acceptance {
        Acceptance {
            criteria: criteria
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            ..Acceptance::default()
        }
    }

    #[test]
    fn criteria_compare_the_interval_bound_by_default_and_decide() {
        let a = acceptance(&[
            ("certified_fraud_recall_min", CriterionSpec::Threshold(0.8)),
            ("money_at_risk_max", CriterionSpec::Threshold(1000.0)),
        ]);
        validate(&a).unwrap();
        let mut m = BTreeMap::new();
        // 85 of 100: estimate 0.85, 95% lower bound ≈ 0.765 < 0.8 → FAIL on the bound.
        m.insert(
            "certified_fraud_recall".to_string(),
            Metric::share(85, 100, 0.95, 0.0, "", "bounds"),
        );
        m.insert(
            "money_at_risk".to_string(),
            Metric::amount(500.0, 100, 1.0, "", "bounds"),
        );
        let (c, d) = evaluate(&a, &m);
        assert_eq!(
            c.iter().map(|x| x.result.as_str()).collect::<Vec<_>>(),
            [FAIL, PASS]
        );
        assert_eq!(d.outcome, REJECT);
        let est = acceptance(&[(
            "certified_fraud_recall_min",
            CriterionSpec::Full {
                threshold: 0.8,
                basis: Basis::Estimate,
            },
        )]);
        assert_eq!(evaluate(&est, &m).1.outcome, ACCEPT);
    }

    #[test]
    fn too_few_rows_is_inconclusive_and_no_criteria_is_no_decision() {
        let a = acceptance(&[("certified_fraud_recall_min", CriterionSpec::Threshold(0.5))]);
        let mut m = BTreeMap::new();
        m.insert(
            "certified_fraud_recall".to_string(),
            Metric::share(1, 1, 0.95, 0.0, "", "bounds"),
        );
        let (c, d) = evaluate(&a, &m);
        assert_eq!(c[0].result, INCONCLUSIVE);
        assert_eq!(d.outcome, NO_DECISION);
        let (_, d) = evaluate(&Acceptance::default(), &m);
        assert_eq!(d.outcome, NO_DECISION);
        let missing = acceptance(&[(
            "smoothing_certified_recall_min",
            CriterionSpec::Threshold(0.5),
        )]);
        assert_eq!(evaluate(&missing, &m).0[0].result, INCONCLUSIVE);
    }

    #[test]
    fn thresholds_out_of_range_and_unknown_keys_are_spec_errors() {
        for (key, t) in [
            ("certified_fraud_recall_min", 80.0),
            ("unknown_share_max", -0.1),
            ("money_at_risk_max", -5.0),
            ("clean_accuracy_min", f64::NAN),
            ("recall_min", 0.5),
        ] {
            let a = acceptance(&[(key, CriterionSpec::Threshold(t))]);
            let e = validate(&a).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        let a = Acceptance {
            confidence: 95.0,
            ..Acceptance::default()
        };
        assert!(validate(&a).unwrap_err().to_string().contains("confidence"));
    }
}
