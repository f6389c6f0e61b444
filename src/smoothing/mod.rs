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

use serde::{Deserialize, Serialize};

/// Whether to run CERTIFY (radius per row) or PREDICT (smoothed prediction with abstention).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SmoothingMode {
    Certify,
    Predict,
}

pub use crate::config::SmoothingConfig;
