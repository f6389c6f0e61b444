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
