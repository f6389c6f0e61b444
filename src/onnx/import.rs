//! ONNX → IR through a registry of per-op builders (tract's shape): each builder translates one
//! ONNX node into IR operators, an alias (shape-only ops) or a folded constant. The IR never
//! sees protobuf types. A model with unsupported nodes fails with one error listing all of them.
//!
//! What is imported is the graph ONNX Runtime executes (robcert hands it the graph that ONNX
//! Runtime saves after its own optimisations, see `runtime`), so the semantics here are ONNX
//! Runtime's float32 semantics:
//! - only the nodes the certified output depends on are imported (a label branch is pruned);
//! - constant subexpressions are folded in the constants' own precision with IEEE arithmetic,
//!   exactly as ONNX Runtime's element-wise kernels compute them; a non-finite result or a
//!   division by zero is an error naming the node;
//! - every variable tensor keeps the batch as its axis 0, and an op that would mix the rows of a
//!   batch (Softmax, Flatten or Reshape over axis 0, ...) is refused;
//! - a Softmax (or LogSoftmax) is accepted only over the class axis of the certified output,
//!   feeding nothing else; it is recorded as the graph's output transform (order-preserving, with
//!   a tie margin), never silently dropped;
//! - non-finite attributes are errors naming the node.

use super::{Attribute, Dim, ElemType, Node as OnnxNode, OnnxGraph, Tensor};
use crate::error::{Error, Result};
use crate::ir::{Graph, Node, OutputTransform, ValueId};
use crate::numerics::{
    F32_FOLDED_SCALE_ULPS, F32_FOLDED_SHIFT_ULPS, F32_MIN_NORMAL, F32_UNIT_ROUNDOFF, f32_finite,
};
use crate::ops::BoundOp;
use crate::ops::activation::{Activation, ActivationKind};
use crate::ops::linear::{Affine, Diagonal, DiagonalSlack, DotProduct, LinearSum};
use nalgebra::{DMatrix, DVector};
use std::collections::{HashMap, HashSet};

/// Domain of ONNX Runtime's contributed (fused) operators.
const MS_DOMAIN: &str = "com.microsoft";

/// A constant tensor. `data` holds the values in float64; for float32 constants every value is
/// a float32 number, and folding keeps it so.
#[derive(Clone, Debug)]
struct Constant {
    elem: ElemType,
    dims: Vec<usize>,
    data: Vec<f64>,
}

/// What a name in the ONNX graph stands for during import.
#[derive(Clone, Debug)]
enum Symbol {
    /// A value of the IR with its full ONNX shape; axis 0 is the batch (kept as 1).
    Variable {
        id: ValueId,
        shape: Vec<usize>,
    },
    Constant(Constant),
}

/// What a builder produced for one node.
enum Built {
    /// IR operators applied in sequence: the first to `inputs`, each later one to the previous
    /// one's output (a fused node such as FusedGemm becomes an affine map and an activation).
    Ops {
        ops: Vec<Box<dyn BoundOp>>,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
    },
    /// Same values under a new shape (Flatten, Reshape, Identity, Dropout in inference).
    Alias {
        id: ValueId,
        shape: Vec<usize>,
    },
    /// A final Softmax or LogSoftmax: the certified scores are its input.
    OutputTransform {
        id: ValueId,
        shape: Vec<usize>,
        transform: OutputTransform,
    },
    Constant(Constant),
}

type Builder = fn(&Importer, &OnnxNode) -> std::result::Result<Built, String>;

/// The supported ops by (domain, op type) and their builders.
fn registry() -> HashMap<(&'static str, &'static str), Builder> {
    let mut r: HashMap<(&'static str, &'static str), Builder> = HashMap::new();
    for (op, builder) in [
        ("Gemm", build_gemm as Builder),
        ("MatMul", build_matmul),
        ("Add", build_binary),
        ("Sub", build_binary),
        ("Mul", build_binary),
        ("Div", build_binary),
        ("Relu", build_activation),
        ("LeakyRelu", build_activation),
        ("Sigmoid", build_activation),
        ("Tanh", build_activation),
        ("BatchNormalization", build_batch_norm),
        ("Flatten", build_flatten),
        ("Reshape", build_reshape),
        ("Identity", build_identity),
        ("Dropout", build_dropout),
        ("Softmax", build_softmax),
        ("LogSoftmax", build_softmax),
    ] {
        r.insert(("", op), builder);
    }
    r.insert((MS_DOMAIN, "FusedGemm"), build_gemm);
    r.insert((MS_DOMAIN, "FusedMatMul"), build_matmul);
    r
}

/// The ONNX op types robcert's bound engine supports (default domain; ONNX Runtime's fused ops
/// as `com.microsoft.<op>`).
pub fn supported_ops() -> Vec<String> {
    let mut v: Vec<String> = registry()
        .keys()
        .map(|(d, op)| {
            if d.is_empty() {
                op.to_string()
            } else {
                format!("{d}.{op}")
            }
        })
        .collect();
    v.sort_unstable();
    v
}

struct Importer<'g> {
    graph: &'g OnnxGraph,
    symbols: HashMap<String, Symbol>,
    nodes: Vec<Node>,
    input_size: usize,
    /// The graph output robcert certifies.
    certified: String,
    /// How many needed nodes read each value name.
    readers: HashMap<String, usize>,
    /// Whether the batch dimension is dynamic (a fixed batch of 1 cannot mix rows).
    batch_dynamic: bool,
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
        if let Some(why) = self.graph.undecodable.get(name) {
            return Err(format!("initializer `{name}`: {why}"));
        }
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

    /// A refusal for an op that would combine the rows of a batch.
    fn couples_batch(&self, what: &str) -> std::result::Result<(), String> {
        if self.batch_dynamic {
            return Err(format!(
                "{what}: it mixes the rows of a batch (axis 0), so a row's output would depend on \
                 the other rows ONNX Runtime is given with it"
            ));
        }
        Ok(())
    }
}

fn to_constant(t: &Tensor) -> Constant {
    Constant {
        elem: t.elem_type(),
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

/// The numpy broadcast of two shapes.
fn broadcast_shape(a: &[usize], b: &[usize]) -> std::result::Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![1; n];
    for (i, slot) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        *slot = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// `x op y` as ONNX Runtime's element-wise kernel computes it for the constants' type:
/// correctly rounded IEEE float32 (or float64) arithmetic, integer arithmetic for integers.
fn fold_value(op: &str, elem: ElemType, x: f64, y: f64) -> std::result::Result<f64, String> {
    match elem {
        ElemType::F32 => {
            let (a, b) = (x as f32, y as f32);
            let v = match op {
                "Add" => a + b,
                "Sub" => a - b,
                "Mul" => a * b,
                _ if b == 0.0 => return Err("division by zero".into()),
                _ => a / b,
            };
            Ok(f64::from(v))
        }
        ElemType::F64 => Ok(match op {
            "Add" => x + y,
            "Sub" => x - y,
            "Mul" => x * y,
            _ if y == 0.0 => return Err("division by zero".into()),
            _ => x / y,
        }),
        ElemType::I64 | ElemType::I32 => {
            let (a, b) = (x as i64, y as i64);
            let v = match op {
                "Add" => a.checked_add(b),
                "Sub" => a.checked_sub(b),
                "Mul" => a.checked_mul(b),
                _ if b == 0 => return Err("integer division by zero".into()),
                _ => a.checked_div(b),
            };
            v.map(|v| v as f64)
                .ok_or_else(|| "integer overflow in a constant expression".into())
        }
        other => Err(format!(
            "constant arithmetic on {other} tensors is not supported"
        )),
    }
}

fn fold_binary(op: &str, x: &Constant, y: &Constant) -> std::result::Result<Constant, String> {
    if x.elem != y.elem {
        return Err(format!(
            "constants of different types ({} and {})",
            x.elem, y.elem
        ));
    }
    let shape = broadcast_shape(&x.dims, &y.dims)?;
    let (xs, ys) = (broadcast_to(x, &shape)?, broadcast_to(y, &shape)?);
    let mut data = Vec::with_capacity(xs.len());
    for (i, (a, b)) in xs.iter().zip(&ys).enumerate() {
        let v = fold_value(op, x.elem, *a, *b).map_err(|e| format!("{e} at element {i}"))?;
        if !v.is_finite() {
            return Err(format!(
                "the constant expression evaluates to {v} at element {i} in {}",
                x.elem
            ));
        }
        data.push(v);
    }
    Ok(Constant {
        elem: x.elem,
        dims: shape,
        data,
    })
}

fn diagonal_affine(scale: Vec<f64>, shift: Vec<f64>) -> Box<dyn BoundOp> {
    Box::new(Diagonal::exact(scale, shift, 1))
}

/// A float attribute that must be a finite number.
fn finite_attr(node: &OnnxNode, name: &str, default: f32) -> std::result::Result<f64, String> {
    let v = node.attr_float(name, default);
    if !v.is_finite() {
        return Err(format!("attribute `{name}` = {v} is not a finite number"));
    }
    Ok(f64::from(v))
}

/// The activation of a FusedGemm (ONNX Runtime's Gemm + activation fusion), if any.
fn fused_activation(
    node: &OnnxNode,
    size: usize,
) -> std::result::Result<Option<Box<dyn BoundOp>>, String> {
    let Some(name) = node.attr_string("activation") else {
        return Ok(None);
    };
    let kind = match name.as_str() {
        "Relu" => ActivationKind::Relu,
        "LeakyRelu" => {
            let alpha = finite_attr(node, "activation_alpha", 0.01)?;
            if !(0.0..=1.0).contains(&alpha) {
                return Err(format!(
                    "activation_alpha = {alpha}: only 0 ≤ alpha ≤ 1 is supported"
                ));
            }
            ActivationKind::LeakyRelu { alpha }
        }
        "Sigmoid" => ActivationKind::Sigmoid,
        "Tanh" => ActivationKind::Tanh,
        other => return Err(format!("fused activation `{other}` is not supported")),
    };
    Ok(Some(Box::new(Activation { kind, size })))
}

/// Checks that a constant scaled by `factor` stays within the float32 range (ONNX Runtime may
/// apply the factor to the constant itself).
fn scaled_fits(c: &[f64], factor: f64, what: &str) -> std::result::Result<(), String> {
    let peak = c.iter().fold(0.0f64, |m, v| m.max(v.abs())) * factor.abs();
    if !f32_finite(peak * (1.0 + 2.0 * F32_UNIT_ROUNDOFF)) {
        return Err(format!("{what} exceeds the float32 range"));
    }
    Ok(())
}

fn build_gemm(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    let (a, shape) = im.variable(&node.inputs[0])?;
    if node.attr_int("transA", 0) != 0 {
        im.couples_batch("transA = 1 (the batch becomes the contracted axis)")?;
        return Err("transA = 1 is not supported (the variable input must be [batch, K])".into());
    }
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
    let alpha = finite_attr(node, "alpha", 1.0)?;
    let beta = finite_attr(node, "beta", 1.0)?;
    if alpha == 0.0 {
        return Err("alpha = 0 (the product is discarded) is not supported".into());
    }
    let trans_b = node.attr_int("transB", 0) != 0;
    let (k, n) = if trans_b {
        (b.dims[1], b.dims[0])
    } else {
        (b.dims[0], b.dims[1])
    };
    if k != shape[1] {
        return Err(format!("A has {} columns but B provides {k}", shape[1]));
    }
    scaled_fits(&b.data, alpha, "alpha · B")?;
    let weight = DMatrix::from_fn(n, k, |o, i| {
        alpha
            * if trans_b {
                b.data[o * k + i]
            } else {
                b.data[i * n + o]
            }
    });
    let bias = match node.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(c) => {
            let c = broadcast_to(&im.constant(c)?, &[1, n])?;
            scaled_fits(&c, beta, "beta · C")?;
            c.into_iter().map(|v| beta * v).collect()
        }
        None => vec![0.0; n],
    };
    // Roundings beyond the products: the bias add, beta · C, alpha · (A·B).
    let f32 = DotProduct {
        fan_in: k,
        extra_ops: 3,
        acc_scale: alpha,
    };
    let mut ops: Vec<Box<dyn BoundOp>> =
        vec![Box::new(Affine::new(weight, DVector::from_vec(bias), f32))];
    ops.extend(fused_activation(node, n)?);
    Ok(Built::Ops {
        ops,
        inputs: vec![a],
        shape: vec![1, n],
    })
}

fn build_matmul(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    if matches!(im.symbol(&node.inputs[1])?, Symbol::Variable { .. }) {
        im.couples_batch("the variable tensor is the right operand")?;
    }
    let (a, shape) = im.variable(&node.inputs[0])?;
    let b = im.constant(&node.inputs[1])?;
    for attr in ["transA", "transBatchA", "transBatchB"] {
        if node.attr_int(attr, 0) != 0 {
            return Err(format!("{attr} = 1 is not supported"));
        }
    }
    let alpha = finite_attr(node, "alpha", 1.0)?;
    if alpha == 0.0 {
        return Err("alpha = 0 (the product is discarded) is not supported".into());
    }
    let trans_b = node.attr_int("transB", 0) != 0;
    if b.dims.len() != 2 {
        return Err(format!(
            "weight of shape {:?}: only a 2-D constant right operand is supported",
            b.dims
        ));
    }
    let (k, n) = if trans_b {
        (b.dims[1], b.dims[0])
    } else {
        (b.dims[0], b.dims[1])
    };
    if shape.last() != Some(&k) {
        return Err(format!(
            "input of shape {shape:?} cannot multiply a [{k}, {n}] weight"
        ));
    }
    if shape.len() != 2 {
        return Err(format!(
            "input of shape {shape:?}: only a [batch, K] variable operand is supported"
        ));
    }
    scaled_fits(&b.data, alpha, "alpha · B")?;
    let weight = DMatrix::from_fn(n, k, |o, i| {
        alpha
            * if trans_b {
                b.data[o * k + i]
            } else {
                b.data[i * n + o]
            }
    });
    let f32 = DotProduct {
        fan_in: k,
        extra_ops: usize::from(alpha != 1.0) + 1,
        acc_scale: alpha,
    };
    Ok(Built::Ops {
        ops: vec![Box::new(Affine::new(weight, DVector::zeros(n), f32))],
        inputs: vec![a],
        shape: vec![1, n],
    })
}

fn build_binary(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    let op = node.op_type.as_str();
    let (left, right) = (
        im.symbol(&node.inputs[0])?.clone(),
        im.symbol(&node.inputs[1])?.clone(),
    );
    match (left, right) {
        (Symbol::Constant(x), Symbol::Constant(y)) => Ok(Built::Constant(fold_binary(op, &x, &y)?)),
        (Symbol::Variable { id, shape }, Symbol::Constant(c)) => {
            let c = broadcast_to(&c, &shape)?;
            let n = c.len();
            let op = match op {
                "Add" => diagonal_affine(vec![1.0; n], c),
                "Sub" => diagonal_affine(vec![1.0; n], c.iter().map(|v| -v).collect()),
                "Mul" => diagonal_affine(c, vec![0.0; n]),
                _ => {
                    if c.contains(&0.0) {
                        return Err("division by a constant that contains zero".into());
                    }
                    diagonal_affine(c.iter().map(|v| 1.0 / v).collect(), vec![0.0; n])
                }
            };
            Ok(Built::Ops {
                ops: vec![op],
                inputs: vec![id],
                shape,
            })
        }
        (Symbol::Constant(c), Symbol::Variable { id, shape }) => {
            let c = broadcast_to(&c, &shape)?;
            let n = c.len();
            let op = match op {
                "Add" => diagonal_affine(vec![1.0; n], c),
                "Sub" => diagonal_affine(vec![-1.0; n], c),
                "Mul" => diagonal_affine(c, vec![0.0; n]),
                _ => {
                    return Err(
                        "a constant divided by a variable tensor is nonlinear (not supported)"
                            .into(),
                    );
                }
            };
            Ok(Built::Ops {
                ops: vec![op],
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
            Ok(Built::Ops {
                ops: vec![Box::new(LinearSum {
                    coefficients,
                    size: numel(&sa),
                })],
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
            let alpha = finite_attr(node, "alpha", 0.01)?;
            if !(0.0..=1.0).contains(&alpha) {
                return Err(format!("alpha = {alpha}: only 0 ≤ alpha ≤ 1 is supported"));
            }
            ActivationKind::LeakyRelu { alpha }
        }
        "Sigmoid" => ActivationKind::Sigmoid,
        _ => ActivationKind::Tanh,
    };
    Ok(Built::Ops {
        ops: vec![Box::new(Activation {
            kind,
            size: im.size(id),
        })],
        inputs: vec![id],
        shape,
    })
}

/// BatchNormalization in inference mode. ONNX Runtime's CPU kernel computes, in float32,
/// `inv_std = 1 / sqrt(var + ε)`, `scale' = inv_std · scale`, `shift' = B − mean · scale'` and
/// `y = x · scale' + shift'`. robcert uses the exact `scale'` and `shift'` and allows for the
/// float32 rounding of both (with the cancellation in `shift'`, which can be large).
fn build_batch_norm(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    if node.attr_int("training_mode", 0) != 0 {
        im.couples_batch("training_mode = 1 (statistics of the batch)")?;
        return Err(
            "training_mode = 1 (only inference-mode batch normalisation is supported)".into(),
        );
    }
    if node.attr_int("spatial", 1) != 1 {
        return Err("spatial = 0 (opset < 9 per-activation statistics) is not supported".into());
    }
    if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("running statistics outputs (training) are not supported".into());
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
    let eps = finite_attr(node, "epsilon", 1e-5)?;
    let inner = numel(&shape[2..]);
    let n = numel(&shape);
    let u = F32_UNIT_ROUNDOFF;
    let mut folded = Vec::with_capacity(channels);
    for c in 0..channels {
        // var + ε as ONNX Runtime adds it, in float32.
        let denominator = f64::from(var[c] as f32 + eps as f32);
        if denominator.is_nan() || denominator <= 0.0 {
            return Err(format!("variance + epsilon ≤ 0 in channel {c}"));
        }
        let k = scale[c] / denominator.sqrt();
        let k_slack = F32_FOLDED_SCALE_ULPS * u * k.abs() + F32_MIN_NORMAL;
        let km = k * mean[c];
        let t = shift[c] - km;
        let t_slack = F32_FOLDED_SHIFT_ULPS * u * (shift[c].abs() + km.abs()) + F32_MIN_NORMAL;
        if !f32_finite(k.abs() + k_slack) || !f32_finite(km.abs() + k_slack * mean[c].abs()) {
            return Err(format!(
                "channel {c}: the folded scale scale / sqrt(var + epsilon) = {k:e} (or its product \
                 with the mean) exceeds the float32 range"
            ));
        }
        folded.push((k, t, k_slack, t_slack));
    }
    let mut op = Diagonal::exact(Vec::with_capacity(n), Vec::with_capacity(n), 2);
    let mut slack = DiagonalSlack {
        scale: Vec::with_capacity(n),
        shift: Vec::with_capacity(n),
    };
    for i in 0..n {
        let (k, t, ks, ts) = folded[(i / inner) % channels];
        op.scale.push(k);
        op.shift.push(t);
        slack.scale.push(ks);
        slack.shift.push(ts);
    }
    op.slack = Some(slack);
    Ok(Built::Ops {
        ops: vec![Box::new(op)],
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
    if axis == 0 {
        im.couples_batch("Flatten with axis 0")?;
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
    if node.attr_int("allowzero", 0) != 0 {
        return Err("allowzero = 1 is not supported".into());
    }
    let mut out: Vec<i64> = target.data.iter().map(|&v| v as i64).collect();
    // The batch must stay axis 0: the target keeps it (0) or infers it (-1) from a per-row shape.
    match out.first() {
        Some(0) => {}
        Some(-1) if out.iter().skip(1).all(|&d| d > 0) => {
            if numel(&shape[1..]) as i64 != out[1..].iter().product::<i64>() {
                im.couples_batch(&format!("Reshape to {out:?} moves values between rows"))?;
            }
        }
        _ => im.couples_batch(&format!(
            "Reshape to {out:?} does not keep the batch dimension (use 0 or -1 first)"
        ))?,
    }
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
    if out.iter().filter(|&&d| d == -1).count() > 1 || known <= 0 || out.iter().any(|&d| d < -1) {
        return Err(format!("cannot resolve the target shape {out:?}"));
    }
    for d in out.iter_mut() {
        if *d == -1 {
            *d = total / known;
        }
    }
    let out: Vec<usize> = out.iter().map(|&d| d as usize).collect();
    if numel(&out) != numel(&shape) || out.first() != Some(&1) {
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

/// Dropout is the identity in inference: `training_mode` absent or a constant false (opset
/// ≥ 12), `is_test` not 0 (opset < 7); its mask output must not be read.
fn build_dropout(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    if let Some(name) = node.inputs.get(2).filter(|s| !s.is_empty()) {
        let mode = im
            .constant(name)
            .map_err(|_| "training_mode is not a constant".to_string())?;
        if mode.data.iter().any(|&v| v != 0.0) {
            return Err("training_mode = true (random dropout) is not supported".into());
        }
    }
    if node.attributes.contains_key("is_test") && node.attr_int("is_test", 1) == 0 {
        return Err("is_test = 0 (random dropout) is not supported".into());
    }
    if let Some(mask) = node.outputs.get(1).filter(|s| !s.is_empty())
        && im.readers.get(mask).is_some_and(|&n| n > 0)
    {
        return Err("its mask output is read by other nodes (not supported)".into());
    }
    build_identity(im, node)
}

/// A Softmax or LogSoftmax is accepted only as the model's last word: over the class axis of a
/// `[batch, C]` tensor, producing the certified output and read by no other node. It keeps the
/// order of the scores, so robcert bounds the scores before it, with the tie margin of
/// [`OutputTransform::Softmax`].
fn build_softmax(im: &Importer, node: &OnnxNode) -> std::result::Result<Built, String> {
    let (id, shape) = im.variable(&node.inputs[0])?;
    let rank = shape.len() as i64;
    let default_axis = if im.graph.opset >= 13 { -1 } else { 1 };
    let mut axis = node.attr_int("axis", default_axis);
    if axis < 0 {
        axis += rank;
    }
    if axis == 0 {
        im.couples_batch("softmax over axis 0")?;
    }
    let output = node.outputs.first().cloned().unwrap_or_default();
    let read_elsewhere = im.readers.get(&output).copied().unwrap_or(0) > 0;
    if rank != 2 || axis != 1 || output != im.certified || read_elsewhere {
        return Err(format!(
            "{} inside the network: only a final one over the class axis of a [batch, C] tensor, \
             producing the certified output `{}` and read by no other node, is supported",
            node.op_type, im.certified
        ));
    }
    Ok(Built::OutputTransform {
        id,
        shape,
        transform: OutputTransform::Softmax {
            node: node.name.clone(),
        },
    })
}

/// The nodes (indices into `graph.nodes`) that the value `output` depends on.
fn needed_nodes(graph: &OnnxGraph, output: &str) -> HashSet<usize> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        for o in &node.outputs {
            producer.insert(o.as_str(), i);
        }
    }
    let mut needed = HashSet::new();
    let mut stack = vec![output];
    while let Some(name) = stack.pop() {
        if let Some(&i) = producer.get(name)
            && needed.insert(i)
        {
            stack.extend(graph.nodes[i].inputs.iter().map(String::as_str));
        }
    }
    needed
}

/// Builds the IR of a tabular or VNN-COMP style network: one float input whose first dimension
/// is the batch (symbolic or 1), constant weights, and the first graph output as the scores.
/// Nodes the first output does not depend on are ignored.
pub fn import(graph: &OnnxGraph) -> Result<Graph> {
    let path = graph.path.clone();
    let structural = |message: String| Error::OnnxGraph {
        path: path.clone(),
        message,
    };
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
    let mut batch_dynamic = false;
    for (i, d) in dims.iter().enumerate() {
        match (i, d) {
            (0, Dim::Fixed(1)) => shape.push(1),
            (0, Dim::Symbolic(_) | Dim::Unknown) => {
                batch_dynamic = true;
                shape.push(1);
            }
            (_, Dim::Fixed(n)) if *n > 0 => shape.push(*n),
            _ => {
                return Err(structural(format!(
                    "input `{}` dimension {i} is {d:?}: the bound engine needs every dimension but the batch fixed",
                    input.name
                )));
            }
        }
    }
    let certified = graph
        .outputs
        .first()
        .ok_or_else(|| structural("the model has no outputs".into()))?
        .name
        .clone();
    let needed = needed_nodes(graph, &certified);
    let mut readers: HashMap<String, usize> = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if needed.contains(&i) {
            for name in node.inputs.iter().filter(|s| !s.is_empty()) {
                *readers.entry(name.clone()).or_default() += 1;
            }
        }
    }
    let mut im = Importer {
        graph,
        symbols: HashMap::new(),
        nodes: Vec::new(),
        input_size: numel(&shape),
        certified: certified.clone(),
        readers,
        batch_dynamic,
    };
    for (name, t) in &graph.initializers {
        if !im.readers.contains_key(name) {
            continue;
        }
        if let Some(i) = t.to_f64().iter().position(|v| !v.is_finite()) {
            return Err(structural(format!(
                "initializer `{name}` has a non-finite value (NaN or inf) at index {i}"
            )));
        }
        im.symbols
            .insert(name.clone(), Symbol::Constant(to_constant(t)));
    }
    im.symbols
        .insert(input.name.clone(), Symbol::Variable { id: 0, shape });

    let registry = registry();
    let mut unsupported: Vec<(String, String, String)> = Vec::new();
    let mut transform = OutputTransform::Identity;
    for (index, node) in im.graph.nodes.iter().enumerate() {
        if !needed.contains(&index) {
            continue;
        }
        let domain = if node.domain == "ai.onnx" {
            ""
        } else {
            node.domain.as_str()
        };
        let Some(builder) = registry.get(&(domain, node.op_type.as_str())) else {
            let hint = if domain == MS_DOMAIN {
                "an ONNX Runtime fusion robcert does not support (a lower [model] ort_optimization avoids it)"
            } else {
                "not in robcert's operator registry"
            };
            unsupported.push((node.op_type.clone(), node.name.clone(), hint.into()));
            continue;
        };
        // Nodes downstream of an unsupported node cannot be built; they are not reported twice.
        if node.inputs.iter().any(|i| {
            !i.is_empty() && !im.symbols.contains_key(i) && !graph.undecodable.contains_key(i)
        }) && !unsupported.is_empty()
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
                im.symbols
                    .insert(node.outputs[0].clone(), Symbol::Variable { id, shape });
            }
            Ok(Built::OutputTransform {
                id,
                shape,
                transform: t,
            }) => {
                transform = t;
                im.symbols
                    .insert(node.outputs[0].clone(), Symbol::Variable { id, shape });
            }
            Ok(Built::Ops { ops, inputs, shape }) => {
                let mut inputs = inputs;
                for op in ops {
                    debug_assert_eq!(op.output_size(), numel(&shape));
                    im.nodes.push(Node {
                        name: node.name.clone(),
                        source_op: node.op_type.clone(),
                        op,
                        inputs,
                    });
                    inputs = vec![im.nodes.len()];
                }
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
    let output = match im.symbols.get(&certified) {
        Some(Symbol::Variable { id, shape }) if shape.len() == 2 => *id,
        Some(Symbol::Variable { shape, .. }) => {
            return Err(structural(format!(
                "output `{certified}` has shape {shape:?}; class scores [batch, C] are needed"
            )));
        }
        _ => {
            return Err(structural(format!(
                "output `{certified}` does not depend on the input"
            )));
        }
    };
    Ok(Graph {
        input_name: input.name.clone(),
        input_size: im.input_size,
        nodes: im.nodes,
        output,
        output_transform: transform,
    })
}
