//! VNN-LIB 1.0 properties, the format of the VNN-COMP competition, and its result files.
//!
//! ```no_run
//! # fn main() -> robcert::Result<()> {
//! use std::path::Path;
//! let property = robcert::vnnlib::parse_file(Path::new("prop_6.vnnlib"))?;
//! property.check_dimensions(5, 5)?;
//! for group in &property.groups {
//!     // To prove: no x in `group.input` has outputs satisfying one of `group.outputs`.
//!     println!("{} output case(s) on {:?}", group.outputs.len(), group.input);
//! }
//! # Ok(()) }
//! ```
//!
//! **Semantics.** The assertions describe the *unsafe* set: the property is violated (*sat*,
//! a counterexample exists) iff some input satisfying the input constraints has network outputs
//! satisfying the output constraints; it holds (*unsat*) otherwise. [`Property`] is the
//! conjunction of all assertions in disjunctive normal form, grouped by input box.
//!
//! **Supported subset** (everything the public VNN-COMP benchmarks use, and a little more):
//! - `(declare-const X_i Real)` and `(declare-const Y_j Real)`, numbered from 0 without gaps,
//!   each declared once, before use;
//! - `(assert F)` where `F` is `(and F ...)`, `(or F ...)` or a comparison `(<= a b)`,
//!   `(< a b)`, `(>= a b)`, `(> a b)` of linear terms: numbers (`3`, `-0.5`, `1.5e-3`),
//!   variables, `(+ a ...)`, `(- a)`, `(- a b ...)`, `(* c a)` with at most one factor
//!   containing a variable;
//! - comments from `;` to the end of the line.
//!
//! After moving every term to one side, an input comparison must bound a single `X_i` by a
//! constant and an output comparison must involve only `Y` variables; in every disjunct of the
//! normal form every `X_i` must be bounded from below and above.
//!
//! **Numbers are never rounded by robcert.** A literal denotes its nearest binary64 value (as in
//! every tool); combining constants (`(+ X_0 0.1)` against `0.3`, or a bound `(<= (* 3 X_0) 1)`)
//! must be exact in binary64, otherwise the file is refused with an error asking for the
//! combined constant. Counterexample checks ([`Property::is_counterexample`]) are exact too.
//!
//! **Errors** are [`crate::Error::VnnLib`] with the file, line, column and offending token:
//! unbalanced parentheses, undeclared, redeclared or gap-numbered variables, non-linear terms,
//! comparisons mixing X and Y, unknown or unsupported operators (`=`, `not`, `/`), bad numbers,
//! empty files, unbounded inputs, and normal forms larger than [`MAX_DISJUNCTS`]. A property
//! whose variable counts do not match a network fails [`Property::check_dimensions`] with
//! [`crate::Error::VnnLibDimensions`]. No input makes the parser panic.
//!
//! Result files: [`Answer`], [`render_answer`] and [`parse_answer`].

mod exact;
mod lexer;
mod linear;
mod normal;
mod parse;
mod property;
mod result;

#[cfg(test)]
mod reference;

pub use lexer::MAX_NESTING_DEPTH;
pub use normal::{MAX_DISJUNCTS, MAX_DNF_ATOMS};
pub use property::{Bound, BoxGroup, InputBox, OutputConstraint, Property, Relation};
pub use result::{Answer, Assignment, parse_answer, render_answer};

use crate::error::{Error, Result};
use std::path::Path;

/// 1-based line and column (in characters) in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub line: usize,
    pub column: usize,
}

/// Reads and parses a VNN-LIB file (UTF-8 text).
pub fn parse_file(path: &Path) -> Result<Property> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match String::from_utf8(bytes) {
        Ok(text) => parse_str(&text, path),
        Err(e) => {
            let valid_up_to = e.utf8_error().valid_up_to();
            let bad_byte = e.as_bytes().get(valid_up_to);
            let text = String::from_utf8_lossy(&e.as_bytes()[..valid_up_to]);
            let line = text.matches('\n').count() + 1;
            let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Err(Error::VnnLib {
                path: path.to_path_buf(),
                line,
                column,
                token: bad_byte.map_or(String::new(), |b| format!("\\x{b:02x}")),
                message: "the file is not UTF-8 text".to_string(),
            })
        }
    }
}

/// Parses VNN-LIB text; `path` names the source in error messages.
pub fn parse_str(text: &str, path: &Path) -> Result<Property> {
    let file = parse::parse(text, path)?;
    normal::normalize(&file, path)
}
