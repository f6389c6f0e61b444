//! Throughput benchmarks that measure robcert beside its baseline in the same run.

use crate::error::Result;
use crate::pipeline::Prepared;
use crate::smoothing::{SmoothingConfig, SmoothingMode, SmoothingRun, run_smoothing};
use crate::util::median;
use serde::Serialize;
use std::time::Instant;

/// One paired measurement: raw inference and smoothing on the same evaluation count.
#[derive(Clone, Debug, Serialize)]
pub struct ThroughputPair {
    pub raw_per_second: f64,
    pub smoothing_per_second: f64,
    pub ratio: f64,
}

/// Result of the smoothing throughput benchmark; `ratio` is smoothing / raw (higher is better).
#[derive(Clone, Debug, Serialize)]
pub struct SmoothingBench {
    pub rows: usize,
    pub evaluations_per_repeat: u64,
    pub batch: usize,
    pub workers: usize,
    pub pairs: Vec<ThroughputPair>,
    pub median_raw_per_second: f64,
    pub median_smoothing_per_second: f64,
    pub median_ratio: f64,
}

/// Raw ONNX Runtime batch inference of `evaluations` rows (data rows tiled into batches),
/// split over `workers` sessions exactly as smoothing splits its work. Returns rows/s.
pub fn raw_inference(
    prepared: &Prepared,
    evaluations: u64,
    batch: usize,
    workers: usize,
) -> Result<f64> {
    let w = prepared.data.width();
    let input: Vec<f32> = (0..batch)
        .flat_map(|i| prepared.data.row(i % prepared.data.rows()).iter().copied())
        .collect();
    let per_worker = evaluations.div_ceil(workers as u64);
    let start = Instant::now();
    let outcomes: Vec<Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<u64> {
                    let mut session = prepared.model.session()?;
                    let mut out = Vec::new();
                    let mut done = 0u64;
                    while done < per_worker {
                        let b = ((per_worker - done) as usize).min(batch);
                        session.run_into(&input[..b * w], b, &mut out)?;
                        done += b as u64;
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench worker panicked"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let total: u64 = outcomes
        .into_iter()
        .collect::<Result<Vec<u64>>>()?
        .iter()
        .sum();
    Ok(total as f64 / secs)
}

/// Smoothing (CERTIFY) on the first `rows` rows against raw inference of the same number of
/// model evaluations, alternating `repeats` times so that machine noise hits both alike.
pub fn smoothing_vs_raw(
    prepared: &Prepared,
    config: &SmoothingConfig,
    rows: usize,
    workers: usize,
    repeats: usize,
) -> Result<SmoothingBench> {
    let rows = rows.min(prepared.data.rows()).max(1);
    let evaluations = rows as u64 * (config.n0 + config.n);
    let mut pairs = Vec::new();
    for _ in 0..repeats.max(1) {
        let raw = raw_inference(prepared, evaluations, config.batch, workers)?;
        let run = SmoothingRun {
            model: &prepared.model,
            data: &prepared.data,
            threat: &prepared.threat,
            config,
            mode: SmoothingMode::Certify,
            workers,
            rows: Some((0..rows).collect()),
            progress: false,
        };
        let start = Instant::now();
        let out = run_smoothing(&run)?;
        // Timed from the call, so set-up (sessions, clean predictions) counts against smoothing.
        let smooth = out.model_evaluations as f64 / start.elapsed().as_secs_f64();
        pairs.push(ThroughputPair {
            raw_per_second: raw,
            smoothing_per_second: smooth,
            ratio: smooth / raw,
        });
    }
    Ok(SmoothingBench {
        rows,
        evaluations_per_repeat: evaluations,
        batch: config.batch,
        workers,
        median_raw_per_second: median(pairs.iter().map(|p| p.raw_per_second).collect()),
        median_smoothing_per_second: median(pairs.iter().map(|p| p.smoothing_per_second).collect()),
        median_ratio: median(pairs.iter().map(|p| p.ratio).collect()),
        pairs,
    })
}

/// Time per row of one bound method on the margin specification.
#[derive(Clone, Debug, Serialize)]
pub struct BoundsTiming {
    pub method: String,
    pub rows: usize,
    pub microseconds_per_row_one_core: f64,
    pub rows_per_second_all_cores: f64,
    pub verified_share: f64,
}

/// Times each method on the first `rows` target rows' threat boxes: one core (sequential), then
/// all cores (rayon over rows). Medians over `repeats`.
pub fn bounds_timing(
    graph: &crate::ir::Graph,
    prepared: &Prepared,
    methods: &[crate::bounds::Method],
    rows: usize,
    repeats: usize,
) -> Result<Vec<BoundsTiming>> {
    use crate::bounds::verdict::attack_targets;
    use crate::bounds::{Region, margin_lower};
    use rayon::prelude::*;
    let threat = &prepared.threat;
    let selected: Vec<usize> = (0..prepared.data.rows())
        .filter(|&i| threat.target.covers(prepared.data.labels[i]))
        .take(rows)
        .collect();
    let problems: Vec<(Region, usize, Vec<usize>)> = selected
        .iter()
        .map(|&i| {
            let label = prepared.data.labels[i];
            Ok((
                Region::from_threat(threat, prepared.data.row(i), 1.0)?,
                label,
                attack_targets(&threat.target, label, graph.output_size()),
            ))
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for &method in methods {
        let run = |p: &(Region, usize, Vec<usize>)| {
            crate::bounds::verdict::worst_margin(&margin_lower(graph, &p.0, method, p.1, &p.2))
                > graph.margin_threshold()
        };
        let mut one = Vec::new();
        let mut all = Vec::new();
        let mut verified = 0;
        // Sequential repeats first: rayon's idle workers spin for a while after a parallel
        // section and would slow a sequential measurement taken right after it.
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            verified = problems.iter().filter(|p| run(p)).count();
            one.push(t.elapsed().as_secs_f64() * 1e6 / problems.len() as f64);
        }
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            let v = problems.par_iter().filter(|p| run(p)).count();
            all.push(problems.len() as f64 / t.elapsed().as_secs_f64());
            assert_eq!(v, verified, "parallel and sequential bounds disagree");
        }
        out.push(BoundsTiming {
            method: method.name().to_string(),
            rows: problems.len(),
            microseconds_per_row_one_core: median(one),
            rows_per_second_all_cores: median(all),
            verified_share: verified as f64 / problems.len().max(1) as f64,
        });
    }
    Ok(out)
}
