//! `robcert verify`: re-checks a dossier without trusting whoever produced it or whoever holds
//! the folder. In order:
//!
//! 1. the folder: only regular files with plain names, every file listed in the dossier (any
//!    other file is reported), each read with a size limit;
//! 2. the key: given from outside the folder (`--pubkey`, refused if it lies inside the folder)
//!    or pinned by fingerprint (`--fingerprint`, then the folder's `pub.pem` must match it); a
//!    dossier signed with the public demo key verifies with a warning that it proves nothing;
//! 3. the Ed25519 signature over the exact bytes of `dossier.json`, its canonical form and
//!    schema, the signer's fingerprint, every listed file's hash;
//! 4. the spec copied into the folder: every setting the dossier records (context, acceptance,
//!    features, threat budgets and constraints, each section's method settings and seeds) must be
//!    what that spec says;
//! 5. every section's own check (rows recomputed, summaries, counterexamples inside their boxes),
//!    then every metric, criterion, the decision, every plot and the report re-derived from the
//!    sections and compared byte for byte;
//! 6. with `--model`/`--data`: their hashes; with `--replay`: the model and data are loaded under
//!    the folder's spec and every section is re-run (smoothing with its recorded seed) and must
//!    give the same records and file bytes.
//!
//! The first failing check is the error ([`Error::DossierInvalid`]).

use super::document::*;
use super::{criteria, folder, sign};
use crate::error::{Error, Result};
use crate::runtime::sha256_hex;
use crate::sections::{CheckInputs, Files, RunInputs, first_difference, invalid};
use crate::threat::spec::LoadedSpec;
use std::path::{Path, PathBuf};

/// How the verifier trusts the signer's key.
#[derive(Clone, Debug)]
pub enum TrustedKey {
    /// A public key file obtained independently of the dossier (outside its folder).
    File(PathBuf),
    /// The signer's key fingerprint (`SHA256:...`), obtained independently; the folder's
    /// `pub.pem` is then used only if it has this fingerprint.
    Fingerprint(String),
}

/// What to check.
pub struct VerifyOptions {
    pub dir: PathBuf,
    pub key: TrustedKey,
    pub model: Option<PathBuf>,
    pub data: Option<PathBuf>,
    /// Re-run every section on the model and data (needs both).
    pub replay: bool,
    /// With `replay`: also draw a fresh smoothing sample (another seed) and test that it agrees.
    pub fresh_sample: bool,
    /// Where the `[compare]` models are (default: the folder of `--model`).
    pub compare_dir: Option<PathBuf>,
    pub job: crate::pipeline::JobOptions,
}

/// The checks that passed, in order, and notes and warnings.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub passed: Vec<String>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// The dossier's decision (ACCEPT / REJECT / NO DECISION), once everything checked out.
    pub decision: String,
}

/// Usage problems are errors of the command, not verdicts on the dossier.
fn usage(message: impl Into<String>) -> Error {
    Error::Usage {
        message: message.into(),
    }
}

/// Whether `inner` lies inside the folder `dir` (after resolving links).
fn inside(inner: &Path, dir: &Path) -> bool {
    match (inner.canonicalize(), dir.canonicalize()) {
        (Ok(a), Ok(b)) => a.starts_with(b),
        _ => false,
    }
}

/// Checks the options before anything is read: a key from outside the folder, model and data
/// for a replay.
pub fn check_options(options: &VerifyOptions) -> Result<()> {
    if let TrustedKey::File(p) = &options.key {
        if inside(p, &options.dir) {
            return Err(usage(format!(
                "--pubkey {} lies inside the dossier folder: whoever can change the folder can \
                 replace it. Obtain the signer's public key independently, or pin its fingerprint \
                 with --fingerprint SHA256:...",
                p.display()
            )));
        }
        sign::load_verifying_key(p)?;
    }
    if options.replay && (options.model.is_none() || options.data.is_none()) {
        return Err(usage("--replay needs --model and --data"));
    }
    for p in [options.model.as_ref(), options.data.as_ref()]
        .into_iter()
        .flatten()
    {
        if !p.exists() {
            return Err(Error::MissingFile { path: p.clone() });
        }
    }
    if !options.dir.is_dir() {
        return Err(usage(format!("{} is not a folder", options.dir.display())));
    }
    Ok(())
}

/// Runs every check; `Ok` only when all pass.
pub fn verify(options: &VerifyOptions) -> Result<VerifyReport> {
    check_options(options)?;
    let dir = &options.dir;
    let mut report = VerifyReport::default();
    let files = folder::read_folder(dir).map_err(|e| invalid(e.to_string()))?;
    let get = |name: &str| {
        files
            .get(name)
            .ok_or_else(|| invalid(format!("{name} is missing from {}", dir.display())))
    };
    let bytes = get(DOSSIER_FILE)?;
    let signature = get(SIGNATURE_FILE)?;
    let key = match &options.key {
        TrustedKey::File(p) => sign::load_verifying_key(p)?,
        TrustedKey::Fingerprint(fp) => {
            let pem = std::str::from_utf8(get(PUBLIC_KEY_FILE)?)
                .map_err(|_| invalid("pub.pem is not text"))?;
            let key =
                sign::verifying_key_from_pem(pem).map_err(|e| invalid(format!("pub.pem: {e}")))?;
            let found = sign::fingerprint(&key);
            if &found != fp {
                return Err(invalid(format!(
                    "the folder's pub.pem has fingerprint {found}, not the pinned {fp}"
                )));
            }
            key
        }
    };
    sign::verify_bytes(&key, bytes, signature).map_err(|e| invalid(e.to_string()))?;
    report
        .passed
        .push("Ed25519 signature over dossier.json".into());
    let dossier: Dossier = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("dossier.json is not a robcert dossier: {e}")))?;
    if dossier.schema != SCHEMA {
        return Err(invalid(format!(
            "schema `{}` is not `{SCHEMA}`",
            dossier.schema
        )));
    }
    if super::canonical::to_canonical(&dossier)? != *bytes {
        return Err(invalid("dossier.json is not in canonical form"));
    }
    let fp = sign::fingerprint(&key);
    if fp != dossier.signature.public_key_fingerprint {
        return Err(invalid(format!(
            "the dossier names signer {}, the trusted key is {fp}",
            dossier.signature.public_key_fingerprint
        )));
    }
    report.passed.push(format!("signer fingerprint {fp}"));
    if fp == crate::certify::demo_key_fingerprint() {
        report.warnings.push(
            "signed with robcert's PUBLIC DEMO KEY: its private half is published, so the signature proves nothing about who signed".into(),
        );
    }
    check_listing(&dossier, &files)?;
    report.passed.push(format!(
        "{} listed files: names, hashes, nothing unlisted",
        dossier.files.len()
    ));
    for (given, recorded, what) in [
        (&options.model, &dossier.inputs.model, "model"),
        (&options.data, &dossier.inputs.data, "data"),
    ] {
        if let Some(p) = given {
            let max = if what == "model" {
                crate::util::MAX_MODEL_BYTES
            } else {
                crate::util::MAX_DATA_BYTES
            };
            let h = sha256_hex(&crate::util::read_limited(p, max)?);
            if h != recorded.sha256 {
                return Err(invalid(format!(
                    "{what} {} has SHA-256 {h}, the dossier records {}",
                    p.display(),
                    recorded.sha256
                )));
            }
            report.passed.push(format!("{what} hash"));
        }
    }
    let spec = spec_of(dir, &files, &dossier)?;
    check_against_spec(&dossier, &spec)?;
    report
        .passed
        .push("every recorded setting equals what spec.toml says".into());
    if let Some(data) = &options.data {
        check_threat_on_data(&dossier, &spec, data)?;
        report.passed.push(
            "the data: its rows and the threat model's valid ranges resolve as recorded".into(),
        );
    }
    let checks = CheckInputs {
        spec: &spec,
        threat: &dossier.threat,
        data_rows: dossier.inputs.data_rows,
    };
    let mut kinds = Vec::new();
    for s in &dossier.sections {
        let kind = crate::sections::find(&s.kind)
            .ok_or_else(|| invalid(format!("unknown section kind `{}`", s.kind)))?;
        for f in &s.files {
            if !dossier.files.contains(f) {
                return Err(invalid(format!(
                    "section {} lists {} which the dossier does not",
                    s.kind, f.path
                )));
            }
        }
        report.passed.push(kind.check(&s.record, &files, &checks)?);
        kinds.push(s.kind.as_str());
    }
    let requested: Vec<&str> = crate::sections::registry()
        .into_iter()
        .filter(|s| s.requested(&spec.spec))
        .map(|s| s.kind())
        .collect();
    if kinds != requested {
        return Err(invalid(format!(
            "the dossier has sections {kinds:?} but its spec asks for {requested:?}"
        )));
    }
    check_stated(&dossier, &files)?;
    report.passed.push(format!(
        "metrics, {} criteria, the decision {}, every plot and the report re-derived",
        dossier.criteria.len(),
        dossier.decision.outcome
    ));
    if options.replay {
        replay(options, &dossier, &files, &mut report)?;
    }
    report.decision = dossier.decision.outcome.clone();
    Ok(report)
}

/// Every file in the folder is listed (besides the signed document, its signature and the
/// marker), every listed file exists with its hash, and listed names are plain.
fn check_listing(dossier: &Dossier, files: &Files) -> Result<()> {
    for f in &dossier.files {
        folder::check_name(&f.path).map_err(invalid)?;
        if [DOSSIER_FILE, SIGNATURE_FILE].contains(&f.path.as_str()) {
            return Err(invalid(format!("{} must not list itself", f.path)));
        }
        let bytes = files
            .get(&f.path)
            .ok_or_else(|| invalid(format!("{} is listed but missing", f.path)))?;
        let h = sha256_hex(bytes);
        if h != f.sha256 {
            return Err(invalid(format!(
                "{} has SHA-256 {h}, the dossier records {}",
                f.path, f.sha256
            )));
        }
    }
    for name in files.keys() {
        let listed = dossier.files.iter().any(|f| &f.path == name);
        if !listed && ![DOSSIER_FILE, SIGNATURE_FILE, folder::MARKER].contains(&name.as_str()) {
            return Err(invalid(format!(
                "{name} is in the folder but not listed in the dossier (an unlisted file may say anything)"
            )));
        }
    }
    for required in [SPEC_FILE, PUBLIC_KEY_FILE, REPORT_FILE] {
        if !dossier.files.iter().any(|f| f.path == required) {
            return Err(invalid(format!("the dossier does not list {required}")));
        }
    }
    if dossier.spec.path != SPEC_FILE {
        return Err(invalid(format!(
            "the spec is recorded as {}, not {SPEC_FILE}",
            dossier.spec.path
        )));
    }
    Ok(())
}

/// The spec copied into the folder, parsed (paths in it are not used: model and data are given).
fn spec_of(dir: &Path, files: &Files, dossier: &Dossier) -> Result<LoadedSpec> {
    let bytes = files.get(SPEC_FILE).expect("listed and present");
    if sha256_hex(bytes) != dossier.spec.sha256 {
        return Err(invalid("spec.toml does not match its recorded hash"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("spec.toml is not UTF-8 text"))?;
    let spec = crate::threat::spec::parse(text)
        .map_err(|e| invalid(format!("spec.toml is not a valid spec: {e}")))?;
    Ok(LoadedSpec {
        path: dir.join(SPEC_FILE),
        bytes: bytes.clone(),
        spec,
    })
}

/// Every setting the dossier records equals what its spec resolves to (the parts that do not
/// need the data; a replay checks the rest).
fn check_against_spec(dossier: &Dossier, spec: &LoadedSpec) -> Result<()> {
    let s = &spec.spec;
    use crate::sections::same_setting as same;
    same(
        "context",
        &dossier.context,
        &s.context.clone().unwrap_or_default(),
    )?;
    same("acceptance", &dossier.acceptance, &s.acceptance)?;
    criteria::validate(&s.acceptance).map_err(|e| invalid(e.to_string()))?;
    same(
        "the ONNX Runtime optimisation level",
        &dossier.engine.onnxruntime.optimization,
        &s.model.ort_optimization,
    )?;
    same("inputs.id_column", &dossier.inputs.id_column, &s.data.id)?;
    if let Some(f) = &s.model.features {
        same("inputs.features", &dossier.inputs.features, f)?;
    }
    if dossier.inputs.features_from == "spec" && s.model.features.is_none() {
        return Err(invalid(
            "the dossier says the feature order came from the spec, which lists none",
        ));
    }
    let t = &dossier.threat;
    if t.features != dossier.inputs.features {
        return Err(invalid("the threat's features differ from inputs.features"));
    }
    let expected = crate::threat::ThreatModel::from_spec(
        &s.threat,
        &t.features,
        None,
        Some(&t.class_names),
        t.class_names.len(),
    )
    .map_err(|e| invalid(format!("spec.toml's threat does not resolve: {e}")))?;
    same("threat.budgets", &t.budgets, &expected.budgets)?;
    same("threat.target", &t.target, &expected.target)?;
    same("threat.constraints", &t.constraints, &expected.constraints)?;
    if let Some(classes) = &s.data.classes {
        same("threat.class_names", &t.class_names, classes)?;
    }
    for i in 0..t.features.len() {
        for (got, want, side) in [
            (t.lower[i], expected.lower[i], "lower"),
            (t.upper[i], expected.upper[i], "upper"),
        ] {
            // NaN: a range observed in the data, which only a replay can check.
            if !want.is_nan() && got != want {
                return Err(invalid(format!(
                    "threat.{side}[{}] is {got} but spec.toml gives {want}",
                    t.features[i]
                )));
            }
        }
    }
    Ok(())
}

/// Reads the data under the dossier's features and the spec's layout, and requires the threat
/// model it resolves to (valid ranges observed in the data included) to be the recorded one.
fn check_threat_on_data(dossier: &Dossier, spec: &LoadedSpec, data: &Path) -> Result<()> {
    let s = &spec.spec;
    let layout = crate::data::DataLayout {
        features: Some(dossier.inputs.features.clone()),
        label: s.data.label.clone(),
        amount: s.data.amount.clone(),
        id: s.data.id.clone(),
        ignore: s.data.ignore.clone(),
    };
    let dataset = crate::data::Dataset::from_csv(data, &layout)
        .map_err(|e| invalid(format!("the data does not load under spec.toml: {e}")))?;
    crate::sections::same_setting(
        "inputs.data_rows",
        &dossier.inputs.data_rows,
        &dataset.rows(),
    )?;
    let t = &dossier.threat;
    let resolved = crate::threat::ThreatModel::resolve(
        &s.threat,
        &dataset,
        Some(&t.class_names),
        t.class_names.len(),
    )
    .map_err(|e| {
        invalid(format!(
            "spec.toml's threat does not resolve on the data: {e}"
        ))
    })?;
    if let Some(path) = first_difference(
        &serde_json::to_value(t).expect("serialisable"),
        &serde_json::to_value(&resolved).expect("serialisable"),
        "threat",
    ) {
        return Err(invalid(format!(
            "the recorded threat model differs from what spec.toml and the data give, at {path}"
        )));
    }
    Ok(())
}

/// Re-derives metrics, criteria, decision, plots and report from the sections and files.
fn check_stated(dossier: &Dossier, files: &Files) -> Result<()> {
    let stated = crate::certify::state(
        &dossier.sections,
        files,
        &dossier.threat,
        &dossier.acceptance,
        &dossier.context.currency,
        dossier.inputs.data_rows,
    )?;
    let json = |v: &std::collections::BTreeMap<String, super::metrics::Metric>| {
        serde_json::to_value(v).expect("serialisable")
    };
    if let Some(path) = first_difference(&json(&dossier.metrics), &json(&stated.metrics), "metrics")
    {
        return Err(invalid(format!(
            "the recorded metrics do not follow from the sections: {path}"
        )));
    }
    if dossier.certificate != stated.certificate {
        return Err(invalid(
            "the certificate counted by certified_fraud_recall does not follow from the spec",
        ));
    }
    if dossier.criteria != stated.criteria || dossier.decision != stated.decision {
        return Err(invalid(format!(
            "the recorded criteria or decision ({}) do not follow from the metrics (recomputed: {})",
            dossier.decision.outcome, stated.decision.outcome
        )));
    }
    for (name, bytes) in &stated.plots {
        if files.get(name) != Some(bytes) {
            return Err(invalid(format!(
                "{name} is not the plot its section's rows give"
            )));
        }
    }
    let plots_listed = dossier
        .files
        .iter()
        .filter(|f| f.path.starts_with("plots/"))
        .count();
    if plots_listed != stated.plots.len() {
        return Err(invalid("the folder has plots no section states"));
    }
    let report = crate::certify::render_report(dossier, &stated);
    if files.get(REPORT_FILE).map(Vec::as_slice) != Some(report.as_bytes()) {
        return Err(invalid(
            "report.html is not the report the dossier's contents give",
        ));
    }
    Ok(())
}

/// Loads model and data under the folder's spec and re-runs every section.
fn replay(
    options: &VerifyOptions,
    dossier: &Dossier,
    files: &Files,
    report: &mut VerifyReport,
) -> Result<()> {
    let (Some(model), Some(data)) = (&options.model, &options.data) else {
        return Err(usage("--replay needs --model and --data"));
    };
    let overrides = crate::pipeline::Overrides {
        model: Some(model.clone()),
        data: Some(data.clone()),
    };
    let spec_path = options.dir.join(SPEC_FILE);
    let prepared =
        crate::pipeline::prepare(&spec_path, &overrides, &options.job.runtime).map_err(|e| {
            invalid(format!(
                "replay: the model and data do not load under spec.toml: {e}"
            ))
        })?;
    let runtime = crate::runtime::runtime_info(prepared.model.runtime_config())?;
    if runtime != dossier.engine.onnxruntime {
        return Err(invalid(format!(
            "replay needs the ONNX Runtime that made the dossier ({} {}), this one is {} {}",
            dossier.engine.onnxruntime.library,
            dossier.engine.onnxruntime.library_sha256,
            runtime.library,
            runtime.library_sha256
        )));
    }
    use crate::sections::same_setting as same;
    same(
        "inputs.data_rows",
        &dossier.inputs.data_rows,
        &prepared.data.rows(),
    )?;
    same(
        "inputs.features",
        &dossier.inputs.features,
        &prepared.data.features,
    )?;
    if let Some(path) = first_difference(
        &serde_json::to_value(&dossier.threat).expect("serialisable"),
        &serde_json::to_value(&prepared.threat).expect("serialisable"),
        "threat",
    ) {
        return Err(invalid(format!(
            "replay: the threat model resolved from spec.toml and the data differs at {path}"
        )));
    }
    report
        .passed
        .push("replay: model, data and threat model resolve as recorded".into());
    let compare_dir = options
        .compare_dir
        .clone()
        .or_else(|| model.parent().map(Path::to_path_buf));
    let inputs = RunInputs {
        prepared: &prepared,
        job: &options.job,
        compare_dir: compare_dir.as_deref(),
    };
    for s in &dossier.sections {
        let kind = crate::sections::find(&s.kind).expect("checked");
        report.passed.push(kind.replay(&s.record, files, &inputs)?);
    }
    if options.fresh_sample
        && let Some(s) = dossier.section("smoothing")
    {
        report
            .notes
            .push(crate::sections::smoothing::fresh_sample_test(
                &s.record, files, &inputs,
            )?);
    }
    Ok(())
}
