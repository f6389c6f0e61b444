//! A small builder for ONNX models, used by tests to generate networks and run them through
//! ONNX Runtime. It writes what it is told: no shape inference, no validation of op semantics.

use prost::Message;

use super::graph::{Attribute, ElemType, Tensor, TensorData};
use super::proto::{self, attribute_type, data_type};

/// IR version written by [`ModelBuilder::encode`] (ONNX 1.10+, loadable by ONNX Runtime ≥ 1.10).
const IR_VERSION: i64 = 8;

/// Name of the symbolic dimension written for `None` in input and output shapes.
const SYMBOLIC_DIM: &str = "N";

/// Builds an ONNX model in memory.
///
/// ```
/// use robcert::onnx::{Attribute, ElemType, ModelBuilder};
/// let bytes = ModelBuilder::new(17)
///     .input("x", ElemType::F32, &[None, Some(2)])
///     .output("y", &[None, Some(1)])
///     .initializer("W", &[1, 2], &[0.5, -1.0])
///     .node("Gemm", &["x", "W"], &["y"], vec![("transB", Attribute::Int(1))])
///     .encode();
/// assert!(!bytes.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    opset: i64,
    /// Operator sets of other domains, as (domain, version), in the order they were added.
    domain_opsets: Vec<(String, i64)>,
    /// `metadata_props` of the model, in the order they were added.
    metadata: Vec<(String, String)>,
    graph: proto::GraphProto,
}

impl ModelBuilder {
    /// An empty model importing `opset` of the default ONNX domain.
    pub fn new(opset: i64) -> ModelBuilder {
        ModelBuilder {
            opset,
            domain_opsets: Vec::new(),
            metadata: Vec::new(),
            graph: proto::GraphProto {
                name: "robcert".into(),
                ..Default::default()
            },
        }
    }

    /// Adds a `metadata_props` entry (e.g. `robcert.features`).
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Records the model's feature order under `robcert.features` (a JSON array of names).
    pub fn feature_names(self, names: &[&str]) -> Self {
        let json = serde_json::to_string(names).expect("strings serialise");
        self.metadata(crate::onnx::FEATURES_KEY, &json)
    }

    /// Adds a graph input; `None` dimensions are written as the symbolic dimension `N`.
    pub fn input(mut self, name: &str, elem: ElemType, dims: &[Option<usize>]) -> Self {
        self.graph.input.push(value_info(name, elem, dims));
        self
    }

    /// Adds a float32 graph output; `None` dimensions are written as the symbolic dimension `N`.
    pub fn output(self, name: &str, dims: &[Option<usize>]) -> Self {
        self.typed_output(name, ElemType::F32, dims)
    }

    /// Adds a graph output of element type `elem`.
    pub fn typed_output(mut self, name: &str, elem: ElemType, dims: &[Option<usize>]) -> Self {
        self.graph.output.push(value_info(name, elem, dims));
        self
    }

    /// Adds a float32 initializer stored as little-endian `raw_data`.
    ///
    /// # Panics
    /// When `values.len()` differs from the product of `dims`.
    pub fn initializer(mut self, name: &str, dims: &[usize], values: &[f32]) -> Self {
        let tensor = Tensor {
            dims: dims.to_vec(),
            data: TensorData::F32(values.to_vec()),
        };
        self.graph.initializer.push(tensor_proto(name, &tensor));
        self
    }

    /// Adds an initializer of any supported element type, stored as `raw_data`.
    ///
    /// # Panics
    /// When the tensor's element count differs from the product of its dims.
    pub fn tensor_initializer(mut self, name: &str, tensor: &Tensor) -> Self {
        self.graph.initializer.push(tensor_proto(name, tensor));
        self
    }

    /// Adds a default-domain node named `n<k>`, where k counts the nodes added so far.
    ///
    /// # Panics
    /// When an attribute is [`Attribute::Unsupported`] or holds an inconsistent tensor.
    pub fn node(
        self,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<(&str, Attribute)>,
    ) -> Self {
        let name = format!("n{}", self.graph.node.len());
        self.named_node(&name, op_type, inputs, outputs, attributes)
    }

    /// Adds a default-domain node with the given name (may be empty).
    ///
    /// # Panics
    /// As [`ModelBuilder::node`].
    pub fn named_node(
        self,
        name: &str,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<(&str, Attribute)>,
    ) -> Self {
        self.push_node(name, "", op_type, inputs, outputs, attributes)
    }

    /// Imports version `version` of the operator set `domain` (e.g. `ai.robcert` 1), next to the
    /// default ONNX domain. Nodes of that domain are added with [`ModelBuilder::domain_node`].
    pub fn opset_import(mut self, domain: &str, version: i64) -> Self {
        self.domain_opsets.push((domain.into(), version));
        self
    }

    /// Adds a node of operator `op_type` from the operator set `domain`, named `n<k>` like
    /// [`ModelBuilder::node`]. The model must import the domain ([`ModelBuilder::opset_import`]);
    /// ONNX Runtime refuses the model otherwise.
    ///
    /// ```
    /// use robcert::onnx::{Attribute, ElemType, ModelBuilder};
    /// let bytes = ModelBuilder::new(17)
    ///     .opset_import("ai.robcert", 1)
    ///     .input("x", ElemType::F32, &[None, Some(4)])
    ///     .input("edge_index", ElemType::I64, &[Some(2), None])
    ///     .output("y", &[None, Some(4)])
    ///     .domain_node("ai.robcert", "TrimmedMeanAggregate", &["x", "edge_index"], &["y"],
    ///                  vec![("trim", Attribute::Int(1))])
    ///     .encode();
    /// assert!(!bytes.is_empty());
    /// ```
    ///
    /// # Panics
    /// As [`ModelBuilder::node`].
    pub fn domain_node(
        self,
        domain: &str,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<(&str, Attribute)>,
    ) -> Self {
        let name = format!("n{}", self.graph.node.len());
        self.push_node(&name, domain, op_type, inputs, outputs, attributes)
    }

    fn push_node(
        mut self,
        name: &str,
        domain: &str,
        op_type: &str,
        inputs: &[&str],
        outputs: &[&str],
        attributes: Vec<(&str, Attribute)>,
    ) -> Self {
        self.graph.node.push(proto::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: name.into(),
            op_type: op_type.into(),
            attribute: attributes
                .into_iter()
                .map(|(name, value)| attribute_proto(name, value))
                .collect(),
            domain: domain.into(),
        });
        self
    }

    /// The serialized `ModelProto` (IR version 8, producer `robcert`).
    pub fn encode(&self) -> Vec<u8> {
        let default_opset = proto::OperatorSetIdProto {
            domain: String::new(),
            version: self.opset,
        };
        let domain_opsets =
            self.domain_opsets
                .iter()
                .map(|(domain, version)| proto::OperatorSetIdProto {
                    domain: domain.clone(),
                    version: *version,
                });
        proto::ModelProto {
            ir_version: IR_VERSION,
            producer_name: "robcert".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(self.graph.clone()),
            opset_import: std::iter::once(default_opset)
                .chain(domain_opsets)
                .collect(),
            metadata_props: self
                .metadata
                .iter()
                .map(|(key, value)| proto::StringStringEntryProto {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        }
        .encode_to_vec()
    }
}

fn value_info(name: &str, elem: ElemType, dims: &[Option<usize>]) -> proto::ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| proto::DimensionProto {
            value: Some(match d {
                Some(size) => proto::DimensionValue::DimValue(to_i64(*size)),
                None => proto::DimensionValue::DimParam(SYMBOLIC_DIM.into()),
            }),
        })
        .collect();
    proto::ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto {
            tensor_type: Some(proto::TensorTypeProto {
                elem_type: elem.code(),
                shape: Some(proto::TensorShapeProto { dim }),
            }),
        }),
    }
}

fn to_i64(size: usize) -> i64 {
    i64::try_from(size).expect("dimension fits in i64")
}

fn tensor_proto(name: &str, tensor: &Tensor) -> proto::TensorProto {
    let expected: usize = tensor.dims.iter().product();
    assert_eq!(
        tensor.len(),
        expected,
        "tensor `{name}`: {} values for dims {:?}",
        tensor.len(),
        tensor.dims
    );
    let (code, raw_data) = match &tensor.data {
        TensorData::F32(v) => (data_type::FLOAT, le_bytes(v, |x| x.to_le_bytes())),
        TensorData::F64(v) => (data_type::DOUBLE, le_bytes(v, |x| x.to_le_bytes())),
        TensorData::I64(v) => (data_type::INT64, le_bytes(v, |x| x.to_le_bytes())),
        TensorData::I32(v) => (data_type::INT32, le_bytes(v, |x| x.to_le_bytes())),
        TensorData::Bool(v) => (data_type::BOOL, v.iter().map(|&b| u8::from(b)).collect()),
    };
    proto::TensorProto {
        dims: tensor.dims.iter().map(|&d| to_i64(d)).collect(),
        data_type: code,
        name: name.into(),
        raw_data,
        ..Default::default()
    }
}

fn le_bytes<T: Copy, const N: usize>(values: &[T], bytes: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&x| bytes(x)).collect()
}

fn attribute_proto(name: &str, value: Attribute) -> proto::AttributeProto {
    let mut attr = proto::AttributeProto {
        name: name.into(),
        ..Default::default()
    };
    match value {
        Attribute::Float(v) => (attr.r#type, attr.f) = (attribute_type::FLOAT, v),
        Attribute::Int(v) => (attr.r#type, attr.i) = (attribute_type::INT, v),
        Attribute::String(v) => (attr.r#type, attr.s) = (attribute_type::STRING, v.into_bytes()),
        Attribute::Floats(v) => (attr.r#type, attr.floats) = (attribute_type::FLOATS, v),
        Attribute::Ints(v) => (attr.r#type, attr.ints) = (attribute_type::INTS, v),
        Attribute::Strings(v) => {
            (attr.r#type, attr.strings) = (
                attribute_type::STRINGS,
                v.into_iter().map(String::into_bytes).collect(),
            );
        }
        Attribute::Tensor(t) => {
            (attr.r#type, attr.t) = (attribute_type::TENSOR, Some(tensor_proto("", &t)));
        }
        Attribute::Unsupported(kind) => {
            panic!("attribute `{name}`: cannot write an unsupported attribute ({kind})")
        }
    }
    attr
}
