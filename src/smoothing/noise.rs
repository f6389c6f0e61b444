//! Anisotropic Gaussian noise on the mutable features, with per-row seeded streams.

use crate::threat::ThreatModel;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Which sample phase a stream serves; each (row, phase) pair has its own stream.
#[derive(Clone, Copy, Debug)]
pub enum Phase {
    Selection = 0,
    Estimation = 1,
    Prediction = 2,
}

/// The random stream of one row and phase: independent of thread count and batch size.
pub fn row_stream(seed: u64, row: usize, phase: Phase) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(row as u64 * 4 + phase as u64);
    rng
}

/// Noise `N(0, (σ·b_f)²)` on each mutable feature `f`, then clipping to the valid range.
#[derive(Clone, Debug)]
pub struct AnisotropicNoise {
    width: usize,
    features: Vec<usize>,
    std: Vec<f32>,
    lower: Vec<f32>,
    upper: Vec<f32>,
}

impl AnisotropicNoise {
    pub fn new(threat: &ThreatModel, sigma: f64) -> Self {
        let features = threat.mutable_indices();
        AnisotropicNoise {
            width: threat.features.len(),
            std: features
                .iter()
                .map(|&f| (sigma * threat.budgets[f]) as f32)
                .collect(),
            lower: features.iter().map(|&f| threat.lower[f] as f32).collect(),
            upper: features.iter().map(|&f| threat.upper[f] as f32).collect(),
            features,
        }
    }

    /// Fills `batch` (`rows × width`, already holding copies of `x` in every row) with noisy
    /// copies of `x`: only mutable columns are rewritten, so the fixed columns stay as copied.
    pub fn perturb(&self, x: &[f32], batch: &mut [f32], rng: &mut impl Rng) {
        for row in batch.chunks_exact_mut(self.width) {
            for (j, &f) in self.features.iter().enumerate() {
                let z: f32 = rng.sample(StandardNormal);
                row[f] = (x[f] + self.std[j] * z).clamp(self.lower[j], self.upper[j]);
            }
        }
    }
}
