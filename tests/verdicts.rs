//! Verdicts are never wrong: no row is *verified* where sampling through ONNX Runtime finds a
//! counterexample, every *falsified* row carries a counterexample inside its threat box that ONNX
//! Runtime confirms, and each method's certified scale never exceeds the attack's scale.

mod common;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robcert::attack::{AttackConfig, AttackMethod, to_f32_inside};
use robcert::bounds::Region;
use robcert::bounds::verdict::{BoundsConfig, VerdictKind};
use robcert::pipeline::{BoundsJob, bounds};
use robcert::runtime::argmax;
use std::fmt::Write as _;

const THREAT: &str = "mutable = { amount = 50.0, hour = 2.0, velocity_1h = 1.0, merchant_risk = 0.1 }\ntarget = \"fraud->legit\"";

#[test]
fn verified_rows_survive_sampling_and_falsified_rows_carry_confirmed_counterexamples() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for name in ["standard", "gaussian", "pgd", "ibp"] {
        let spec = common::demo_spec(
            &common::models().join(format!("fraud_mlp_{name}.onnx")),
            THREAT,
            "",
        );
        let prepared = common::prepare_spec(dir.path(), &spec).unwrap();
        let job = BoundsJob {
            bounds: Some(BoundsConfig::default()),
            attack: Some(AttackConfig::default()),
        };
        let (report, rows) = bounds(&prepared, &job, &common::options(2)).unwrap();
        assert_eq!(report.summary.target_rows, 90);
        let mut session = prepared.model.session().unwrap();
        for r in rows
            .iter()
            .filter(|r| r.verdict != VerdictKind::NotTargeted)
        {
            let x = prepared.data.row(r.index);
            let region = Region::from_threat(&prepared.threat, x, 1.0).unwrap();
            match r.verdict {
                VerdictKind::Verified => {
                    let pts: Vec<f32> = (0..2000)
                        .flat_map(|i| {
                            let p: Vec<f64> = (0..x.len())
                                .map(|j| {
                                    let u: f64 = rng.random();
                                    let (l, h) = (region.lo[j], region.hi[j]);
                                    if i % 2 == 0 {
                                        if u < 0.5 { l } else { h }
                                    } else {
                                        l + (h - l) * u
                                    }
                                })
                                .collect();
                            to_f32_inside(&p, &region)
                        })
                        .collect();
                    let preds = session.predict(&pts, 2000).unwrap();
                    assert!(
                        preds.iter().all(|&p| p == 1),
                        "{name} row {}: verified but a sample turns legit",
                        r.index
                    );
                }
                VerdictKind::Falsified => {
                    let ce = r
                        .counterexample
                        .as_ref()
                        .expect("falsified rows carry a counterexample");
                    let as_f64: Vec<f64> = ce.x.iter().map(|&v| v as f64).collect();
                    assert!(
                        region.contains(&as_f64),
                        "{name} row {}: counterexample outside the box",
                        r.index
                    );
                    let scores = session.scores(&ce.x, 1).unwrap();
                    assert_eq!(
                        argmax(&scores),
                        0,
                        "{name} row {}: ONNX Runtime does not confirm",
                        r.index
                    );
                }
                _ => {}
            }
            for m in &r.methods {
                if let (Some(c), Some(a)) = (m.certified_scale, r.attack_scale) {
                    assert!(
                        c <= a,
                        "{name} row {}: {:?} certifies scale {c} above the attack's {a}",
                        r.index,
                        m.method
                    );
                }
            }
        }
    }
}

#[test]
fn unparseable_models_get_black_box_verdicts_and_are_never_verified() {
    let (_, cases) = common::read_csv(&common::fixture("exotic_ops_cases.csv"));
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x0,x1,x2,label\n");
    for c in cases.iter().take(60) {
        let label = argmax(&[c[3] as f32, c[4] as f32]);
        writeln!(csv, "{},{},{},{label}", c[0], c[1], c[2]).unwrap();
    }
    std::fs::write(dir.path().join("cases.csv"), csv).unwrap();
    let spec = format!(
        "[model]\npath = {:?}\nfeatures = [\"x0\", \"x1\", \"x2\"]\n[data]\npath = \"cases.csv\"\nlabel = \"label\"\n[threat]\nmutable = {{ x0 = 1.0, x1 = 1.0, x2 = 1.0 }}\nclip = \"none\"\n",
        common::fixture("exotic_ops.onnx")
    );
    let prepared = common::prepare_spec(dir.path(), &spec).unwrap();
    let job = BoundsJob {
        bounds: Some(BoundsConfig {
            scale_search: false,
            ..Default::default()
        }),
        attack: Some(AttackConfig {
            method: AttackMethod::BlackBox,
            ..Default::default()
        }),
    };
    let (report, rows) = bounds(&prepared, &job, &common::options(2)).unwrap();
    assert_eq!(report.summary.verified, 0);
    assert!(
        report.summary.falsified > 10,
        "black-box search found only {} counterexamples",
        report.summary.falsified
    );
    for r in rows.iter().filter(|r| r.verdict == VerdictKind::Falsified) {
        assert_ne!(r.counterexample.as_ref().unwrap().predicted, r.label);
    }
}

#[test]
fn bounds_cli_writes_rows_and_counterexamples_that_pandas_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_robcert"))
        .args([
            "bounds",
            "--spec",
            "models/threat_demo.toml",
            "--model",
            "models/fraud_mlp_standard.onnx",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = std::fs::read_to_string(out.join("bounds_rows.csv")).unwrap();
    let header: Vec<&str> = rows.lines().next().unwrap().split(',').collect();
    for col in [
        "row",
        "id",
        "verdict",
        "misclassified",
        "margin_crown",
        "scale_crown",
        "margin_alpha_crown",
        "attack_scale",
    ] {
        assert!(header.contains(&col), "missing column {col}");
    }
    assert!(
        header.iter().all(|h| h
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')),
        "column names are identifiers: {header:?}"
    );
    let falsified: Vec<String> = rows
        .lines()
        .filter(|l| l.contains(",falsified,"))
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    // One or more lines per falsified row: one per changed feature (original, new, delta).
    let ces = std::fs::read_to_string(out.join("counterexamples.csv")).unwrap();
    let ce_header: Vec<&str> = ces.lines().next().unwrap().split(',').collect();
    for col in [
        "row",
        "id",
        "predicted",
        "score_legit",
        "feature",
        "original",
        "counterexample",
        "delta",
    ] {
        assert!(ce_header.contains(&col), "missing column {col}");
    }
    let mut ce_rows: Vec<String> = ces
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    ce_rows.dedup();
    assert_eq!(
        ce_rows, falsified,
        "the counterexamples are the falsified rows'"
    );
    let feature = ce_header.iter().position(|h| *h == "feature").unwrap();
    for l in ces.lines().skip(1) {
        let f = l.split(',').nth(feature).unwrap();
        assert!(
            f.is_empty() || ["amount", "hour", "velocity_1h", "merchant_risk"].contains(&f),
            "a changed feature outside the threat: {f}"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bounds_summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary["summary"]["falsified"].as_u64().unwrap() as usize,
        falsified.len()
    );
}
