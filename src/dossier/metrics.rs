//! The figures a dossier states and its criteria name. Every figure says what it counts, on how
//! many rows, and with what confidence: a share carries a two-sided Clopper–Pearson interval over
//! the row sample, and when it counts certificates that themselves hold only with a probability
//! (randomized smoothing), the interval's confidence is reduced by that probability (union
//! bound). Money figures are sums over the sample's rows.

use crate::smoothing::stats::clopper_pearson_interval;
use serde::{Deserialize, Serialize};

/// One stated figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// The point estimate on the sample (a share in [0, 1], or an amount).
    pub value: f64,
    /// What was counted, for the reader.
    pub description: String,
    /// The rows the figure is computed on (the denominator of a share).
    pub rows: u64,
    /// For a share: the rows counted (the numerator).
    pub count: Option<u64>,
    /// For a share: the Clopper–Pearson interval over the row sample.
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Probability that the interval (or, for an amount, the statement) holds: the interval's
    /// confidence minus the probability that any certificate counted is wrong.
    pub confidence: f64,
    /// Which sections' results the figure comes from.
    pub source: String,
}

impl Metric {
    /// A share `count / rows` with its interval at `confidence`, of which `certificate_risk` is
    /// spent on the certificates counted (0 for deterministic ones).
    pub fn share(
        count: u64,
        rows: u64,
        confidence: f64,
        certificate_risk: f64,
        description: impl Into<String>,
        source: impl Into<String>,
    ) -> Metric {
        let (lower, upper) = clopper_pearson_interval(count, rows, confidence);
        Metric {
            value: if rows == 0 {
                0.0
            } else {
                count as f64 / rows as f64
            },
            description: description.into(),
            rows,
            count: Some(count),
            lower: Some(lower),
            upper: Some(upper),
            confidence: (confidence - certificate_risk).max(0.0),
            source: source.into(),
        }
    }

    /// A sum over `rows` rows, true with probability `confidence` (1 for deterministic facts).
    pub fn amount(
        value: f64,
        rows: u64,
        confidence: f64,
        description: impl Into<String>,
        source: impl Into<String>,
    ) -> Metric {
        Metric {
            value,
            description: description.into(),
            rows,
            count: None,
            lower: None,
            upper: None,
            confidence,
            source: source.into(),
        }
    }

    pub fn is_share(&self) -> bool {
        self.count.is_some()
    }
}
