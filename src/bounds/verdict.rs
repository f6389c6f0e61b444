//! A verdict for every row: *verified* (a sound bound proves the label over the whole threat
//! box), *falsified* (a counterexample in the box, confirmed by ONNX Runtime) or *unknown*;
//! plus each method's margin lower bound, the largest budget scale each method certifies and the
//! smallest scale at which the attack succeeds (the certified-vs-empirical bracket).

use super::{Method, Region, margin_bounds};
use crate::attack::{AttackConfig, AttackMethod, AttackProblem, Counterexample, black_box, pgd};
use crate::error::{Error, Result};
use crate::ir::Graph;
use crate::runtime::ModelSession;
use crate::threat::{Target, ThreatModel};
use serde::Serialize;

pub use crate::config::BoundsConfig;

/// The outcome of one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Verified,
    Falsified,
    Unknown,
    /// The row's label is outside the target (e.g. legit rows for `fraud->legit`).
    NotTargeted,
}

impl VerdictKind {
    pub fn name(&self) -> &'static str {
        match self {
            VerdictKind::Verified => "verified",
            VerdictKind::Falsified => "falsified",
            VerdictKind::Unknown => "unknown",
            VerdictKind::NotTargeted => "not_targeted",
        }
    }
}

/// One method's result on one row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MethodResult {
    pub method: Method,
    /// Lower bound of the smallest margin score[label] − score[k] over the threat box.
    pub margin_lower: f64,
    pub verified: bool,
    /// Largest budget scale at which the method verifies (0 if none found).
    pub certified_scale: Option<f64>,
}

impl MethodResult {
    /// Whether the method certifies the row at budget scale `s`: from the scale search when it
    /// ran, else from the verdict at the threat budget (scale 1).
    pub fn certified_at(&self, s: f64) -> bool {
        match self.certified_scale {
            Some(c) => c > 0.0 && c >= s,
            None => self.verified && s <= 1.0,
        }
    }
}

/// For each budget scale in `grid`, the share of target rows for which `holds(row, scale)`.
pub fn target_share_curve(
    rows: &[RowVerdict],
    grid: &[f64],
    holds: impl Fn(&RowVerdict, f64) -> bool,
) -> Vec<(f64, f64)> {
    let target: Vec<&RowVerdict> = rows
        .iter()
        .filter(|r| r.verdict != VerdictKind::NotTargeted)
        .collect();
    let n = target.len().max(1) as f64;
    grid.iter()
        .map(|&s| (s, target.iter().filter(|r| holds(r, s)).count() as f64 / n))
        .collect()
}

/// Whether the attack has not falsified the row at budget scale `s`.
pub fn survives_attack_at(row: &RowVerdict, s: f64) -> bool {
    row.attack_scale.is_none_or(|a| a > s)
}

/// The verdict and numbers of one row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowVerdict {
    pub index: usize,
    /// The row's identifier (the data's id column, else the index).
    pub id: String,
    pub label: usize,
    pub base_prediction: usize,
    pub verdict: VerdictKind,
    pub verified_by: Option<Method>,
    pub methods: Vec<MethodResult>,
    /// Smallest scale at which the attack found a confirmed counterexample.
    pub attack_scale: Option<f64>,
    /// A counterexample at scale 1 (the threat budget), if one was found.
    pub counterexample: Option<Counterexample>,
    pub amount: Option<f64>,
}

/// Everything needed to judge rows of one data set.
pub struct VerdictContext<'a> {
    /// The parsed network; `None` when the IR cannot represent the model (only the black-box
    /// attack runs then, and no row can be verified).
    pub graph: Option<&'a Graph>,
    pub threat: &'a ThreatModel,
    pub bounds: &'a BoundsConfig,
    pub attack: Option<&'a AttackConfig>,
}

/// Classes whose win over the label counts as a successful attack.
pub fn attack_targets(target: &Target, label: usize, classes: usize) -> Vec<usize> {
    match target {
        Target::Evasion { to, .. } => vec![*to],
        Target::Any => (0..classes).filter(|&k| k != label).collect(),
    }
}

/// Whether `method` proves the label over the region: every margin lower bound exceeds the
/// graph's margin threshold (0 for raw scores; the Softmax tie margin after a final Softmax).
/// Returns the verdict, the worst margin bound (`−inf` when any bound is not a number or
/// unbounded) and the corners where the bounds are approached, for the safety net.
fn verifies(
    graph: &Graph,
    region: &Region,
    method: Method,
    label: usize,
    targets: &[usize],
) -> (bool, f64, Vec<Vec<f64>>) {
    let bounds = margin_bounds(graph, region, method, label, targets);
    let worst = worst_margin(&bounds.lower);
    (worst > graph.margin_threshold(), worst, bounds.corners)
}

/// The smallest margin bound; `−inf` if any is NaN (a NaN proves nothing) or there are none.
pub fn worst_margin(margins: &[f64]) -> f64 {
    if margins.is_empty() || margins.iter().any(|m| m.is_nan()) {
        return f64::NEG_INFINITY;
    }
    margins.iter().copied().fold(f64::INFINITY, f64::min)
}

fn run_attack(
    ctx: &VerdictContext,
    session: &mut ModelSession,
    problem: &AttackProblem,
) -> Result<Option<Counterexample>> {
    match ctx.attack {
        None => Ok(None),
        Some(config) => match (config.method, ctx.graph) {
            (AttackMethod::Pgd, Some(graph)) => pgd(graph, session, problem, config),
            _ => black_box(session, problem, config),
        },
    }
}

/// Judges one row. `base_prediction` is ONNX Runtime's prediction on the clean row.
pub fn judge_row(
    ctx: &VerdictContext,
    session: &mut ModelSession,
    index: usize,
    x: &[f32],
    label: usize,
    base_prediction: usize,
    amount: Option<f64>,
) -> Result<RowVerdict> {
    let classes = session.num_classes();
    let targets = attack_targets(&ctx.threat.target, label, classes);
    let mut row = RowVerdict {
        index,
        id: index.to_string(),
        label,
        base_prediction,
        verdict: VerdictKind::Unknown,
        verified_by: None,
        methods: Vec::new(),
        attack_scale: None,
        counterexample: None,
        amount,
    };
    if !ctx.threat.target.covers(label) {
        row.verdict = VerdictKind::NotTargeted;
        return Ok(row);
    }
    let region_at = |s: f64| Region::from_threat(ctx.threat, x, s);
    let region = region_at(1.0)?;
    let methods: &[Method] = if ctx.graph.is_some() {
        &ctx.bounds.methods
    } else {
        &[]
    };
    // Points the bounds single out, checked through ONNX Runtime with the attack's candidates:
    // an unsound bound would show up as a counterexample at one of them.
    let mut witnesses: Vec<Vec<f32>> = Vec::new();
    for &method in methods {
        let graph = ctx.graph.expect("methods run only with a graph");
        let (verified, worst, corners) = verifies(graph, &region, method, label, &targets);
        witnesses.extend(
            corners
                .iter()
                .map(|c| crate::attack::to_f32_inside(c, &region)),
        );
        row.methods.push(MethodResult {
            method,
            margin_lower: worst,
            verified,
            certified_scale: None,
        });
        if verified && row.verified_by.is_none() {
            row.verified_by = Some(method);
        }
    }
    // The clean row itself is a counterexample when ONNX Runtime already predicts a target class.
    let clean_counterexample = targets.contains(&base_prediction);
    let movable = ctx.threat.movable();
    let problem = AttackProblem {
        region: &region,
        x0: x,
        label,
        targets: &targets,
        stream: index as u64,
        constraints: &ctx.threat.constraints,
        movable: &movable,
        features: &ctx.threat.features,
    };
    // The bounds hold over the whole box, so a verified row must survive every witness, even
    // one outside the declared constraints; only witnesses inside them can be counterexamples.
    if let Some(method) = row.verified_by
        && let Some(ce) = crate::attack::confirm(session, &witnesses, &targets)?
    {
        return Err(Error::SoundnessViolation {
            row: index,
            method: method.name().into(),
            counterexample: ce.x,
        });
    }
    let valid_witnesses: Vec<Vec<f32>> = witnesses
        .into_iter()
        .filter(|w| {
            ctx.threat
                .constraints
                .violation(w, &ctx.threat.features)
                .is_none()
        })
        .collect();
    let found = if clean_counterexample {
        crate::attack::confirm(session, &[x.to_vec()], &targets)?
    } else {
        match crate::attack::confirm(session, &valid_witnesses, &targets)? {
            Some(ce) => Some(ce),
            None => run_attack(ctx, session, &problem)?,
        }
    };
    if let Some(ce) = found {
        if let Some(method) = row.verified_by {
            return Err(Error::SoundnessViolation {
                row: index,
                method: method.name().into(),
                counterexample: ce.x,
            });
        }
        row.counterexample = Some(ce);
        row.verdict = VerdictKind::Falsified;
    } else if row.verified_by.is_some() {
        row.verdict = VerdictKind::Verified;
    }

    if ctx.bounds.scale_search {
        let steps = ctx.bounds.bisection_steps;
        let max = ctx.bounds.scale_max;
        if let Some(graph) = ctx.graph {
            for m in row.methods.iter_mut() {
                m.certified_scale = Some(largest_scale(steps, max, |s| {
                    let margins =
                        super::margin_lower(graph, &region_at(s)?, m.method, label, &targets);
                    Ok(worst_margin(&margins) > graph.margin_threshold())
                })?);
            }
        }
        row.attack_scale = if clean_counterexample {
            Some(0.0)
        } else if ctx.attack.is_some() {
            smallest_attack_scale(steps, max, |s| {
                let r = region_at(s)?;
                let p = AttackProblem {
                    region: &r,
                    ..problem
                };
                Ok(run_attack(ctx, session, &p)?.is_some())
            })?
        } else {
            None
        };
    }
    Ok(row)
}

/// Largest s in [0, max] with `ok(s)` found by bisection (`ok` assumed monotone; the returned
/// scale was itself checked, so the answer is sound even where monotonicity fails).
fn largest_scale(steps: usize, max: f64, mut ok: impl FnMut(f64) -> Result<bool>) -> Result<f64> {
    if ok(max)? {
        return Ok(max);
    }
    let (mut lo, mut hi) = (0.0, max);
    for _ in 0..steps {
        let mid = 0.5 * (lo + hi);
        if ok(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Smallest s in (0, max] at which the attack succeeds, by bisection; `None` if it fails at max.
fn smallest_attack_scale(
    steps: usize,
    max: f64,
    mut wins: impl FnMut(f64) -> Result<bool>,
) -> Result<Option<f64>> {
    if !wins(max)? {
        return Ok(None);
    }
    let (mut lo, mut hi) = (0.0, max);
    for _ in 0..steps {
        let mid = 0.5 * (lo + hi);
        if wins(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(hi))
}
