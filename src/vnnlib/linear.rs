//! Terms → exact affine forms `Σ c_v·v + constant`.
//!
//! A term is linear when every product has at most one factor that contains a variable. The
//! arithmetic on constants is exact (see [`super::exact`]): a term whose constants cannot be
//! combined without rounding is refused with an error that says so.

use super::exact::{exact_add, exact_mul};
use super::lexer::error;
use super::parse::{Term, TermOp, Var};
use crate::error::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// `Σ coefficients[v]·v + constant`; no coefficient is zero.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Affine {
    pub coefficients: BTreeMap<Var, f64>,
    pub constant: f64,
}

impl Affine {
    fn constant(value: f64) -> Self {
        Affine {
            coefficients: BTreeMap::new(),
            constant: value,
        }
    }

    fn variable(var: Var) -> Self {
        Affine {
            coefficients: BTreeMap::from([(var, 1.0)]),
            constant: 0.0,
        }
    }

    /// The first variable with a nonzero coefficient, if any.
    pub(crate) fn first_variable(&self) -> Option<Var> {
        self.coefficients.keys().next().copied()
    }

    /// `self + other`, if exact.
    pub(crate) fn plus(mut self, other: &Affine) -> Option<Affine> {
        self.constant = exact_add(self.constant, other.constant)?;
        for (&var, &c) in &other.coefficients {
            let sum = exact_add(self.coefficients.get(&var).copied().unwrap_or(0.0), c)?;
            if sum == 0.0 {
                self.coefficients.remove(&var);
            } else {
                self.coefficients.insert(var, sum);
            }
        }
        Some(self)
    }

    /// `factor · self`, if exact.
    fn times(mut self, factor: f64) -> Option<Affine> {
        self.constant = exact_mul(self.constant, factor)?;
        for c in self.coefficients.values_mut() {
            *c = exact_mul(*c, factor)?;
        }
        self.coefficients.retain(|_, c| *c != 0.0);
        Some(self)
    }

    /// `−self` (always exact).
    pub(crate) fn negated(mut self) -> Affine {
        self.constant = -self.constant;
        for c in self.coefficients.values_mut() {
            *c = -*c;
        }
        self
    }
}

/// The affine form of `term`; errors name the operator of a non-linear product or of an
/// inexact combination of constants.
pub(crate) fn affine(term: &Term, path: &Path) -> Result<Affine> {
    let (op, args, at) = match term {
        Term::Number(value) => return Ok(Affine::constant(*value)),
        Term::Var(var) => return Ok(Affine::variable(*var)),
        Term::Apply { op, args, at } => (*op, args, *at),
    };
    let inexact = || {
        error(
            path,
            at,
            op.symbol(),
            "the constants of this term cannot be combined exactly in binary64 (robcert does not \
             round constraints): write the combined constant instead",
        )
    };
    let mut forms = args.iter().map(|a| affine(a, path));
    let first = forms.next().transpose()?.unwrap_or(Affine::constant(0.0));
    match op {
        TermOp::Add => forms.try_fold(first, |sum, next| sum.plus(&next?).ok_or_else(inexact)),
        TermOp::Sub if args.len() == 1 => Ok(first.negated()),
        TermOp::Sub => forms.try_fold(first, |difference, next| {
            difference.plus(&next?.negated()).ok_or_else(inexact)
        }),
        TermOp::Mul => forms.try_fold(first, |product, next| {
            let next = next?;
            match (product.first_variable(), next.first_variable()) {
                (Some(a), Some(b)) => Err(error(
                    path,
                    at,
                    "*",
                    format!(
                        "non-linear term: a product of {a} and {b} (only multiplication by a \
                         constant is supported)"
                    ),
                )),
                (None, _) => next.times(product.constant).ok_or_else(inexact),
                (Some(_), None) => product.times(next.constant).ok_or_else(inexact),
            }
        }),
    }
}
