//! `robcert certify`, `robcert verify` and the full `robcert demo`.

use super::smooth::{RuntimeArgs, bundled_spec};
use crate::certify::{CertifyOptions, certify};
use crate::dossier::sign;
use crate::dossier::verify::{VerifyOptions, verify};
use crate::error::Result;
use crate::pipeline::Overrides;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Writes, atomically (a killed run leaves nothing under the final name):
  dossier.json   canonical JSON: hashes of model, data and spec; threat model; every parameter
                 and seed; summaries; metrics; criteria with PASS/FAIL; the ACCEPT/REJECT decision
  dossier.sig    Ed25519 signature over the exact bytes of dossier.json
  pub.pem        the signer's public key (verifiers should obtain it independently)
  smoothing_rows.csv, bounds_rows.csv, counterexamples.csv, plots/*.png|svg, report.html

Example:
  robcert keygen --out keys
  robcert certify --spec models/threat_demo.toml --key keys/private.pem --out certificates/q4")]
pub struct CertifyArgs {
    /// Threat spec (TOML) with [methods.*], [acceptance] and [context] tables.
    #[arg(long, value_name = "TOML")]
    pub spec: PathBuf,
    /// Output folder (refused if it exists, unless --force).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Private key (PEM) that signs the dossier (make one with `robcert keygen`).
    #[arg(long, value_name = "PEM")]
    pub key: PathBuf,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
    /// Use this ONNX model instead of the spec's.
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// Record this `generated_at` instead of the current time (to reproduce a dossier).
    #[arg(long, hide = true)]
    pub timestamp: Option<String>,
    /// Record this `engine.source_commit` (to reproduce a dossier).
    #[arg(long, hide = true)]
    pub source_commit: Option<String>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn certify_command(args: &CertifyArgs) -> Result<()> {
    let options = CertifyOptions {
        out: args.out.clone(),
        force: args.force,
        key: args.key.clone(),
        job: args.runtime.options(),
        timestamp: args.timestamp.clone(),
        source_commit: args.source_commit.clone(),
    };
    let overrides = Overrides {
        model: args.model.clone(),
        data: None,
    };
    let done = certify(&args.spec, &overrides, &options)?;
    print_decision(&done.dossier);
    println!(
        "  wrote {}/ (dossier.json, dossier.sig, report.html, plots/)",
        done.dir.display()
    );
    Ok(())
}

fn print_decision(d: &crate::dossier::document::Dossier) {
    println!("decision: {}", d.decision.outcome);
    for r in &d.decision.reasons {
        println!("  - {r}");
    }
    for c in &d.criteria {
        println!(
            "  {:<4} {} = {} ({} {})",
            c.result,
            c.metric,
            c.value.map_or("not computed".into(), |v| format!("{v:.6}")),
            c.comparison,
            c.threshold
        );
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Checks, in order: the signature over dossier.json; the signer's fingerprint; the SHA-256 of every
file the dossier lists (and of --model / --data); every Clopper–Pearson bound, radius and verdict
recomputed from the recorded counts; every summary, metric, criterion and the decision. With
--replay it also re-runs the deterministic bounds (rows must be identical) and a fresh smoothing
sample (agreement is reported). Prints VALID and exits 0 only if every check passes; otherwise
prints the first failing check and exits 1.

The signature alone can be checked without robcert:
  openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in dossier.json -sigfile dossier.sig")]
pub struct VerifyArgs {
    /// The dossier folder.
    pub dir: PathBuf,
    /// The signer's public key (PEM), obtained independently of the dossier.
    #[arg(long, value_name = "PEM")]
    pub pubkey: PathBuf,
    /// Check the model's hash (and use it for --replay).
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// Check the data's hash (and use it for --replay).
    #[arg(long, value_name = "CSV")]
    pub data: Option<PathBuf>,
    /// Re-run the bounds and a fresh smoothing sample.
    #[arg(long)]
    pub replay: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Exit status of `verify` when a check fails (distinct from usage/input errors).
pub const INVALID: u8 = 1;

pub fn verify_command(args: &VerifyArgs) -> Result<bool> {
    // Unusable inputs are usage errors (exit 2), not verdicts on the dossier.
    sign::load_verifying_key(&args.pubkey)?;
    for p in [Some(&args.dir), args.model.as_ref(), args.data.as_ref()]
        .into_iter()
        .flatten()
    {
        if !p.exists() {
            return Err(crate::Error::MissingFile { path: p.clone() });
        }
    }
    let options = VerifyOptions {
        dir: args.dir.clone(),
        pubkey: args.pubkey.clone(),
        model: args.model.clone(),
        data: args.data.clone(),
        replay: args.replay,
        job: args.runtime.options(),
    };
    match verify(&options) {
        Ok(report) => {
            for p in &report.passed {
                println!("  ok   {p}");
            }
            for n in &report.notes {
                println!("  note {n}");
            }
            println!("VALID");
            Ok(true)
        }
        Err(e) => {
            println!("INVALID: {e}");
            Ok(false)
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Threat spec to run [default: models/threat_demo.toml of the robcert checkout].
    #[arg(long, value_name = "TOML")]
    pub spec: Option<PathBuf>,
    /// Output folder (replaced if it exists).
    #[arg(long, short, default_value = "certificates/demo")]
    pub out: PathBuf,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// The demo signing key: derived from a public seed, so it proves nothing about who signed.
/// It exists so that the demo runs with no set-up; never use it for a real dossier.
pub fn demo_keypair() -> sign::KeyPair {
    use sha2::Digest;
    let seed: [u8; 32] =
        sha2::Sha256::digest(b"robcert public demo key - signs nothing but demos").into();
    sign::keypair_from_seed(&seed)
}

pub fn demo_command(args: &DemoArgs) -> Result<()> {
    let spec = match &args.spec {
        Some(s) => s.clone(),
        None => bundled_spec()?,
    };
    let keys = demo_keypair();
    let key_dir = std::env::temp_dir().join(format!("robcert-demo-key-{}", std::process::id()));
    std::fs::create_dir_all(&key_dir).map_err(|e| crate::Error::io(&key_dir, e))?;
    let private = key_dir.join("private.pem");
    sign::write_private_key(&private, &keys.private_pem)?;
    eprintln!(
        "robcert demo: certifying {} (smoothing, IBP/CROWN/alpha-CROWN, PGD) with the public demo key",
        spec.display()
    );
    let options = CertifyOptions {
        out: args.out.clone(),
        force: true,
        key: private.clone(),
        job: args.runtime.options(),
        timestamp: None,
        source_commit: None,
    };
    let result = certify(&spec, &Overrides::default(), &options);
    let _ = std::fs::remove_dir_all(&key_dir);
    let done = result?;
    let s = done.dossier.results.smoothing.as_ref().map(|r| &r.summary);
    let b = done.dossier.results.bounds.as_ref().map(|r| &r.summary);
    println!("robcert demo — {}", done.dossier.inputs.model.path);
    if let Some(b) = b {
        println!(
            "  bounds: {} fraud rows: {} verified, {} falsified, {} unknown (IBP {}, CROWN {}, alpha-CROWN {})",
            b["target_rows"],
            b["verified"],
            b["falsified"],
            b["unknown"],
            share(&b["verified_share_by_method"]["ibp"]),
            share(&b["verified_share_by_method"]["crown"]),
            share(&b["verified_share_by_method"]["alpha-crown"])
        );
    }
    if let Some(s) = s {
        println!(
            "  smoothing: clean accuracy {}, certified fraud recall {}, abstain {}",
            share(&s["clean_accuracy"]),
            share(&s["certified_target_recall_at_budget"]),
            share(&s["abstain_rate"])
        );
    }
    print_decision(&done.dossier);
    let pubkey = done.dir.join("pub.pem");
    let report = verify(&VerifyOptions {
        dir: done.dir.clone(),
        pubkey: pubkey.clone(),
        model: Some(PathBuf::from(&done.dossier.inputs.model.path)),
        data: Some(PathBuf::from(&done.dossier.inputs.data.path)),
        replay: false,
        job: args.runtime.options(),
    })?;
    println!("  robcert verify: VALID ({} checks)", report.passed.len());
    println!(
        "  wrote {}/ — open report.html; check the signature with:",
        done.dir.display()
    );
    println!(
        "  openssl pkeyutl -verify -pubin -inkey {} -rawin -in {} -sigfile {}",
        pubkey.display(),
        done.dir.join("dossier.json").display(),
        done.dir.join("dossier.sig").display()
    );
    let _ = Path::new(".");
    Ok(())
}

fn share(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or("—".into(), |x| format!("{:.2}%", 100.0 * x))
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Runs the spec's bounds and attacks (and smoothing, if the spec has it) on every model with the
same seeds, and writes compare.csv, compare.json, compare.html and
compare_certified_vs_budget.png|svg into --out.

Example:
  robcert compare models/fraud_mlp_*.onnx --spec models/threat_demo.toml --out certificates/regimes")]
pub struct CompareArgs {
    /// ONNX models of the same architecture (e.g. the training regimes in models/).
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// Threat spec (its model is replaced by each of MODELS).
    #[arg(long, value_name = "TOML")]
    pub spec: PathBuf,
    /// Output folder.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn compare_command(args: &CompareArgs) -> Result<()> {
    let rows = crate::compare::compare(&args.spec, &args.models, &args.runtime.options(), true)?;
    let table = crate::compare::write_comparison(&args.out, &rows)?;
    print!("{table}");
    println!(
        "  wrote {}/compare.csv, compare.json, compare.html and the plot",
        args.out.display()
    );
    Ok(())
}
