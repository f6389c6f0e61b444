//! Threat models: which features an attacker controls, by how much, within which valid ranges,
//! and which prediction changes count.
//!
//! The user-facing TOML lives in [`spec`]; [`ThreatModel::resolve`] checks it against the data's
//! columns and produces per-feature budgets and ranges in column order.

pub mod constraints;
pub mod spec;

pub use constraints::Constraints;

use crate::data::Dataset;
use crate::error::{Error, Result};
use serde::Serialize;
use spec::ThreatSection;

/// Which prediction changes count as a successful attack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatModel {
    pub features: Vec<String>,
    /// Attack budget per feature in its own units; 0 for features held fixed.
    pub budgets: Vec<f64>,
    /// Valid range per feature (infinite when `clip = "none"`; written as `null` in JSON).
    #[serde(with = "crate::util::serde_nonfinite")]
    pub lower: Vec<f64>,
    #[serde(with = "crate::util::serde_nonfinite")]
    pub upper: Vec<f64>,
    pub target: Target,
    pub class_names: Vec<String>,
    /// Integer features, one-hot groups and linear relations the valid rows satisfy.
    pub constraints: Constraints,
}

impl ThreatModel {
    /// Indices of the features the attacker controls by a numeric budget.
    pub fn mutable_indices(&self) -> Vec<usize> {
        (0..self.budgets.len())
            .filter(|&i| self.budgets[i] > 0.0)
            .collect()
    }

    /// Per feature: whether the attacker may change it (a numeric budget, or a member of a
    /// switchable one-hot group).
    pub fn movable(&self) -> Vec<bool> {
        let mut m: Vec<bool> = self.budgets.iter().map(|&b| b > 0.0).collect();
        for g in self.constraints.one_hot.iter().filter(|g| g.switchable) {
            for &i in &g.members {
                m[i] = true;
            }
        }
        m
    }

    /// Checks the spec's threat section against the data and resolves it.
    pub fn resolve(
        section: &ThreatSection,
        data: &Dataset,
        class_names: Option<&[String]>,
        num_classes: usize,
    ) -> Result<ThreatModel> {
        let ranges = (section.clip == "data").then(|| data.column_ranges());
        let threat = Self::from_spec(section, &data.features, ranges, class_names, num_classes)?;
        for (name, &[lo, hi]) in &section.bounds {
            let i = data.feature_index(name).expect("checked by from_spec");
            if let Some(r) = (0..data.rows()).find(|&r| {
                let v = data.row(r)[i] as f64;
                v < lo || v > hi
            }) {
                return Err(Error::spec(
                    format!("threat.bounds.{name}"),
                    format!(
                        "data row {r} has {name} = {} outside the valid range [{lo}, {hi}]",
                        data.row(r)[i]
                    ),
                ));
            }
        }
        for r in 0..data.rows() {
            if let Some(why) = threat.constraints.violation(data.row(r), &data.features) {
                return Err(Error::spec(
                    "threat",
                    format!(
                        "data row {r} (line {}) violates a declared constraint: {why}",
                        r + 2
                    ),
                ));
            }
        }
        Ok(threat)
    }

    /// Resolves the spec's threat section against the model's features. `data_ranges` are the
    /// observed ranges for `clip = "data"`; without them (a check that has no data) those ranges
    /// are NaN, meaning "not known here".
    pub fn from_spec(
        section: &ThreatSection,
        features: &[String],
        data_ranges: Option<Vec<(f64, f64)>>,
        class_names: Option<&[String]>,
        num_classes: usize,
    ) -> Result<ThreatModel> {
        let features = features.to_vec();
        let index = |name: &str| features.iter().position(|f| f == name);
        let mut budgets = vec![0.0; features.len()];
        for (name, &budget) in &section.mutable {
            let key = format!("threat.mutable.{name}");
            let i =
                index(name).ok_or_else(|| Error::spec(&key, unknown_feature(name, &features)))?;
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
        if section.mutable.is_empty() && section.switchable.is_empty() {
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
        let (mut lower, mut upper): (Vec<f64>, Vec<f64>) = match (
            section.clip.as_str(),
            data_ranges,
        ) {
            ("data", Some(r)) => r.into_iter().unzip(),
            ("data", None) => (
                vec![f64::NAN; features.len()],
                vec![f64::NAN; features.len()],
            ),
            ("none", _) => (
                vec![f64::NEG_INFINITY; features.len()],
                vec![f64::INFINITY; features.len()],
            ),
            (other, _) => {
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
            let i =
                index(name).ok_or_else(|| Error::spec(&key, unknown_feature(name, &features)))?;
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return Err(Error::spec(
                    &key,
                    format!("[{lo}, {hi}] is not a range (need lower ≤ upper)"),
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
        let constraints = resolve_constraints(section, &features, &budgets)?;
        Ok(ThreatModel {
            features,
            budgets,
            lower,
            upper,
            target,
            class_names,
            constraints,
        })
    }
}

/// Resolves integer features, one-hot groups and relations to feature indices.
fn resolve_constraints(
    section: &ThreatSection,
    features: &[String],
    budgets: &[f64],
) -> Result<Constraints> {
    let index = |name: &str| features.iter().position(|f| f == name);
    let mut c = Constraints {
        integer: vec![false; features.len()],
        ..Constraints::default()
    };
    for name in &section.integer {
        let key = format!("threat.integer[\"{name}\"]");
        let i = index(name).ok_or_else(|| Error::spec(&key, unknown_feature(name, features)))?;
        c.integer[i] = true;
    }
    let mut in_group = vec![false; features.len()];
    for (group, members) in &section.one_hot {
        let key = format!("threat.one_hot.{group}");
        let idx: Vec<usize> = match members {
            spec::OneHotSpec::Glob(pattern) => {
                let glob = glob::Pattern::new(pattern)
                    .map_err(|e| Error::spec(&key, format!("not a valid glob: {e}")))?;
                (0..features.len())
                    .filter(|&i| glob.matches(&features[i]))
                    .collect()
            }
            spec::OneHotSpec::List(names) => names
                .iter()
                .map(|n| index(n).ok_or_else(|| Error::spec(&key, unknown_feature(n, features))))
                .collect::<Result<_>>()?,
        };
        if idx.len() < 2 {
            return Err(Error::spec(
                &key,
                "a one-hot group needs at least two features",
            ));
        }
        if let Some(&i) = idx.iter().find(|&&i| in_group[i]) {
            return Err(Error::spec(
                &key,
                format!("feature `{}` is in two one-hot groups", features[i]),
            ));
        }
        let switchable = section.switchable.contains(group);
        if let Some(&i) = idx.iter().find(|&&i| budgets[i] > 0.0) {
            return Err(Error::spec(
                &key,
                format!(
                    "feature `{}` of a one-hot group has a numeric budget; let the attacker \
                     switch category with threat.switchable = [\"{group}\"] instead",
                    features[i]
                ),
            ));
        }
        for &i in &idx {
            in_group[i] = true;
        }
        if switchable {
            for pattern in &section.immutable {
                if let Ok(g) = glob::Pattern::new(pattern)
                    && let Some(&i) = idx.iter().find(|&&i| g.matches(&features[i]))
                {
                    return Err(Error::spec(
                        format!("threat.immutable[\"{pattern}\"]"),
                        format!(
                            "feature `{}` is immutable but its one-hot group `{group}` is switchable",
                            features[i]
                        ),
                    ));
                }
            }
        }
        c.one_hot.push(constraints::OneHotGroup {
            name: group.clone(),
            members: idx,
            switchable,
        });
    }
    for name in &section.switchable {
        if !section.one_hot.contains_key(name) {
            return Err(Error::spec(
                format!("threat.switchable[\"{name}\"]"),
                "not a one-hot group of threat.one_hot",
            ));
        }
    }
    for (k, text) in section.relations.iter().enumerate() {
        c.relations.push(constraints::parse_relation(
            text,
            features,
            &format!("threat.relations[{k}]"),
        )?);
    }
    Ok(c)
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
