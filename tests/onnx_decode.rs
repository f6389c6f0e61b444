//! The ONNX loader reads every model robcert ships or is benchmarked on, rejects damaged files
//! with `Error::OnnxDecode`, and the test-model writer produces files that both the loader and
//! ONNX Runtime read back to the same network.

mod common;

use robcert::Error;
use robcert::onnx::{self, Attribute, Dim, ElemType, ModelBuilder, OnnxGraph, Tensor, TensorData};
use robcert::runtime::{OnnxModel, RuntimeConfig};
use std::path::{Path, PathBuf};

fn op_types(g: &OnnxGraph) -> Vec<&str> {
    g.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

fn init_dims<'a>(g: &'a OnnxGraph, name: &str) -> &'a [usize] {
    &g.initializers[name].dims
}

fn batch_of(width: usize) -> Option<Vec<Dim>> {
    Some(vec![Dim::Symbolic("N".into()), Dim::Fixed(width)])
}

#[test]
fn bundled_fraud_models_decode_to_the_normalised_three_layer_mlp() {
    for name in ["standard", "gaussian", "pgd", "ibp"] {
        let path = common::models().join(format!("fraud_mlp_{name}.onnx"));
        let g = onnx::load(&path).unwrap();
        assert_eq!(g.opset, 17, "{name}");
        assert_eq!(
            op_types(&g),
            ["Sub", "Div", "Gemm", "Relu", "Gemm", "Relu", "Gemm"],
            "{name}"
        );
        assert_eq!(g.inputs.len(), 1);
        assert_eq!(
            (g.inputs[0].name.as_str(), g.inputs[0].elem_type),
            ("x", ElemType::F32)
        );
        assert_eq!(g.inputs[0].shape, batch_of(21));
        assert_eq!(g.outputs[0].name, "logits");
        assert_eq!(g.outputs[0].shape, batch_of(2));
        let shapes: Vec<(&str, &[usize])> = g
            .initializers
            .iter()
            .map(|(k, t)| (k.as_str(), t.dims.as_slice()))
            .collect();
        assert_eq!(
            shapes,
            [
                ("W1", &[21, 64][..]),
                ("W2", &[64, 64][..]),
                ("W3", &[64, 2][..]),
                ("b1", &[64][..]),
                ("b2", &[64][..]),
                ("b3", &[2][..]),
                ("norm_mean", &[21][..]),
                ("norm_std", &[21][..]),
            ],
            "{name}"
        );
        assert!(g.initializers["norm_std"].to_f64().iter().all(|&s| s > 0.0));
    }
}

#[test]
fn linear_fixture_weights_equal_the_json_reference() {
    let g = onnx::load(&common::fixture("linear_2class.onnx")).unwrap();
    assert_eq!(op_types(&g), ["Gemm"]);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("linear_2class.json")).unwrap(),
    )
    .unwrap();
    let w: Vec<f64> = json["w"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let b = json["b"].as_f64().unwrap();
    // B is [3, 2] with class 0 all zero; class 1 holds w and C = [0, b].
    assert_eq!(init_dims(&g, "W"), [3, 2]);
    let weights = g.initializers["W"].to_f64();
    let class1: Vec<f64> = weights.chunks(2).map(|row| row[1]).collect();
    assert_eq!(class1, w);
    assert!(weights.chunks(2).all(|row| row[0] == 0.0));
    assert_eq!(g.initializers["b"].to_f64(), [0.0, b]);
}

#[test]
fn other_fixtures_decode_with_their_documented_structure() {
    let exotic = onnx::load(&common::fixture("exotic_ops.onnx")).unwrap();
    assert_eq!(
        op_types(&exotic),
        [
            "Gather", "Gather", "Gather", "Mul", "Sin", "Erf", "Add", "Mul", "Cos", "Neg", "Erf",
            "Greater", "Where", "Abs", "Mul", "Add", "Concat"
        ]
    );
    assert_eq!(exotic.nodes[0].attr_int("axis", 0), 1);
    // The Concat node has no name in the file.
    assert_eq!(exotic.nodes[16].name, "node#16");
    assert_eq!(exotic.initializers["i2"].to_i64(), Some(vec![2]));
    assert_eq!(exotic.initializers["quarter"].dims, Vec::<usize>::new());
    assert_eq!(exotic.initializers["quarter"].scalar_f64(), Some(0.25));

    let two = onnx::load(&common::fixture("two_inputs.onnx")).unwrap();
    assert_eq!(op_types(&two), ["Add", "Gemm"]);
    let names: Vec<&str> = two.inputs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);

    let int_out = onnx::load(&common::fixture("int_output.onnx")).unwrap();
    assert_eq!(op_types(&int_out), ["Gemm", "ArgMax"]);
    assert_eq!(int_out.outputs[0].elem_type, ElemType::I64);
    assert_eq!(
        int_out.outputs[0].shape,
        Some(vec![Dim::Symbolic("N".into())])
    );
}

#[test]
fn damaged_and_non_onnx_files_are_decode_errors_naming_the_file() {
    for name in ["truncated.onnx", "not_onnx.onnx"] {
        let path = common::fixture(name);
        let e = onnx::load(&path).unwrap_err();
        assert!(matches!(e, Error::OnnxDecode { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
    let missing = common::fixture("no_such_model.onnx");
    assert!(matches!(
        onnx::load(&missing),
        Err(Error::MissingFile { .. })
    ));
}

fn vnncomp_dir() -> PathBuf {
    std::env::var_os("ROBCERT_VNNCOMP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo().join("../shared/benchmarks/vnncomp"))
}

fn onnx_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    files.sort();
    files
}

#[test]
fn vnncomp_networks_decode_as_relu_mlps() {
    let root = vnncomp_dir();
    if !root.is_dir() {
        eprintln!("skipped: no VNN-COMP benchmarks at {}", root.display());
        return;
    }
    let acas = onnx_files(&root.join("acasxu/onnx"));
    assert_eq!(acas.len(), 45);
    for path in &acas {
        let g = onnx::load(path).unwrap();
        // IR version 3: all 15 initializers are also listed as graph inputs.
        assert_eq!(g.inputs.len(), 1, "{}", path.display());
        assert_eq!(g.inputs[0].name, "input");
        assert_eq!(
            g.inputs[0].shape,
            Some(vec![
                Dim::Fixed(1),
                Dim::Fixed(1),
                Dim::Fixed(1),
                Dim::Fixed(5)
            ])
        );
        assert_eq!(g.initializers.len(), 15);
        assert_eq!(g.nodes.len(), 22);
        assert_eq!(op_types(&g)[..4], ["Sub", "Flatten", "MatMul", "Add"]);
        assert_eq!(init_dims(&g, "Operation_1_MatMul_W"), [5, 50]);
        assert_eq!(init_dims(&g, "linear_7_MatMul_W"), [50, 5]);
        assert!(
            g.initializers["input_AvgImg"]
                .to_f64()
                .iter()
                .all(|&v| v == 0.0)
        );
        assert_eq!(g.outputs[0].shape, Some(vec![Dim::Fixed(1), Dim::Fixed(5)]));
    }

    let rl = onnx_files(&root.join("rl_benchmarks/onnx"));
    let names: Vec<_> = rl.iter().map(|p| p.file_stem().unwrap()).collect();
    assert_eq!(names, ["cartpole", "dubinsrejoin", "lunarlander"]);
    let expected = [
        (
            4,
            2,
            vec!["Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"],
        ),
        (
            8,
            8,
            vec![
                "MatMul", "Add", "Relu", "MatMul", "Add", "Relu", "MatMul", "Add",
            ],
        ),
        (
            8,
            4,
            vec!["Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"],
        ),
    ];
    for (path, (inputs, outputs, ops)) in rl.iter().zip(expected) {
        let g = onnx::load(path).unwrap();
        assert_eq!(op_types(&g), ops, "{}", path.display());
        assert_eq!(g.inputs.len(), 1);
        let last = |v: &onnx::ValueInfo| v.shape.as_ref().unwrap().last().cloned();
        assert_eq!(last(&g.inputs[0]), Some(Dim::Fixed(inputs)));
        assert_eq!(last(&g.outputs[0]), Some(Dim::Fixed(outputs)));
        for gemm in g.nodes.iter().filter(|n| n.op_type == "Gemm") {
            assert_eq!(gemm.attr_int("transB", 0), 1);
            assert_eq!(gemm.attr_float("alpha", 1.0), 1.0);
        }
    }
}

/// A small deterministic pseudo-random sequence in [-1, 1) (no RNG state shared with other tests).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// out[j] = sum_k x[k] * w[j][k] + b[j]  (weights stored [out, in], i.e. Gemm with transB=1).
fn dense(x: &[f64], w: &[f32], b: &[f32]) -> Vec<f64> {
    b.iter()
        .enumerate()
        .map(|(j, &bj)| {
            let row = &w[j * x.len()..(j + 1) * x.len()];
            f64::from(bj)
                + row
                    .iter()
                    .zip(x)
                    .map(|(&wk, &xk)| f64::from(wk) * xk)
                    .sum::<f64>()
        })
        .collect()
}

#[test]
fn a_written_mlp_decodes_back_and_onnx_runtime_matches_a_hand_forward_pass() {
    let (w1, b1, w2, b2) = (values(1, 12), values(2, 4), values(3, 8), values(4, 2));
    let bytes = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(3)])
        .output("logits", &[None, Some(2)])
        .initializer("W1", &[4, 3], &w1)
        .initializer("b1", &[4], &b1)
        .initializer("W2", &[2, 4], &w2)
        .initializer("b2", &[2], &b2)
        .node(
            "Gemm",
            &["x", "W1", "b1"],
            &["h"],
            vec![("transB", Attribute::Int(1))],
        )
        .node("Relu", &["h"], &["r"], vec![])
        .node(
            "Gemm",
            &["r", "W2", "b2"],
            &["logits"],
            vec![("transB", Attribute::Int(1))],
        )
        .encode();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.onnx");
    std::fs::write(&path, &bytes).unwrap();

    let g = onnx::load(&path).unwrap();
    assert_eq!(op_types(&g), ["Gemm", "Relu", "Gemm"]);
    let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["n0", "n1", "n2"]);
    assert_eq!(g.inputs[0].shape, batch_of(3));
    let expect = |dims: &[usize], v: &[f32]| Tensor {
        dims: dims.to_vec(),
        data: TensorData::F32(v.to_vec()),
    };
    assert_eq!(g.initializers["W1"], expect(&[4, 3], &w1));
    assert_eq!(g.initializers["b1"], expect(&[4], &b1));
    assert_eq!(g.initializers["W2"], expect(&[2, 4], &w2));
    assert_eq!(g.initializers["b2"], expect(&[2], &b2));

    let model = OnnxModel::load(&path, &RuntimeConfig::default()).unwrap();
    let rows = 16;
    let x = values(5, rows * 3)
        .iter()
        .map(|v| v * 3.0)
        .collect::<Vec<f32>>();
    let scores = model.session().unwrap().scores(&x, rows).unwrap();
    assert_eq!(scores.len(), rows * 2);
    let mut worst = 0.0f64;
    for (row, got) in x.chunks(3).zip(scores.chunks(2)) {
        let row: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let hidden: Vec<f64> = dense(&row, &w1, &b1).iter().map(|v| v.max(0.0)).collect();
        let logits = dense(&hidden, &w2, &b2);
        for (g, l) in got.iter().zip(&logits) {
            worst = worst.max((f64::from(*g) - l).abs());
        }
    }
    assert!(
        worst <= 1e-5,
        "largest difference from the hand forward pass: {worst}"
    );
}

#[test]
fn a_written_constant_node_is_folded_and_runs_in_onnx_runtime() {
    let scale = Tensor {
        dims: vec![2],
        data: TensorData::F32(vec![2.0, -0.5]),
    };
    let bytes = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(2)])
        .output("y", &[None, Some(2)])
        .node(
            "Constant",
            &[],
            &["scale"],
            vec![("value", Attribute::Tensor(scale.clone()))],
        )
        .node("Mul", &["x", "scale"], &["y"], vec![])
        .encode();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("const.onnx");
    std::fs::write(&path, &bytes).unwrap();

    let g = onnx::load(&path).unwrap();
    assert_eq!(op_types(&g), ["Mul"]);
    assert_eq!(g.initializers.len(), 1);
    assert_eq!(g.initializers["scale"], scale);

    let model = OnnxModel::load(&path, &RuntimeConfig::default()).unwrap();
    let scores = model
        .session()
        .unwrap()
        .scores(&[1.0, 4.0, -3.0, 2.0], 2)
        .unwrap();
    assert_eq!(scores, [2.0, -2.0, -6.0, -1.0]);
}
