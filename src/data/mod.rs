//! Tabular data: loading a CSV into a validated feature matrix, and the synthetic generator.
//!
//! Every value is checked: a cell that does not parse as a finite number is an error naming the
//! file, line and column. Features are stored as `f32` (what the model receives through ONNX
//! Runtime); the `f32` value is also checked to be finite, since `1e39` parses as `f64` but
//! overflows `f32`.

pub mod synth;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// How to read a data file: which column is the label, which (if any) is the money at risk,
/// and which columns are identifiers rather than features.
#[derive(Clone, Debug)]
pub struct DataLayout {
    pub label: String,
    pub amount: Option<String>,
    /// Columns to read but not feed to the model (e.g. `txn_id`).
    pub ignore: Vec<String>,
}

impl Default for DataLayout {
    fn default() -> Self {
        DataLayout {
            label: "is_fraud".into(),
            amount: Some("amount".into()),
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

    /// Loads a CSV file with a header row. Labels must be non-negative integers (class indices).
    pub fn from_csv(path: &Path, layout: &DataLayout) -> Result<Dataset> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(std::io::BufReader::new(file));
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
        let feature_cols: Vec<usize> = (0..header.len())
            .filter(|&i| i != label_col && !layout.ignore.contains(&header[i]))
            .collect();
        let features: Vec<String> = feature_cols.iter().map(|&i| header[i].clone()).collect();

        let mut x = Vec::new();
        let mut labels = Vec::new();
        let mut amounts = amount_col.map(|_| Vec::new());
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
        })
    }
}
