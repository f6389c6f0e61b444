//! Reference semantics for the tests: the parsed formula tree evaluated directly at a point,
//! with no normal form in between, and the property test that the normal form agrees with it.
//!
//! The evaluator computes in `f64` and compares exactly; it is exact (and so a reference)
//! when the arithmetic of the terms is, which the generated formulas and points ensure:
//! constants are dyadic rationals `k/2^m` with small `k` and `m`, coefficients small
//! integers or powers of two.

use super::Location;
use super::normal::normalize;
use super::parse::{Comparator, Comparison, Formula, ParsedFile, Term, TermOp, Var, parse};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write;
use std::path::Path;

/// Whether `(x, y)` satisfies every assertion of `file`.
pub(crate) fn satisfies(file: &ParsedFile, x: &[f64], y: &[f64]) -> bool {
    file.assertions
        .iter()
        .all(|a| formula_holds(&a.formula, x, y))
}

fn formula_holds(formula: &Formula, x: &[f64], y: &[f64]) -> bool {
    match formula {
        Formula::And(children, _) => children.iter().all(|c| formula_holds(c, x, y)),
        Formula::Or(children, _) => children.iter().any(|c| formula_holds(c, x, y)),
        Formula::Compare(c) => {
            let (a, b) = (value(&c.lhs, x, y), value(&c.rhs, x, y));
            match c.op {
                Comparator::Le => a <= b,
                Comparator::Lt => a < b,
                Comparator::Ge => a >= b,
                Comparator::Gt => a > b,
            }
        }
    }
}

fn value(term: &Term, x: &[f64], y: &[f64]) -> f64 {
    match term {
        Term::Number(v) => *v,
        Term::Var(Var::X(i)) => x[*i],
        Term::Var(Var::Y(j)) => y[*j],
        Term::Apply { op, args, .. } => {
            let mut values = args.iter().map(|a| value(a, x, y));
            let first = values.next().unwrap_or(0.0);
            match op {
                TermOp::Add => values.fold(first, |s, v| s + v),
                TermOp::Sub if args.len() == 1 => -first,
                TermOp::Sub => values.fold(first, |s, v| s - v),
                TermOp::Mul => values.fold(first, |s, v| s * v),
            }
        }
    }
}

const NOWHERE: Location = Location { line: 0, column: 0 };

/// Writes formulas as VNN-LIB text: canonically (one space between tokens, `{:?}` numbers),
/// or with random layout, comments and number notation that parse to the same tree.
struct Printer {
    rng: Option<ChaCha8Rng>,
    out: String,
}

impl Printer {
    fn new(rng: Option<ChaCha8Rng>) -> Self {
        Printer {
            rng,
            out: String::new(),
        }
    }

    fn pick(&mut self, n: usize) -> usize {
        self.rng.as_mut().map_or(0, |r| r.random_range(0..n))
    }

    fn gap(&mut self) {
        let gap = [" ", "\n", "\t", "  ", " ; note (with ( parens\n"][self.pick(5)];
        self.out.push_str(gap);
    }

    fn number(&mut self, v: f64) {
        let text = match self.pick(4) {
            0 => format!("{v:?}"),
            1 => format!("{v:e}"),
            2 => format!("{v:E}"),
            _ if v.is_sign_positive() => format!("+{v:?}"),
            _ => format!("{v:?}"),
        };
        self.out.push_str(&text);
    }

    fn list<T>(&mut self, head: &str, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.out.push('(');
        self.out.push_str(head);
        for item in items {
            self.gap();
            each(self, item);
        }
        self.out.push(')');
    }

    fn term(&mut self, term: &Term) {
        match term {
            Term::Number(v) => self.number(*v),
            Term::Var(var) => {
                let _ = write!(self.out, "{var}");
            }
            Term::Apply { op, args, .. } => self.list(op.symbol(), args, Self::term),
        }
    }

    fn formula(&mut self, formula: &Formula) {
        match formula {
            Formula::And(children, _) => self.list("and", children, Self::formula),
            Formula::Or(children, _) => self.list("or", children, Self::formula),
            Formula::Compare(c) => self.list(c.op.symbol(), &[&c.lhs, &c.rhs], |p, t| p.term(t)),
        }
    }

    fn file(mut self, nx: usize, ny: usize, assertions: &[Formula]) -> String {
        let mut names: Vec<String> = (0..nx).map(|i| format!("X_{i}")).collect();
        names.extend((0..ny).map(|j| format!("Y_{j}")));
        if let Some(rng) = self.rng.as_mut() {
            use rand::seq::SliceRandom;
            names.shuffle(rng);
        }
        for name in names {
            let _ = writeln!(self.out, "(declare-const {name} Real)");
        }
        for assertion in assertions {
            self.out.push_str("(assert");
            self.gap();
            self.formula(assertion);
            self.out.push_str(")\n");
        }
        self.out
    }
}

/// Canonical text of a parsed file, for comparing trees without their locations.
fn canonical(nx: usize, ny: usize, assertions: &[Formula]) -> String {
    Printer::new(None).file(nx, ny, assertions)
}

// ---- generators -------------------------------------------------------------------------

fn compare(op: Comparator, lhs: Term, rhs: Term) -> Formula {
    Formula::Compare(Comparison {
        op,
        lhs,
        rhs,
        at: NOWHERE,
    })
}

fn apply(op: TermOp, args: Vec<Term>) -> Term {
    Term::Apply {
        op,
        args,
        at: NOWHERE,
    }
}

fn comparator() -> impl Strategy<Value = Comparator> {
    prop_oneof![
        Just(Comparator::Le),
        Just(Comparator::Lt),
        Just(Comparator::Ge),
        Just(Comparator::Gt)
    ]
}

/// Multiples of 1/4 in [-3, 3]: coarse, so random points often land on a boundary.
fn grid() -> impl Strategy<Value = f64> {
    (-12i32..=12).prop_map(|k| f64::from(k) / 4.0)
}

/// Dyadic rationals `k/2^m`, |k| < 2^20, m ≤ 20, printed with up to 20 decimals.
fn dyadic() -> impl Strategy<Value = f64> {
    (-(1i32 << 20)..(1 << 20), 0u32..=20).prop_map(|(k, m)| f64::from(k) / f64::from(1u32 << m))
}

fn constant() -> impl Strategy<Value = f64> {
    prop_oneof![grid(), dyadic()]
}

/// `k·var` written in one of its forms (`var`, `(- var)`, `(* var k)`, `(* k var)`).
fn scaled(var: Var, k: f64, form: usize) -> Term {
    match form % 3 {
        0 if k == 1.0 => Term::Var(var),
        0 if k == -1.0 => apply(TermOp::Sub, vec![Term::Var(var)]),
        1 => apply(TermOp::Mul, vec![Term::Var(var), Term::Number(k)]),
        _ => apply(TermOp::Mul, vec![Term::Number(k), Term::Var(var)]),
    }
}

/// A sum of parts, as `(+ ...)` or as `(- first (- second) ...)`.
fn sum(mut parts: Vec<Term>, as_difference: bool) -> Term {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    if !as_difference {
        return apply(TermOp::Add, parts);
    }
    let mut args = vec![parts.remove(0)];
    args.extend(parts.into_iter().map(|p| apply(TermOp::Sub, vec![p])));
    apply(TermOp::Sub, args)
}

/// One comparison over `nx` inputs and `ny` outputs, in every form the parser must accept.
fn atom(nx: usize, ny: usize) -> BoxedStrategy<Formula> {
    let x = move || (0..nx).prop_map(Var::X);
    let y = move || (0..ny).prop_map(Var::Y);
    let var_vs_constant = (
        prop_oneof![x(), y()],
        constant(),
        comparator(),
        any::<bool>(),
    )
        .prop_map(|(v, c, op, flip)| {
            if flip {
                compare(op, Term::Number(c), Term::Var(v))
            } else {
                compare(op, Term::Var(v), Term::Number(c))
            }
        });
    let output_vs_output =
        (y(), y(), comparator()).prop_map(|(a, b, op)| compare(op, Term::Var(a), Term::Var(b)));
    let coefficient = || prop_oneof![Just(1.0), Just(-1.0), Just(2.0), Just(-3.0), Just(0.5)];
    let side = move || {
        (
            proptest::collection::vec((y(), coefficient(), 0..3usize), 0..=2),
            proptest::option::of(grid()),
            any::<bool>(),
        )
            .prop_map(|(terms, c, as_difference)| {
                let mut parts: Vec<Term> = terms
                    .into_iter()
                    .map(|(v, k, form)| scaled(v, k, form))
                    .collect();
                if let Some(c) = c {
                    parts.push(Term::Number(c));
                }
                if parts.is_empty() {
                    parts.push(Term::Number(0.0));
                }
                sum(parts, as_difference)
            })
    };
    let linear_outputs = (side(), side(), comparator()).prop_map(|(a, b, op)| compare(op, a, b));
    // Input comparisons whose X coefficient, after moving terms, is 0 or a power of two, so
    // that the bound is exact.
    let linear_input = (
        x(),
        prop_oneof![Just(1.0), Just(-1.0), Just(2.0), Just(-4.0), Just(0.5)],
        prop_oneof![
            Just(-1.0),
            Just(1.0),
            Just(2.0),
            Just(3.0),
            Just(5.0),
            Just(-3.0)
        ],
        grid(),
        grid(),
        comparator(),
        0..3usize,
    )
        .prop_map(|(v, p, q, c1, c2, op, form)| match form {
            0 => compare(
                op,
                sum(vec![scaled(v, p, 1), Term::Number(c1)], false),
                Term::Number(c2),
            ),
            1 => compare(
                op,
                scaled(v, q, 2),
                sum(vec![Term::Var(v), Term::Number(c1)], false),
            ),
            _ => compare(
                op,
                apply(TermOp::Sub, vec![Term::Var(v), Term::Number(c1)]),
                apply(TermOp::Sub, vec![Term::Number(c2)]),
            ),
        });
    let constant_comparison = (constant(), constant(), comparator())
        .prop_map(|(a, b, op)| compare(op, Term::Number(a), Term::Number(b)));
    prop_oneof![
        3 => var_vs_constant,
        2 => output_vs_output,
        2 => linear_outputs,
        2 => linear_input,
        1 => constant_comparison,
    ]
    .boxed()
}

/// Nested `and`/`or` of atoms (small enough that the normal form stays in the thousands).
fn formula(nx: usize, ny: usize) -> BoxedStrategy<Formula> {
    atom(nx, ny)
        .prop_recursive(3, 10, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..=3)
                    .prop_map(|c| Formula::And(c, NOWHERE)),
                proptest::collection::vec(inner, 1..=3).prop_map(|c| Formula::Or(c, NOWHERE)),
            ]
        })
        .boxed()
}

/// An input box bounding every X: `lo (<=|<) X_i (<=|<) hi`, written either way round.
fn input_box(nx: usize) -> impl Strategy<Value = Formula> {
    proptest::collection::vec((grid(), 0i32..=8, any::<[bool; 4]>()), nx).prop_map(|bounds| {
        let mut atoms = Vec::new();
        for (i, (lo, width, [strict_lo, strict_hi, flip_lo, flip_hi])) in
            bounds.into_iter().enumerate()
        {
            let hi = lo + f64::from(width) / 4.0;
            let var = || Term::Var(Var::X(i));
            let (ge, le) = match (strict_lo, strict_hi) {
                (false, false) => (Comparator::Ge, Comparator::Le),
                (true, false) => (Comparator::Gt, Comparator::Le),
                (false, true) => (Comparator::Ge, Comparator::Lt),
                (true, true) => (Comparator::Gt, Comparator::Lt),
            };
            let (le_lo, le_hi) = (mirror(ge), mirror(le));
            atoms.push(if flip_lo {
                compare(le_lo, Term::Number(lo), var())
            } else {
                compare(ge, var(), Term::Number(lo))
            });
            atoms.push(if flip_hi {
                compare(le_hi, Term::Number(hi), var())
            } else {
                compare(le, var(), Term::Number(hi))
            });
        }
        Formula::And(atoms, NOWHERE)
    })
}

/// `a op b` ⇔ `b mirror(op) a`.
fn mirror(op: Comparator) -> Comparator {
    match op {
        Comparator::Le => Comparator::Ge,
        Comparator::Lt => Comparator::Gt,
        Comparator::Ge => Comparator::Le,
        Comparator::Gt => Comparator::Lt,
    }
}

#[derive(Clone, Debug)]
struct Case {
    nx: usize,
    ny: usize,
    assertions: Vec<Formula>,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (1..=3usize, 1..=3usize)
        .prop_flat_map(|(nx, ny)| {
            (
                Just(nx),
                Just(ny),
                proptest::collection::vec(input_box(nx), 1..=2),
                proptest::collection::vec(formula(nx, ny), 1..=2),
                any::<u64>(),
            )
        })
        .prop_map(|(nx, ny, boxes, formulas, seed)| {
            let region = if boxes.len() == 1 {
                boxes[0].clone()
            } else {
                Formula::Or(boxes, NOWHERE)
            };
            let mut assertions = vec![region];
            assertions.extend(formulas);
            Case {
                nx,
                ny,
                assertions,
                seed,
            }
        })
}

// ---- points -------------------------------------------------------------------------------

fn comparisons<'f>(formula: &'f Formula, out: &mut Vec<&'f Comparison>) {
    match formula {
        Formula::And(children, _) | Formula::Or(children, _) => {
            children.iter().for_each(|c| comparisons(c, out))
        }
        Formula::Compare(c) => out.push(c),
    }
}

fn variables(term: &Term, out: &mut Vec<Var>) {
    match term {
        Term::Number(_) => {}
        Term::Var(v) => out.push(*v),
        Term::Apply { args, .. } => args.iter().for_each(|a| variables(a, out)),
    }
}

fn constants(term: &Term, out: &mut Vec<f64>) {
    match term {
        Term::Number(v) => out.push(*v),
        Term::Var(_) => {}
        Term::Apply { args, .. } => args.iter().for_each(|a| constants(a, out)),
    }
}

fn gap_at(c: &Comparison, x: &[f64], y: &[f64]) -> f64 {
    value(&c.lhs, x, y) - value(&c.rhs, x, y)
}

/// Moves one variable of `c` so that `lhs == rhs` exactly (when its coefficient is a power
/// of two, so that the step is exact).
fn project(c: &Comparison, x: &mut [f64], y: &mut [f64], rng: &mut ChaCha8Rng) {
    let mut vars = Vec::new();
    variables(&c.lhs, &mut vars);
    variables(&c.rhs, &mut vars);
    if vars.is_empty() {
        return;
    }
    let var = vars[rng.random_range(0..vars.len())];
    let slot = |x: &mut [f64], y: &mut [f64], delta: f64| match var {
        Var::X(i) => x[i] += delta,
        Var::Y(j) => y[j] += delta,
    };
    let before = gap_at(c, x, y);
    slot(x, y, 1.0);
    let slope = gap_at(c, x, y) - before;
    slot(x, y, -1.0);
    let power_of_two = slope != 0.0 && slope.abs().to_bits() & ((1u64 << 52) - 1) == 0;
    if power_of_two {
        slot(x, y, -before / slope);
    }
}

/// A random point near the formula's boundaries: coordinates from a fine grid and the
/// formula's constants (± 2^-20), then projected onto the boundary of up to two comparisons.
fn point(
    nx: usize,
    ny: usize,
    atoms: &[&Comparison],
    constants: &[f64],
    rng: &mut ChaCha8Rng,
) -> (Vec<f64>, Vec<f64>) {
    let coordinate = |rng: &mut ChaCha8Rng| {
        if constants.is_empty() || rng.random_bool(0.5) {
            f64::from(rng.random_range(-28i32..=28)) / 8.0
        } else {
            let c = constants[rng.random_range(0..constants.len())];
            c + f64::from(rng.random_range(-1i32..=1)) / f64::from(1u32 << 20)
        }
    };
    let mut x: Vec<f64> = (0..nx).map(|_| coordinate(rng)).collect();
    let mut y: Vec<f64> = (0..ny).map(|_| coordinate(rng)).collect();
    for _ in 0..rng.random_range(0..=2) {
        let c = atoms[rng.random_range(0..atoms.len())];
        project(c, &mut x, &mut y, rng);
    }
    (x, y)
}

const POINTS_PER_FORMULA: usize = 2_000;

/// Counts over the points of one case.
struct Coverage {
    on_boundary: usize,
    unsafe_points: usize,
}

/// Prints, parses and normalises the case, then compares the normal form with the direct
/// evaluation of the parsed tree at [`POINTS_PER_FORMULA`] points.
fn check(case: &Case) -> Result<Coverage, TestCaseError> {
    let Case {
        nx,
        ny,
        assertions,
        seed,
    } = case;
    let (nx, ny) = (*nx, *ny);
    let mut rng = ChaCha8Rng::seed_from_u64(*seed);
    let text = Printer::new(Some(ChaCha8Rng::seed_from_u64(seed ^ 1))).file(nx, ny, assertions);
    let path = Path::new("generated.vnnlib");
    let parsed = parse(&text, path).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let reparsed: Vec<Formula> = parsed
        .assertions
        .iter()
        .map(|a| a.formula.clone())
        .collect();
    prop_assert_eq!(canonical(nx, ny, &reparsed), canonical(nx, ny, assertions));
    let property =
        normalize(&parsed, path).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;

    let mut atoms = Vec::new();
    assertions.iter().for_each(|f| comparisons(f, &mut atoms));
    let mut numbers = Vec::new();
    for c in &atoms {
        constants(&c.lhs, &mut numbers);
        constants(&c.rhs, &mut numbers);
    }
    let mut coverage = Coverage {
        on_boundary: 0,
        unsafe_points: 0,
    };
    for k in 0..POINTS_PER_FORMULA {
        // Half of the points are drawn until x lies in the input region (the first
        // assertion), so that the output constraints are exercised too.
        let mut candidate = point(nx, ny, &atoms, &numbers, &mut rng);
        for _ in 0..8 {
            if k % 2 == 0 || formula_holds(&assertions[0], &candidate.0, &candidate.1) {
                break;
            }
            candidate = point(nx, ny, &atoms, &numbers, &mut rng);
        }
        let (x, y) = candidate;
        let direct = satisfies(&parsed, &x, &y);
        let normal = property.is_counterexample(&x, &y);
        prop_assert_eq!(direct, normal, "x = {:?}, y = {:?}\n{}", x, y, text);
        coverage.on_boundary += atoms.iter().any(|c| gap_at(c, &x, &y) == 0.0) as usize;
        coverage.unsafe_points += direct as usize;
    }
    Ok(coverage)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Soundness of the normal form: at thousands of points per random formula, many of them
    /// exactly on some comparison's boundary (where `<` and `<=` differ), "x lies in a group's
    /// box and y satisfies one of its output conjunctions" equals the direct evaluation of the
    /// parsed formula. The text is printed with random layout, comments and number notation,
    /// and re-parses to the generated tree.
    #[test]
    fn normal_form_agrees_with_direct_evaluation(case in case()) {
        let coverage = check(&case)?;
        prop_assert!(
            coverage.on_boundary * 4 >= POINTS_PER_FORMULA,
            "only {} of {} points on a boundary", coverage.on_boundary, POINTS_PER_FORMULA
        );
    }
}

/// The agreement test is not vacuous: over 100 generated cases, a good share of the points
/// are counterexamples and a good share are not.
#[test]
fn generated_points_are_both_safe_and_unsafe() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut unsafe_points, mut total) = (0, 0);
    for _ in 0..100 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let coverage = check(&case).unwrap();
        unsafe_points += coverage.unsafe_points;
        total += POINTS_PER_FORMULA;
    }
    let share = unsafe_points as f64 / total as f64;
    eprintln!("{unsafe_points} of {total} points unsafe ({share:.3})");
    assert!((0.05..=0.95).contains(&share), "{share}");
}
