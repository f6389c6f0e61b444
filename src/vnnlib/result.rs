//! VNN-COMP result files (see [`Answer`]).

use super::Location;
use super::lexer::{Sexpr, error, read_sexprs};
use super::parse::{Var, variable_name};
use crate::error::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// A verifier's answer on one instance, in the competition's words: `Sat` means the property
/// is violated (the assignment is a counterexample), `Unsat` means it holds.
///
/// The result file holds `unsat`, `timeout`, `unknown`, or `sat` followed by the
/// counterexample as an S-expression of `(name value)` pairs, inputs then outputs:
///
/// ```text
/// sat
/// ((X_0 0.6000000238418579)
///  (X_1 -0.5)
///  (Y_0 -0.017221599817276))
/// ```
///
/// Values are written in Rust's shortest round-trip form of the `f64`, so reading them back
/// gives the same bits. Networks run in float32: store the `f64` of the float32 value the
/// network actually received ([`Assignment::from_f32`]), never a decimal that rounds to it,
/// so that the input box is checked on the very point that was evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Sat(Assignment),
    Unsat,
    Timeout,
    Unknown,
}

/// Values of `X_0..X_{n-1}` and `Y_0..Y_{m-1}`; finite values only (a non-finite value is
/// rendered as `NaN`/`inf`, which [`parse_answer`] refuses).
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub inputs: Vec<f64>,
    pub outputs: Vec<f64>,
}

impl Assignment {
    /// The assignment of a float32 network's input and output, widened exactly to `f64`.
    pub fn from_f32(inputs: &[f32], outputs: &[f32]) -> Self {
        Assignment {
            inputs: inputs.iter().map(|&v| f64::from(v)).collect(),
            outputs: outputs.iter().map(|&v| f64::from(v)).collect(),
        }
    }
}

/// The result file text of `answer` (ends with a newline).
pub fn render_answer(answer: &Answer) -> String {
    let assignment = match answer {
        Answer::Unsat => return "unsat\n".to_string(),
        Answer::Timeout => return "timeout\n".to_string(),
        Answer::Unknown => return "unknown\n".to_string(),
        Answer::Sat(assignment) => assignment,
    };
    let pairs: Vec<String> = assignment
        .inputs
        .iter()
        .enumerate()
        .map(|(i, v)| format!("(X_{i} {v:?})"))
        .chain(
            assignment
                .outputs
                .iter()
                .enumerate()
                .map(|(j, v)| format!("(Y_{j} {v:?})")),
        )
        .collect();
    let mut text = String::from("sat\n(");
    for (k, pair) in pairs.iter().enumerate() {
        if k > 0 {
            text.push_str("\n ");
        }
        text.push_str(pair);
    }
    text.push_str(")\n");
    text
}

/// Reads a result file; `path` is used in error messages. The assignment may list its pairs in
/// any order, but every `X_i` and `Y_j` from 0 up must appear exactly once.
pub fn parse_answer(text: &str, path: &Path) -> Result<Answer> {
    let (items, end) = read_sexprs(text, path)?;
    let Some(first) = items.first() else {
        return Err(error(path, end, "", "empty result file"));
    };
    let word = match first {
        Sexpr::Symbol { text, .. } => *text,
        _ => "",
    };
    let answer = match word {
        "unsat" => Answer::Unsat,
        "timeout" => Answer::Timeout,
        "unknown" => Answer::Unknown,
        "sat" => {
            let Some(assignment) = items.get(1) else {
                return Err(error(
                    path,
                    end,
                    "",
                    "`sat` must be followed by the counterexample ((X_0 v) ... (Y_0 v) ...)",
                ));
            };
            Answer::Sat(read_assignment(assignment, path)?)
        }
        _ => {
            return Err(error(
                path,
                first.at(),
                first.token(),
                "expected `sat`, `unsat`, `timeout` or `unknown`",
            ));
        }
    };
    let extra_from = if matches!(answer, Answer::Sat(_)) {
        2
    } else {
        1
    };
    if let Some(extra) = items.get(extra_from) {
        return Err(error(
            path,
            extra.at(),
            extra.token(),
            format!("unexpected text after `{word}`"),
        ));
    }
    Ok(answer)
}

fn read_assignment(sexpr: &Sexpr, path: &Path) -> Result<Assignment> {
    let Sexpr::List { items, .. } = sexpr else {
        return Err(error(
            path,
            sexpr.at(),
            sexpr.token(),
            "expected the counterexample ((X_0 v) ... (Y_0 v) ...)",
        ));
    };
    let mut inputs = BTreeMap::new();
    let mut outputs = BTreeMap::new();
    for pair in items {
        let (var, value, at) = match pair {
            Sexpr::List { items, .. } => match &items[..] {
                [Sexpr::Symbol { text, at }, Sexpr::Number { value, .. }] => {
                    match variable_name(text) {
                        Some(var) => (var, *value, *at),
                        None => {
                            return Err(error(
                                path,
                                *at,
                                text,
                                "expected a variable X_<i> or Y_<j>",
                            ));
                        }
                    }
                }
                _ => {
                    return Err(error(
                        path,
                        pair.at(),
                        "(",
                        "expected a pair (NAME VALUE) such as (X_0 0.5)",
                    ));
                }
            },
            _ => {
                return Err(error(
                    path,
                    pair.at(),
                    pair.token(),
                    "expected a pair (NAME VALUE) such as (X_0 0.5)",
                ));
            }
        };
        let (table, index) = match var {
            Var::X(i) => (&mut inputs, i),
            Var::Y(j) => (&mut outputs, j),
        };
        if table.insert(index, (value, at)).is_some() {
            return Err(error(
                path,
                at,
                &var.to_string(),
                format!("{var} is assigned twice"),
            ));
        }
    }
    Ok(Assignment {
        inputs: contiguous('X', inputs, path)?,
        outputs: contiguous('Y', outputs, path)?,
    })
}

fn contiguous(
    prefix: char,
    table: BTreeMap<usize, (f64, Location)>,
    path: &Path,
) -> Result<Vec<f64>> {
    table
        .into_iter()
        .enumerate()
        .map(|(expected, (index, (value, at)))| {
            if index == expected {
                Ok(value)
            } else {
                Err(error(
                    path,
                    at,
                    &format!("{prefix}_{index}"),
                    format!("{prefix}_{index} is assigned but {prefix}_{expected} is not"),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<Answer> {
        parse_answer(text, Path::new("result.txt"))
    }

    #[test]
    fn renders_the_competition_format() {
        let answer = Answer::Sat(Assignment::from_f32(&[0.6, -0.5], &[1e-7]));
        assert_eq!(
            render_answer(&answer),
            "sat\n((X_0 0.6000000238418579)\n (X_1 -0.5)\n (Y_0 1.0000000116860974e-7))\n"
        );
        assert_eq!(render_answer(&Answer::Unsat), "unsat\n");
        assert_eq!(render_answer(&Answer::Timeout), "timeout\n");
        assert_eq!(render_answer(&Answer::Unknown), "unknown\n");
    }

    #[test]
    fn reads_other_tools_layouts() {
        let text = "sat\n(\n(X_1 2)\n(X_0   -1.5e-3)\n(Y_0 4.994482040405273)  )\n";
        assert_eq!(
            parse(text).unwrap(),
            Answer::Sat(Assignment {
                inputs: vec![-1.5e-3, 2.0],
                outputs: vec![4.994482040405273],
            })
        );
        assert_eq!(parse("  unsat \n").unwrap(), Answer::Unsat);
    }

    #[test]
    fn malformed_results_are_errors_with_a_location() {
        for (text, needle) in [
            ("", "empty result file"),
            ("holds", "expected `sat`"),
            ("sat", "must be followed"),
            ("sat ((X_0 1) (X_0 2) (Y_0 1))", "assigned twice"),
            ("sat ((X_0 1) (X_2 2) (Y_0 1))", "X_1 is not"),
            ("sat ((X_0 1 2))", "expected a pair"),
            ("sat ((Z_0 1))", "expected a variable"),
            ("sat ((X_0 NaN))", "expected a pair"),
            ("sat ((X_0 1)", "never closed"),
            ("unsat\nsat", "unexpected text"),
        ] {
            match parse(text) {
                Err(e @ Error::VnnLib { .. }) => {
                    assert!(e.to_string().contains(needle), "{text:?}: {e}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    fn finite() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
            any::<f32>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(f64::from),
            Just(-0.0),
            Just(f64::MIN_POSITIVE / 3.0),
        ]
    }

    proptest! {
        /// Rendering then parsing gives back every value bit for bit.
        #[test]
        fn answers_round_trip_exactly(
            inputs in proptest::collection::vec(finite(), 0..12),
            outputs in proptest::collection::vec(finite(), 0..12),
        ) {
            let answer = Answer::Sat(Assignment { inputs, outputs });
            let back = parse(&render_answer(&answer)).unwrap();
            let (Answer::Sat(a), Answer::Sat(b)) = (&answer, &back) else {
                panic!("{back:?}")
            };
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&a.inputs), bits(&b.inputs));
            prop_assert_eq!(bits(&a.outputs), bits(&b.outputs));
        }
    }
}
