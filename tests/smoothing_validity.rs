//! Statistical validity of the smoothing certificate on a model whose smoothed classifier has a
//! known exact robust radius.
//!
//! The model (tests/fixtures/linear_2class.onnx, run by ONNX Runtime) scores [0, w·x + b]. With
//! noise N(0, (σ·b_f)²) on the mutable features, the smoothed classifier predicts class 1 exactly
//! where w·x + b > 0, so its exact budget-scaled L2 radius at x is |w·x + b| / ‖w ⊙ budget‖
//! (distance to the hyperplane, moving mutable features only). A certificate fails when the
//! certified class is wrong or the certified radius exceeds that exact radius; each row's
//! certificate may fail with probability at most alpha.

mod common;

use robcert::pipeline::{Overrides, Prepared, prepare, smooth};
use robcert::runtime::RuntimeConfig;
use robcert::smoothing::{RowCertificate, SmoothingConfig, SmoothingMode};
use std::fmt::Write as _;

const W: [f64; 3] = [1.5, -2.0, 0.5];
const B: f64 = 0.25;
const BUDGET: [f64; 2] = [1.0, 0.5]; // x0 and x1 are mutable, x2 is fixed
const SIGMA: f64 = 0.5;

fn exact_radius(x: &[f32]) -> f64 {
    let score: f64 = (0..3).map(|i| W[i] * x[i] as f64).sum::<f64>() + B;
    let scaled_norm = ((W[0] * BUDGET[0]).powi(2) + (W[1] * BUDGET[1]).powi(2)).sqrt();
    score.abs() / scaled_norm
}

fn true_class(x: &[f32]) -> usize {
    let score: f64 = (0..3).map(|i| W[i] * x[i] as f64).sum::<f64>() + B;
    usize::from(score > 0.0)
}

/// Rows spread so that the exact radius ranges over (0, 2σ): p_A is far from 1, where the
/// Clopper–Pearson bound is tight enough for failures to be possible.
fn prepare_linear(dir: &std::path::Path, rows: usize) -> Prepared {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture("linear_2class.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        fixture["b"].as_f64().unwrap(),
        B,
        "fixture and test disagree on the model"
    );
    let mut csv = String::from("x0,x1,x2,label\n");
    for i in 0..rows {
        let t = i as f64 / rows as f64;
        let (x0, x1, x2) = ((t * 7.3).sin(), (t * 3.1).cos() * 0.8, (t * 11.0).sin());
        let x = [x0 as f32, x1 as f32, x2 as f32];
        writeln!(csv, "{},{},{},{}", x[0], x[1], x[2], true_class(&x)).unwrap();
    }
    std::fs::write(dir.join("linear.csv"), csv).unwrap();
    let spec = format!(
        "[model]\npath = {:?}\nfeatures = [\"x0\", \"x1\", \"x2\"]\n[data]\npath = \"linear.csv\"\nlabel = \"label\"\n[threat]\nmutable = {{ x0 = {}, x1 = {} }}\nimmutable = [\"x2\"]\nclip = \"none\"\ntarget = \"any\"\n",
        common::fixture("linear_2class.onnx"),
        BUDGET[0],
        BUDGET[1]
    );
    prepare(
        &common::write_spec(dir, &spec),
        &Overrides::default(),
        &RuntimeConfig::default(),
    )
    .unwrap()
}

fn failures(
    prepared: &Prepared,
    rows: &[RowCertificate],
    radius: impl Fn(&RowCertificate) -> Option<f64>,
) -> usize {
    rows.iter()
        .filter(|r| {
            let x = prepared.data.row(r.index);
            match (r.prediction, radius(r)) {
                (Some(c), Some(rad)) => {
                    c != true_class(x) || rad > exact_radius(x) * (1.0 + 1e-6) + 1e-6
                }
                _ => false,
            }
        })
        .count()
}

#[test]
fn certified_radius_exceeds_the_exact_radius_at_most_alpha_of_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let prepared = prepare_linear(dir.path(), 40);
    let alpha = 0.05;
    let (mut total, mut failed, mut naive_failed, mut certified) = (0usize, 0usize, 0usize, 0usize);
    for seed in 0..150u64 {
        let config = SmoothingConfig {
            sigma: SIGMA,
            n0: 20,
            n: 200,
            alpha,
            batch: 256,
            seed,
        };
        let (_, rows) = smooth(
            &prepared,
            &config,
            SmoothingMode::Certify,
            &common::options(2),
        )
        .unwrap();
        total += rows.len();
        certified += rows.iter().filter(|r| r.radius.is_some()).count();
        failed += failures(&prepared, &rows, |r| r.radius);
        // The same counts with the point estimate k/n in place of the lower confidence bound:
        // an anti-conservative certificate this test must be able to catch.
        naive_failed += failures(&prepared, &rows, |r| {
            let p_hat = *r.counts.iter().max().unwrap() as f64 / r.n as f64;
            (p_hat > 0.5)
                .then(|| SIGMA * robcert::smoothing::stats::normal_quantile(p_hat.min(1.0 - 1e-12)))
        });
    }
    let rate = failed as f64 / total as f64;
    let naive_rate = naive_failed as f64 / total as f64;
    eprintln!(
        "{total} certifications, {certified} with a radius: failure rate {rate:.4} (alpha {alpha}); point-estimate radius fails {naive_rate:.4}"
    );
    assert!(
        certified as f64 > 0.8 * total as f64,
        "too few certificates to test: {certified}/{total}"
    );
    // Rows share noise within a seed (common random numbers), so failures are correlated; 150
    // independent seeds give a standard error of the rate below 0.01 even under strong correlation.
    assert!(
        rate <= alpha + 0.015,
        "failure rate {rate} exceeds alpha {alpha}"
    );
    assert!(
        naive_rate > 3.0 * alpha,
        "the test cannot tell a wrong radius apart: {naive_rate}"
    );
}
