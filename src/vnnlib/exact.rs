//! Exact binary64 arithmetic for constraints: robcert never rounds a VNN-LIB constraint.
//!
//! Normalising `(<= (+ X_0 c1) c2)` to `X_0 <= c2 − c1` needs arithmetic on the file's
//! constants; the helpers here return `None` when the exact result is not a binary64 number,
//! and the parser then refuses the constraint instead of checking a slightly different one.
//! Evaluating `Σ c_j·y_j ≤ d` at a point is done exactly as well (error-free transformations:
//! Knuth's TwoSum, the FMA product error, and Shewchuk's 1997 expansion growth), so rounding
//! can never turn a near miss into a counterexample.

use std::cmp::Ordering;

/// Smallest magnitude `2^-969` of a nonzero product `a·b` whose rounding error is itself a
/// binary64 number; below it the error can fall under the subnormal range and be rounded.
const EXACT_PRODUCT_MIN: f64 = f64::MIN_POSITIVE * (1u64 << 53) as f64;

/// `a + b = s + e` exactly, with `s = fl(a + b)` (Knuth's TwoSum; exact unless `s` overflows).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let b_virtual = s - a;
    let e = (a - (s - b_virtual)) + (b - b_virtual);
    (s, e)
}

/// `a·b = p + e` exactly with `p = fl(a·b)`, or `None` when that split is not exact (overflow,
/// or a product too small for its error to be representable).
fn two_product(a: f64, b: f64) -> Option<(f64, f64)> {
    let p = a * b;
    if !p.is_finite() {
        return None;
    }
    if p == 0.0 {
        return (a == 0.0 || b == 0.0).then_some((p, 0.0));
    }
    if p.abs() < EXACT_PRODUCT_MIN {
        return None;
    }
    Some((p, a.mul_add(b, -p)))
}

/// `a + b` if it is exactly a finite binary64 number.
pub(crate) fn exact_add(a: f64, b: f64) -> Option<f64> {
    let (s, e) = two_sum(a, b);
    (s.is_finite() && e == 0.0).then_some(s)
}

/// `a · b` if it is exactly a finite binary64 number.
pub(crate) fn exact_mul(a: f64, b: f64) -> Option<f64> {
    two_product(a, b).and_then(|(p, e)| (e == 0.0).then_some(p))
}

/// `n / d` if it is exactly a finite binary64 number (`d ≠ 0`).
pub(crate) fn exact_div(n: f64, d: f64) -> Option<f64> {
    if d == 0.0 {
        return None;
    }
    let q = n / d;
    (q.is_finite() && exact_mul(q, d) == Some(n)).then_some(q)
}

/// The exact sign of `Σ a_k·b_k − d`, or `None` if some value is not finite, a sum overflows,
/// or a nonzero product is below `2^-969` in magnitude (where its error is not representable).
pub(crate) fn sign_of_dot_minus(
    products: impl IntoIterator<Item = (f64, f64)>,
    d: f64,
) -> Option<Ordering> {
    let mut sum = Expansion::default();
    for (a, b) in products {
        let (p, e) = two_product(a, b)?;
        sum.add(p);
        sum.add(e);
    }
    if !d.is_finite() {
        return None;
    }
    sum.add(-d);
    sum.sign()
}

/// A sum of binary64 components, nonoverlapping and in increasing magnitude, represented
/// without error (Shewchuk, "Adaptive precision floating-point arithmetic", 1997).
#[derive(Default)]
struct Expansion {
    components: Vec<f64>,
}

impl Expansion {
    /// Grow-Expansion with zero elimination.
    fn add(&mut self, value: f64) {
        let mut carry = value;
        let mut kept = 0;
        for i in 0..self.components.len() {
            let (s, e) = two_sum(carry, self.components[i]);
            carry = s;
            if e != 0.0 {
                self.components[kept] = e;
                kept += 1;
            }
        }
        self.components.truncate(kept);
        if carry != 0.0 {
            self.components.push(carry);
        }
    }

    /// The sign of the sum: that of its largest component (`None` after an overflow).
    fn sign(&self) -> Option<Ordering> {
        if self.components.iter().any(|c| !c.is_finite()) {
            return None;
        }
        Some(match self.components.last() {
            None => Ordering::Equal,
            Some(&c) => c.partial_cmp(&0.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn exact_operations_refuse_rounding() {
        assert_eq!(exact_add(0.5, 0.25), Some(0.75));
        assert_eq!(exact_add(0.1, 0.2), None);
        assert_eq!(exact_add(1e308, 1e308), None);
        assert_eq!(exact_mul(3.0, 0.5), Some(1.5));
        assert_eq!(exact_mul(3.0, 0.1), None);
        assert_eq!(exact_mul(1e-200, 1e-200), None);
        assert_eq!(exact_mul(0.0, 5.0), Some(0.0));
        assert_eq!(exact_div(1.0, 4.0), Some(0.25));
        assert_eq!(exact_div(1.0, 3.0), None);
        assert_eq!(exact_div(1.0, 0.0), None);
        assert_eq!(exact_div(-0.7, -1.0), Some(0.7));
    }

    #[test]
    fn dot_product_sign_is_exact_where_float64_rounding_is_not() {
        // 1e20 + 1 − 1e20: rounded arithmetic says 0.
        assert_eq!(
            sign_of_dot_minus([(1.0, 1e20), (1.0, 1.0)], 1e20),
            Some(Ordering::Greater)
        );
        assert_eq!(1e20 + 1.0 - 1e20, 0.0);
        // fl(0.1·3) is 0.30000000000000004, but the exact product lies below it.
        assert_eq!(
            sign_of_dot_minus([(0.1, 3.0)], 0.30000000000000004),
            Some(Ordering::Less)
        );
        assert_eq!(sign_of_dot_minus([(1.0, f64::NAN)], 0.0), None);
        assert_eq!(
            sign_of_dot_minus([(1.0, f64::MAX), (1.0, f64::MAX)], 0.0),
            None
        );
        assert_eq!(sign_of_dot_minus([], 0.0), Some(Ordering::Equal));
    }

    /// On integers times powers of two the sign matches exact i128 arithmetic, including the
    /// many ties and the cases where float64 summation would round.
    #[test]
    fn dot_product_sign_matches_integer_arithmetic() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..20_000 {
            let n = rng.random_range(0..5usize);
            let shift = rng.random_range(0..60u32);
            let mut exact: i128 = 0;
            let mut products = Vec::new();
            for _ in 0..n {
                let a: i64 = rng.random_range(-1000..=1000);
                let b: i64 = rng.random_range(-(1i64 << 40)..=(1i64 << 40));
                let scaled = b << (shift % 20);
                exact += a as i128 * scaled as i128;
                products.push((a as f64, scaled as f64));
            }
            let d = if rng.random_bool(0.5) {
                exact as f64
            } else {
                rng.random_range(-(1i64 << 62)..(1i64 << 62)) as f64
            };
            let want = exact.cmp(&(d as i128));
            assert_eq!(
                sign_of_dot_minus(products.clone(), d),
                Some(want),
                "{products:?} {d}"
            );
        }
    }
}
