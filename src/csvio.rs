//! The CSV conventions of every file robcert writes, so that pandas reads them with stable types,
//! and the reader `verify` uses to read them back.
//!
//! - fields are quoted when they need it (ids or class names with commas or quotes);
//! - booleans are `true` / `false`; a value that does not apply is an empty cell (pandas reads it
//!   as NaN, a nullable integer column stays integer with `dtype="Int64"`);
//! - floats are written in the shortest form that reads back to the same `f64` (`-0` as `0`,
//!   infinities as `inf` / `-inf`, which pandas parses as floats);
//! - column names are identifiers (`[a-z0-9_]`, see [`ident`]).

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// A cell value.
pub fn float(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v == f64::INFINITY {
        "inf".into()
    } else if v == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{v}")
    }
}

/// A float32 value as fed to ONNX Runtime, in the shortest form that reads back to it.
pub fn float32(v: f32) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:?}")
    }
}

pub fn opt_float(v: Option<f64>) -> String {
    v.map(float).unwrap_or_default()
}

pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// A name as an identifier: lower case, `[a-z0-9_]`, never starting with a digit.
pub fn ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'c');
    }
    s
}

/// Identifiers for a list of names, made unique by a `_<index>` suffix where two collide.
pub fn idents(names: &[String]) -> Vec<String> {
    let base: Vec<String> = names.iter().map(|n| ident(n)).collect();
    base.iter()
        .enumerate()
        .map(|(i, b)| {
            if base.iter().filter(|x| *x == b).count() > 1 {
                format!("{b}_{i}")
            } else {
                b.clone()
            }
        })
        .collect()
}

/// Builds a CSV in memory.
pub struct CsvOut {
    w: csv::Writer<Vec<u8>>,
}

impl CsvOut {
    pub fn new(header: &[String]) -> CsvOut {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(header).expect("writing to memory");
        CsvOut { w }
    }

    pub fn row(&mut self, cells: &[String]) {
        self.w.write_record(cells).expect("writing to memory");
    }

    pub fn finish(self) -> Vec<u8> {
        self.w.into_inner().expect("writing to memory")
    }
}

/// A CSV read back: header positions and records.
pub struct CsvIn {
    /// For messages.
    pub name: String,
    header: HashMap<String, usize>,
    pub columns: Vec<String>,
    pub records: Vec<csv::StringRecord>,
}

impl CsvIn {
    /// Parses CSV bytes; `name` (a file name) appears in errors.
    pub fn read(name: &str, bytes: &[u8]) -> Result<CsvIn> {
        let err = |message: String| Error::Dossier {
            path: Path::new(name).to_path_buf(),
            message,
        };
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let columns: Vec<String> = r
            .headers()
            .map_err(|e| err(e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let header = columns
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect();
        let mut records = Vec::new();
        for rec in r.records() {
            records.push(rec.map_err(|e| err(e.to_string()))?);
        }
        Ok(CsvIn {
            name: name.to_string(),
            header,
            columns,
            records,
        })
    }

    fn err(&self, message: String) -> Error {
        Error::Dossier {
            path: Path::new(&self.name).to_path_buf(),
            message,
        }
    }

    /// The text of `column` in record `i` (line `i + 2` of the file).
    pub fn cell(&self, i: usize, column: &str) -> Result<&str> {
        let c = *self
            .header
            .get(column)
            .ok_or_else(|| self.err(format!("missing column `{column}`")))?;
        self.records[i]
            .get(c)
            .ok_or_else(|| self.err(format!("line {}: too few fields", i + 2)))
    }

    pub fn parse<T: std::str::FromStr>(&self, i: usize, column: &str) -> Result<T> {
        let text = self.cell(i, column)?;
        text.parse().map_err(|_| {
            self.err(format!(
                "line {}, column `{column}`: cannot read `{text}`",
                i + 2
            ))
        })
    }

    pub fn optional<T: std::str::FromStr>(&self, i: usize, column: &str) -> Result<Option<T>> {
        if self.cell(i, column)?.is_empty() {
            Ok(None)
        } else {
            self.parse(i, column).map(Some)
        }
    }

    pub fn has(&self, column: &str) -> bool {
        self.header.contains_key(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_need_quotes_are_quoted_and_read_back() {
        let mut w = CsvOut::new(&["id".into(), "x".into()]);
        w.row(&["a,\"b\"".into(), float(-0.0)]);
        w.row(&["plain".into(), float(f64::NEG_INFINITY)]);
        let bytes = w.finish();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text, "id,x\n\"a,\"\"b\"\"\",0\nplain,-inf\n");
        let r = CsvIn::read("t.csv", &bytes).unwrap();
        assert_eq!(r.cell(0, "id").unwrap(), "a,\"b\"");
        assert_eq!(r.parse::<f64>(1, "x").unwrap(), f64::NEG_INFINITY);
    }

    #[test]
    fn identifiers_are_lower_case_alphanumeric_and_unique() {
        assert_eq!(ident("alpha-crown"), "alpha_crown");
        assert_eq!(ident("High Risk"), "high_risk");
        assert_eq!(ident("0"), "c0");
        assert_eq!(
            idents(&["a b".into(), "a-b".into(), "c".into()]),
            ["a_b_0", "a_b_1", "c"]
        );
    }
}
