//! Shared helpers for the integration tests: repository paths and small spec/data builders.
#![allow(dead_code)]

pub mod ort_check;
pub mod random_net;

use robcert::pipeline::{JobOptions, Overrides, Prepared, prepare};
use robcert::runtime::RuntimeConfig;
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

pub fn models() -> PathBuf {
    repo().join("models")
}

/// Options for in-process jobs: no progress bar, `workers` sessions.
pub fn options(workers: usize) -> JobOptions {
    JobOptions {
        workers,
        runtime: RuntimeConfig::default(),
        progress: false,
        limit: None,
    }
}

/// Writes `spec` into `dir/spec.toml` and returns its path.
pub fn write_spec(dir: &Path, spec: &str) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, spec).unwrap();
    p
}

/// A spec on the bundled demo data with the given model, `[threat]` body and extra sections.
pub fn demo_spec(model: &Path, threat: &str, extra: &str) -> String {
    format!(
        "[model]\npath = {model:?}\n[data]\npath = {data:?}\nlabel = \"is_fraud\"\namount = \"amount\"\nignore = [\"txn_id\"]\n[threat]\n{threat}\n{extra}\n",
        data = models().join("data/fraud_test.csv"),
    )
}

pub fn prepare_spec(dir: &Path, spec: &str) -> robcert::Result<Prepared> {
    prepare(
        &write_spec(dir, spec),
        &Overrides::default(),
        &RuntimeConfig::default(),
    )
}

/// Reads a CSV with a header into (header, rows of f64).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    (header, rows)
}
