//! Adversarial soundness: for each way a bound can be wrong about what ONNX Runtime computes,
//! a generator of hostile models (random sizes, magnitudes and positions) run through ONNX
//! Runtime at every optimisation level robcert supports. The property checked everywhere
//! (`common::ort_check::check_region`): no region is verified where ONNX Runtime outputs
//! another class at a sampled point or a reported corner, and with raw scores no ONNX Runtime
//! score or margin leaves its bound. Each generator must also produce verified regions, so a
//! bound engine that verified nothing would fail too.
//!
//! Causes (issue "every verified must survive ONNX Runtime"): constant folding precision,
//! BatchNormalization and Gemm folding, overflow / underflow / NaN, Softmax placement, ties
//! after rounding, batch-coupled models, ONNX Runtime's graph optimisations, and the verdict's
//! safety net.

mod common;

use common::ort_check::{LEVELS, check_model_at_all_levels, executed_ir, load_model};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robcert::bounds::Region;
use robcert::error::Error;
use robcert::onnx::{Attribute, ElemType, ModelBuilder, Tensor, TensorData};
use robcert::runtime::{OptimizationLevel, argmax};

fn normal(rng: &mut impl Rng) -> f32 {
    let u: f64 = rng.random::<f64>().max(1e-12);
    let v: f64 = rng.random();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// 10^u for u uniform in [lo, hi).
fn magnitude(rng: &mut impl Rng, lo: f64, hi: f64) -> f32 {
    10f64.powf(lo + (hi - lo) * rng.random::<f64>()) as f32
}

fn sign(rng: &mut impl Rng) -> f32 {
    if rng.random::<bool>() { 1.0 } else { -1.0 }
}

/// A point region and small boxes around `x0`.
fn regions_around(rng: &mut impl Rng, x0: &[f32], radii: &[f64]) -> Vec<Region> {
    radii
        .iter()
        .map(|&r| {
            let lo = x0
                .iter()
                .map(|&v| f64::from(v) - r * rng.random::<f64>())
                .collect();
            let hi = x0
                .iter()
                .map(|&v| f64::from(v) + r * rng.random::<f64>())
                .collect();
            Region::new(lo, hi).unwrap()
        })
        .collect()
}

fn random_point(rng: &mut impl Rng, w: usize, scale: f32) -> Vec<f32> {
    (0..w).map(|_| normal(rng) * scale).collect()
}

/// Runs `cases` models from `generate` at every level; returns (verified, unknown, refused).
fn run_cause(
    cause: &str,
    seed: u64,
    cases: usize,
    samples: usize,
    mut generate: impl FnMut(&mut ChaCha8Rng) -> (Vec<u8>, Vec<Region>),
) -> (usize, usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut verified, mut unknown, mut refused) = (0, 0, 0);
    for case in 0..cases {
        let (bytes, regions) = generate(&mut rng);
        match check_model_at_all_levels(
            dir.path(),
            &format!("{cause}{case}.onnx"),
            &bytes,
            &regions,
            &mut rng,
            samples,
        ) {
            Ok((c, r)) => {
                verified += c.verified;
                unknown += c.unknown;
                refused += r;
            }
            Err(e) => {
                let keep = std::env::temp_dir().join(format!("robcert-unsound-{cause}{case}.onnx"));
                std::fs::write(&keep, &bytes).unwrap();
                panic!(
                    "{cause} case {case} (seed {seed}; model kept at {}): {e}",
                    keep.display()
                );
            }
        }
    }
    eprintln!("{cause}: {verified} verified, {unknown} unknown, {refused} refused (model × level)");
    (verified, unknown, refused)
}

/// Cause 1: constants computed by constant-only subgraphs, with cancellation at extreme
/// magnitudes ((A + B) − A, (A · B) / A, ...), used as biases and scales of a small network;
/// the data point sits where the float64 and float32 values of the constants disagree on the
/// class.
fn constant_folding_case(rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<Region>) {
    let w = rng.random_range(1..=4usize);
    let x0 = random_point(rng, w, 1.0);
    let weights: Vec<f32> = (0..w * 2).map(|_| normal(rng)).collect();
    let exact_margin: f64 = (0..w)
        .map(|i| f64::from(weights[i * 2 + 1] - weights[i * 2]) * f64::from(x0[i]))
        .sum();
    // Bias B chosen so that, exactly, class 1 wins at x0 by a hair; A huge so that (A + B) − A
    // rounds in float32.
    let delta = f64::from(magnitude(rng, -6.0, -1.0));
    let a = sign(rng) * magnitude(rng, 3.0, 30.0);
    let b1 = (-exact_margin + delta) as f32;
    let pattern = rng.random_range(0..3);
    let mut m = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(w)])
        .initializer("W", &[w, 2], &weights)
        .initializer("A", &[2], &[a, a])
        .initializer("B", &[2], &[0.0, b1])
        .node("MatMul", &["x", "W"], &["t"], vec![]);
    m = match pattern {
        0 => m
            .node("Add", &["A", "B"], &["ab"], vec![])
            .node("Sub", &["ab", "A"], &["c"], vec![]),
        1 => m
            .node("Sub", &["B", "A"], &["ba"], vec![])
            .node("Add", &["ba", "A"], &["c"], vec![]),
        _ => m
            .initializer("S", &[1], &[magnitude(rng, -20.0, 20.0)])
            .node("Mul", &["B", "S"], &["bs"], vec![])
            .node("Add", &["bs", "A"], &["bsa"], vec![])
            .node("Sub", &["bsa", "A"], &["bs2"], vec![])
            .node("Div", &["bs2", "S"], &["c"], vec![]),
    };
    let bytes = m
        .node("Add", &["t", "c"], &["y"], vec![])
        .output("y", &[None, Some(2)])
        .encode();
    let regions = regions_around(rng, &x0, &[0.0, 1e-7, 1e-4]);
    (bytes, regions)
}

#[test]
fn constants_are_folded_as_onnx_runtime_computes_them() {
    let (verified, unknown, _) = run_cause("constfold", 1, 40, 200, constant_folding_case);
    assert!(
        verified > 0 && unknown > 0,
        "the cases must be decided both ways"
    );
}

/// Cause 2a: BatchNormalization with a huge mean and a shift that nearly cancels it, placed
/// after a Gemm (ONNX Runtime folds it into the weights from level `basic`) or on the input
/// (ONNX Runtime's kernel folds scale and shift itself, in float32, at every level).
fn batch_norm_case(rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<Region>) {
    let w = rng.random_range(1..=4usize);
    let x0 = random_point(rng, w, 1.0);
    let channels = if rng.random::<bool>() { w } else { 2 };
    let before_gemm = channels == w;
    let mean: Vec<f32> = (0..channels)
        .map(|_| sign(rng) * magnitude(rng, 1.0, 7.0))
        .collect();
    let var: Vec<f32> = (0..channels).map(|_| magnitude(rng, -6.0, 2.0)).collect();
    let scale: Vec<f32> = (0..channels).map(|_| normal(rng)).collect();
    let k: Vec<f64> = (0..channels)
        .map(|c| f64::from(scale[c]) / (f64::from(var[c]) + 1e-5).sqrt())
        .collect();
    // Shift B ≈ k · mean: the folded shift B − k · mean cancels to a small number.
    let shift: Vec<f32> = (0..channels)
        .map(|c| (k[c] * f64::from(mean[c]) + f64::from(normal(rng)) * 1e-2) as f32)
        .collect();
    let weights: Vec<f32> = (0..w * 2).map(|_| normal(rng)).collect();
    let mut m = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(w)])
        .initializer("W", &[w, 2], &weights)
        .initializer("b", &[2], &[0.0, 0.0])
        .initializer("g", &[channels], &scale)
        .initializer("beta", &[channels], &shift)
        .initializer("mu", &[channels], &mean)
        .initializer("var", &[channels], &var);
    // Input values near the mean, so the normalised values are of ordinary size.
    let x0: Vec<f32> = if before_gemm {
        x0.iter()
            .zip(&mean)
            .map(|(v, mu)| mu + v * var[0].sqrt().max(1e-3))
            .collect()
    } else {
        x0
    };
    let bn = vec![("epsilon", Attribute::Float(1e-5))];
    m = if before_gemm {
        m.node(
            "BatchNormalization",
            &["x", "g", "beta", "mu", "var"],
            &["n"],
            bn,
        )
        .node("Gemm", &["n", "W", "b"], &["y"], vec![])
    } else {
        m.node("Gemm", &["x", "W", "b"], &["t"], vec![]).node(
            "BatchNormalization",
            &["t", "g", "beta", "mu", "var"],
            &["y"],
            bn,
        )
    };
    let bytes = m.output("y", &[None, Some(2)]).encode();
    (bytes, regions_around(rng, &x0, &[0.0, 1e-6, 1e-3]))
}

#[test]
fn batch_normalization_folding_is_bounded_soundly() {
    let (verified, _, _) = run_cause("batchnorm", 2, 40, 200, batch_norm_case);
    assert!(verified > 0);
}

/// Cause 2b: Gemm with extreme `alpha` and `beta` compensated by the weights (so the layer is
/// ordinary overall), down to subnormal weights under a huge `alpha`.
fn gemm_scaling_case(rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<Region>) {
    let w = rng.random_range(1..=6usize);
    let hidden = rng.random_range(1..=8usize);
    // Up to the float32 limits. In the underflow regime the products W·x land at
    // 1e-46 … 1e-36 (subnormal float32) before alpha scales them back up, and the bias is of
    // the size of the layer's output so it does not drown the error.
    let underflow = rng.random::<bool>();
    let alpha = sign(rng)
        * if underflow {
            magnitude(rng, 25.0, 38.0)
        } else {
            magnitude(rng, -38.0, 38.0)
        };
    let beta = sign(rng) * magnitude(rng, -38.0, 38.0);
    let x_scale = if underflow {
        let target = -46.0 + 10.0 * rng.random::<f64>();
        10f64.powf(target + f64::from(alpha.abs()).log10()) as f32
    } else {
        magnitude(rng, -12.0, 0.0)
    };
    let w1: Vec<f32> = (0..w * hidden).map(|_| normal(rng) / alpha).collect();
    let b1: Vec<f32> = (0..hidden).map(|_| normal(rng) * x_scale / beta).collect();
    let w2: Vec<f32> = (0..hidden * 2).map(|_| normal(rng)).collect();
    let bytes = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(w)])
        .initializer("W1", &[w, hidden], &w1)
        .initializer("b1", &[hidden], &b1)
        .initializer("W2", &[hidden, 2], &w2)
        .initializer("b2", &[2], &[0.0, 0.0])
        .node(
            "Gemm",
            &["x", "W1", "b1"],
            &["h"],
            vec![
                ("alpha", Attribute::Float(alpha)),
                ("beta", Attribute::Float(beta)),
            ],
        )
        .node("Relu", &["h"], &["r"], vec![])
        .node("Gemm", &["r", "W2", "b2"], &["y"], vec![])
        .output("y", &[None, Some(2)])
        .encode();
    let x0 = random_point(rng, w, x_scale);
    let r = f64::from(x_scale);
    (bytes, regions_around(rng, &x0, &[0.0, 1e-3 * r, 0.3 * r]))
}

#[test]
fn gemm_alpha_and_beta_carry_their_rounding() {
    let (verified, _, _) = run_cause("gemmscale", 3, 40, 300, gemm_scaling_case);
    assert!(verified > 0);
}

/// Cause 3: values at the edge of the float32 range: huge and cancelling weights, inputs and
/// boxes up to 1e38, so ONNX Runtime overflows to ±inf and NaN somewhere in the box.
fn overflow_case(rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<Region>) {
    let w = rng.random_range(1..=3usize);
    let hidden = rng.random_range(2..=4usize);
    let big = magnitude(rng, 15.0, 37.0);
    let mut w1: Vec<f32> = (0..w * hidden).map(|_| normal(rng) * big).collect();
    if rng.random::<bool>() {
        // Cancelling columns: h0 − h1 is small in exact arithmetic, inf − inf in float32.
        for i in 0..w {
            w1[i * hidden + 1] = -w1[i * hidden];
        }
    }
    let w2: Vec<f32> = (0..hidden * 2)
        .map(|_| normal(rng) * magnitude(rng, -3.0, 3.0))
        .collect();
    let bytes = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(w)])
        .initializer("W1", &[w, hidden], &w1)
        .initializer("W2", &[hidden, 2], &w2)
        .node("MatMul", &["x", "W1"], &["h"], vec![])
        .node(
            if rng.random::<bool>() { "Relu" } else { "Tanh" },
            &["h"],
            &["r"],
            vec![],
        )
        .node("MatMul", &["r", "W2"], &["y"], vec![])
        .output("y", &[None, Some(2)])
        .encode();
    let x_scale = magnitude(rng, -3.0, 2.0);
    let x0 = random_point(rng, w, x_scale);
    let wide = f64::from(magnitude(rng, 0.0, 38.0)).min(3e38);
    let mut regions = regions_around(rng, &x0, &[0.0, 1e-3 * f64::from(x_scale), wide]);
    // A box reaching the float32 limits.
    regions.push(Region::new(vec![-3.4e38; w], vec![3.4e38; w]).unwrap());
    (bytes, regions)
}

#[test]
fn possible_overflow_makes_bounds_infinite_never_verified() {
    let (verified, unknown, _) = run_cause("overflow", 4, 40, 300, overflow_case);
    assert!(verified > 0 && unknown > 0);
}

fn import_error_of(bytes: Vec<u8>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let model = load_model(dir.path(), "m.onnx", &bytes, OptimizationLevel::Disabled).unwrap();
    match executed_ir(&model) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn non_finite_attributes_and_constant_division_by_zero_name_the_node() {
    let gemm = |alpha: f32| {
        ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, Some(2)])
            .initializer("W", &[2, 2], &[1.0, 0.0, 0.0, 1.0])
            .named_node(
                "the_gemm",
                "Gemm",
                &["x", "W"],
                &["y"],
                vec![("alpha", Attribute::Float(alpha))],
            )
            .output("y", &[None, Some(2)])
            .encode()
    };
    for alpha in [f32::INFINITY, f32::NAN] {
        let e = import_error_of(gemm(alpha));
        assert!(e.contains("the_gemm") && e.contains("alpha"), "{e}");
    }
    let bn = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(2)])
        .initializer("g", &[2], &[1.0, 1.0])
        .initializer("b", &[2], &[0.0, 0.0])
        .initializer("m", &[2], &[0.0, 0.0])
        .initializer("v", &[2], &[1.0, 1.0])
        .named_node(
            "the_bn",
            "BatchNormalization",
            &["x", "g", "b", "m", "v"],
            &["y"],
            vec![("epsilon", Attribute::Float(f32::NAN))],
        )
        .output("y", &[None, Some(2)])
        .encode();
    let e = import_error_of(bn);
    assert!(e.contains("the_bn") && e.contains("epsilon"), "{e}");
    let div = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(2)])
        .initializer("one", &[2], &[1.0, 1.0])
        .initializer("zero", &[2], &[2.0, 0.0])
        .named_node("the_div", "Div", &["one", "zero"], &["c"], vec![])
        .node("Add", &["x", "c"], &["y"], vec![])
        .output("y", &[None, Some(2)])
        .encode();
    let e = import_error_of(div);
    assert!(
        e.contains("the_div") && e.contains("division by zero"),
        "{e}"
    );
    let overflow = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(2)])
        .initializer("big", &[2], &[3e38, 1.0])
        .named_node("the_mul", "Mul", &["big", "big"], &["c"], vec![])
        .node("Add", &["x", "c"], &["y"], vec![])
        .output("y", &[None, Some(2)])
        .encode();
    let e = import_error_of(overflow);
    assert!(e.contains("the_mul") && e.contains("inf"), "{e}");
}

/// Cause 4: Softmax in every position: inside the network, over the batch axis, as a graph
/// output that later nodes consume, and final over the class axis (the only case that may be
/// treated as order-preserving).
fn softmax_case(rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<Region>) {
    let w = rng.random_range(1..=4usize);
    let classes = rng.random_range(2..=4usize);
    let w1: Vec<f32> = (0..w * classes).map(|_| normal(rng) * 3.0).collect();
    let w2: Vec<f32> = (0..classes * classes).map(|_| normal(rng) * 3.0).collect();
    let base = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(w)])
        .initializer("W1", &[w, classes], &w1)
        .initializer("W2", &[classes, classes], &w2)
        .node("MatMul", &["x", "W1"], &["z"], vec![]);
    let axis = |a: i64| vec![("axis", Attribute::Int(a))];
    let bytes = match rng.random_range(0..5) {
        // Inside: Softmax then another layer.
        0 => base
            .node("Softmax", &["z"], &["p"], axis(1))
            .node("MatMul", &["p", "W2"], &["y"], vec![])
            .output("y", &[None, Some(classes)]),
        // Over the batch axis.
        1 => base
            .node("Softmax", &["z"], &["y"], axis(0))
            .output("y", &[None, Some(classes)]),
        // A graph output that later nodes consume to make the certified output.
        2 => base
            .node("Softmax", &["z"], &["p"], axis(-1))
            .node("MatMul", &["p", "W2"], &["y"], vec![])
            .output("y", &[None, Some(classes)])
            .output("p", &[None, Some(classes)]),
        // Final, but its output is also read by another branch.
        3 => base
            .node("Softmax", &["z"], &["y"], axis(1))
            .node("MatMul", &["y", "W2"], &["extra"], vec![])
            .output("y", &[None, Some(classes)])
            .output("extra", &[None, Some(classes)]),
        // Final over the class axis (Softmax or LogSoftmax).
        _ => base
            .node(
                if rng.random::<bool>() {
                    "Softmax"
                } else {
                    "LogSoftmax"
                },
                &["z"],
                &["y"],
                axis(-1),
            )
            .output("y", &[None, Some(classes)]),
    }
    .encode();
    let x0 = random_point(rng, w, 1.0);
    (bytes, regions_around(rng, &x0, &[0.0, 0.05, 0.5]))
}

#[test]
fn softmax_is_only_dropped_where_it_keeps_the_class() {
    let (verified, _, refused) = run_cause("softmax", 5, 40, 300, softmax_case);
    assert!(verified > 0 && refused > 0);
}

/// Cause 5: near-ties. A final Softmax rounds logits that differ by 1e-9 … 1e-4 to equal (or
/// reversed) probabilities, and argmax breaks ties toward the lower index; raw scores from equal
/// weight rows tie exactly.
fn tie_case(rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<Region>) {
    let w = rng.random_range(1..=3usize);
    let classes = rng.random_range(2..=3usize);
    let x0 = random_point(rng, w, 1.0);
    let mut weights: Vec<f32> = (0..w * classes).map(|_| normal(rng)).collect();
    let tied = rng.random_range(0..classes);
    let other = (tied + 1) % classes;
    for i in 0..w {
        weights[i * classes + other] = weights[i * classes + tied];
    }
    // Bias: the tied pair leads; `other` ahead of `tied` by 10^-9 … 10^-3, or exactly tied.
    let mut bias = vec![-5.0f32; classes];
    bias[tied] = 0.0;
    bias[other] = if rng.random::<f64>() < 0.2 {
        0.0
    } else {
        magnitude(rng, -9.0, -3.0)
    };
    let big = magnitude(rng, -4.0, 4.0);
    let scaled: Vec<f32> = weights.iter().map(|v| v * big).collect();
    let m = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(w)])
        .initializer("W", &[w, classes], &scaled)
        .initializer("b", &[classes], &bias)
        .node("MatMul", &["x", "W"], &["t"], vec![])
        .node("Add", &["t", "b"], &["z"], vec![]);
    let m = if rng.random::<f64>() < 0.75 {
        m.node(
            "Softmax",
            &["z"],
            &["y"],
            vec![("axis", Attribute::Int(-1))],
        )
    } else {
        m.node("Identity", &["z"], &["y"], vec![])
    };
    let bytes = m.output("y", &[None, Some(classes)]).encode();
    (bytes, regions_around(rng, &x0, &[0.0, 0.0, 1e-12]))
}

#[test]
fn ties_after_rounding_are_never_verified_for_the_wrong_class() {
    let (verified, unknown, _) = run_cause("ties", 6, 80, 50, tie_case);
    assert!(verified > 0 && unknown > 0);
}

#[test]
fn softmax_order_margin_covers_onnx_runtime_softmax() {
    // The margin robcert requires after a final Softmax: over many logit pairs with a gap of
    // at least the margin (at magnitudes 1e-3 … 1e6), ONNX Runtime's Softmax keeps the winner
    // strictly ahead; below it, ties occur (so the margin is needed).
    let dir = tempfile::tempdir().unwrap();
    let bytes = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(2)])
        .node(
            "Softmax",
            &["x"],
            &["y"],
            vec![("axis", Attribute::Int(-1))],
        )
        .output("y", &[None, Some(2)])
        .encode();
    let model = load_model(dir.path(), "softmax.onnx", &bytes, OptimizationLevel::All).unwrap();
    let mut session = model.session().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(61);
    let (mut ties_below, mut n) = (0, 0);
    let margin = robcert::numerics::SOFTMAX_ORDER_MARGIN;
    let mut worst_ratio_error = 0.0f64;
    for _ in 0..200 {
        let mut x = Vec::new();
        let mut gaps = Vec::new();
        for _ in 0..1000 {
            let z = f64::from(sign(&mut rng) * magnitude(&mut rng, -3.0, 6.0));
            let below = rng.random::<bool>();
            let gap = if below {
                margin * rng.random::<f64>() * 0.5
            } else {
                margin * (1.0 + 1e3 * rng.random::<f64>().powi(4))
            };
            let a = z as f32;
            let mut b = (z - gap) as f32;
            // The float32 logits must keep at least the gap in float64 terms.
            while !below && f64::from(a) - f64::from(b) < gap {
                b = b.next_down();
            }
            x.extend([b, a]);
            gaps.push((below, f64::from(a) - f64::from(b)));
        }
        let p = session.scores(&x, gaps.len()).unwrap();
        for (r, &(below, d)) in gaps.iter().enumerate() {
            let (p0, p1) = (p[2 * r], p[2 * r + 1]);
            n += 1;
            if below {
                ties_below += usize::from(p0 >= p1);
            } else {
                assert!(p1 > p0, "gap {d:e}: softmax gave {p0} ≥ {p1}");
                if p0 > 0.0 && d < 10.0 {
                    let ratio = f64::from(p0) / f64::from(p1);
                    worst_ratio_error = worst_ratio_error.max((ratio / (-d).exp() - 1.0).abs());
                }
            }
        }
    }
    eprintln!(
        "softmax: {n} pairs; ties or reversals below the margin: {ties_below}; \
         worst relative error of p0/p1 against exp(-gap): {worst_ratio_error:e}"
    );
    assert!(
        ties_below > 0,
        "no tie below the margin: the test has no teeth"
    );
    assert!(
        worst_ratio_error < 2e-6,
        "the exponential is less accurate than the margin assumes"
    );
}

/// Cause 6: models whose output for a row depends on the other rows of the batch.
fn coupled_models() -> Vec<(&'static str, Vec<u8>)> {
    let base = || {
        ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, Some(3)])
            .initializer("W", &[3, 2], &[1.0, -1.0, 0.5, 2.0, -0.3, 0.7])
            .node("MatMul", &["x", "W"], &["z"], vec![])
    };
    let shape = |dims: &[i64]| Tensor {
        dims: vec![dims.len()],
        data: TensorData::I64(dims.to_vec()),
    };
    vec![
        (
            "softmax over axis 0",
            base().node("Softmax", &["z"], &["y"], vec![("axis", Attribute::Int(0))]),
        ),
        (
            "minus the batch mean",
            base()
                .node(
                    "ReduceMean",
                    &["z"],
                    &["m"],
                    vec![("axes", Attribute::Ints(vec![0]))],
                )
                .node("Sub", &["z", "m"], &["y"], vec![]),
        ),
        (
            "flatten axis 0 and back",
            base()
                .tensor_initializer("s", &shape(&[-1, 2]))
                .node("Flatten", &["z"], &["f"], vec![("axis", Attribute::Int(0))])
                .node("Reshape", &["f", "s"], &["y"], vec![]),
        ),
        (
            "transpose, softmax over the rows, transpose back",
            base()
                .node(
                    "Transpose",
                    &["z"],
                    &["t"],
                    vec![("perm", Attribute::Ints(vec![1, 0]))],
                )
                .node("Softmax", &["t"], &["u"], vec![("axis", Attribute::Int(1))])
                .node(
                    "Transpose",
                    &["u"],
                    &["y"],
                    vec![("perm", Attribute::Ints(vec![1, 0]))],
                ),
        ),
        (
            "batch norm in training mode",
            base()
                .initializer("g", &[2], &[1.0, 1.0])
                .initializer("b", &[2], &[0.0, 0.0])
                .initializer("mu", &[2], &[0.0, 0.0])
                .initializer("var", &[2], &[1.0, 1.0])
                .node(
                    "BatchNormalization",
                    &["z", "g", "b", "mu", "var"],
                    &["y"],
                    vec![("training_mode", Attribute::Int(1))],
                ),
        ),
    ]
    .into_iter()
    .map(|(name, b)| (name, b.output("y", &[None, Some(2)]).encode()))
    .collect()
}

#[test]
fn batch_coupled_models_are_refused_by_smoothing_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in coupled_models() {
        for level in LEVELS {
            match load_model(dir.path(), "coupled.onnx", &bytes, level) {
                Err(Error::BatchCoupled { message, .. }) => {
                    assert!(!message.is_empty(), "{name}");
                }
                // ONNX Runtime may refuse the model outright (e.g. training-mode batch norm).
                Err(Error::NotOnnx { .. }) => {}
                Err(e) => panic!("{name} at {}: unexpected error {e}", level.name()),
                Ok(_) => panic!(
                    "{name} at {}: a batch-coupled model was accepted",
                    level.name()
                ),
            }
        }
    }
}

/// Cause 7: the fusions ONNX Runtime applies, with magnitudes chosen so the fused order of
/// operations over- or underflows where the graph as written does not (or the reverse):
/// `Mul(x, s) → MatMul` becomes `FusedMatMul(alpha = s)` computing `s·(x·W)` instead of
/// `(s·x)·W`; `MatMul → BatchNormalization` folds `W·k` into float32 weights that can be
/// subnormal; `MatMul → Add → Relu` becomes `FusedGemm`. Checked at every optimisation level.
fn fusion_case(rng: &mut ChaCha8Rng) -> (Vec<u8>, Vec<Region>) {
    let w = rng.random_range(1..=4usize);
    let hidden = rng.random_range(1..=6usize);
    let w2: Vec<f32> = (0..hidden * 2).map(|_| normal(rng)).collect();
    let pattern = rng.random_range(0..4);
    // Exponents of the input and of the first weights; the scale brings the layer back to ~1.
    let (a, b) = match pattern {
        0 => (
            15.0 + 10.0 * rng.random::<f64>(),
            15.0 + 10.0 * rng.random::<f64>(),
        ),
        1 | 2 => (
            -25.0 + 10.0 * rng.random::<f64>(),
            -25.0 + 10.0 * rng.random::<f64>(),
        ),
        _ => (0.0, 0.0),
    };
    let c = -(a + b) + 3.0 * (rng.random::<f64>() - 0.5);
    let (xs, ws, s) = (
        10f64.powf(a) as f32,
        10f64.powf(b) as f32,
        10f64.powf(c) as f32,
    );
    let w1: Vec<f32> = (0..w * hidden).map(|_| normal(rng) * ws).collect();
    let b1: Vec<f32> = (0..hidden).map(|_| normal(rng)).collect();
    // A scalar scale (shape []), which ONNX Runtime fuses into FusedMatMul's alpha.
    let m = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(w)])
        .initializer("W1", &[w, hidden], &w1)
        .initializer("b1", &[hidden], &b1)
        .initializer("W2", &[hidden, 2], &w2)
        .initializer("s", &[], &[s]);
    let (m, x_scale) = match pattern {
        // No bias here: MatMul + Add would become a Gemm first, which takes no scale.
        0 | 1 => (
            m.node("Mul", &["x", "s"], &["xs"], vec![]).node(
                "MatMul",
                &["xs", "W1"],
                &["h"],
                vec![],
            ),
            xs,
        ),
        2 => {
            // BatchNormalization scale k ≈ s (var 1, ε 0): W·k folds to ~1e-50 … 1e-30.
            let ks: Vec<f32> = (0..hidden)
                .map(|_| s * (0.5 + rng.random::<f32>()))
                .collect();
            let zeros = vec![0.0f32; hidden];
            let ones = vec![1.0f32; hidden];
            (
                m.initializer("g", &[hidden], &ks)
                    .initializer("mu", &[hidden], &zeros)
                    .initializer("var", &[hidden], &ones)
                    .node("MatMul", &["x", "W1"], &["t"], vec![])
                    .node(
                        "BatchNormalization",
                        &["t", "g", "b1", "mu", "var"],
                        &["h"],
                        vec![("epsilon", Attribute::Float(0.0))],
                    ),
                10f64.powf(-b - c) as f32,
            )
        }
        _ => (
            m.node("MatMul", &["x", "W1"], &["t"], vec![]).node(
                "Add",
                &["t", "b1"],
                &["h"],
                vec![],
            ),
            1.0,
        ),
    };
    let bytes = m
        .node("Relu", &["h"], &["r"], vec![])
        .node("MatMul", &["r", "W2"], &["y"], vec![])
        .output("y", &[None, Some(2)])
        .encode();
    let x0 = random_point(rng, w, x_scale);
    let r = f64::from(x_scale);
    (bytes, regions_around(rng, &x0, &[0.0, 1e-4 * r, 0.1 * r]))
}

#[test]
fn the_graph_onnx_runtime_executes_is_what_gets_certified() {
    let (verified, _, _) = run_cause("fusion", 7, 40, 300, fusion_case);
    assert!(verified > 0);
}

#[test]
fn certified_graph_is_the_optimised_one() {
    // At level `all`, ONNX Runtime fuses Gemm + Relu into FusedGemm (com.microsoft): the IR is
    // built from that graph, not from the file as written.
    let dir = tempfile::tempdir().unwrap();
    let bytes = ModelBuilder::new(17)
        .input("x", ElemType::F32, &[None, Some(2)])
        .initializer("W", &[2, 3], &[1.0, -1.0, 0.5, 2.0, 0.25, -0.75])
        .initializer("b", &[3], &[0.1, 0.2, 0.3])
        .initializer("W2", &[3, 2], &[1.0, -1.0, 0.5, 2.0, 0.25, -0.75])
        .node("Gemm", &["x", "W", "b"], &["h"], vec![])
        .node("Relu", &["h"], &["r"], vec![])
        .node("MatMul", &["r", "W2"], &["y"], vec![])
        .output("y", &[None, Some(2)])
        .encode();
    let model = load_model(dir.path(), "m.onnx", &bytes, OptimizationLevel::All).unwrap();
    let (onnx, _) = model.executed_graph().unwrap();
    assert!(
        onnx.nodes
            .iter()
            .any(|n| n.op_type == "FusedGemm" && n.domain == "com.microsoft"),
        "{:?}",
        onnx.nodes.iter().map(|n| &n.op_type).collect::<Vec<_>>()
    );
    let graph = executed_ir(&model).unwrap();
    assert!(graph.nodes.iter().any(|n| n.source_op == "FusedGemm"));
}

/// Cause 8: the verdict's safety net. A bound engine that is wrong (here: the IR of a different
/// network than the one ONNX Runtime runs, so its bounds verify rows that ONNX Runtime gets
/// wrong) must be caught by the points the verdict checks through ONNX Runtime (the corners the
/// bounds single out), even with no attack configured: the row stops with a soundness error.
#[test]
fn safety_net_catches_an_unsound_bound_at_its_corners() {
    use robcert::bounds::verdict::{BoundsConfig, VerdictContext, judge_row};
    use robcert::threat::{Target, ThreatModel};
    let dir = tempfile::tempdir().unwrap();
    let net = |w: [f32; 4]| {
        ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, Some(2)])
            .initializer("W", &[2, 2], &w)
            .node("MatMul", &["x", "W"], &["y"], vec![])
            .output("y", &[None, Some(2)])
            .encode()
    };
    // What ONNX Runtime runs: score1 = x0 + 4·x1, which loses at the box corner x1 = −0.5; the
    // "bound engine" believes score1 = x0 + x1, which wins everywhere in the box.
    let deployed = load_model(
        dir.path(),
        "deployed.onnx",
        &net([0.0, 1.0, 0.0, 4.0]),
        OptimizationLevel::All,
    )
    .unwrap();
    let believed = load_model(
        dir.path(),
        "believed.onnx",
        &net([0.0, 1.0, 0.0, 1.0]),
        OptimizationLevel::All,
    )
    .unwrap();
    let wrong_ir = executed_ir(&believed).unwrap();
    let threat = ThreatModel {
        features: vec!["a".into(), "b".into()],
        budgets: vec![0.1, 0.5],
        lower: vec![f64::NEG_INFINITY; 2],
        upper: vec![f64::INFINITY; 2],
        target: Target::Any,
        class_names: vec!["0".into(), "1".into()],
        constraints: robcert::threat::Constraints {
            integer: vec![false; 2],
            ..Default::default()
        },
    };
    let bounds = BoundsConfig {
        scale_search: false,
        ..BoundsConfig::default()
    };
    let ctx = VerdictContext {
        graph: Some(&wrong_ir),
        threat: &threat,
        bounds: &bounds,
        attack: None,
    };
    let mut session = deployed.session().unwrap();
    let x = [1.0f32, 0.0];
    assert_eq!(argmax(&session.scores(&x, 1).unwrap()), 1);
    match judge_row(&ctx, &mut session, 0, &x, 1, 1, None) {
        Err(Error::SoundnessViolation { .. }) => {}
        other => panic!("the unsound bound was not caught: {other:?}"),
    }
}

/// A Dropout whose `training_mode` is an initializer (a BOOL tensor) imports as the identity when
/// false (the whole run used to fail at decoding the BOOL tensor); when true the model's output
/// is random, which robcert refuses with a message naming the node.
#[test]
fn dropout_with_a_training_mode_initializer_imports_or_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let model = |training: bool| {
        ModelBuilder::new(17)
            .input("x", ElemType::F32, &[None, Some(2)])
            .initializer("W", &[2, 2], &[1.0, -1.0, 0.5, 2.0])
            .initializer("ratio", &[], &[0.5])
            .tensor_initializer(
                "training",
                &Tensor {
                    dims: vec![],
                    data: TensorData::Bool(vec![training]),
                },
            )
            .node("MatMul", &["x", "W"], &["t"], vec![])
            .named_node(
                "drop",
                "Dropout",
                &["t", "ratio", "training"],
                &["y"],
                vec![],
            )
            .output("y", &[None, Some(2)])
            .encode()
    };
    let off = load_model(
        dir.path(),
        "off.onnx",
        &model(false),
        OptimizationLevel::Disabled,
    )
    .unwrap();
    let graph = executed_ir(&off).unwrap();
    assert_eq!(graph.nodes.len(), 1, "Dropout in inference is the identity");
    // In training mode the output is random: refused at load, naming the node, for every method.
    let e = load_model(
        dir.path(),
        "on.onnx",
        &model(true),
        OptimizationLevel::Disabled,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("`drop`") && e.to_string().contains("random"),
        "{e}"
    );
}
