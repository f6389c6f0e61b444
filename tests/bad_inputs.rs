//! Bad input gets a clear error that names what is wrong and where: data files, threat specs,
//! smoothing parameters and models. Each test states the input and the words a user needs.

mod common;

use robcert::Error;
use robcert::data::{DataLayout, Dataset};
use robcert::pipeline::smooth;
use robcert::runtime::{OnnxModel, RuntimeConfig};
use robcert::smoothing::{SmoothingConfig, SmoothingMode};
use std::path::Path;

fn load_csv(text: &str) -> robcert::Result<Dataset> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.csv");
    std::fs::write(&p, text).unwrap();
    let layout = DataLayout {
        features: None,
        label: "y".into(),
        amount: None,
        id: None,
        ignore: vec![],
    };
    Dataset::from_csv(&p, &layout)
}

fn message(r: robcert::Result<impl std::fmt::Debug>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn nan_and_infinite_values_are_rejected_with_line_and_column() {
    for bad in ["NaN", "nan", "inf", "-inf", "1e39"] {
        let m = message(load_csv(&format!("a,b,y\n1,2,0\n3,{bad},1\n")));
        assert!(
            m.contains("line 3") && m.contains("`b`") && m.contains(bad),
            "{bad}: {m}"
        );
    }
}

#[test]
fn non_numeric_values_are_rejected_with_line_and_column() {
    let m = message(load_csv("a,b,y\n1,2,0\n3,abc,1\n"));
    assert!(
        m.contains("line 3") && m.contains("`b`") && m.contains("not a number"),
        "{m}"
    );
    let m = message(load_csv("a,b,y\n1,2,0.5\n"));
    assert!(m.contains("not a class index"), "{m}");
}

#[test]
fn missing_label_column_lists_the_columns_present() {
    let m = message(load_csv("a,b,label\n1,2,0\n"));
    assert!(
        m.contains("column `y` not found") && m.contains("a, b, label"),
        "{m}"
    );
}

#[test]
fn wrong_column_count_names_the_line() {
    let m = message(load_csv("a,b,y\n1,2,0\n1,2\n"));
    assert!(
        m.contains("line 3") && m.contains("expected 3 fields") && m.contains("found 2"),
        "{m}"
    );
}

#[test]
fn empty_and_missing_data_files_are_clear() {
    assert!(message(load_csv("")).contains("empty"));
    assert!(message(load_csv("a,b,y\n")).contains("no data rows"));
    let layout = DataLayout::default();
    let m = message(Dataset::from_csv(
        Path::new("/nonexistent/data.csv"),
        &layout,
    ));
    assert!(m.contains("/nonexistent/data.csv does not exist"), "{m}");
}

fn spec_error(threat: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::demo_spec(
        &common::models().join("fraud_mlp_standard.onnx"),
        threat,
        "",
    );
    match common::prepare_spec(dir.path(), &spec) {
        Ok(_) => panic!("spec accepted: {threat}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_feature_in_the_spec_is_named_with_a_suggestion() {
    let m = spec_error("mutable = { amont = 50.0 }");
    assert!(
        m.contains("threat.mutable.amont") && m.contains("no feature column `amont`"),
        "{m}"
    );
    let m = spec_error("mutable = { amount = 50.0 }\nimmutable = [\"county_*\"]");
    assert!(m.contains("county_*") && m.contains("country_"), "{m}");
}

#[test]
fn negative_zero_and_non_finite_budgets_are_rejected() {
    for b in ["-1.0", "0.0", "nan", "inf"] {
        let m = spec_error(&format!("mutable = {{ amount = {b} }}"));
        assert!(
            m.contains("threat.mutable.amount") && m.contains("must be a finite number > 0"),
            "{b}: {m}"
        );
    }
}

#[test]
fn budget_on_an_immutable_feature_is_rejected() {
    let m =
        spec_error("mutable = { amount = 50.0, country_home = 1.0 }\nimmutable = [\"country_*\"]");
    assert!(m.contains("country_home") && m.contains("immutable"), "{m}");
}

#[test]
fn unknown_keys_bad_clip_bad_target_and_bad_bounds_are_named() {
    let m = spec_error("mutable = { amount = 50.0 }\nbudget_scale = 2");
    assert!(m.contains("budget_scale"), "{m}");
    let m = spec_error("mutable = { amount = 50.0 }\nclip = \"observed\"");
    assert!(m.contains("threat.clip") && m.contains("observed"), "{m}");
    let m = spec_error("mutable = { amount = 50.0 }\ntarget = \"fraud->fraud\"");
    assert!(m.contains("threat.target"), "{m}");
    let m = spec_error("mutable = { amount = 50.0 }\n[threat.bounds]\nhour = [24.0, 0.0]");
    assert!(
        m.contains("threat.bounds.hour") && m.contains("lower ≤ upper"),
        "{m}"
    );
    let m = spec_error("mutable = { amount = 50.0 }\n[threat.bounds]\namount = [0.0, 10.0]");
    assert!(
        m.contains("threat.bounds.amount") && m.contains("outside the valid range"),
        "{m}"
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = common::demo_spec(
        &common::models().join("fraud_mlp_standard.onnx"),
        "mutable = { amount = 50.0 }",
        "[methods.smoothing]\nsigma = 0.5\nsamples = 10",
    );
    let m = common::prepare_spec(dir.path(), &spec)
        .err()
        .unwrap()
        .to_string();
    assert!(m.contains("samples"), "{m}");
}

#[test]
fn invalid_smoothing_parameters_are_rejected_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::demo_spec(
        &common::models().join("fraud_mlp_standard.onnx"),
        "mutable = { amount = 50.0 }",
        "",
    );
    let prepared = common::prepare_spec(dir.path(), &spec).unwrap();
    let base = SmoothingConfig::default();
    let cases = [
        (
            SmoothingConfig {
                sigma: 0.0,
                ..base.clone()
            },
            "`sigma`",
        ),
        (
            SmoothingConfig {
                sigma: -1.0,
                ..base.clone()
            },
            "`sigma`",
        ),
        (
            SmoothingConfig {
                sigma: f64::NAN,
                ..base.clone()
            },
            "`sigma`",
        ),
        (
            SmoothingConfig {
                n0: 200,
                n: 100,
                ..base.clone()
            },
            "must not exceed n = 100",
        ),
        (
            SmoothingConfig {
                alpha: 0.0,
                ..base.clone()
            },
            "`alpha`",
        ),
        (
            SmoothingConfig {
                alpha: 1.0,
                ..base.clone()
            },
            "`alpha`",
        ),
        (
            SmoothingConfig {
                alpha: 1.5,
                ..base.clone()
            },
            "`alpha`",
        ),
        (
            SmoothingConfig {
                batch: 0,
                ..base.clone()
            },
            "`batch`",
        ),
    ];
    for (config, words) in cases {
        let m = message(smooth(
            &prepared,
            &config,
            SmoothingMode::Certify,
            &common::options(1),
        ));
        assert!(m.contains(words), "{config:?}: {m}");
    }
}

#[test]
fn a_model_without_feature_names_is_an_error_that_says_how_to_add_them() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::demo_spec(
        &common::fixture("linear_2class.onnx"),
        "mutable = { amount = 50.0 }",
        "",
    );
    let m = common::prepare_spec(dir.path(), &spec)
        .err()
        .unwrap()
        .to_string();
    for needed in [
        "model.features",
        "robcert.features",
        "[model] features",
        "3 inputs",
    ] {
        assert!(m.contains(needed), "missing `{needed}` in: {m}");
    }
    // A spec list of the wrong length names both widths.
    let spec = common::demo_spec(
        &common::fixture("linear_2class.onnx"),
        "mutable = { amount = 50.0 }",
        "",
    )
    .replace("[data]", "features = [\"amount\", \"hour\"]\n[data]");
    let m = common::prepare_spec(dir.path(), &spec)
        .err()
        .unwrap()
        .to_string();
    assert!(
        m.contains("2 names") && m.contains("3 values per row"),
        "{m}"
    );
}

#[test]
fn unusable_model_files_get_clear_errors() {
    let rt = RuntimeConfig::default();
    let m = message(OnnxModel::load(&common::fixture("not_onnx.onnx"), &rt));
    assert!(
        m.contains("not_onnx.onnx is not a loadable ONNX model"),
        "{m}"
    );
    let m = message(OnnxModel::load(&common::fixture("truncated.onnx"), &rt));
    assert!(
        m.contains("truncated.onnx is not a loadable ONNX model"),
        "{m}"
    );
    let m = message(OnnxModel::load(&common::fixture("two_inputs.onnx"), &rt));
    assert!(
        m.contains("exactly one input") && m.contains("the model has 2"),
        "{m}"
    );
    let m = message(OnnxModel::load(&common::fixture("int_output.onnx"), &rt));
    assert!(m.contains("Int64") && m.contains("float32[N, C]"), "{m}");
    let m = message(OnnxModel::load(Path::new("/nonexistent/model.onnx"), &rt));
    assert!(m.contains("/nonexistent/model.onnx does not exist"), "{m}");
}

#[test]
fn missing_spec_file_and_spec_syntax_errors_are_clear() {
    let m = message(robcert::threat::spec::LoadedSpec::load(Path::new(
        "/nonexistent/spec.toml",
    )));
    assert!(m.contains("does not exist"), "{m}");
    let dir = tempfile::tempdir().unwrap();
    let p = common::write_spec(dir.path(), "[model\npath = 1");
    let e = robcert::threat::spec::LoadedSpec::load(&p).unwrap_err();
    assert!(matches!(e, Error::SpecSyntax { .. }), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
}
