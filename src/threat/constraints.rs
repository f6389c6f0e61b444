//! Constraints that every valid row satisfies, declared in the threat spec: integer features,
//! one-hot groups (exactly one member set; switchable groups let the attacker change category)
//! and linear relations between features (`velocity_1h <= velocity_24h`).
//!
//! Who honours what:
//! - attacks keep every constraint exactly: each candidate is projected ([`Constraints::project`])
//!   and checked ([`Constraints::violation`]) before ONNX Runtime confirms it;
//! - smoothing feeds ONNX Runtime points with integer features rounded and relations restored by
//!   moving mutable features (a deterministic part of the base classifier, so Cohen et al.'s
//!   guarantee is unchanged); it adds no noise to one-hot groups, so a switchable group is not
//!   covered by its certificate;
//! - bound methods reason over the enclosing box (integer bounds rounded inward, a switchable
//!   group's members anywhere in [0, 1], relations ignored): an over-approximation, so sound.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Σ_i c_i · x_i ≤ rhs over feature indices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearRelation {
    /// As written in the spec.
    pub text: String,
    pub terms: Vec<(usize, f64)>,
    pub rhs: f64,
}

impl LinearRelation {
    /// How far `x` is above the relation's bound (≤ 0 when it holds).
    pub fn excess(&self, x: &[f64]) -> f64 {
        self.terms.iter().map(|&(i, c)| c * x[i]).sum::<f64>() - self.rhs
    }
}

/// A one-hot group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneHotGroup {
    pub name: String,
    /// Feature indices of the members.
    pub members: Vec<usize>,
    /// Whether the attacker may switch the category.
    pub switchable: bool,
}

/// All declared constraints, resolved to feature indices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    /// Per feature: integer-valued.
    pub integer: Vec<bool>,
    pub one_hot: Vec<OneHotGroup>,
    pub relations: Vec<LinearRelation>,
}

/// Rounds of projection onto the relations before a candidate is given up.
pub const PROJECTION_ROUNDS: usize = 8;

impl Constraints {
    pub fn is_empty(&self) -> bool {
        !self.integer.iter().any(|&b| b) && self.one_hot.is_empty() && self.relations.is_empty()
    }

    /// Whether some one-hot group lets the attacker switch category.
    pub fn has_switchable(&self) -> bool {
        self.one_hot.iter().any(|g| g.switchable)
    }

    /// The first constraint `x` violates, described, or `None` when `x` satisfies all of them
    /// exactly (on the float32 values ONNX Runtime is fed).
    pub fn violation(&self, x: &[f32], features: &[String]) -> Option<String> {
        let xd: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for (i, &int) in self.integer.iter().enumerate() {
            if int && xd[i].fract() != 0.0 {
                return Some(format!("{} = {} is not an integer", features[i], xd[i]));
            }
        }
        for g in &self.one_hot {
            let ones = g.members.iter().filter(|&&i| xd[i] == 1.0).count();
            let zeros = g.members.iter().filter(|&&i| xd[i] == 0.0).count();
            if ones != 1 || ones + zeros != g.members.len() {
                return Some(format!(
                    "one-hot group `{}` does not have exactly one member set",
                    g.name
                ));
            }
        }
        for r in &self.relations {
            if r.excess(&xd) > 0.0 {
                return Some(format!("relation `{}` does not hold", r.text));
            }
        }
        None
    }

    /// Moves `x` into the declared region as far as it can, changing only features with
    /// `movable[i]`, within `lo ≤ x ≤ hi`: one-hot groups set to their largest member (switchable
    /// groups only), relations restored by moving along the movable coefficients, integers
    /// rounded toward the inside of the box. The result may still violate a constraint (then
    /// the caller discards it); [`Constraints::violation`] is the judge.
    pub fn project(&self, x: &mut [f64], movable: &[bool], lo: &[f64], hi: &[f64]) {
        for g in self.one_hot.iter().filter(|g| g.switchable) {
            let best = g
                .members
                .iter()
                .copied()
                .max_by(|&a, &b| x[a].total_cmp(&x[b]))
                .expect("a group has members");
            for &m in &g.members {
                x[m] = f64::from(u8::from(m == best));
            }
        }
        for _ in 0..PROJECTION_ROUNDS {
            let mut all_hold = true;
            for r in &self.relations {
                let excess = r.excess(x);
                if excess <= 0.0 {
                    continue;
                }
                all_hold = false;
                let norm: f64 = r
                    .terms
                    .iter()
                    .filter(|&&(i, _)| movable[i])
                    .map(|&(_, c)| c * c)
                    .sum();
                if norm == 0.0 {
                    continue;
                }
                for &(i, c) in &r.terms {
                    if movable[i] {
                        x[i] = (x[i] - excess * c / norm).clamp(lo[i], hi[i]);
                    }
                }
            }
            self.round_integers(x, movable, lo, hi);
            if all_hold {
                break;
            }
        }
    }

    /// Rounds movable integer features to the nearest integer inside `[lo, hi]`.
    pub fn round_integers(&self, x: &mut [f64], movable: &[bool], lo: &[f64], hi: &[f64]) {
        for (i, &int) in self.integer.iter().enumerate() {
            if int && movable[i] {
                let r = x[i].round();
                x[i] = if r < lo[i] {
                    lo[i].ceil()
                } else if r > hi[i] {
                    hi[i].floor()
                } else {
                    r
                };
            }
        }
    }
}

/// Parses `"a <= b"`, `"2*a + b - c <= 10"`, `"a >= 0.5*b"` into Σ c_i x_i ≤ rhs over the
/// features' indices. `key` names the spec entry in errors.
pub fn parse_relation(text: &str, features: &[String], key: &str) -> Result<LinearRelation> {
    let bad = |why: String| Error::spec(key, format!("`{text}`: {why}"));
    let (lhs, rhs, flip) = if let Some((a, b)) = text.split_once("<=") {
        (a, b, false)
    } else if let Some((a, b)) = text.split_once(">=") {
        (a, b, true)
    } else {
        return Err(bad(
            "expected `<=` or `>=` between two linear expressions".into()
        ));
    };
    let mut coef = vec![0.0; features.len()];
    let mut constant = 0.0;
    for (side, sign) in [(lhs, 1.0), (rhs, -1.0)] {
        let sign = if flip { -sign } else { sign };
        for (term_sign, term) in split_terms(side) {
            let term = term.trim();
            if term.is_empty() {
                return Err(bad("empty term".into()));
            }
            let (factor, name) = match term.split_once('*') {
                Some((c, n)) => {
                    let c: f64 = c
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("`{c}` is not a number")))?;
                    (c, n.trim())
                }
                None => (1.0, term),
            };
            let s = sign * term_sign * factor;
            if let Ok(v) = name.parse::<f64>() {
                constant += s * v;
            } else {
                let i = features
                    .iter()
                    .position(|f| f == name)
                    .ok_or_else(|| bad(format!("`{name}` is not a feature")))?;
                coef[i] += s;
            }
        }
    }
    if !constant.is_finite() || coef.iter().any(|c| !c.is_finite()) {
        return Err(bad("coefficients must be finite".into()));
    }
    let terms: Vec<(usize, f64)> = coef
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 0.0)
        .map(|(i, &c)| (i, c))
        .collect();
    if terms.is_empty() {
        return Err(bad("the relation names no feature".into()));
    }
    Ok(LinearRelation {
        text: text.to_string(),
        terms,
        rhs: -constant,
    })
}

/// Splits `a + 2*b - c` into signed terms (a leading `-` negates the first term).
fn split_terms(expr: &str) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    let mut sign = 1.0;
    let mut current = String::new();
    let mut prev = ' ';
    for ch in expr.chars() {
        // A `+`/`-` after `e`/`E` belongs to a number's exponent (`1e-3`).
        let exponent = matches!(prev, 'e' | 'E')
            && current.trim().parse::<f64>().is_err()
            && current
                .trim()
                .trim_end_matches(['e', 'E'])
                .parse::<f64>()
                .is_ok();
        if (ch == '+' || ch == '-') && !exponent {
            if !current.trim().is_empty() {
                out.push((sign, std::mem::take(&mut current)));
            }
            sign = if ch == '-' { -1.0 } else { 1.0 };
        } else {
            current.push(ch);
        }
        if !ch.is_whitespace() {
            prev = ch;
        }
    }
    out.push((sign, current));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn relations_parse_into_sums_of_terms_below_a_constant() {
        let r = parse_relation("a <= b", &names(), "k").unwrap();
        assert_eq!((r.terms, r.rhs), (vec![(0, 1.0), (1, -1.0)], 0.0));
        let r = parse_relation("2*a + b - 0.5*c <= 10", &names(), "k").unwrap();
        assert_eq!(
            (r.terms, r.rhs),
            (vec![(0, 2.0), (1, 1.0), (2, -0.5)], 10.0)
        );
        let r = parse_relation("a >= 1e-3 + b", &names(), "k").unwrap();
        assert_eq!((r.terms, r.rhs), (vec![(0, -1.0), (1, 1.0)], -1e-3));
        for bad in ["a < b", "a <= zz", "3 <= 4", "a <= 2*", "x*a <= 1"] {
            assert!(parse_relation(bad, &names(), "k").is_err(), "{bad}");
        }
    }

    #[test]
    fn projection_restores_relations_integers_and_one_hot_groups() {
        let c = Constraints {
            integer: vec![true, true, false],
            one_hot: vec![],
            relations: vec![parse_relation("a <= b", &names(), "k").unwrap()],
        };
        let mut x = vec![3.4, 2.0, 0.5];
        // Only `a` may move.
        c.project(&mut x, &[true, false, true], &[0.0; 3], &[10.0; 3]);
        assert!(x[0] <= x[1] && x[0].fract() == 0.0, "{x:?}");
        let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        assert_eq!(c.violation(&xs, &names()), None);
        let g = Constraints {
            integer: vec![false; 3],
            one_hot: vec![OneHotGroup {
                name: "g".into(),
                members: vec![0, 1, 2],
                switchable: true,
            }],
            relations: vec![],
        };
        let mut y = vec![0.2, 0.9, 0.4];
        g.project(&mut y, &[true; 3], &[0.0; 3], &[1.0; 3]);
        assert_eq!(y, vec![0.0, 1.0, 0.0]);
        assert!(g.violation(&[0.0, 0.5, 0.5], &names()).is_some());
    }
}
