//! Protobuf-free view of an ONNX model: what the rest of robcert reads instead of `proto`.
//!
//! `decode` translates only; it does not check operator semantics or shapes. Its guarantees:
//! every tensor it returns holds exactly `product(dims)` elements, `Constant` nodes are folded
//! into `initializers`, and `inputs` lists only the graph inputs that are not initializers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use prost::Message;

use super::proto::{self, attribute_type, data_type};
use crate::error::{Error, Result};

/// A decoded ONNX model graph.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxGraph {
    /// The file the graph was read from (used in error messages).
    pub path: PathBuf,
    /// Opset version of the default ONNX domain (`""` or `"ai.onnx"`); 0 when the model imports
    /// no default-domain opset and has no default-domain nodes.
    pub opset: i64,
    /// Graph inputs that are not initializers, in file order.
    pub inputs: Vec<ValueInfo>,
    /// Graph outputs, in file order.
    pub outputs: Vec<ValueInfo>,
    /// Initializers plus the folded outputs of `Constant` nodes, by name.
    pub initializers: BTreeMap<String, Tensor>,
    /// Initializers robcert cannot represent (e.g. FLOAT16 or UINT8 tensors), by name, with the
    /// reason: a model that never uses them in the part robcert reads still imports; one that
    /// does gets the reason in its error.
    pub undecodable: BTreeMap<String, String>,
    /// Nodes in file order, without the `Constant` nodes.
    pub nodes: Vec<Node>,
    /// The model's `metadata_props` (e.g. `robcert.features`), by key.
    pub metadata: BTreeMap<String, String>,
}

/// Name, element type and (if declared) shape of a graph input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    /// `ElemType::Other(0)` when the value has no tensor type (e.g. untyped or a sequence).
    pub elem_type: ElemType,
    /// `None` when the file declares no shape (rank unknown).
    pub shape: Option<Vec<Dim>>,
}

/// One dimension of a declared shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    /// A named dynamic dimension such as the batch size `N`.
    Symbolic(String),
    /// A dimension with neither a value nor a name.
    Unknown,
}

/// ONNX tensor element type (`TensorProto.DataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    F32,
    F64,
    I64,
    I32,
    Bool,
    /// Any other `TensorProto.DataType` code.
    Other(i32),
}

impl ElemType {
    /// The element type for a `TensorProto.DataType` code.
    pub fn from_code(code: i32) -> ElemType {
        match code {
            data_type::FLOAT => ElemType::F32,
            data_type::DOUBLE => ElemType::F64,
            data_type::INT64 => ElemType::I64,
            data_type::INT32 => ElemType::I32,
            data_type::BOOL => ElemType::Bool,
            other => ElemType::Other(other),
        }
    }

    /// The `TensorProto.DataType` code.
    pub fn code(self) -> i32 {
        match self {
            ElemType::F32 => data_type::FLOAT,
            ElemType::F64 => data_type::DOUBLE,
            ElemType::I64 => data_type::INT64,
            ElemType::I32 => data_type::INT32,
            ElemType::Bool => data_type::BOOL,
            ElemType::Other(code) => code,
        }
    }
}

/// Displays the ONNX `TensorProto.DataType` name, e.g. `FLOAT`, `INT64`, `FLOAT16`.
impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.code() {
            data_type::UNDEFINED => "UNDEFINED",
            data_type::FLOAT => "FLOAT",
            data_type::UINT8 => "UINT8",
            data_type::INT8 => "INT8",
            data_type::UINT16 => "UINT16",
            data_type::INT16 => "INT16",
            data_type::INT32 => "INT32",
            data_type::INT64 => "INT64",
            data_type::STRING => "STRING",
            data_type::BOOL => "BOOL",
            data_type::FLOAT16 => "FLOAT16",
            data_type::DOUBLE => "DOUBLE",
            data_type::UINT32 => "UINT32",
            data_type::UINT64 => "UINT64",
            data_type::COMPLEX64 => "COMPLEX64",
            data_type::COMPLEX128 => "COMPLEX128",
            data_type::BFLOAT16 => "BFLOAT16",
            code => return write!(f, "data type {code}"),
        };
        f.write_str(name)
    }
}

/// A dense tensor. Invariant: `data` holds exactly `dims.iter().product()` elements (1 for a
/// scalar with `dims == []`), in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dims: Vec<usize>,
    pub data: TensorData,
}

/// Tensor elements, in the element type of the file.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    Bool(Vec<bool>),
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::Bool(v) => v.len(),
        }
    }

    /// True when the tensor has no elements (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn elem_type(&self) -> ElemType {
        match &self.data {
            TensorData::F32(_) => ElemType::F32,
            TensorData::F64(_) => ElemType::F64,
            TensorData::I64(_) => ElemType::I64,
            TensorData::I32(_) => ElemType::I32,
            TensorData::Bool(_) => ElemType::Bool,
        }
    }

    /// All elements converted to f64 (exact for f32, f64 and i32; i64 beyond 2^53 rounds).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }

    /// All elements as i64 for integer tensors; `None` for floating-point tensors.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        match &self.data {
            TensorData::I64(v) => Some(v.clone()),
            TensorData::I32(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            TensorData::Bool(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            TensorData::F32(_) | TensorData::F64(_) => None,
        }
    }

    /// The value of a one-element tensor (any rank) as f64; `None` otherwise.
    pub fn scalar_f64(&self) -> Option<f64> {
        (self.len() == 1).then(|| self.to_f64()[0])
    }
}

/// A graph node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node's name, or `node#<index>` (index in the file's node list, counting `Constant`
    /// nodes) when the file leaves it empty.
    pub name: String,
    pub op_type: String,
    /// Operator domain; `""` is the default ONNX domain.
    pub domain: String,
    /// Input value names; `""` marks an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: BTreeMap<String, Attribute>,
}

/// A node attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Attribute {
    Float(f32),
    Int(i64),
    /// A `STRING` attribute, decoded as UTF-8 (invalid bytes replaced).
    String(String),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    /// A `STRINGS` attribute, each decoded as UTF-8 (invalid bytes replaced).
    Strings(Vec<String>),
    Tensor(Tensor),
    /// Any other attribute kind (graphs, string lists, ...) or a tensor robcert cannot decode;
    /// holds the ONNX attribute type name, plus the reason for tensors.
    Unsupported(String),
}

impl Node {
    /// The `INT` attribute `name`, or `default` when absent or of another kind.
    pub fn attr_int(&self, name: &str, default: i64) -> i64 {
        match self.attributes.get(name) {
            Some(Attribute::Int(v)) => *v,
            _ => default,
        }
    }

    /// The `FLOAT` attribute `name`, or `default` when absent or of another kind.
    pub fn attr_float(&self, name: &str, default: f32) -> f32 {
        match self.attributes.get(name) {
            Some(Attribute::Float(v)) => *v,
            _ => default,
        }
    }

    /// The `INTS` attribute `name`; `None` when absent or of another kind.
    pub fn attr_ints(&self, name: &str) -> Option<Vec<i64>> {
        match self.attributes.get(name) {
            Some(Attribute::Ints(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// The `STRING` attribute `name`; `None` when absent or of another kind.
    pub fn attr_string(&self, name: &str) -> Option<String> {
        match self.attributes.get(name) {
            Some(Attribute::String(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// The `TENSOR` attribute `name`; `None` when absent or of another kind.
    pub fn attr_tensor(&self, name: &str) -> Option<&Tensor> {
        match self.attributes.get(name) {
            Some(Attribute::Tensor(t)) => Some(t),
            _ => None,
        }
    }
}

/// Reads and decodes the ONNX file at `path` (see [`decode`]).
pub fn load(path: &Path) -> Result<OnnxGraph> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(path, &bytes)
}

/// Decodes the bytes of an ONNX model; `path` is only used in the graph and in messages.
///
/// Errors: [`Error::OnnxDecode`] when the bytes are not a protobuf `ModelProto` (corrupt,
/// truncated) or decode to a message with neither an IR version nor a graph (not ONNX);
/// [`Error::OnnxGraph`] for structural problems: no graph, a tensor with missing, external or
/// wrongly sized data or an unsupported element type, a malformed `Constant` node, duplicate
/// initializer names, a negative dimension.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<OnnxGraph> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| Error::OnnxDecode {
        path: path.to_path_buf(),
        message: format!("the file is corrupt, truncated or not an ONNX model ({e})"),
    })?;
    let graph_error = |message: String| Error::OnnxGraph {
        path: path.to_path_buf(),
        message,
    };
    let Some(graph) = model.graph else {
        if model.ir_version == 0 && model.opset_import.is_empty() {
            return Err(Error::OnnxDecode {
                path: path.to_path_buf(),
                message: "not an ONNX model (no IR version, opset or graph)".into(),
            });
        }
        return Err(graph_error("the ONNX model has no graph".into()));
    };

    let mut initializers = BTreeMap::new();
    let mut undecodable = BTreeMap::new();
    for tensor in &graph.initializer {
        if tensor.name.is_empty() {
            return Err(graph_error("an initializer has no name".into()));
        }
        if let Some(why) = unrepresentable(tensor) {
            if undecodable.insert(tensor.name.clone(), why).is_some()
                || initializers.contains_key(&tensor.name)
            {
                return Err(graph_error(format!(
                    "initializer `{}` is defined twice",
                    tensor.name
                )));
            }
            continue;
        }
        let value = convert_tensor(tensor, &tensor.name).map_err(graph_error)?;
        if undecodable.contains_key(&tensor.name)
            || initializers.insert(tensor.name.clone(), value).is_some()
        {
            return Err(graph_error(format!(
                "initializer `{}` is defined twice",
                tensor.name
            )));
        }
    }
    let initializer_names: BTreeSet<String> = initializers.keys().cloned().collect();

    let mut nodes = Vec::with_capacity(graph.node.len());
    for (index, node) in graph.node.iter().enumerate() {
        let name = if node.name.is_empty() {
            format!("node#{index}")
        } else {
            node.name.clone()
        };
        if node.op_type == "Constant" && is_default_domain(&node.domain) {
            let (output, value) = fold_constant(node, &name).map_err(graph_error)?;
            if initializers.insert(output.clone(), value).is_some() {
                return Err(graph_error(format!(
                    "Constant node `{name}` redefines initializer `{output}`"
                )));
            }
            continue;
        }
        let attributes = node
            .attribute
            .iter()
            .map(|a| (a.name.clone(), convert_attribute(a)))
            .collect();
        nodes.push(Node {
            name,
            op_type: node.op_type.clone(),
            domain: node.domain.clone(),
            inputs: node.input.clone(),
            outputs: node.output.clone(),
            attributes,
        });
    }

    let opset = model
        .opset_import
        .iter()
        .find(|o| is_default_domain(&o.domain))
        .map(|o| o.version);
    let opset = match opset {
        Some(version) => version,
        None if graph.node.iter().any(|n| is_default_domain(&n.domain)) => {
            return Err(graph_error(
                "the model imports no opset for the default ONNX domain".into(),
            ));
        }
        None => 0,
    };

    let inputs = graph
        .input
        .iter()
        .filter(|v| !initializer_names.contains(&v.name))
        .map(convert_value_info)
        .collect::<Result<Vec<_>, String>>()
        .map_err(graph_error)?;
    let outputs = graph
        .output
        .iter()
        .map(convert_value_info)
        .collect::<Result<Vec<_>, String>>()
        .map_err(graph_error)?;

    Ok(OnnxGraph {
        path: path.to_path_buf(),
        opset,
        inputs,
        outputs,
        initializers,
        undecodable,
        nodes,
        metadata: model
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect(),
    })
}

fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

fn convert_value_info(info: &proto::ValueInfoProto) -> Result<ValueInfo, String> {
    let tensor_type = info.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
    let elem_type = ElemType::from_code(tensor_type.map_or(data_type::UNDEFINED, |t| t.elem_type));
    let shape = match tensor_type.and_then(|t| t.shape.as_ref()) {
        None => None,
        Some(shape) => Some(
            shape
                .dim
                .iter()
                .map(|d| match &d.value {
                    Some(proto::DimensionValue::DimValue(v)) => usize::try_from(*v)
                        .map(Dim::Fixed)
                        .map_err(|_| format!("value `{}` has a negative dimension {v}", info.name)),
                    Some(proto::DimensionValue::DimParam(p)) if !p.is_empty() => {
                        Ok(Dim::Symbolic(p.clone()))
                    }
                    _ => Ok(Dim::Unknown),
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
    };
    Ok(ValueInfo {
        name: info.name.clone(),
        elem_type,
        shape,
    })
}

/// Why robcert cannot represent a tensor that is otherwise well formed (an element type it does
/// not read, or data stored outside the file); `None` when it can.
fn unrepresentable(tensor: &proto::TensorProto) -> Option<String> {
    if tensor.data_location == proto::DATA_LOCATION_EXTERNAL || !tensor.external_data.is_empty() {
        return Some("its data is stored outside the ONNX file (external data)".into());
    }
    match ElemType::from_code(tensor.data_type) {
        ElemType::F32 | ElemType::F64 | ElemType::I64 | ElemType::I32 | ElemType::Bool => None,
        other => Some(format!(
            "element type {other} is not supported by robcert (FLOAT, DOUBLE, INT32, INT64, BOOL)"
        )),
    }
}

/// Converts a `TensorProto`; `label` names it in error messages.
fn convert_tensor(tensor: &proto::TensorProto, label: &str) -> Result<Tensor, String> {
    if tensor.data_location == proto::DATA_LOCATION_EXTERNAL || !tensor.external_data.is_empty() {
        return Err(format!(
            "external tensor data is not supported: tensor `{label}`"
        ));
    }
    let dims = tensor
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| format!("tensor `{label}` has a negative dimension {d}"))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("tensor `{label}` has too many elements (dims {dims:?})"))?;
    let raw = &tensor.raw_data;
    let data = match ElemType::from_code(tensor.data_type) {
        ElemType::F32 if !raw.is_empty() => {
            TensorData::F32(from_le(raw, label, f32::from_le_bytes)?)
        }
        ElemType::F64 if !raw.is_empty() => {
            TensorData::F64(from_le(raw, label, f64::from_le_bytes)?)
        }
        ElemType::I64 if !raw.is_empty() => {
            TensorData::I64(from_le(raw, label, i64::from_le_bytes)?)
        }
        ElemType::I32 if !raw.is_empty() => {
            TensorData::I32(from_le(raw, label, i32::from_le_bytes)?)
        }
        ElemType::Bool if !raw.is_empty() => {
            TensorData::Bool(raw.iter().map(|&b| b != 0).collect())
        }
        ElemType::Bool => TensorData::Bool(tensor.int32_data.iter().map(|&b| b != 0).collect()),
        ElemType::F32 => TensorData::F32(tensor.float_data.clone()),
        ElemType::F64 => TensorData::F64(tensor.double_data.clone()),
        ElemType::I64 => TensorData::I64(tensor.int64_data.clone()),
        ElemType::I32 => TensorData::I32(tensor.int32_data.clone()),
        ElemType::Other(data_type::FLOAT16) | ElemType::Other(data_type::BFLOAT16) => {
            return Err(format!(
                "tensor `{label}` has element type {}, which robcert does not support \
                 (export the model with float32 weights)",
                ElemType::from_code(tensor.data_type)
            ));
        }
        other => {
            return Err(format!(
                "tensor `{label}` has element type {other}, which robcert does not support \
                 (supported: FLOAT, DOUBLE, INT32, INT64, BOOL)"
            ));
        }
    };
    let value = Tensor { dims, data };
    if value.len() != count {
        if value.is_empty() {
            return Err(format!(
                "tensor `{label}` has no data (expected {count} elements for dims {:?})",
                value.dims
            ));
        }
        return Err(format!(
            "tensor `{label}` holds {} elements but its dims {:?} require {count}",
            value.len(),
            value.dims
        ));
    }
    Ok(value)
}

/// Splits little-endian `raw_data` into `N`-byte elements.
fn from_le<T, const N: usize>(
    raw: &[u8],
    label: &str,
    convert: fn([u8; N]) -> T,
) -> Result<Vec<T>, String> {
    if !raw.len().is_multiple_of(N) {
        return Err(format!(
            "tensor `{label}` has {} bytes of raw data, not a multiple of the element size {N}",
            raw.len()
        ));
    }
    Ok(raw
        .chunks_exact(N)
        .map(|c| convert(c.try_into().expect("chunks_exact yields N bytes")))
        .collect())
}

fn attribute_type_name(code: i32) -> String {
    let name = match code {
        attribute_type::UNDEFINED => "UNDEFINED",
        attribute_type::FLOAT => "FLOAT",
        attribute_type::INT => "INT",
        attribute_type::STRING => "STRING",
        attribute_type::TENSOR => "TENSOR",
        attribute_type::GRAPH => "GRAPH",
        attribute_type::FLOATS => "FLOATS",
        attribute_type::INTS => "INTS",
        attribute_type::STRINGS => "STRINGS",
        attribute_type::TENSORS => "TENSORS",
        attribute_type::GRAPHS => "GRAPHS",
        attribute_type::SPARSE_TENSOR => "SPARSE_TENSOR",
        attribute_type::SPARSE_TENSORS => "SPARSE_TENSORS",
        attribute_type::TYPE_PROTO => "TYPE_PROTO",
        attribute_type::TYPE_PROTOS => "TYPE_PROTOS",
        other => return format!("attribute type {other}"),
    };
    name.to_string()
}

/// Converts an attribute. Files from IR version 1 may leave `type` unset; then the kind is
/// inferred from which payload field is filled (a scalar 0 or "" is indistinguishable from
/// absent and reads as `Unsupported("UNDEFINED")`).
fn convert_attribute(attr: &proto::AttributeProto) -> Attribute {
    let kind = match attr.r#type {
        attribute_type::UNDEFINED if attr.t.is_some() => attribute_type::TENSOR,
        attribute_type::UNDEFINED if !attr.floats.is_empty() => attribute_type::FLOATS,
        attribute_type::UNDEFINED if !attr.ints.is_empty() => attribute_type::INTS,
        attribute_type::UNDEFINED if !attr.s.is_empty() => attribute_type::STRING,
        attribute_type::UNDEFINED if attr.f != 0.0 => attribute_type::FLOAT,
        attribute_type::UNDEFINED if attr.i != 0 => attribute_type::INT,
        kind => kind,
    };
    match kind {
        attribute_type::FLOAT => Attribute::Float(attr.f),
        attribute_type::INT => Attribute::Int(attr.i),
        attribute_type::STRING => Attribute::String(String::from_utf8_lossy(&attr.s).into_owned()),
        attribute_type::FLOATS => Attribute::Floats(attr.floats.clone()),
        attribute_type::INTS => Attribute::Ints(attr.ints.clone()),
        attribute_type::STRINGS => Attribute::Strings(
            attr.strings
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
        ),
        attribute_type::TENSOR => {
            let label = match attr.t.as_ref() {
                Some(t) if !t.name.is_empty() => t.name.clone(),
                _ => format!("attribute {}", attr.name),
            };
            match attr.t.as_ref().map(|t| convert_tensor(t, &label)) {
                Some(Ok(tensor)) => Attribute::Tensor(tensor),
                Some(Err(why)) => Attribute::Unsupported(format!("TENSOR ({why})")),
                None => Attribute::Unsupported("TENSOR (no tensor value)".into()),
            }
        }
        other => Attribute::Unsupported(attribute_type_name(other)),
    }
}

/// The (output name, value) of a default-domain `Constant` node; `name` is the node's name.
fn fold_constant(node: &proto::NodeProto, name: &str) -> Result<(String, Tensor), String> {
    let output = match node.output.as_slice() {
        [output] if !output.is_empty() => output.clone(),
        _ => {
            return Err(format!(
                "Constant node `{name}` must have exactly one output"
            ));
        }
    };
    let [attr] = node.attribute.as_slice() else {
        return Err(format!(
            "Constant node `{name}` must have exactly one value attribute, found {}",
            node.attribute.len()
        ));
    };
    let value = match (attr.name.as_str(), convert_attribute(attr)) {
        ("value", Attribute::Tensor(_)) => {
            let tensor = attr.t.as_ref().expect("a TENSOR attribute has a tensor");
            convert_tensor(tensor, &output)?
        }
        ("value", Attribute::Unsupported(why)) => {
            return Err(format!("Constant node `{name}`: {why}"));
        }
        ("value_float", Attribute::Float(v)) => Tensor {
            dims: vec![],
            data: TensorData::F32(vec![v]),
        },
        ("value_floats", Attribute::Floats(v)) => Tensor {
            dims: vec![v.len()],
            data: TensorData::F32(v),
        },
        ("value_int", Attribute::Int(v)) => Tensor {
            dims: vec![],
            data: TensorData::I64(vec![v]),
        },
        ("value_ints", Attribute::Ints(v)) => Tensor {
            dims: vec![v.len()],
            data: TensorData::I64(v),
        },
        (other, _) => {
            return Err(format!(
                "Constant node `{name}`: attribute `{other}` of type {} is not supported \
                 (supported: value, value_float, value_floats, value_int, value_ints)",
                attribute_type_name(attr.r#type)
            ));
        }
    };
    Ok((output, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::ModelBuilder;

    fn f32_tensor(name: &str, dims: &[i64]) -> proto::TensorProto {
        proto::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: data_type::FLOAT,
            ..Default::default()
        }
    }

    fn model_with(graph: proto::GraphProto) -> Vec<u8> {
        proto::ModelProto {
            ir_version: 3,
            opset_import: vec![proto::OperatorSetIdProto {
                domain: String::new(),
                version: 8,
            }],
            graph: Some(graph),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn graph_message(result: Result<OnnxGraph>) -> String {
        match result {
            Err(Error::OnnxGraph { message, .. }) => message,
            other => panic!("expected Error::OnnxGraph, got {other:?}"),
        }
    }

    #[test]
    fn raw_and_typed_tensor_data_decode_to_the_same_values() {
        let values = [1.5f32, -2.0, 0.25, 3.0, 0.0, -0.5];
        let mut typed = f32_tensor("t", &[2, 3]);
        typed.float_data = values.to_vec();
        let mut raw = f32_tensor("t", &[2, 3]);
        raw.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let expected = Tensor {
            dims: vec![2, 3],
            data: TensorData::F32(values.to_vec()),
        };
        assert_eq!(convert_tensor(&typed, "t").unwrap(), expected);
        assert_eq!(convert_tensor(&raw, "t").unwrap(), expected);

        let mut ints = proto::TensorProto {
            dims: vec![3],
            data_type: data_type::INT64,
            ..Default::default()
        };
        ints.raw_data = [-1i64, 0, 1 << 40]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let t = convert_tensor(&ints, "i").unwrap();
        assert_eq!(t.to_i64(), Some(vec![-1, 0, 1 << 40]));
        assert_eq!(t.scalar_f64(), None);

        let mut doubles = proto::TensorProto {
            data_type: data_type::DOUBLE,
            double_data: vec![0.1],
            ..Default::default()
        };
        assert_eq!(
            convert_tensor(&doubles, "d").unwrap().scalar_f64(),
            Some(0.1)
        );
        doubles.double_data.clear();
        doubles.raw_data = 0.1f64.to_le_bytes().to_vec();
        assert_eq!(
            convert_tensor(&doubles, "d").unwrap().scalar_f64(),
            Some(0.1)
        );
        let int32 = proto::TensorProto {
            dims: vec![2],
            data_type: data_type::INT32,
            int32_data: vec![7, -7],
            ..Default::default()
        };
        let t = convert_tensor(&int32, "i32").unwrap();
        assert_eq!(
            (t.to_i64(), t.to_f64()),
            (Some(vec![7, -7]), vec![7.0, -7.0])
        );
    }

    #[test]
    fn a_tensor_whose_element_count_differs_from_its_dims_is_rejected_by_name() {
        let mut t = f32_tensor("W1", &[2, 3]);
        t.float_data = vec![1.0; 5];
        let e = convert_tensor(&t, "W1").unwrap_err();
        assert!(e.contains("`W1`") && e.contains("5 elements"), "{e}");

        t.float_data.clear();
        t.raw_data = vec![0; 7 * 4];
        assert!(convert_tensor(&t, "W1").unwrap_err().contains("`W1`"));
        t.raw_data = vec![0; 6 * 4 + 1];
        assert!(convert_tensor(&t, "W1").unwrap_err().contains("multiple"));

        t.raw_data.clear();
        let e = convert_tensor(&t, "W1").unwrap_err();
        assert!(e.contains("no data"), "{e}");

        let empty = f32_tensor("e", &[0, 4]);
        assert!(convert_tensor(&empty, "e").unwrap().is_empty());
    }

    #[test]
    fn external_float16_and_string_tensors_give_clear_errors() {
        // Initializers robcert cannot represent do not stop decoding: they are listed with the
        // reason, which an import that reads them reports.
        let mut t = f32_tensor("big", &[2]);
        t.data_location = proto::DATA_LOCATION_EXTERNAL;
        let mut half_init = f32_tensor("half", &[1]);
        half_init.data_type = data_type::FLOAT16;
        half_init.int32_data = vec![0x3c00];
        let bytes = model_with(proto::GraphProto {
            initializer: vec![t, half_init],
            ..Default::default()
        });
        let g = decode(Path::new("m.onnx"), &bytes).unwrap();
        assert!(g.initializers.is_empty());
        assert!(g.undecodable["big"].contains("external data"), "{g:?}");
        assert!(g.undecodable["half"].contains("FLOAT16"), "{g:?}");

        let half = proto::TensorProto {
            name: "h".into(),
            dims: vec![1],
            data_type: data_type::FLOAT16,
            int32_data: vec![0x3c00],
            ..Default::default()
        };
        let e = convert_tensor(&half, "h").unwrap_err();
        assert!(e.contains("`h`") && e.contains("FLOAT16"), "{e}");

        let strings = proto::TensorProto {
            data_type: data_type::STRING,
            ..Default::default()
        };
        assert!(
            convert_tensor(&strings, "s")
                .unwrap_err()
                .contains("STRING")
        );
    }

    #[test]
    fn initializers_listed_as_graph_inputs_are_not_inputs() {
        let mut w = f32_tensor("W", &[2]);
        w.float_data = vec![1.0, 2.0];
        let info = |name: &str| proto::ValueInfoProto {
            name: name.into(),
            r#type: Some(proto::TypeProto {
                tensor_type: Some(proto::TensorTypeProto {
                    elem_type: data_type::FLOAT,
                    shape: Some(proto::TensorShapeProto {
                        dim: vec![
                            proto::DimensionProto {
                                value: Some(proto::DimensionValue::DimParam("batch".into())),
                            },
                            proto::DimensionProto { value: None },
                            proto::DimensionProto {
                                value: Some(proto::DimensionValue::DimValue(2)),
                            },
                        ],
                    }),
                }),
            }),
        };
        let bytes = model_with(proto::GraphProto {
            node: vec![proto::NodeProto {
                input: vec!["x".into(), "W".into()],
                output: vec!["y".into()],
                op_type: "Add".into(),
                ..Default::default()
            }],
            initializer: vec![w],
            input: vec![info("W"), info("x")],
            output: vec![proto::ValueInfoProto {
                name: "y".into(),
                r#type: None,
            }],
            ..Default::default()
        });
        let g = decode(Path::new("m.onnx"), &bytes).unwrap();
        assert_eq!(g.opset, 8);
        assert_eq!(g.inputs.len(), 1);
        assert_eq!(g.inputs[0].name, "x");
        assert_eq!(
            g.inputs[0].shape,
            Some(vec![
                Dim::Symbolic("batch".into()),
                Dim::Unknown,
                Dim::Fixed(2)
            ])
        );
        assert_eq!(g.outputs[0].elem_type, ElemType::Other(0));
        assert_eq!(g.outputs[0].shape, None);
        assert_eq!(g.nodes[0].name, "node#0");
    }

    #[test]
    fn every_constant_form_is_folded_into_initializers() {
        let t = Tensor {
            dims: vec![2, 1],
            data: TensorData::F32(vec![3.0, 4.0]),
        };
        let bytes = ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, Some(1)])
            .output("y", &[None, Some(1)])
            .node(
                "Constant",
                &[],
                &["c_t"],
                vec![("value", Attribute::Tensor(t.clone()))],
            )
            .node(
                "Constant",
                &[],
                &["c_f"],
                vec![("value_float", Attribute::Float(0.5))],
            )
            .node(
                "Constant",
                &[],
                &["c_fs"],
                vec![("value_floats", Attribute::Floats(vec![1.0, 2.0]))],
            )
            .node(
                "Constant",
                &[],
                &["c_i"],
                vec![("value_int", Attribute::Int(0))],
            )
            .node(
                "Constant",
                &[],
                &["c_is"],
                vec![("value_ints", Attribute::Ints(vec![-1, 5]))],
            )
            .node("Mul", &["x", "c_f"], &["y"], vec![])
            .encode();
        let g = decode(Path::new("c.onnx"), &bytes).unwrap();
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].name, "n5");
        assert_eq!(g.initializers["c_t"], t);
        assert_eq!(g.initializers["c_f"].dims, Vec::<usize>::new());
        assert_eq!(g.initializers["c_f"].scalar_f64(), Some(0.5));
        assert_eq!(g.initializers["c_fs"].to_f64(), vec![1.0, 2.0]);
        assert_eq!(g.initializers["c_i"].to_i64(), Some(vec![0]));
        assert_eq!(g.initializers["c_is"].dims, vec![2]);
        assert_eq!(g.initializers["c_is"].to_i64(), Some(vec![-1, 5]));

        let bad = ModelBuilder::new(17)
            .node(
                "Constant",
                &[],
                &["s"],
                vec![("value_string", Attribute::String("a".into()))],
            )
            .encode();
        let e = graph_message(decode(Path::new("c.onnx"), &bad));
        assert!(e.contains("`n0`") && e.contains("value_string"), "{e}");
    }

    #[test]
    fn attributes_round_trip_and_accessors_fall_back_to_defaults() {
        let bytes = ModelBuilder::new(17)
            .named_node(
                "",
                "Custom",
                &["x", "", "z"],
                &["y"],
                vec![
                    ("alpha", Attribute::Float(0.0)),
                    ("axis", Attribute::Int(-1)),
                    ("mode", Attribute::String("constant".into())),
                    ("pads", Attribute::Ints(vec![0, 1])),
                    ("scales", Attribute::Floats(vec![])),
                ],
            )
            .encode();
        let g = decode(Path::new("a.onnx"), &bytes).unwrap();
        let n = &g.nodes[0];
        assert_eq!(n.name, "node#0");
        assert_eq!(n.inputs, ["x", "", "z"]);
        assert_eq!(n.attributes["alpha"], Attribute::Float(0.0));
        assert_eq!(n.attributes["scales"], Attribute::Floats(vec![]));
        assert_eq!(n.attr_float("alpha", 1.0), 0.0);
        assert_eq!(n.attr_float("beta", 1.0), 1.0);
        assert_eq!(n.attr_int("axis", 0), -1);
        assert_eq!(n.attr_int("mode", 7), 7);
        assert_eq!(n.attr_string("mode").as_deref(), Some("constant"));
        assert_eq!(n.attr_ints("pads"), Some(vec![0, 1]));
        assert_eq!(n.attr_ints("axis"), None);
        assert!(n.attr_tensor("pads").is_none());
    }

    #[test]
    fn graph_and_subgraph_attributes_are_reported_as_unsupported() {
        let attr = proto::AttributeProto {
            name: "then_branch".into(),
            r#type: attribute_type::GRAPH,
            ..Default::default()
        };
        assert_eq!(
            convert_attribute(&attr),
            Attribute::Unsupported("GRAPH".into())
        );
    }

    #[test]
    fn messages_without_a_graph_are_rejected() {
        let e = decode(Path::new("empty.onnx"), &[]).unwrap_err();
        assert!(matches!(e, Error::OnnxDecode { .. }), "{e}");
        let no_graph = proto::ModelProto {
            ir_version: 8,
            ..Default::default()
        }
        .encode_to_vec();
        let e = graph_message(decode(Path::new("g.onnx"), &no_graph));
        assert!(e.contains("no graph"), "{e}");
    }

    #[test]
    fn elem_type_displays_the_onnx_name() {
        assert_eq!(ElemType::F32.to_string(), "FLOAT");
        assert_eq!(ElemType::I64.to_string(), "INT64");
        assert_eq!(ElemType::from_code(10).to_string(), "FLOAT16");
        assert_eq!(ElemType::from_code(99).to_string(), "data type 99");
        for code in 0..20 {
            assert_eq!(ElemType::from_code(code).code(), code);
        }
    }
}
