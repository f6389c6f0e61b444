//! Dossier signatures end to end: our keys and signatures against OpenSSL 3 (the tool a regulator
//! has), in both directions, and `robcert keygen` as a user runs it.

use robcert::dossier::canonical::canonical_json;
use robcert::dossier::sign::{
    fingerprint, generate_keypair, keypair_from_seed, load_signing_key, load_verifying_key,
    sign_bytes, verify_bytes, write_private_key,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The openssl binary, or None (with a note) when it is not installed.
fn openssl() -> Option<PathBuf> {
    for candidate in ["/usr/bin/openssl", "/usr/local/bin/openssl"] {
        if Path::new(candidate).exists() {
            return Some(PathBuf::from(candidate));
        }
    }
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => Some(PathBuf::from("openssl")),
        _ => {
            eprintln!("note: openssl not found; skipping the OpenSSL interoperability check");
            None
        }
    }
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A key pair on disk (private.pem written as keygen writes it) and a canonical JSON data file.
fn setup(dir: &Path, seed: u8) -> Vec<u8> {
    let pair = keypair_from_seed(&[seed; 32]);
    write_private_key(&dir.join("private.pem"), &pair.private_pem).unwrap();
    std::fs::write(dir.join("pub.pem"), &pair.public_pem).unwrap();
    let data = canonical_json(&serde_json::json!({
        "model": "fraud.onnx",
        "rows": [{"id": 0, "radius": 0.25}, {"id": 1, "radius": 0.1}],
    }))
    .unwrap();
    std::fs::write(dir.join("dossier.json"), &data).unwrap();
    data
}

#[test]
fn round_trip_and_tampering_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = setup(dir.path(), 1);
    let key = load_signing_key(&dir.path().join("private.pem")).unwrap();
    let public = load_verifying_key(&dir.path().join("pub.pem")).unwrap();
    let sig = sign_bytes(&key, &data);
    verify_bytes(&public, &data, &sig).unwrap();

    let mut tampered = data.clone();
    let at = tampered.iter().position(|&b| b == b'5').unwrap();
    tampered[at] = b'6';
    assert!(verify_bytes(&public, &tampered, &sig).is_err());
    let mut bad = sig;
    bad[63] ^= 1;
    assert!(verify_bytes(&public, &data, &bad).is_err());
    let other = keypair_from_seed(&[2; 32]);
    let other_dir = tempfile::tempdir().unwrap();
    std::fs::write(other_dir.path().join("pub.pem"), &other.public_pem).unwrap();
    let other_key = load_verifying_key(&other_dir.path().join("pub.pem")).unwrap();
    let err = verify_bytes(&other_key, &data, &sig)
        .unwrap_err()
        .to_string();
    assert!(err.contains("signature check failed"), "{err}");
}

#[test]
fn seeded_keys_are_deterministic_and_generated_ones_random() {
    let a = keypair_from_seed(&[42; 32]);
    let b = keypair_from_seed(&[42; 32]);
    assert_eq!(
        (&a.private_pem, &a.public_pem),
        (&b.private_pem, &b.public_pem)
    );
    let g1 = generate_keypair().unwrap();
    let g2 = generate_keypair().unwrap();
    assert_ne!(g1.public_pem, g2.public_pem);
}

#[test]
fn openssl_verifies_our_signature_and_rejects_tampering() {
    let Some(openssl) = openssl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = setup(d, 3);
    let key = load_signing_key(&d.join("private.pem")).unwrap();
    std::fs::write(d.join("dossier.sig"), sign_bytes(&key, &data)).unwrap();

    let verify = [
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-rawin",
        "-in",
        "dossier.json",
        "-sigfile",
        "dossier.sig",
    ];
    let ok = run(&openssl, &verify, d);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("Signature Verified Successfully"),
        "{}",
        text(&ok)
    );

    let mut tampered = data.clone();
    tampered[5] ^= 0x20;
    std::fs::write(d.join("dossier.json"), &tampered).unwrap();
    let bad = run(&openssl, &verify, d);
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(!text(&bad).contains("Verified Successfully"));
}

#[test]
fn openssl_loads_our_private_key_and_agrees_on_the_fingerprint() {
    let Some(openssl) = openssl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 4);
    let loaded = run(&openssl, &["pkey", "-in", "private.pem", "-noout"], d);
    assert!(
        loaded.status.success(),
        "OpenSSL 3.0 must load the private key: {}",
        text(&loaded)
    );

    // The public key OpenSSL derives from our private key is our pub.pem, byte for byte.
    let derived = run(&openssl, &["pkey", "-in", "private.pem", "-pubout"], d);
    assert!(derived.status.success(), "{}", text(&derived));
    assert_eq!(derived.stdout, std::fs::read(d.join("pub.pem")).unwrap());

    let der = run(
        &openssl,
        &["pkey", "-pubin", "-in", "pub.pem", "-outform", "DER"],
        d,
    );
    assert!(der.status.success(), "{}", text(&der));
    let public = load_verifying_key(&d.join("pub.pem")).unwrap();
    assert_eq!(
        fingerprint(&public),
        format!("SHA256:{}", robcert::runtime::sha256_hex(&der.stdout))
    );
}

#[test]
fn we_verify_openssl_signatures_and_load_openssl_keys() {
    let Some(openssl) = openssl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = setup(d, 5);
    let signed = run(
        &openssl,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "private.pem",
            "-rawin",
            "-in",
            "dossier.json",
            "-out",
            "sig2",
        ],
        d,
    );
    assert!(signed.status.success(), "{}", text(&signed));
    let sig2 = std::fs::read(d.join("sig2")).unwrap();
    assert_eq!(sig2.len(), 64);
    let public = load_verifying_key(&d.join("pub.pem")).unwrap();
    verify_bytes(&public, &data, &sig2).unwrap();
    // Ed25519 is deterministic: OpenSSL and robcert produce the same signature.
    let key = load_signing_key(&d.join("private.pem")).unwrap();
    assert_eq!(sig2, sign_bytes(&key, &data));
    let mut tampered = data.clone();
    tampered[0] = b'[';
    assert!(verify_bytes(&public, &tampered, &sig2).is_err());

    // A key pair made by OpenSSL itself loads too.
    let generated = run(
        &openssl,
        &["genpkey", "-algorithm", "ed25519", "-out", "ossl.pem"],
        d,
    );
    assert!(generated.status.success(), "{}", text(&generated));
    let pubout = run(
        &openssl,
        &["pkey", "-in", "ossl.pem", "-pubout", "-out", "ossl_pub.pem"],
        d,
    );
    assert!(pubout.status.success(), "{}", text(&pubout));
    let k = load_signing_key(&d.join("ossl.pem")).unwrap();
    let v = load_verifying_key(&d.join("ossl_pub.pem")).unwrap();
    assert_eq!(k.verifying_key(), v);
}

fn robcert(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_robcert"))
        .args(args)
        .output()
        .expect("robcert runs")
}

#[test]
fn keygen_writes_refuses_to_overwrite_and_force_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    let out_s = out.to_str().unwrap();

    let first = robcert(&["keygen", "--out", out_s]);
    assert!(first.status.success(), "{}", text(&first));
    let private = std::fs::read_to_string(out.join("private.pem")).unwrap();
    let public = std::fs::read_to_string(out.join("pub.pem")).unwrap();
    let key = load_verifying_key(&out.join("pub.pem")).unwrap();
    assert!(
        text(&first).contains(&fingerprint(&key)),
        "{}",
        text(&first)
    );
    assert_eq!(
        load_signing_key(&out.join("private.pem"))
            .unwrap()
            .verifying_key(),
        key
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("private.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let again = robcert(&["keygen", "--out", out_s]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    assert_eq!(
        std::fs::read_to_string(out.join("private.pem")).unwrap(),
        private
    );

    // Refuses even when only one of the two files is present.
    std::fs::remove_file(out.join("private.pem")).unwrap();
    let partial = robcert(&["keygen", "--out", out_s]);
    assert!(!partial.status.success());
    assert!(text(&partial).contains("pub.pem"), "{}", text(&partial));

    let forced = robcert(&["keygen", "--out", out_s, "--force"]);
    assert!(forced.status.success(), "{}", text(&forced));
    assert_ne!(
        std::fs::read_to_string(out.join("pub.pem")).unwrap(),
        public
    );
    load_signing_key(&out.join("private.pem")).unwrap();
    let names: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(names.len(), 2, "no temporary files left behind");
}

#[test]
fn keygen_help_explains_secrecy_and_openssl_check() {
    let help = robcert(&["keygen", "--help"]);
    assert!(help.status.success());
    let t = text(&help);
    for needle in [
        "secret",
        "pub.pem",
        "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in dossier.json -sigfile dossier.sig",
        "--force",
    ] {
        assert!(t.contains(needle), "keygen --help lacks {needle:?}:\n{t}");
    }
    let top = text(&robcert(&["--help"]));
    assert!(top.contains("keygen"), "{top}");
}
