//! Text → S-expressions: the SMT-LIB surface syntax shared by VNN-LIB properties and VNN-COMP
//! result files.
//!
//! Tokens are `(`, `)` and atoms (maximal runs of characters that are neither white space,
//! parentheses nor `;`). A `;` starts a comment that runs to the end of the line. An atom that
//! starts with a digit, or with `-`, `+` or `.` followed by a digit or `.`, is a number and
//! must parse as a finite `f64` (decimal or scientific notation, rounded to nearest); any other
//! atom is a symbol. Nesting deeper than [`MAX_NESTING_DEPTH`] is an error, so every later
//! recursive pass over the tree is bounded.

use super::Location;
use crate::error::{Error, Result};
use std::path::Path;

/// Deepest nesting of parentheses accepted. VNN-COMP files nest at most 5 deep; the cap keeps
/// recursion over hostile input far from the stack limit.
pub const MAX_NESTING_DEPTH: usize = 200;

/// One parsed S-expression, with the location of its first character.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sexpr<'a> {
    Number {
        value: f64,
        text: &'a str,
        at: Location,
    },
    Symbol {
        text: &'a str,
        at: Location,
    },
    /// `( ... )`; `at` is the opening parenthesis.
    List {
        items: Vec<Sexpr<'a>>,
        at: Location,
    },
}

impl<'a> Sexpr<'a> {
    pub(crate) fn at(&self) -> Location {
        match self {
            Sexpr::Number { at, .. } | Sexpr::Symbol { at, .. } | Sexpr::List { at, .. } => *at,
        }
    }

    /// The token to quote in an error message: the atom, or `(` for a list.
    pub(crate) fn token(&self) -> &'a str {
        match self {
            Sexpr::Number { text, .. } | Sexpr::Symbol { text, .. } => text,
            Sexpr::List { .. } => "(",
        }
    }
}

/// Reads every top-level S-expression of `text`; also returns the location just past the end
/// (for errors about what is missing).
pub(crate) fn read_sexprs<'a>(text: &'a str, path: &Path) -> Result<(Vec<Sexpr<'a>>, Location)> {
    let mut lexer = Lexer::new(text);
    // Lists still open, innermost last: (location of `(`, items so far).
    let mut open: Vec<(Location, Vec<Sexpr<'a>>)> = Vec::new();
    let mut top = Vec::new();
    loop {
        let Some((token, at)) = lexer.next_token() else {
            if let Some((at, _)) = open.first() {
                return Err(error(
                    path,
                    *at,
                    "(",
                    "this `(` is never closed: the file ends first (a `)` is missing in or after \
                     this expression)",
                ));
            }
            return Ok((top, lexer.location()));
        };
        let finished = match token {
            "(" => {
                if open.len() == MAX_NESTING_DEPTH {
                    return Err(error(
                        path,
                        at,
                        "(",
                        format!("expressions nest deeper than {MAX_NESTING_DEPTH} levels"),
                    ));
                }
                open.push((at, Vec::new()));
                continue;
            }
            ")" => match open.pop() {
                Some((start, items)) => Sexpr::List { items, at: start },
                None => {
                    return Err(error(path, at, ")", "unbalanced `)`: no `(` is open here"));
                }
            },
            atom => classify(atom, at, path)?,
        };
        match open.last_mut() {
            Some((_, items)) => items.push(finished),
            None => top.push(finished),
        }
    }
}

fn classify<'a>(text: &'a str, at: Location, path: &Path) -> Result<Sexpr<'a>> {
    if !looks_numeric(text) {
        return Ok(Sexpr::Symbol { text, at });
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Sexpr::Number { value, text, at }),
        Ok(_) => Err(error(
            path,
            at,
            text,
            "number out of the range of binary64 (|x| < 1.8e308)",
        )),
        Err(_) => Err(error(
            path,
            at,
            text,
            "bad number: expected a decimal such as 3, -0.5, 0.25 or 1.5e-3",
        )),
    }
}

fn looks_numeric(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('-' | '+' | '.') => matches!(chars.next(), Some(c) if c.is_ascii_digit() || c == '.'),
        _ => false,
    }
}

pub(crate) fn error(path: &Path, at: Location, token: &str, message: impl Into<String>) -> Error {
    Error::VnnLib {
        path: path.to_path_buf(),
        line: at.line,
        column: at.column,
        token: token.to_string(),
        message: message.into(),
    }
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next unread character.
    offset: usize,
    line: usize,
    column: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer {
            text,
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    fn location(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.offset..].chars().next()
    }

    fn bump(&mut self, c: char) {
        self.offset += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
    }

    /// The next token and where it starts; `None` at the end of the text.
    fn next_token(&mut self) -> Option<(&'a str, Location)> {
        while let Some(c) = self.peek() {
            if c == ';' {
                while let Some(c) = self.peek().filter(|&c| c != '\n') {
                    self.bump(c);
                }
            } else if c.is_whitespace() {
                self.bump(c);
            } else {
                break;
            }
        }
        let start = self.offset;
        let at = self.location();
        let c = self.peek()?;
        self.bump(c);
        if c != '(' && c != ')' {
            while let Some(c) = self
                .peek()
                .filter(|&c| !c.is_whitespace() && !matches!(c, '(' | ')' | ';'))
            {
                self.bump(c);
            }
        }
        Some((&self.text[start..self.offset], at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Sexpr<'_>>> {
        read_sexprs(text, Path::new("t.vnnlib")).map(|(items, _)| items)
    }

    #[test]
    fn numbers_in_decimal_and_scientific_notation_including_negative_literals() {
        for (text, value) in [
            ("3", 3.0),
            ("-0.5", -0.5),
            ("+2", 2.0),
            (".25", 0.25),
            ("-.25", -0.25),
            ("1.5e-3", 1.5e-3),
            ("-6.652082490175154e-05", -6.652082490175154e-05),
            ("2E+2", 200.0),
            ("-0.0", -0.0),
        ] {
            let items = read(text).unwrap();
            match &items[..] {
                [Sexpr::Number { value: v, .. }] => {
                    assert_eq!(v.to_bits(), f64::to_bits(value), "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_numbers_are_errors_naming_the_token() {
        for text in ["1.2.3", "1e", "-1x", "0x10", "1e999", "--1"] {
            match read(text) {
                Err(Error::VnnLib { token, .. }) if token == text => {}
                // `--1` is a symbol (not a number); anything else is a failure.
                Ok(items) if text == "--1" => {
                    assert!(matches!(items[..], [Sexpr::Symbol { .. }]))
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn comments_are_skipped_and_locations_count_lines_and_characters() {
        let items = read("; a comment (with parens\n  (assert X_0);x\n é(").unwrap_err();
        assert!(
            matches!(items, Error::VnnLib { line: 3, column: 3, ref token, .. } if token == "("),
            "{items}"
        );
        let items = read("; c\n (a b;c\n c)").unwrap();
        let Sexpr::List { items, at } = &items[0] else {
            panic!()
        };
        assert_eq!((at.line, at.column), (2, 2));
        assert_eq!(items.len(), 3);
        assert_eq!(items[2].at(), Location { line: 3, column: 2 });
    }

    #[test]
    fn unbalanced_parentheses_point_at_the_culprit() {
        let e = read("(a (b c)\n(d)").unwrap_err();
        assert!(
            matches!(
                e,
                Error::VnnLib {
                    line: 1,
                    column: 1,
                    ..
                }
            ),
            "{e}"
        );
        let e = read("(a)\n  )").unwrap_err();
        assert!(
            matches!(
                e,
                Error::VnnLib {
                    line: 2,
                    column: 3,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn nesting_is_capped() {
        let deep = "(".repeat(MAX_NESTING_DEPTH + 1);
        let e = read(&deep).unwrap_err();
        assert!(e.to_string().contains("nest deeper"), "{e}");
        let ok = format!(
            "{}{}",
            "(".repeat(MAX_NESTING_DEPTH),
            ")".repeat(MAX_NESTING_DEPTH)
        );
        assert!(read(&ok).is_ok());
    }
}
