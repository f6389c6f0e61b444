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
