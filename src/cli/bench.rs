//! `robcert bench`: benchmarks measured beside their baseline in one run.

use super::smooth::{RuntimeArgs, SmoothingArgs, bundled_spec};
use crate::bench::smoothing_vs_raw;
use crate::error::Result;
use crate::pipeline::{Overrides, prepare};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Smoothing throughput vs raw ONNX Runtime batch inference (same model, rows, batch, threads).
    Smoothing(SmoothingBenchArgs),
    /// Time per row of each bound method on the threat boxes of the spec's target rows.
    Bounds(BoundsBenchArgs),
}

#[derive(clap::Args, Debug)]
pub struct BoundsBenchArgs {
    /// Threat spec [default: models/threat_demo.toml].
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Model to benchmark instead of the spec's.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Methods, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ibp,crown")]
    pub methods: Vec<crate::bounds::Method>,
    /// Target rows to bound.
    #[arg(long, default_value_t = 90)]
    pub rows: usize,
    /// Repeats; medians are reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
}

#[derive(clap::Args, Debug)]
pub struct SmoothingBenchArgs {
    /// Threat spec [default: models/threat_demo.toml].
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Model to benchmark instead of the spec's.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Rows to certify per repeat.
    #[arg(long, default_value_t = 20)]
    pub rows: usize,
    /// Alternating raw/smoothing repeats; medians are reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Write the measurements as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub smoothing: SmoothingArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn run(cmd: &BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Bounds(args) => {
            let spec = match &args.spec {
                Some(s) => s.clone(),
                None => bundled_spec()?,
            };
            let overrides = Overrides {
                model: args.model.clone(),
                data: None,
            };
            let prepared = prepare(&spec, &overrides, &Default::default())?;
            let (graph, _) = crate::pipeline::load_network(&prepared.model)?;
            let timings = crate::bench::bounds_timing(
                &graph,
                &prepared,
                &args.methods,
                args.rows,
                args.repeats,
            )?;
            println!(
                "bound methods on threat boxes — model {} ({} rayon threads for the all-core column)",
                prepared.model.path.display(),
                rayon::current_num_threads()
            );
            println!("  method   rows   µs/row (1 core)   rows/s (all cores)   verified");
            for t in &timings {
                println!(
                    "  {:<7} {:>5}   {:>15.1}   {:>18.0}   {:>7.2}%",
                    t.method,
                    t.rows,
                    t.microseconds_per_row_one_core,
                    t.rows_per_second_all_cores,
                    100.0 * t.verified_share
                );
            }
            Ok(())
        }
        BenchCommand::Smoothing(args) => {
            let spec = match &args.spec {
                Some(s) => s.clone(),
                None => bundled_spec()?,
            };
            let options = args.runtime.options();
            let overrides = Overrides {
                model: args.model.clone(),
                data: None,
            };
            let prepared = prepare(&spec, &overrides, &options.runtime)?;
            let config = args
                .smoothing
                .apply(prepared.spec.spec.methods.smoothing.clone());
            config.validate()?;
            let b = smoothing_vs_raw(&prepared, &config, args.rows, options.workers, args.repeats)?;
            println!(
                "smoothing throughput vs raw ONNX Runtime — model {} ({} features), batch {}, {} worker(s) × {} intra-op thread(s)",
                prepared.model.path.display(),
                prepared.model.input_width,
                b.batch,
                b.workers,
                options.runtime.intra_threads
            );
            println!(
                "  {} rows × (n0 {} + n {}) = {} evaluations per repeat",
                b.rows, config.n0, config.n, b.evaluations_per_repeat
            );
            println!("  repeat   raw rows/s   smoothing evals/s   ratio");
            for (i, p) in b.pairs.iter().enumerate() {
                println!(
                    "  {:>6}   {:>10.3}M   {:>17.3}M   {:.3}",
                    i + 1,
                    p.raw_per_second / 1e6,
                    p.smoothing_per_second / 1e6,
                    p.ratio
                );
            }
            println!(
                "  median   {:>10.3}M   {:>17.3}M   {:.3}",
                b.median_raw_per_second / 1e6,
                b.median_smoothing_per_second / 1e6,
                b.median_ratio
            );
            if let Some(path) = &args.json {
                let json = serde_json::to_string_pretty(&b).expect("serialisable");
                crate::util::atomic_write(path, json.as_bytes())?;
            }
            Ok(())
        }
    }
}
