//! The normal form of a VNN-LIB property: the unsafe set as a union of input boxes, each with
//! a disjunction of conjunctions of linear output constraints.

use super::exact::sign_of_dot_minus;
use crate::error::{Error, Result};
use std::cmp::Ordering;
use std::path::PathBuf;

/// A VNN-LIB property in normal form. A pair `(x, y = f(x))` is a **counterexample** (the
/// competition's *sat*) iff for some group, `x` lies in the group's box and `y` satisfies every
/// constraint of at least one of the group's output conjunctions; the property **holds**
/// (*unsat*) iff no input has such an output.
///
/// - Groups are in order of first appearance; no two groups have the same box.
/// - Disjuncts of the formula whose input box is empty (some `lower > upper`, or
///   `lower == upper` with a strict side) or that contain a constant false comparison (such as
///   `(<= 1 0)`) are dropped: no point satisfies them. With every disjunct dropped `groups` is
///   empty and the property holds trivially.
/// - An output conjunction may be empty: then every input of the box is a counterexample.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// The file the property was read from (for messages).
    pub path: PathBuf,
    /// Number of inputs `X_0..X_{n-1}` (at least 1).
    pub num_inputs: usize,
    /// Number of outputs `Y_0..Y_{m-1}` (at least 1).
    pub num_outputs: usize,
    pub groups: Vec<BoxGroup>,
}

/// One input box and the output conditions that make a point in it unsafe: a disjunction
/// (`outputs`, non-empty) of conjunctions of constraints.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxGroup {
    pub input: InputBox,
    pub outputs: Vec<Vec<OutputConstraint>>,
}

/// A box `lower[i] (≤|<) X_i (≤|<) upper[i]`; both vectors have `num_inputs` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct InputBox {
    pub lower: Vec<Bound>,
    pub upper: Vec<Bound>,
}

/// One end of an input interval: `value` itself belongs to the interval unless `strict`
/// (the file said `<` or `>`). Zero is always `+0.0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    pub value: f64,
    pub strict: bool,
}

/// `Σ_j c_j·Y_j  relation  rhs`, the canonical orientation of an output comparison (a `>=`
/// or `>` in the file is negated into `<=` or `<`). `coefficients` lists `(j, c_j)` by
/// increasing `j`, every `c_j` nonzero, at least one entry. The constants are exactly those
/// of the file (see the module docs: nothing is rounded).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputConstraint {
    pub coefficients: Vec<(usize, f64)>,
    pub relation: Relation,
    pub rhs: f64,
}

/// Strict or non-strict comparison; a verifier must distinguish them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// `<=`
    LessEq,
    /// `<`
    Less,
}

impl Property {
    /// Errors unless the property has exactly the network's number of inputs and outputs
    /// (element counts of its input and output tensors, in flat row-major order).
    pub fn check_dimensions(&self, num_inputs: usize, num_outputs: usize) -> Result<()> {
        if (self.num_inputs, self.num_outputs) == (num_inputs, num_outputs) {
            return Ok(());
        }
        Err(Error::VnnLibDimensions {
            path: self.path.clone(),
            property_inputs: self.num_inputs,
            property_outputs: self.num_outputs,
            network_inputs: num_inputs,
            network_outputs: num_outputs,
        })
    }

    /// Whether `(x, y)` lies in the unsafe set (exactly: no rounding; see
    /// [`OutputConstraint::holds`]). False when a length does not match.
    pub fn is_counterexample(&self, x: &[f64], y: &[f64]) -> bool {
        self.groups.iter().any(|group| {
            group.input.contains(x)
                && group
                    .outputs
                    .iter()
                    .any(|conjunction| conjunction.iter().all(|c| c.holds(y)))
        })
    }

    /// Number of (box, output conjunction) disjuncts of the normal form.
    pub fn num_disjuncts(&self) -> usize {
        self.groups.iter().map(|g| g.outputs.len()).sum()
    }
}

impl InputBox {
    /// Whether `x` (with one entry per input) lies in the box; false for NaN entries.
    pub fn contains(&self, x: &[f64]) -> bool {
        x.len() == self.lower.len()
            && x.iter()
                .zip(self.lower.iter().zip(&self.upper))
                .all(|(&v, (lo, hi))| {
                    let above = if lo.strict {
                        v > lo.value
                    } else {
                        v >= lo.value
                    };
                    let below = if hi.strict {
                        v < hi.value
                    } else {
                        v <= hi.value
                    };
                    above && below
                })
    }

    /// Whether no point satisfies the box.
    pub fn is_empty(&self) -> bool {
        self.lower.iter().zip(&self.upper).any(|(lo, hi)| {
            lo.value > hi.value || (lo.value == hi.value && (lo.strict || hi.strict))
        })
    }
}

impl OutputConstraint {
    /// Whether the outputs `y` satisfy the constraint, decided exactly (the sum is formed
    /// without rounding). False if an index is out of range, a value is not finite, or — far
    /// outside any network's range — a nonzero product `c_j·y_j` is below 2^-969 in magnitude,
    /// where exact evaluation in binary64 is not possible: a doubtful point is never called a
    /// counterexample.
    pub fn holds(&self, y: &[f64]) -> bool {
        let mut products = Vec::with_capacity(self.coefficients.len());
        for &(j, c) in &self.coefficients {
            let Some(&value) = y.get(j) else {
                return false;
            };
            products.push((c, value));
        }
        match sign_of_dot_minus(products, self.rhs) {
            Some(Ordering::Less) => true,
            Some(Ordering::Equal) => self.relation == Relation::LessEq,
            Some(Ordering::Greater) | None => false,
        }
    }
}
