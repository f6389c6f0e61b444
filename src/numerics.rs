//! Named numeric tolerances and rounding toward safety. Every float constant that decides
//! whether a certificate is sound lives here, with the reason for its value.

/// Relative margin taken off the significance level before inverting the binomial tail for a
/// Clopper–Pearson bound. The tail (Loader's binomial probabilities, summed) carries a relative
/// error of ~1e-14; aiming at `alpha·(1 − margin)` keeps the bound below the exact quantile
/// while moving it by ~1e-13 at most (tests: within 1.6e-13 of scipy, never above).
pub const CDF_TARGET_REL_MARGIN: f64 = 1e-12;

/// Units in the last place subtracted after a bisection, to absorb the last rounding step.
pub const BISECTION_ULPS_DOWN: u32 = 4;

/// Relative amount taken off a certified radius to absorb the error of the normal quantile
/// (statrs: ~1e-15 relative) and of the multiplication by sigma.
pub const RADIUS_REL_MARGIN: f64 = 1e-12;

/// Unit roundoff of IEEE float32 (ONNX Runtime computes the models in float32).
pub const F32_UNIT_ROUNDOFF: f64 = 1.0 / 16_777_216.0; // 2^-24

/// Smallest positive normal float32: absolute error allowance per operation for underflow.
pub const F32_MIN_NORMAL: f64 = 1.175_494_350_822_287_5e-38;

/// Extra factor on the textbook float32 error bound of a dot product, for the summation orders,
/// fused multiply-adds and graph fusions ONNX Runtime may choose (the bound γ_n holds for any
/// order; the factor covers fusions that add an operation or two per output).
pub const F32_ERROR_SAFETY_FACTOR: f64 = 2.0;

/// Absolute error allowed for ONNX Runtime's float32 Sigmoid and Tanh kernels (vectorised
/// approximations, not correctly rounded), on top of the exact function.
pub const F32_TRANSCENDENTAL_ABS_ERROR: f64 = 2e-6;

/// Relative allowance for robcert's own float64 rounding in bound computations: applied to the
/// sum of absolute values of all terms that make up a bound (a deliberate overestimate of the
/// ~1e-15 relative error of a few hundred float64 operations).
pub const F64_BOUND_REL_MARGIN: f64 = 1e-11;

/// Largest finite float32. ONNX Runtime's float32 arithmetic overflows to ±inf (and then to
/// NaN) beyond it, so a bound whose intermediate magnitudes may reach it is no bound at all.
pub const F32_MAX: f64 = f32::MAX as f64;

/// Smallest margin, in logits, between the certified class and every other class that
/// guarantees the same strict order after ONNX Runtime's float32 Softmax. Softmax computes
/// `e_i = exp(z_i − max)` with an approximate exponential (MLAS; relative error a few ulps)
/// and `p_i = e_i · (1 / Σ e)`, which is monotone in `e_i` but can round two close `e_i` to the
/// same `p_i` (a tie, which argmax breaks toward the lower index) or, through the exponential's
/// error, reverse them. The certified class has `e = exp(0)`, every other class
/// `e ≤ exp(−d)`; `p_label > p_k` is guaranteed when `exp(d·(1 − u)) > (1 + ε)(1 + 3u)/(1 − ε)`
/// with `ε` the exponential's relative error. With `ε ≤ 2e-6` (measured ≤ 3e-7 on ONNX Runtime
/// 1.32, `tests/soundness_adversarial.rs`), `d ≥ 1e-5` is enough with room to spare.
pub const SOFTMAX_ORDER_MARGIN: f64 = 1e-5;

/// Units of float32 rounding allowed on a constant that ONNX Runtime folds itself at run time
/// (BatchNormalization's `scale / sqrt(var + ε)` takes four float32 operations): 2 × 4.
pub const F32_FOLDED_SCALE_ULPS: f64 = 8.0;

/// Units of float32 rounding allowed on BatchNormalization's folded shift
/// `B − mean · scale'` relative to `|B| + |mean · scale'|` (six operations on the way, ×2).
pub const F32_FOLDED_SHIFT_ULPS: f64 = 12.0;

/// Whether a magnitude bound on float32 intermediates stays finite in float32.
pub fn f32_finite(magnitude: f64) -> bool {
    magnitude < F32_MAX
}

/// Textbook bound γ_n = n·u / (1 − n·u) on the relative error of an n-term float32 dot product.
pub fn f32_gamma(n: usize) -> f64 {
    let nu = n as f64 * F32_UNIT_ROUNDOFF;
    F32_ERROR_SAFETY_FACTOR * nu / (1.0 - nu)
}

/// The next representable `f64` below `x`, `n` times (toward −∞); `x` if not finite.
pub fn ulps_down(mut x: f64, n: u32) -> f64 {
    for _ in 0..n {
        if !x.is_finite() {
            return x;
        }
        x = x.next_down();
    }
    x
}

/// `x` shrunk toward zero by a relative margin (a lower bound on a positive quantity stays one).
pub fn shrink(x: f64, rel: f64) -> f64 {
    x - x.abs() * rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulps_down_is_strictly_below_and_close() {
        for x in [1.0, 0.5, 1e-300, 0.0, -3.0] {
            let y = ulps_down(x, 4);
            assert!(y < x, "{y} < {x}");
            assert!((x - y).abs() <= 8.0 * f64::EPSILON * x.abs().max(f64::MIN_POSITIVE));
        }
    }
}
