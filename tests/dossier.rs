//! The certification dossier: signed, deterministic, written atomically, and re-checkable by a
//! regulator who trusts neither the certifier's run nor the folder: every forgery below —
//! re-signed by the legitimate key, or by another key with pub.pem replaced — is rejected with
//! the right message, hostile folders are refused, and the honest dossier verifies and replays
//! from another working directory. Runs on a 400-row slice of the bundled test split.

mod common;

use robcert::certify::{CertifyOptions, SigningKey, certify};
use robcert::dossier::document::Dossier;
use robcert::dossier::verify::{TrustedKey, VerifyOptions, verify};
use robcert::dossier::{canonical, sign};
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
id = "txn_id"
[threat]
mutable = { amount = 50.0, hour = 2.0, velocity_1h = 1.0, merchant_risk = 0.1 }
target = "fraud->legit"
integer = ["velocity_1h"]
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
currency = "EUR"
"#;

struct Fixture {
    dir: tempfile::TempDir,
    spec: PathBuf,
    key: PathBuf,
    pubkey: PathBuf,
}

/// A spec over the first 400 rows (with all their fraud rows kept), and a key pair kept outside
/// any dossier folder.
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
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let key = dir.path().join("keys/private.pem");
    let pubkey = dir.path().join("keys/pub.pem");
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
        key: SigningKey::File(f.key.clone()),
        job: common::options(2),
        timestamp: Some("2026-01-01T00:00:00Z".into()),
        source_commit: Some("test".into()),
    }
}

fn verify_options(dir: &Path, key: TrustedKey) -> VerifyOptions {
    VerifyOptions {
        dir: dir.to_path_buf(),
        key,
        model: None,
        data: None,
        replay: false,
        fresh_sample: false,
        compare_dir: None,
        job: common::options(2),
    }
}

/// Verifies with the trusted key, the model and the data (their hashes, and the threat's
/// ranges resolved from the data), without a replay.
fn check(f: &Fixture, dir: &Path) -> robcert::Result<robcert::dossier::verify::VerifyReport> {
    let mut o = verify_options(dir, TrustedKey::File(f.pubkey.clone()));
    o.model = Some(common::models().join("fraud_mlp_gaussian.onnx"));
    o.data = Some(f.dir.path().join("slice.csv"));
    verify(&o)
}

fn invalid_message(r: robcert::Result<robcert::dossier::verify::VerifyReport>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(report) => panic!("accepted: {:?}", report.passed),
    }
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

/// A competent forger holding a signing key: edits the dossier with `edit`, re-renders the report
/// from the edited dossier (when it still renders), refreshes the hashes of every listed file (so
/// only the forged content differs), and re-signs.
fn forge(dir: &Path, key: &ed25519_dalek::SigningKey, edit: impl FnOnce(&mut Dossier)) {
    let mut d: Dossier =
        serde_json::from_slice(&std::fs::read(dir.join("dossier.json")).unwrap()).unwrap();
    edit(&mut d);
    if let Ok(files) = robcert::dossier::folder::read_folder(dir)
        && let Ok(stated) = robcert::certify::state(
            &d.sections,
            &files,
            &d.threat,
            &d.acceptance,
            &d.context.currency,
            d.inputs.data_rows,
        )
    {
        let html = robcert::certify::render_report(&d, &stated);
        std::fs::write(dir.join("report.html"), html).unwrap();
    }
    for f in d.files.iter_mut() {
        if let Ok(bytes) = std::fs::read(dir.join(&f.path)) {
            f.sha256 = robcert::runtime::sha256_hex(&bytes);
        }
    }
    for s in d.sections.iter_mut() {
        for f in s.files.iter_mut() {
            if let Ok(bytes) = std::fs::read(dir.join(&f.path)) {
                f.sha256 = robcert::runtime::sha256_hex(&bytes);
            }
        }
    }
    let json = canonical::to_canonical(&d).unwrap();
    std::fs::write(dir.join("dossier.sig"), sign::sign_bytes(key, &json)).unwrap();
    std::fs::write(dir.join("dossier.json"), json).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in all_files(from) {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

#[test]
fn dossier_is_byte_identical_verifies_and_replays_from_another_directory() {
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
        "spec.toml",
        "report.html",
        "smoothing_rows.csv",
        "bounds_rows.csv",
        "counterexamples.csv",
        "plots/certified_vs_budget.png",
        "plots/money_at_risk.svg",
        ".robcert-output",
    ] {
        assert!(a.join(name).is_file(), "missing {name}");
    }
    assert_eq!(
        std::fs::read(a.join("spec.toml")).unwrap(),
        std::fs::read(&f.spec).unwrap(),
        "the folder carries the exact spec"
    );
    assert!(
        done.dossier.metrics["certified_fraud_recall"]
            .lower
            .is_some()
    );
    let report = check(&f, &a).unwrap();
    assert!(report.passed.len() >= 8, "{:?}", report.passed);
    // Replay through the binary, from an unrelated working directory, with only the folder, the
    // model and the data.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_robcert"))
        .current_dir(elsewhere.path())
        .arg("verify")
        .arg(&a)
        .arg("--pubkey")
        .arg(&f.pubkey)
        .arg("--model")
        .arg(common::models().join("fraud_mlp_gaussian.onnx"))
        .arg("--data")
        .arg(f.dir.path().join("slice.csv"))
        .args(["--replay", "--fresh-sample", "--quiet"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("VALID") && !text.contains("INVALID"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in [
        "replayed smoothing",
        "replayed bounds",
        "replayed compare",
        "fresh smoothing sample",
    ] {
        assert!(text.contains(part), "missing `{part}` in:\n{text}");
    }
    let code = out.status.code().unwrap();
    let decision = &done.dossier.decision.outcome;
    assert_eq!(
        code,
        match decision.as_str() {
            "ACCEPT" => 0,
            "REJECT" => 3,
            _ => 4,
        },
        "exit status for {decision}"
    );
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
        "spec.toml",
        "dossier.sig",
    ] {
        let p = a.join(name);
        let original = std::fs::read(&p).unwrap();
        let step = if name == "dossier.json" || name == "dossier.sig" {
            1
        } else {
            (original.len() / 100).max(1)
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
    let wrong = f.dir.path().join("keys/wrong.pem");
    std::fs::write(&wrong, other.public_pem).unwrap();
    let e = invalid_message(verify(&verify_options(&a, TrustedKey::File(wrong))));
    assert!(e.contains("signature"), "{e}");
}

/// The legitimate signer (or anyone holding the key) edits a recorded field and re-signs: every
/// edit is caught, and the message names what differs.
#[test]
fn resigned_edits_are_caught_field_by_field() {
    let f = fixture();
    let a = f.dir.path().join("a");
    certify(&f.spec, &Overrides::default(), &options(&f, &a)).unwrap();
    let key = sign::load_signing_key(&f.key).unwrap();
    let pristine = f.dir.path().join("pristine");
    copy_dir(&a, &pristine);
    let reset = || {
        std::fs::remove_dir_all(&a).unwrap();
        copy_dir(&pristine, &a);
    };
    type Edit = Box<dyn Fn(&mut Dossier)>;
    let edits: Vec<(&str, Edit, &str)> = vec![
        (
            "acceptance threshold",
            Box::new(|d| {
                *d.acceptance
                    .criteria
                    .get_mut("certified_fraud_recall_min")
                    .unwrap() = robcert::config::CriterionSpec::Threshold(0.01);
            }),
            "acceptance",
        ),
        (
            "a threat budget",
            Box::new(|d| d.threat.budgets[0] *= 2.0),
            "threat.budgets",
        ),
        (
            "a valid range",
            Box::new(|d| d.threat.upper[1] += 1.0),
            "upper",
        ),
        (
            "a smoothing seed",
            Box::new(|d| {
                let s = d
                    .sections
                    .iter_mut()
                    .find(|s| s.kind == "smoothing")
                    .unwrap();
                s.record["config"]["seed"] = 99.into();
            }),
            "methods.smoothing",
        ),
        (
            "an attack parameter",
            Box::new(|d| {
                let s = d.sections.iter_mut().find(|s| s.kind == "bounds").unwrap();
                s.record["attack"]["restarts"] = 0.into();
            }),
            "methods.attack",
        ),
        (
            "the bounds section removed",
            Box::new(|d| d.sections.retain(|s| s.kind != "bounds")),
            "sections",
        ),
        (
            "the comparison",
            Box::new(|d| {
                let s = d.sections.iter_mut().find(|s| s.kind == "compare").unwrap();
                s.record["models"][0]["verified"] = 0.into();
            }),
            "comparison",
        ),
        (
            "the context",
            Box::new(|d| d.context.intended_use = "anything".into()),
            "context",
        ),
        (
            "the data row count",
            Box::new(|d| d.inputs.data_rows += 1),
            "rows",
        ),
        (
            "a metric",
            Box::new(|d| d.metrics.get_mut("clean_accuracy").unwrap().value = 1.0),
            "metrics",
        ),
        (
            "the decision",
            Box::new(|d| d.decision.outcome = "REJECT".into()),
            "decision",
        ),
        (
            "a listed path outside the folder",
            Box::new(|d| d.files[0].path = "../../etc/hostname".into()),
            "plain relative",
        ),
    ];
    for (what, edit, expect) in edits {
        forge(&a, &key, edit);
        let e = match check(&f, &a) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{what}: the forgery verified"),
        };
        assert!(e.contains(expect), "{what}: `{expect}` not in: {e}");
        reset();
    }
    check(&f, &a).unwrap();
    // Rows edited, their hashes refreshed and re-signed: the recomputation catches them.
    let rows_path = a.join("smoothing_rows.csv");
    let original = std::fs::read_to_string(&rows_path).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let header: Vec<String> = lines[0].split(',').map(str::to_string).collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (legit, fraud, label) = (col("count_legit"), col("count_fraud"), col("label"));
    let row = lines
        .iter()
        .position(|l| {
            let c: Vec<&str> = l.split(',').collect();
            c.get(label) == Some(&"1") && c[fraud].parse::<u64>().unwrap_or(0) > 10
        })
        .unwrap();
    let mut cells: Vec<String> = lines[row].split(',').map(str::to_string).collect();
    let (l, r): (u64, u64) = (cells[legit].parse().unwrap(), cells[fraud].parse().unwrap());
    cells[legit] = (l + 5).to_string();
    cells[fraud] = (r - 5).to_string();
    lines[row] = cells.join(",");
    std::fs::write(&rows_path, lines.join("\n") + "\n").unwrap();
    forge(&a, &key, |_| {});
    let e = invalid_message(check(&f, &a));
    assert!(e.contains("p_lower") || e.contains("counts"), "{e}");
    reset();
    // A falsified bounds row turned into a verified one.
    let bounds_path = a.join("bounds_rows.csv");
    let text = std::fs::read_to_string(&bounds_path).unwrap();
    let forged = text.replacen(",falsified,", ",verified,", 1);
    assert_ne!(forged, text, "the slice should contain a falsified row");
    std::fs::write(&bounds_path, forged).unwrap();
    forge(&a, &key, |_| {});
    let e = invalid_message(check(&f, &a));
    assert!(e.contains("verdict") || e.contains("counterexample"), "{e}");
    reset();
    // Forged scores in counterexamples.csv: they no longer give the target class.
    let ce_path = a.join("counterexamples.csv");
    let text = std::fs::read_to_string(&ce_path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<String> = lines[0].split(',').map(str::to_string).collect();
    let legit = header.iter().position(|h| h == "score_legit").unwrap();
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    cells[legit] = "-1000".into();
    lines[1] = cells.join(",");
    std::fs::write(&ce_path, lines.join("\n") + "\n").unwrap();
    forge(&a, &key, |_| {});
    let e = invalid_message(check(&f, &a));
    assert!(e.contains("scores"), "{e}");
    reset();
}

/// Results computed on altered data but presented with the real data's hash: only a replay on
/// the real data can tell, and it does (the rows differ), instead of "299 of 300 rows agree".
#[test]
fn replay_catches_results_computed_on_other_data() {
    let f = fixture();
    let altered = f.dir.path().join("altered.csv");
    let text = std::fs::read_to_string(f.dir.path().join("slice.csv")).unwrap();
    // Move one fraud row's merchant risk to the valid range's lower end.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let risk = header.iter().position(|h| *h == "merchant_risk").unwrap();
    let row = lines.iter().position(|l| l.ends_with(",1")).unwrap();
    let mut cells: Vec<String> = lines[row].split(',').map(str::to_string).collect();
    cells[risk] = "0".into();
    lines[row] = cells.join(",");
    std::fs::write(&altered, lines.join("\n") + "\n").unwrap();
    let a = f.dir.path().join("a");
    certify(
        &f.spec,
        &Overrides {
            model: None,
            data: Some(altered),
        },
        &options(&f, &a),
    )
    .unwrap();
    let key = sign::load_signing_key(&f.key).unwrap();
    let real_hash =
        robcert::runtime::sha256_hex(&std::fs::read(f.dir.path().join("slice.csv")).unwrap());
    forge(&a, &key, |d| d.inputs.data.sha256 = real_hash.clone());
    // Without a replay the forgery holds together (the hash is the real data's)...
    let mut o = verify_options(&a, TrustedKey::File(f.pubkey.clone()));
    o.data = Some(f.dir.path().join("slice.csv"));
    let e = verify(&o);
    // ...unless the data's own ranges already differ; a replay settles it either way.
    let _ = e;
    let mut o = verify_options(&a, TrustedKey::File(f.pubkey.clone()));
    o.model = Some(common::models().join("fraud_mlp_gaussian.onnx"));
    o.data = Some(f.dir.path().join("slice.csv"));
    o.replay = true;
    let e = invalid_message(verify(&o));
    assert!(e.contains("replay"), "{e}");
}

#[test]
fn keys_are_never_trusted_from_the_folder_and_a_demo_key_warns() {
    let f = fixture();
    let a = f.dir.path().join("a");
    certify(&f.spec, &Overrides::default(), &options(&f, &a)).unwrap();
    // The folder's own pub.pem as --pubkey: a usage error, not VALID.
    let e = verify(&verify_options(&a, TrustedKey::File(a.join("pub.pem")))).unwrap_err();
    assert!(matches!(e, robcert::Error::Usage { .. }), "{e}");
    // An attacker re-signs with their own key and replaces pub.pem: the trusted key rejects it,
    // and a pinned fingerprint rejects the replaced pub.pem.
    let attacker = sign::keypair_from_seed(&[66u8; 32]);
    let akey = ed25519_dalek::SigningKey::from_bytes(&[66u8; 32]);
    std::fs::write(a.join("pub.pem"), &attacker.public_pem).unwrap();
    forge(&a, &akey, |d| {
        d.signature.public_key_fingerprint = attacker.fingerprint().unwrap();
    });
    let e = invalid_message(check(&f, &a));
    assert!(e.contains("signature"), "{e}");
    let honest_fp = sign::keypair_from_seed(&[9u8; 32]).fingerprint().unwrap();
    let e = invalid_message(verify(&verify_options(
        &a,
        TrustedKey::Fingerprint(honest_fp.clone()),
    )));
    assert!(e.contains("pinned"), "{e}");
    // The honest dossier verifies with the pinned fingerprint.
    let b = f.dir.path().join("b");
    certify(&f.spec, &Overrides::default(), &options(&f, &b)).unwrap();
    let ok = verify(&verify_options(&b, TrustedKey::Fingerprint(honest_fp))).unwrap();
    assert!(ok.warnings.is_empty());
    // Signed with the public demo key: VALID, with a warning that it proves nothing.
    let demo = f.dir.path().join("demo");
    let mut o = options(&f, &demo);
    o.key = SigningKey::InMemory(Box::new(
        ed25519_dalek::SigningKey::from_bytes(&demo_seed()),
    ));
    certify(&f.spec, &Overrides::default(), &o).unwrap();
    let demo_pub = f.dir.path().join("keys/demo_pub.pem");
    std::fs::write(&demo_pub, robcert::cli::dossier::demo_keypair().public_pem).unwrap();
    let r = verify(&verify_options(&demo, TrustedKey::File(demo_pub))).unwrap();
    assert!(
        r.warnings.iter().any(|w| w.contains("DEMO KEY")),
        "{:?}",
        r.warnings
    );
    let html = std::fs::read_to_string(demo.join("report.html")).unwrap();
    assert!(html.contains("public demo key"));
}

fn demo_seed() -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b"robcert public demo key - signs nothing but demos").into()
}

#[test]
fn hostile_folders_are_refused_quickly() {
    let f = fixture();
    let a = f.dir.path().join("a");
    certify(&f.spec, &Overrides::default(), &options(&f, &a)).unwrap();
    let pristine = f.dir.path().join("pristine");
    copy_dir(&a, &pristine);
    let reset = || {
        std::fs::remove_dir_all(&a).unwrap();
        copy_dir(&pristine, &a);
    };
    // An unlisted file (e.g. a second report) is reported.
    std::fs::write(a.join("report_final.html"), b"<p>ACCEPT</p>").unwrap();
    let e = invalid_message(check(&f, &a));
    assert!(
        e.contains("report_final.html") && e.contains("not listed"),
        "{e}"
    );
    reset();
    // Symlinks and special files: refused, never followed (a FIFO would hang, /dev/zero would
    // never end).
    std::os::unix::fs::symlink("/dev/zero", a.join("zero")).unwrap();
    let t = std::time::Instant::now();
    let e = invalid_message(check(&f, &a));
    assert!(e.contains("symbolic link"), "{e}");
    reset();
    let fifo = a.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let e = invalid_message(check(&f, &a));
        assert!(e.contains("special file"), "{e}");
        reset();
    }
    std::fs::remove_file(a.join("report.html")).unwrap();
    std::os::unix::fs::symlink(a.join("dossier.json"), a.join("report.html")).unwrap();
    let e = invalid_message(check(&f, &a));
    assert!(e.contains("symbolic link"), "{e}");
    reset();
    assert!(
        t.elapsed().as_secs() < 5,
        "hostile folders must be refused quickly"
    );
    check(&f, &a).unwrap();
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
fn bad_inputs_are_refused_and_nothing_is_lost() {
    let f = fixture();
    // A user's folder is never replaced, even with --force.
    let user = f.dir.path().join("mine");
    std::fs::create_dir(&user).unwrap();
    std::fs::write(user.join("notes.txt"), b"precious").unwrap();
    let mut forced = options(&f, &user);
    forced.force = true;
    let e = certify(&f.spec, &Overrides::default(), &forced)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a robcert output"), "{e}");
    assert_eq!(std::fs::read(user.join("notes.txt")).unwrap(), b"precious");
    // Nor a regular file.
    let file = f.dir.path().join("a_file");
    std::fs::write(&file, b"keep").unwrap();
    let mut forced = options(&f, &file);
    forced.force = true;
    assert!(certify(&f.spec, &Overrides::default(), &forced).is_err());
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    // A robcert output needs --force to be replaced.
    let out = f.dir.path().join("out");
    certify(&f.spec, &Overrides::default(), &options(&f, &out)).unwrap();
    let e = certify(&f.spec, &Overrides::default(), &options(&f, &out))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--force"), "{e}");
    let mut forced = options(&f, &out);
    forced.force = true;
    certify(&f.spec, &Overrides::default(), &forced).unwrap();
    check(&f, &out).unwrap();

    let spec_text = std::fs::read_to_string(&f.spec).unwrap();
    for (what, edited, expect) in [
        (
            "unknown criterion",
            spec_text.replace("money_at_risk_max", "money_max"),
            "acceptance.money_max",
        ),
        (
            "share as a percentage",
            spec_text.replace(
                "certified_fraud_recall_min = 0.5",
                "certified_fraud_recall_min = 80",
            ),
            "0.80, not 80",
        ),
        (
            "missing data",
            spec_text.replace("slice.csv", "nope.csv"),
            "nope.csv",
        ),
        (
            "bisection steps beyond the limit",
            spec_text.replace("bisection_steps = 6", "bisection_steps = 1000000000000"),
            "bisection_steps",
        ),
        (
            "a sample size beyond the limit",
            spec_text.replace("n = 2000", "n = 4611686018427387904"),
            "n",
        ),
    ] {
        let p = f.dir.path().join("edited.toml");
        std::fs::write(&p, edited).unwrap();
        let e = certify(
            &p,
            &Overrides::default(),
            &options(&f, &f.dir.path().join("x")),
        )
        .err()
        .unwrap_or_else(|| panic!("{what}: accepted"))
        .to_string();
        assert!(e.contains(expect), "{what}: {e}");
    }
    let mut bad_key = options(&f, &f.dir.path().join("z"));
    let garbled = f.dir.path().join("garbled.pem");
    std::fs::write(&garbled, "not a key").unwrap();
    bad_key.key = SigningKey::File(garbled);
    let e = certify(&f.spec, &Overrides::default(), &bad_key)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("garbled.pem"), "{e}");
    let blocker = f.dir.path().join("blocker");
    std::fs::write(&blocker, b"a file, not a folder").unwrap();
    let target = blocker.join("dossier");
    let e = certify(&f.spec, &Overrides::default(), &options(&f, &target))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("blocker"), "{e}");
    for x in ["x", "z"] {
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

/// SIGKILL at random moments of `certify --force` over an existing dossier: the folder is always
/// the old or the new VALID dossier, and the next run leaves no debris.
#[test]
fn killed_certify_leaves_the_old_or_the_new_dossier() {
    let f = fixture();
    let out = f.dir.path().join("out");
    let run = |force: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_robcert"));
        c.arg("certify")
            .arg("--spec")
            .arg(&f.spec)
            .arg("--key")
            .arg(&f.key)
            .arg("--out")
            .arg(&out)
            .args(["--quiet", "--timestamp", "2026-01-01T00:00:00Z"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if force {
            c.arg("--force");
        }
        c
    };
    assert!(run(false).status().unwrap().code().is_some());
    check(&f, &out).unwrap();
    let mut rng = 12345u64;
    for _ in 0..6 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_millis(200 + (rng >> 33) % 4000);
        let mut child = run(true).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        check(&f, &out).unwrap_or_else(|e| panic!("after a kill at {delay:?}: {e}"));
    }
    assert!(run(true).status().unwrap().code().is_some());
    check(&f, &out).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "debris after the next run: {leftovers:?}"
    );
}

/// The committed example dossier in certificates/demo is what the current code produces: the
/// demo re-run with the recorded timestamp and source commit gives the same bytes, file by file.
#[test]
fn committed_demo_dossier_is_reproduced_byte_for_byte() {
    let demo = common::repo().join("certificates/demo");
    let recorded: Dossier =
        serde_json::from_slice(&std::fs::read(demo.join("dossier.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    certify(
        &common::models().join("threat_demo.toml"),
        &Overrides::default(),
        &CertifyOptions {
            out: out.clone(),
            force: false,
            key: SigningKey::InMemory(Box::new(
                ed25519_dalek::SigningKey::from_bytes(&demo_seed()),
            )),
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
    let (files, table) = robcert::compare::comparison_files(&rows).unwrap();
    assert!(table.contains("fraud_mlp_standard") && table.contains("fraud_mlp_ibp"));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "compare.csv",
        "compare.json",
        "compare.html",
        "compare_certified_vs_budget.png",
    ] {
        assert!(names.contains(&name), "missing {name}");
    }
    let html = String::from_utf8(
        files
            .iter()
            .find(|f| f.0 == "compare.html")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(
        !html.contains("class=\"decision"),
        "a comparison decides nothing"
    );
    assert!(rows[1].verified_share_by_method["ibp"] > rows[0].verified_share_by_method["ibp"]);
    for r in &rows {
        assert_eq!(r.verified + r.falsified + r.unknown, r.target_rows);
    }
    // Models that take other inputs are refused.
    let other = common::fixture("linear_2class.onnx");
    let e = robcert::compare::compare(
        &f.spec,
        &[models[0].clone(), other],
        &common::options(1),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("features") || e.contains("inputs") || e.contains("width"),
        "{e}"
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
