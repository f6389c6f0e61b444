//! The `ai.robcert` graph operators, run through ONNX Runtime, against straightforward reference
//! implementations written here from the documented semantics (README, "Graph operators").
//!
//! Properties: outputs equal the reference bit for bit on random graphs (isolated nodes,
//! self-loops, duplicate edges, hubs of degree ≥ 1000, F = 1 and F = 16, ties and ±0); the soft
//! medoid stays in its neighbourhood's coordinate-wise box and tends to the medoid and the mean
//! at the temperature extremes; the edge order does not matter; every bad input is a clear error
//! through ONNX Runtime and leaves the session usable; the operators compose with standard ops.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robcert::onnx::{Attribute, ElemType, ModelBuilder};
use robcert::runtime::RuntimeConfig;
use robcert::runtime::graph_ops::{
    self, Aggregator, DOMAIN, DOMAIN_VERSION, EDGE_INDEX_INPUT, GraphSession, MEDIAN_AGGREGATE,
    SOFT_MEDOID_AGGREGATE, TEMPERATURE_ATTRIBUTE, TRIM_ATTRIBUTE, TRIMMED_MEAN_AGGREGATE, X_INPUT,
};
use std::path::Path;

/// Default-domain opset of the test models.
const OPSET: i64 = 17;
/// Degree of the hub node in the hub cases (the brief asks for ≥ 1000).
const HUB_DEGREE: usize = 1200;
/// Random graphs per operator in the bit-exactness tests.
const RANDOM_CASES: u64 = 40;
/// Feature values drawn from this set with probability TIE_PROBABILITY, to create ties and ±0.
const TIE_VALUES: [f32; 6] = [-1.0, -0.0, 0.0, 0.5, 2.0, 1e-3];
const TIE_PROBABILITY: f64 = 0.3;
/// Continuous feature values lie in ±FEATURE_RANGE.
const FEATURE_RANGE: f32 = 10.0;
/// Share of edges turned into self-loops, and of edges duplicated.
const SELF_LOOP_SHARE: f64 = 0.1;
const DUPLICATE_SHARE: f64 = 0.15;

/// A graph in the operators' layout: `x` row-major `[nodes, features]`, `edge_index` row-major
/// `[2, edges]` (sources then targets).
#[derive(Clone, Debug)]
struct Graph {
    nodes: usize,
    features: usize,
    x: Vec<f32>,
    edge_index: Vec<i64>,
}

impl Graph {
    fn edges(&self) -> usize {
        self.edge_index.len() / 2
    }

    fn row(&self, node: usize) -> &[f32] {
        &self.x[node * self.features..(node + 1) * self.features]
    }

    /// The documented neighbourhoods: sources of each target, ascending, with multiplicity.
    fn neighbourhoods(&self) -> Vec<Vec<usize>> {
        let e = self.edges();
        let mut lists = vec![Vec::new(); self.nodes];
        for k in 0..e {
            lists[self.edge_index[e + k] as usize].push(self.edge_index[k] as usize);
        }
        for list in &mut lists {
            list.sort();
        }
        lists
    }
}

/// One operator with its attributes, as the tests write it into a model.
#[derive(Clone, Copy, Debug)]
enum Op {
    Median,
    TrimmedMean(i64),
    SoftMedoid(f32),
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Median => MEDIAN_AGGREGATE,
            Op::TrimmedMean(_) => TRIMMED_MEAN_AGGREGATE,
            Op::SoftMedoid(_) => SOFT_MEDOID_AGGREGATE,
        }
    }

    fn attributes(self) -> Vec<(&'static str, Attribute)> {
        match self {
            Op::Median => vec![],
            Op::TrimmedMean(trim) => vec![(TRIM_ATTRIBUTE, Attribute::Int(trim))],
            Op::SoftMedoid(t) => vec![(TEMPERATURE_ATTRIBUTE, Attribute::Float(t))],
        }
    }
}

/// A model `y = op(x, edge_index)` with the given declared input dimensions.
fn aggregate_model(
    op_type: &str,
    attributes: Vec<(&str, Attribute)>,
    x_dims: &[Option<usize>],
    edge_dims: &[Option<usize>],
) -> Vec<u8> {
    ModelBuilder::new(OPSET)
        .opset_import(DOMAIN, i64::from(DOMAIN_VERSION))
        .input(X_INPUT, ElemType::F32, x_dims)
        .input(EDGE_INDEX_INPUT, ElemType::I64, edge_dims)
        .output("y", &[None, None])
        .domain_node(
            DOMAIN,
            op_type,
            &[X_INPUT, EDGE_INDEX_INPUT],
            &["y"],
            attributes,
        )
        .encode()
}

fn session(bytes: &[u8]) -> robcert::Result<GraphSession> {
    GraphSession::from_bytes(
        Path::new("graph_ops_test.onnx"),
        bytes,
        &RuntimeConfig::default(),
    )
}

/// Runs `op` on `g` through ONNX Runtime (one intra-op thread).
fn run_ort(op: Op, g: &Graph) -> Vec<f32> {
    let bytes = aggregate_model(
        op.name(),
        op.attributes(),
        &[None, Some(g.features)],
        &[Some(2), None],
    );
    let out = session(&bytes)
        .unwrap()
        .run(&g.x, &[g.nodes, g.features], &g.edge_index, &[2, g.edges()])
        .unwrap();
    assert_eq!(out.shape, [g.nodes, g.features]);
    out.values
}

// ---- reference implementations, written from the README's definitions ----

fn sorted(mut values: Vec<f32>) -> Vec<f32> {
    values.sort_by(f32::total_cmp);
    values
}

fn ref_lower_median(values: Vec<f32>) -> f32 {
    let v = sorted(values);
    v[(v.len() - 1) / 2]
}

fn ref_clamp(y: f32, lo: f32, hi: f32) -> f32 {
    if y < lo {
        lo
    } else if y > hi {
        hi
    } else {
        y
    }
}

fn ref_trimmed_mean(values: Vec<f32>, trim: usize) -> f32 {
    let d = values.len();
    if d <= 2 * trim {
        return ref_lower_median(values);
    }
    let v = sorted(values);
    let kept = &v[trim..d - trim];
    let mut sum = 0.0f64;
    for &value in kept {
        sum += value as f64;
    }
    let mean = sum / kept.len() as f64;
    ref_clamp(mean as f32, kept[0], kept[kept.len() - 1])
}

fn ref_distance(a: &[f32], b: &[f32]) -> f64 {
    let mut sq = 0.0f64;
    for f in 0..a.len() {
        let diff = a[f] as f64 - b[f] as f64;
        sq += diff * diff;
    }
    sq.sqrt()
}

/// The soft medoid of `rows` (neighbour order), unclamped and clamped per coordinate.
fn ref_soft_medoid(rows: &[&[f32]], temperature: f32) -> (Vec<f64>, Vec<f32>) {
    let d = rows.len();
    let mut sums = vec![0.0f64; d];
    for i in 0..d {
        for j in 0..d {
            sums[i] += ref_distance(rows[i], rows[j]);
        }
    }
    let min = sums.iter().copied().fold(f64::INFINITY, f64::min);
    let e: Vec<f64> = sums
        .iter()
        .map(|&s| ((min - s) / temperature as f64).exp())
        .collect();
    let mut z = 0.0f64;
    for &ei in &e {
        z += ei;
    }
    let w: Vec<f64> = e.iter().map(|&ei| ei / z).collect();
    let features = rows[0].len();
    let mut exact = vec![0.0f64; features];
    let mut out = vec![0.0f32; features];
    for f in 0..features {
        let mut y = 0.0f64;
        for i in 0..d {
            y += w[i] * rows[i][f] as f64;
        }
        let lo = rows.iter().map(|r| r[f]).fold(f32::INFINITY, f32::min);
        let hi = rows.iter().map(|r| r[f]).fold(f32::NEG_INFINITY, f32::max);
        exact[f] = y;
        out[f] = ref_clamp(y as f32, lo, hi);
    }
    (exact, out)
}

/// The documented output of `op` on `g`.
fn reference(op: Op, g: &Graph) -> Vec<f32> {
    let lists = g.neighbourhoods();
    let mut out = vec![0.0f32; g.nodes * g.features];
    for (t, list) in lists.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let column = |f: usize| list.iter().map(|&s| g.x[s * g.features + f]).collect();
        let row = &mut out[t * g.features..(t + 1) * g.features];
        match op {
            Op::Median => {
                for (f, y) in row.iter_mut().enumerate() {
                    *y = ref_lower_median(column(f));
                }
            }
            Op::TrimmedMean(trim) => {
                for (f, y) in row.iter_mut().enumerate() {
                    *y = ref_trimmed_mean(column(f), trim as usize);
                }
            }
            Op::SoftMedoid(t) => {
                let rows: Vec<&[f32]> = list.iter().map(|&s| g.row(s)).collect();
                row.copy_from_slice(&ref_soft_medoid(&rows, t).1);
            }
        }
    }
    out
}

fn assert_bits_eq(got: &[f32], want: &[f32], features: usize, context: &str) {
    assert_eq!(got.len(), want.len(), "{context}: lengths");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!(
            "{context}: y[{}, {}] = {:e} ({:#x}) but the reference is {:e} ({:#x})",
            i / features,
            i % features,
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits()
        );
    }
}

// ---- random graphs ----

fn feature_value(rng: &mut ChaCha8Rng) -> f32 {
    if rng.random_bool(TIE_PROBABILITY) {
        TIE_VALUES[rng.random_range(0..TIE_VALUES.len())]
    } else {
        rng.random_range(-FEATURE_RANGE..FEATURE_RANGE)
    }
}

/// A random multigraph: `edges` uniform edges, some made self-loops, some duplicated, plus
/// `hub_degree` edges into node 0.
fn random_graph(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    features: usize,
    edges: usize,
    hub_degree: usize,
) -> Graph {
    let x = (0..nodes * features).map(|_| feature_value(rng)).collect();
    let mut pairs: Vec<(i64, i64)> = (0..edges)
        .map(|_| {
            let s = rng.random_range(0..nodes) as i64;
            let t = rng.random_range(0..nodes) as i64;
            if rng.random_bool(SELF_LOOP_SHARE) {
                (t, t)
            } else {
                (s, t)
            }
        })
        .collect();
    let duplicates: Vec<(i64, i64)> = pairs
        .iter()
        .filter(|_| rng.random_bool(DUPLICATE_SHARE))
        .copied()
        .collect();
    pairs.extend(duplicates);
    pairs.extend((0..hub_degree).map(|_| (rng.random_range(0..nodes) as i64, 0)));
    pairs.shuffle(rng);
    Graph {
        nodes,
        features,
        x,
        edge_index: pairs
            .iter()
            .map(|p| p.0)
            .chain(pairs.iter().map(|p| p.1))
            .collect(),
    }
}

/// The random cases: F cycles through 1, 16 and 2..=5; N in 1..=50; E in 0..=3N (so isolated
/// nodes are common; case 0 has no edges at all).
fn random_cases() -> Vec<Graph> {
    (0..RANDOM_CASES)
        .map(|seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let features = match seed % 3 {
                0 => 1,
                1 => 16,
                _ => rng.random_range(2..=5),
            };
            let nodes = rng.random_range(1..=50);
            let edges = if seed == 0 {
                0
            } else {
                rng.random_range(0..=3 * nodes)
            };
            random_graph(&mut rng, nodes, features, edges, 0)
        })
        .collect()
}

/// Graphs with one node of in-degree ≥ HUB_DEGREE, for F = 1 and F = 16.
fn hub_cases() -> Vec<Graph> {
    [1, 16]
        .iter()
        .map(|&features| {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + features as u64);
            random_graph(&mut rng, 1500, features, 3000, HUB_DEGREE)
        })
        .collect()
}

fn check_against_reference(op: Op, cases: &[Graph]) {
    for (i, g) in cases.iter().enumerate() {
        let context = format!(
            "{op:?}, case {i} (N = {}, F = {}, E = {})",
            g.nodes,
            g.features,
            g.edges()
        );
        assert_bits_eq(&run_ort(op, g), &reference(op, g), g.features, &context);
    }
}

#[test]
fn median_equals_the_lower_median_bit_for_bit() {
    let cases = random_cases();
    check_against_reference(Op::Median, &cases);
    // Isolated nodes get +0.0 (not -0.0) in every coordinate.
    let g = &cases[0];
    assert!(run_ort(Op::Median, g).iter().all(|v| v.to_bits() == 0));
}

#[test]
fn trimmed_mean_equals_the_documented_f64_arithmetic_bit_for_bit() {
    let cases = random_cases();
    // trim = 50 exceeds every degree here: the lower-median fallback throughout.
    for trim in [0, 1, 2, 3, 50] {
        check_against_reference(Op::TrimmedMean(trim), &cases);
    }
    let g = &cases[7];
    assert_bits_eq(
        &run_ort(Op::TrimmedMean(1000), g),
        &reference(Op::Median, g),
        g.features,
        "d <= 2 trim falls back to the lower median",
    );
}

#[test]
fn soft_medoid_equals_the_documented_f64_arithmetic_and_stays_in_the_box() {
    let cases = random_cases();
    let mut clamped = 0usize;
    let mut coordinates = 0usize;
    for t in [1e-3, 0.1, 1.0, 10.0, 1e4] {
        let op = Op::SoftMedoid(t);
        check_against_reference(op, &cases);
        for g in &cases {
            let y = run_ort(op, g);
            for (target, list) in g.neighbourhoods().iter().enumerate() {
                if list.is_empty() {
                    continue;
                }
                let rows: Vec<&[f32]> = list.iter().map(|&s| g.row(s)).collect();
                let (exact, _) = ref_soft_medoid(&rows, t);
                for f in 0..g.features {
                    let v = y[target * g.features + f];
                    let lo = rows.iter().map(|r| r[f]).fold(f32::INFINITY, f32::min);
                    let hi = rows.iter().map(|r| r[f]).fold(f32::NEG_INFINITY, f32::max);
                    assert!(
                        lo <= v && v <= hi,
                        "T = {t}: y[{target}, {f}] = {v} outside [{lo}, {hi}]"
                    );
                    coordinates += 1;
                    clamped += usize::from(exact[f] as f32 != v);
                }
            }
        }
    }
    println!("soft medoid: the clamp changed {clamped} of {coordinates} coordinates");
}

#[test]
fn soft_medoid_tends_to_the_medoid_and_to_the_mean() {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    // Continuous features only, so distance sums have no ties other than duplicate neighbours.
    let nodes = 40;
    let features = 3;
    let x: Vec<f32> = (0..nodes * features)
        .map(|_| rng.random_range(-FEATURE_RANGE..FEATURE_RANGE))
        .collect();
    let mut g = random_graph(&mut rng, nodes, features, 160, 0);
    g.x = x;
    let cold = run_ort(Op::SoftMedoid(1e-9), &g);
    let hot = run_ort(Op::SoftMedoid(1e30), &g);
    // Distance-sum gap above which exp(-gap / 1e-9) underflows to 0.
    const MEDOID_GAP: f64 = 1e-3;
    let mut medoids_checked = 0;
    for (t, list) in g.neighbourhoods().iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let sum_of_distances =
            |i: usize| -> f64 { list.iter().map(|&j| ref_distance(g.row(i), g.row(j))).sum() };
        let mut by_sum: Vec<(f64, usize)> =
            list.iter().map(|&s| (sum_of_distances(s), s)).collect();
        by_sum.sort_by(|a, b| a.0.total_cmp(&b.0));
        by_sum.dedup_by_key(|entry| entry.1);
        // A unique medoid (distinct rows can tie, e.g. any two neighbours).
        if by_sum.len() == 1 || by_sum[1].0 - by_sum[0].0 > MEDOID_GAP {
            assert_eq!(
                &cold[t * features..(t + 1) * features],
                g.row(by_sum[0].1),
                "T -> 0 gives the medoid of node {t}'s neighbourhood"
            );
            medoids_checked += 1;
        }
        for f in 0..features {
            let mean = list.iter().map(|&s| g.row(s)[f] as f64).sum::<f64>() / list.len() as f64;
            let got = hot[t * features + f] as f64;
            assert!(
                (got - mean).abs() <= 1e-5 * (1.0 + mean.abs()),
                "T -> inf gives the mean: node {t}, feature {f}: {got} vs {mean}"
            );
        }
    }
    assert!(
        medoids_checked >= nodes / 2,
        "{medoids_checked} medoids checked"
    );
}

#[test]
fn hubs_of_degree_over_1000_match_the_reference() {
    let cases = hub_cases();
    for g in &cases {
        assert!(g.neighbourhoods()[0].len() >= HUB_DEGREE);
    }
    for op in [
        Op::Median,
        Op::TrimmedMean(0),
        Op::TrimmedMean(100),
        Op::SoftMedoid(0.5),
        Op::SoftMedoid(100.0),
    ] {
        check_against_reference(op, &cases);
    }
}

#[test]
fn wide_magnitudes_and_mixed_signs_match_the_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    const MAGNITUDES: [f32; 5] = [1e30, 1e-30, 1.0, 3e38, 1e-40];
    let mut g = random_graph(&mut rng, 30, 4, 120, 0);
    for v in &mut g.x {
        let m = MAGNITUDES[rng.random_range(0..MAGNITUDES.len())];
        *v = if rng.random_bool(0.5) { m } else { -m };
    }
    for op in [
        Op::Median,
        Op::TrimmedMean(0),
        Op::TrimmedMean(1),
        Op::SoftMedoid(1.0),
        Op::SoftMedoid(1e38),
    ] {
        let y = run_ort(op, &g);
        assert!(y.iter().all(|v| v.is_finite()), "{op:?}: finite outputs");
        assert_bits_eq(&y, &reference(op, &g), g.features, &format!("{op:?}"));
    }
}

/// A graph whose features cancel heavily: half are ±2^60 (two mantissas, so exactly opposite
/// pairs are common), half are small. f64 rounding then shows in the f32 results, so other
/// plausible arithmetic gives other bits.
fn cancellation_graph(seed: u64) -> Graph {
    const LARGE: [f32; 2] = [1.25 * (1u64 << 60) as f32, 1.5 * (1u64 << 60) as f32];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut g = random_graph(&mut rng, 2000, 2, 8000, 0);
    for v in &mut g.x {
        let magnitude = if rng.random_bool(0.5) {
            LARGE[rng.random_range(0..LARGE.len())]
        } else {
            rng.random_range(0.5..2.0)
        };
        *v = if rng.random_bool(0.5) {
            magnitude
        } else {
            -magnitude
        };
    }
    g
}

/// Count of coordinates where two outputs differ in their bits.
fn differing(a: &[f32], b: &[f32]) -> usize {
    a.iter()
        .zip(b)
        .filter(|(p, q)| p.to_bits() != q.to_bits())
        .count()
}

#[test]
fn cancelling_features_follow_the_documented_arithmetic_not_another() {
    // The same quantities computed in another plausible way must give other bits somewhere:
    // otherwise bit equality would not show that the kernel follows the documented arithmetic.
    const MIN_DISCRIMINATING: usize = 10;
    let g = cancellation_graph(31);
    let lists = g.neighbourhoods();
    for trim in [0, 1] {
        let op = Op::TrimmedMean(trim);
        let want = reference(op, &g);
        // Summing the kept values by decreasing magnitude instead of in sorted order.
        let mut by_magnitude = want.clone();
        for (t, list) in lists.iter().enumerate() {
            for f in 0..g.features {
                let v = sorted(list.iter().map(|&s| g.x[s * g.features + f]).collect());
                let d = v.len();
                if d <= 2 * trim as usize {
                    continue;
                }
                let kept = &v[trim as usize..d - trim as usize];
                let mut magnitude_order = kept.to_vec();
                magnitude_order.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
                let sum = magnitude_order
                    .iter()
                    .fold(0.0f64, |acc, &x| acc + x as f64);
                by_magnitude[t * g.features + f] = ref_clamp(
                    (sum / kept.len() as f64) as f32,
                    kept[0],
                    kept[kept.len() - 1],
                );
            }
        }
        let discriminating = differing(&want, &by_magnitude);
        println!("{op:?}: summing by magnitude changes {discriminating} coordinates");
        assert!(discriminating >= MIN_DISCRIMINATING);
        assert_bits_eq(&run_ort(op, &g), &want, g.features, &format!("{op:?}"));
    }
    for t in [1e17, 1e18] {
        let op = Op::SoftMedoid(t);
        let want = reference(op, &g);
        // Normalising once at the end, y = (Σ e_i x_i) / Z, instead of weights e_i / Z.
        let mut late = want.clone();
        for (target, list) in lists.iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            let rows: Vec<&[f32]> = list.iter().map(|&s| g.row(s)).collect();
            let sums: Vec<f64> = rows
                .iter()
                .map(|a| {
                    rows.iter()
                        .map(|b| ref_distance(a, b))
                        .fold(0.0, |acc, x| acc + x)
                })
                .collect();
            let min = sums.iter().copied().fold(f64::INFINITY, f64::min);
            let e: Vec<f64> = sums.iter().map(|&s| ((min - s) / t as f64).exp()).collect();
            let z = e.iter().fold(0.0, |acc, x| acc + x);
            for f in 0..g.features {
                let y = e
                    .iter()
                    .zip(&rows)
                    .fold(0.0, |acc, (ei, r)| acc + ei * r[f] as f64)
                    / z;
                let lo = rows.iter().map(|r| r[f]).fold(f32::INFINITY, f32::min);
                let hi = rows.iter().map(|r| r[f]).fold(f32::NEG_INFINITY, f32::max);
                late[target * g.features + f] = ref_clamp(y as f32, lo, hi);
            }
        }
        let discriminating = differing(&want, &late);
        println!("{op:?}: normalising at the end changes {discriminating} coordinates");
        assert!(discriminating >= MIN_DISCRIMINATING);
        assert_bits_eq(&run_ort(op, &g), &want, g.features, &format!("{op:?}"));
    }
}

#[test]
fn the_order_of_edges_does_not_change_any_output() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let g = random_graph(&mut rng, 60, 5, 400, 300);
    let mut pairs: Vec<(i64, i64)> = (0..g.edges())
        .map(|k| (g.edge_index[k], g.edge_index[g.edges() + k]))
        .collect();
    pairs.shuffle(&mut rng);
    let shuffled = Graph {
        edge_index: pairs
            .iter()
            .map(|p| p.0)
            .chain(pairs.iter().map(|p| p.1))
            .collect(),
        ..g.clone()
    };
    for op in [Op::Median, Op::TrimmedMean(2), Op::SoftMedoid(1.0)] {
        assert_bits_eq(
            &run_ort(op, &shuffled),
            &run_ort(op, &g),
            g.features,
            &format!("{op:?} after shuffling the edges"),
        );
    }
}

#[test]
fn the_library_function_computes_what_the_kernel_computes() {
    let g = &hub_cases()[1];
    for (op, aggregator) in [
        (Op::Median, Aggregator::Median),
        (Op::TrimmedMean(3), Aggregator::TrimmedMean { trim: 3 }),
        (
            Op::SoftMedoid(2.0),
            Aggregator::SoftMedoid { temperature: 2.0 },
        ),
    ] {
        let direct = graph_ops::aggregate(
            aggregator,
            &g.x,
            &[g.nodes as i64, g.features as i64],
            &g.edge_index,
            &[2, g.edges() as i64],
        )
        .unwrap();
        assert_bits_eq(&direct, &run_ort(op, g), g.features, &format!("{op:?}"));
    }
}

// ---- bad inputs: clear errors through ONNX Runtime, never a crash ----

/// A 4-node, 2-feature graph with 3 edges.
fn small_graph() -> Graph {
    Graph {
        nodes: 4,
        features: 2,
        x: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        edge_index: vec![0, 1, 2, 1, 2, 3],
    }
}

/// Runs `op` with explicitly declared and fed shapes and returns the error text.
fn run_error(
    op: Op,
    declared: (&[Option<usize>], &[Option<usize>]),
    x: (&[f32], &[usize]),
    edge_index: (&[i64], &[usize]),
) -> String {
    let bytes = aggregate_model(op.name(), op.attributes(), declared.0, declared.1);
    let mut s = session(&bytes).unwrap();
    let err = s
        .run(x.0, x.1, edge_index.0, edge_index.1)
        .expect_err("the input must be refused");
    err.to_string()
}

fn assert_mentions(message: &str, fragments: &[&str]) {
    println!("{message}");
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "error `{message}` should mention `{fragment}`"
        );
    }
}

const ALL_OPS: [Op; 3] = [Op::Median, Op::TrimmedMean(1), Op::SoftMedoid(1.0)];
const MATRIX: [Option<usize>; 2] = [None, None];
const EDGE_DIMS: [Option<usize>; 2] = [Some(2), None];

#[test]
fn node_indices_outside_0_to_n_are_refused_with_position_and_value() {
    let g = small_graph();
    for op in ALL_OPS {
        let too_large = [0, 1, 2, 1, 2, 4];
        let message = run_error(
            op,
            (&MATRIX, &EDGE_DIMS),
            (&g.x, &[4, 2]),
            (&too_large, &[2, 3]),
        );
        assert_mentions(
            &message,
            &[op.name(), "edge_index[1, 2] = 4", "x has 4 rows", "0..4"],
        );
        let negative = [0, -1, 2, 1, 2, 3];
        let message = run_error(
            op,
            (&MATRIX, &EDGE_DIMS),
            (&g.x, &[4, 2]),
            (&negative, &[2, 3]),
        );
        assert_mentions(&message, &["edge_index[0, 1] = -1", "not a node index"]);
        let huge = [i64::MAX, 1, 2, 1, 2, 3];
        let message = run_error(op, (&MATRIX, &EDGE_DIMS), (&g.x, &[4, 2]), (&huge, &[2, 3]));
        assert_mentions(&message, &[&format!("edge_index[0, 0] = {}", i64::MAX)]);
    }
}

#[test]
fn edge_index_of_the_wrong_shape_is_refused() {
    let g = small_graph();
    for op in ALL_OPS {
        let three_rows = [0, 1, 2, 1, 2, 3, 0, 0, 0];
        let message = run_error(
            op,
            (&MATRIX, &[Some(3), None]),
            (&g.x, &[4, 2]),
            (&three_rows, &[3, 3]),
        );
        assert_mentions(
            &message,
            &["input `edge_index` has shape [3, 3]", "expected [2, E]"],
        );
        let flat = [0, 1, 2, 1, 2, 3];
        let message = run_error(op, (&MATRIX, &[None]), (&g.x, &[4, 2]), (&flat, &[6]));
        assert_mentions(&message, &["input `edge_index` has shape [6]"]);
        let transposed = [0, 1, 1, 2, 2, 3];
        let message = run_error(
            op,
            (&MATRIX, &[None, Some(2)]),
            (&g.x, &[4, 2]),
            (&transposed, &[3, 2]),
        );
        assert_mentions(&message, &["input `edge_index` has shape [3, 2]"]);
    }
    // A dense tensor cannot have rows of different lengths: data that does not fill [2, E] is
    // refused when the input tensor is created, before ONNX Runtime runs anything.
    let ragged = [0, 1, 2, 1, 2];
    let message = run_error(
        Op::Median,
        (&MATRIX, &EDGE_DIMS),
        (&g.x, &[4, 2]),
        (&ragged, &[2, 3]),
    );
    assert_mentions(&message, &["input edge_index", "6 elements", "5 elements"]);
}

#[test]
fn x_of_the_wrong_rank_is_refused() {
    let g = small_graph();
    for op in ALL_OPS {
        let message = run_error(
            op,
            (&[None], &EDGE_DIMS),
            (&g.x, &[8]),
            (&g.edge_index, &[2, 3]),
        );
        assert_mentions(&message, &["input `x` has shape [8]", "rank 2, [N, F]"]);
        let message = run_error(
            op,
            (&[None, None, None], &EDGE_DIMS),
            (&g.x, &[4, 1, 2]),
            (&g.edge_index, &[2, 3]),
        );
        assert_mentions(&message, &["input `x` has shape [4, 1, 2]"]);
    }
}

#[test]
fn non_finite_features_are_refused() {
    let g = small_graph();
    for op in ALL_OPS {
        for (bad, shown) in [
            (f32::NAN, "NaN"),
            (f32::INFINITY, "inf"),
            (f32::NEG_INFINITY, "-inf"),
        ] {
            let mut x = g.x.clone();
            x[5] = bad;
            let message = run_error(
                op,
                (&MATRIX, &EDGE_DIMS),
                (&x, &[4, 2]),
                (&g.edge_index, &[2, 3]),
            );
            assert_mentions(&message, &[&format!("x[2, 1] = {shown} is not finite")]);
        }
    }
}

#[test]
fn bad_attributes_are_refused_when_the_session_is_created() {
    let attribute_error = |op_type: &str, attributes: Vec<(&str, Attribute)>| -> String {
        let bytes = aggregate_model(op_type, attributes, &MATRIX, &EDGE_DIMS);
        match session(&bytes) {
            Ok(_) => panic!("{op_type}: the attributes must be refused"),
            Err(e) => e.to_string(),
        }
    };
    for t in [0.0, -0.0, -1.0, f32::NAN, f32::INFINITY] {
        let message = attribute_error(
            SOFT_MEDOID_AGGREGATE,
            vec![(TEMPERATURE_ATTRIBUTE, Attribute::Float(t))],
        );
        assert_mentions(&message, &["attribute `temperature`", "finite number > 0"]);
    }
    for trim in [-1, i64::MIN] {
        let message = attribute_error(
            TRIMMED_MEAN_AGGREGATE,
            vec![(TRIM_ATTRIBUTE, Attribute::Int(trim))],
        );
        assert_mentions(
            &message,
            &[&format!("attribute `trim` = {trim}"), "integer >= 0"],
        );
    }
    let message = attribute_error(TRIMMED_MEAN_AGGREGATE, vec![]);
    assert_mentions(&message, &["attribute `trim` (type int) is required"]);
    let message = attribute_error(
        TRIMMED_MEAN_AGGREGATE,
        vec![(TRIM_ATTRIBUTE, Attribute::Float(1.0))],
    );
    assert_mentions(&message, &["attribute `trim` (type int) is required"]);
    let message = attribute_error(SOFT_MEDOID_AGGREGATE, vec![]);
    assert_mentions(
        &message,
        &["attribute `temperature` (type float) is required"],
    );
}

#[test]
fn wrong_element_types_and_unknown_operators_are_refused_at_load() {
    for (x_type, edge_type) in [
        (ElemType::F64, ElemType::I64),
        (ElemType::F32, ElemType::I32),
    ] {
        let bytes = ModelBuilder::new(OPSET)
            .opset_import(DOMAIN, i64::from(DOMAIN_VERSION))
            .input(X_INPUT, x_type, &MATRIX)
            .input(EDGE_INDEX_INPUT, edge_type, &EDGE_DIMS)
            .output("y", &MATRIX)
            .domain_node(
                DOMAIN,
                MEDIAN_AGGREGATE,
                &[X_INPUT, EDGE_INDEX_INPUT],
                &["y"],
                vec![],
            )
            .encode();
        let message = session(&bytes).err().expect("wrong types").to_string();
        println!("{message}");
    }
    let unknown = aggregate_model("MaxAggregate", vec![], &MATRIX, &EDGE_DIMS);
    let message = session(&unknown).err().expect("unknown op").to_string();
    assert_mentions(&message, &["MaxAggregate"]);
}

#[test]
fn a_session_keeps_working_after_refusing_an_input() {
    let g = small_graph();
    for op in ALL_OPS {
        let bytes = aggregate_model(op.name(), op.attributes(), &MATRIX, &EDGE_DIMS);
        let mut s = session(&bytes).unwrap();
        let bad = [0, 1, 2, 1, 2, 9];
        assert!(s.run(&g.x, &[4, 2], &bad, &[2, 3]).is_err());
        let good = s.run(&g.x, &[4, 2], &g.edge_index, &[2, 3]).unwrap();
        assert_bits_eq(&good.values, &reference(op, &g), 2, &format!("{op:?}"));
    }
}

#[test]
fn empty_graphs_and_zero_features_give_empty_or_zero_outputs() {
    for op in ALL_OPS {
        let bytes = aggregate_model(op.name(), op.attributes(), &MATRIX, &EDGE_DIMS);
        let mut s = session(&bytes).unwrap();
        let none = s.run(&[], &[0, 3], &[], &[2, 0]).unwrap();
        assert_eq!((none.shape.as_slice(), none.values.len()), (&[0, 3][..], 0));
        let featureless = s.run(&[], &[3, 0], &[0, 1], &[2, 1]).unwrap();
        assert_eq!(featureless.shape, [3, 0]);
        let no_edges = s.run(&[1.0, -2.0], &[2, 1], &[], &[2, 0]).unwrap();
        assert!(no_edges.values.iter().all(|v| v.to_bits() == 0));
    }
}

// ---- composition with standard ops ----

#[test]
fn a_model_mixing_gemm_relu_and_median_aggregate_runs() {
    // Small integers: Gemm and Relu are exact in float32, so the reference is exact too.
    const N: usize = 30;
    const F_IN: usize = 3;
    const HIDDEN: usize = 4;
    const CLASSES: usize = 2;
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut int = |lo: i32, hi: i32| rng.random_range(lo..=hi) as f32;
    let w1: Vec<f32> = (0..HIDDEN * F_IN).map(|_| int(-3, 3)).collect();
    let b1: Vec<f32> = (0..HIDDEN).map(|_| int(-2, 2)).collect();
    let w2: Vec<f32> = (0..CLASSES * HIDDEN).map(|_| int(-3, 3)).collect();
    let b2: Vec<f32> = (0..CLASSES).map(|_| int(-2, 2)).collect();
    let x: Vec<f32> = (0..N * F_IN).map(|_| int(-8, 8)).collect();
    let mut g = random_graph(&mut rng, N, HIDDEN, 90, 0);
    let bytes = ModelBuilder::new(OPSET)
        .opset_import(DOMAIN, i64::from(DOMAIN_VERSION))
        .input(X_INPUT, ElemType::F32, &[None, Some(F_IN)])
        .input(EDGE_INDEX_INPUT, ElemType::I64, &EDGE_DIMS)
        .output("scores", &[None, Some(CLASSES)])
        .initializer("W1", &[HIDDEN, F_IN], &w1)
        .initializer("b1", &[HIDDEN], &b1)
        .initializer("W2", &[CLASSES, HIDDEN], &w2)
        .initializer("b2", &[CLASSES], &b2)
        .node(
            "Gemm",
            &[X_INPUT, "W1", "b1"],
            &["pre"],
            vec![("transB", Attribute::Int(1))],
        )
        .node("Relu", &["pre"], &["h"], vec![])
        .domain_node(
            DOMAIN,
            MEDIAN_AGGREGATE,
            &["h", EDGE_INDEX_INPUT],
            &["m"],
            vec![],
        )
        .node(
            "Gemm",
            &["m", "W2", "b2"],
            &["scores"],
            vec![("transB", Attribute::Int(1))],
        )
        .encode();
    let out = session(&bytes)
        .unwrap()
        .run(&x, &[N, F_IN], &g.edge_index, &[2, g.edges()])
        .unwrap();
    assert_eq!(out.shape, [N, CLASSES]);

    let affine = |input: &[f32], w: &[f32], b: &[f32], width: usize| -> Vec<f32> {
        input
            .chunks_exact(width)
            .flat_map(|row| {
                b.iter().enumerate().map(move |(o, &bias)| {
                    bias + row
                        .iter()
                        .zip(&w[o * width..(o + 1) * width])
                        .map(|(a, b)| a * b)
                        .sum::<f32>()
                })
            })
            .collect()
    };
    g.x = affine(&x, &w1, &b1, F_IN)
        .into_iter()
        .map(|v| v.max(0.0))
        .collect();
    let want = affine(&reference(Op::Median, &g), &w2, &b2, HIDDEN);
    assert_eq!(out.values, want);
}

// ---- timing (documented in BENCHMARKS.md) ----

/// Peak resident set size of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` value 5), so each operator's peak is
/// measured on its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `cargo test --release --test graph_ops -- --ignored --nocapture timing`
#[test]
#[ignore = "timing run; see BENCHMARKS.md"]
fn timing_100k_nodes_1m_edges_16_features() {
    const NODES: usize = 100_000;
    const EDGES: usize = 1_000_000;
    const FEATURES: usize = 16;
    const REPEATS: usize = 3;
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let x: Vec<f32> = (0..NODES * FEATURES)
        .map(|_| rng.random_range(-FEATURE_RANGE..FEATURE_RANGE))
        .collect();
    let uniform: Vec<i64> = (0..2 * EDGES)
        .map(|_| rng.random_range(0..NODES) as i64)
        .collect();
    // The same graph with its first HUB_EDGES edges redirected into node 0.
    const HUB_EDGES: usize = 10_000;
    let mut hub = uniform.clone();
    hub[EDGES..EDGES + HUB_EDGES].fill(0);
    println!(
        "baseline peak RSS (inputs built): {:.0} MiB",
        peak_rss_mib()
    );
    for (graph_name, edge_index) in [("uniform", &uniform), ("hub of degree 10^4", &hub)] {
        for op in [Op::Median, Op::TrimmedMean(2), Op::SoftMedoid(1.0)] {
            let bytes = aggregate_model(
                op.name(),
                op.attributes(),
                &[None, Some(FEATURES)],
                &EDGE_DIMS,
            );
            let mut s = session(&bytes).unwrap();
            reset_peak_rss();
            let before = peak_rss_mib();
            let mut times = Vec::new();
            for _ in 0..REPEATS {
                let start = std::time::Instant::now();
                let out = s
                    .run(&x, &[NODES, FEATURES], edge_index, &[2, EDGES])
                    .unwrap();
                times.push(start.elapsed().as_secs_f64());
                assert_eq!(out.values.len(), NODES * FEATURES);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{graph_name:>20} {:<22} median {:.3} s (min {:.3}, max {:.3}); peak RSS {:.0} MiB (before the runs {:.0} MiB)",
                format!("{op:?}"),
                times[REPEATS / 2],
                times[0],
                times[REPEATS - 1],
                peak_rss_mib(),
                before
            );
        }
    }
}
