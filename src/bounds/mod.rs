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
use crate::numerics::F64_BOUND_REL_MARGIN;
use crate::ops::Interval;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// A bound method.
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
}

/// Interval bounds of every value by IBP.
pub fn ibp_all(graph: &Graph, region: &Region) -> Vec<Interval> {
    let mut bounds = Vec::with_capacity(graph.nodes.len() + 1);
    bounds.push(region.interval());
    for node in &graph.nodes {
        let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
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

/// Lower bounds of `spec · value(start)` over the region, by one backward pass through the
/// nodes that produce `start`, using `bounds` for every earlier value.
pub fn backward_lower(
    graph: &Graph,
    start: ValueId,
    spec: DMatrix<f64>,
    bounds: &[Interval],
    slopes: &[Option<Vec<f64>>],
) -> DVector<f64> {
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
/// concretises over the region `bounds[0]`, subtracting the float64 allowance.
fn propagate(
    graph: &Graph,
    mut acc: Vec<Option<DMatrix<f64>>>,
    mut bias: DVector<f64>,
    mut bias_abs: DVector<f64>,
    bounds: &[Interval],
    slopes: &[Option<Vec<f64>>],
) -> DVector<f64> {
    let rows = bias.len();
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
    let region = &bounds[0];
    let mut lower = bias;
    let mut mass = bias_abs;
    if let Some(l0) = &acc[0] {
        for (j, col) in l0.as_slice().chunks_exact(rows.max(1)).enumerate() {
            let (lo, hi) = (region.lo[j], region.hi[j]);
            let m = lo.abs().max(hi.abs());
            for ((c, l), ms) in col.iter().zip(lower.iter_mut()).zip(mass.iter_mut()) {
                *l += if *c >= 0.0 { c * lo } else { c * hi };
                *ms += c.abs() * m;
            }
        }
    }
    for (l, m) in lower.iter_mut().zip(mass.iter()) {
        *l -= F64_BOUND_REL_MARGIN * m;
    }
    lower
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
/// that bound a specification on the output directly, such as margins).
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
    for (k, node) in graph.nodes.iter().enumerate() {
        let v = k + 1;
        let inputs: Vec<&Interval> = node.inputs.iter().map(|&i| &bounds[i]).collect();
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
            bounds[v].lo[j] = bounds[v].lo[j].max(lo[r]);
            bounds[v].hi[j] = bounds[v].hi[j].min(hi[r]);
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
    let lower = match node.op.backward_identity(&inputs, selected) {
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

/// Bounds of the class scores over the region.
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

/// Lower bounds of `score[label] − score[k]` for each `k` in `others`.
pub fn margin_lower(
    graph: &Graph,
    region: &Region,
    method: Method,
    label: usize,
    others: &[usize],
) -> Vec<f64> {
    let spec = margin_spec(graph.output_size(), label, others);
    match method {
        Method::AlphaCrown => {
            alpha::alpha_margin_lower(graph, region, label, others, &alpha::AlphaConfig::default())
        }
        Method::Ibp => {
            let b = &ibp_all(graph, region)[graph.output];
            others
                .iter()
                .map(|&k| {
                    b.lo[label]
                        - b.hi[k]
                        - F64_BOUND_REL_MARGIN * (b.lo[label].abs() + b.hi[k].abs())
                })
                .collect()
        }
        Method::Crown => {
            let mut bounds = crown_bounds(graph, region, false);
            bounds.truncate(graph.output + 1);
            let direct = backward_lower(graph, graph.output, spec, &bounds, &[]);
            let b = &bounds[graph.output];
            others
                .iter()
                .enumerate()
                .map(|(r, &k)| {
                    let from_intervals = b.lo[label]
                        - b.hi[k]
                        - F64_BOUND_REL_MARGIN * (b.lo[label].abs() + b.hi[k].abs());
                    direct[r].max(from_intervals)
                })
                .collect()
        }
    }
}
