//! `robcert smooth` and `robcert demo`.

use crate::error::{Error, Result};
use crate::output::{smoothing_table, write_smoothing};
use crate::pipeline::{JobOptions, Overrides, prepare, smooth};
use crate::runtime::RuntimeConfig;
use crate::smoothing::{SmoothingConfig, SmoothingMode};
use std::path::{Path, PathBuf};

/// Settings shared by every command that runs a model.
#[derive(clap::Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Worker threads, each with its own ONNX Runtime session [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// ONNX Runtime intra-op threads per session.
    #[arg(long, default_value_t = 1)]
    pub intra_threads: usize,
    /// Path to libonnxruntime.so (default: $ROBCERT_ORT_LIB, $ORT_DYLIB_PATH, then
    /// .ort/onnxruntime/capi/ as installed by scripts/setup).
    #[arg(long, value_name = "FILE")]
    pub ort_lib: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl RuntimeArgs {
    pub fn options(&self) -> JobOptions {
        let defaults = JobOptions::default();
        JobOptions {
            workers: self.threads.unwrap_or(defaults.workers).max(1),
            runtime: RuntimeConfig {
                intra_threads: self.intra_threads.max(1),
                library: self.ort_lib.clone(),
                ..RuntimeConfig::default()
            },
            progress: !self.quiet,
            limit: None,
        }
    }
}

/// Overrides of the spec's `[methods.smoothing]` values.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SmoothingArgs {
    /// Noise scale in budget units: feature f gets N(0, (sigma·budget_f)²).
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Selection samples per row.
    #[arg(long)]
    pub n0: Option<u64>,
    /// Estimation samples per row.
    #[arg(long)]
    pub n: Option<u64>,
    /// Probability that any row's certificate is wrong (each row at alpha / rows, Bonferroni).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Rows per ONNX Runtime call (does not change results).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Master seed (the same seed gives the same counts for any --threads).
    #[arg(long)]
    pub seed: Option<u64>,
}

impl SmoothingArgs {
    pub fn apply(&self, base: Option<SmoothingConfig>) -> SmoothingConfig {
        let mut c = base.unwrap_or_default();
        c.sigma = self.sigma.unwrap_or(c.sigma);
        c.n0 = self.n0.unwrap_or(c.n0);
        c.n = self.n.unwrap_or(c.n);
        c.alpha = self.alpha.unwrap_or(c.alpha);
        c.batch = self.batch.unwrap_or(c.batch);
        c.seed = self.seed.unwrap_or(c.seed);
        c
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
What is certified: noise N(0, (sigma·b_f)²) is added to each mutable feature f (budget b_f) and the
model runs through ONNX Runtime on every noisy copy. The radius R is in budget-scaled L2 units:
the smoothed prediction cannot change for any x' with sqrt(Σ ((x'_f − x_f)/b_f)²) < R, with
probability ≥ 1 − alpha for all rows together (each row's Clopper–Pearson bound at level
alpha / rows, Bonferroni). A row is certified at the threat budget when R exceeds the distance to
the farthest corner of its threat box (≤ sqrt(#mutable features)).

Outputs in --out: smoothing_rows.csv (one row per data row) and smoothing_summary.json.

Example:
  robcert smooth --spec models/threat_demo.toml --out certificates/my_run --n 10000")]
pub struct SmoothArgs {
    /// Threat spec (TOML): model, data, mutable features and budgets, valid ranges, target.
    #[arg(long, value_name = "TOML")]
    pub spec: PathBuf,
    /// Output folder for smoothing_rows.csv and smoothing_summary.json.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Use this ONNX model instead of the spec's.
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// Use this CSV instead of the spec's data.
    #[arg(long, value_name = "CSV")]
    pub data: Option<PathBuf>,
    /// CERTIFY (radius per row) or PREDICT (smoothed prediction or abstain).
    #[arg(long, value_enum, default_value_t = SmoothingMode::Certify)]
    pub mode: SmoothingMode,
    /// Only the first N rows.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Replace an existing robcert output folder.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub smoothing: SmoothingArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn smooth_command(args: &SmoothArgs) -> Result<()> {
    let mut options = args.runtime.options();
    options.limit = args.limit;
    let overrides = Overrides {
        model: args.model.clone(),
        data: args.data.clone(),
    };
    crate::dossier::folder::check_destination(&args.out, args.force)?;
    let prepared = prepare(&args.spec, &overrides, &options.runtime)?;
    let config = args
        .smoothing
        .apply(prepared.spec.spec.methods.smoothing.clone());
    let (report, rows) = smooth(&prepared, &config, args.mode, &options)?;
    write_smoothing(&args.out, args.force, &report, &rows)?;
    super::say(smoothing_table(&report))?;
    super::say(format!(
        "  wrote {}/smoothing_rows.csv and smoothing_summary.json\n",
        args.out.display()
    ))
}

/// Finds the bundled demo spec: in the working directory, else beside the executable's checkout.
pub fn bundled_spec() -> Result<PathBuf> {
    let rel = Path::new("models").join("threat_demo.toml");
    let mut tried = vec![rel.clone()];
    if rel.is_file() {
        return Ok(rel);
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let p = dir.join(&rel);
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p);
        }
    }
    Err(Error::MissingFile {
        path: PathBuf::from(format!(
            "{} (run from the robcert checkout or pass --spec)",
            tried[0].display()
        )),
    })
}
