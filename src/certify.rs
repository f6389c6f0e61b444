//! `robcert certify`: one spec in, a signed dossier folder out.
//!
//! Runs every section the spec asks for (see `crate::sections`), states every metric with its
//! interval, evaluates the risk-acceptance criteria, renders plots and the HTML report, writes
//! `dossier.json` in canonical form and signs its exact bytes. The folder is written atomically
//! (`dossier::folder`): a killed run leaves the old folder or the new one, never a mix.
//!
//! What a dossier states is a pure function of its sections' records and files ([`state`]), so
//! `verify` recomputes all of it with the same code.

use crate::config::CertificateChoice;
use crate::dossier::criteria::{self, ACCEPT, Criterion, Decision, NO_DECISION};
use crate::dossier::document::*;
use crate::dossier::metrics::Metric;
use crate::dossier::{canonical, folder, sign};
use crate::error::{Error, Result};
use crate::pipeline::{JobOptions, Overrides, Prepared, prepare};
use crate::report::html::{self, Banner, HtmlReport, Table, Tone};
use crate::runtime::sha256_hex;
use crate::sections::{DeriveInputs, Derived, Files, RunInputs, SectionRecord, registry};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the signing key comes from.
pub enum SigningKey {
    /// A PKCS#8 PEM file (made by `robcert keygen`).
    File(PathBuf),
    /// A key in memory (the demo key: it never touches the disk).
    InMemory(Box<ed25519_dalek::SigningKey>),
}

/// Options of one certification run.
pub struct CertifyOptions {
    pub out: PathBuf,
    /// Replace an existing robcert output folder.
    pub force: bool,
    pub key: SigningKey,
    pub job: JobOptions,
    /// The `generated_at` value; `None` takes the current UTC time.
    pub timestamp: Option<String>,
    /// The `engine.source_commit` value; `None` takes the commit robcert was built from. Set
    /// both to reproduce an earlier dossier byte for byte.
    pub source_commit: Option<String>,
}

/// What a certification produced.
pub struct Certified {
    pub dossier: Dossier,
    pub dir: PathBuf,
}

/// The git commit of the source tree robcert was built from.
pub fn source_commit() -> String {
    option_env!("ROBCERT_SOURCE_COMMIT")
        .unwrap_or("unknown")
        .to_string()
}

/// Seconds since the Unix epoch as an RFC 3339 UTC timestamp (no external time crate).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The file name of a path, for the dossier (which does not record folders).
pub fn file_name(p: &std::path::Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The certificate `certified_fraud_recall` counts: the spec's choice, else bounds when a bound
/// method ran, else smoothing.
pub fn certificate_choice(
    acceptance: &crate::config::Acceptance,
    derived: &[(String, Derived)],
) -> CertificateChoice {
    acceptance.certificate.unwrap_or_else(|| {
        if derived
            .iter()
            .any(|(k, d)| k == "bounds" && d.rows.is_some())
        {
            CertificateChoice::Bounds
        } else {
            CertificateChoice::Smoothing
        }
    })
}

/// Everything a dossier states that follows from its sections: metrics, criteria, decision,
/// plots and the report. Pure: `certify` and `verify` call it on the same inputs.
pub struct Stated {
    pub metrics: BTreeMap<String, Metric>,
    pub criteria: Vec<Criterion>,
    pub decision: Decision,
    pub certificate: CertificateChoice,
    /// Plot files (`plots/<name>.png|svg`).
    pub plots: Files,
    pub derived: Vec<(String, Derived)>,
}

/// Derives every section, then the cross-section metrics, criteria and decision.
pub fn state(
    sections: &[SectionRecord],
    files: &Files,
    threat: &crate::threat::ThreatModel,
    acceptance: &crate::config::Acceptance,
    currency: &str,
    data_rows: usize,
) -> Result<Stated> {
    let inputs = DeriveInputs {
        threat,
        acceptance,
        currency,
        data_rows,
    };
    let mut derived = Vec::new();
    for s in sections {
        let kind = crate::sections::find(&s.kind).ok_or_else(|| {
            crate::sections::invalid(format!("unknown section kind `{}`", s.kind))
        })?;
        derived.push((s.kind.clone(), kind.derive(&s.record, files, &inputs)?));
    }
    let mut metrics = BTreeMap::new();
    for (_, d) in &derived {
        for (k, m) in &d.metrics {
            metrics.entry(k.clone()).or_insert_with(|| m.clone());
        }
    }
    let certificate = certificate_choice(acceptance, &derived);
    let facts = |kind: &str| {
        derived
            .iter()
            .find(|(k, _)| k == kind)
            .and_then(|(_, d)| d.rows.as_ref().map(|r| (r, d.certificate_risk)))
    };
    let chosen = match certificate {
        CertificateChoice::Bounds => facts("bounds").map(|(r, risk)| (r.clone(), risk)),
        CertificateChoice::Smoothing => facts("smoothing").map(|(r, risk)| (r.clone(), risk)),
        CertificateChoice::Either => match (facts("bounds"), facts("smoothing")) {
            (Some((b, rb)), Some((s, rs))) => Some((
                b.iter()
                    .zip(s)
                    .map(|(x, y)| crate::sections::RowFacts {
                        certified: x.certified || y.certified,
                        ..x.clone()
                    })
                    .collect(),
                rb + rs,
            )),
            (Some((r, risk)), None) | (None, Some((r, risk))) => Some((r.clone(), risk)),
            (None, None) => None,
        },
    };
    if let Some((rows, risk)) = chosen {
        let target: Vec<_> = rows.iter().filter(|r| r.in_target).collect();
        let certified = target.iter().filter(|r| r.certified).count() as u64;
        let name = match certificate {
            CertificateChoice::Bounds => "a bound method (deployed model)",
            CertificateChoice::Smoothing => "randomized smoothing (smoothed model)",
            CertificateChoice::Either => "a bound method or randomized smoothing",
        };
        let source = match certificate {
            CertificateChoice::Bounds => "bounds",
            CertificateChoice::Smoothing => "smoothing",
            CertificateChoice::Either => "bounds+smoothing",
        };
        metrics.insert(
            "certified_fraud_recall".into(),
            Metric::share(
                certified,
                target.len() as u64,
                acceptance.confidence,
                risk,
                format!("target rows certified over the whole threat box by {name}"),
                source,
            ),
        );
        if rows.iter().all(|r| r.amount.is_some()) && !rows.is_empty() {
            let at_risk: f64 = target
                .iter()
                .filter(|r| !r.certified)
                .map(|r| r.amount.unwrap_or(0.0))
                .sum();
            metrics.insert(
                "money_at_risk".into(),
                Metric::amount(
                    at_risk,
                    target.len() as u64,
                    1.0 - risk,
                    format!(
                        "amount in target rows not certified by {name} (an upper bound on what an attacker could move past the model on these rows)"
                    ),
                    source,
                ),
            );
        }
    }
    let (criteria_list, decision) = criteria::evaluate(acceptance, &metrics);
    let mut plots = Files::new();
    for (_, d) in &derived {
        for f in &d.figures {
            plots.insert(format!("plots/{}.png", f.name), f.files.png.clone());
            plots.insert(format!("plots/{}.svg", f.name), f.files.svg.clone());
        }
    }
    Ok(Stated {
        metrics,
        criteria: criteria_list,
        decision,
        certificate,
        plots,
        derived,
    })
}

/// The fingerprint of the public demo key (a dossier signed with it proves nothing about who
/// signed).
pub fn demo_key_fingerprint() -> String {
    let keys = crate::cli::dossier::demo_keypair();
    keys.fingerprint().unwrap_or_default()
}

/// Renders the report from the dossier (its `files` list aside, which includes the report) and
/// the sections' derived parts. Deterministic.
pub fn render_report(dossier: &Dossier, stated: &Stated) -> String {
    let currency = dossier.context.currency.as_str();
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    let criteria_table = Table {
        caption: "Risk-acceptance criteria".into(),
        header: vec![
            "criterion".into(),
            "compared".into(),
            "threshold".into(),
            "estimate (rows)".into(),
            "result".into(),
            "why".into(),
        ],
        rows: dossier
            .criteria
            .iter()
            .map(|c| {
                vec![
                    c.metric.clone(),
                    c.compared
                        .map_or("not computed".into(), |v| format!("{v:.6} ({})", c.basis)),
                    format!("{} {}", c.comparison, c.threshold),
                    match (c.estimate, c.rows) {
                        (Some(e), Some(r)) => format!("{e:.6} ({r})"),
                        _ => "—".into(),
                    },
                    c.result.clone(),
                    c.reason.clone(),
                ]
            })
            .collect(),
        highlight_column: Some(4),
    };
    let metrics_table = Table {
        caption: format!(
            "Figures stated ({:.0}% two-sided Clopper–Pearson intervals over the rows)",
            100.0 * dossier.acceptance.confidence
        ),
        header: vec![
            "metric".into(),
            "estimate".into(),
            "interval".into(),
            "rows".into(),
            "confidence".into(),
            "counts".into(),
        ],
        rows: dossier
            .metrics
            .iter()
            .map(|(k, m)| {
                let (estimate, interval) = if m.is_share() {
                    (
                        pct(m.value),
                        format!(
                            "[{}, {}]",
                            pct(m.lower.unwrap_or(0.0)),
                            pct(m.upper.unwrap_or(1.0))
                        ),
                    )
                } else {
                    (crate::sections::money(m.value, currency), "—".into())
                };
                vec![
                    k.clone(),
                    estimate,
                    interval,
                    m.rows.to_string(),
                    format!("{:.4}", m.confidence),
                    m.description.clone(),
                ]
            })
            .collect(),
        highlight_column: None,
    };
    let t = &dossier.threat;
    let movable = t.movable();
    let mut threat_rows: Vec<Vec<String>> = Vec::new();
    for (i, f) in t.features.iter().enumerate() {
        if !movable[i] {
            continue;
        }
        let range = |v: f64| {
            if v.is_finite() {
                format!("{}", (v * 1e6).round() / 1e6)
            } else {
                "unbounded".into()
            }
        };
        let budget = if t.budgets[i] > 0.0 {
            format!("± {}", t.budgets[i])
        } else {
            "any category of its one-hot group".into()
        };
        threat_rows.push(vec![
            f.clone(),
            budget,
            format!("[{}, {}]", range(t.lower[i]), range(t.upper[i])),
            if t.constraints.integer[i] {
                "integer".into()
            } else {
                String::new()
            },
        ]);
    }
    let target_text = match &t.target {
        crate::threat::Target::Evasion { from, to } => format!(
            "Target: evasions only — {} rows must not be moved to {}.",
            t.class_names[*from], t.class_names[*to]
        ),
        crate::threat::Target::Any => "Target: any change of prediction counts.".into(),
    };
    let mut threat_paragraphs = vec![target_text];
    if !t.constraints.relations.is_empty() {
        threat_paragraphs.push(format!(
            "Every valid row satisfies: {}. Attacks and smoothing keep them; the bound methods reason over the enclosing box (an over-approximation).",
            t.constraints
                .relations
                .iter()
                .map(|r| r.text.clone())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    for g in &t.constraints.one_hot {
        threat_paragraphs.push(format!(
            "One-hot group `{}` ({} features){}.",
            g.name,
            g.members.len(),
            if g.switchable {
                ": the attacker may switch its category"
            } else {
                ": fixed"
            }
        ));
    }
    let mut sections = vec![
        html::Section {
            heading: "Decision and criteria".into(),
            paragraphs: vec![format!(
                "Model {} certified on {} rows of {}. `certified_fraud_recall` counts rows certified by {}.",
                dossier.inputs.model.name,
                dossier.inputs.data_rows,
                dossier.inputs.data.name,
                match stated.certificate {
                    CertificateChoice::Bounds => "a bound method on the deployed model",
                    CertificateChoice::Smoothing => "randomized smoothing (the smoothed model)",
                    CertificateChoice::Either => "a bound method or randomized smoothing",
                }
            )],
            tables: vec![criteria_table, metrics_table],
            figures: vec![],
            code: None,
        },
        html::Section {
            heading: "Threat model".into(),
            paragraphs: threat_paragraphs,
            tables: vec![Table {
                caption: "Features the attacker controls (all others are held fixed)".into(),
                header: vec![
                    "feature".into(),
                    "budget (feature units)".into(),
                    "valid range".into(),
                    "constraint".into(),
                ],
                rows: threat_rows,
                highlight_column: None,
            }],
            figures: vec![],
            code: None,
        },
    ];
    for (_, d) in &stated.derived {
        sections.extend(d.report.iter().cloned());
    }
    let e = &dossier.engine;
    sections.push(html::Section {
        heading: "Inputs and provenance".into(),
        paragraphs: vec![format!(
            "The data's columns were matched to the model's {} features by name (order from the {}) and fed in this order: {}.",
            dossier.inputs.features.len(),
            dossier.inputs.features_from,
            dossier.inputs.features.join(", ")
        )],
        tables: vec![Table {
            caption: "Inputs".into(),
            header: vec!["input".into(), "name".into(), "SHA-256".into()],
            rows: vec![
                vec!["model".into(), dossier.inputs.model.name.clone(), dossier.inputs.model.sha256.clone()],
                vec!["data".into(), dossier.inputs.data.name.clone(), dossier.inputs.data.sha256.clone()],
                vec!["spec (in this folder)".into(), dossier.spec.path.clone(), dossier.spec.sha256.clone()],
                vec!["robcert".into(), format!("{} {}", e.name, e.version), e.source_commit.clone()],
                vec![
                    "ONNX Runtime".into(),
                    format!("{} ({}), optimisation level {}", e.onnxruntime.library, e.onnxruntime.build_info, e.onnxruntime.optimization.name()),
                    e.onnxruntime.library_sha256.clone(),
                ],
            ],
            highlight_column: None,
        }],
        figures: vec![],
        code: None,
    });
    let ctx = &dossier.context;
    sections.push(html::Section {
        heading: "Model-risk context".into(),
        paragraphs: vec![
            format!("Intended use: {}", ctx.intended_use),
            format!("Assumptions: {}", ctx.assumptions.join("; ")),
            format!("Limitations: {}", ctx.limitations.join("; ")),
            format!("Monitoring: {}", ctx.monitoring),
            format!(
                "A deployment is covered by these certificates when it runs this model file with {} at graph optimisation level `{}` on the CPU execution provider.",
                e.onnxruntime.library,
                e.onnxruntime.optimization.name()
            ),
        ],
        tables: vec![],
        figures: vec![],
        code: None,
    });
    let fp = &dossier.signature.public_key_fingerprint;
    let mut how = vec![format!(
        "dossier.json is signed with Ed25519 by the key with fingerprint {fp}. Obtain the signer's public key, or its fingerprint, from the signer through a channel you trust — not from this folder: anyone who can change the folder can also replace pub.pem and re-sign. Then check the signature with OpenSSL alone, and let robcert re-check every hash, recompute every statistic and, with the model and data, re-run every method:"
    )];
    if *fp == demo_key_fingerprint() {
        how.push("WARNING: this dossier is signed with robcert's public demo key, whose private half is published: the signature proves nothing about who signed.".into());
    }
    sections.push(html::Section {
        heading: "How to verify this dossier".into(),
        paragraphs: how,
        tables: vec![],
        figures: vec![],
        code: Some(format!(
            "openssl pkeyutl -verify -pubin -inkey SIGNER_PUB.pem -rawin -in dossier.json -sigfile dossier.sig\nrobcert verify <this folder> --pubkey SIGNER_PUB.pem --model {} --data {} --replay\nrobcert verify <this folder> --fingerprint {fp} --model {} --data {} --replay",
            dossier.inputs.model.name, dossier.inputs.data.name, dossier.inputs.model.name, dossier.inputs.data.name
        )),
    });
    let tone = match dossier.decision.outcome.as_str() {
        ACCEPT => Tone::Ok,
        NO_DECISION => Tone::Neutral,
        _ => Tone::Bad,
    };
    html::render_html(&HtmlReport {
        title: if ctx.title.is_empty() {
            "Robustness certification dossier".into()
        } else {
            ctx.title.clone()
        },
        subtitle: format!("robcert {} · {}", e.version, dossier.generated_at),
        decision: Some(Banner {
            outcome: dossier.decision.outcome.clone(),
            tone,
            reasons: dossier.decision.reasons.clone(),
        }),
        sections,
        footer: format!(
            "schema {} · engine commit {}",
            dossier.schema, e.source_commit
        ),
    })
}

/// The public key of a signing key, as the PEM written into the folder.
pub fn public_key_pem(key: &ed25519_dalek::SigningKey) -> Result<String> {
    ed25519_dalek::pkcs8::EncodePublicKey::to_public_key_pem(
        &key.verifying_key(),
        ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
    )
    .map_err(|e| Error::Key {
        path: PathBuf::from("pub.pem"),
        message: e.to_string(),
    })
}

/// Runs a certification and writes the signed dossier folder.
pub fn certify(
    spec_path: &std::path::Path,
    overrides: &Overrides,
    options: &CertifyOptions,
) -> Result<Certified> {
    folder::check_destination(&options.out, options.force)?;
    let key = match &options.key {
        SigningKey::File(p) => sign::load_signing_key(p)?,
        SigningKey::InMemory(k) => (**k).clone(),
    };
    let prepared = prepare(spec_path, overrides, &options.job.runtime)?;
    let spec = &prepared.spec.spec;
    criteria::validate(&spec.acceptance)?;
    let requested: Vec<_> = registry()
        .into_iter()
        .filter(|s| s.requested(spec))
        .collect();
    if requested.is_empty() {
        return Err(Error::spec(
            "methods",
            "the spec runs no method: add [methods.smoothing], [methods.bounds] or [methods.attack]",
        ));
    }
    let inputs = RunInputs {
        prepared: &prepared,
        job: &options.job,
        compare_dir: None,
    };
    let mut files = Files::new();
    let mut sections = Vec::new();
    for s in requested {
        let (record, section_files) = s.run(&inputs)?;
        let hashes = section_files
            .iter()
            .map(|(name, bytes)| FileHash {
                path: name.clone(),
                sha256: sha256_hex(bytes),
            })
            .collect();
        files.extend(section_files);
        sections.push(SectionRecord {
            kind: s.kind().into(),
            record,
            files: hashes,
        });
    }
    let dossier = assemble(&prepared, sections, &mut files, &key, options)?;
    let json = canonical::to_canonical(&dossier)?;
    let signature = sign::sign_bytes(&key, &json);
    files.insert(DOSSIER_FILE.into(), json);
    files.insert(SIGNATURE_FILE.into(), signature.to_vec());
    folder::write_folder(&options.out, options.force, &files)?;
    Ok(Certified {
        dossier,
        dir: options.out.clone(),
    })
}

/// Fills the dossier around its sections: inputs, threat, metrics, criteria, plots, report,
/// the spec's copy and the public key; `files` receives every file but the signed document.
fn assemble(
    prepared: &Prepared,
    sections: Vec<SectionRecord>,
    files: &mut Files,
    key: &ed25519_dalek::SigningKey,
    options: &CertifyOptions,
) -> Result<Dossier> {
    let spec = &prepared.spec.spec;
    let context = spec.context.clone().unwrap_or_default();
    let stated = state(
        &sections,
        files,
        &prepared.threat,
        &spec.acceptance,
        &context.currency,
        prepared.data.rows(),
    )?;
    files.extend(stated.plots.clone());
    files.insert(SPEC_FILE.into(), prepared.spec.bytes.clone());
    files.insert(PUBLIC_KEY_FILE.into(), public_key_pem(key)?.into_bytes());
    let mut dossier = Dossier {
        schema: SCHEMA.to_string(),
        engine: Engine {
            name: "robcert".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_commit: options.source_commit.clone().unwrap_or_else(source_commit),
            onnxruntime: crate::runtime::runtime_info(prepared.model.runtime_config())?,
        },
        generated_at: options.timestamp.clone().unwrap_or_else(utc_now),
        spec: FileHash {
            path: SPEC_FILE.into(),
            sha256: sha256_hex(&prepared.spec.bytes),
        },
        context,
        inputs: Inputs {
            model: InputFile {
                name: file_name(&prepared.model.path),
                sha256: prepared.model.sha256.clone(),
            },
            data: InputFile {
                name: file_name(&prepared.data.path),
                sha256: prepared.data_sha256.clone(),
            },
            data_rows: prepared.data.rows(),
            features: prepared.data.features.clone(),
            features_from: if prepared.model.feature_names.is_some() {
                "model metadata".into()
            } else {
                "spec".into()
            },
            id_column: spec.data.id.clone(),
        },
        threat: prepared.threat.clone(),
        sections,
        metrics: stated.metrics.clone(),
        acceptance: spec.acceptance.clone(),
        certificate: stated.certificate,
        criteria: stated.criteria.clone(),
        decision: stated.decision.clone(),
        files: Vec::new(),
        signature: SignatureInfo {
            algorithm: "Ed25519".into(),
            public_key_fingerprint: sign::fingerprint(&key.verifying_key()),
            signature_file: SIGNATURE_FILE.into(),
        },
    };
    let report = render_report(&dossier, &stated);
    files.insert(REPORT_FILE.into(), report.into_bytes());
    dossier.files = files
        .iter()
        .map(|(path, bytes)| FileHash {
            path: path.clone(),
            sha256: sha256_hex(bytes),
        })
        .collect();
    Ok(dossier)
}
