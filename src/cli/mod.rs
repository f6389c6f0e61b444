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
read models/threat_demo.toml to write your own spec."
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

/// Runs a command; `Ok(false)` means it ran but its check failed (exit status 1).
pub fn run(cli: Cli) -> crate::Result<bool> {
    match cli.command {
        Command::Verify(args) => dossier::verify_command(&args),
        other => run_other(other).map(|()| true),
    }
}

fn run_other(command: Command) -> crate::Result<()> {
    match command {
        Command::Verify(_) => unreachable!("handled by run"),
        Command::Demo(args) => dossier::demo_command(&args),
        Command::Certify(args) => dossier::certify_command(&args),
        Command::Compare(args) => dossier::compare_command(&args),
        Command::Smooth(args) => smooth::smooth_command(&args),
        Command::Bounds(args) => bounds::bounds_command(&args),
        Command::Data(DataCommand::Synth(args)) => data::synth(&args),
        Command::Bench(cmd) => bench::run(&cmd),
        Command::Keygen(args) => keygen::keygen_command(&args),
    }
}
