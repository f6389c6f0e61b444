//! ONNX import: decodes `.onnx` files into the protobuf-free [`OnnxGraph`] and writes small
//! models for tests ([`ModelBuilder`]).
//!
//! This module only translates the file format; nothing outside it sees protobuf types, and
//! the intermediate representation never depends on it.

pub mod batch;
mod graph;
pub mod import;
mod proto;
mod writer;

pub use graph::{
    Attribute, Dim, ElemType, Node, OnnxGraph, Tensor, TensorData, ValueInfo, decode, load,
};
pub use writer::ModelBuilder;

/// `metadata_props` key under which a model lists its input features, in input order, as a JSON
/// array of names: robcert matches data columns to the model by these names.
pub const FEATURES_KEY: &str = "robcert.features";

/// `metadata_props` key for the class names, in output order, as a JSON array.
pub const CLASSES_KEY: &str = "robcert.classes";
