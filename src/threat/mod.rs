//! Threat models: which features an attacker controls, by how much, within which valid ranges,
//! and which prediction changes count.
//!
//! The user-facing TOML lives in [`spec`]; [`ThreatModel::resolve`] checks it against the data's
//! columns and produces per-feature budgets and ranges in column order.

pub mod spec;

use crate::data::Dataset;
use crate::error::{Error, Result};
use serde::Serialize;
use spec::ThreatSection;

/// Which prediction changes count as a successful attack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Rows whose true class is `from` must not be moved to `to` (e.g. fraud → legit).
    Evasion { from: usize, to: usize },
    /// Every row must keep its prediction.
    Any,
}

impl Target {
    /// Whether a row with this true label is in the certification target.
    pub fn covers(&self, label: usize) -> bool {
        match self {
            Target::Evasion { from, .. } => *from == label,
            Target::Any => true,
        }
    }
}

/// A threat model resolved against a data set: one entry per feature column, in column order.
#[derive(Clone, Debug, Serialize)]
pub struct ThreatModel {
    pub features: Vec<String>,
    /// Attack budget per feature in its own units; 0 for features held fixed.
    pub budgets: Vec<f64>,
    /// Valid range per feature (may be infinite when `clip = "none"`).
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub target: Target,
    pub class_names: Vec<String>,
}

impl ThreatModel {
    /// Indices of the features the attacker controls.
    pub fn mutable_indices(&self) -> Vec<usize> {
        (0..self.budgets.len())
            .filter(|&i| self.budgets[i] > 0.0)
            .collect()
    }

    /// Checks the spec's threat section against the data and resolves it.
    pub fn resolve(
        section: &ThreatSection,
        data: &Dataset,
        class_names: Option<&[String]>,
        num_classes: usize,
    ) -> Result<ThreatModel> {
        let features = data.features.clone();
        let mut budgets = vec![0.0; features.len()];
        for (name, &budget) in &section.mutable {
            let key = format!("threat.mutable.{name}");
            let i = data
                .feature_index(name)
                .ok_or_else(|| Error::spec(&key, unknown_feature(name, &features)))?;
            if budget.is_finite() && budget >= crate::numerics::F32_MAX {
                return Err(Error::spec(
                    &key,
                    format!(
                        "budget {budget} is beyond the float32 range the model computes in \
                         (largest float32: {:e})",
                        f32::MAX
                    ),
                ));
            }
            if !budget.is_finite() || budget <= 0.0 {
                return Err(Error::spec(
                    &key,
                    format!(
                        "budget {budget} must be a finite number > 0 (omit the feature to hold it fixed)"
                    ),
                ));
            }
            budgets[i] = budget;
        }
        if section.mutable.is_empty() {
            return Err(Error::spec(
                "threat.mutable",
                "no mutable features: name at least one feature the attacker controls",
            ));
        }
        for pattern in &section.immutable {
            let key = format!("threat.immutable[\"{pattern}\"]");
            let glob = glob::Pattern::new(pattern)
                .map_err(|e| Error::spec(&key, format!("not a valid glob: {e}")))?;
            let matched: Vec<usize> = (0..features.len())
                .filter(|&i| glob.matches(&features[i]))
                .collect();
            if matched.is_empty() {
                return Err(Error::spec(&key, unknown_feature(pattern, &features)));
            }
            if let Some(&i) = matched.iter().find(|&&i| budgets[i] > 0.0) {
                return Err(Error::spec(
                    &key,
                    format!(
                        "feature `{}` is listed as immutable but has a budget in threat.mutable",
                        features[i]
                    ),
                ));
            }
        }

        let (mut lower, mut upper) = match section.clip.as_str() {
            "data" => data.column_ranges().into_iter().unzip(),
            "none" => (
                vec![f64::NEG_INFINITY; features.len()],
                vec![f64::INFINITY; features.len()],
            ),
            other => {
                return Err(Error::spec(
                    "threat.clip",
                    format!(
                        "`{other}` is not one of \"data\", \"none\" (use [threat.bounds] for explicit ranges)"
                    ),
                ));
            }
        };
        for (name, &[lo, hi]) in &section.bounds {
            let key = format!("threat.bounds.{name}");
            let i = data
                .feature_index(name)
                .ok_or_else(|| Error::spec(&key, unknown_feature(name, &features)))?;
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return Err(Error::spec(
                    &key,
                    format!("[{lo}, {hi}] is not a range (need lower ≤ upper)"),
                ));
            }
            if let Some(r) = (0..data.rows()).find(|&r| {
                let v = data.row(r)[i] as f64;
                v < lo || v > hi
            }) {
                return Err(Error::spec(
                    &key,
                    format!(
                        "data row {r} has {name} = {} outside the valid range [{lo}, {hi}]",
                        data.row(r)[i]
                    ),
                ));
            }
            lower[i] = lo;
            upper[i] = hi;
        }

        let class_names: Vec<String> = match class_names {
            Some(names) => {
                if names.len() != num_classes {
                    return Err(Error::spec(
                        "data.classes",
                        format!(
                            "{} names given but the model scores {num_classes} classes",
                            names.len()
                        ),
                    ));
                }
                names.to_vec()
            }
            None if num_classes == 2 => vec!["legit".into(), "fraud".into()],
            None => (0..num_classes).map(|c| c.to_string()).collect(),
        };
        let target = parse_target(&section.target, &class_names)?;
        Ok(ThreatModel {
            features,
            budgets,
            lower,
            upper,
            target,
            class_names,
        })
    }
}

fn unknown_feature(name: &str, features: &[String]) -> String {
    let close: Vec<&str> = features
        .iter()
        .filter(|f| {
            let a = f.to_lowercase();
            let b = name.to_lowercase();
            a.contains(&b) || b.contains(&a) || a.split('_').next() == b.split('_').next()
        })
        .map(String::as_str)
        .collect();
    let hint = if close.is_empty() {
        format!("data columns are: {}", features.join(", "))
    } else {
        format!("did you mean {}?", close.join(" or "))
    };
    format!("no feature column `{name}` in the data; {hint}")
}

fn parse_target(text: &str, class_names: &[String]) -> Result<Target> {
    if text == "any" {
        return Ok(Target::Any);
    }
    let class = |s: &str| -> Option<usize> {
        let s = s.trim();
        class_names
            .iter()
            .position(|c| c == s)
            .or_else(|| s.parse().ok().filter(|&i: &usize| i < class_names.len()))
    };
    let parsed = text
        .split_once("->")
        .and_then(|(a, b)| Some((class(a)?, class(b)?)))
        .filter(|(a, b)| a != b);
    match parsed {
        Some((from, to)) => Ok(Target::Evasion { from, to }),
        None => Err(Error::spec(
            "threat.target",
            format!(
                "`{text}` is not \"any\" or \"FROM->TO\" with two different classes among {}",
                class_names.join(", ")
            ),
        )),
    }
}
