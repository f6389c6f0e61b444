//! Typed settings of every method and of the dossier, as a spec states them. They live low in the
//! stack (no dependency on the methods), so the threat spec, the methods and the dossier all use
//! them without import cycles. Every size that drives memory or time has a documented limit,
//! checked before anything is allocated.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest number of noise samples per row and phase (n, n0): 10^10.
pub const MAX_SAMPLES: u64 = 10_000_000_000;
/// Largest batch of rows per ONNX Runtime call.
pub const MAX_BATCH: usize = 1 << 20;
/// Largest number of attack steps (PGD steps or black-box rounds) per restart.
pub const MAX_ATTACK_STEPS: usize = 100_000;
/// Largest number of attack restarts.
pub const MAX_ATTACK_RESTARTS: usize = 10_000;
/// Largest number of bisection steps of a budget-scale search (2^-60 is far below float32).
pub const MAX_BISECTION_STEPS: usize = 60;
/// Largest budget scale a search may try.
pub const MAX_SCALE: f64 = 1e6;

/// Which bound method (IBP, CROWN, alpha-CROWN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Ibp,
    Crown,
    AlphaCrown,
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Ibp => "ibp",
            Method::Crown => "crown",
            Method::AlphaCrown => "alpha-crown",
        }
    }

    /// The name as an identifier (for column names): `alpha_crown`.
    pub fn ident(&self) -> &'static str {
        match self {
            Method::Ibp => "ibp",
            Method::Crown => "crown",
            Method::AlphaCrown => "alpha_crown",
        }
    }
}

/// Parameters of randomized smoothing; defaults are Cohen et al.'s (σ = 0.25, n0 = 100,
/// n = 100,000, α = 0.001). σ is in budget units: feature `f` gets noise of std `σ·b_f`.
///
/// `alpha` is the probability that **any** row's certificate of the run is wrong: each of the
/// m certified rows uses `alpha / m` (Bonferroni), so every certificate holds simultaneously
/// with probability ≥ 1 − α, and every aggregate over them (certified recall, money at risk)
/// inherits that confidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmoothingConfig {
    /// Noise scale in budget units.
    pub sigma: f64,
    /// Selection samples (CERTIFY picks the top class from these).
    pub n0: u64,
    /// Estimation samples.
    pub n: u64,
    /// Probability that any row's certificate of the run is wrong (family-wise).
    pub alpha: f64,
    /// Rows per ONNX Runtime call. Does not change results.
    pub batch: usize,
    /// Master seed. Results depend only on it, not on threads, batch or the rows selected.
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
    /// Rejects values with which the procedure is undefined, meaningless, or beyond the limits.
    pub fn validate(&self) -> Result<()> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(Error::param(
                "sigma",
                self.sigma,
                "must be a finite number > 0",
            ));
        }
        if self.n == 0 || self.n > MAX_SAMPLES {
            return Err(Error::param(
                "n",
                self.n,
                format!("must be between 1 and {MAX_SAMPLES}"),
            ));
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
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(Error::param(
                "batch",
                self.batch,
                format!("must be between 1 and {MAX_BATCH}"),
            ));
        }
        Ok(())
    }

    /// The level each of `rows` certificates is computed at (Bonferroni).
    pub fn alpha_per_row(&self, rows: usize) -> f64 {
        self.alpha / rows.max(1) as f64
    }
}

/// Bound settings (`[methods.bounds]` in the spec).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoundsConfig {
    /// Methods to run, cheapest first; a row is verified by the first that succeeds.
    pub methods: Vec<Method>,
    /// Search the largest certified budget scale per method, and the attack's smallest.
    pub scale_search: bool,
    /// Upper end of the scale search (1.0 = the threat budget).
    pub scale_max: f64,
    /// Bisection steps of the scale search.
    pub bisection_steps: usize,
}

impl Default for BoundsConfig {
    fn default() -> Self {
        BoundsConfig {
            methods: vec![Method::Ibp, Method::Crown, Method::AlphaCrown],
            scale_search: true,
            scale_max: 4.0,
            bisection_steps: 10,
        }
    }
}

impl BoundsConfig {
    pub fn validate(&self) -> Result<()> {
        if self.methods.is_empty() {
            return Err(Error::param(
                "methods",
                "[]",
                "name at least one bound method (ibp, crown, alpha-crown)",
            ));
        }
        if !(self.scale_max.is_finite() && (1.0..=MAX_SCALE).contains(&self.scale_max)) {
            return Err(Error::param(
                "scale_max",
                self.scale_max,
                format!("must be a number between 1 and {MAX_SCALE}"),
            ));
        }
        if self.bisection_steps > MAX_BISECTION_STEPS {
            return Err(Error::param(
                "bisection_steps",
                self.bisection_steps,
                format!("must be at most {MAX_BISECTION_STEPS}"),
            ));
        }
        Ok(())
    }
}

/// Attack settings (`[methods.attack]` in the spec).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttackConfig {
    /// `pgd` (gradients through robcert's IR) or `black-box` (ONNX Runtime only).
    pub method: AttackMethod,
    /// Gradient steps per restart (PGD) or search rounds (black-box).
    pub steps: usize,
    /// Random restarts (the first start is the clean point).
    pub restarts: usize,
    /// Step size as a fraction of each feature's half-width in the region.
    pub step_size: f64,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackMethod {
    Pgd,
    BlackBox,
}

impl AttackMethod {
    pub fn name(&self) -> &'static str {
        match self {
            AttackMethod::Pgd => "pgd",
            AttackMethod::BlackBox => "black-box",
        }
    }
}

impl Default for AttackConfig {
    fn default() -> Self {
        AttackConfig {
            method: AttackMethod::Pgd,
            steps: 50,
            restarts: 5,
            step_size: 0.25,
            seed: 0,
        }
    }
}

impl AttackConfig {
    pub fn validate(&self) -> Result<()> {
        if self.steps > MAX_ATTACK_STEPS {
            return Err(Error::param(
                "steps",
                self.steps,
                format!("must be at most {MAX_ATTACK_STEPS}"),
            ));
        }
        if self.restarts > MAX_ATTACK_RESTARTS {
            return Err(Error::param(
                "restarts",
                self.restarts,
                format!("must be at most {MAX_ATTACK_RESTARTS}"),
            ));
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0 && self.step_size <= 1.0) {
            return Err(Error::param(
                "step_size",
                self.step_size,
                "must be a number in (0, 1] (a fraction of the box's half-width)",
            ));
        }
        Ok(())
    }
}

/// Model-risk documentation carried from the spec's `[context]` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Context {
    pub title: String,
    pub intended_use: String,
    pub assumptions: Vec<String>,
    pub limitations: Vec<String>,
    pub monitoring: String,
    /// Currency of the amount column (ISO 4217 code such as `EUR`), shown with every money figure.
    pub currency: String,
}

/// Which certificate `certified_fraud_recall` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateChoice {
    /// Rows verified by a bound method on the deployed model (the default when bounds run).
    #[default]
    Bounds,
    /// Rows whose smoothed classifier is certified over the threat box (a statement about the
    /// smoothed model, which a black-box model such as a tree ensemble may only have).
    Smoothing,
    /// Rows certified by either.
    Either,
}

/// Whether a criterion compares its threshold with the metric's confidence bound or with the
/// point estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The conservative end of the metric's confidence interval: the lower bound for `_min`
    /// criteria, the upper bound for `_max` criteria (the default).
    #[default]
    Bound,
    /// The point estimate on the sample.
    Estimate,
}

/// One criterion as written: a threshold, or a table with the threshold and its basis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CriterionSpec {
    Threshold(f64),
    Full {
        threshold: f64,
        #[serde(default)]
        basis: Basis,
    },
}

impl CriterionSpec {
    pub fn threshold(&self) -> f64 {
        match self {
            CriterionSpec::Threshold(t) | CriterionSpec::Full { threshold: t, .. } => *t,
        }
    }

    pub fn basis(&self) -> Basis {
        match self {
            CriterionSpec::Threshold(_) => Basis::Bound,
            CriterionSpec::Full { basis, .. } => *basis,
        }
    }
}

/// Default confidence of the intervals on shares.
pub const DEFAULT_INTERVAL_CONFIDENCE: f64 = 0.95;
/// Default smallest number of rows a share must be measured on for its criterion to decide.
pub const DEFAULT_MIN_ROWS: usize = 30;

fn default_confidence() -> f64 {
    DEFAULT_INTERVAL_CONFIDENCE
}

fn default_min_rows() -> usize {
    DEFAULT_MIN_ROWS
}

/// The spec's `[acceptance]` table: risk-acceptance criteria and how they are evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    /// Two-sided confidence of the Clopper–Pearson intervals on every share.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// A criterion measured on fewer rows is INCONCLUSIVE, never PASS.
    #[serde(default = "default_min_rows")]
    pub min_rows: usize,
    /// Which certificate `certified_fraud_recall` counts; default: bounds when they run, else
    /// smoothing.
    #[serde(default)]
    pub certificate: Option<CertificateChoice>,
    /// Metric key (e.g. `certified_fraud_recall_min`) → threshold.
    #[serde(flatten)]
    pub criteria: BTreeMap<String, CriterionSpec>,
}

impl Default for Acceptance {
    fn default() -> Self {
        Acceptance {
            confidence: DEFAULT_INTERVAL_CONFIDENCE,
            min_rows: DEFAULT_MIN_ROWS,
            certificate: None,
            criteria: BTreeMap::new(),
        }
    }
}
