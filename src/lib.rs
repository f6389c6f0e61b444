//! robcert: certified robustness for fraud models as they run in production (ONNX Runtime).
//!
//! Data flows one way: model + data + threat spec → methods (smoothing, ...) → result types →
//! outputs. The CLI (`cli`) is a thin layer over these modules.
pub mod attack;
pub mod bench;
pub mod bounds;
pub mod certify;
pub mod cli;
pub mod compare;
pub mod config;
pub mod csvio;
pub mod data;
pub mod dossier;
pub mod error;
pub mod ir;
pub mod numerics;
pub mod onnx;
pub mod ops;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod runtime;
pub mod sections;
pub mod smoothing;
pub mod threat;
pub mod util;
pub mod vnnlib;

pub use error::{Error, Result};
