//! Static check that a model scores each row of a batch on its own.
//!
//! robcert's certificates are about one row: a model whose output for a row depends on the other
//! rows it is run with (a Softmax or a reduction over the batch axis, a Flatten or Reshape that
//! merges rows, batch normalisation in training mode, a matrix product over the batch) has no
//! per-row answer to certify, and its predictions change with batching. This pass follows the
//! batch axis through the graph and names the first node that provably mixes rows. Ops it does
//! not know make the batch axis untracked from there on (no verdict); `runtime` also probes the
//! model by comparing batched and one-row runs.

use super::{Attribute, Dim, OnnxGraph};
use std::collections::HashMap;

/// What the pass knows of a tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Track {
    /// Does not depend on the input rows.
    Constant,
    /// Axis 0 is the batch (the input's rows), with this rank.
    Rows(usize),
    /// Depends on the rows in a way the pass does not follow.
    Untracked,
}

/// Element-wise ops (with numpy broadcasting) that keep each row's values in its row.
const ELEMENTWISE: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Add",
    "And",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "BitShift",
    "Cast",
    "CastLike",
    "Ceil",
    "Celu",
    "Clip",
    "Cos",
    "Cosh",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "Greater",
    "GreaterOrEqual",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "IsInf",
    "IsNaN",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "Max",
    "Mean",
    "Min",
    "Mish",
    "Mod",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "PRelu",
    "Pow",
    "Reciprocal",
    "Relu",
    "Round",
    "Selu",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Sub",
    "Sum",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Where",
    "Xor",
];

/// Ops that act along one axis given by an `axis` attribute, with its default per opset.
fn axis_op(op: &str, opset: i64) -> Option<i64> {
    match op {
        "Softmax" | "LogSoftmax" | "Hardmax" => Some(if opset >= 13 { -1 } else { 1 }),
        "ArgMax" | "ArgMin" | "Concat" | "Gather" | "GatherElements" | "Split" => Some(0),
        "TopK" | "LayerNormalization" | "LpNormalization" => Some(-1),
        _ => None,
    }
}

fn normalise(axis: i64, rank: usize) -> i64 {
    if axis < 0 { axis + rank as i64 } else { axis }
}

/// The first node that mixes the rows of a batch, as `(node name, op type, why)`; `None` when
/// none is found (which proves nothing for ops the pass does not follow). A model whose batch
/// dimension is fixed to 1 cannot mix rows.
pub fn batch_coupling(graph: &OnnxGraph) -> Option<(String, String, String)> {
    let mut track: HashMap<&str, Track> = HashMap::new();
    for name in graph.initializers.keys().chain(graph.undecodable.keys()) {
        track.insert(name.as_str(), Track::Constant);
    }
    for input in &graph.inputs {
        let dims = input.shape.as_deref().unwrap_or(&[]);
        let t = match dims.first() {
            Some(Dim::Fixed(1)) => Track::Constant,
            Some(_) => Track::Rows(dims.len()),
            None => Track::Untracked,
        };
        track.insert(input.name.as_str(), t);
    }
    let get = |track: &HashMap<&str, Track>, name: &str| {
        if name.is_empty() {
            Track::Constant
        } else {
            track.get(name).copied().unwrap_or(Track::Untracked)
        }
    };
    for node in &graph.nodes {
        let ins: Vec<Track> = node.inputs.iter().map(|i| get(&track, i)).collect();
        let rows: Vec<usize> = ins
            .iter()
            .filter_map(|t| match t {
                Track::Rows(r) => Some(*r),
                _ => None,
            })
            .collect();
        let out = if ins.iter().all(|t| *t == Track::Constant) {
            Track::Constant
        } else if ins.contains(&Track::Untracked) {
            Track::Untracked
        } else {
            let rank = rows.iter().copied().max().unwrap_or(0);
            let coupled = |why: String| Some((node.name.clone(), node.op_type.clone(), why));
            let op = node.op_type.as_str();
            let first_rows = matches!(ins.first(), Some(Track::Rows(_)));
            let axis_attr = |default: i64| node.attr_int("axis", default);
            match op {
                _ if !node.domain.is_empty() && node.domain != "ai.onnx" => Track::Untracked,
                _ if ELEMENTWISE.contains(&op) => {
                    // A constant of higher rank would shift the batch axis.
                    let const_rank = node
                        .inputs
                        .iter()
                        .filter_map(|i| graph.initializers.get(i))
                        .map(|t| t.dims.len())
                        .max()
                        .unwrap_or(0);
                    if const_rank > rank {
                        Track::Untracked
                    } else {
                        Track::Rows(rank)
                    }
                }
                "MatMul" => {
                    if matches!(ins.get(1), Some(Track::Rows(2))) {
                        return coupled(
                            "the batch rows are the right operand of a matrix product".into(),
                        );
                    }
                    if first_rows {
                        Track::Rows(rank)
                    } else {
                        Track::Untracked
                    }
                }
                "Gemm" => {
                    if matches!(ins.get(1), Some(Track::Rows(_))) {
                        return coupled("the batch rows are the B operand of Gemm".into());
                    }
                    if first_rows && node.attr_int("transA", 0) != 0 {
                        return coupled("transA = 1 contracts over the batch axis".into());
                    }
                    Track::Rows(2)
                }
                "Flatten" => {
                    if normalise(axis_attr(1), rank) == 0 {
                        return coupled("Flatten with axis 0 merges all rows into one".into());
                    }
                    Track::Rows(2)
                }
                "Reshape" => {
                    let target = node.inputs.get(1).and_then(|n| graph.initializers.get(n));
                    match target.and_then(|t| t.to_i64()) {
                        Some(dims) => match dims.first() {
                            Some(0) => Track::Rows(dims.len()),
                            Some(-1) if dims.len() == 1 => {
                                return coupled(
                                    "Reshape to [-1] merges all rows into one vector".into(),
                                );
                            }
                            Some(-1) => Track::Rows(dims.len()),
                            _ => {
                                return coupled(format!(
                                    "Reshape to {dims:?} fixes the batch dimension"
                                ));
                            }
                        },
                        None => Track::Untracked,
                    }
                }
                "BatchNormalization" => {
                    if node.attr_int("training_mode", 0) != 0 {
                        return coupled(
                            "BatchNormalization in training mode uses the batch's statistics"
                                .into(),
                        );
                    }
                    Track::Rows(rank)
                }
                "Transpose" => {
                    let perm = node
                        .attr_ints("perm")
                        .unwrap_or_else(|| (0..rank as i64).rev().collect());
                    if perm.first() == Some(&0) {
                        Track::Rows(rank)
                    } else {
                        Track::Untracked
                    }
                }
                _ if op.starts_with("Reduce") => {
                    let axes = match node.attributes.get("axes") {
                        Some(Attribute::Ints(a)) => Some(a.clone()),
                        _ => node
                            .inputs
                            .get(1)
                            .filter(|s| !s.is_empty())
                            .and_then(|n| graph.initializers.get(n))
                            .and_then(|t| t.to_i64()),
                    };
                    let all = axes.as_ref().is_none_or(|a| a.is_empty())
                        && node.attr_int("noop_with_empty_axes", 0) == 0;
                    if all || axes.iter().flatten().any(|&a| normalise(a, rank) == 0) {
                        return coupled(format!("{op} over the batch axis"));
                    }
                    Track::Untracked
                }
                _ => match axis_op(op, graph.opset) {
                    Some(default) if first_rows => {
                        if normalise(axis_attr(default), rank) == 0 {
                            return coupled(format!("{op} along axis 0, the batch axis"));
                        }
                        Track::Untracked
                    }
                    _ => Track::Untracked,
                },
            }
        };
        for o in &node.outputs {
            track.insert(o.as_str(), out);
        }
    }
    None
}

/// Ops that make a model's output random.
const RANDOM_OPS: &[&str] = &[
    "Bernoulli",
    "Multinomial",
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
];

/// The first node that makes the output random (a random op, or Dropout in training mode), as
/// `(node name, op type, why)`.
pub fn randomness(graph: &OnnxGraph) -> Option<(String, String, String)> {
    graph.nodes.iter().find_map(|node| {
        let found = |why: &str| Some((node.name.clone(), node.op_type.clone(), why.to_string()));
        if RANDOM_OPS.contains(&node.op_type.as_str()) {
            return found("a random-number operator");
        }
        if node.op_type == "Dropout" {
            let training = match node.inputs.get(2).filter(|s| !s.is_empty()) {
                Some(name) => graph
                    .initializers
                    .get(name)
                    .is_none_or(|t| t.to_f64().iter().any(|&v| v != 0.0)),
                None => node.attributes.contains_key("is_test") && node.attr_int("is_test", 1) == 0,
            };
            if training {
                return found("Dropout in training mode drops values at random");
            }
        }
        None
    })
}
