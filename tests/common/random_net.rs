//! Random feed-forward networks written as ONNX files with robcert's `ModelBuilder`, covering
//! every op the bound engine supports, for soundness tests through ONNX Runtime.
#![allow(dead_code)]

use rand::{Rng, RngExt};
use robcert::onnx::{Attribute, ElemType, ModelBuilder};

/// How extreme the generated weights and inputs are.
#[derive(Clone, Copy, Debug)]
pub enum Flavour {
    Ordinary,
    /// Weights up to 1e3 and inputs up to 1e2: float32 rounding errors become large.
    LargeWeights,
    /// Pairs of nearly cancelling weights (w and −w·(1 + tiny)).
    Cancellation,
}

pub struct RandomNet {
    /// The network as generated (possibly ending in Softmax).
    pub bytes: Vec<u8>,
    /// The same network returning the scores before any final Softmax (what bounds refer to).
    pub logits_bytes: Vec<u8>,
    pub input_width: usize,
    pub classes: usize,
    pub description: String,
}

fn normal(rng: &mut impl Rng) -> f32 {
    // Box–Muller is plenty for test weights.
    let u: f64 = rng.random::<f64>().max(1e-12);
    let v: f64 = rng.random();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// A random network: optional input normalisation, 1–6 dense layers of width 1–128 with random
/// activations, batch norm, residual additions, shape no-ops, and an optional final Softmax.
pub fn random_network(rng: &mut impl Rng, flavour: Flavour) -> RandomNet {
    let scale = match flavour {
        Flavour::LargeWeights => 1e3f32,
        _ => 1.0,
    };
    let w0 = rng.random_range(1..=16usize);
    let mut b = ModelBuilder::new(17).input("x", ElemType::F32, &[None, Some(w0)]);
    let mut desc = vec![format!("in{w0}")];
    let mut cur = "x".to_string();
    let mut width = w0;
    let mut k = 0usize;
    let mut fresh = |p: &str| {
        k += 1;
        format!("{p}{k}")
    };
    // Input normalisation by constants.
    if rng.random::<f64>() < 0.5 {
        let (m, s) = (fresh("mean"), fresh("std"));
        let mean: Vec<f32> = (0..width).map(|_| normal(rng)).collect();
        let std: Vec<f32> = (0..width)
            .map(|_| 0.1 + rng.random::<f32>() * 2.0)
            .collect();
        let (o1, o2) = (fresh("t"), fresh("t"));
        b = b
            .initializer(&m, &[width], &mean)
            .initializer(&s, &[width], &std);
        b = b
            .node("Sub", &[&cur, &m], &[&o1], vec![])
            .node("Div", &[&o1, &s], &[&o2], vec![]);
        cur = o2;
        desc.push("norm".into());
    }
    let depth = rng.random_range(1..=6usize);
    let classes = rng.random_range(2..=5usize);
    let mut saved: Option<(String, usize)> = None;
    for layer in 0..depth {
        let last = layer + 1 == depth;
        let out = if last {
            classes
        } else {
            rng.random_range(1..=128usize)
        };
        let std = scale * (2.0 / width as f32).sqrt();
        let mut weights: Vec<f32> = (0..width * out).map(|_| normal(rng) * std).collect();
        if matches!(flavour, Flavour::Cancellation) && width >= 2 {
            // Make columns 0 and 1 nearly cancel for every output.
            for o in 0..out {
                weights[o * width + 1] = -weights[o * width] * (1.0 + 1e-4 * normal(rng));
            }
        }
        let bias: Vec<f32> = (0..out).map(|_| normal(rng) * 0.5 * scale).collect();
        let y = fresh("t");
        if rng.random::<f64>() < 0.5 {
            // Gemm with weights stored [out, in] (transB = 1) or [in, out].
            let trans_b = rng.random::<f64>() < 0.5;
            let (wn, bn) = (fresh("W"), fresh("B"));
            let stored: Vec<f32> = if trans_b {
                weights.clone()
            } else {
                (0..width * out)
                    .map(|i| weights[(i % out) * width + i / out])
                    .collect()
            };
            let dims = if trans_b { [out, width] } else { [width, out] };
            let alpha = [1.0f32, 0.5, 2.0][rng.random_range(0..3)];
            let beta = [1.0f32, 0.25, 3.0][rng.random_range(0..3)];
            b = b
                .initializer(&wn, &dims, &stored)
                .initializer(&bn, &[out], &bias);
            b = b.node(
                "Gemm",
                &[&cur, &wn, &bn],
                &[&y],
                vec![
                    ("transB", Attribute::Int(i64::from(trans_b))),
                    ("alpha", Attribute::Float(alpha)),
                    ("beta", Attribute::Float(beta)),
                ],
            );
            desc.push(format!("gemm{out}"));
        } else {
            let (wn, bn, t) = (fresh("W"), fresh("B"), fresh("t"));
            let stored: Vec<f32> = (0..width * out)
                .map(|i| weights[(i % out) * width + i / out])
                .collect();
            b = b
                .initializer(&wn, &[width, out], &stored)
                .initializer(&bn, &[out], &bias);
            b = b.node("MatMul", &[&cur, &wn], &[&t], vec![]).node(
                "Add",
                &[&t, &bn],
                &[&y],
                vec![],
            );
            desc.push(format!("matmul{out}"));
        }
        cur = y;
        width = out;
        if !last && rng.random::<f64>() < 0.25 {
            let names: Vec<String> = (0..4).map(|_| fresh("bn")).collect();
            let gamma: Vec<f32> = (0..out).map(|_| 0.5 + rng.random::<f32>()).collect();
            let beta: Vec<f32> = (0..out).map(|_| normal(rng) * 0.1).collect();
            let mean: Vec<f32> = (0..out).map(|_| normal(rng) * 0.1).collect();
            let var: Vec<f32> = (0..out).map(|_| 0.5 + rng.random::<f32>()).collect();
            for (n, v) in names.iter().zip([&gamma, &beta, &mean, &var]) {
                b = b.initializer(n, &[out], v);
            }
            let y = fresh("t");
            b = b.node(
                "BatchNormalization",
                &[&cur, &names[0], &names[1], &names[2], &names[3]],
                &[&y],
                vec![("epsilon", Attribute::Float(1e-3))],
            );
            cur = y;
            desc.push("bn".into());
        }
        if !last {
            let y = fresh("t");
            let (op, attrs) = match rng.random_range(0..4) {
                0 => ("Relu", vec![]),
                1 => (
                    "LeakyRelu",
                    vec![("alpha", Attribute::Float(rng.random::<f32>()))],
                ),
                2 => ("Sigmoid", vec![]),
                _ => ("Tanh", vec![]),
            };
            b = b.node(op, &[&cur], &[&y], attrs);
            cur = y;
            desc.push(op.to_lowercase());
            if let Some((s, w)) = &saved
                && *w == width
                && rng.random::<f64>() < 0.5
            {
                let y = fresh("t");
                let op = if rng.random::<f64>() < 0.5 {
                    "Add"
                } else {
                    "Sub"
                };
                b = b.node(op, &[&cur, s], &[&y], vec![]);
                cur = y;
                desc.push(format!("residual-{}", op.to_lowercase()));
            }
            saved = Some((cur.clone(), width));
            if rng.random::<f64>() < 0.2 {
                let y = fresh("t");
                match rng.random_range(0..3) {
                    0 => b = b.node("Identity", &[&cur], &[&y], vec![]),
                    1 => b = b.node("Flatten", &[&cur], &[&y], vec![("axis", Attribute::Int(1))]),
                    _ => {
                        let s = fresh("shape");
                        b = b.tensor_initializer(
                            &s,
                            &robcert::onnx::Tensor {
                                dims: vec![2],
                                data: robcert::onnx::TensorData::I64(vec![-1, width as i64]),
                            },
                        );
                        b = b.node("Reshape", &[&cur, &s], &[&y], vec![]);
                    }
                }
                cur = y;
            }
        }
    }
    let logits = b
        .clone()
        .node("Identity", &[&cur], &["y"], vec![])
        .output("y", &[None, Some(classes)]);
    if rng.random::<f64>() < 0.3 {
        b = b.node(
            "Softmax",
            &[&cur],
            &["y"],
            vec![("axis", Attribute::Int(1))],
        );
        desc.push("softmax".into());
    } else {
        b = b.node("Identity", &[&cur], &["y"], vec![]);
    }
    b = b.output("y", &[None, Some(classes)]);
    RandomNet {
        bytes: b.encode(),
        logits_bytes: logits.encode(),
        input_width: w0,
        classes,
        description: desc.join("-"),
    }
}
