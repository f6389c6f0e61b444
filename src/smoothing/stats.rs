//! The statistics behind randomized smoothing: a one-sided Clopper–Pearson lower confidence
//! bound that is never above the exact one, the two-sided binomial test used by PREDICT, and
//! the certified radius.

use crate::numerics::{
    BISECTION_ULPS_DOWN, CDF_TARGET_REL_MARGIN, RADIUS_REL_MARGIN, shrink, ulps_down,
};
use statrs::distribution::{ContinuousCDF, Normal};

/// Stirling's error term `ln(n!) − (n + ½)·ln n + n − ½·ln(2π)`, accurate to ~1e-16 absolute
/// (Loader 2000, "Fast and accurate computation of binomial probabilities"): exact sums of logs
/// for small n, the asymptotic series beyond.
fn stirling_error(n: u64) -> f64 {
    const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
    if n <= 15 {
        if n == 0 {
            return 0.0; // only reached through dbinom's guarded branches
        }
        let x = n as f64;
        let ln_factorial: f64 = (2..=n).map(|i| (i as f64).ln()).sum();
        return ln_factorial - (x + 0.5) * x.ln() + x - HALF_LN_2PI;
    }
    let x = n as f64;
    let xx = x * x;
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n > 500 {
        (S0 - S1 / xx) / x
    } else if n > 80 {
        (S0 - (S1 - S2 / xx) / xx) / x
    } else if n > 35 {
        (S0 - (S1 - (S2 - S3 / xx) / xx) / xx) / x
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / xx) / xx) / xx) / xx) / x
    }
}

/// Deviance term `x·ln(x/m) + m − x`, computed without cancellation when x ≈ m (Loader 2000).
fn deviance_term(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let v = (x - m) / (x + m);
        let mut sum = (x - m) * v;
        let mut ej = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            ej *= v2;
            let next = sum + ej / (2 * j + 1) as f64;
            if next == sum {
                return next;
            }
            sum = next;
        }
        sum
    } else {
        x * (x / m).ln() + m - x
    }
}

/// Binomial probability P(X = k), X ~ Bin(n, p), to near full relative precision (Loader 2000).
fn binomial_pmf(k: u64, n: u64, p: f64) -> f64 {
    let q = 1.0 - p;
    if p == 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if q == 0.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    if k == 0 {
        return (n as f64 * (-p).ln_1p()).exp();
    }
    if k == n {
        return (n as f64 * p.ln()).exp();
    }
    let (kf, nf) = (k as f64, n as f64);
    let lc = stirling_error(n)
        - stirling_error(k)
        - stirling_error(n - k)
        - deviance_term(kf, nf * p)
        - deviance_term(nf - kf, nf * q);
    let lf = std::f64::consts::TAU.ln() + kf.ln() + (-kf / nf).ln_1p();
    (lc - 0.5 * lf).exp()
}

/// Upper binomial tail P(X ≥ k), X ~ Bin(n, p), by summing probabilities away from the mode
/// (the side that converges fast); relative error ~1e-14 in the regime used here.
pub fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let q = 1.0 - p;
    let mean = n as f64 * p;
    if k as f64 >= mean {
        // Sum P(X = j) for j = k, k+1, ... : terms fall once past the mode.
        let mut term = binomial_pmf(k, n, p);
        let mut sum = term;
        let ratio = p / q;
        let mut j = k;
        while j < n && term > sum * 1e-18 {
            term *= (n - j) as f64 / (j + 1) as f64 * ratio;
            sum += term;
            j += 1;
        }
        sum.min(1.0)
    } else {
        // 1 − P(X ≤ k − 1), summing downward from k − 1.
        let mut term = binomial_pmf(k - 1, n, p);
        let mut sum = term;
        let ratio = q / p;
        let mut j = k - 1;
        while j > 0 && term > sum * 1e-18 {
            term *= j as f64 / (n - j + 1) as f64 * ratio;
            sum += term;
            j -= 1;
        }
        (1.0 - sum).max(0.0)
    }
}

/// One-sided lower confidence bound on a binomial proportion: with probability at least
/// `1 − alpha`, the true success probability is ≥ the returned value (Clopper & Pearson 1934).
///
/// The exact bound is the p at which P(X ≥ k | n, p) = alpha (the `alpha` quantile of
/// Beta(k, n − k + 1)). `statrs`' Beta quantile errs on the unsafe side and its CDF loses
/// digits through `ln Γ` differences, so the tail is computed with Loader's accurate binomial
/// probabilities and inverted by bisection, aimed at `alpha·(1 − CDF_TARGET_REL_MARGIN)` and
/// stepped down by a few ulps: the result stays below the exact bound and within 1e-12 of it
/// (checked against scipy in the tests).
pub fn clopper_pearson_lower(k: u64, n: u64, alpha: f64) -> f64 {
    assert!(k <= n, "successes {k} exceed trials {n}");
    assert!(alpha > 0.0 && alpha < 1.0, "alpha {alpha} outside (0, 1)");
    if k == 0 {
        return 0.0;
    }
    let target = alpha * (1.0 - CDF_TARGET_REL_MARGIN);
    if k == n {
        // P(X ≥ n) = p^n: the bound is target^(1/n), up to rounding.
        let p = (target.ln() / n as f64).exp();
        return ulps_down(p, BISECTION_ULPS_DOWN).max(0.0);
    }
    // Invariant: tail(lo) ≤ target < tail(hi); the tail grows with p.
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..2000 {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if binomial_upper_tail(k, n, mid) <= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ulps_down(lo, BISECTION_ULPS_DOWN).max(0.0)
}

/// Two-sided Clopper–Pearson confidence interval for a proportion `k / n` at `confidence`
/// (e.g. 0.95): each end is a one-sided bound at `(1 − confidence) / 2`, computed so the
/// interval contains the exact Clopper–Pearson interval. `(0, 1)` for `n = 0`.
pub fn clopper_pearson_interval(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    assert!(
        confidence > 0.0 && confidence < 1.0,
        "confidence {confidence} outside (0, 1)"
    );
    if n == 0 {
        return (0.0, 1.0);
    }
    let a = (1.0 - confidence) / 2.0;
    let lower = clopper_pearson_lower(k, n, a);
    // The upper bound on p is one minus the lower bound on the failure probability; rounding up.
    let upper = (1.0 - clopper_pearson_lower(n - k, n, a))
        .next_up()
        .min(1.0);
    (lower, upper)
}

/// Two-sided binomial test p-value for `k` successes in `n` trials against p = 1/2, as in
/// Cohen et al.'s PREDICT (scipy's `binom_test(k, n, 0.5)`).
pub fn binomial_test_half(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let hi = k.max(n - k);
    if 2 * hi == n {
        return 1.0;
    }
    (2.0 * binomial_upper_tail(hi, n, 0.5)).min(1.0)
}

/// Standard normal quantile Φ⁻¹(p).
pub fn normal_quantile(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

/// Certified L2 radius `sigma · Φ⁻¹(p_lower)` (Cohen et al. 2019, Theorem 1 with p_B = 1 − p_A),
/// rounded toward zero; `None` (abstain) when `p_lower ≤ 1/2`.
pub fn certified_radius(sigma: f64, p_lower: f64) -> Option<f64> {
    if p_lower <= 0.5 {
        return None;
    }
    Some(shrink(sigma * normal_quantile(p_lower), RADIUS_REL_MARGIN).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_is_monotone_in_k_and_zero_at_k_zero() {
        assert_eq!(clopper_pearson_lower(0, 100, 0.01), 0.0);
        let mut prev = 0.0;
        for k in 1..=100 {
            let p = clopper_pearson_lower(k, 100, 0.01);
            assert!(p > prev && p < 1.0, "k={k}: {p} after {prev}");
            prev = p;
        }
    }

    #[test]
    fn binomial_tail_matches_brute_force_sums() {
        fn brute(k: u64, n: u64, p: f64) -> f64 {
            let mut c = 1.0f64; // C(n, 0)
            let mut total = 0.0;
            for j in 0..=n {
                if j > 0 {
                    c = c * (n - j + 1) as f64 / j as f64;
                }
                if j >= k {
                    total += c * p.powi(j as i32) * (1.0 - p).powi((n - j) as i32);
                }
            }
            total
        }
        for n in [1u64, 2, 7, 30, 60] {
            for k in 0..=n {
                for p in [0.01, 0.2, 0.5, 0.77, 0.99] {
                    let (a, b) = (binomial_upper_tail(k, n, p), brute(k, n, p));
                    assert!(
                        (a - b).abs() <= 1e-13 * b.max(1e-300) + 1e-16,
                        "k={k} n={n} p={p}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn binomial_test_matches_exact_small_case() {
        // n = 10, k = 9: P(X ≥ 9) = 11/1024; two-sided doubles it.
        let p = binomial_test_half(9, 10);
        assert!((p - 22.0 / 1024.0).abs() < 1e-14, "{p}");
        assert_eq!(binomial_test_half(5, 10), 1.0);
    }

    #[test]
    fn radius_abstains_at_or_below_one_half_and_grows_with_p() {
        assert_eq!(certified_radius(1.0, 0.5), None);
        let a = certified_radius(0.5, 0.9).unwrap();
        let b = certified_radius(0.5, 0.99).unwrap();
        assert!(a > 0.0 && b > a);
        assert!((a - 0.5 * 1.2815515655446004).abs() < 1e-11);
    }
}
