//! Formula tree → [`Property`]: every comparison becomes an input bound, an output constraint
//! or a constant; the conjunction of the assertions is multiplied out into a DNF (capped by
//! [`MAX_DISJUNCTS`] and [`MAX_DNF_ATOMS`]); each disjunct becomes an input box and an output
//! conjunction; disjuncts with the same box are grouped.

use super::Location;
use super::exact::exact_div;
use super::lexer::error;
use super::linear::{Affine, affine};
use super::parse::{Comparator, Comparison, Formula, ParsedFile, Var};
use super::property::{Bound, BoxGroup, InputBox, OutputConstraint, Property, Relation};
use crate::error::Result;
use std::collections::HashMap;
use std::path::Path;

/// Most disjuncts the normal form may have; an `and` of many `or`s multiplies out
/// exponentially, and a larger file is refused with an error instead of exhausting memory.
pub const MAX_DISJUNCTS: usize = 100_000;

/// Most comparisons the normal form may hold in total, summed over its disjuncts (about
/// 80 MB of indices); bounds memory when few disjuncts are very long.
pub const MAX_DNF_ATOMS: usize = 10_000_000;

/// A comparison, classified.
#[derive(Clone, Debug)]
enum Atom {
    /// `X_index` bounded from below (`lower`) or above by `bound`.
    Input {
        index: usize,
        lower: bool,
        bound: Bound,
    },
    Output(OutputConstraint),
    /// A comparison without variables (after cancellation), true or false.
    Constant(bool),
}

/// Disjuncts, each a conjunction given as indices into the atom table.
type Dnf = Vec<Vec<usize>>;

pub(crate) fn normalize(file: &ParsedFile, path: &Path) -> Result<Property> {
    let mut normalizer = Normalizer {
        path,
        atoms: Vec::new(),
    };
    let mut dnf: Dnf = vec![Vec::new()];
    for assertion in &file.assertions {
        let next = normalizer.dnf(&assertion.formula)?;
        dnf = normalizer.and(dnf, next, assertion.at, "assert")?;
    }
    let mut groups: Vec<BoxGroup> = Vec::new();
    let mut group_of_box: HashMap<Vec<u64>, usize> = HashMap::new();
    for disjunct in &dnf {
        let Some((input, outputs)) = normalizer.disjunct(disjunct, file)? else {
            continue;
        };
        let key = box_key(&input);
        match group_of_box.get(&key) {
            Some(&g) => groups[g].outputs.push(outputs),
            None => {
                group_of_box.insert(key, groups.len());
                groups.push(BoxGroup {
                    input,
                    outputs: vec![outputs],
                });
            }
        }
    }
    Ok(Property {
        path: path.to_path_buf(),
        num_inputs: file.inputs.len(),
        num_outputs: file.outputs.len(),
        groups,
    })
}

struct Normalizer<'p> {
    path: &'p Path,
    atoms: Vec<Atom>,
}

impl Normalizer<'_> {
    fn dnf(&mut self, formula: &Formula) -> Result<Dnf> {
        match formula {
            Formula::Compare(comparison) => {
                let atom = self.classify(comparison)?;
                self.atoms.push(atom);
                Ok(vec![vec![self.atoms.len() - 1]])
            }
            Formula::Or(children, at) => {
                let mut union: Dnf = Vec::new();
                for child in children {
                    let next = self.dnf(child)?;
                    self.check_size(
                        union.len().saturating_add(next.len()),
                        atom_count(&union).saturating_add(atom_count(&next)),
                        *at,
                        "or",
                    )?;
                    union.extend(next);
                }
                Ok(union)
            }
            Formula::And(children, at) => {
                let mut product: Dnf = vec![Vec::new()];
                for child in children {
                    let next = self.dnf(child)?;
                    product = self.and(product, next, *at, "and")?;
                }
                Ok(product)
            }
        }
    }

    /// The DNF of `a ∧ b`: every disjunct of `a` joined with every disjunct of `b`.
    /// `at` and `token` locate the operator in error messages.
    fn and(&self, mut a: Dnf, b: Dnf, at: Location, token: &str) -> Result<Dnf> {
        let count = a.len().saturating_mul(b.len());
        let atoms = atom_count(&a)
            .saturating_mul(b.len())
            .saturating_add(atom_count(&b).saturating_mul(a.len()));
        self.check_size(count, atoms, at, token)?;
        if let [only] = &b[..] {
            for disjunct in &mut a {
                disjunct.extend_from_slice(only);
            }
            return Ok(a);
        }
        Ok(a.iter()
            .flat_map(|left| b.iter().map(move |right| [&left[..], right].concat()))
            .collect())
    }

    fn check_size(&self, disjuncts: usize, atoms: usize, at: Location, token: &str) -> Result<()> {
        if disjuncts > MAX_DISJUNCTS || atoms > MAX_DNF_ATOMS {
            return Err(error(
                self.path,
                at,
                token,
                format!(
                    "the assertions multiply out to more than {MAX_DISJUNCTS} disjuncts or \
                     {MAX_DNF_ATOMS} comparisons in disjunctive normal form (robcert's limit); \
                     split the property into several files"
                ),
            ));
        }
        Ok(())
    }

    /// Canonical form of a comparison: `Σ c_v·v + k (<= | <) 0`, then classified by its
    /// variables.
    fn classify(&self, comparison: &Comparison) -> Result<Atom> {
        let Comparison { op, lhs, rhs, at } = comparison;
        let token = op.symbol();
        let (smaller, larger) = match op {
            Comparator::Le | Comparator::Lt => (lhs, rhs),
            Comparator::Ge | Comparator::Gt => (rhs, lhs),
        };
        let strict = matches!(op, Comparator::Lt | Comparator::Gt);
        let form: Affine = affine(smaller, self.path)?
            .plus(&affine(larger, self.path)?.negated())
            .ok_or_else(|| {
                error(
                    self.path,
                    *at,
                    token,
                    "moving the terms of this comparison to one side needs rounding in binary64 \
                     (robcert does not round constraints): write the combined constant instead",
                )
            })?;
        let rhs = positive_zero(-form.constant);
        let inputs: Vec<(usize, f64)> = form
            .coefficients
            .iter()
            .filter_map(|(var, &c)| match var {
                Var::X(i) => Some((*i, c)),
                Var::Y(_) => None,
            })
            .collect();
        let outputs: Vec<(usize, f64)> = form
            .coefficients
            .iter()
            .filter_map(|(var, &c)| match var {
                Var::Y(j) => Some((*j, c)),
                Var::X(_) => None,
            })
            .collect();
        match (&inputs[..], outputs.is_empty()) {
            ([], true) => Ok(Atom::Constant(if strict { 0.0 < rhs } else { 0.0 <= rhs })),
            ([], false) => Ok(Atom::Output(OutputConstraint {
                coefficients: outputs,
                relation: if strict {
                    Relation::Less
                } else {
                    Relation::LessEq
                },
                rhs,
            })),
            ([(i, _), ..], false) => Err(error(
                self.path,
                *at,
                token,
                format!(
                    "this comparison mixes inputs and outputs (X_{i} and Y_{}): constraints \
                     linking X and Y variables are not supported (input constraints must bound \
                     one X_i by a constant; output constraints compare Y_j only)",
                    outputs[0].0
                ),
            )),
            ([(index, c)], true) => {
                let value = exact_div(rhs, *c).ok_or_else(|| {
                    error(
                        self.path,
                        *at,
                        token,
                        format!(
                            "the bound on X_{index} is {rhs} / {c}, which is not exact in \
                             binary64 (robcert does not round constraints): write the bound \
                             itself"
                        ),
                    )
                })?;
                Ok(Atom::Input {
                    index: *index,
                    lower: *c < 0.0,
                    bound: Bound {
                        value: positive_zero(value),
                        strict,
                    },
                })
            }
            ([(a, _), (b, _), ..], true) => Err(error(
                self.path,
                *at,
                token,
                format!(
                    "an input constraint must bound a single X variable by a constant, this one \
                     involves X_{a} and X_{b} (robcert needs the input region as boxes)"
                ),
            )),
        }
    }

    /// The box and output conjunction of one disjunct, or `None` if it is unsatisfiable
    /// (a false constant or an empty box).
    fn disjunct(
        &self,
        atoms: &[usize],
        file: &ParsedFile,
    ) -> Result<Option<(InputBox, Vec<OutputConstraint>)>> {
        let n = file.inputs.len();
        let mut lower: Vec<Option<Bound>> = vec![None; n];
        let mut upper: Vec<Option<Bound>> = vec![None; n];
        let mut outputs = Vec::new();
        for &id in atoms {
            match &self.atoms[id] {
                Atom::Constant(true) => {}
                Atom::Constant(false) => return Ok(None),
                Atom::Output(constraint) => outputs.push(constraint.clone()),
                Atom::Input {
                    index,
                    lower: true,
                    bound,
                } => lower[*index] = Some(tighter(lower[*index], *bound, |a, b| a > b)),
                Atom::Input {
                    index,
                    lower: false,
                    bound,
                } => upper[*index] = Some(tighter(upper[*index], *bound, |a, b| a < b)),
            }
        }
        let complete = |bounds: Vec<Option<Bound>>, side: &str, example: &str| {
            bounds
                .into_iter()
                .enumerate()
                .map(|(i, bound)| {
                    bound.ok_or_else(|| {
                        error(
                            self.path,
                            file.inputs[i],
                            &format!("X_{i}"),
                            format!(
                                "X_{i} has no {side} bound in (a disjunct of) the input region: \
                                 every input needs `{}` in every case of the property",
                                example.replace('#', &i.to_string())
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<Bound>>>()
        };
        let input = InputBox {
            lower: complete(lower, "lower", "(>= X_# c)")?,
            upper: complete(upper, "upper", "(<= X_# c)")?,
        };
        Ok((!input.is_empty()).then_some((input, outputs)))
    }
}

/// The tighter of an existing bound and a new one; at equal values the strict one.
fn tighter(existing: Option<Bound>, new: Bound, better: fn(f64, f64) -> bool) -> Bound {
    match existing {
        None => new,
        Some(old) if better(new.value, old.value) => new,
        Some(old) if new.value == old.value => Bound {
            value: old.value,
            strict: old.strict || new.strict,
        },
        Some(old) => old,
    }
}

fn atom_count(dnf: &Dnf) -> usize {
    dnf.iter().map(Vec::len).sum()
}

/// `-0.0` as `+0.0`, so equal boxes have equal bits.
fn positive_zero(value: f64) -> f64 {
    if value == 0.0 { 0.0 } else { value }
}

fn box_key(input: &InputBox) -> Vec<u64> {
    input
        .lower
        .iter()
        .chain(&input.upper)
        .flat_map(|b| [b.value.to_bits(), b.strict as u64])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::vnnlib::parse_str;

    const DECLARATIONS: &str = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n\
                                (declare-const Y_0 Real)\n(declare-const Y_1 Real)\n";
    const UNIT_BOX: &str = "(assert (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1)))\n";

    fn property(asserts: &str) -> Property {
        parse_str(&format!("{DECLARATIONS}{asserts}"), Path::new("t.vnnlib"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn only_conjunction(p: &Property) -> &[OutputConstraint] {
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.groups[0].outputs.len(), 1);
        &p.groups[0].outputs[0]
    }

    fn bound(value: f64, strict: bool) -> Bound {
        Bound { value, strict }
    }

    #[test]
    fn output_comparisons_take_the_canonical_orientation() {
        let p = property(&format!(
            "{UNIT_BOX}(assert (>= Y_0 Y_1))\n(assert (> 3 Y_1))\n\
             (assert (<= (+ Y_0 (* 2 Y_1) 1) (- Y_1)))\n(assert (>= (* -0.5 Y_0) -2e-1))"
        ));
        let constraint = |coefficients: Vec<(usize, f64)>, relation, rhs| OutputConstraint {
            coefficients,
            relation,
            rhs,
        };
        assert_eq!(
            only_conjunction(&p),
            [
                constraint(vec![(0, -1.0), (1, 1.0)], Relation::LessEq, 0.0),
                constraint(vec![(1, 1.0)], Relation::Less, 3.0),
                constraint(vec![(0, 1.0), (1, 3.0)], Relation::LessEq, -1.0),
                constraint(vec![(0, 0.5)], Relation::LessEq, 0.2),
            ]
        );
    }

    #[test]
    fn input_bounds_intersect_and_keep_strictness() {
        let p = property(
            "(assert (and (>= X_0 0) (> X_0 0) (<= X_0 1) (< X_0 2)))\n\
             (assert (and (< -1 X_1) (>= (- X_1) -0.5) (<= (* 2 X_1) (+ X_1 0.5))))\n\
             (assert (<= Y_0 Y_1))",
        );
        let input = &p.groups[0].input;
        assert_eq!(input.lower, [bound(0.0, true), bound(-1.0, true)]);
        assert_eq!(input.upper, [bound(1.0, false), bound(0.5, false)]);
        assert!(!input.contains(&[0.0, 0.0]));
        assert!(input.contains(&[1.0, 0.5]));
    }

    #[test]
    fn disjuncts_sharing_a_box_are_grouped_and_empty_boxes_dropped() {
        let boxes = [
            "(and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1))",
            "(and (>= X_0 2) (<= X_0 3) (>= X_1 0) (<= X_1 1))",
            "(and (>= X_0 2) (<= X_0 1) (>= X_1 0) (<= X_1 1))", // lower > upper
            "(and (>= X_0 1) (< X_0 1) (>= X_1 0) (<= X_1 1))",  // a strict point
            "(and (>= X_0 1) (<= X_0 1) (>= X_1 0) (<= X_1 1))", // a point: kept
        ];
        let p = property(&format!(
            "(assert (or {}))\n(assert (or (and (<= Y_0 Y_1)) (and (<= Y_1 Y_0) (<= Y_0 0))))",
            boxes.join(" ")
        ));
        let lows: Vec<f64> = p.groups.iter().map(|g| g.input.lower[0].value).collect();
        assert_eq!(lows, [0.0, 2.0, 1.0]);
        assert!(p.groups.iter().all(|g| g.outputs.len() == 2));
        assert_eq!(p.num_disjuncts(), 6);
        assert!(p.is_counterexample(&[1.0, 0.5], &[-1.0, -2.0]));
        assert!(!p.is_counterexample(&[1.5, 0.5], &[-1.0, -2.0]));
    }

    #[test]
    fn constant_comparisons_fold() {
        // `(<= Y_0 Y_0)` is true: the conjunction is empty and every input is unsafe; the
        // disjunct with `(<= 1 0)` is false and dropped.
        let p = property(&format!(
            "{UNIT_BOX}(assert (or (and (<= Y_0 Y_0)) (and (<= 1 0) (<= Y_1 5))))"
        ));
        assert_eq!(only_conjunction(&p), []);
        assert!(p.is_counterexample(&[0.5, 0.5], &[1e30, -1e30]));
        let p = property(&format!("{UNIT_BOX}(assert (< 0 0))"));
        assert!(p.groups.is_empty());
    }

    #[test]
    fn the_normal_form_is_capped() {
        let doubling = "(assert (or (<= Y_0 1) (<= Y_0 2)))\n";
        let p = property(&format!("{UNIT_BOX}{}", doubling.repeat(16)));
        assert_eq!(p.num_disjuncts(), 1 << 16);
        let text = format!("{DECLARATIONS}{UNIT_BOX}{}", doubling.repeat(17));
        match parse_str(&text, Path::new("t.vnnlib")) {
            Err(e @ Error::VnnLib { line: 22, .. }) => {
                assert!(e.to_string().contains("100000 disjuncts"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}
