//! Command-line interface: argument types and dispatch. Each subcommand is a thin layer over the
//! library; `main.rs` only prints errors and sets the exit code.

pub mod bench;
pub mod bounds;
pub mod data;
pub mod dossier;
pub mod keygen;
pub mod smooth;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "robcert",
    version,
    about = "Certified robustness for fraud models as they run in production (ONNX Runtime)",
    long_about = "robcert certifies that small, realistic changes to a transaction cannot flip a fraud \
model's verdict. It runs the model through ONNX Runtime exactly as deployed and certifies each row \
under a threat model (TOML) that names the features an attacker controls and by how much.\n\n\
Start with `robcert demo`, which certifies the bundled test split with the bundled model, then \
read models/threat_demo.toml to write your own spec.\n\n\
Exit status: 0 done (certify/verify/demo: ACCEPT, and for verify VALID); 1 verify: INVALID; \
2 error (bad input or usage; nothing written); 3 REJECT; 4 NO DECISION."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole job on the bundled model and data: a signed dossier in certificates/demo/,
    /// then verify it.
    Demo(dossier::DemoArgs),
    /// Run every method a spec asks for and write a signed certification dossier.
    Certify(dossier::CertifyArgs),
    /// Re-check a dossier: signature, hashes, every statistic, criteria and decision.
    Verify(dossier::VerifyArgs),
    /// Run one spec on several models (training regimes) and compare them side by side.
    Compare(dossier::CompareArgs),
    /// Randomized smoothing (Cohen et al. 2019): certified radius or smoothed prediction per row.
    Smooth(smooth::SmoothArgs),
    /// Deterministic bounds (IBP, CROWN, alpha-CROWN) and attacks: verified / falsified / unknown per row.
    Bounds(bounds::BoundsArgs),
    /// Synthetic data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Benchmarks measured side by side with their baseline in one run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Write an Ed25519 key pair (private.pem, pub.pem) for signing dossiers.
    Keygen(keygen::KeygenArgs),
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Generate a seeded synthetic card-transaction table (CSV) with three fraud patterns.
    Synth(data::SynthArgs),
}

/// How a command ended, as the process exit status a pipeline can gate on:
///
/// | status | meaning |
/// |---|---|
/// | 0 | done; for `certify`/`verify`/`demo`: the decision is ACCEPT (and, for `verify`, VALID) |
/// | 1 | `verify`: the dossier is INVALID (the first failing check is printed) |
/// | 2 | an error: bad input, usage, a file that cannot be read (nothing was written) |
/// | 3 | the decision is REJECT |
/// | 4 | NO DECISION (no criteria, or a criterion inconclusive and none failed) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Invalid,
    Reject,
    NoDecision,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Invalid => 1,
            Outcome::Reject => 3,
            Outcome::NoDecision => 4,
        }
    }

    /// The outcome of a dossier's decision.
    pub fn of_decision(outcome: &str) -> Outcome {
        match outcome {
            crate::dossier::criteria::ACCEPT => Outcome::Done,
            crate::dossier::criteria::REJECT => Outcome::Reject,
            _ => Outcome::NoDecision,
        }
    }
}

/// Exit status of an error (bad input, usage).
pub const ERROR_STATUS: u8 = 2;

/// Writes to standard output; a closed or full stdout is an error, not a panic.
pub fn say(text: impl AsRef<str>) -> crate::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_ref().as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| crate::Error::Io {
            path: "standard output".into(),
            source,
        })
}

/// Runs a command.
pub fn run(cli: Cli) -> crate::Result<Outcome> {
    match cli.command {
        Command::Verify(args) => dossier::verify_command(&args),
        Command::Demo(args) => dossier::demo_command(&args),
        Command::Certify(args) => dossier::certify_command(&args),
        Command::Compare(args) => dossier::compare_command(&args).map(|()| Outcome::Done),
        Command::Smooth(args) => smooth::smooth_command(&args).map(|()| Outcome::Done),
        Command::Bounds(args) => bounds::bounds_command(&args).map(|()| Outcome::Done),
        Command::Data(DataCommand::Synth(args)) => data::synth(&args).map(|()| Outcome::Done),
        Command::Bench(cmd) => bench::run(&cmd).map(|()| Outcome::Done),
        Command::Keygen(args) => keygen::keygen_command(&args).map(|()| Outcome::Done),
    }
}
