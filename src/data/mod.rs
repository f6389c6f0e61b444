//! Tabular data: loading a CSV into a validated feature matrix, and the synthetic generator.
//!
//! Every value is checked: a cell that does not parse as a finite number is an error naming the
//! file, line and column. Features are stored as `f32` (what the model receives through ONNX
//! Runtime); the `f32` value is also checked to be finite, since `1e39` parses as `f64` but
//! overflows `f32`.

pub mod synth;

/// Longest line of a data file robcert reads (a longer one is an error, not a huge allocation).
pub const MAX_LINE_BYTES: usize = 1 << 20;

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A reader that fails once a line exceeds [`MAX_LINE_BYTES`].
struct LineCapped<R> {
    inner: R,
    line: usize,
    path: PathBuf,
}

impl<R: std::io::BufRead> std::io::Read for LineCapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.inner.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.inner.consume(n);
        for &b in &buf[..n] {
            if b == b'\n' {
                self.line = 0;
            } else {
                self.line += 1;
                if self.line > MAX_LINE_BYTES {
                    return Err(std::io::Error::other(format!(
                        "{}: a line is longer than {MAX_LINE_BYTES} bytes",
                        self.path.display()
                    )));
                }
            }
        }
        Ok(n)
    }
}

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// How to read a data file: the model's features (matched to columns **by header name**, in the
/// model's order), the label, the money at risk (if any), the row identifier (if any) and the
/// other columns to skip.
#[derive(Clone, Debug)]
pub struct DataLayout {
    /// The model's input features in input order. Columns are found by name, so any column
    /// order in the file gives the same rows; a missing feature or a column that is none of the
    /// named ones is an error naming it. `None` takes every column that is not the label, the id
    /// or ignored, in file order (for generic tables, not for certification).
    pub features: Option<Vec<String>>,
    pub label: String,
    pub amount: Option<String>,
    /// Column identifying each row (e.g. `txn_id`), carried into every output.
    pub id: Option<String>,
    /// Columns to read but not feed to the model.
    pub ignore: Vec<String>,
}

impl Default for DataLayout {
    fn default() -> Self {
        DataLayout {
            features: None,
            label: "is_fraud".into(),
            amount: Some("amount".into()),
            id: None,
            ignore: vec!["txn_id".into()],
        }
    }
}

/// A validated table: `x` is row-major `rows × features.len()`.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub path: PathBuf,
    pub features: Vec<String>,
    pub x: Vec<f32>,
    pub labels: Vec<usize>,
    /// Money at risk per row, in the data's currency (from the `amount` column, if any).
    pub amounts: Option<Vec<f64>>,
    /// Row identifiers (from the `id` column, if any), as written in the file.
    pub ids: Option<Vec<String>>,
}

impl Dataset {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    pub fn width(&self) -> usize {
        self.features.len()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        let w = self.width();
        &self.x[i * w..(i + 1) * w]
    }

    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f == name)
    }

    /// Observed minimum and maximum of every feature column.
    pub fn column_ranges(&self) -> Vec<(f64, f64)> {
        let w = self.width();
        let mut ranges = vec![(f64::INFINITY, f64::NEG_INFINITY); w];
        for row in self.x.chunks_exact(w) {
            for (r, &v) in ranges.iter_mut().zip(row) {
                r.0 = r.0.min(v as f64);
                r.1 = r.1.max(v as f64);
            }
        }
        ranges
    }

    /// The identifier of row `i` (its id column, else its 0-based index).
    pub fn id(&self, i: usize) -> String {
        match &self.ids {
            Some(ids) => ids[i].clone(),
            None => i.to_string(),
        }
    }

    /// Loads a CSV file with a header row. Labels must be non-negative integers (class indices).
    /// Special files are refused and lines are capped at [`MAX_LINE_BYTES`].
    pub fn from_csv(path: &Path, layout: &DataLayout) -> Result<Dataset> {
        let file = crate::util::open_regular(path, crate::util::MAX_DATA_BYTES)?;
        let file = LineCapped {
            inner: std::io::BufReader::new(file),
            line: 0,
            path: path.to_path_buf(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(file);
        let csv_err = |e: csv::Error| Error::Csv {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let header: Vec<String> = reader
            .headers()
            .map_err(csv_err)?
            .iter()
            .map(str::to_string)
            .collect();
        if header.is_empty() || header.iter().all(|h| h.is_empty()) {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                message: "the file is empty or has no header row".into(),
            });
        }
        let find = |name: &str| -> Result<usize> {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| Error::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.to_string(),
                    available: header.join(", "),
                })
        };
        let label_col = find(&layout.label)?;
        let amount_col = layout.amount.as_deref().map(find).transpose()?;
        let id_col = layout.id.as_deref().map(find).transpose()?;
        if let Some(dup) = (0..header.len()).find(|&i| header[..i].contains(&header[i])) {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                message: format!("column `{}` appears twice in the header", header[dup]),
            });
        }
        let feature_cols: Vec<usize> = match &layout.features {
            Some(names) => {
                let missing: Vec<&str> = names
                    .iter()
                    .filter(|n| !header.contains(n))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::ColumnsMismatch {
                        path: path.to_path_buf(),
                        message: format!(
                            "the model's feature(s) {} are not columns of the file",
                            quoted(&missing)
                        ),
                    });
                }
                let known = |h: &String| {
                    names.contains(h)
                        || *h == layout.label
                        || layout.amount.as_ref() == Some(h)
                        || layout.id.as_ref() == Some(h)
                        || layout.ignore.contains(h)
                };
                let unexpected: Vec<&str> = header
                    .iter()
                    .filter(|h| !known(h))
                    .map(String::as_str)
                    .collect();
                if !unexpected.is_empty() {
                    return Err(Error::ColumnsMismatch {
                        path: path.to_path_buf(),
                        message: format!(
                            "column(s) {} are not features of the model, the label, the amount \
                             or the id; list them under [data] ignore if they are not model inputs",
                            quoted(&unexpected)
                        ),
                    });
                }
                names
                    .iter()
                    .map(|n| header.iter().position(|h| h == n).expect("checked above"))
                    .collect()
            }
            None => (0..header.len())
                .filter(|&i| {
                    i != label_col && Some(i) != id_col && !layout.ignore.contains(&header[i])
                })
                .collect(),
        };
        if feature_cols.contains(&label_col) || id_col.is_some_and(|c| feature_cols.contains(&c)) {
            return Err(Error::ColumnsMismatch {
                path: path.to_path_buf(),
                message: "the label and id columns cannot also be model features".into(),
            });
        }
        let features: Vec<String> = feature_cols.iter().map(|&i| header[i].clone()).collect();

        let mut x = Vec::new();
        let mut labels = Vec::new();
        let mut amounts = amount_col.map(|_| Vec::new());
        let mut ids = id_col.map(|_| Vec::new());
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(csv_err(e)),
            }
            let line = record.position().map_or(0, |p| p.line());
            if record.len() == 1 && record.get(0) == Some("") {
                continue; // blank line
            }
            if record.len() != header.len() {
                return Err(Error::RowWidth {
                    path: path.to_path_buf(),
                    line,
                    expected: header.len(),
                    found: record.len(),
                });
            }
            let value = |col: usize| -> Result<f64> {
                let text = &record[col];
                let bad = |message: String| Error::BadValue {
                    path: path.to_path_buf(),
                    line,
                    column: header[col].clone(),
                    message,
                };
                let v: f64 = text
                    .parse()
                    .map_err(|_| bad(format!("`{text}` is not a number")))?;
                if !v.is_finite() || !(v as f32).is_finite() {
                    return Err(bad(format!(
                        "`{text}` is not a finite number representable as float32"
                    )));
                }
                Ok(v)
            };
            for &c in &feature_cols {
                x.push(value(c)? as f32);
            }
            let label = value(label_col)?;
            if label < 0.0 || label.fract() != 0.0 || label > u32::MAX as f64 {
                return Err(Error::BadValue {
                    path: path.to_path_buf(),
                    line,
                    column: header[label_col].clone(),
                    message: format!("label `{label}` is not a class index (0, 1, ...)"),
                });
            }
            labels.push(label as usize);
            if let (Some(c), Some(a)) = (amount_col, amounts.as_mut()) {
                a.push(value(c)?);
            }
            if let (Some(c), Some(v)) = (id_col, ids.as_mut()) {
                v.push(record[c].to_string());
            }
        }
        if labels.is_empty() {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                message: "the file has a header but no data rows".into(),
            });
        }
        Ok(Dataset {
            path: path.to_path_buf(),
            features,
            x,
            labels,
            amounts,
            ids,
        })
    }
}
