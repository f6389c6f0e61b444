//! Ed25519 keys and signatures that a regulator can check with OpenSSL alone.
//!
//! Formats, all standard so that no robcert code is needed on the checking side:
//! - private key: PEM `PRIVATE KEY`, PKCS#8 **v1** (RFC 8410 `OneAsymmetricKey` without the
//!   optional embedded public key). OpenSSL 3.0 refuses the v2 form, so robcert always writes v1;
//!   it reads both.
//! - public key: PEM `PUBLIC KEY`, X.509 SubjectPublicKeyInfo (RFC 8410).
//! - signature: the raw 64-byte Ed25519 signature (RFC 8032, "pure" Ed25519, no pre-hashing) over
//!   the exact bytes of the file. Check it with
//!   `openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in dossier.json -sigfile dossier.sig`.
//! - fingerprint: `SHA256:` followed by the lower-case hex SHA-256 of the DER-encoded
//!   SubjectPublicKeyInfo, i.e. of the bytes inside `pub.pem`. The same value is printed by
//!   `openssl pkey -pubin -in pub.pem -outform DER | sha256sum`.

use crate::error::{Error, Result};
use crate::runtime::sha256_hex;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};

const EXPECTED_PRIVATE: &str = "expected a PEM 'PRIVATE KEY' (unencrypted PKCS#8 Ed25519, as \
                                written by `robcert keygen` or `openssl genpkey -algorithm ed25519`)";
const EXPECTED_PUBLIC: &str = "expected a PEM 'PUBLIC KEY' (Ed25519 SubjectPublicKeyInfo, as \
                               written by `robcert keygen` or `openssl pkey -pubout`)";
/// Key files are a few hundred bytes; anything far larger is not a key.
const MAX_KEY_FILE: usize = 64 * 1024;

/// A freshly made key pair in PEM form, ready to be written to `private.pem` and `pub.pem`.
pub struct KeyPair {
    /// PKCS#8 v1 `PRIVATE KEY` PEM (loadable by OpenSSL 3.0). Keep it secret.
    pub private_pem: String,
    /// SubjectPublicKeyInfo `PUBLIC KEY` PEM. Give it to whoever verifies.
    pub public_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private_pem", &"<redacted>")
            .field("public_pem", &self.public_pem)
            .finish()
    }
}

impl KeyPair {
    /// Fingerprint of the public half (see [`fingerprint`]).
    pub fn fingerprint(&self) -> Result<String> {
        let key = VerifyingKey::from_public_key_pem(&self.public_pem).map_err(|e| Error::Key {
            path: PathBuf::from("(generated public key)"),
            message: format!("{EXPECTED_PUBLIC}: {e}"),
        })?;
        Ok(fingerprint(&key))
    }
}

/// Makes a new key pair from the operating system's random source.
pub fn generate_keypair() -> Result<KeyPair> {
    use rand::TryRng;
    let mut seed = [0u8; 32];
    rand::rngs::SysRng.try_fill_bytes(&mut seed).map_err(|e| {
        Error::io(
            "the operating system's random source",
            std::io::Error::other(e.to_string()),
        )
    })?;
    let pair = keypair_from_seed(&seed);
    seed.fill(0);
    Ok(pair)
}

/// Makes the key pair whose Ed25519 secret key (RFC 8032 seed) is `seed`. The same seed always
/// gives the same PEM text. Only for fixed demo keys and tests: a seed anyone knows signs for
/// anyone.
pub fn keypair_from_seed(seed: &[u8; 32]) -> KeyPair {
    let signing = SigningKey::from_bytes(seed);
    let v1 = KeypairBytes {
        secret_key: *seed,
        public_key: None,
    };
    // Encoding a fixed-size key into memory cannot fail.
    let private_pem = v1
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 encoding of an Ed25519 key")
        .to_string();
    let public_pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("SubjectPublicKeyInfo encoding of an Ed25519 key");
    KeyPair {
        private_pem,
        public_pem,
    }
}

fn key_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Key {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads a key file and returns its first PEM block (label, block text). Text before the block
/// (as in `openssl pkey -text` output) is ignored.
fn read_pem(path: &Path, expected: &str) -> Result<(String, String)> {
    let bytes = crate::util::read_limited(path, MAX_KEY_FILE as u64 + 1)?;
    if bytes.len() > MAX_KEY_FILE {
        return Err(key_error(
            path,
            format!(
                "{} bytes is far too large for a key file; {expected}",
                bytes.len()
            ),
        ));
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Err(key_error(
            path,
            format!(
                "not a text file; {expected}. A binary (DER) key can be converted with \
                 `openssl pkey -inform DER -in KEY -out key.pem`"
            ),
        ));
    };
    let Some(start) = text.find("-----BEGIN ") else {
        return Err(key_error(path, format!("no PEM block found; {expected}")));
    };
    let block = &text[start..];
    let header_end = block.find('\n').unwrap_or(block.len());
    let label = block["-----BEGIN ".len()..header_end]
        .trim_end()
        .trim_end_matches('-')
        .to_string();
    let end_marker = format!("-----END {label}-----");
    let Some(end) = block.find(&end_marker) else {
        return Err(key_error(
            path,
            format!("PEM block '{label}' has no `{end_marker}` line (truncated?); {expected}"),
        ));
    };
    let mut pem = block[..end + end_marker.len()].replace("\r\n", "\n");
    pem.push('\n');
    Ok((label, pem))
}

/// Loads an Ed25519 private key from a PEM PKCS#8 file (v1 as written by robcert and OpenSSL, or
/// v2 with the embedded public key, which must then match).
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let (label, pem) = read_pem(path, EXPECTED_PRIVATE)?;
    match label.as_str() {
        "PRIVATE KEY" => {}
        "PUBLIC KEY" => {
            return Err(key_error(
                path,
                format!(
                    "this is a public key, which can only verify; signing needs the private key \
                     (private.pem from `robcert keygen`); {EXPECTED_PRIVATE}"
                ),
            ));
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err(key_error(
                path,
                format!(
                    "the key is password-protected, which robcert does not read; {EXPECTED_PRIVATE}. \
                     Decrypt it with `openssl pkey -in KEY -out plain.pem` and keep plain.pem private"
                ),
            ));
        }
        other => {
            return Err(key_error(
                path,
                format!("found a PEM '{other}' block; {EXPECTED_PRIVATE}"),
            ));
        }
    }
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| key_error(path, format!("{EXPECTED_PRIVATE}; cannot decode it: {e}")))
}

/// Loads an Ed25519 public key from a PEM SubjectPublicKeyInfo file (`-----BEGIN PUBLIC KEY-----`).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey> {
    let (label, pem) = read_pem(path, EXPECTED_PUBLIC)?;
    match label.as_str() {
        "PUBLIC KEY" => {}
        "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
            return Err(key_error(
                path,
                format!(
                    "this is a private key: never hand it out. Verifying needs the public key \
                     (pub.pem from `robcert keygen`, or `openssl pkey -in KEY -pubout`); \
                     {EXPECTED_PUBLIC}"
                ),
            ));
        }
        other => {
            return Err(key_error(
                path,
                format!("found a PEM '{other}' block; {EXPECTED_PUBLIC}"),
            ));
        }
    }
    VerifyingKey::from_public_key_pem(&pem)
        .map_err(|e| key_error(path, format!("{EXPECTED_PUBLIC}; cannot decode it: {e}")))
}

/// Decodes an Ed25519 public key from PEM text (`-----BEGIN PUBLIC KEY-----`).
pub fn verifying_key_from_pem(pem: &str) -> std::result::Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| e.to_string())
}

/// Signs `bytes` exactly as given (pure Ed25519, no pre-hashing); the result is the raw
/// 64-byte signature that `openssl pkeyutl -verify -rawin` checks.
pub fn sign_bytes(key: &SigningKey, bytes: &[u8]) -> [u8; 64] {
    key.sign(bytes).to_bytes()
}

/// Checks a raw 64-byte Ed25519 `signature` over `bytes`. Uses strict verification (rejects
/// weak public keys and non-canonical signatures, which honest signers never produce).
pub fn verify_bytes(key: &VerifyingKey, bytes: &[u8], signature: &[u8]) -> Result<()> {
    let Ok(raw) = <[u8; 64]>::try_from(signature) else {
        return Err(Error::Signature {
            message: format!(
                "the signature is {} bytes, but a raw Ed25519 signature is exactly 64 bytes \
                 (is it base64 or hex text, or a different signature scheme?)",
                signature.len()
            ),
        });
    };
    let signature = Signature::from_bytes(&raw);
    key.verify_strict(bytes, &signature)
        .map_err(|_| Error::Signature {
            message: format!(
                "the signature does not match these {} bytes under public key {}: the data \
                 was changed after signing, or it was signed with a different key",
                bytes.len(),
                fingerprint(key)
            ),
        })
}

/// `SHA256:` + lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of `key` (the bytes
/// base64-encoded inside `pub.pem`); equal to
/// `openssl pkey -pubin -in pub.pem -outform DER | sha256sum`.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .expect("SubjectPublicKeyInfo encoding of an Ed25519 key");
    format!("SHA256:{}", sha256_hex(der.as_bytes()))
}

/// Writes a private key file atomically (temporary file in the same directory, synced, renamed
/// over `path`) with permissions 0600 on unix from the moment it is created, so the key is
/// never readable by others, not even briefly.
pub fn write_private_key(path: &Path, pem: &str) -> Result<()> {
    crate::util::atomic_write_private(path, pem.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(n: u8) -> (SigningKey, VerifyingKey) {
        let k = SigningKey::from_bytes(&[n; 32]);
        let v = k.verifying_key();
        (k, v)
    }

    #[test]
    fn dossier_sign_verify_round_trip_and_rejections() {
        let (k, v) = seeded(7);
        let msg = b"{\n  \"a\": 1\n}\n";
        let sig = sign_bytes(&k, msg);
        verify_bytes(&v, msg, &sig).unwrap();

        let mut bad = msg.to_vec();
        bad[3] ^= 1;
        let err = verify_bytes(&v, &bad, &sig).unwrap_err();
        assert!(matches!(err, Error::Signature { .. }));
        assert!(err.to_string().contains("does not match"), "{err}");

        let mut bad_sig = sig;
        bad_sig[10] ^= 0x40;
        assert!(verify_bytes(&v, msg, &bad_sig).is_err());

        let (_, other) = seeded(8);
        let err = verify_bytes(&other, msg, &sig).unwrap_err().to_string();
        assert!(err.contains(&fingerprint(&other)), "{err}");

        let err = verify_bytes(&v, msg, &sig[..63]).unwrap_err().to_string();
        assert!(err.contains("63 bytes") && err.contains("64"), "{err}");
    }

    #[test]
    fn dossier_seeded_keypair_is_deterministic_v1_and_consistent() {
        let a = keypair_from_seed(&[3; 32]);
        let b = keypair_from_seed(&[3; 32]);
        assert_eq!(a.private_pem, b.private_pem);
        assert_eq!(a.public_pem, b.public_pem);
        assert_ne!(a.public_pem, keypair_from_seed(&[4; 32]).public_pem);
        assert!(a.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(a.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        // v1 Ed25519 PKCS#8 is 48 bytes of DER (64 base64 characters, one line).
        let body: Vec<&str> = a.private_pem.lines().collect();
        assert_eq!(body.len(), 3, "{}", a.private_pem);
        assert_eq!(body[1].len(), 64);
        let k = SigningKey::from_pkcs8_pem(&a.private_pem).unwrap();
        let v = VerifyingKey::from_public_key_pem(&a.public_pem).unwrap();
        assert_eq!(k.verifying_key(), v);
        assert_eq!(a.fingerprint().unwrap(), fingerprint(&v));
        assert!(format!("{a:?}").contains("redacted"));
        assert!(!format!("{a:?}").contains(body[1]));
    }

    #[test]
    fn dossier_fingerprint_is_sha256_of_spki_der() {
        let (_, v) = seeded(1);
        let fp = fingerprint(&v);
        let der = v.to_public_key_der().unwrap();
        assert_eq!(der.as_bytes().len(), 44);
        assert_eq!(fp, format!("SHA256:{}", sha256_hex(der.as_bytes())));
        assert_eq!(fp.len(), 7 + 64);
    }

    #[test]
    fn dossier_generated_keys_differ() {
        let a = generate_keypair().unwrap();
        let b = generate_keypair().unwrap();
        assert_ne!(a.private_pem, b.private_pem);
    }

    #[test]
    fn dossier_loading_reports_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let pair = keypair_from_seed(&[9; 32]);
        let private = dir.path().join("private.pem");
        let public = dir.path().join("pub.pem");
        write_private_key(&private, &pair.private_pem).unwrap();
        std::fs::write(&public, &pair.public_pem).unwrap();
        let k = load_signing_key(&private).unwrap();
        let v = load_verifying_key(&public).unwrap();
        assert_eq!(k.verifying_key(), v);

        // Swapped files.
        let err = load_verifying_key(&private).unwrap_err().to_string();
        assert!(
            err.contains("private key") && err.contains("pub.pem"),
            "{err}"
        );
        let err = load_signing_key(&public).unwrap_err().to_string();
        assert!(err.contains("public key"), "{err}");

        // Garbage, binary, truncated, base64 damage, missing.
        let garbled = dir.path().join("garbled.pem");
        std::fs::write(&garbled, "hello\n").unwrap();
        let err = load_verifying_key(&garbled).unwrap_err();
        assert!(matches!(err, Error::Key { .. }));
        let err = err.to_string();
        assert!(
            err.contains("garbled.pem") && err.contains("expected a PEM 'PUBLIC KEY' (Ed25519")
        );

        std::fs::write(&garbled, [0x30u8, 0x2a, 0xff, 0xfe]).unwrap();
        let err = load_signing_key(&garbled).unwrap_err().to_string();
        assert!(err.contains("not a text file"), "{err}");

        let cut = &pair.public_pem[..pair.public_pem.len() - 10];
        std::fs::write(&garbled, cut).unwrap();
        let err = load_verifying_key(&garbled).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");

        let damaged = pair.public_pem.replace("MCow", "MCox");
        std::fs::write(&garbled, damaged).unwrap();
        let err = load_verifying_key(&garbled).unwrap_err().to_string();
        assert!(err.contains("cannot decode"), "{err}");

        let err = load_signing_key(&dir.path().join("absent.pem")).unwrap_err();
        assert!(matches!(err, Error::MissingFile { .. }), "{err}");
    }

    #[test]
    fn dossier_reads_pkcs8_v2_and_text_around_the_block() {
        let (k, v) = seeded(5);
        let v2 = k.to_pkcs8_pem(LineEnding::CRLF).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v2.pem");
        std::fs::write(&p, format!("Bag Attributes: x\n{}trailing\n", v2.as_str())).unwrap();
        assert_eq!(load_signing_key(&p).unwrap().verifying_key(), v);
    }

    #[cfg(unix)]
    #[test]
    fn dossier_private_key_file_is_0600_and_replaced_atomically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k/private.pem");
        write_private_key(&p, "one").unwrap();
        write_private_key(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
