//! Predictions and smoothing counts come from ONNX Runtime, not from a re-implementation: a model
//! built from ops robcert never implements (Sin, Erf, Where, Cos, ...) gives the scores python
//! onnxruntime recorded in tests/fixtures/exotic_ops_cases.csv.

mod common;

use robcert::pipeline::smooth;
use robcert::runtime::{OnnxModel, RuntimeConfig, argmax};
use robcert::smoothing::{SmoothingConfig, SmoothingMode};
use std::fmt::Write as _;

#[test]
fn exotic_op_model_scores_match_python_onnxruntime() {
    let (header, cases) = common::read_csv(&common::fixture("exotic_ops_cases.csv"));
    assert_eq!(header, ["x0", "x1", "x2", "s0", "s1"]);
    let model = OnnxModel::load(
        &common::fixture("exotic_ops.onnx"),
        &RuntimeConfig::default(),
    )
    .unwrap();
    assert_eq!((model.input_width, model.num_classes), (3, 2));
    let x: Vec<f32> = cases
        .iter()
        .flat_map(|c| c[..3].iter().map(|&v| v as f32))
        .collect();
    let scores = model.session().unwrap().scores(&x, cases.len()).unwrap();
    let mut worst = 0.0f64;
    for (i, c) in cases.iter().enumerate() {
        for j in 0..2 {
            worst = worst.max((scores[2 * i + j] as f64 - c[3 + j]).abs());
        }
    }
    assert!(
        worst <= 1e-6,
        "largest difference from python onnxruntime: {worst}"
    );
}

#[test]
fn smoothing_an_exotic_op_model_returns_onnx_runtime_predictions() {
    let (_, cases) = common::read_csv(&common::fixture("exotic_ops_cases.csv"));
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x0,x1,x2,label\n");
    let mut expected = Vec::new();
    for c in &cases {
        let class = argmax(&[c[3] as f32, c[4] as f32]);
        expected.push((class, (c[3] - c[4]).abs()));
        writeln!(csv, "{},{},{},{class}", c[0], c[1], c[2]).unwrap();
    }
    std::fs::write(dir.path().join("cases.csv"), csv).unwrap();
    let spec = format!(
        "[model]\npath = {:?}\nfeatures = [\"x0\", \"x1\", \"x2\"]\n[data]\npath = \"cases.csv\"\nlabel = \"label\"\n[threat]\nmutable = {{ x0 = 1e-4, x1 = 1e-4 }}\nclip = \"none\"\n",
        common::fixture("exotic_ops.onnx")
    );
    let prepared = common::prepare_spec(dir.path(), &spec).unwrap();
    let config = SmoothingConfig {
        sigma: 1.0,
        n0: 20,
        n: 500,
        alpha: 0.001,
        batch: 128,
        seed: 3,
    };
    let (_, rows) = smooth(
        &prepared,
        &config,
        SmoothingMode::Certify,
        &common::options(2),
    )
    .unwrap();
    let mut clear = 0;
    for (r, &(class, margin)) in rows.iter().zip(&expected) {
        assert_eq!(
            r.base_prediction, class,
            "row {}: clean prediction differs from onnxruntime",
            r.index
        );
        // Noise of std 1e-4 cannot move a score gap of 0.01 (the ops are smooth, slopes ≤ 6).
        if margin > 0.01 {
            clear += 1;
            assert_eq!(r.prediction, Some(class), "row {}", r.index);
            assert_eq!(
                r.counts[class], config.n,
                "row {}: counts {:?}",
                r.index, r.counts
            );
        }
    }
    assert!(clear > 400, "only {clear} rows with a clear margin");
}
