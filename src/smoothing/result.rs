//! Result types of randomized smoothing: one record per row and the aggregates. These types sit
//! low in the stack so that the CSV/JSON writers, the report and the dossier all render them.

use serde::{Deserialize, Serialize};

/// The smoothing outcome of one data row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowCertificate {
    /// Row index in the data file (0-based, header excluded).
    pub index: usize,
    /// The row's identifier (the data's id column, else the index).
    pub id: String,
    pub label: usize,
    /// Prediction of the deployed (unsmoothed) model on the clean row, by ONNX Runtime.
    pub base_prediction: usize,
    /// The class whose probability is bounded: CERTIFY's selection on the n0 samples (PREDICT:
    /// the top class). Recorded so that a verifier can recompute the bound from the counts.
    pub top: usize,
    /// Smoothed prediction; `None` when the procedure abstains.
    pub prediction: Option<usize>,
    /// Per-class counts of the estimation (CERTIFY) or prediction (PREDICT) samples.
    pub counts: Vec<u64>,
    /// Samples drawn for `counts`.
    pub n: u64,
    /// CERTIFY: Clopper–Pearson lower bound on the top class's probability.
    pub p_lower: Option<f64>,
    /// PREDICT: two-sided binomial test p-value of top vs runner-up.
    pub p_value: Option<f64>,
    /// Certified budget-scaled L2 radius (CERTIFY, not abstained).
    pub radius: Option<f64>,
    /// Budget-scaled distance to the farthest point of the row's threat box.
    pub region_radius: f64,
    /// Whether the row's true label is in the target (e.g. fraud rows for `fraud->legit`).
    pub in_target: bool,
    /// Smoothed prediction equals the label and the radius covers the whole threat box.
    pub certified_at_budget: bool,
    /// Money at risk of the row (from the data's amount column).
    pub amount: Option<f64>,
}

/// Certified accuracy at one radius.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusPoint {
    pub radius: f64,
    pub certified_accuracy: f64,
    /// Among target rows (e.g. fraud), the share certified correct at this radius.
    pub certified_target_recall: f64,
}

/// Aggregates over all rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmoothingSummary {
    pub rows: usize,
    pub target_rows: usize,
    /// Accuracy of the deployed model on the clean rows.
    pub clean_accuracy: f64,
    /// Accuracy of the smoothed classifier (abstentions count as wrong).
    pub smoothed_accuracy: f64,
    pub abstain_rate: f64,
    /// Share of all rows whose smoothed prediction is correct and certified over the threat box.
    pub certified_accuracy_at_budget: f64,
    /// Share of target rows (e.g. fraud) certified correct over the threat box. For
    /// `fraud->legit` this is the certified fraud recall.
    pub certified_target_recall_at_budget: f64,
    /// Sum of `amount` over target rows not certified at the budget (if the data has amounts).
    pub money_not_certified: Option<f64>,
    pub certified_accuracy_vs_radius: Vec<RadiusPoint>,
}

impl SmoothingSummary {
    /// Computes the aggregates from per-row records; `radii` is the grid of the curve.
    pub fn from_rows(rows: &[RowCertificate], radii: &[f64]) -> SmoothingSummary {
        let n = rows.len().max(1) as f64;
        let target: Vec<&RowCertificate> = rows.iter().filter(|r| r.in_target).collect();
        let nt = target.len().max(1) as f64;
        let correct_at = |r: &RowCertificate, radius: f64| {
            r.prediction == Some(r.label) && r.radius.is_some_and(|x| x >= radius)
        };
        let share =
            |it: &mut dyn Iterator<Item = bool>, d: f64| it.filter(|&b| b).count() as f64 / d;
        let money_not_certified = if rows.iter().all(|r| r.amount.is_some()) && !rows.is_empty() {
            Some(
                target
                    .iter()
                    .filter(|r| !r.certified_at_budget)
                    .map(|r| r.amount.unwrap_or(0.0))
                    .sum(),
            )
        } else {
            None
        };
        SmoothingSummary {
            rows: rows.len(),
            target_rows: target.len(),
            clean_accuracy: share(&mut rows.iter().map(|r| r.base_prediction == r.label), n),
            smoothed_accuracy: share(&mut rows.iter().map(|r| r.prediction == Some(r.label)), n),
            abstain_rate: share(&mut rows.iter().map(|r| r.prediction.is_none()), n),
            certified_accuracy_at_budget: share(&mut rows.iter().map(|r| r.certified_at_budget), n),
            certified_target_recall_at_budget: share(
                &mut target.iter().map(|r| r.certified_at_budget),
                nt,
            ),
            money_not_certified,
            certified_accuracy_vs_radius: radii
                .iter()
                .map(|&radius| RadiusPoint {
                    radius,
                    certified_accuracy: share(&mut rows.iter().map(|r| correct_at(r, radius)), n),
                    certified_target_recall: share(
                        &mut target.iter().map(|r| correct_at(r, radius)),
                        nt,
                    ),
                })
                .collect(),
        }
    }
}

/// The default radius grid: 0 to `max` in `steps` equal steps.
pub fn radius_grid(max: f64, steps: usize) -> Vec<f64> {
    (0..=steps).map(|i| max * i as f64 / steps as f64).collect()
}
