//! The certification dossier: signed, tamper-evident, deterministic, re-checkable by `verify`,
//! and written atomically. Runs on a 400-row slice of the bundled test split so it stays fast.

mod common;

use robcert::certify::{CertifyOptions, certify};
use robcert::dossier::sign;
use robcert::dossier::verify::{VerifyOptions, verify};
use robcert::pipeline::Overrides;
use std::path::{Path, PathBuf};
use std::process::Command;

const SMALL_SPEC: &str = r#"
[model]
path = "MODEL"
[data]
path = "slice.csv"
label = "is_fraud"
amount = "amount"
ignore = ["txn_id"]
[threat]
mutable = { amount = 50.0, hour = 2.0, velocity_1h = 1.0, merchant_risk = 0.1 }
target = "fraud->legit"
[methods.smoothing]
sigma = 1.0
n0 = 50
n = 2000
alpha = 0.001
seed = 3
[methods.bounds]
methods = ["ibp", "crown"]
scale_max = 3.0
bisection_steps = 6
[methods.attack]
steps = 20
restarts = 2
[compare]
models = ["STANDARD"]
[acceptance]
certified_fraud_recall_min = 0.5
money_at_risk_max = 100000.0
[context]
intended_use = "test"
"#;

struct Fixture {
    dir: tempfile::TempDir,
    spec: PathBuf,
    key: PathBuf,
    pubkey: PathBuf,
}

/// A spec over the first 400 rows (with all their fraud rows kept), and a key pair.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::models().join("data/fraud_test.csv")).unwrap();
    let mut lines = text.lines();
    let mut slice = vec![lines.next().unwrap().to_string()];
    slice.extend(
        lines
            .enumerate()
            .filter(|(i, l)| *i < 400 || (l.ends_with(",1") && *i < 2000))
            .map(|(_, l)| l.to_string()),
    );
    std::fs::write(dir.path().join("slice.csv"), slice.join("\n") + "\n").unwrap();
    let model = common::models().join("fraud_mlp_gaussian.onnx");
    let spec = dir.path().join("spec.toml");
    let standard = common::models().join("fraud_mlp_standard.onnx");
    std::fs::write(
        &spec,
        SMALL_SPEC
            .replace("MODEL", model.to_str().unwrap())
            .replace("STANDARD", standard.to_str().unwrap()),
    )
    .unwrap();
    let keys = sign::keypair_from_seed(&[9u8; 32]);
    let key = dir.path().join("private.pem");
    let pubkey = dir.path().join("pub.pem");
    std::fs::write(&key, &keys.private_pem).unwrap();
    std::fs::write(&pubkey, &keys.public_pem).unwrap();
    Fixture {
        dir,
        spec,
        key,
        pubkey,
    }
}

fn options(f: &Fixture, out: &Path) -> CertifyOptions {
    CertifyOptions {
        out: out.to_path_buf(),
        force: false,
        key: f.key.clone(),
        job: common::options(2),
        timestamp: Some("2026-01-01T00:00:00Z".into()),
        source_commit: Some("test".into()),
    }
}

fn check(f: &Fixture, dir: &Path) -> robcert::Result<robcert::dossier::verify::VerifyReport> {
    verify(&VerifyOptions {
        dir: dir.to_path_buf(),
        pubkey: f.pubkey.clone(),
        model: None,
        data: None,
        replay: false,
        job: common::options(2),
    })
}

fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn dossier_verifies_replays_and_is_byte_identical_for_the_same_spec_and_seed() {
    let f = fixture();
    let a = f.dir.path().join("a");
    let b = f.dir.path().join("b");
    let done = certify(&f.spec, &Overrides::default(), &options(&f, &a)).unwrap();
    certify(&f.spec, &Overrides::default(), &options(&f, &b)).unwrap();
    assert_eq!(
        all_files(&a),
        all_files(&b),
        "same spec and seed, different bytes"
    );
    for name in [
        "dossier.json",
        "dossier.sig",
        "report.html",
        "smoothing_rows.csv",
        "bounds_rows.csv",
        "counterexamples.csv",
        "plots/certified_vs_budget.png",
        "plots/money_at_risk.svg",
    ] {
        assert!(a.join(name).is_file(), "missing {name}");
    }
    assert!(
        done.dossier
            .criteria
            .iter()
            .all(|c| c.result == "PASS" || c.result == "FAIL")
    );
    let report = check(&f, &a).unwrap();
    assert!(report.passed.len() >= 6, "{:?}", report.passed);
    let replayed = verify(&VerifyOptions {
        dir: a.clone(),
        pubkey: f.pubkey.clone(),
        model: Some(common::models().join("fraud_mlp_gaussian.onnx")),
        data: Some(f.dir.path().join("slice.csv")),
        replay: true,
        job: common::options(2),
    })
    .unwrap();
    assert!(
        replayed
            .passed
            .iter()
            .any(|p| p.contains("replayed bounds")),
        "{:?}",
        replayed.passed
    );
    assert!(
        replayed.notes.iter().any(|n| n.contains("agree")),
        "{:?}",
        replayed.notes
    );
    // The HTML report makes no external request.
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
}

#[test]
fn every_flipped_byte_wrong_key_and_unsigned_forgery_are_rejected() {
    let f = fixture();
    let a = f.dir.path().join("a");
    certify(&f.spec, &Overrides::default(), &options(&f, &a)).unwrap();
    check(&f, &a).unwrap();
    for name in [
        "dossier.json",
        "smoothing_rows.csv",
        "bounds_rows.csv",
        "counterexamples.csv",
        "plots/margin_bounds.png",
        "report.html",
        "dossier.sig",
    ] {
        let p = a.join(name);
        let original = std::fs::read(&p).unwrap();
        // Every byte of the signature and of dossier.json; a spread sample elsewhere.
        let step = if name == "dossier.json" || name == "dossier.sig" {
            1
        } else {
            (original.len() / 150).max(1)
        };
        for i in (0..original.len()).step_by(step) {
            let mut bytes = original.clone();
            bytes[i] ^= 0x01;
            std::fs::write(&p, &bytes).unwrap();
            assert!(
                check(&f, &a).is_err(),
                "{name}: flipping byte {i} was not detected"
            );
        }
        std::fs::write(&p, &original).unwrap();
    }
    check(&f, &a).unwrap();
    let other = sign::keypair_from_seed(&[1u8; 32]);
    let wrong = f.dir.path().join("wrong.pem");
    std::fs::write(&wrong, other.public_pem).unwrap();
    let e = verify(&VerifyOptions {
        dir: a.clone(),
        pubkey: wrong,
        model: None,
        data: None,
        replay: false,
        job: common::options(1),
    })
    .unwrap_err();
    assert!(e.to_string().contains("signature"), "{e}");
    // A consistent-looking forgery of a number, without re-signing.
    let json = std::fs::read_to_string(a.join("dossier.json")).unwrap();
    std::fs::write(
        a.join("dossier.json"),
        json.replacen("\"REJECT\"", "\"ACCEPT\"", 1)
            .replacen("\"FAIL\"", "\"PASS\"", 1),
    )
    .unwrap();
    if std::fs::read_to_string(a.join("dossier.json")).unwrap() != json {
        assert!(check(&f, &a).is_err());
    }
}

/// Edits the recorded counts (or verdicts), re-signs with the right key, and expects `verify` to
/// catch that the numbers no longer follow.
#[test]
fn resigned_edits_of_counts_and_verdicts_are_caught_by_recomputation() {
    let f = fixture();
    let a = f.dir.path().join("a");
    certify(&f.spec, &Overrides::default(), &options(&f, &a)).unwrap();
    let key = sign::load_signing_key(&f.key).unwrap();
    let resign = |dir: &Path| {
        // Update the rows' hash in dossier.json and re-sign: a forger holding the key.
        let mut d: robcert::dossier::document::Dossier =
            serde_json::from_slice(&std::fs::read(dir.join("dossier.json")).unwrap()).unwrap();
        for res in [d.results.smoothing.as_mut(), d.results.bounds.as_mut()]
            .into_iter()
            .flatten()
        {
            res.rows.sha256 =
                robcert::runtime::sha256_hex(&std::fs::read(dir.join(&res.rows.path)).unwrap());
        }
        let json = robcert::dossier::canonical::to_canonical(&d).unwrap();
        std::fs::write(dir.join("dossier.sig"), sign::sign_bytes(&key, &json)).unwrap();
        std::fs::write(dir.join("dossier.json"), json).unwrap();
    };
    // 1. Raise a fraud row's top-class count: its recorded p_lower no longer follows.
    let rows_path = a.join("smoothing_rows.csv");
    let original = std::fs::read_to_string(&rows_path).unwrap();
    let header: Vec<&str> = original.lines().next().unwrap().split(',').collect();
    let (legit, fraud) = (
        header.iter().position(|h| *h == "count_legit").unwrap(),
        header.iter().position(|h| *h == "count_fraud").unwrap(),
    );
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let target = lines
        .iter()
        .position(|l| {
            let c: Vec<&str> = l.split(',').collect();
            c.len() > fraud && c[1] == "1" && c[fraud].parse::<u64>().unwrap_or(0) > 10
        })
        .unwrap();
    let mut cells: Vec<String> = lines[target].split(',').map(str::to_string).collect();
    let (l, r): (u64, u64) = (cells[legit].parse().unwrap(), cells[fraud].parse().unwrap());
    cells[legit] = (l + 5).to_string();
    cells[fraud] = (r - 5).to_string();
    lines[target] = cells.join(",");
    std::fs::write(&rows_path, lines.join("\n") + "\n").unwrap();
    resign(&a);
    let e = check(&f, &a).unwrap_err().to_string();
    assert!(e.contains("p_lower") || e.contains("counts"), "{e}");
    std::fs::write(&rows_path, &original).unwrap();
    resign(&a);
    check(&f, &a).unwrap();
    // 2. Turn a falsified bounds row into a verified one.
    let bounds_path = a.join("bounds_rows.csv");
    let original = std::fs::read_to_string(&bounds_path).unwrap();
    let forged = original.replacen(",falsified,", ",verified,", 1);
    assert_ne!(forged, original, "the slice should contain a falsified row");
    std::fs::write(&bounds_path, forged).unwrap();
    resign(&a);
    let e = check(&f, &a).unwrap_err().to_string();
    assert!(e.contains("verdict"), "{e}");
}

#[test]
fn openssl_alone_checks_the_signature() {
    let f = fixture();
    let a = f.dir.path().join("a");
    certify(&f.spec, &Overrides::default(), &options(&f, &a)).unwrap();
    let run = |data: &Path| {
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(&f.pubkey)
            .args(["-rawin", "-in"])
            .arg(data)
            .arg("-sigfile")
            .arg(a.join("dossier.sig"))
            .output()
    };
    let Ok(ok) = run(&a.join("dossier.json")) else {
        eprintln!("note: openssl not found; skipped");
        return;
    };
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Signature Verified Successfully"));
    let tampered = f.dir.path().join("tampered.json");
    let mut bytes = std::fs::read(a.join("dossier.json")).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    assert!(!run(&tampered).unwrap().status.success());
}

#[test]
fn bad_inputs_are_refused_and_leave_no_partial_dossier() {
    let f = fixture();
    let out = f.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let e = certify(&f.spec, &Overrides::default(), &options(&f, &out))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("exists") && e.contains("--force"), "{e}");
    let mut forced = options(&f, &out);
    forced.force = true;
    certify(&f.spec, &Overrides::default(), &forced).unwrap();
    assert!(out.join("dossier.json").is_file());

    let spec_text = std::fs::read_to_string(&f.spec).unwrap();
    let bad_metric = f.dir.path().join("bad_metric.toml");
    std::fs::write(
        &bad_metric,
        spec_text.replace("money_at_risk_max", "money_max"),
    )
    .unwrap();
    let e = certify(
        &bad_metric,
        &Overrides::default(),
        &options(&f, &f.dir.path().join("x")),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("acceptance.money_max") && e.contains("unknown metric"),
        "{e}"
    );

    let missing = f.dir.path().join("missing.toml");
    std::fs::write(&missing, spec_text.replace("slice.csv", "nope.csv")).unwrap();
    let e = certify(
        &missing,
        &Overrides::default(),
        &options(&f, &f.dir.path().join("y")),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("nope.csv") && e.contains("does not exist"),
        "{e}"
    );

    let mut bad_key = options(&f, &f.dir.path().join("z"));
    let garbled = f.dir.path().join("garbled.pem");
    std::fs::write(&garbled, "not a key").unwrap();
    bad_key.key = garbled;
    let e = certify(&f.spec, &Overrides::default(), &bad_key)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("garbled.pem"), "{e}");

    // A destination that cannot be created (its parent is a file: fails even for root, like a
    // full disk or a permission error would): a clear error and nothing left behind.
    let blocker = f.dir.path().join("blocker");
    std::fs::write(&blocker, b"a file, not a folder").unwrap();
    let target = blocker.join("dossier");
    let e = certify(&f.spec, &Overrides::default(), &options(&f, &target))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("blocker"), "{e}");
    assert!(!target.exists());
    for x in ["x", "y", "z"] {
        assert!(
            !f.dir.path().join(x).exists(),
            "{x}: output created by a failed run"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary folders left: {leftovers:?}"
    );
}

/// The committed example dossier in certificates/demo is what the current code produces: the
/// demo re-run with the recorded timestamp and source commit gives the same bytes, file by file.
#[test]
fn committed_demo_dossier_is_reproduced_byte_for_byte() {
    let demo = common::repo().join("certificates/demo");
    let recorded: robcert::dossier::document::Dossier =
        serde_json::from_slice(&std::fs::read(demo.join("dossier.json")).unwrap()).unwrap();
    let keys = robcert::cli::dossier::demo_keypair();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("private.pem");
    std::fs::write(&key, keys.private_pem).unwrap();
    let out = dir.path().join("demo");
    let spec = Path::new("models/threat_demo.toml");
    std::env::set_current_dir(common::repo()).unwrap();
    certify(
        spec,
        &Overrides::default(),
        &CertifyOptions {
            out: out.clone(),
            force: false,
            key,
            job: common::options(2),
            timestamp: Some(recorded.generated_at.clone()),
            source_commit: Some(recorded.engine.source_commit.clone()),
        },
    )
    .unwrap();
    let ours = all_files(&out);
    let theirs = all_files(&demo);
    assert_eq!(
        ours.iter().map(|f| &f.0).collect::<Vec<_>>(),
        theirs.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, a), (_, b)) in ours.iter().zip(&theirs) {
        assert!(
            a == b,
            "{} differs from the committed demo dossier (regenerate with `robcert demo`)",
            name.display()
        );
    }
}

#[test]
fn compare_runs_one_spec_on_several_models_and_ranks_the_ibp_model_most_verifiable() {
    let f = fixture();
    let models: Vec<PathBuf> = ["standard", "ibp"]
        .iter()
        .map(|m| common::models().join(format!("fraud_mlp_{m}.onnx")))
        .collect();
    let rows = robcert::compare::compare(&f.spec, &models, &common::options(2), true).unwrap();
    assert_eq!(rows.len(), 2);
    let out = f.dir.path().join("cmp");
    let table = robcert::compare::write_comparison(&out, &rows).unwrap();
    assert!(table.contains("fraud_mlp_standard") && table.contains("fraud_mlp_ibp"));
    for name in [
        "compare.csv",
        "compare.json",
        "compare.html",
        "compare_certified_vs_budget.png",
    ] {
        assert!(out.join(name).is_file(), "missing {name}");
    }
    // IBP training is what makes interval bounds verify: the standard model gets none.
    assert!(rows[1].verified_share_by_method["ibp"] > rows[0].verified_share_by_method["ibp"]);
    assert_eq!(
        std::fs::read_to_string(out.join("compare.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

/// The committed demo report renders in headless Chromium with every network lookup refused
/// (the page needs none: images are data URIs, no scripts, no external links). Skipped with a
/// note where Chromium is not installed (.ci/run installs it from Debian's packages).
#[test]
fn demo_report_renders_in_headless_chromium_offline() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    let Some(chromium) = chromium else {
        eprintln!("note: chromium not installed; screenshot check skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("report.png");
    let page = common::repo().join("certificates/demo/report.html");
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg("--host-resolver-rules=MAP * ~NOTFOUND")
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1100,3000")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let png = std::fs::read(&shot)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&o.stderr)));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "screenshot of {} bytes",
        png.len()
    );
}
