//! `robcert keygen`: writes an Ed25519 key pair for signing dossiers.

use crate::dossier::sign::{generate_keypair, write_private_key};
use crate::error::{Error, Result};
use crate::util::atomic_write;
use std::path::PathBuf;

const KEYGEN_HELP: &str = "\
Files written:
  DIR/private.pem  the signing key (PKCS#8, mode 0600). Keep it secret: anyone holding it can sign
                   dossiers in your name. Do not commit it or send it anywhere.
  DIR/pub.pem      the public key. Give it to whoever verifies your dossiers (auditor, regulator);
                   it can only check signatures, not make them.

The fingerprint printed (SHA-256 of the public key's DER bytes) identifies pub.pem; tell it to the
verifier over a separate channel so they know the key is yours. They can recompute it with
  openssl pkey -pubin -in pub.pem -outform DER | sha256sum

A signed dossier can be checked with OpenSSL alone, without robcert:
  openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in dossier.json -sigfile dossier.sig
which prints \"Signature Verified Successfully\" when the file is unchanged and was signed with the
matching private key.";

#[derive(clap::Args, Debug)]
#[command(after_help = KEYGEN_HELP)]
pub struct KeygenArgs {
    /// Directory to write private.pem and pub.pem into (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace existing key files. The old private key is then gone for good; signatures it
    /// made still verify against the old pub.pem.
    #[arg(long)]
    pub force: bool,
}

pub fn keygen_command(args: &KeygenArgs) -> Result<()> {
    let private = args.out.join("private.pem");
    let public = args.out.join("pub.pem");
    if !args.force {
        for path in [&private, &public] {
            if path.exists() {
                return Err(Error::Key {
                    path: path.clone(),
                    message: "already exists; robcert will not overwrite a key (pass --force to \
                              replace it, or choose another --out directory)"
                        .to_string(),
                });
            }
        }
    }
    let pair = generate_keypair()?;
    let fingerprint = pair.fingerprint()?;
    write_private_key(&private, &pair.private_pem)?;
    atomic_write(&public, pair.public_pem.as_bytes())?;
    println!("wrote {} (secret: keep it private)", private.display());
    println!("wrote {} (public: give it to verifiers)", public.display());
    println!("fingerprint {fingerprint}");
    Ok(())
}
