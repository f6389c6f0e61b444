//! Risk-acceptance criteria: named metrics with thresholds, evaluated to PASS / FAIL, and the
//! decision (ACCEPT only when every criterion passes).

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
    pub description: &'static str,
}

/// Every criterion the `[acceptance]` table may name.
pub const METRICS: [MetricDef; 8] = [
    MetricDef {
        key: "certified_fraud_recall_min",
        metric: "certified_fraud_recall",
        at_least: true,
        description: "share of target (fraud) rows certified at the threat budget: verified by a bound method when bounds ran, else certified by smoothing",
    },
    MetricDef {
        key: "smoothing_certified_recall_min",
        metric: "smoothing_certified_recall",
        at_least: true,
        description: "share of target rows whose smoothed prediction is certified over the whole threat box",
    },
    MetricDef {
        key: "unknown_share_max",
        metric: "unknown_share",
        at_least: false,
        description: "share of target rows that bounds and attacks leave undecided",
    },
    MetricDef {
        key: "money_at_risk_max",
        metric: "money_at_risk",
        at_least: false,
        description: "sum of the amount column over target rows not certified (upper bound on what an attacker could move past the model)",
    },
    MetricDef {
        key: "money_falsified_max",
        metric: "money_falsified",
        at_least: false,
        description: "sum of the amount column over target rows with a counterexample confirmed by ONNX Runtime (lower bound on money at risk)",
    },
    MetricDef {
        key: "clean_accuracy_min",
        metric: "clean_accuracy",
        at_least: true,
        description: "accuracy of the deployed model on the clean rows",
    },
    MetricDef {
        key: "empirical_robust_recall_min",
        metric: "empirical_robust_recall",
        at_least: true,
        description: "share of target rows the attack did not falsify (an upper bound on true robustness)",
    },
    MetricDef {
        key: "falsified_share_max",
        metric: "falsified_share",
        at_least: false,
        description: "share of target rows with a confirmed counterexample",
    },
];

/// One evaluated criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub key: String,
    pub metric: String,
    /// `>=` or `<=`.
    pub comparison: String,
    pub threshold: f64,
    /// `None` when the metric could not be computed (e.g. a smoothing metric without smoothing):
    /// the criterion then fails.
    pub value: Option<f64>,
    pub result: String,
}

/// ACCEPT / REJECT with one reason per criterion that failed (or a note that all passed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: String,
    pub reasons: Vec<String>,
}

/// Checks the `[acceptance]` table: known keys only, finite thresholds.
pub fn validate(table: &BTreeMap<String, f64>) -> Result<()> {
    for (key, &threshold) in table {
        if !METRICS.iter().any(|m| m.key == key) {
            return Err(Error::spec(
                format!("acceptance.{key}"),
                format!(
                    "unknown metric; known: {}",
                    METRICS.iter().map(|m| m.key).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if !threshold.is_finite() {
            return Err(Error::spec(
                format!("acceptance.{key}"),
                "threshold must be a finite number",
            ));
        }
    }
    Ok(())
}

/// Evaluates each criterion against `values` (metric name → value).
pub fn evaluate(
    table: &BTreeMap<String, f64>,
    values: &BTreeMap<String, f64>,
) -> (Vec<Criterion>, Decision) {
    let mut criteria = Vec::new();
    let mut reasons = Vec::new();
    for (key, &threshold) in table {
        let def = METRICS
            .iter()
            .find(|m| m.key == key)
            .expect("validated criteria");
        let value = values.get(def.metric).copied();
        let pass = value.is_some_and(|v| {
            if def.at_least {
                v >= threshold
            } else {
                v <= threshold
            }
        });
        let comparison = if def.at_least { ">=" } else { "<=" };
        if !pass {
            reasons.push(match value {
                Some(v) => format!(
                    "{}: {} is not {comparison} {}",
                    def.metric,
                    fmt(v),
                    fmt(threshold)
                ),
                None => format!("{}: not computed by the methods this spec runs", def.metric),
            });
        }
        criteria.push(Criterion {
            key: key.clone(),
            metric: def.metric.to_string(),
            comparison: comparison.to_string(),
            threshold,
            value,
            result: if pass { "PASS" } else { "FAIL" }.to_string(),
        });
    }
    let outcome = if reasons.is_empty() {
        "ACCEPT"
    } else {
        "REJECT"
    };
    if reasons.is_empty() {
        reasons.push(if criteria.is_empty() {
            "no acceptance criteria were given".to_string()
        } else {
            format!("all {} criteria pass", criteria.len())
        });
    }
    (
        criteria,
        Decision {
            outcome: outcome.to_string(),
            reasons,
        },
    )
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_pass_fail_and_decide() {
        let table: BTreeMap<String, f64> = [
            ("certified_fraud_recall_min".to_string(), 0.8),
            ("money_at_risk_max".to_string(), 1000.0),
        ]
        .into();
        validate(&table).unwrap();
        let values: BTreeMap<String, f64> = [
            ("certified_fraud_recall".to_string(), 0.9),
            ("money_at_risk".to_string(), 1500.0),
        ]
        .into();
        let (c, d) = evaluate(&table, &values);
        assert_eq!(
            c.iter().map(|x| x.result.as_str()).collect::<Vec<_>>(),
            ["PASS", "FAIL"]
        );
        assert_eq!(d.outcome, "REJECT");
        assert!(d.reasons[0].contains("money_at_risk"));
        let bad: BTreeMap<String, f64> = [("recall_min".to_string(), 0.5)].into();
        assert!(
            validate(&bad)
                .unwrap_err()
                .to_string()
                .contains("acceptance.recall_min")
        );
    }
}
