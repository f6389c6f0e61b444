//! The metrics that risk-acceptance criteria name, computed from the method summaries. Used by
//! `certify` to fill the dossier and by `verify` on its own recomputed summaries.

use crate::pipeline::BoundsSummary;
use crate::smoothing::SmoothingSummary;
use std::collections::BTreeMap;

/// Metric name → value, for whichever methods ran.
pub fn compute(
    smoothing: Option<&SmoothingSummary>,
    bounds: Option<&BoundsSummary>,
) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    if let Some(s) = smoothing {
        m.insert("clean_accuracy".into(), s.clean_accuracy);
        m.insert(
            "smoothing_certified_recall".into(),
            s.certified_target_recall_at_budget,
        );
        m.insert(
            "certified_fraud_recall".into(),
            s.certified_target_recall_at_budget,
        );
        if let Some(money) = s.money_not_certified {
            m.insert("money_at_risk".into(), money);
        }
    }
    if let Some(b) = bounds {
        let nt = b.target_rows.max(1) as f64;
        m.insert("clean_accuracy".into(), b.clean_accuracy);
        // Deterministic verification of the deployed model takes precedence over smoothing.
        m.insert("certified_fraud_recall".into(), b.verified as f64 / nt);
        m.insert("unknown_share".into(), b.unknown as f64 / nt);
        m.insert("falsified_share".into(), b.falsified as f64 / nt);
        m.insert("empirical_robust_recall".into(), b.empirical_robust_share);
        if let Some(money) = b.money_not_verified {
            m.insert("money_at_risk".into(), money);
        }
        if let Some(money) = b.money_falsified {
            m.insert("money_falsified".into(), money);
        }
    }
    m
}
