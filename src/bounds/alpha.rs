//! alpha-CROWN (Xu et al. 2021, "Fast and Complete"): the lower-relaxation slopes of unstable
//! ReLU / LeakyReLU units become variables, optimised by projected signed-gradient ascent to
//! raise each margin's lower bound. Intermediate bounds stay CROWN's. Every slope inside its
//! admissible range gives a sound bound, so the optimisation only affects tightness; the best
//! bound seen (CROWN's slopes included) is returned, never a looser one.

use super::{
    F64_BOUND_REL_MARGIN, MarginBounds, Region, accumulate, crown_bounds, margin_from_intervals,
    margin_spec, poisoned, unbounded_margins,
};
use crate::ir::Graph;
use crate::ops::Interval;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Optimisation settings of alpha-CROWN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlphaConfig {
    pub iterations: usize,
    /// Initial step as a fraction of each slope's admissible range (decays linearly).
    pub step: f64,
}

impl Default for AlphaConfig {
    fn default() -> Self {
        AlphaConfig {
            iterations: 20,
            step: 0.5,
        }
    }
}

/// The lower bound of one specification row, its gradient with respect to every free slope, and
/// the corner of the region that minimises the final linear bound.
type ValueGradient = (f64, Vec<Option<Vec<f64>>>, Vec<f64>);

fn value_and_gradient(
    graph: &Graph,
    spec: &DMatrix<f64>,
    bounds: &[Interval],
    slopes: &[Option<Vec<f64>>],
) -> ValueGradient {
    let start = graph.output;
    let mut acc: Vec<Option<DMatrix<f64>>> = vec![None; start + 1];
    let mut recorded: Vec<Option<Vec<f64>>> = vec![None; start + 1];
    acc[start] = Some(spec.clone());
    let (mut bias, mut mass) = (0.0, 0.0);
    for k in (0..start).rev() {
        let Some(lambda) = acc[k + 1].take() else {
            continue;
        };
        let node = &graph.nodes[k];
        let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
        let step = node
            .op
            .backward_lower(&lambda, &inputs, slopes[k].as_deref());
        recorded[k + 1] = Some(lambda.row(0).iter().copied().collect());
        bias += step.bias[0];
        mass += step.bias_abs[0];
        for (&i, l) in node.inputs.iter().zip(step.inputs) {
            accumulate(&mut acc[i], l);
        }
    }
    let region = &bounds[0];
    let n = region.len();
    let lambda0: Vec<f64> = acc[0]
        .as_ref()
        .map_or(vec![0.0; n], |l| l.row(0).iter().copied().collect());
    let corner: Vec<f64> = (0..n)
        .map(|j| {
            if lambda0[j] >= 0.0 {
                region.lo[j]
            } else {
                region.hi[j]
            }
        })
        .collect();
    let mut value = bias;
    for j in 0..n {
        value += lambda0[j] * corner[j];
        mass += lambda0[j].abs() * region.lo[j].abs().max(region.hi[j].abs());
    }
    value -= F64_BOUND_REL_MARGIN * mass;

    // Relaxed forward pass from the minimising corner: h[v] is ∂(bound)/∂Λ at value v.
    let mut h: Vec<Vec<f64>> = Vec::with_capacity(start + 1);
    h.push(corner.clone());
    let mut grads: Vec<Option<Vec<f64>>> = vec![None; graph.nodes.len()];
    for k in 0..start {
        let node = &graph.nodes[k];
        let Some(lambda_out) = recorded[k + 1].as_ref() else {
            h.push(vec![0.0; node.op.output_size()]);
            continue;
        };
        let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
        let h_in: Vec<&[f64]> = node.inputs.iter().map(|&i| h[i].as_slice()).collect();
        if slopes[k].is_some() {
            let x = h_in[0];
            grads[k] = Some(
                lambda_out
                    .iter()
                    .zip(x)
                    .map(|(&l, &xi)| if l >= 0.0 { l * xi } else { 0.0 })
                    .collect(),
            );
        }
        let out = node
            .op
            .relaxed_forward(&h_in, lambda_out, &inputs, slopes[k].as_deref());
        h.push(out);
    }
    (value, grads, corner)
}

/// Lower bounds of `score[label] − score[k]` for each `k` in `others`, by alpha-CROWN; each is at
/// least CROWN's bound for the same row. The corners are those of the best bound found.
pub fn alpha_margin_bounds(
    graph: &Graph,
    region: &Region,
    label: usize,
    others: &[usize],
    config: &AlphaConfig,
) -> MarginBounds {
    let mut bounds = crown_bounds(graph, region, false);
    if poisoned(&bounds, graph.output) {
        return unbounded_margins(others);
    }
    bounds.truncate(graph.output + 1);
    let out = &bounds[graph.output];
    let mut defaults: Vec<Option<Vec<f64>>> = Vec::with_capacity(graph.nodes.len());
    let mut ranges: Vec<Option<Vec<(f64, f64)>>> = Vec::with_capacity(graph.nodes.len());
    // Nodes after the output value (if any) never enter the bound: they get no slopes.
    for (k, node) in graph.nodes.iter().enumerate() {
        let slopes = (k < graph.output)
            .then(|| node.op.default_slopes(&bounds[node.inputs[0]]))
            .flatten();
        match slopes {
            Some(s) => {
                defaults.push(Some(s.values));
                ranges.push(Some(s.ranges));
            }
            None => {
                defaults.push(None);
                ranges.push(None);
            }
        }
    }
    let any_free = ranges.iter().flatten().flatten().any(|(a, b)| a < b);
    let mut lower = Vec::with_capacity(others.len());
    let mut corners = Vec::with_capacity(others.len());
    for &k in others {
        let spec = margin_spec(graph.output_size(), label, &[k]);
        let mut slopes = defaults.clone();
        let (mut best, _, mut best_corner) = value_and_gradient(graph, &spec, &bounds, &slopes);
        let keep = |value: f64, corner: Vec<f64>, best: &mut f64, at: &mut Vec<f64>| {
            if value > *best {
                *best = value;
                *at = corner;
            }
        };
        if any_free {
            for it in 0..config.iterations {
                let (value, grads, corner) = value_and_gradient(graph, &spec, &bounds, &slopes);
                keep(value, corner, &mut best, &mut best_corner);
                let eta = config.step * (1.0 - it as f64 / config.iterations as f64);
                for ((s, g), r) in slopes.iter_mut().zip(&grads).zip(&ranges) {
                    if let (Some(s), Some(g), Some(r)) = (s.as_mut(), g, r) {
                        for j in 0..s.len() {
                            let (a, b) = r[j];
                            if a < b && g[j] != 0.0 {
                                s[j] = (s[j] + eta * (b - a) * g[j].signum()).clamp(a, b);
                            }
                        }
                    }
                }
            }
            let (value, _, corner) = value_and_gradient(graph, &spec, &bounds, &slopes);
            keep(value, corner, &mut best, &mut best_corner);
        }
        let from_intervals = margin_from_intervals(out, label, k);
        lower.push(if best > from_intervals {
            best
        } else {
            from_intervals
        });
        corners.push(best_corner);
    }
    MarginBounds { lower, corners }
}
