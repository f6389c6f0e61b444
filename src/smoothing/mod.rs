//! Randomized smoothing (Cohen, Rosenfeld & Kolter 2019) through ONNX Runtime, with anisotropic
//! noise on the mutable features only.
//!
//! ## What is certified
//! Let `b_f` be the budget of mutable feature `f` and `m` the number of mutable features. The
//! base classifier is `f(x) = argmax ONNX(clip(x))`, where `clip` projects onto the valid ranges.
//! Noise `δ_f ~ N(0, (σ·b_f)²)` is added to mutable features only. In budget-scaled coordinates
//! `z_f = x_f / b_f` this is isotropic Gaussian noise of scale σ, so Cohen et al.'s Theorem 1
//! applies there: with probability ≥ 1 − α over the sampling, the smoothed classifier
//! `g(x) = argmax_c P(f(x + δ) = c)` returns the certified class for every `x'` that differs
//! from `x` only in mutable features with `sqrt(Σ_f ((x'_f − x_f)/b_f)²) < R`, `R = σ·Φ⁻¹(p_A)`.
//! R is the **budget-scaled L2 radius**: R = 1 covers each single feature moved by its full budget.
//!
//! A row is **certified at the threat budget** when R exceeds the budget-scaled distance from `x`
//! to the farthest point of its threat box `{x' : |x'_f − x_f| ≤ b_f, x' within valid ranges}`
//! (at most `sqrt(m)`, less when a valid range cuts the box). The ball then contains the box.
//!
//! Clipping noisy points to the valid ranges is part of the base classifier, so the guarantee is
//! unaffected by it. Note that the certificate is about the smoothed classifier `g`, not the
//! deployed network `f`; the bound methods certify `f` itself.

pub mod certify;
pub mod noise;
pub mod result;
pub mod stats;

pub use certify::{SmoothingRun, run_smoothing};
pub use result::{RowCertificate, SmoothingSummary};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Whether to run CERTIFY (radius per row) or PREDICT (smoothed prediction with abstention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SmoothingMode {
    Certify,
    Predict,
}

/// Parameters of randomized smoothing; defaults are Cohen et al.'s (σ = 0.25, n0 = 100,
/// n = 100,000, α = 0.001). σ is in budget units: feature `f` gets noise of std `σ·b_f`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmoothingConfig {
    /// Noise scale in budget units.
    pub sigma: f64,
    /// Selection samples (CERTIFY picks the top class from these).
    pub n0: u64,
    /// Estimation samples.
    pub n: u64,
    /// Failure probability of each row's certificate.
    pub alpha: f64,
    /// Rows per ONNX Runtime call. Does not change results.
    pub batch: usize,
    /// Master seed. Row `i` draws from its own streams, so results do not depend on threads.
    pub seed: u64,
}

impl Default for SmoothingConfig {
    fn default() -> Self {
        SmoothingConfig {
            sigma: 0.25,
            n0: 100,
            n: 100_000,
            alpha: 0.001,
            batch: 4096,
            seed: 0,
        }
    }
}

impl SmoothingConfig {
    /// Rejects values with which the procedure is undefined or meaningless.
    pub fn validate(&self) -> Result<()> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(Error::param(
                "sigma",
                self.sigma,
                "must be a finite number > 0",
            ));
        }
        if self.n == 0 {
            return Err(Error::param("n", self.n, "must be at least 1"));
        }
        if self.n0 == 0 {
            return Err(Error::param("n0", self.n0, "must be at least 1"));
        }
        if self.n0 > self.n {
            return Err(Error::param(
                "n0",
                self.n0,
                format!(
                    "must not exceed n = {} (selection uses fewer samples than estimation)",
                    self.n
                ),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(Error::param(
                "alpha",
                self.alpha,
                "must lie strictly between 0 and 1",
            ));
        }
        if self.batch == 0 {
            return Err(Error::param("batch", self.batch, "must be at least 1"));
        }
        Ok(())
    }
}
