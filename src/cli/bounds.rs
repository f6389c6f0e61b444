//! `robcert bounds`: deterministic bounds, attacks and a verdict per row.

use super::smooth::RuntimeArgs;
use crate::attack::{AttackConfig, AttackMethod};
use crate::bounds::Method;
use crate::error::Result;
use crate::output::{bounds_table, write_bounds};
use crate::pipeline::{BoundsJob, Overrides, bounds, prepare};
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttackChoice {
    Pgd,
    BlackBox,
    None,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Each target row ends verified (a sound bound proves the label over the whole threat box),
falsified (a counterexample in the box, confirmed by ONNX Runtime; see counterexamples.csv)
or unknown. Bounds contain ONNX Runtime's float32 results, not only exact arithmetic.
The scale columns bracket the true robustness: the largest budget scale each method certifies
and the smallest scale at which the attack succeeds.

Outputs in --out: bounds_rows.csv, counterexamples.csv, bounds_summary.json.

Example:
  robcert bounds --spec models/threat_demo.toml --model models/fraud_mlp_ibp.onnx --out certificates/ibp")]
pub struct BoundsArgs {
    /// Threat spec (TOML).
    #[arg(long, value_name = "TOML")]
    pub spec: PathBuf,
    /// Output folder.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Use this ONNX model instead of the spec's.
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// Use this CSV instead of the spec's data.
    #[arg(long, value_name = "CSV")]
    pub data: Option<PathBuf>,
    /// Bound methods, comma-separated [default: the spec's, else ibp,crown].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub methods: Option<Vec<Method>>,
    /// Attack [default: the spec's, else pgd].
    #[arg(long, value_enum)]
    pub attack: Option<AttackChoice>,
    /// Skip the certified/attack scale search (faster).
    #[arg(long)]
    pub no_scale_search: bool,
    /// Only the first N rows.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Replace an existing robcert output folder.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn bounds_command(args: &BoundsArgs) -> Result<()> {
    let mut options = args.runtime.options();
    options.limit = args.limit;
    let overrides = Overrides {
        model: args.model.clone(),
        data: args.data.clone(),
    };
    crate::dossier::folder::check_destination(&args.out, args.force)?;
    let prepared = prepare(&args.spec, &overrides, &options.runtime)?;
    let methods = &prepared.spec.spec.methods;
    let mut bounds_config = methods.bounds.clone().unwrap_or_default();
    if let Some(m) = &args.methods {
        bounds_config.methods = m.clone();
    }
    if args.no_scale_search {
        bounds_config.scale_search = false;
    }
    let spec_attack = methods.attack.clone().unwrap_or_default();
    let attack = match args.attack {
        None => Some(spec_attack),
        Some(AttackChoice::None) => None,
        Some(AttackChoice::Pgd) => Some(AttackConfig {
            method: AttackMethod::Pgd,
            ..spec_attack
        }),
        Some(AttackChoice::BlackBox) => Some(AttackConfig {
            method: AttackMethod::BlackBox,
            ..spec_attack
        }),
    };
    let job = BoundsJob {
        bounds: Some(bounds_config),
        attack,
    };
    let (report, rows) = bounds(&prepared, &job, &options)?;
    if let Some(why) = &report.network.fallback {
        eprintln!(
            "warning: {why}\n  continuing with the black-box attack only: rows can be falsified, not verified"
        );
    }
    write_bounds(&args.out, args.force, &prepared, &report, &rows)?;
    super::say(bounds_table(&report))?;
    super::say(format!(
        "  wrote {}/bounds_rows.csv, counterexamples.csv and bounds_summary.json\n",
        args.out.display()
    ))
}
