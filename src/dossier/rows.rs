//! Reading the per-row CSV files of a dossier back into result records, so that `verify` can
//! recompute every statistic from the recorded counts with the same code that produced them.

use crate::bounds::Method;
use crate::bounds::verdict::{MethodResult, RowVerdict, VerdictKind};
use crate::error::{Error, Result};
use crate::smoothing::RowCertificate;
use std::collections::HashMap;
use std::path::Path;

struct Table {
    header: HashMap<String, usize>,
    rows: Vec<Vec<String>>,
}

fn read(path: &Path) -> Result<Table> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| Error::Dossier {
            path: path.to_path_buf(),
            message: "empty file".into(),
        })?
        .split(',')
        .enumerate()
        .map(|(i, h)| (h.to_string(), i))
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    Ok(Table { header, rows })
}

impl Table {
    fn cell<'a>(
        &self,
        path: &Path,
        row: &'a [String],
        line: usize,
        column: &str,
    ) -> Result<&'a str> {
        let i = *self.header.get(column).ok_or_else(|| Error::Dossier {
            path: path.to_path_buf(),
            message: format!("missing column `{column}`"),
        })?;
        row.get(i)
            .map(String::as_str)
            .ok_or_else(|| Error::Dossier {
                path: path.to_path_buf(),
                message: format!("line {line}: too few fields"),
            })
    }

    fn parse<T: std::str::FromStr>(
        &self,
        path: &Path,
        row: &[String],
        line: usize,
        column: &str,
    ) -> Result<T> {
        let text = self.cell(path, row, line, column)?;
        text.parse().map_err(|_| Error::Dossier {
            path: path.to_path_buf(),
            message: format!("line {line}, column `{column}`: cannot read `{text}`"),
        })
    }

    fn optional<T: std::str::FromStr>(
        &self,
        path: &Path,
        row: &[String],
        line: usize,
        column: &str,
    ) -> Result<Option<T>> {
        if self.cell(path, row, line, column)?.is_empty() {
            Ok(None)
        } else {
            self.parse(path, row, line, column).map(Some)
        }
    }
}

/// Reads `smoothing_rows.csv`.
pub fn read_smoothing(path: &Path, class_names: &[String]) -> Result<Vec<RowCertificate>> {
    let t = read(path)?;
    let mut out = Vec::with_capacity(t.rows.len());
    for (k, r) in t.rows.iter().enumerate() {
        let line = k + 2;
        let counts = class_names
            .iter()
            .map(|c| t.parse::<u64>(path, r, line, &format!("count_{c}")))
            .collect::<Result<Vec<u64>>>()?;
        out.push(RowCertificate {
            index: t.parse(path, r, line, "index")?,
            label: t.parse(path, r, line, "label")?,
            base_prediction: t.parse(path, r, line, "base_prediction")?,
            top: t.parse(path, r, line, "top")?,
            prediction: t.optional(path, r, line, "prediction")?,
            counts,
            n: t.parse(path, r, line, "n")?,
            p_lower: t.optional(path, r, line, "p_lower")?,
            p_value: t.optional(path, r, line, "p_value")?,
            radius: t.optional(path, r, line, "radius")?,
            region_radius: t.parse(path, r, line, "region_radius")?,
            in_target: t.parse(path, r, line, "in_target")?,
            certified_at_budget: t.parse(path, r, line, "certified_at_budget")?,
            amount: t.optional(path, r, line, "amount")?,
        });
    }
    Ok(out)
}

fn verdict_kind(path: &Path, line: usize, text: &str) -> Result<VerdictKind> {
    Ok(match text {
        "verified" => VerdictKind::Verified,
        "falsified" => VerdictKind::Falsified,
        "unknown" => VerdictKind::Unknown,
        "not_targeted" => VerdictKind::NotTargeted,
        other => {
            return Err(Error::Dossier {
                path: path.to_path_buf(),
                message: format!("line {line}: unknown verdict `{other}`"),
            });
        }
    })
}

/// Reads `bounds_rows.csv` (counterexample inputs are checked separately).
pub fn read_bounds(path: &Path, methods: &[Method]) -> Result<Vec<RowVerdict>> {
    let t = read(path)?;
    let mut out = Vec::with_capacity(t.rows.len());
    for (k, r) in t.rows.iter().enumerate() {
        let line = k + 2;
        let verdict = verdict_kind(path, line, t.cell(path, r, line, "verdict")?)?;
        let mut results = Vec::new();
        if verdict != VerdictKind::NotTargeted {
            for &m in methods {
                if t.cell(path, r, line, &format!("margin_{}", m.name()))?
                    .is_empty()
                {
                    continue;
                }
                results.push(MethodResult {
                    method: m,
                    margin_lower: t.parse(path, r, line, &format!("margin_{}", m.name()))?,
                    verified: t.parse(path, r, line, &format!("verified_{}", m.name()))?,
                    certified_scale: t.optional(path, r, line, &format!("scale_{}", m.name()))?,
                });
            }
        }
        let verified_by = match t.cell(path, r, line, "verified_by")? {
            "" => None,
            name => methods.iter().copied().find(|m| m.name() == name),
        };
        let has_ce: bool = t.parse(path, r, line, "has_counterexample")?;
        out.push(RowVerdict {
            index: t.parse(path, r, line, "index")?,
            label: t.parse(path, r, line, "label")?,
            base_prediction: t.parse(path, r, line, "base_prediction")?,
            verdict,
            verified_by,
            methods: results,
            attack_scale: t.optional(path, r, line, "attack_scale")?,
            counterexample: has_ce.then(|| crate::attack::Counterexample {
                x: Vec::new(),
                scores: Vec::new(),
                predicted: 0,
            }),
            amount: t.optional(path, r, line, "amount")?,
        });
    }
    Ok(out)
}
