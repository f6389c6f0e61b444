//! Bound drivers over the IR: interval bound propagation (Gowal et al. 2018) and CROWN
//! (Zhang et al. 2018, backward linear relaxation with CROWN-refined intermediate bounds).
//!
//! Every bound contains what ONNX Runtime computes in float32 for every input in the region
//! (see `ops`): the operators widen for float32 and float64 rounding, and the final
//! concretisation subtracts an allowance for the rounding of the bound itself.

pub mod alpha;
pub mod region;
pub mod verdict;

pub use region::Region;

use crate::ir::{Graph, ValueId};
use crate::numerics::{F32_MAX, F64_BOUND_REL_MARGIN};
use crate::ops::Interval;
use nalgebra::{DMatrix, DVector};

pub use crate::config::Method;

/// Whether ONNX Runtime can be fed every point of the region: float32 inputs are finite and at
/// most [`F32_MAX`] in magnitude.
fn region_in_f32_range(region: &Interval) -> bool {
    region
        .lo
        .iter()
        .chain(&region.hi)
        .all(|v| v.abs() <= F32_MAX)
}

/// Marks `bounds[v..]` unbounded: ONNX Runtime's float32 evaluation may overflow at value `v`,
/// and every later value may then be ±inf or NaN.
fn poison_from(graph: &Graph, bounds: &mut Vec<Interval>, v: ValueId) {
    bounds.truncate(v);
    for w in v..=graph.nodes.len() {
        bounds.push(Interval::unbounded(graph.value_size(w)));
    }
}

/// Whether the bounds were poisoned by a possible float32 overflow (see [`poison_from`]).
fn poisoned(bounds: &[Interval], v: ValueId) -> bool {
    !bounds[v].is_finite()
}

/// Interval bounds of every value by IBP. When ONNX Runtime's float32 evaluation may overflow at
/// some value (`BoundOp::may_overflow`), that value and all later ones are unbounded.
pub fn ibp_all(graph: &Graph, region: &Region) -> Vec<Interval> {
    let mut bounds = Vec::with_capacity(graph.nodes.len() + 1);
    bounds.push(region.interval());
    if !region_in_f32_range(&bounds[0]) {
        poison_from(graph, &mut bounds, 0);
        return bounds;
    }
    for (k, node) in graph.nodes.iter().enumerate() {
        let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
        if node.op.may_overflow(&inputs) {
            poison_from(graph, &mut bounds, k + 1);
            return bounds;
        }
        let out = node.op.interval(&inputs);
        bounds.push(out);
    }
    bounds
}

/// Adds `l` into an accumulated Λ (a value read by several nodes receives the sum).
pub(crate) fn accumulate(slot: &mut Option<DMatrix<f64>>, l: DMatrix<f64>) {
    match slot {
        Some(a) => *a += l,
        slot => *slot = Some(l),
    }
}

/// Adds the lower bound of `Λ·x` over `x ∈ bounds` to `lower` (one entry per row of Λ), and
/// the magnitudes of its terms to `mass` (for the float64 allowance).
fn concretize(
    lambda: &DMatrix<f64>,
    bounds: &Interval,
    lower: &mut DVector<f64>,
    mass: &mut DVector<f64>,
) {
    let rows = lambda.nrows();
    for (j, col) in lambda.as_slice().chunks_exact(rows.max(1)).enumerate() {
        let (lo, hi) = (bounds.lo[j], bounds.hi[j]);
        let m = lo.abs().max(hi.abs());
        for ((c, l), ms) in col.iter().zip(lower.iter_mut()).zip(mass.iter_mut()) {
            *l += if *c >= 0.0 { c * lo } else { c * hi };
            *ms += c.abs() * m;
        }
    }
}

/// The corner of `region` that minimises row `r` of `Λ·x`.
fn minimising_corner(lambda: &DMatrix<f64>, r: usize, region: &Interval) -> Vec<f64> {
    (0..region.len())
        .map(|j| {
            if lambda[(r, j)] >= 0.0 {
                region.lo[j]
            } else {
                region.hi[j]
            }
        })
        .collect()
}

/// Lower bounds of `spec · value(start)` over the region, by one backward pass through the
/// nodes that produce `start`, using `bounds` for every earlier value; with the final
/// coefficients Λ₀ on the input (`None` when the bound does not depend on the input).
pub fn backward_lower(
    graph: &Graph,
    start: ValueId,
    spec: DMatrix<f64>,
    bounds: &[Interval],
    slopes: &[Option<Vec<f64>>],
) -> (DVector<f64>, Option<DMatrix<f64>>) {
    let rows = spec.nrows();
    let mut acc: Vec<Option<DMatrix<f64>>> = vec![None; start + 1];
    acc[start] = Some(spec);
    propagate(
        graph,
        acc,
        DVector::zeros(rows),
        DVector::zeros(rows),
        bounds,
        slopes,
    )
}

/// Continues a backward pass from accumulated Λ per value (highest first) to the input and
/// concretises over the region `bounds[0]`, subtracting the float64 allowance. Returns the
/// lower bounds and Λ₀.
fn propagate(
    graph: &Graph,
    mut acc: Vec<Option<DMatrix<f64>>>,
    mut bias: DVector<f64>,
    mut bias_abs: DVector<f64>,
    bounds: &[Interval],
    slopes: &[Option<Vec<f64>>],
) -> (DVector<f64>, Option<DMatrix<f64>>) {
    for k in (0..acc.len() - 1).rev() {
        let Some(lambda) = acc[k + 1].take() else {
            continue;
        };
        let node = &graph.nodes[k];
        let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
        let step =
            node.op
                .backward_lower(&lambda, &inputs, slopes.get(k).and_then(|s| s.as_deref()));
        bias += &step.bias;
        bias_abs += &step.bias_abs;
        for (&i, l) in node.inputs.iter().zip(step.inputs) {
            accumulate(&mut acc[i], l);
        }
    }
    let mut lower = bias;
    let mut mass = bias_abs;
    if let Some(l0) = &acc[0] {
        concretize(l0, &bounds[0], &mut lower, &mut mass);
    }
    for (l, m) in lower.iter_mut().zip(mass.iter()) {
        *l -= F64_BOUND_REL_MARGIN * m;
    }
    (lower, acc[0].take())
}

/// Values whose IBP bounds are already exact (up to rounding): reached from the input through
/// linear operators only, with at most one non-diagonal map on the way. CROWN cannot tighten them.
fn ibp_exact(graph: &Graph) -> Vec<bool> {
    // dense[v] = number of non-diagonal affine maps on the path from the input, if the path is
    // unique and linear.
    let mut dense: Vec<Option<usize>> = vec![Some(0); graph.nodes.len() + 1];
    for (k, node) in graph.nodes.iter().enumerate() {
        dense[k + 1] = match (node.op.is_linear(), node.inputs.as_slice()) {
            (true, [i]) => dense[*i].map(|d| d + usize::from(!node.op.is_diagonal())),
            _ => None,
        };
    }
    dense.iter().map(|d| d.is_some_and(|d| d <= 1)).collect()
}

/// Bounds of every value: IBP, with the inputs of nonlinear nodes (and the output) tightened by
/// CROWN in topological order.
pub fn crown_all(graph: &Graph, region: &Region) -> Vec<Interval> {
    crown_bounds(graph, region, true)
}

/// As [`crown_all`]; `refine_output = false` leaves the output at its IBP bounds (for callers
/// that bound a specification on the output directly, such as margins). A possible float32
/// overflow makes the value where it can happen, and all later ones, unbounded (as in IBP).
pub fn crown_bounds(graph: &Graph, region: &Region, refine_output: bool) -> Vec<Interval> {
    let exact = ibp_exact(graph);
    // consumers[v]: the nonlinear nodes reading value v.
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len() + 1];
    for (k, node) in graph.nodes.iter().enumerate() {
        if !node.op.is_linear() {
            for &i in &node.inputs {
                consumers[i].push(k);
            }
        }
    }
    let mut bounds = Vec::with_capacity(graph.nodes.len() + 1);
    bounds.push(region.interval());
    if !region_in_f32_range(&bounds[0]) {
        poison_from(graph, &mut bounds, 0);
        return bounds;
    }
    for (k, node) in graph.nodes.iter().enumerate() {
        let v = k + 1;
        let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
        if node.op.may_overflow(&inputs) {
            poison_from(graph, &mut bounds, v);
            return bounds;
        }
        let b = node.op.interval(&inputs);
        bounds.push(b);
        let refine_here = v == graph.output && refine_output;
        if exact[v] || (consumers[v].is_empty() && !refine_here) {
            continue;
        }
        // Only elements whose relaxation depends on their bounds (e.g. ReLUs that IBP finds
        // unstable) are refined; every element is refined for the output.
        let b = &bounds[v];
        let selected: Vec<usize> = (0..b.len())
            .filter(|&j| {
                refine_here
                    || consumers[v].iter().any(|&c| {
                        graph.nodes[c]
                            .op
                            .relaxation_depends_on_bounds(b.lo[j], b.hi[j])
                    })
            })
            .collect();
        if selected.is_empty() {
            continue;
        }
        let (lo, hi) = crown_value(graph, v, &bounds, &selected);
        for (r, &j) in selected.iter().enumerate() {
            // A NaN from CROWN (never expected) leaves the sound IBP bound in place.
            if lo[r] > bounds[v].lo[j] {
                bounds[v].lo[j] = lo[r];
            }
            if hi[r] < bounds[v].hi[j] {
                bounds[v].hi[j] = hi[r];
            }
        }
    }
    bounds
}

/// CROWN lower and upper bounds of the `selected` elements of one value, from the bounds of
/// the values before it. The specification is `[I; −I]` on those elements; its first step is
/// taken by the producing operator directly when it can.
fn crown_value(
    graph: &Graph,
    v: ValueId,
    bounds: &[Interval],
    selected: &[usize],
) -> (Vec<f64>, Vec<f64>) {
    let n = graph.value_size(v);
    let s = selected.len();
    let node = &graph.nodes[v - 1];
    let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
    let (lower, _) = match node.op.backward_identity(&inputs, selected) {
        Some(step) => {
            let mut acc: Vec<Option<DMatrix<f64>>> = vec![None; v];
            for (&i, l) in node.inputs.iter().zip(step.inputs) {
                accumulate(&mut acc[i], l);
            }
            propagate(graph, acc, step.bias, step.bias_abs, bounds, &[])
        }
        None => {
            let mut spec = DMatrix::zeros(2 * s, n);
            for (r, &j) in selected.iter().enumerate() {
                spec[(r, j)] = 1.0;
                spec[(s + r, j)] = -1.0;
            }
            backward_lower(graph, v, spec, bounds, &[])
        }
    };
    (
        (0..s).map(|r| lower[r]).collect(),
        (0..s).map(|r| -lower[s + r]).collect(),
    )
}

/// Bounds of the class scores over the region (unbounded where float32 may overflow).
pub fn output_bounds(graph: &Graph, region: &Region, method: Method) -> Interval {
    let all = match method {
        Method::Ibp => ibp_all(graph, region),
        Method::Crown | Method::AlphaCrown => crown_all(graph, region),
    };
    all[graph.output].clone()
}

/// The margin specification: one row `e_label − e_k` per class `k` in `others`.
pub fn margin_spec(classes: usize, label: usize, others: &[usize]) -> DMatrix<f64> {
    let mut spec = DMatrix::zeros(others.len(), classes);
    for (r, &k) in others.iter().enumerate() {
        spec[(r, label)] += 1.0;
        spec[(r, k)] -= 1.0;
    }
    spec
}

/// Margin lower bounds with the points a verdict should check through ONNX Runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct MarginBounds {
    /// Lower bound of `score[label] − score[k]` for each `k` in `others`; `−inf` where float32
    /// may overflow. Never NaN (a NaN bound proves nothing and is reported as `−inf`).
    pub lower: Vec<f64>,
    /// Points of the region where the bound is attained or approached: the corner minimising each
    /// row's final linear bound (CROWN, alpha-CROWN) or the corner opposite the margin's gradient
    /// at the centre (IBP). An unsound bound would show up as a counterexample at one of them.
    pub corners: Vec<Vec<f64>>,
}

/// `score[label] − score[k]` lower bound from the output's interval bounds.
fn margin_from_intervals(b: &Interval, label: usize, k: usize) -> f64 {
    b.lo[label] - b.hi[k] - F64_BOUND_REL_MARGIN * (b.lo[label].abs() + b.hi[k].abs())
}

/// Lower bounds of `score[label] − score[k]` for each `k` in `others`.
pub fn margin_lower(
    graph: &Graph,
    region: &Region,
    method: Method,
    label: usize,
    others: &[usize],
) -> Vec<f64> {
    margin_bounds_with(graph, region, method, label, others, false).lower
}

/// Lower bounds of `score[label] − score[k]` for each `k` in `others`, with the corners that
/// approach them (see [`MarginBounds`]).
pub fn margin_bounds(
    graph: &Graph,
    region: &Region,
    method: Method,
    label: usize,
    others: &[usize],
) -> MarginBounds {
    margin_bounds_with(graph, region, method, label, others, true)
}

fn margin_bounds_with(
    graph: &Graph,
    region: &Region,
    method: Method,
    label: usize,
    others: &[usize],
    corners: bool,
) -> MarginBounds {
    let mut out = match method {
        Method::AlphaCrown => {
            alpha::alpha_margin_bounds(graph, region, label, others, &alpha::AlphaConfig::default())
        }
        Method::Ibp => ibp_margin_bounds(graph, region, label, others, corners),
        Method::Crown => crown_margin_bounds(graph, region, label, others),
    };
    for l in out.lower.iter_mut() {
        if l.is_nan() {
            *l = f64::NEG_INFINITY;
        }
    }
    out
}

fn unbounded_margins(others: &[usize]) -> MarginBounds {
    MarginBounds {
        lower: vec![f64::NEG_INFINITY; others.len()],
        corners: Vec::new(),
    }
}

/// IBP margins, with the margin folded into the last operator (as auto_LiRPA does): one backward
/// step of `e_label − e_k` through the node producing the scores, concretised over the IBP bounds
/// of its inputs, which is never looser than `lo[label] − hi[k]` (the better of both is kept).
fn ibp_margin_bounds(
    graph: &Graph,
    region: &Region,
    label: usize,
    others: &[usize],
    corners: bool,
) -> MarginBounds {
    let bounds = ibp_all(graph, region);
    if poisoned(&bounds, graph.output) {
        return unbounded_margins(others);
    }
    let b = &bounds[graph.output];
    let mut lower: Vec<f64> = others
        .iter()
        .map(|&k| margin_from_intervals(b, label, k))
        .collect();
    if graph.output > 0 {
        let node = &graph.nodes[graph.output - 1];
        let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
        let spec = margin_spec(graph.output_size(), label, others);
        let step = node.op.backward_lower(&spec, &inputs, None);
        let (mut folded, mut mass) = (step.bias, step.bias_abs);
        for (&i, l) in node.inputs.iter().zip(&step.inputs) {
            concretize(l, &bounds[i], &mut folded, &mut mass);
        }
        for (r, l) in lower.iter_mut().enumerate() {
            let f = folded[r] - F64_BOUND_REL_MARGIN * mass[r];
            if f > *l {
                *l = f;
            }
        }
    }
    if !corners {
        return MarginBounds {
            lower,
            corners: Vec::new(),
        };
    }
    let corners = others
        .iter()
        .map(|&k| {
            let centre: Vec<f64> = region
                .lo
                .iter()
                .zip(&region.hi)
                .map(|(l, h)| 0.5 * (l + h))
                .collect();
            let mut w = vec![0.0; graph.output_size()];
            w[label] += 1.0;
            w[k] -= 1.0;
            let (_, g) = graph.gradient(&centre, &w);
            (0..region.lo.len())
                .map(|j| {
                    if g[j] >= 0.0 {
                        region.lo[j]
                    } else {
                        region.hi[j]
                    }
                })
                .collect()
        })
        .collect();
    MarginBounds { lower, corners }
}

/// CROWN margins: the margin specification bounded directly through the network, with
/// CROWN-refined intermediate bounds; never looser than the output's interval margin.
fn crown_margin_bounds(
    graph: &Graph,
    region: &Region,
    label: usize,
    others: &[usize],
) -> MarginBounds {
    let mut bounds = crown_bounds(graph, region, false);
    if poisoned(&bounds, graph.output) {
        return unbounded_margins(others);
    }
    bounds.truncate(graph.output + 1);
    let spec = margin_spec(graph.output_size(), label, others);
    let (direct, lambda0) = backward_lower(graph, graph.output, spec, &bounds, &[]);
    let b = &bounds[graph.output];
    let lower = others
        .iter()
        .enumerate()
        .map(|(r, &k)| {
            let from_intervals = margin_from_intervals(b, label, k);
            if direct[r] > from_intervals {
                direct[r]
            } else {
                from_intervals
            }
        })
        .collect();
    let corners = match &lambda0 {
        Some(l0) => (0..others.len())
            .map(|r| minimising_corner(l0, r, &bounds[0]))
            .collect(),
        None => Vec::new(),
    };
    MarginBounds { lower, corners }
}
