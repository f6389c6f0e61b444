//! The bundled models are the ones models/README.md describes: their SHA-256 matches
//! models/models.json and the README, and ONNX Runtime reproduces the listed test-split accuracy,
//! fraud recall and precision.

mod common;

use robcert::data::{DataLayout, Dataset};
use robcert::runtime::{OnnxModel, RuntimeConfig, sha256_hex};

#[test]
fn bundled_models_match_their_hashes_and_listed_metrics() {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::models().join("models.json")).unwrap(),
    )
    .unwrap();
    let readme = std::fs::read_to_string(common::models().join("README.md")).unwrap();
    let data = Dataset::from_csv(
        &common::models().join("data/fraud_test.csv"),
        &DataLayout::default(),
    )
    .unwrap();
    let entries = manifest.as_array().expect("models.json is a list");
    let regimes: Vec<&str> = entries
        .iter()
        .map(|e| e["regime"].as_str().unwrap())
        .collect();
    for needed in ["standard", "gaussian", "pgd", "ibp"] {
        assert!(
            regimes.contains(&needed),
            "regime {needed} missing from models.json"
        );
    }
    for e in entries {
        let file = common::models().join(e["file"].as_str().unwrap());
        let sha = sha256_hex(&std::fs::read(&file).unwrap());
        assert_eq!(
            sha,
            e["sha256"].as_str().unwrap(),
            "{} changed since models.json",
            file.display()
        );
        assert!(
            readme.contains(&sha),
            "models/README.md does not list {sha}"
        );

        let model = OnnxModel::load(&file, &RuntimeConfig::default()).unwrap();
        model.check_width(&data.features).unwrap();
        let predictions = model
            .session()
            .unwrap()
            .predict(&data.x, data.rows())
            .unwrap();
        let (mut tp, mut fp, mut fneg, mut correct) = (0usize, 0usize, 0usize, 0usize);
        for (&p, &y) in predictions.iter().zip(&data.labels) {
            correct += usize::from(p == y);
            match (p, y) {
                (1, 1) => tp += 1,
                (1, 0) => fp += 1,
                (0, 1) => fneg += 1,
                _ => {}
            }
        }
        let accuracy = correct as f64 / data.rows() as f64;
        let recall = tp as f64 / (tp + fneg) as f64;
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        for (name, ours) in [
            ("test_accuracy", accuracy),
            ("test_fraud_recall", recall),
            ("test_fraud_precision", precision),
        ] {
            let listed = e[name].as_f64().unwrap();
            assert!(
                (ours - listed).abs() <= 1e-6,
                "{}: {name} {ours} vs listed {listed}",
                file.display()
            );
        }
        assert_eq!(e["test_rows"].as_u64().unwrap() as usize, data.rows());
    }
}
