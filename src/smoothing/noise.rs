//! Anisotropic Gaussian noise on the mutable features.
//!
//! ## Common random numbers
//! Sample `j` of phase `p` uses the same standard-normal vector `z_j` for every row (scaled by
//! σ·b_f and added to that row's features). Each row's samples are still i.i.d. Gaussian, so each
//! row's certificate holds with probability ≥ 1 − α exactly as in Cohen et al.; only the joint
//! behaviour across rows changes (failures are correlated, their expected number is unchanged).
//! The standard normals are then drawn once per run instead of once per row, which removes the
//! noise generation from the per-sample cost, and comparisons of models on one seed use the
//! same noise (lower-variance comparisons).
//!
//! The normals come in chunks of [`NOISE_CHUNK`] samples, chunk `k` of phase `p` drawn from its
//! own ChaCha stream, so the values depend only on `(seed, phase, sample index)`: not on threads,
//! batch size, or which rows are certified.

use crate::threat::ThreatModel;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// Samples per independently seeded chunk of standard normals.
pub const NOISE_CHUNK: u64 = 4096;

/// Largest table of standard normals kept in memory (in `f32` values); beyond it chunks are
/// regenerated on demand (same values, more CPU).
pub const NOISE_TABLE_MAX_VALUES: u64 = 64 << 20;

/// Which sample phase a stream serves; phases never share normals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Selection = 0,
    Estimation = 1,
    Prediction = 2,
}

fn chunk_stream(seed: u64, phase: Phase, chunk: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(chunk * 4 + phase as u64);
    rng
}

/// Standard normals for samples `0..n` of one phase, `m` per sample (sample-major).
pub struct NormalTable {
    seed: u64,
    phase: Phase,
    m: usize,
    n: u64,
    cached: Option<Vec<f32>>,
}

impl NormalTable {
    pub fn new(seed: u64, phase: Phase, m: usize, n: u64) -> Self {
        let mut t = NormalTable {
            seed,
            phase,
            m,
            n,
            cached: None,
        };
        if n * m as u64 <= NOISE_TABLE_MAX_VALUES {
            let chunks = n.div_ceil(NOISE_CHUNK);
            let parts: Vec<Vec<f32>> = (0..chunks)
                .into_par_iter()
                .map(|k| t.generate_chunk(k))
                .collect();
            t.cached = Some(parts.concat());
        }
        t
    }

    fn generate_chunk(&self, k: u64) -> Vec<f32> {
        let samples = (self.n - k * NOISE_CHUNK).min(NOISE_CHUNK) as usize;
        let mut rng = chunk_stream(self.seed, self.phase, k);
        (0..samples * self.m)
            .map(|_| rng.sample::<f64, _>(StandardNormal) as f32)
            .collect()
    }

    /// The normals of samples `start..start + count`, `m` per sample.
    pub fn slice(
        &self,
        start: u64,
        count: usize,
        scratch: &mut Vec<f32>,
    ) -> std::ops::Range<usize> {
        let m = self.m;
        if self.cached.is_some() {
            let a = start as usize * m;
            return a..a + count * m;
        }
        scratch.clear();
        let mut s = start;
        while s < start + count as u64 {
            let k = s / NOISE_CHUNK;
            let chunk = self.generate_chunk(k);
            let from = (s - k * NOISE_CHUNK) as usize;
            let to = ((start + count as u64).min((k + 1) * NOISE_CHUNK) - k * NOISE_CHUNK) as usize;
            scratch.extend_from_slice(&chunk[from * m..to * m]);
            s = k * NOISE_CHUNK + to as u64;
        }
        0..count * m
    }

    /// Values for `slice`'s range (the cache, or the scratch buffer it filled).
    pub fn values<'a>(&'a self, scratch: &'a [f32]) -> &'a [f32] {
        self.cached.as_deref().unwrap_or(scratch)
    }
}

/// Scales standard normals by σ·b_f onto the mutable features, clips to the valid range and, when
/// the threat declares constraints, restores them (integer features rounded, relations restored by
/// moving mutable features, see `threat::constraints`): a deterministic part of the base
/// classifier, so each noisy point fed to ONNX Runtime is a valid row.
#[derive(Clone, Debug)]
pub struct AnisotropicNoise {
    width: usize,
    features: Vec<usize>,
    std: Vec<f32>,
    lower: Vec<f32>,
    upper: Vec<f32>,
    /// Constraints to restore after the noise, if any.
    constraints: Option<ConstraintRepair>,
}

/// What the noise must restore in each noisy point.
#[derive(Clone, Debug)]
struct ConstraintRepair {
    constraints: crate::threat::Constraints,
    movable: Vec<bool>,
    lower: Vec<f64>,
    upper: Vec<f64>,
}

impl AnisotropicNoise {
    pub fn new(threat: &ThreatModel, sigma: f64) -> Self {
        let features = threat.mutable_indices();
        let c = &threat.constraints;
        let repair = (c.integer.iter().any(|&b| b) || !c.relations.is_empty()).then(|| {
            let mut movable = vec![false; threat.features.len()];
            for &f in &features {
                movable[f] = true;
            }
            ConstraintRepair {
                constraints: crate::threat::Constraints {
                    integer: c.integer.clone(),
                    one_hot: Vec::new(),
                    relations: c.relations.clone(),
                },
                movable,
                lower: threat.lower.clone(),
                upper: threat.upper.clone(),
            }
        });
        AnisotropicNoise {
            width: threat.features.len(),
            std: features
                .iter()
                .map(|&f| (sigma * threat.budgets[f]) as f32)
                .collect(),
            lower: features.iter().map(|&f| threat.lower[f] as f32).collect(),
            upper: features.iter().map(|&f| threat.upper[f] as f32).collect(),
            features,
            constraints: repair,
        }
    }

    /// Number of mutable features (normals per sample).
    pub fn dims(&self) -> usize {
        self.features.len()
    }

    /// Writes noisy copies of `x` into `batch` (`rows × width`, already holding copies of `x`):
    /// only mutable columns are rewritten, from the standard normals `z` (`m` per row).
    pub fn perturb(&self, x: &[f32], batch: &mut [f32], z: &[f32]) {
        let m = self.features.len();
        let mut scratch = Vec::new();
        for (row, zr) in batch.chunks_exact_mut(self.width).zip(z.chunks_exact(m)) {
            for (j, &f) in self.features.iter().enumerate() {
                row[f] = (x[f] + self.std[j] * zr[j]).clamp(self.lower[j], self.upper[j]);
            }
            if let Some(r) = &self.constraints {
                scratch.clear();
                scratch.extend(row.iter().map(|&v| f64::from(v)));
                r.constraints
                    .project(&mut scratch, &r.movable, &r.lower, &r.upper);
                for &f in &self.features {
                    row[f] = scratch[f] as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_and_regenerated_normals_agree_for_any_window() {
        let cached = NormalTable::new(5, Phase::Estimation, 3, 10_000);
        assert!(cached.cached.is_some());
        let mut lazy = NormalTable::new(5, Phase::Estimation, 3, 10_000);
        lazy.cached = None;
        let mut scratch = Vec::new();
        for (start, count) in [(0u64, 10usize), (4090, 20), (8190, 1810), (0, 10_000)] {
            let r = cached.slice(start, count, &mut Vec::new());
            let expect = cached.values(&[])[r].to_vec();
            let r2 = lazy.slice(start, count, &mut scratch);
            assert_eq!(
                lazy.values(&scratch)[r2].to_vec(),
                expect,
                "window {start}+{count}"
            );
        }
    }

    #[test]
    fn phases_and_seeds_give_different_normals() {
        let a = NormalTable::new(5, Phase::Selection, 2, 100);
        let b = NormalTable::new(5, Phase::Estimation, 2, 100);
        let c = NormalTable::new(6, Phase::Selection, 2, 100);
        assert_ne!(a.cached, b.cached);
        assert_ne!(a.cached, c.cached);
    }

    #[test]
    fn normals_have_standard_moments() {
        let t = NormalTable::new(11, Phase::Estimation, 1, 200_000);
        let v = t.cached.as_ref().unwrap();
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let beyond2 = v.iter().filter(|&&x| x.abs() > 2.0).count() as f64 / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
        assert!((beyond2 - 0.0455).abs() < 0.003, "P(|z| > 2) = {beyond2}");
    }
}
