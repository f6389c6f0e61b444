//! The training-regime comparison section (`[compare] models = [...]`): bounds and attacks of the
//! spec on each model, with the same data, threat and seeds (smoothing omitted: it is the slow
//! part and the comparison is about the deployed networks).

use super::{
    CheckInputs, DeriveInputs, Derived, Figure, Files, RunInputs, Section, invalid, typed,
};
use crate::compare::{ModelComparison, compare_one, comparison_plot, comparison_table};
use crate::error::Result;
use crate::report::html;
use crate::runtime::OnnxModel;
use crate::threat::spec::SpecFile;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareRecord {
    pub models: Vec<ModelComparison>,
}

pub struct CompareSection;

/// The file names of the spec's `[compare]` models.
fn file_names(spec: &SpecFile) -> Vec<String> {
    spec.compare
        .iter()
        .flat_map(|c| &c.models)
        .map(|p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

impl Section for CompareSection {
    fn kind(&self) -> &'static str {
        "compare"
    }

    fn requested(&self, spec: &SpecFile) -> bool {
        spec.compare.is_some()
    }

    fn run(&self, inputs: &RunInputs) -> Result<(serde_json::Value, Files)> {
        let p = inputs.prepared;
        let spec = &p.spec;
        let paths: Vec<PathBuf> = match &spec.spec.compare {
            Some(c) => c
                .models
                .iter()
                .map(|m| match (inputs.compare_dir, m.file_name()) {
                    (Some(dir), Some(name)) => dir.join(name),
                    _ => spec.resolve(m),
                })
                .collect(),
            None => Vec::new(),
        };
        let mut models = Vec::with_capacity(paths.len());
        for path in &paths {
            let model = OnnxModel::load(path, p.model.runtime_config())?;
            let features =
                crate::pipeline::model_features(&model, spec.spec.model.features.as_deref())?;
            if features != p.data.features || model.num_classes != p.model.num_classes {
                return Err(crate::error::Error::spec(
                    "compare.models",
                    format!(
                        "{} takes other inputs than the certified model (features {features:?}, {} \
                         classes): compared models must take the same inputs",
                        path.display(),
                        model.num_classes
                    ),
                ));
            }
            let other = crate::pipeline::Prepared { model, ..p.clone() };
            models.push(compare_one(&other, inputs.job, false)?);
        }
        let record = CompareRecord { models };
        Ok((
            serde_json::to_value(&record).expect("serialisable"),
            Files::new(),
        ))
    }

    fn derive(
        &self,
        record: &serde_json::Value,
        _files: &Files,
        _inputs: &DeriveInputs,
    ) -> Result<Derived> {
        let rec: CompareRecord = typed(record, self.kind())?;
        let mut derived = Derived::default();
        if rec.models.is_empty() {
            return Ok(derived);
        }
        let plot = comparison_plot(&rec.models)?;
        derived.figures.push(Figure {
            name: "compare_certified_vs_budget".into(),
            caption: "Training regimes under the same spec: share of fraud rows certified (solid, best bound method) and not falsified by the attack (dashed, same colour) as the budget grows.".into(),
            files: plot,
        });
        let (header, cells) = comparison_table(&rec.models);
        derived.report.push(html::Section {
            heading: "Training regimes compared".into(),
            paragraphs: vec!["The same threat spec, bounds, attacks and seeds on each model of the [compare] table (smoothing omitted). The comparison informs; the decision above concerns the certified model only.".into()],
            tables: vec![html::Table {
                caption: "Per model, at the threat budget".into(),
                header,
                rows: cells,
                highlight_column: None,
            }],
            figures: derived
                .figures
                .iter()
                .map(|f| html::Figure {
                    caption: f.caption.clone(),
                    png: f.files.png.clone(),
                })
                .collect(),
            code: None,
        });
        Ok(derived)
    }

    fn check(
        &self,
        record: &serde_json::Value,
        _files: &Files,
        inputs: &CheckInputs,
    ) -> Result<String> {
        let rec: CompareRecord = typed(record, self.kind())?;
        let names: Vec<String> = rec.models.iter().map(|m| m.model.clone()).collect();
        super::same_setting("compare.models", &names, &file_names(&inputs.spec.spec))?;
        for m in &rec.models {
            let consistent = m.verified + m.falsified + m.unknown == m.target_rows
                && m.rows == inputs.data_rows
                && m.clean_accuracy == m.clean_correct as f64 / m.rows.max(1) as f64;
            if !consistent {
                return Err(invalid(format!(
                    "the comparison of {} is inconsistent (counts do not add up)",
                    m.model
                )));
            }
        }
        Ok(format!(
            "comparison of {} models: names and counts (replay re-runs them)",
            rec.models.len()
        ))
    }
}
