//! The `robcert` binary end to end on the bundled fixtures: help that teaches, the demo job,
//! deterministic data generation, and errors printed once with a non-zero exit code.

mod common;

use std::process::{Command, Output};

fn robcert(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_robcert"))
        .args(args)
        .current_dir(common::repo())
        .output()
        .expect("robcert runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_names_the_commands_and_explains_the_radius() {
    let top = robcert(&["--help"]);
    assert!(top.status.success());
    for cmd in [
        "demo", "certify", "verify", "keygen", "smooth", "bounds", "data", "bench",
    ] {
        assert!(text(&top).contains(cmd), "--help lacks {cmd}");
    }
    let smooth = text(&robcert(&["smooth", "--help"]));
    assert!(
        smooth.contains("budget-scaled L2") && smooth.contains("Example"),
        "{smooth}"
    );
}

#[test]
fn smooth_certifies_the_bundled_split_and_writes_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = robcert(&[
        "smooth",
        "--spec",
        "models/threat_demo.toml",
        "--out",
        out.to_str().unwrap(),
        "--n",
        "2000",
        "--n0",
        "50",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout);
    for line in [
        "clean accuracy",
        "certified target recall at budget",
        "money in uncertified target rows",
    ] {
        assert!(printed.contains(line), "summary lacks `{line}`:\n{printed}");
    }
    let csv = std::fs::read_to_string(out.join("smoothing_rows.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..6],
        ["row", "id", "label", "base_prediction", "top", "prediction"]
    );
    assert!(header.contains(&"count_fraud") && header.contains(&"certified_at_budget"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4000);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("smoothing_summary.json")).unwrap())
            .unwrap();
    let certified = rows
        .iter()
        .filter(|r| {
            r[header
                .iter()
                .position(|h| *h == "certified_at_budget")
                .unwrap()]
                == "true"
        })
        .count();
    let listed = summary["summary"]["certified_accuracy_at_budget"]
        .as_f64()
        .unwrap();
    assert!(
        (listed - certified as f64 / 4000.0).abs() < 1e-12,
        "summary and rows disagree"
    );
    assert_eq!(summary["model"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(summary["config"]["n"].as_u64(), Some(2000));
}

#[test]
fn data_synth_is_byte_identical_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    for (name, seed) in [("a.csv", "4"), ("b.csv", "4"), ("c.csv", "5")] {
        let o = robcert(&[
            "data",
            "synth",
            "--rows",
            "3000",
            "--seed",
            seed,
            "--out",
            &p(name),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let read = |n: &str| std::fs::read(p(n)).unwrap();
    assert_eq!(read("a.csv"), read("b.csv"));
    assert_ne!(read("a.csv"), read("c.csv"));
    assert!(
        text(&robcert(&[
            "data",
            "synth",
            "--rows",
            "0",
            "--out",
            &p("d.csv")
        ]))
        .contains("`rows`")
    );
}

#[test]
fn missing_onnx_runtime_library_says_how_to_install_it() {
    let o = robcert(&[
        "smooth",
        "--spec",
        "models/threat_demo.toml",
        "--out",
        "/tmp/robcert-never-written",
        "--ort-lib",
        "/nonexistent/libonnxruntime.so",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(
        t.contains("ONNX Runtime library not found") && t.contains("scripts/setup"),
        "{t}"
    );
    assert!(!std::path::Path::new("/tmp/robcert-never-written").exists());
}

#[test]
fn bad_spec_is_reported_once_with_exit_code_two() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::write_spec(
        dir.path(),
        &common::demo_spec(
            &common::models().join("fraud_mlp_standard.onnx"),
            "mutable = { amount = -5.0 }",
            "",
        ),
    );
    let o = robcert(&[
        "smooth",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert_eq!(t.matches("error:").count(), 1, "{t}");
    assert!(t.contains("threat.mutable.amount"), "{t}");
    assert!(
        !dir.path().join("o").exists(),
        "no output folder for a failed run"
    );
}

#[test]
fn keygen_certify_and_verify_through_the_binary_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let o = robcert(&["keygen", "--out", keys.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("SHA256:"));
    let again = robcert(&["keygen", "--out", keys.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "keygen must not overwrite keys without --force"
    );
    // A small spec: smoothing only, 300 rows.
    let data = std::fs::read_to_string(common::models().join("data/fraud_test.csv")).unwrap();
    let slice: Vec<&str> = data.lines().take(301).collect();
    std::fs::write(dir.path().join("slice.csv"), slice.join("\n") + "\n").unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        format!(
            "[model]\npath = {:?}\n[data]\npath = \"slice.csv\"\nlabel = \"is_fraud\"\nignore = [\"txn_id\"]\n[threat]\nmutable = {{ amount = 50.0 }}\n[methods.smoothing]\nsigma = 1.0\nn0 = 20\nn = 500\n[acceptance]\nclean_accuracy_min = 0.9\n",
            common::models().join("fraud_mlp_standard.onnx")
        ),
    )
    .unwrap();
    let out = dir.path().join("dossier");
    let key = keys.join("private.pem");
    let pubkey = keys.join("pub.pem");
    let o = robcert(&[
        "certify",
        "--spec",
        spec.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("decision: ACCEPT"), "{}", text(&o));
    let v = robcert(&[
        "verify",
        out.to_str().unwrap(),
        "--pubkey",
        pubkey.to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    assert!(text(&v).contains("VALID"));
    let mut json = std::fs::read(out.join("dossier.json")).unwrap();
    json[20] ^= 1;
    std::fs::write(out.join("dossier.json"), json).unwrap();
    let v = robcert(&[
        "verify",
        out.to_str().unwrap(),
        "--pubkey",
        pubkey.to_str().unwrap(),
    ]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(
        text(&v).contains("INVALID") && text(&v).contains("signature"),
        "{}",
        text(&v)
    );
    let o = robcert(&[
        "certify",
        "--spec",
        spec.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--force"), "{}", text(&o));
}

#[test]
fn verify_reports_unusable_inputs_as_errors_not_as_an_invalid_dossier() {
    let o = robcert(&[
        "verify",
        "certificates/demo",
        "--pubkey",
        "/nonexistent/pub.pem",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("/nonexistent/pub.pem does not exist") && !text(&o).contains("INVALID")
    );
    let o = robcert(&[
        "verify",
        "/nonexistent/dossier",
        "--pubkey",
        "certificates/demo/pub.pem",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_missing_relative_path_in_a_spec_says_where_it_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::write_spec(
        dir.path(),
        "[model]\npath = \"model.onnx\"\n[data]\npath = \"data.csv\"\nlabel = \"is_fraud\"\n[threat]\nmutable = { amount = 1.0 }\n",
    );
    let o = robcert(&[
        "smooth",
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(
        t.contains("model.path") && t.contains("resolved against the spec's folder"),
        "{t}"
    );
}
