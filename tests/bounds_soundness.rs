//! Soundness of every bound method, checked through ONNX Runtime: for random networks over all
//! supported ops (depths 1–6, widths 1–128), adversarial float32 cases and the bundled models,
//! points sampled in the region (corners, faces, interior, centre) are run through ONNX Runtime
//! and no score or margin may leave the IBP, CROWN or alpha-CROWN bounds.
//!
//! The default run samples 10^4 points per case; `cargo test --release -- --ignored` runs the
//! slow sweep (10^7 points in total).

mod common;

use common::ort_check::{Checked, check_region, executed_ir, load_model};
use common::random_net::{Flavour, random_network};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robcert::bounds::{Method, Region, margin_lower};
use robcert::runtime::{OnnxModel, RuntimeConfig};

fn random_region(rng: &mut impl Rng, width: usize, flavour: Flavour) -> Region {
    let scale = if matches!(flavour, Flavour::LargeWeights) {
        100.0
    } else {
        2.0
    };
    let kind = rng.random_range(0..4);
    let (mut lo, mut hi) = (Vec::new(), Vec::new());
    for _ in 0..width {
        let c = (rng.random::<f64>() * 2.0 - 1.0) * scale;
        let r = match kind {
            0 => 0.0,                                // a single point: only rounding is left
            1 => 1e-6 * scale * rng.random::<f64>(), // tiny boxes
            2 if rng.random::<f64>() < 0.3 => 0.0,   // some features fixed
            _ => scale * 0.5 * rng.random::<f64>(),
        };
        lo.push(c - r);
        hi.push(c + r);
    }
    Region::new(lo, hi).unwrap()
}

/// Runs `cases` random networks of each flavour with `samples` points each: the network that
/// returns the scores (bounds and margins must contain ONNX Runtime's) and the network as
/// generated, possibly ending in a Softmax (verdicts must hold), each at a random optimisation
/// level. The bound engine reads the graph ONNX Runtime executes.
fn sweep(seed: u64, cases: usize, samples: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut checked = Checked::default();
    let levels = common::ort_check::LEVELS;
    for case in 0..cases {
        let flavour = [
            Flavour::Ordinary,
            Flavour::LargeWeights,
            Flavour::Cancellation,
        ][case % 3];
        let net = random_network(&mut rng, flavour);
        let level = levels[rng.random_range(0..levels.len())];
        for (name, bytes) in [("logits", &net.logits_bytes), ("model", &net.bytes)] {
            let model = load_model(dir.path(), &format!("{name}{case}.onnx"), bytes, level)
                .unwrap_or_else(|e| panic!("case {case} ({}): {e}", net.description));
            let graph = executed_ir(&model)
                .unwrap_or_else(|e| panic!("case {case} ({}): {e}", net.description));
            let mut session = model.session().unwrap();
            let region = random_region(&mut rng, net.input_width, flavour);
            match check_region(&graph, &mut session, &region, &mut rng, samples / 2) {
                Ok(c) => checked += c,
                Err(e) => panic!(
                    "case {case} ({} {name}, {flavour:?}, level {}, seed {seed}): {e}",
                    net.description,
                    level.name()
                ),
            }
        }
    }
    assert!(
        checked.verified > 0,
        "no region verified: the sweep has no teeth"
    );
    checked.points
}

#[test]
fn random_networks_stay_within_ibp_and_crown_bounds_through_onnx_runtime() {
    let checked = sweep(1, 36, 10_000);
    eprintln!("{checked} points checked");
    assert!(checked >= 36 * 10_000 - 100);
}

#[test]
#[ignore = "slow soundness sweep: cargo test --release -- --ignored"]
fn slow_sweep_ten_million_points() {
    let mut total = 0;
    for seed in 100..110 {
        total += sweep(seed, 100, 10_000);
    }
    eprintln!("{total} points checked");
    assert!(total >= 10_000_000 - 10_000);
}

#[test]
fn bundled_models_stay_within_bounds_on_threat_boxes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for name in ["standard", "gaussian", "pgd", "ibp"] {
        let path = common::models().join(format!("fraud_mlp_{name}.onnx"));
        let spec = common::demo_spec(
            &path,
            "mutable = { amount = 50.0, hour = 2.0, velocity_1h = 1.0, merchant_risk = 0.1 }\ntarget = \"fraud->legit\"",
            "",
        );
        let prepared = common::prepare_spec(dir.path(), &spec).unwrap();
        let graph = executed_ir(&prepared.model).unwrap();
        let mut session = prepared.model.session().unwrap();
        // Fraud rows and a few legit rows, at the budget and at 3× the budget.
        let rows: Vec<usize> = (0..prepared.data.rows())
            .filter(|&i| prepared.data.labels[i] == 1)
            .take(8)
            .chain(0..4)
            .collect();
        for &i in &rows {
            for scale in [1.0, 3.0] {
                let region =
                    Region::from_threat(&prepared.threat, prepared.data.row(i), scale).unwrap();
                if let Err(e) = check_region(&graph, &mut session, &region, &mut rng, 10_000) {
                    panic!("{name}, row {i}, scale {scale}: {e}");
                }
            }
        }
    }
}

#[test]
fn vnncomp_networks_stay_within_bounds() {
    let dir = std::env::var_os("ROBCERT_VNNCOMP_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::repo().join("../shared/benchmarks/vnncomp"));
    if !dir.is_dir() {
        eprintln!("note: {} not found; skipped", dir.display());
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut paths: Vec<_> = std::fs::read_dir(dir.join("acasxu/onnx"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let mut chosen: Vec<_> = paths.into_iter().step_by(9).collect();
    chosen.extend(
        std::fs::read_dir(dir.join("rl_benchmarks/onnx"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for path in chosen {
        let model = OnnxModel::load(&path, &RuntimeConfig::default()).unwrap();
        let graph = executed_ir(&model).unwrap();
        let mut session = model.session().unwrap();
        for _ in 0..2 {
            let region = random_region(&mut rng, graph.input_size, Flavour::Ordinary);
            if let Err(e) = check_region(&graph, &mut session, &region, &mut rng, 5_000) {
                panic!("{}: {e}", path.display());
            }
        }
    }
}

/// alpha-CROWN never returns a looser margin bound than CROWN, and is tighter on some rows.
#[test]
fn alpha_crown_is_never_looser_than_crown_and_sometimes_tighter() {
    let dir = tempfile::tempdir().unwrap();
    let (mut rows_checked, mut tighter) = (0, 0);
    for name in ["standard", "gaussian", "pgd"] {
        let path = common::models().join(format!("fraud_mlp_{name}.onnx"));
        let spec = common::demo_spec(
            &path,
            "mutable = { amount = 50.0, hour = 2.0, velocity_1h = 1.0, merchant_risk = 0.1 }",
            "",
        );
        let prepared = common::prepare_spec(dir.path(), &spec).unwrap();
        let graph = executed_ir(&prepared.model).unwrap();
        for i in (0..prepared.data.rows())
            .filter(|&i| prepared.data.labels[i] == 1)
            .take(30)
        {
            for scale in [1.0, 3.0, 6.0] {
                let region =
                    Region::from_threat(&prepared.threat, prepared.data.row(i), scale).unwrap();
                let crown = margin_lower(&graph, &region, Method::Crown, 1, &[0])[0];
                let alpha = margin_lower(&graph, &region, Method::AlphaCrown, 1, &[0])[0];
                assert!(
                    alpha >= crown,
                    "{name} row {i} scale {scale}: alpha {alpha} < crown {crown}"
                );
                rows_checked += 1;
                tighter += usize::from(alpha > crown + 1e-9 * crown.abs().max(1.0));
            }
        }
    }
    eprintln!("alpha-CROWN tighter than CROWN on {tighter} of {rows_checked} boxes");
    assert!(tighter > 0, "alpha-CROWN never improved on CROWN");
}
