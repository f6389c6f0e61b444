//! CERTIFY and PREDICT over a data set: rows are shared out to worker threads, each owning one
//! ONNX Runtime session. The noise comes from per-phase tables indexed by sample number (see
//! `noise`), so the counts are the same for any number of workers and any batch size.

use super::noise::{AnisotropicNoise, NormalTable, Phase};
use super::result::RowCertificate;
use super::stats::{binomial_test_half, certified_radius, clopper_pearson_lower};
use super::{SmoothingConfig, SmoothingMode};
use crate::data::Dataset;
use crate::error::Result;
use crate::runtime::{ModelSession, OnnxModel, argmax};
use crate::threat::ThreatModel;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Everything one smoothing job needs. `rows` selects a subset of row indices (all by default).
pub struct SmoothingRun<'a> {
    pub model: &'a OnnxModel,
    pub data: &'a Dataset,
    pub threat: &'a ThreatModel,
    pub config: &'a SmoothingConfig,
    pub mode: SmoothingMode,
    /// Worker threads, each with its own session.
    pub workers: usize,
    pub rows: Option<Vec<usize>>,
    pub progress: bool,
}

/// Per-row records (in row order) and the work done.
#[derive(Clone, Debug)]
pub struct SmoothingOutput {
    pub rows: Vec<RowCertificate>,
    /// The level of each row's certificate: `alpha / rows` (Bonferroni), so that all hold
    /// together with probability ≥ 1 − alpha.
    pub alpha_per_row: f64,
    /// Warnings computed before sampling (e.g. a sample size too small to certify any row).
    pub warnings: Vec<String>,
    /// Model evaluations through ONNX Runtime spent on noisy samples.
    pub model_evaluations: u64,
    pub seconds: f64,
}

/// Budget-scaled distance from `x` to the farthest point of its threat box
/// `{x' : |x'_f − x_f| ≤ b_f, lower_f ≤ x'_f ≤ upper_f}`.
pub fn region_radius(threat: &ThreatModel, x: &[f32]) -> f64 {
    threat
        .mutable_indices()
        .iter()
        .map(|&f| {
            let (v, b) = (x[f] as f64, threat.budgets[f]);
            let reach = (v - threat.lower[f])
                .max(threat.upper[f] - v)
                .min(b)
                .max(0.0);
            (reach / b).powi(2)
        })
        .sum::<f64>()
        .sqrt()
}

/// Scratch buffers of one worker, reused across rows.
struct Worker<'a> {
    session: ModelSession,
    noise: &'a AnisotropicNoise,
    tables: &'a Tables,
    config: &'a SmoothingConfig,
    /// The level of each row's certificate (Bonferroni: α / rows).
    alpha_row: f64,
    width: usize,
    batch: Vec<f32>,
    scores: Vec<f32>,
    scratch: Vec<f32>,
}

/// What CERTIFY or PREDICT concluded for one row.
struct Outcome {
    /// The class CERTIFY selected on the n0 samples, or PREDICT's top class.
    top: usize,
    prediction: Option<usize>,
    counts: Vec<u64>,
    p_lower: Option<f64>,
    p_value: Option<f64>,
    radius: Option<f64>,
}

/// The standard normals of each phase that the mode uses.
struct Tables {
    selection: Option<NormalTable>,
    estimation: Option<NormalTable>,
    prediction: Option<NormalTable>,
}

impl Tables {
    fn new(config: &SmoothingConfig, mode: SmoothingMode, m: usize) -> Tables {
        let make = |phase, n| Some(NormalTable::new(config.seed, phase, m, n));
        match mode {
            SmoothingMode::Certify => Tables {
                selection: make(Phase::Selection, config.n0),
                estimation: make(Phase::Estimation, config.n),
                prediction: None,
            },
            SmoothingMode::Predict => Tables {
                selection: None,
                estimation: None,
                prediction: make(Phase::Prediction, config.n),
            },
        }
    }
}

impl Worker<'_> {
    /// Class counts of `n` noisy copies of `x` classified by ONNX Runtime.
    fn counts(&mut self, x: &[f32], table: &NormalTable, n: u64) -> Result<Vec<u64>> {
        let classes = self.session.num_classes();
        let mut counts = vec![0u64; classes];
        let cap = (self.config.batch as u64).min(n) as usize;
        self.batch.clear();
        for _ in 0..cap {
            self.batch.extend_from_slice(x);
        }
        let mut done = 0u64;
        while done < n {
            let b = ((n - done) as usize).min(cap);
            let slice = &mut self.batch[..b * self.width];
            let range = table.slice(done, b, &mut self.scratch);
            self.noise
                .perturb(x, slice, &table.values(&self.scratch)[range]);
            let c = self.session.run_into(slice, b, &mut self.scores)?;
            for s in self.scores.chunks_exact(c) {
                counts[argmax(s)] += 1;
            }
            done += b as u64;
        }
        Ok(counts)
    }

    /// Cohen et al.'s CERTIFY: pick the top class on n0 samples, bound its probability on n
    /// fresh samples, radius σ·Φ⁻¹(p_lower) or abstain.
    fn certify(&mut self, x: &[f32]) -> Result<Outcome> {
        let tables = self.tables;
        let selection = self.counts(
            x,
            tables.selection.as_ref().expect("certify tables"),
            self.config.n0,
        )?;
        let top = argmax_counts(&selection);
        let counts = self.counts(
            x,
            tables.estimation.as_ref().expect("certify tables"),
            self.config.n,
        )?;
        let p_lower = clopper_pearson_lower(counts[top], self.config.n, self.alpha_row);
        let radius = certified_radius(self.config.sigma, p_lower);
        Ok(Outcome {
            top,
            prediction: radius.map(|_| top),
            counts,
            p_lower: Some(p_lower),
            p_value: None,
            radius,
        })
    }

    /// Cohen et al.'s PREDICT: the top class if the binomial test of top vs runner-up rejects
    /// at level α, else abstain.
    fn predict(&mut self, x: &[f32]) -> Result<Outcome> {
        let tables = self.tables;
        let counts = self.counts(
            x,
            tables.prediction.as_ref().expect("predict tables"),
            self.config.n,
        )?;
        let top = argmax_counts(&counts);
        let runner_up = (0..counts.len())
            .filter(|&c| c != top)
            .map(|c| counts[c])
            .max()
            .unwrap_or(0);
        let p_value = binomial_test_half(counts[top], counts[top] + runner_up);
        Ok(Outcome {
            top,
            prediction: (p_value <= self.alpha_row).then_some(top),
            counts,
            p_lower: None,
            p_value: Some(p_value),
            radius: None,
        })
    }
}

/// Index of the largest count; the lowest index wins ties.
fn argmax_counts(counts: &[u64]) -> usize {
    let mut best = 0;
    for (i, &c) in counts.iter().enumerate() {
        if c > counts[best] {
            best = i;
        }
    }
    best
}

/// Predictions of the deployed model on clean rows, batched through one session.
pub fn base_predictions(model: &OnnxModel, data: &Dataset, batch: usize) -> Result<Vec<usize>> {
    let mut session = model.session()?;
    let mut out = Vec::with_capacity(data.rows());
    let w = data.width();
    for chunk in data.x.chunks(batch.max(1) * w) {
        out.extend(session.predict(chunk, chunk.len() / w)?);
    }
    Ok(out)
}

/// Runs CERTIFY or PREDICT on every selected row.
pub fn run_smoothing(run: &SmoothingRun) -> Result<SmoothingOutput> {
    run.config.validate()?;
    run.model.check_width(&run.data.features)?;
    let start = Instant::now();
    let base = base_predictions(run.model, run.data, run.config.batch)?;
    let indices: Vec<usize> = run
        .rows
        .clone()
        .unwrap_or_else(|| (0..run.data.rows()).collect());
    let alpha_row = run.config.alpha_per_row(indices.len());
    let warnings = reach_warnings(run, &indices, alpha_row);
    let noise = AnisotropicNoise::new(run.threat, run.config.sigma);
    let tables = Tables::new(run.config, run.mode, noise.dims());
    let progress = if run.progress {
        let bar = indicatif::ProgressBar::new(indices.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} smoothing [{bar:40}] {pos}/{len} rows  {per_sec}  eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<RowCertificate>> = Mutex::new(Vec::with_capacity(indices.len()));
    let workers = run.workers.clamp(1, indices.len().max(1));
    let outcomes: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    let mut worker = Worker {
                        session: run.model.session()?,
                        noise: &noise,
                        tables: &tables,
                        config: run.config,
                        alpha_row,
                        width: run.data.width(),
                        batch: Vec::new(),
                        scores: Vec::new(),
                        scratch: Vec::new(),
                    };
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= indices.len() || failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let row = indices[k];
                        let record = certify_one(run, &mut worker, row, base[row]);
                        match record {
                            Ok(r) => results.lock().expect("no poisoned lock").push(r),
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                        progress.inc(1);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("smoothing worker panicked"))
            .collect()
    });
    progress.finish_and_clear();
    outcomes.into_iter().collect::<Result<Vec<()>>>()?;
    let mut rows = results.into_inner().expect("no poisoned lock");
    rows.sort_by_key(|r| r.index);
    let per_row = match run.mode {
        SmoothingMode::Certify => run.config.n0 + run.config.n,
        SmoothingMode::Predict => run.config.n,
    };
    Ok(SmoothingOutput {
        alpha_per_row: alpha_row,
        warnings,
        model_evaluations: per_row * rows.len() as u64,
        rows,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The largest radius CERTIFY can reach with `n` samples at level `alpha_row` (every sample in the
/// top class): `σ·Φ⁻¹(alpha_row^(1/n))`.
pub fn largest_reachable_radius(config: &SmoothingConfig, alpha_row: f64) -> f64 {
    let p = (alpha_row.ln() / config.n as f64).exp();
    certified_radius(config.sigma, p).unwrap_or(0.0)
}

/// Warns when no (or only some) target row can be certified over its box with this `n`.
fn reach_warnings(run: &SmoothingRun, indices: &[usize], alpha_row: f64) -> Vec<String> {
    if run.mode != SmoothingMode::Certify || indices.is_empty() {
        return Vec::new();
    }
    let radii: Vec<f64> = indices
        .iter()
        .filter(|&&r| run.threat.target.covers(run.data.labels[r]))
        .map(|&r| region_radius(run.threat, run.data.row(r)))
        .collect();
    sample_size_warnings(
        run.config,
        indices.len(),
        alpha_row,
        &radii,
        run.threat.constraints.has_switchable(),
    )
}

/// The warnings of a CERTIFY run over `rows` rows, from the target rows' box radii: rows whose
/// box no sample of this size can cover (with the `n` that would be needed), and switchable
/// categories that the noise does not cover. A pure function, so `verify` recomputes it.
pub fn sample_size_warnings(
    config: &SmoothingConfig,
    rows: usize,
    alpha_row: f64,
    target_box_radii: &[f64],
    switchable: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let reach = largest_reachable_radius(config, alpha_row);
    let smallest = target_box_radii
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let unreachable = target_box_radii.iter().filter(|&&b| b >= reach).count();
    if unreachable > 0 {
        // n such that σ·Φ⁻¹(α^(1/n)) exceeds the smallest box radius: α^(1/n) > Φ(B/σ).
        let phi = statrs::distribution::ContinuousCDF::cdf(
            &statrs::distribution::Normal::standard(),
            smallest.max(0.0) / config.sigma,
        );
        let needed = if phi < 1.0 {
            format!("n ≥ {:.0}", (alpha_row.ln() / phi.ln()).ceil() + 1.0)
        } else {
            "a larger sigma".into()
        };
        out.push(format!(
            "with n = {} and alpha = {} ({alpha_row:e} per row over {rows} rows), the largest \
             radius CERTIFY can reach is {reach:.4} (budget-scaled), not beyond the threat box \
             radius of {unreachable} of {} target rows (smallest box radius {smallest:.4}): \
             those rows cannot be certified at the budget; {needed} would be needed for the \
             smallest box",
            config.n,
            config.alpha,
            target_box_radii.len()
        ));
    }
    if switchable {
        out.push(
            "the threat lets the attacker switch categories (threat.switchable); smoothing adds no \
             noise to one-hot groups, so its certificate does not cover the switch and no row is \
             certified at the budget by smoothing"
                .into(),
        );
    }
    out
}

fn certify_one(
    run: &SmoothingRun,
    worker: &mut Worker,
    row: usize,
    base_prediction: usize,
) -> Result<RowCertificate> {
    let x = run.data.row(row);
    let label = run.data.labels[row];
    let region = region_radius(run.threat, x);
    let mut record = RowCertificate {
        index: row,
        id: run.data.id(row),
        label,
        base_prediction,
        top: 0,
        prediction: None,
        counts: Vec::new(),
        n: run.config.n,
        p_lower: None,
        p_value: None,
        radius: None,
        region_radius: region,
        in_target: run.threat.target.covers(label),
        certified_at_budget: false,
        amount: run.data.amounts.as_ref().map(|a| a[row]),
    };
    let outcome = match run.mode {
        SmoothingMode::Certify => worker.certify(x)?,
        SmoothingMode::Predict => worker.predict(x)?,
    };
    // The noise does not switch categories: with switchable one-hot groups in the threat, the
    // radius does not cover the whole threat region and no row is certified at the budget.
    record.certified_at_budget = !run.threat.constraints.has_switchable()
        && outcome.prediction == Some(label)
        && outcome.radius.is_some_and(|r| r > region);
    record.top = outcome.top;
    record.prediction = outcome.prediction;
    record.counts = outcome.counts;
    record.p_lower = outcome.p_lower;
    record.p_value = outcome.p_value;
    record.radius = outcome.radius;
    Ok(record)
}
