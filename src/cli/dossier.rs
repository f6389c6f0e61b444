//! `robcert certify`, `robcert verify`, `robcert compare` and the full `robcert demo`.

use super::smooth::{RuntimeArgs, bundled_spec};
use super::{Outcome, say};
use crate::certify::{CertifyOptions, SigningKey, certify};
use crate::dossier::sign;
use crate::dossier::verify::{TrustedKey, VerifyOptions, verify};
use crate::error::{Error, Result};
use crate::pipeline::Overrides;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Writes, atomically (a killed run leaves the old folder or the new one, never a mix):
  dossier.json   canonical JSON: hashes of model and data; the spec (spec.toml, copied in); the
                 threat model; every section's settings, seeds and results; every metric with its
                 confidence interval; criteria with PASS/FAIL/INCONCLUSIVE; the decision
  dossier.sig    Ed25519 signature over the exact bytes of dossier.json
  pub.pem        the signer's public key (verifiers must obtain it, or its fingerprint, elsewhere)
  spec.toml, smoothing_rows.csv, bounds_rows.csv, counterexamples.csv, plots/*.png|svg, report.html

Only the methods the spec names run ([methods.smoothing], [methods.bounds], [methods.attack],
[compare]). An existing --out is replaced only with --force and only if robcert wrote it.

Exit status: 0 ACCEPT, 3 REJECT, 4 NO DECISION (no criteria, or an inconclusive one), 2 error.

Example:
  robcert keygen --out keys
  robcert certify --spec models/threat_demo.toml --key keys/private.pem --out certificates/q4")]
pub struct CertifyArgs {
    /// Threat spec (TOML) with [methods.*], [acceptance] and [context] tables.
    #[arg(long, value_name = "TOML")]
    pub spec: PathBuf,
    /// Output folder (refused if it exists, unless --force and robcert wrote it).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Private key (PEM) that signs the dossier (make one with `robcert keygen`).
    #[arg(long, value_name = "PEM")]
    pub key: PathBuf,
    /// Replace an existing robcert output folder.
    #[arg(long)]
    pub force: bool,
    /// Use this ONNX model instead of the spec's.
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// Use this CSV instead of the spec's data.
    #[arg(long, value_name = "CSV")]
    pub data: Option<PathBuf>,
    /// Record this `generated_at` instead of the current time (to reproduce a dossier).
    #[arg(long, hide = true)]
    pub timestamp: Option<String>,
    /// Record this `engine.source_commit` (to reproduce a dossier).
    #[arg(long, hide = true)]
    pub source_commit: Option<String>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn certify_command(args: &CertifyArgs) -> Result<Outcome> {
    let options = CertifyOptions {
        out: args.out.clone(),
        force: args.force,
        key: SigningKey::File(args.key.clone()),
        job: args.runtime.options(),
        timestamp: args.timestamp.clone(),
        source_commit: args.source_commit.clone(),
    };
    let overrides = Overrides {
        model: args.model.clone(),
        data: args.data.clone(),
    };
    let done = certify(&args.spec, &overrides, &options)?;
    say(decision_text(&done.dossier))?;
    say(format!(
        "  wrote {}/ (dossier.json, dossier.sig, report.html, plots/)\n",
        done.dir.display()
    ))?;
    Ok(Outcome::of_decision(&done.dossier.decision.outcome))
}

fn decision_text(d: &crate::dossier::document::Dossier) -> String {
    let mut s = String::new();
    for sec in &d.sections {
        if let Some(w) = sec.record.get("warnings").and_then(|w| w.as_array()) {
            for w in w.iter().filter_map(|w| w.as_str()) {
                let _ = writeln!(s, "warning ({}): {w}", sec.kind);
            }
        }
        if let Some(f) = sec
            .record
            .pointer("/network/fallback")
            .and_then(|f| f.as_str())
        {
            let _ = writeln!(s, "fallback ({}): {f}", sec.kind);
        }
    }
    let _ = writeln!(s, "decision: {}", d.decision.outcome);
    for r in &d.decision.reasons {
        let _ = writeln!(s, "  - {r}");
    }
    for c in &d.criteria {
        let _ = writeln!(s, "  {:<12} {}", c.result, c.reason);
    }
    s
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Checks, in order: the folder (regular files with plain names only, every file listed); the key
(--pubkey from OUTSIDE the folder, or --fingerprint pinning the folder's pub.pem); the signature
over dossier.json, its canonical form, every file hash (and --model / --data); that every setting
recorded (context, acceptance, features, threat, each method's parameters and seeds) is what the
folder's spec.toml says; every section's rows recomputed (Clopper–Pearson bounds, radii,
verdicts, counterexamples inside their boxes); every metric, criterion, the decision, every plot
and the report re-derived. With --replay it loads --model and --data under spec.toml and re-runs
every section (smoothing with its recorded seed): records and files must be identical.
--fresh-sample also draws an independent smoothing sample and tests it against the recorded
bounds (false-alarm probability at most 2α). Works from any working directory.

Prints VALID and the decision, or INVALID and the first failing check.
Exit status: 0 VALID and ACCEPT, 3 VALID and REJECT, 4 VALID and NO DECISION, 1 INVALID,
2 usage or input error (e.g. --replay without --model/--data, a key inside the folder).

The signature alone can be checked without robcert:
  openssl pkeyutl -verify -pubin -inkey SIGNER_PUB.pem -rawin -in dossier.json -sigfile dossier.sig")]
pub struct VerifyArgs {
    /// The dossier folder.
    pub dir: PathBuf,
    /// The signer's public key (PEM), obtained independently of the dossier (not from its folder).
    #[arg(
        long,
        value_name = "PEM",
        conflicts_with = "fingerprint",
        required_unless_present = "fingerprint"
    )]
    pub pubkey: Option<PathBuf>,
    /// The signer's key fingerprint (SHA256:...), obtained independently: the folder's pub.pem is
    /// used only if it has this fingerprint.
    #[arg(long, value_name = "SHA256:...")]
    pub fingerprint: Option<String>,
    /// Check the model's hash (and use it for --replay).
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// Check the data's hash (and use it for --replay).
    #[arg(long, value_name = "CSV")]
    pub data: Option<PathBuf>,
    /// Re-run every section on --model and --data; results must be identical.
    #[arg(long)]
    pub replay: bool,
    /// With --replay: also test a fresh, independent smoothing sample against the recorded bounds.
    #[arg(long, requires = "replay")]
    pub fresh_sample: bool,
    /// Folder of the [compare] models for --replay (default: the folder of --model).
    #[arg(long, value_name = "DIR")]
    pub compare_models: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn verify_command(args: &VerifyArgs) -> Result<Outcome> {
    let key = match (&args.pubkey, &args.fingerprint) {
        (Some(p), None) => TrustedKey::File(p.clone()),
        (None, Some(f)) => TrustedKey::Fingerprint(f.clone()),
        _ => {
            return Err(Error::Usage {
                message: "give exactly one of --pubkey and --fingerprint".into(),
            });
        }
    };
    let options = VerifyOptions {
        dir: args.dir.clone(),
        key,
        model: args.model.clone(),
        data: args.data.clone(),
        replay: args.replay,
        fresh_sample: args.fresh_sample,
        compare_dir: args.compare_models.clone(),
        job: args.runtime.options(),
    };
    crate::dossier::verify::check_options(&options)?;
    match verify(&options) {
        Ok(report) => {
            let mut s = String::new();
            for p in &report.passed {
                let _ = writeln!(s, "  ok   {p}");
            }
            for n in &report.notes {
                let _ = writeln!(s, "  note {n}");
            }
            for w in &report.warnings {
                let _ = writeln!(s, "  WARNING {w}");
            }
            let _ = writeln!(s, "VALID — decision {}", report.decision);
            say(s)?;
            Ok(Outcome::of_decision(&report.decision))
        }
        Err(e @ (Error::Usage { .. } | Error::MissingFile { .. } | Error::Key { .. })) => Err(e),
        Err(e) => {
            say(format!("INVALID: {e}\n"))?;
            Ok(Outcome::Invalid)
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Threat spec to run [default: models/threat_demo.toml of the robcert checkout].
    #[arg(long, value_name = "TOML")]
    pub spec: Option<PathBuf>,
    /// Output folder (a robcert output folder there is replaced; any other folder is refused).
    #[arg(long, short, default_value = "certificates/demo")]
    pub out: PathBuf,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// The demo signing key: derived from a public seed, so it proves nothing about who signed.
/// It exists so that the demo runs with no set-up; never use it for a real dossier.
pub fn demo_keypair() -> sign::KeyPair {
    sign::keypair_from_seed(&demo_seed())
}

fn demo_seed() -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b"robcert public demo key - signs nothing but demos").into()
}

pub fn demo_command(args: &DemoArgs) -> Result<Outcome> {
    let spec = match &args.spec {
        Some(s) => s.clone(),
        None => bundled_spec()?,
    };
    let keys = demo_keypair();
    let key = ed25519_dalek::SigningKey::from_bytes(&demo_seed());
    eprintln!(
        "robcert demo: certifying {} with the PUBLIC demo key (its signature proves nothing about who signed)",
        spec.display()
    );
    let options = CertifyOptions {
        out: args.out.clone(),
        force: true,
        key: SigningKey::InMemory(Box::new(key)),
        job: args.runtime.options(),
        timestamp: None,
        source_commit: None,
    };
    let done = certify(&spec, &Overrides::default(), &options)?;
    let d = &done.dossier;
    let mut s = format!("robcert demo — {}\n", d.inputs.model.name);
    for (k, m) in &d.metrics {
        if let (Some(l), Some(u)) = (m.lower, m.upper) {
            let _ = writeln!(
                s,
                "  {k}: {:.2}% [{:.2}%, {:.2}%] on {} rows",
                100.0 * m.value,
                100.0 * l,
                100.0 * u,
                m.rows
            );
        } else {
            let _ = writeln!(s, "  {k}: {:.2} on {} rows", m.value, m.rows);
        }
    }
    s.push_str(&decision_text(d));
    say(s)?;
    // The demo verifies against the key it signed with, pinned by fingerprint (not the folder's
    // pub.pem taken on trust): a regulator would obtain the fingerprint from the signer.
    let report = verify(&VerifyOptions {
        dir: done.dir.clone(),
        key: TrustedKey::Fingerprint(keys.fingerprint()?),
        model: None,
        data: None,
        replay: false,
        fresh_sample: false,
        compare_dir: None,
        job: args.runtime.options(),
    })?;
    say(format!(
        "  robcert verify: VALID ({} checks; signed with the public demo key, which proves nothing about who signed)\n  wrote {}/ — open report.html\n",
        report.passed.len(),
        done.dir.display()
    ))?;
    Ok(Outcome::of_decision(&d.decision.outcome))
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Runs the spec's bounds and attacks (and smoothing, if the spec has it) on every model with the
same seeds, checks that they take the same inputs, and writes compare.csv, compare.json,
compare.html and compare_certified_vs_budget.png|svg into --out. The comparison decides nothing.

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
    /// Replace an existing robcert output folder.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn compare_command(args: &CompareArgs) -> Result<()> {
    crate::dossier::folder::check_destination(&args.out, args.force)?;
    let rows = crate::compare::compare(&args.spec, &args.models, &args.runtime.options(), true)?;
    let (files, table) = crate::compare::comparison_files(&rows)?;
    crate::dossier::folder::write_folder(&args.out, args.force, &files.into_iter().collect())?;
    say(format!(
        "{table}  wrote {}/compare.csv, compare.json, compare.html and the plot\n",
        args.out.display()
    ))
}
