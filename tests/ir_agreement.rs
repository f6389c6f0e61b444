//! robcert's IR evaluates every bundled model and every public VNN-COMP network like ONNX
//! Runtime does, the VNN-COMP counterexamples evaluate to their recorded ONNX Runtime outputs,
//! CROWN is exact on affine networks, and unusable models fail with errors that say why.
//!
//! The VNN-COMP files are read from `$ROBCERT_VNNCOMP_DIR` (default `../shared/benchmarks/vnncomp`
//! beside the checkout); they are never copied into the project. Tests that need them print a
//! note and pass when the folder is absent.

mod common;

use common::ort_check::executed_ir;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robcert::Error;
use robcert::bounds::{Method, Region, output_bounds};
use robcert::onnx::{Attribute, ElemType, ModelBuilder, import::import, load};
use robcert::runtime::{OnnxModel, RuntimeConfig};
use std::path::{Path, PathBuf};

fn vnncomp() -> Option<PathBuf> {
    let dir = std::env::var_os("ROBCERT_VNNCOMP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo().join("../shared/benchmarks/vnncomp"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: {} not found; VNN-COMP checks skipped", dir.display());
        None
    }
}

/// Largest |IR − ONNX Runtime| relative to max(1, |ONNX Runtime|) over random inputs.
fn max_relative_difference(path: &Path, rows: usize, spread: f64) -> f64 {
    let model = OnnxModel::load(path, &RuntimeConfig::default()).unwrap();
    let graph = executed_ir(&model).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let w = graph.input_size;
    let x: Vec<f32> = (0..rows * w)
        .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * spread) as f32)
        .collect();
    let ort = model.session().unwrap().scores(&x, rows).unwrap();
    let c = graph.output_size();
    let mut worst = 0.0f64;
    for r in 0..rows {
        let xi: Vec<f64> = x[r * w..(r + 1) * w].iter().map(|&v| v as f64).collect();
        let ours = graph.eval(&xi);
        for k in 0..c {
            let o = ort[r * c + k] as f64;
            worst = worst.max((ours[k] - o).abs() / o.abs().max(1.0));
        }
    }
    worst
}

#[test]
fn ir_agrees_with_onnx_runtime_on_bundled_models() {
    let data = robcert::data::Dataset::from_csv(
        &common::models().join("data/fraud_test.csv"),
        &Default::default(),
    )
    .unwrap();
    for name in ["standard", "gaussian", "pgd", "ibp"] {
        let path = common::models().join(format!("fraud_mlp_{name}.onnx"));
        let model = OnnxModel::load(&path, &RuntimeConfig::default()).unwrap();
        let graph = executed_ir(&model).unwrap();
        let ort = model
            .session()
            .unwrap()
            .scores(&data.x, data.rows())
            .unwrap();
        let mut worst = 0.0f64;
        for r in 0..data.rows() {
            let x: Vec<f64> = data.row(r).iter().map(|&v| v as f64).collect();
            for (k, v) in graph.eval(&x).iter().enumerate() {
                let o = ort[2 * r + k] as f64;
                worst = worst.max((v - o).abs() / o.abs().max(1.0));
            }
        }
        eprintln!("{name}: max relative difference on the 4,000 test rows {worst:e}");
        assert!(worst <= 1e-5, "{name}: {worst}");
    }
}

#[test]
fn ir_agrees_with_onnx_runtime_on_vnncomp_networks() {
    let Some(dir) = vnncomp() else { return };
    let mut count = 0;
    for bench in ["acasxu", "rl_benchmarks"] {
        for entry in std::fs::read_dir(dir.join(bench).join("onnx")).unwrap() {
            let path = entry.unwrap().path();
            let d = max_relative_difference(&path, 50, 1.0);
            assert!(d <= 1e-5, "{}: {d}", path.display());
            count += 1;
        }
    }
    assert_eq!(count, 48, "expected 45 ACAS Xu and 3 RL networks");
}

#[test]
fn vnncomp_counterexamples_evaluate_to_their_recorded_outputs() {
    let Some(dir) = vnncomp() else { return };
    let mut checked = 0;
    for bench in ["acasxu", "rl_benchmarks"] {
        let mut reader =
            csv::Reader::from_path(dir.join(bench).join("counterexamples.csv")).unwrap();
        let mut graphs = std::collections::HashMap::new();
        for rec in reader.records() {
            let rec = rec.unwrap();
            let onnx = dir.join(bench).join(&rec[0]);
            let graph = graphs.entry(onnx.clone()).or_insert_with(|| {
                executed_ir(&OnnxModel::load(&onnx, &RuntimeConfig::default()).unwrap()).unwrap()
            });
            let x: Vec<f64> = rec[4]
                .split_whitespace()
                .map(|v| v.parse::<f32>().unwrap() as f64)
                .collect();
            let y: Vec<f64> = rec[5]
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            let ours = graph.eval(&x);
            for (a, b) in ours.iter().zip(&y) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{}: {a} vs {b}",
                    &rec[0]
                );
            }
            checked += 1;
        }
    }
    eprintln!("{checked} counterexamples checked");
    assert!(checked > 100);
}

/// On an affine network (no activations) CROWN's bounds are the exact minimum and maximum over
/// the box, up to the float32 allowance.
#[test]
fn crown_is_exact_on_affine_networks() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let dir = tempfile::tempdir().unwrap();
    for case in 0..20 {
        let (w0, w1, w2) = (
            rng.random_range(1..10usize),
            rng.random_range(1..20usize),
            rng.random_range(2..5usize),
        );
        let a: Vec<f32> = (0..w0 * w1)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..w1 * w2)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        let bytes = ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, Some(w0)])
            .initializer("A", &[w0, w1], &a)
            .initializer("B", &[w1, w2], &b)
            .node("MatMul", &["x", "A"], &["h"], vec![])
            .node(
                "Gemm",
                &["h", "B"],
                &["y"],
                vec![("alpha", Attribute::Float(1.0))],
            )
            .output("y", &[None, Some(w2)])
            .encode();
        let p = dir.path().join(format!("affine{case}.onnx"));
        std::fs::write(&p, bytes).unwrap();
        let graph = import(&load(&p).unwrap()).unwrap();
        let lo: Vec<f64> = (0..w0).map(|_| rng.random::<f64>() - 1.0).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + rng.random::<f64>()).collect();
        let region = Region::new(lo.clone(), hi.clone()).unwrap();
        let crown = output_bounds(&graph, &region, Method::Crown);
        for k in 0..w2 {
            // Exact: the composed weight c = A·B[:, k]; min over the box picks ends by sign.
            let c: Vec<f64> = (0..w0)
                .map(|i| {
                    (0..w1)
                        .map(|j| a[i * w1 + j] as f64 * b[j * w2 + k] as f64)
                        .sum()
                })
                .collect();
            let min: f64 = (0..w0)
                .map(|i| {
                    if c[i] >= 0.0 {
                        c[i] * lo[i]
                    } else {
                        c[i] * hi[i]
                    }
                })
                .sum();
            let max: f64 = (0..w0)
                .map(|i| {
                    if c[i] >= 0.0 {
                        c[i] * hi[i]
                    } else {
                        c[i] * lo[i]
                    }
                })
                .sum();
            // Exact up to the float32 allowance, which scales with Σ|A||B||x|.
            let mass: f64 = (0..w0)
                .map(|i| {
                    let m = lo[i].abs().max(hi[i].abs());
                    (0..w1)
                        .map(|j| (a[i * w1 + j] as f64 * b[j * w2 + k] as f64).abs())
                        .sum::<f64>()
                        * m
                })
                .sum();
            let tol = 1e-5 * (1.0 + mass);
            assert!(
                crown.lo[k] <= min && min - crown.lo[k] <= tol,
                "case {case}: {} vs exact {min}",
                crown.lo[k]
            );
            assert!(
                crown.hi[k] >= max && crown.hi[k] - max <= tol,
                "case {case}: {} vs exact {max}",
                crown.hi[k]
            );
        }
    }
}

fn import_error(builder: ModelBuilder) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.onnx");
    std::fs::write(&p, builder.encode()).unwrap();
    match import(&load(&p).unwrap()) {
        Ok(_) => panic!("model accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unsupported_ops_are_all_listed_with_their_node_names() {
    let m = import_error(
        ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, Some(3)])
            .named_node("first_sin", "Sin", &["x"], &["a"], vec![])
            .named_node("the_relu", "Relu", &["a"], &["b"], vec![])
            .named_node("an_erf", "Erf", &["b"], &["c"], vec![])
            .named_node("squared", "Mul", &["x", "x"], &["d"], vec![])
            .named_node("sum", "Add", &["c", "d"], &["e"], vec![])
            .output("e", &[None, Some(3)]),
    );
    for needed in [
        "op `Sin` in node `first_sin`",
        "op `Erf` in node `an_erf`",
        "op `Mul` in node `squared`",
        "3 node(s)",
    ] {
        assert!(m.contains(needed), "missing `{needed}` in: {m}");
    }
    assert!(
        !m.contains("the_relu"),
        "a supported node downstream is not an unsupported op: {m}"
    );
    let exotic = import(&load(&common::fixture("exotic_ops.onnx")).unwrap()).unwrap_err();
    assert!(matches!(exotic, Error::UnsupportedOps { .. }), "{exotic}");
}

#[test]
fn nodes_the_certified_output_does_not_read_are_pruned_not_reported() {
    // A label branch (ArgMax → Cast) and an unused NaN initializer next to the scores.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.onnx");
    let bytes = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(2)])
        .initializer("W", &[2, 2], &[1.0, 2.0, -1.0, 0.5])
        .initializer("unused", &[1], &[f32::NAN])
        .node("MatMul", &["x", "W"], &["scores"], vec![])
        .named_node(
            "label_argmax",
            "ArgMax",
            &["scores"],
            &["idx"],
            vec![("axis", Attribute::Int(1))],
        )
        .named_node(
            "label_cast",
            "Cast",
            &["idx"],
            &["label"],
            vec![("to", Attribute::Int(1))],
        )
        .named_node("odd", "Mul", &["unused", "x"], &["junk"], vec![])
        .output("scores", &[None, Some(2)])
        .output("label", &[None])
        .output("junk", &[None, Some(2)])
        .encode();
    std::fs::write(&p, bytes).unwrap();
    let graph = import(&load(&p).unwrap()).unwrap();
    assert_eq!(graph.nodes.len(), 1, "only the MatMul is imported");
}

#[test]
fn nan_weights_dynamic_shapes_and_bad_regions_are_clear_errors() {
    let m = import_error(
        ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, Some(2)])
            .initializer("W", &[2, 2], &[1.0, f32::NAN, 0.0, 1.0])
            .node("MatMul", &["x", "W"], &["y"], vec![])
            .output("y", &[None, Some(2)]),
    );
    assert!(m.contains("initializer `W`") && m.contains("NaN"), "{m}");
    let m = import_error(
        ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, None])
            .node("Relu", &["x"], &["y"], vec![])
            .output("y", &[None, None]),
    );
    assert!(m.contains("dimension 1") && m.contains("fixed"), "{m}");
    let e = Region::new(vec![0.0, 1.0], vec![1.0, 0.5])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("input 1") && e.contains("above upper bound"),
        "{e}"
    );
    let e = Region::new(vec![f64::NAN], vec![1.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not finite"), "{e}");
    let e = load(&common::fixture("truncated.onnx")).unwrap_err();
    assert!(matches!(e, Error::OnnxDecode { .. }), "{e}");
}
