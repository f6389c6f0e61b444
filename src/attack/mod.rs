//! Attacks: upper bounds on robustness. PGD with random restarts on the IR's gradients, and a
//! black-box search that needs only ONNX Runtime (for models the IR cannot parse). Every
//! candidate is re-run through ONNX Runtime; only ONNX Runtime's verdict makes a counterexample.

use crate::bounds::Region;
use crate::error::Result;
use crate::ir::Graph;
use crate::runtime::{ModelSession, argmax};
use crate::threat::Constraints;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use crate::config::{AttackConfig, AttackMethod};

/// A point inside the region that ONNX Runtime classifies as one of the attack's target classes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Counterexample {
    /// The input, as float32 values fed to ONNX Runtime.
    pub x: Vec<f32>,
    /// ONNX Runtime's scores on it.
    pub scores: Vec<f32>,
    pub predicted: usize,
}

/// What an attack searches: a point of `region` that satisfies the threat's declared
/// `constraints` (changing only `movable` features), starting from `x0`, that ONNX Runtime
/// classifies as one of `targets` instead of `label`.
#[derive(Clone, Copy, Debug)]
pub struct AttackProblem<'a> {
    pub region: &'a Region,
    pub x0: &'a [f32],
    pub label: usize,
    pub targets: &'a [usize],
    /// Random stream of this problem (e.g. the row index), so results do not depend on threads.
    pub stream: u64,
    pub constraints: &'a Constraints,
    pub movable: &'a [bool],
    /// Feature names (for constraint messages).
    pub features: &'a [String],
}

impl AttackProblem<'_> {
    /// A float32 candidate inside the region and the declared constraints, or `None` when the
    /// projection cannot satisfy them.
    fn candidate(&self, x: &[f64]) -> Option<Vec<f32>> {
        let mut y = x.to_vec();
        self.region.project(&mut y);
        self.constraints
            .project(&mut y, self.movable, &self.region.lo, &self.region.hi);
        let f = to_f32_inside(&y, self.region);
        self.constraints
            .violation(&f, self.features)
            .is_none()
            .then_some(f)
    }
}

/// Rounds a float64 point to float32 values that stay inside the region.
pub fn to_f32_inside(x: &[f64], region: &Region) -> Vec<f32> {
    x.iter()
        .zip(region.lo.iter().zip(&region.hi))
        .map(|(&v, (&l, &h))| {
            let mut f = v.clamp(l, h) as f32;
            while (f as f64) < l {
                f = f.next_up();
            }
            while (f as f64) > h {
                f = f.next_down();
            }
            f
        })
        .collect()
}

/// Checks candidates with ONNX Runtime; returns the first that lands in `targets`.
pub fn confirm(
    session: &mut ModelSession,
    candidates: &[Vec<f32>],
    targets: &[usize],
) -> Result<Option<Counterexample>> {
    if candidates.is_empty() {
        return Ok(None);
    }
    let flat: Vec<f32> = candidates.iter().flatten().copied().collect();
    let scores = session.scores(&flat, candidates.len())?;
    let c = session.num_classes();
    for (x, s) in candidates.iter().zip(scores.chunks_exact(c)) {
        let p = argmax(s);
        if targets.contains(&p) {
            return Ok(Some(Counterexample {
                x: x.clone(),
                scores: s.to_vec(),
                predicted: p,
            }));
        }
    }
    Ok(None)
}

/// The random stream of one attack problem: depends only on the seed and the problem's stream.
fn problem_rng(config: &AttackConfig, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(stream);
    rng
}

/// The attack objective: max over target classes of score[k] − score[label] (> 0 means the
/// attack wins under exact arithmetic) and its gradient.
fn objective(graph: &Graph, x: &[f64], label: usize, targets: &[usize]) -> (f64, Vec<f64>) {
    let scores = graph.eval(x);
    let &k = targets
        .iter()
        .max_by(|&&a, &&b| scores[a].total_cmp(&scores[b]))
        .expect("at least one target class");
    let mut w = vec![0.0; scores.len()];
    w[k] += 1.0;
    w[label] -= 1.0;
    let (_, g) = graph.gradient(x, &w);
    (scores[k] - scores[label], g)
}

/// PGD (Madry et al. 2018) in the region with signed gradients scaled per feature, from the
/// clean point and `restarts` random starts; each restart's best point and final iterate are
/// confirmed by ONNX Runtime.
pub fn pgd(
    graph: &Graph,
    session: &mut ModelSession,
    problem: &AttackProblem,
    config: &AttackConfig,
) -> Result<Option<Counterexample>> {
    let AttackProblem {
        region,
        x0,
        label,
        targets,
        stream,
        ..
    } = *problem;
    let mut rng = problem_rng(config, stream);
    let half: Vec<f64> = region
        .lo
        .iter()
        .zip(&region.hi)
        .map(|(l, h)| 0.5 * (h - l))
        .collect();
    let mut candidates = Vec::new();
    for restart in 0..=config.restarts {
        let mut x: Vec<f64> = if restart == 0 {
            x0.iter().map(|&v| v as f64).collect()
        } else {
            region
                .lo
                .iter()
                .zip(&region.hi)
                .map(|(l, h)| l + (h - l) * rng.random::<f64>())
                .collect()
        };
        let mut best = (f64::NEG_INFINITY, x.clone());
        for step in 0..config.steps {
            let (value, g) = objective(graph, &x, label, targets);
            if value > best.0 {
                best = (value, x.clone());
            }
            // Step size decays linearly to a tenth, so late steps refine.
            let eta = config.step_size * (1.0 - 0.9 * step as f64 / config.steps.max(1) as f64);
            for j in 0..x.len() {
                x[j] += eta * half[j] * g[j].signum();
            }
            region.project(&mut x);
            problem
                .constraints
                .project(&mut x, problem.movable, &region.lo, &region.hi);
        }
        // Both the best point on the float64 IR and the final iterate go to ONNX Runtime: where
        // the IR and the float32 model disagree near a decision boundary, either may win.
        candidates.extend(problem.candidate(&x));
        let (value, _) = objective(graph, &x, label, targets);
        if value > best.0 {
            best = (value, x);
        }
        candidates.extend(problem.candidate(&best.1));
    }
    confirm(session, &candidates, targets)
}

/// Black-box search through ONNX Runtime only: corners and random points of the region, then
/// greedy coordinate moves on ONNX Runtime's margin. For models the IR cannot parse.
pub fn black_box(
    session: &mut ModelSession,
    problem: &AttackProblem,
    config: &AttackConfig,
) -> Result<Option<Counterexample>> {
    let AttackProblem {
        region,
        x0,
        label,
        targets,
        stream,
        ..
    } = *problem;
    let mut rng = problem_rng(config, stream);
    let n = x0.len();
    let free: Vec<usize> = (0..n).filter(|&j| region.hi[j] > region.lo[j]).collect();
    let c = session.num_classes();
    let margin = |s: &[f32]| -> f64 {
        targets
            .iter()
            .map(|&k| s[k] as f64)
            .fold(f64::NEG_INFINITY, f64::max)
            - s[label] as f64
    };
    let mut best: Vec<f64> = x0.iter().map(|&v| v as f64).collect();
    let mut best_margin = f64::NEG_INFINITY;
    for _ in 0..=config.restarts {
        // A batch of random corners and interior points.
        let mut batch: Vec<Vec<f32>> = Vec::with_capacity(256);
        for i in 0..256 {
            let mut x = best.clone();
            for &j in &free {
                let u: f64 = rng.random();
                x[j] = if i % 2 == 0 {
                    if u < 0.5 { region.lo[j] } else { region.hi[j] }
                } else {
                    region.lo[j] + (region.hi[j] - region.lo[j]) * u
                };
            }
            batch.extend(problem.candidate(&x));
        }
        if batch.is_empty() {
            continue;
        }
        if let Some(ce) = confirm(session, &batch, targets)? {
            return Ok(Some(ce));
        }
        let flat: Vec<f32> = batch.iter().flatten().copied().collect();
        let scores = session.scores(&flat, batch.len())?;
        for (x, s) in batch.iter().zip(scores.chunks_exact(c)) {
            let m = margin(s);
            if m > best_margin {
                best_margin = m;
                best = x.iter().map(|&v| v as f64).collect();
            }
        }
        // Coordinate moves from the best point: each free feature to either end.
        for _ in 0..config.steps.min(20) {
            let mut moves = Vec::with_capacity(2 * free.len());
            for &j in &free {
                for end in [region.lo[j], region.hi[j]] {
                    let mut x = best.clone();
                    x[j] = end;
                    moves.extend(problem.candidate(&x));
                }
            }
            if moves.is_empty() {
                break;
            }
            if let Some(ce) = confirm(session, &moves, targets)? {
                return Ok(Some(ce));
            }
            let flat: Vec<f32> = moves.iter().flatten().copied().collect();
            let scores = session.scores(&flat, moves.len())?;
            let mut improved = false;
            for (x, s) in moves.iter().zip(scores.chunks_exact(c)) {
                let m = margin(s);
                if m > best_margin {
                    best_margin = m;
                    best = x.iter().map(|&v| v as f64).collect();
                    improved = true;
                }
            }
            if !improved {
                break;
            }
        }
    }
    Ok(None)
}
