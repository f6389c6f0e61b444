//! Checks of bounds and verdicts against ONNX Runtime: the model is loaded as robcert runs it
//! (its session options, its optimisation level), the bound engine reads the graph ONNX Runtime
//! executes, and points sampled in each region are run through ONNX Runtime.
#![allow(dead_code)]

use rand::{Rng, RngExt};
use robcert::attack::to_f32_inside;
use robcert::bounds::{Method, Region, margin_bounds, output_bounds};
use robcert::ir::{Graph, OutputTransform};
use robcert::runtime::{ModelSession, OnnxModel, OptimizationLevel, RuntimeConfig, argmax};
use std::path::Path;

/// Every ONNX Runtime optimisation level robcert can run at.
pub const LEVELS: [OptimizationLevel; 5] = [
    OptimizationLevel::Disabled,
    OptimizationLevel::Basic,
    OptimizationLevel::Extended,
    OptimizationLevel::Layout,
    OptimizationLevel::All,
];

pub const METHODS: [Method; 3] = [Method::Ibp, Method::Crown, Method::AlphaCrown];

/// Writes `bytes` to `dir/name` and loads it as robcert would at `level`.
pub fn load_model(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    level: OptimizationLevel,
) -> robcert::Result<OnnxModel> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    OnnxModel::load(
        &path,
        &RuntimeConfig {
            optimization: level,
            ..RuntimeConfig::default()
        },
    )
}

/// The bound engine's IR of the graph ONNX Runtime executes for `model`.
pub fn executed_ir(model: &OnnxModel) -> robcert::Result<Graph> {
    robcert::pipeline::load_network(model).map(|(g, _)| g)
}

/// Points in the region: the centre, random corners, random points on faces, uniform interior,
/// and every corner when there are at most 2^10.
pub fn sample_points(rng: &mut impl Rng, region: &Region, n: usize) -> Vec<Vec<f32>> {
    let w = region.lo.len();
    let mid: Vec<f64> = region
        .lo
        .iter()
        .zip(&region.hi)
        .map(|(l, h)| 0.5 * (l + h))
        .collect();
    let mut out = vec![to_f32_inside(&mid, region)];
    let free: Vec<usize> = (0..w).filter(|&j| region.hi[j] > region.lo[j]).collect();
    if free.len() <= 10 {
        for mask in 0..(1usize << free.len()) {
            let mut x = mid.clone();
            for (b, &j) in free.iter().enumerate() {
                x[j] = if mask >> b & 1 == 1 {
                    region.hi[j]
                } else {
                    region.lo[j]
                };
            }
            out.push(to_f32_inside(&x, region));
        }
    }
    for i in 1..n {
        let x: Vec<f64> = (0..w)
            .map(|j| {
                let (l, h) = (region.lo[j], region.hi[j]);
                let u: f64 = rng.random();
                let end = if u < 0.5 { l } else { h };
                match i % 3 {
                    0 => end,
                    1 if rng.random::<f64>() < 0.5 => end,
                    _ => l + (h - l) * u,
                }
            })
            .collect();
        out.push(to_f32_inside(&x, region));
    }
    out
}

/// What one region's check found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checked {
    /// (method, region) pairs that verified.
    pub verified: usize,
    /// (method, region) pairs that did not.
    pub unknown: usize,
    pub points: usize,
}

impl std::ops::AddAssign for Checked {
    fn add_assign(&mut self, o: Checked) {
        self.verified += o.verified;
        self.unknown += o.unknown;
        self.points += o.points;
    }
}

/// The soundness check of one region, for every class as the label (a wrong bound may verify a
/// class ONNX Runtime never outputs there). For every method and label: where it verifies (every
/// margin bound above the graph's threshold), ONNX Runtime outputs that label at every sampled
/// point and at every corner the method reports; where the graph's output is the model's output
/// (no Softmax dropped), every ONNX Runtime score lies within the output bounds and every margin
/// at or above its bound. Returns the first violation.
pub fn check_region(
    graph: &Graph,
    session: &mut ModelSession,
    region: &Region,
    rng: &mut impl Rng,
    samples: usize,
) -> Result<Checked, String> {
    let mut points = sample_points(rng, region, samples);
    let classes = session.num_classes();
    let mut per_label = Vec::with_capacity(classes);
    for label in 0..classes {
        let others: Vec<usize> = (0..classes).filter(|&k| k != label).collect();
        let per_method: Vec<_> = METHODS
            .iter()
            .map(|&m| (m, margin_bounds(graph, region, m, label, &others)))
            .collect();
        for (_, b) in &per_method {
            points.extend(b.corners.iter().map(|c| to_f32_inside(c, region)));
        }
        per_label.push((label, others, per_method));
    }
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    let scores = session
        .scores(&flat, points.len())
        .map_err(|e| e.to_string())?;
    let raw = graph.output_transform == OutputTransform::Identity;
    let mut out = Checked {
        points: points.len(),
        ..Checked::default()
    };
    let intervals: Vec<_> = METHODS
        .iter()
        .map(|&m| raw.then(|| output_bounds(graph, region, m)))
        .collect();
    for (label, others, per_method) in &per_label {
        let label = *label;
        for ((method, bounds), interval) in per_method.iter().zip(&intervals) {
            let worst = robcert::bounds::verdict::worst_margin(&bounds.lower);
            let verified = worst > graph.margin_threshold();
            if verified {
                out.verified += 1;
            } else {
                out.unknown += 1;
            }
            for (p, s) in points.iter().zip(scores.chunks_exact(classes)) {
                if verified && argmax(s) != label {
                    return Err(format!(
                        "{method:?} verified class {label} (margin bound {worst:e}) but ONNX \
                         Runtime outputs {s:?} (class {}) at {p:?}",
                        argmax(s)
                    ));
                }
                if let Some(b) = interval {
                    for (c, &score) in s.iter().enumerate() {
                        let v = f64::from(score);
                        let inside = b.lo[c] <= v && v <= b.hi[c];
                        if !inside && !b.lo[c].is_infinite() {
                            return Err(format!(
                                "{method:?}: score {c} = {v:e} outside [{:e}, {:e}] at {p:?}",
                                b.lo[c], b.hi[c]
                            ));
                        }
                    }
                    for (r, &k) in others.iter().enumerate() {
                        let m = f64::from(s[label]) - f64::from(s[k]);
                        let holds = m >= bounds.lower[r];
                        if bounds.lower[r] > f64::NEG_INFINITY && !holds {
                            return Err(format!(
                                "{method:?}: margin {label}-{k} = {m:e} below its bound {:e} \
                                 at {p:?}",
                                bounds.lower[r]
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Loads `bytes` at every optimisation level and checks every region against ONNX Runtime. A
/// model robcert refuses (at load or at import) is fine: nothing is claimed about it; the
/// refusals are counted in the returned tuple.
pub fn check_model_at_all_levels(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    regions: &[Region],
    rng: &mut impl Rng,
    samples: usize,
) -> Result<(Checked, usize), String> {
    let mut total = Checked::default();
    let mut refused = 0;
    for level in LEVELS {
        let model = match load_model(dir, name, bytes, level) {
            Ok(m) => m,
            Err(_) => {
                refused += 1;
                continue;
            }
        };
        let graph = match executed_ir(&model) {
            Ok(g) => g,
            Err(_) => {
                refused += 1;
                continue;
            }
        };
        let mut session = model.session().map_err(|e| e.to_string())?;
        for region in regions {
            total += check_region(&graph, &mut session, region, rng, samples)
                .map_err(|e| format!("level {}: {e}", level.name()))?;
        }
    }
    Ok((total, refused))
}
