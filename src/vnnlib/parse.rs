//! S-expressions → the formula tree of a VNN-LIB file: declarations checked, variables
//! resolved, operators checked for the supported subset. No arithmetic happens here; the tree
//! keeps the terms as written so that [`super::normal`] and the reference evaluator in the
//! tests work from the same source.

use super::Location;
use super::lexer::{Sexpr, error, read_sexprs};
use crate::error::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// A declared variable: input `X_i` or output `Y_j`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Var {
    X(usize),
    Y(usize),
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Var::X(i) => write!(f, "X_{i}"),
            Var::Y(j) => write!(f, "Y_{j}"),
        }
    }
}

/// An arithmetic operator of a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TermOp {
    /// `(+ a b ...)`.
    Add,
    /// `(- a)` is negation, `(- a b c)` is `a − b − c`.
    Sub,
    /// `(* a b ...)`; linear only when at most one factor contains a variable.
    Mul,
}

impl TermOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            TermOp::Add => "+",
            TermOp::Sub => "-",
            TermOp::Mul => "*",
        }
    }
}

/// A term as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Term {
    Number(f64),
    Var(Var),
    /// `at` is the operator token.
    Apply {
        op: TermOp,
        args: Vec<Term>,
        at: Location,
    },
}

/// A comparison operator as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comparator {
    Le,
    Lt,
    Ge,
    Gt,
}

impl Comparator {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Comparator::Le => "<=",
            Comparator::Lt => "<",
            Comparator::Ge => ">=",
            Comparator::Gt => ">",
        }
    }
}

/// `(op lhs rhs)`; `at` is the operator token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Comparison {
    pub op: Comparator,
    pub lhs: Term,
    pub rhs: Term,
    pub at: Location,
}

/// A formula; the children of `and` and `or` are non-empty, and their location is the
/// operator token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Formula {
    And(Vec<Formula>, Location),
    Or(Vec<Formula>, Location),
    Compare(Comparison),
}

/// `(assert formula)`; `at` is the `assert` token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Assertion {
    pub formula: Formula,
    pub at: Location,
}

/// A parsed file: the variables are exactly `X_0..X_{n-1}` and `Y_0..Y_{m-1}`, every one
/// declared once, and the assertions mention only declared variables.
#[derive(Clone, Debug)]
pub(crate) struct ParsedFile {
    /// Where each `X_i` is declared (its name token), by index.
    pub inputs: Vec<Location>,
    /// Where each `Y_j` is declared, by index.
    pub outputs: Vec<Location>,
    /// The assertions, in file order; the property is their conjunction.
    pub assertions: Vec<Assertion>,
}

pub(crate) fn parse(text: &str, path: &Path) -> Result<ParsedFile> {
    let (commands, end) = read_sexprs(text, path)?;
    if commands.is_empty() {
        return Err(error(
            path,
            end,
            "",
            "empty property: no declarations or assertions (VNN-LIB expects \
             `(declare-const X_0 Real)` ... and `(assert ...)`)",
        ));
    }
    let mut parser = Parser {
        path,
        inputs: BTreeMap::new(),
        outputs: BTreeMap::new(),
    };
    let mut assertions = Vec::new();
    for command in &commands {
        let Sexpr::List { items, at } = command else {
            return Err(error(
                path,
                command.at(),
                command.token(),
                "expected a command `(declare-const ...)` or `(assert ...)`",
            ));
        };
        match items.first() {
            Some(Sexpr::Symbol {
                text: "declare-const",
                ..
            }) => parser.declare(&items[1..], *at)?,
            Some(Sexpr::Symbol {
                text: "assert",
                at: assert_at,
            }) => {
                let [formula] = &items[1..] else {
                    return Err(error(
                        path,
                        *assert_at,
                        "assert",
                        format!("`assert` takes one formula, found {}", items.len() - 1),
                    ));
                };
                assertions.push(Assertion {
                    formula: parser.formula(formula)?,
                    at: *assert_at,
                });
            }
            Some(head) => {
                return Err(error(
                    path,
                    head.at(),
                    head.token(),
                    "unknown command: robcert reads `declare-const` and `assert` only",
                ));
            }
            None => return Err(error(path, *at, "(", "empty command `()`")),
        }
    }
    let inputs = parser.contiguous('X', &parser.inputs, end)?;
    let outputs = parser.contiguous('Y', &parser.outputs, end)?;
    Ok(ParsedFile {
        inputs,
        outputs,
        assertions,
    })
}

struct Parser<'p> {
    path: &'p Path,
    /// Declared inputs and outputs by index, with the location of the name.
    inputs: BTreeMap<usize, Location>,
    outputs: BTreeMap<usize, Location>,
}

impl Parser<'_> {
    fn declare(&mut self, args: &[Sexpr], at: Location) -> Result<()> {
        let [name, sort] = args else {
            return Err(error(
                self.path,
                at,
                "declare-const",
                "expected `(declare-const NAME Real)`",
            ));
        };
        let Some(var) = variable_name(name.token()) else {
            return Err(error(
                self.path,
                name.at(),
                name.token(),
                "unsupported variable name: VNN-LIB inputs are X_0, X_1, ... and outputs Y_0, \
                 Y_1, ...",
            ));
        };
        if !matches!(sort, Sexpr::Symbol { text: "Real", .. }) {
            return Err(error(
                self.path,
                sort.at(),
                sort.token(),
                format!("{var} must be declared `Real`"),
            ));
        }
        let (table, index) = match var {
            Var::X(i) => (&mut self.inputs, i),
            Var::Y(j) => (&mut self.outputs, j),
        };
        if let Some(first) = table.insert(index, name.at()) {
            return Err(error(
                self.path,
                name.at(),
                name.token(),
                format!(
                    "{var} is already declared at line {}, column {}",
                    first.line, first.column
                ),
            ));
        }
        Ok(())
    }

    /// The declaration locations in index order, if the indices are exactly `0..n` with n ≥ 1.
    fn contiguous(
        &self,
        prefix: char,
        table: &BTreeMap<usize, Location>,
        end: Location,
    ) -> Result<Vec<Location>> {
        let kind = if prefix == 'X' { "inputs" } else { "outputs" };
        if table.is_empty() {
            return Err(error(
                self.path,
                end,
                "",
                format!("no {kind} declared: expected `(declare-const {prefix}_0 Real)` ..."),
            ));
        }
        for (expected, (&index, &at)) in table.iter().enumerate() {
            if index != expected {
                return Err(error(
                    self.path,
                    at,
                    &format!("{prefix}_{index}"),
                    format!(
                        "{prefix}_{index} is declared but {prefix}_{expected} is not: {kind} must \
                         be numbered {prefix}_0, {prefix}_1, ... without gaps"
                    ),
                ));
            }
        }
        Ok(table.values().copied().collect())
    }

    fn formula(&self, sexpr: &Sexpr) -> Result<Formula> {
        let Sexpr::List { items, at } = sexpr else {
            return Err(error(
                self.path,
                sexpr.at(),
                sexpr.token(),
                "expected a formula: a comparison `(<= a b)` or `(and ...)` / `(or ...)`",
            ));
        };
        let Some(Sexpr::Symbol {
            text: head,
            at: head_at,
        }) = items.first()
        else {
            return Err(error(
                self.path,
                items.first().map_or(*at, Sexpr::at),
                items.first().map_or("(", Sexpr::token),
                "expected an operator such as `and`, `or`, `<=` or `>=`",
            ));
        };
        let args = &items[1..];
        let comparator = match *head {
            "and" | "or" => {
                if args.is_empty() {
                    return Err(error(
                        self.path,
                        *head_at,
                        head,
                        format!("`{head}` needs at least one argument"),
                    ));
                }
                let children = args
                    .iter()
                    .map(|a| self.formula(a))
                    .collect::<Result<Vec<_>>>()?;
                return Ok(if *head == "and" {
                    Formula::And(children, *head_at)
                } else {
                    Formula::Or(children, *head_at)
                });
            }
            "<=" => Comparator::Le,
            "<" => Comparator::Lt,
            ">=" => Comparator::Ge,
            ">" => Comparator::Gt,
            "=" => {
                return Err(error(
                    self.path,
                    *head_at,
                    head,
                    "`=` is not supported (no VNN-COMP benchmark uses it): write \
                     `(and (<= a b) (>= a b))`",
                ));
            }
            "not" | "=>" | "xor" | "ite" | "distinct" => {
                return Err(error(
                    self.path,
                    *head_at,
                    head,
                    "unsupported operator: robcert reads `and`, `or` and comparisons `<=`, `<`, \
                     `>=`, `>` of linear terms",
                ));
            }
            _ => {
                return Err(error(
                    self.path,
                    *head_at,
                    head,
                    "unknown operator in a formula: expected `and`, `or`, `<=`, `<`, `>=` or `>`",
                ));
            }
        };
        let [lhs, rhs] = args else {
            return Err(error(
                self.path,
                *head_at,
                head,
                format!(
                    "`{head}` compares exactly two terms, found {} (chained comparisons are not \
                     supported)",
                    args.len()
                ),
            ));
        };
        Ok(Formula::Compare(Comparison {
            op: comparator,
            lhs: self.term(lhs)?,
            rhs: self.term(rhs)?,
            at: *head_at,
        }))
    }

    fn term(&self, sexpr: &Sexpr) -> Result<Term> {
        match sexpr {
            Sexpr::Number { value, .. } => Ok(Term::Number(*value)),
            Sexpr::Symbol { text, at } => {
                let declared = variable_name(text).filter(|var| match *var {
                    Var::X(i) => self.inputs.contains_key(&i),
                    Var::Y(j) => self.outputs.contains_key(&j),
                });
                declared.map(Term::Var).ok_or_else(|| {
                    error(
                        self.path,
                        *at,
                        text,
                        format!(
                            "undeclared variable `{text}` (declare it first with \
                             `(declare-const {text} Real)`)"
                        ),
                    )
                })
            }
            Sexpr::List { items, at } => {
                let Some(Sexpr::Symbol {
                    text: head,
                    at: head_at,
                }) = items.first()
                else {
                    return Err(error(
                        self.path,
                        items.first().map_or(*at, Sexpr::at),
                        items.first().map_or("(", Sexpr::token),
                        "expected an arithmetic operator `+`, `-` or `*`",
                    ));
                };
                let op = match *head {
                    "+" => TermOp::Add,
                    "-" => TermOp::Sub,
                    "*" => TermOp::Mul,
                    "/" => {
                        return Err(error(
                            self.path,
                            *head_at,
                            head,
                            "division is not supported: write the quotient as a constant",
                        ));
                    }
                    _ => {
                        return Err(error(
                            self.path,
                            *head_at,
                            head,
                            "unknown operator in a term: expected `+`, `-` or `*`",
                        ));
                    }
                };
                if items.len() < 2 {
                    return Err(error(
                        self.path,
                        *head_at,
                        head,
                        format!("`{head}` needs at least one argument"),
                    ));
                }
                let args = items[1..]
                    .iter()
                    .map(|a| self.term(a))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Term::Apply {
                    op,
                    args,
                    at: *head_at,
                })
            }
        }
    }
}

/// `X_<i>` or `Y_<j>` with a canonical decimal index (no sign, no leading zeros).
pub(crate) fn variable_name(text: &str) -> Option<Var> {
    let (make, digits): (fn(usize) -> Var, &str) = if let Some(d) = text.strip_prefix("X_") {
        (Var::X, d)
    } else if let Some(d) = text.strip_prefix("Y_") {
        (Var::Y, d)
    } else {
        return None;
    };
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    digits.parse().ok().map(make)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_need_a_canonical_index() {
        assert_eq!(variable_name("X_0"), Some(Var::X(0)));
        assert_eq!(variable_name("Y_12"), Some(Var::Y(12)));
        for bad in [
            "X_",
            "X_01",
            "X_-1",
            "X_+1",
            "x_0",
            "Z_0",
            "X_1a",
            "X_99999999999999999999999",
        ] {
            assert_eq!(variable_name(bad), None, "{bad}");
        }
    }
}
