//! `robcert data synth`: writes the synthetic transaction table.

use crate::data::synth::{SynthConfig, generate, write_csv};
use crate::error::{Error, Result};
use crate::util::atomic_write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Number of transactions to generate.
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    /// Seed: the same rows and seed always give the same file, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Prior probability that a transaction is fraud (before label noise).
    #[arg(long, default_value_t = 0.02)]
    pub fraud_rate: f64,
    /// Output CSV file (written atomically).
    #[arg(long, short)]
    pub out: PathBuf,
}

pub fn synth(args: &SynthArgs) -> Result<()> {
    if args.rows == 0 {
        return Err(Error::param("rows", 0, "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&args.fraud_rate) {
        return Err(Error::param(
            "fraud-rate",
            args.fraud_rate,
            "must lie in [0, 1]",
        ));
    }
    let config = SynthConfig {
        rows: args.rows,
        seed: args.seed,
        fraud_rate: args.fraud_rate,
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let rows = generate(&config);
    let mut bytes = Vec::with_capacity(args.rows * 120);
    write_csv(&mut bytes, &rows, 0).map_err(|e| Error::io(&args.out, e))?;
    atomic_write(&args.out, &bytes)?;
    let fraud = rows.iter().filter(|t| t.is_fraud).count();
    eprintln!(
        "wrote {} rows ({} fraud, {:.2}%) to {} in {:.2} s",
        rows.len(),
        fraud,
        100.0 * fraud as f64 / rows.len() as f64,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
