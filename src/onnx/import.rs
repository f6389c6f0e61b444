//! ONNX → IR through a registry of per-op builders (tract's shape): each builder translates one
//! ONNX node into an IR operator, an alias (shape-only ops) or a folded constant. The IR never
//! sees protobuf types. A model with unsupported nodes fails with one error listing all of them.

use super::{Attribute, Dim, ElemType, Node as OnnxNode, OnnxGraph, Tensor};
use crate::error::{Error, Result};
use crate::ir::{Graph, Node, ValueId};
use crate::ops::BoundOp;
use crate::ops::activation::{Activation, ActivationKind};
use crate::ops::linear::{Affine, Diagonal, LinearSum};
use nalgebra::{DMatrix, DVector};
use std::collections::HashMap;

/// A constant tensor in float64 (weights are float32 in the file; float64 holds them exactly).
#[derive(Clone, Debug)]
struct Constant {
    dims: Vec<usize>,
    data: Vec<f64>,
}

/// What a name in the ONNX graph stands for during import.
#[derive(Clone, Debug)]
enum Symbol {
    /// A value of the IR with its full ONNX shape (batch dimension kept as 1).
    Variable {
        id: ValueId,
        shape: Vec<usize>,
    },
    Constant(Constant),
}

/// What a builder produced for one node.
enum Built {
    Op {
        op: Box<dyn BoundOp>,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
    },
    /// Same values under a new shape (Flatten, Reshape, Identity, a trailing Softmax).
    Alias {
        id: ValueId,
        shape: Vec<usize>,
    },
    Constant(Constant),
}

type Builder = fn(&Importer, &OnnxNode) -> std::result::Result<Built, String>;

/// The supported ONNX ops and their builders.
fn registry() -> HashMap<&'static str, Builder> {
    let mut r: HashMap<&'static str, Builder> = HashMap::new();
    r.insert("Gemm", build_gemm);
    r.insert("MatMul", build_matmul);
    r.insert("Add", build_binary);
    r.insert("Sub", build_binary);
    r.insert("Mul", build_binary);
    r.insert("Div", build_binary);
    r.insert("Relu", build_activation);
    r.insert("LeakyRelu", build_activation);
    r.insert("Sigmoid", build_activation);
    r.insert("Tanh", build_activation);
    r.insert("BatchNormalization", build_batch_norm);
    r.insert("Flatten", build_flatten);
    r.insert("Reshape", build_reshape);
    r.insert("Identity", build_identity);
    r.insert("Dropout", build_identity);
    r.insert("Softmax", build_softmax);
    r
}

/// The ONNX op types robcert's bound engine supports.
pub fn supported_ops() -> Vec<&'static str> {
    let mut v: Vec<_> = registry().keys().copied().collect();
    v.sort_unstable();
    v
}

struct Importer<'g> {
    graph: &'g OnnxGraph,
    symbols: HashMap<String, Symbol>,
    nodes: Vec<Node>,
    input_size: usize,
    /// Output names of the graph (a Softmax producing one of them is dropped).
    graph_outputs: Vec<String>,
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Importer<'_> {
    fn size(&self, id: ValueId) -> usize {
        if id == 0 {
            self.input_size
        } else {
            self.nodes[id - 1].op.output_size()
        }
    }

    fn symbol(&self, name: &str) -> std::result::Result<&Symbol, String> {
        self.symbols
            .get(name)
            .ok_or_else(|| format!("input `{name}` is not produced by any earlier node"))
    }

    fn variable(&self, name: &str) -> std::result::Result<(ValueId, Vec<usize>), String> {
        match self.symbol(name)? {
            Symbol::Variable { id, shape } => Ok((*id, shape.clone())),
            Symbol::Constant(_) => Err(format!(
                "input `{name}` is a constant where a variable tensor is expected"
            )),
        }
    }

    fn constant(&self, name: &str) -> std::result::Result<Constant, String> {
        match self.symbol(name)? {
            Symbol::Constant(c) => Ok(c.clone()),
            Symbol::Variable { .. } => Err(format!(
                "input `{name}` depends on the network input; only constant weights are supported here"
            )),
        }
    }
}

fn to_constant(t: &Tensor) -> Constant {
    Constant {
        dims: t.dims.clone(),
        data: t.to_f64(),
    }
}

/// Broadcasts a constant (numpy rules) to `shape` without enlarging `shape`.
fn broadcast_to(c: &Constant, shape: &[usize]) -> std::result::Result<Vec<f64>, String> {
    if c.dims.len() > shape.len() {
        return Err(format!(
            "constant of shape {:?} has more dimensions than the variable {:?}",
            c.dims, shape
        ));
    }
    let offset = shape.len() - c.dims.len();
    for (i, &d) in c.dims.iter().enumerate() {
        if d != 1 && d != shape[offset + i] {
            return Err(format!(
                "constant of shape {:?} does not broadcast to {:?}",
                c.dims, shape
            ));
        }
    }
    let n = numel(shape);
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let mut flat = 0;
        for (i, &d) in c.dims.iter().enumerate() {
            let k = if d == 1 { 0 } else { idx[offset + i] };
            flat = flat * d + k;
        }
        out.push(c.data[flat]);
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    Ok(out)
}

fn diagonal_affine(scale: &[f64], shift: &[f64], f32_ops: usize) -> Box<dyn BoundOp> {
    Box::new(Diagonal {
        scale: scale.to_vec(),
        shift: shift.to_vec(),
        f32_ops,
    })
}

fn build_gemm(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    if node.attr_int("transA", 0) != 0 {
        return Err("transA = 1 is not supported (the variable input must be [batch, K])".into());
    }
    let (a, shape) = im.variable(&node.inputs[0])?;
    if shape.len() != 2 || shape[0] != 1 {
        return Err(format!(
            "input A has shape {shape:?}; Gemm needs [batch, K]"
        ));
    }
    let b = im.constant(node.inputs.get(1).ok_or("missing input B")?)?;
    if b.dims.len() != 2 {
        return Err(format!(
            "weight B has shape {:?}; expected 2 dimensions",
            b.dims
        ));
    }
    let alpha = node.attr_float("alpha", 1.0) as f64;
    let beta = node.attr_float("beta", 1.0) as f64;
    let trans_b = node.attr_int("transB", 0) != 0;
    let (k, n) = if trans_b {
        (b.dims[1], b.dims[0])
    } else {
        (b.dims[0], b.dims[1])
    };
    if k != shape[1] {
        return Err(format!("A has {} columns but B provides {k}", shape[1]));
    }
    let weight = DMatrix::from_fn(n, k, |o, i| {
        alpha
            * if trans_b {
                b.data[o * k + i]
            } else {
                b.data[i * n + o]
            }
    });
    let bias = match node.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(c) => broadcast_to(&im.constant(c)?, &[1, n])?
            .into_iter()
            .map(|v| beta * v)
            .collect(),
        None => vec![0.0; n],
    };
    Ok(Built::Op {
        op: Box::new(Affine::new(weight, DVector::from_vec(bias), k + 3)),
        inputs: vec![a],
        shape: vec![1, n],
    })
}

fn build_matmul(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    let (a, shape) = im.variable(&node.inputs[0])?;
    let b = im.constant(&node.inputs[1])?;
    if b.dims.len() != 2 {
        return Err(format!(
            "weight of shape {:?}: only a 2-D constant right operand is supported",
            b.dims
        ));
    }
    let (k, n) = (b.dims[0], b.dims[1]);
    if shape.last() != Some(&k) {
        return Err(format!(
            "input of shape {shape:?} cannot multiply a [{k}, {n}] weight"
        ));
    }
    let rows = numel(&shape[..shape.len() - 1]);
    let weight = DMatrix::from_fn(rows * n, rows * k, |o, i| {
        let (ro, co) = (o / n, o % n);
        let (ri, ci) = (i / k, i % k);
        if ro == ri { b.data[ci * n + co] } else { 0.0 }
    });
    let mut out_shape = shape.clone();
    *out_shape.last_mut().expect("non-empty shape") = n;
    Ok(Built::Op {
        op: Box::new(Affine::new(weight, DVector::zeros(rows * n), k + 1)),
        inputs: vec![a],
        shape: out_shape,
    })
}

fn fold(op: &str, x: f64, y: f64) -> f64 {
    match op {
        "Add" => x + y,
        "Sub" => x - y,
        "Mul" => x * y,
        _ => x / y,
    }
}

fn build_binary(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    let op = node.op_type.as_str();
    let (left, right) = (
        im.symbol(&node.inputs[0])?.clone(),
        im.symbol(&node.inputs[1])?.clone(),
    );
    match (left, right) {
        (Symbol::Constant(x), Symbol::Constant(y)) => {
            let shape = if numel(&x.dims) >= numel(&y.dims) {
                x.dims.clone()
            } else {
                y.dims.clone()
            };
            let (xs, ys) = (broadcast_to(&x, &shape)?, broadcast_to(&y, &shape)?);
            Ok(Built::Constant(Constant {
                dims: shape,
                data: xs.iter().zip(&ys).map(|(a, b)| fold(op, *a, *b)).collect(),
            }))
        }
        (Symbol::Variable { id, shape }, Symbol::Constant(c)) => {
            let c = broadcast_to(&c, &shape)?;
            let n = c.len();
            let op = match op {
                "Add" => diagonal_affine(&vec![1.0; n], &c, 1),
                "Sub" => {
                    diagonal_affine(&vec![1.0; n], &c.iter().map(|v| -v).collect::<Vec<_>>(), 1)
                }
                "Mul" => diagonal_affine(&c, &vec![0.0; n], 1),
                _ => {
                    if c.contains(&0.0) {
                        return Err("division by a constant that contains zero".into());
                    }
                    diagonal_affine(
                        &c.iter().map(|v| 1.0 / v).collect::<Vec<_>>(),
                        &vec![0.0; n],
                        1,
                    )
                }
            };
            Ok(Built::Op {
                op,
                inputs: vec![id],
                shape,
            })
        }
        (Symbol::Constant(c), Symbol::Variable { id, shape }) => {
            let c = broadcast_to(&c, &shape)?;
            let n = c.len();
            let op = match op {
                "Add" => diagonal_affine(&vec![1.0; n], &c, 1),
                "Sub" => diagonal_affine(&vec![-1.0; n], &c, 1),
                "Mul" => diagonal_affine(&c, &vec![0.0; n], 1),
                _ => {
                    return Err(
                        "a constant divided by a variable tensor is nonlinear (not supported)"
                            .into(),
                    );
                }
            };
            Ok(Built::Op {
                op,
                inputs: vec![id],
                shape,
            })
        }
        (Symbol::Variable { id: a, shape: sa }, Symbol::Variable { id: b, shape: sb }) => {
            if sa != sb {
                return Err(format!(
                    "broadcast between two variable tensors ({sa:?} and {sb:?}) is not supported"
                ));
            }
            let coefficients = match op {
                "Add" => vec![1.0, 1.0],
                "Sub" => vec![1.0, -1.0],
                _ => {
                    return Err(format!(
                        "{op} of two variable tensors is nonlinear (not supported)"
                    ));
                }
            };
            Ok(Built::Op {
                op: Box::new(LinearSum {
                    coefficients,
                    size: numel(&sa),
                }),
                inputs: vec![a, b],
                shape: sa,
            })
        }
    }
}

fn build_activation(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    let (id, shape) = im.variable(&node.inputs[0])?;
    let kind = match node.op_type.as_str() {
        "Relu" => ActivationKind::Relu,
        "LeakyRelu" => {
            let alpha = node.attr_float("alpha", 0.01) as f64;
            if !(0.0..=1.0).contains(&alpha) {
                return Err(format!("alpha = {alpha}: only 0 ≤ alpha ≤ 1 is supported"));
            }
            ActivationKind::LeakyRelu { alpha }
        }
        "Sigmoid" => ActivationKind::Sigmoid,
        _ => ActivationKind::Tanh,
    };
    Ok(Built::Op {
        op: Box::new(Activation {
            kind,
            size: im.size(id),
        }),
        inputs: vec![id],
        shape,
    })
}

fn build_batch_norm(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    if node.attr_int("training_mode", 0) != 0 {
        return Err(
            "training_mode = 1 (only inference-mode batch normalisation is supported)".into(),
        );
    }
    let (id, shape) = im.variable(&node.inputs[0])?;
    if shape.len() < 2 {
        return Err(format!("input of shape {shape:?} has no channel axis"));
    }
    let channels = shape[1];
    let param = |i: usize| -> std::result::Result<Vec<f64>, String> {
        let c = im.constant(node.inputs.get(i).ok_or("missing parameter")?)?;
        if c.data.len() != channels {
            return Err(format!(
                "parameter {i} has {} values for {channels} channels",
                c.data.len()
            ));
        }
        Ok(c.data)
    };
    let (scale, shift, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
    let eps = node.attr_float("epsilon", 1e-5) as f64;
    let inner = numel(&shape[2..]);
    let n = numel(&shape);
    let mut s = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for i in 0..n {
        let c = (i / inner) % channels;
        if var[c] + eps <= 0.0 {
            return Err(format!("variance + epsilon ≤ 0 in channel {c}"));
        }
        let k = scale[c] / (var[c] + eps).sqrt();
        s.push(k);
        b.push(shift[c] - k * mean[c]);
    }
    Ok(Built::Op {
        op: diagonal_affine(&s, &b, 4),
        inputs: vec![id],
        shape,
    })
}

fn build_flatten(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    let (id, shape) = im.variable(&node.inputs[0])?;
    let rank = shape.len() as i64;
    let mut axis = node.attr_int("axis", 1);
    if axis < 0 {
        axis += rank;
    }
    if !(0..=rank).contains(&axis) {
        return Err(format!("axis {axis} out of range for shape {shape:?}"));
    }
    let a = axis as usize;
    Ok(Built::Alias {
        id,
        shape: vec![numel(&shape[..a]), numel(&shape[a..])],
    })
}

fn build_reshape(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    let (id, shape) = im.variable(&node.inputs[0])?;
    let target = im.constant(node.inputs.get(1).ok_or("missing shape input")?)?;
    let mut out: Vec<i64> = target.data.iter().map(|&v| v as i64).collect();
    for (i, d) in out.iter_mut().enumerate() {
        if *d == 0 {
            *d = *shape
                .get(i)
                .ok_or("0 in the target shape refers to a missing dimension")?
                as i64;
        }
    }
    let known: i64 = out.iter().filter(|&&d| d != -1).product();
    let total = numel(&shape) as i64;
    if out.iter().filter(|&&d| d == -1).count() > 1 || known == 0 {
        return Err(format!("cannot resolve the target shape {out:?}"));
    }
    for d in out.iter_mut() {
        if *d == -1 {
            *d = total / known;
        }
    }
    let out: Vec<usize> = out.iter().map(|&d| d as usize).collect();
    if numel(&out) != numel(&shape) {
        return Err(format!("cannot reshape {shape:?} to {out:?}"));
    }
    Ok(Built::Alias { id, shape: out })
}

fn build_identity(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    match im.symbol(&node.inputs[0])?.clone() {
        Symbol::Variable { id, shape } => Ok(Built::Alias { id, shape }),
        Symbol::Constant(c) => Ok(Built::Constant(c)),
    }
}

fn build_softmax(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    if !node.outputs.iter().any(|o| im.graph_outputs.contains(o)) {
        return Err("Softmax inside the network (only a final Softmax, which keeps the argmax, is supported)".into());
    }
    let (id, shape) = im.variable(&node.inputs[0])?;
    Ok(Built::Alias { id, shape })
}

/// Builds the IR of a tabular or VNN-COMP style network: one float input whose first dimension
/// is the batch (symbolic or 1), constant weights, and the first graph output as the scores.
pub fn import(graph: &OnnxGraph) -> Result<Graph> {
    let path = graph.path.clone();
    let structural = |message: String| Error::OnnxGraph {
        path: path.clone(),
        message,
    };
    for (name, t) in &graph.initializers {
        if let Some(i) = t.to_f64().iter().position(|v| !v.is_finite()) {
            return Err(structural(format!(
                "initializer `{name}` has a non-finite value (NaN or inf) at index {i}"
            )));
        }
    }
    let [input] = graph.inputs.as_slice() else {
        return Err(structural(format!(
            "the bound engine needs exactly one network input, the model has {}",
            graph.inputs.len()
        )));
    };
    if !matches!(input.elem_type, ElemType::F32 | ElemType::F64) {
        return Err(structural(format!(
            "input `{}` is {}; a float tensor is needed",
            input.name, input.elem_type
        )));
    }
    let dims = input
        .shape
        .as_ref()
        .ok_or_else(|| structural(format!("input `{}` has no declared shape", input.name)))?;
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match (i, d) {
            (0, Dim::Fixed(1) | Dim::Symbolic(_) | Dim::Unknown) => shape.push(1),
            (_, Dim::Fixed(n)) if *n > 0 => shape.push(*n),
            _ => {
                return Err(structural(format!(
                    "input `{}` dimension {i} is {d:?}: the bound engine needs every dimension but the batch fixed",
                    input.name
                )));
            }
        }
    }
    let mut im = Importer {
        graph,
        symbols: HashMap::new(),
        nodes: Vec::new(),
        input_size: numel(&shape),
        graph_outputs: graph.outputs.iter().map(|o| o.name.clone()).collect(),
    };
    for (name, t) in &graph.initializers {
        im.symbols
            .insert(name.clone(), Symbol::Constant(to_constant(t)));
    }
    im.symbols
        .insert(input.name.clone(), Symbol::Variable { id: 0, shape });

    let registry = registry();
    let mut unsupported: Vec<(String, String, String)> = Vec::new();
    let mut dropped = Vec::new();
    for node in &im.graph.nodes {
        let Some(builder) = registry
            .get(node.op_type.as_str())
            .filter(|_| node.domain.is_empty() || node.domain == "ai.onnx")
        else {
            unsupported.push((
                node.op_type.clone(),
                node.name.clone(),
                "not in robcert's operator registry".into(),
            ));
            continue;
        };
        // Nodes downstream of an unsupported node cannot be built; they are not reported twice.
        if node
            .inputs
            .iter()
            .any(|i| !i.is_empty() && !im.symbols.contains_key(i))
            && !unsupported.is_empty()
        {
            continue;
        }
        if let Some(unknown) = node
            .attributes
            .iter()
            .find(|(_, a)| matches!(a, Attribute::Unsupported(_)))
        {
            unsupported.push((
                node.op_type.clone(),
                node.name.clone(),
                format!("attribute `{}` of an unsupported type", unknown.0),
            ));
            continue;
        }
        match builder(&im, node) {
            Err(why) => unsupported.push((node.op_type.clone(), node.name.clone(), why)),
            Ok(Built::Constant(c)) => {
                im.symbols
                    .insert(node.outputs[0].clone(), Symbol::Constant(c));
            }
            Ok(Built::Alias { id, shape }) => {
                if node.op_type == "Softmax" {
                    dropped.push(node.name.clone());
                }
                im.symbols
                    .insert(node.outputs[0].clone(), Symbol::Variable { id, shape });
            }
            Ok(Built::Op { op, inputs, shape }) => {
                debug_assert_eq!(op.output_size(), numel(&shape));
                im.nodes.push(Node {
                    name: node.name.clone(),
                    source_op: node.op_type.clone(),
                    op,
                    inputs,
                });
                let id = im.nodes.len();
                im.symbols
                    .insert(node.outputs[0].clone(), Symbol::Variable { id, shape });
            }
        }
    }
    if !unsupported.is_empty() {
        return Err(Error::UnsupportedOps {
            path,
            nodes: unsupported,
        });
    }
    let out_name = graph
        .outputs
        .first()
        .ok_or_else(|| structural("the model has no outputs".into()))?
        .name
        .clone();
    let output = match im.symbols.get(&out_name) {
        Some(Symbol::Variable { id, .. }) => *id,
        _ => {
            return Err(structural(format!(
                "output `{out_name}` does not depend on the input"
            )));
        }
    };
    Ok(Graph {
        input_name: input.name.clone(),
        input_size: im.input_size,
        nodes: im.nodes,
        output,
        dropped_tail: dropped,
    })
}
