//! The same spec and seed give the same counts and radii for any number of worker threads, any
//! batch size and any subset of rows.

mod common;

use robcert::pipeline::smooth;
use robcert::smoothing::{SmoothingConfig, SmoothingMode};

const THREAT: &str = "mutable = { amount = 50.0, hour = 2.0, velocity_1h = 1.0, merchant_risk = 0.1 }\ntarget = \"fraud->legit\"";

#[test]
fn counts_do_not_depend_on_threads_batch_or_row_subset() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::demo_spec(
        &common::models().join("fraud_mlp_standard.onnx"),
        THREAT,
        "",
    );
    let prepared = common::prepare_spec(dir.path(), &spec).unwrap();
    let config = |batch| SmoothingConfig {
        sigma: 1.0,
        n0: 50,
        n: 3000,
        alpha: 0.001,
        batch,
        seed: 11,
    };
    let mut one = common::options(1);
    one.limit = Some(60);
    let mut two = common::options(2);
    two.limit = Some(60);
    let (_, a) = smooth(&prepared, &config(4096), SmoothingMode::Certify, &one).unwrap();
    let (_, b) = smooth(&prepared, &config(97), SmoothingMode::Certify, &two).unwrap();
    assert_eq!(
        a, b,
        "1 thread / batch 4096 and 2 threads / batch 97 disagree"
    );
    let mut fewer = common::options(2);
    fewer.limit = Some(25);
    let (_, c) = smooth(&prepared, &config(512), SmoothingMode::Certify, &fewer).unwrap();
    // The noise, hence the counts, of a row do not depend on which other rows are certified;
    // its level does (α / rows, Bonferroni), so the bounds on 25 rows are a little higher.
    for (x, y) in a[..25].iter().zip(&c) {
        assert_eq!(
            (&x.counts, x.top),
            (&y.counts, y.top),
            "row {}: counts depend on which other rows are certified",
            x.index
        );
        assert!(y.p_lower >= x.p_lower, "row {}", x.index);
    }
    let mut other_seed = config(4096);
    other_seed.seed = 12;
    let (_, d) = smooth(&prepared, &other_seed, SmoothingMode::Certify, &one).unwrap();
    assert_ne!(a, d, "a different seed must give different samples");
}

#[test]
fn predict_mode_is_deterministic_and_abstains_only_near_the_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::demo_spec(
        &common::models().join("fraud_mlp_gaussian.onnx"),
        THREAT,
        "",
    );
    let prepared = common::prepare_spec(dir.path(), &spec).unwrap();
    let config = SmoothingConfig {
        sigma: 1.0,
        n0: 10,
        n: 1000,
        alpha: 0.001,
        batch: 1000,
        seed: 5,
    };
    let mut opts = common::options(2);
    opts.limit = Some(40);
    let (_, a) = smooth(&prepared, &config, SmoothingMode::Predict, &opts).unwrap();
    let (_, b) = smooth(&prepared, &config, SmoothingMode::Predict, &opts).unwrap();
    assert_eq!(a, b);
    for r in &a {
        let top = *r.counts.iter().max().unwrap();
        assert_eq!(r.counts.iter().sum::<u64>(), config.n);
        match r.prediction {
            Some(c) => assert_eq!(r.counts[c], top, "row {}", r.index),
            None => assert!(
                r.p_value.unwrap() > config.alpha,
                "row {} abstained with p {:?}",
                r.index,
                r.p_value
            ),
        }
    }
}
