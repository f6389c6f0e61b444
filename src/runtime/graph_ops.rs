//! Robust neighbourhood aggregation as ONNX Runtime custom operators: domain `ai.robcert`,
//! opset version 1, implemented through `ort`'s operator API.
//!
//! Every operator takes `x: float32[N, F]` (node features) and `edge_index: int64[2, E]` (row 0
//! the source node, row 1 the target node of each edge: PyTorch Geometric's convention) and
//! returns `y: float32[N, F]`. Row `t` of `y` aggregates, coordinate by coordinate, the
//! *neighbourhood* of `t`: the sequence of rows `x[s]` over all edges `(s, t)`,
//!
//! - taken with multiplicity: a self-loop `(t, t)` puts `x[t]` in the neighbourhood only if the
//!   graph contains it, and an edge listed k times counts k times (the model decides; nothing is
//!   added or removed);
//! - in *neighbour order*: ascending source index, so the result does not depend on the order of
//!   the edges in `edge_index` (only [`Aggregator::SoftMedoid`] performs order-dependent
//!   arithmetic; the other two are order-independent anyway);
//! - a node with no incoming edge gets `+0.0` in every coordinate.
//!
//! Values are ordered by IEEE 754 `totalOrder` (`f32::total_cmp`), so `−0.0 < +0.0`; all other
//! finite values compare as usual. The operators:
//!
//! - `MedianAggregate`: the coordinate-wise **lower median**, the element at 0-based index
//!   `⌊(d − 1)/2⌋` of the `d` sorted values (one of the inputs, bit for bit; no arithmetic).
//! - `TrimmedMeanAggregate` (int attribute `trim ≥ 0`): per coordinate, sort, drop the `trim`
//!   smallest and `trim` largest values and average the remaining `k = d − 2·trim`; when
//!   `d ≤ 2·trim` nothing would remain and the result is the lower median instead.
//! - `SoftMedoidAggregate` (float attribute `temperature`, finite and `> 0`): Geisler et al.
//!   2020, "Reliable Graph Neural Networks via Robust Aggregation", without edge weights:
//!   `D_i = Σ_j ‖x_i − x_j‖₂` over the neighbourhood, weights `s = softmax(−D / T)`, result
//!   `Σ_i s_i x_i` (not rescaled by the degree).
//!
//! Arithmetic, exactly (so a certificate can bound it): trimmed mean and soft medoid compute in
//! `f64` with IEEE round-to-nearest, never fused multiply-adds, every sum starting at `+0.0` and
//! adding terms one by one in the order given below; the `f64` result is rounded once to `f32`
//! (round-to-nearest-even) and then clamped into `[lo, hi]`, the smallest and largest of the
//! `f32` values it averages. The weights of both are convex, so the exact result lies in
//! `[lo, hi]`; the clamp only undoes a rounding step that left the box and so never moves the
//! result away from the exact value. See [`Aggregator`] for each formula.
//!
//! Inputs are validated inside the kernels (ONNX Runtime checks only element types): `x` of rank
//! 2, `edge_index` of shape `[2, E]`, every index in `0..N`, every feature finite. Violations
//! are ONNX Runtime errors naming the input, position and value ([`GraphOpError`]); attribute
//! errors stop session creation. Kernels hold only their attributes (stateless).
//!
//! Cost per run: CSR by target through two counting sorts, O(E + N) time and memory, then
//! median O(E·F) and trimmed mean O(E·F·log(max degree)) time, O(max degree) scratch; soft
//! medoid needs all pairwise distances of each neighbourhood, O(F · Σ_t d_t²) time (a hub of
//! degree d costs d²/2 distances), O(max degree) scratch. No N × max-degree table is built.

use super::{RuntimeConfig, build_session};
use crate::error::{Error, Result};
use ort::operator::{
    ComputeContext, Kernel, KernelContext, Operator, OperatorDomain, OperatorInput, OperatorOutput,
};
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// The operator domain of robcert's graph operators.
pub const DOMAIN: &str = "ai.robcert";
/// The (only) opset version of [`DOMAIN`].
pub const DOMAIN_VERSION: u32 = 1;

/// Operator names, as written in a model's `NodeProto.op_type`.
pub const MEDIAN_AGGREGATE: &str = "MedianAggregate";
pub const TRIMMED_MEAN_AGGREGATE: &str = "TrimmedMeanAggregate";
pub const SOFT_MEDOID_AGGREGATE: &str = "SoftMedoidAggregate";

/// Attribute of `TrimmedMeanAggregate`: values dropped at each end (int, ≥ 0, required).
pub const TRIM_ATTRIBUTE: &str = "trim";
/// Attribute of `SoftMedoidAggregate`: softmax temperature T (float, finite, > 0, required).
pub const TEMPERATURE_ATTRIBUTE: &str = "temperature";

/// Names of the graph inputs [`GraphSession::run`] feeds.
pub const X_INPUT: &str = "x";
pub const EDGE_INDEX_INPUT: &str = "edge_index";

/// Input positions of every operator.
const X_POSITION: usize = 0;
const EDGE_INDEX_POSITION: usize = 1;
/// Row of `edge_index` holding source nodes; the other holds targets.
const SOURCE_ROW: usize = 0;
const TARGET_ROW: usize = 1;
/// Rows of `edge_index`.
const EDGE_INDEX_ROWS: usize = 2;
/// The shapes the operators accept, as error messages state them.
const X_EXPECTED: &str = "rank 2, [N, F]";
const EDGE_INDEX_EXPECTED: &str = "[2, E] (row 0 sources, row 1 targets)";

/// Why an operator refused its input. The `Display` text is the message ONNX Runtime reports.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GraphOpError {
    #[error("input `{input}` has shape {shape:?}; expected {expected}")]
    Shape {
        input: &'static str,
        shape: Vec<i64>,
        expected: &'static str,
    },
    #[error(
        "edge_index[{row}, {position}] = {value} is not a node index: x has {nodes} rows, so \
         indices must lie in 0..{nodes}"
    )]
    NodeIndex {
        row: usize,
        position: usize,
        value: i64,
        nodes: usize,
    },
    #[error(
        "x[{node}, {feature}] = {value} is not finite; the aggregation operators refuse NaN and \
         infinite features"
    )]
    NonFinite {
        node: usize,
        feature: usize,
        value: f32,
    },
    #[error("attribute `{name}` = {value} is invalid: {requirement}")]
    Attribute {
        name: &'static str,
        value: String,
        requirement: &'static str,
    },
    #[error("attribute `{name}` (type {kind}) is required; it is missing or of another type")]
    MissingAttribute {
        name: &'static str,
        kind: &'static str,
    },
    #[error("input `{input}` holds {found} values but its shape needs {expected}")]
    DataLength {
        input: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("ONNX Runtime did not provide {what}")]
    Runtime { what: &'static str },
}

impl From<GraphOpError> for ort::Error {
    fn from(e: GraphOpError) -> Self {
        ort::Error::new(e.to_string())
    }
}

/// One aggregation rule with its validated attributes. `d` is the degree (neighbourhood size),
/// `v_0 ≤ … ≤ v_{d−1}` one coordinate's values in `totalOrder` (0-based), `x_1 … x_d` the
/// neighbour rows in neighbour order (ascending source index), `round` rounding f64 → f32 to
/// nearest, ties to even.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Aggregator {
    /// `v_{⌊(d−1)/2⌋}`: the lower median, an input value bit for bit.
    Median,
    /// With `k = d − 2·trim > 0`: `S = ((+0 + v_trim) + v_{trim+1}) + … + v_{d−1−trim}` in
    /// f64, `y = clamp(round(S / k), v_trim, v_{d−1−trim})`. With `d ≤ 2·trim`: the lower
    /// median. `trim = 0` is the plain mean.
    TrimmedMean { trim: usize },
    /// In f64: `‖a − b‖ = sqrt(((+0 + (a_1 − b_1)²) + …) + (a_F − b_F)²)`;
    /// `D_i = Σ_{j=1..d} ‖x_i − x_j‖` (j ascending); `m = min_i D_i`;
    /// `e_i = exp((m − D_i) / T)` (Rust's `f64::exp`, glibc's `exp`); `Z = Σ_i e_i`;
    /// `w_i = e_i / Z`;
    /// per coordinate `f`: `y_f = clamp(round(Σ_i w_i · x_i[f]), min_i x_i[f], max_i x_i[f])`
    /// (sums over i ascending). Mathematically `w = softmax(−D / T)`, a convex combination.
    SoftMedoid { temperature: f32 },
}

impl Aggregator {
    /// The trimmed mean, refusing `trim < 0`.
    pub fn trimmed_mean(trim: i64) -> Result<Aggregator, GraphOpError> {
        usize::try_from(trim)
            .map(|trim| Aggregator::TrimmedMean { trim })
            .map_err(|_| GraphOpError::Attribute {
                name: TRIM_ATTRIBUTE,
                value: trim.to_string(),
                requirement: "trim must be an integer >= 0",
            })
    }

    /// The soft medoid, refusing a temperature that is not finite and > 0.
    pub fn soft_medoid(temperature: f32) -> Result<Aggregator, GraphOpError> {
        if temperature.is_finite() && temperature > 0.0 {
            Ok(Aggregator::SoftMedoid { temperature })
        } else {
            Err(GraphOpError::Attribute {
                name: TEMPERATURE_ATTRIBUTE,
                value: temperature.to_string(),
                requirement: "temperature must be a finite number > 0",
            })
        }
    }

    /// `self` if its attributes are valid (see the constructors).
    pub fn checked(self) -> Result<Aggregator, GraphOpError> {
        match self {
            Aggregator::SoftMedoid { temperature } => Aggregator::soft_medoid(temperature),
            other => Ok(other),
        }
    }

    /// The ONNX operator name.
    pub fn op_name(&self) -> &'static str {
        match self {
            Aggregator::Median => MEDIAN_AGGREGATE,
            Aggregator::TrimmedMean { .. } => TRIMMED_MEAN_AGGREGATE,
            Aggregator::SoftMedoid { .. } => SOFT_MEDOID_AGGREGATE,
        }
    }
}

/// Sizes of a validated operator input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphShape {
    pub nodes: usize,
    pub features: usize,
    pub edges: usize,
}

impl GraphShape {
    /// Checks `x: [N, F]` and `edge_index: [2, E]`.
    pub fn check(x_shape: &[i64], edge_index_shape: &[i64]) -> Result<GraphShape, GraphOpError> {
        let (nodes, features) = two_dims(x_shape).ok_or_else(|| GraphOpError::Shape {
            input: X_INPUT,
            shape: x_shape.to_vec(),
            expected: X_EXPECTED,
        })?;
        let edges = match two_dims(edge_index_shape) {
            Some((EDGE_INDEX_ROWS, edges)) => edges,
            _ => {
                return Err(GraphOpError::Shape {
                    input: EDGE_INDEX_INPUT,
                    shape: edge_index_shape.to_vec(),
                    expected: EDGE_INDEX_EXPECTED,
                });
            }
        };
        Ok(GraphShape {
            nodes,
            features,
            edges,
        })
    }
}

/// The two dimensions of a rank-2 shape.
fn two_dims(shape: &[i64]) -> Option<(usize, usize)> {
    match *shape {
        [a, b] => Some((usize::try_from(a).ok()?, usize::try_from(b).ok()?)),
        _ => None,
    }
}

/// Incoming neighbourhoods in compressed sparse row form: the sources of target `t` are
/// `sources[offsets[t]..offsets[t + 1]]`, in ascending order, with multiplicity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbourhoods {
    offsets: Vec<usize>,
    sources: Vec<usize>,
}

impl Neighbourhoods {
    /// Builds the CSR from a row-major `[2, E]` `edge_index` (so of even length) over `nodes`
    /// nodes, refusing any index outside `0..nodes`. Two stable counting sorts (by source, then
    /// by target): O(E + N) time and memory.
    pub fn from_edge_index(
        edge_index: &[i64],
        nodes: usize,
    ) -> Result<Neighbourhoods, GraphOpError> {
        if !edge_index.len().is_multiple_of(EDGE_INDEX_ROWS) {
            return Err(GraphOpError::Shape {
                input: EDGE_INDEX_INPUT,
                shape: vec![edge_index.len() as i64],
                expected: EDGE_INDEX_EXPECTED,
            });
        }
        let edges = edge_index.len() / EDGE_INDEX_ROWS;
        let (sources_row, targets_row) = edge_index.split_at(edges);
        check_node_indices(sources_row, SOURCE_ROW, nodes)?;
        check_node_indices(targets_row, TARGET_ROW, nodes)?;
        // Every index now lies in 0..nodes, so the casts below are exact.
        let index = |v: i64| v as usize;

        let by_source_offsets = counting_offsets(sources_row.iter().map(|&s| index(s)), nodes);
        let mut cursor = by_source_offsets.clone();
        let mut targets_by_source = vec![0; edges];
        for (&s, &t) in sources_row.iter().zip(targets_row) {
            targets_by_source[cursor[index(s)]] = index(t);
            cursor[index(s)] += 1;
        }

        let offsets = counting_offsets(targets_row.iter().map(|&t| index(t)), nodes);
        cursor.copy_from_slice(&offsets);
        let mut sources = vec![0; edges];
        for s in 0..nodes {
            for &t in &targets_by_source[by_source_offsets[s]..by_source_offsets[s + 1]] {
                sources[cursor[t]] = s;
                cursor[t] += 1;
            }
        }
        Ok(Neighbourhoods { offsets, sources })
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Sources of the edges into `target`, ascending, with multiplicity.
    pub fn of(&self, target: usize) -> &[usize] {
        &self.sources[self.offsets[target]..self.offsets[target + 1]]
    }

    /// The largest in-degree (0 for a graph without edges).
    pub fn max_degree(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }
}

/// Refuses the first value of one row of `edge_index` outside `0..nodes`.
fn check_node_indices(row: &[i64], row_index: usize, nodes: usize) -> Result<(), GraphOpError> {
    let is_node = |v: i64| usize::try_from(v).is_ok_and(|v| v < nodes);
    match row.iter().position(|&v| !is_node(v)) {
        None => Ok(()),
        Some(position) => Err(GraphOpError::NodeIndex {
            row: row_index,
            position,
            value: row[position],
            nodes,
        }),
    }
}

/// Exclusive prefix sums of the counts of each key in `0..nodes`: `nodes + 1` offsets.
fn counting_offsets(keys: impl Iterator<Item = usize>, nodes: usize) -> Vec<usize> {
    let mut offsets = vec![0; nodes + 1];
    for k in keys {
        offsets[k + 1] += 1;
    }
    for i in 0..nodes {
        offsets[i + 1] += offsets[i];
    }
    offsets
}

/// Refuses NaN and infinite features, naming the first one (row-major order).
pub fn check_finite(x: &[f32], features: usize) -> Result<(), GraphOpError> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(GraphOpError::NonFinite {
            node: i / features,
            feature: i % features,
            value: x[i],
        }),
    }
}

/// Validates the attributes and inputs and evaluates `aggregator` exactly as the ONNX Runtime
/// kernel does, on row-major `x` and `edge_index` with the given shapes. Returns the row-major
/// `[N, F]` output.
pub fn aggregate(
    aggregator: Aggregator,
    x: &[f32],
    x_shape: &[i64],
    edge_index: &[i64],
    edge_index_shape: &[i64],
) -> Result<Vec<f32>, GraphOpError> {
    let aggregator = aggregator.checked()?;
    let shape = GraphShape::check(x_shape, edge_index_shape)?;
    let graph = validated_graph(x, edge_index, shape)?;
    let mut out = vec![0.0; shape.nodes * shape.features];
    aggregate_into(aggregator, x, shape.features, &graph, &mut out);
    Ok(out)
}

/// The checks shared by [`aggregate`] and the kernel once the shapes are known.
fn validated_graph(
    x: &[f32],
    edge_index: &[i64],
    shape: GraphShape,
) -> Result<Neighbourhoods, GraphOpError> {
    let data_length = |input, expected, found| {
        if expected == found {
            Ok(())
        } else {
            Err(GraphOpError::DataLength {
                input,
                expected,
                found,
            })
        }
    };
    data_length(X_INPUT, shape.nodes * shape.features, x.len())?;
    data_length(
        EDGE_INDEX_INPUT,
        EDGE_INDEX_ROWS * shape.edges,
        edge_index.len(),
    )?;
    check_finite(x, shape.features)?;
    Neighbourhoods::from_edge_index(edge_index, shape.nodes)
}

/// Writes the aggregate of every node's neighbourhood into `out` (`nodes × features`, row-major).
/// `x` is finite and `graph` was built over `x`'s rows (both validated by the caller).
fn aggregate_into(
    aggregator: Aggregator,
    x: &[f32],
    features: usize,
    graph: &Neighbourhoods,
    out: &mut [f32],
) {
    if features == 0 {
        return;
    }
    let mut scratch = Scratch::with_capacity(graph.max_degree());
    for (target, row) in out.chunks_exact_mut(features).enumerate() {
        let neighbours = graph.of(target);
        if neighbours.is_empty() {
            row.fill(0.0);
            continue;
        }
        match aggregator {
            Aggregator::Median => {
                for (f, y) in row.iter_mut().enumerate() {
                    *y = lower_median(scratch.gather(x, features, neighbours, f));
                }
            }
            Aggregator::TrimmedMean { trim } => {
                for (f, y) in row.iter_mut().enumerate() {
                    *y = trimmed_mean(scratch.gather(x, features, neighbours, f), trim);
                }
            }
            Aggregator::SoftMedoid { temperature } => {
                soft_medoid(x, features, neighbours, temperature, &mut scratch, row);
            }
        }
    }
}

/// Buffers reused across targets, each at most the largest degree long.
struct Scratch {
    values: Vec<f32>,
    distance_sums: Vec<f64>,
    weights: Vec<f64>,
}

impl Scratch {
    fn with_capacity(max_degree: usize) -> Scratch {
        Scratch {
            values: Vec::with_capacity(max_degree),
            distance_sums: Vec::with_capacity(max_degree),
            weights: Vec::with_capacity(max_degree),
        }
    }

    /// Coordinate `feature` of the neighbour rows, in neighbour order.
    fn gather(
        &mut self,
        x: &[f32],
        features: usize,
        neighbours: &[usize],
        feature: usize,
    ) -> &mut [f32] {
        self.values.clear();
        self.values
            .extend(neighbours.iter().map(|&s| x[s * features + feature]));
        &mut self.values
    }
}

/// The element at index ⌊(d − 1)/2⌋ in `totalOrder`; reorders `values` (non-empty).
fn lower_median(values: &mut [f32]) -> f32 {
    let index = (values.len() - 1) / 2;
    *values.select_nth_unstable_by(index, f32::total_cmp).1
}

/// See [`Aggregator::TrimmedMean`]; reorders `values` (non-empty).
fn trimmed_mean(values: &mut [f32], trim: usize) -> f32 {
    let d = values.len();
    if d <= trim.saturating_mul(2) {
        return lower_median(values);
    }
    values.sort_unstable_by(f32::total_cmp);
    let kept = &values[trim..d - trim];
    let sum = kept.iter().fold(0.0f64, |acc, &v| acc + f64::from(v));
    let mean = sum / kept.len() as f64;
    clamp_to(mean as f32, kept[0], kept[kept.len() - 1])
}

/// See [`Aggregator::SoftMedoid`]; writes the `features` coordinates into `row`.
fn soft_medoid(
    x: &[f32],
    features: usize,
    neighbours: &[usize],
    temperature: f32,
    scratch: &mut Scratch,
    row: &mut [f32],
) {
    let x_row = |s: usize| &x[s * features..(s + 1) * features];
    let d = neighbours.len();
    let sums = &mut scratch.distance_sums;
    sums.clear();
    sums.resize(d, 0.0);
    // Each distance is computed once and added to both ends. D_i still receives its terms with
    // j ascending (j < i from earlier rows, then j > i), as the definition sums them; the
    // skipped term j = i is an exact +0.
    for i in 0..d {
        let a = x_row(neighbours[i]);
        for j in i + 1..d {
            let distance = euclidean_distance(a, x_row(neighbours[j]));
            sums[i] += distance;
            sums[j] += distance;
        }
    }
    let min_sum = sums.iter().copied().fold(f64::INFINITY, f64::min);
    let t = f64::from(temperature);
    let weights = &mut scratch.weights;
    weights.clear();
    weights.extend(sums.iter().map(|&sum| ((min_sum - sum) / t).exp()));
    let total = weights.iter().fold(0.0f64, |acc, &e| acc + e);
    for w in weights.iter_mut() {
        *w /= total;
    }
    for (f, y) in row.iter_mut().enumerate() {
        let mut combination = 0.0f64;
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for (&w, &s) in weights.iter().zip(neighbours) {
            let v = x[s * features + f];
            combination += w * f64::from(v);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        *y = clamp_to(combination as f32, lo, hi);
    }
}

/// `sqrt(Σ_f (a_f − b_f)²)` in f64, summed in coordinate order from +0.
fn euclidean_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .fold(0.0f64, |acc, (&p, &q)| {
            let diff = f64::from(p) - f64::from(q);
            acc + diff * diff
        })
        .sqrt()
}

/// `lo` if `y < lo`, `hi` if `y > hi`, else `y` (never panics, unlike `f32::clamp`).
fn clamp_to(y: f32, lo: f32, hi: f32) -> f32 {
    match (y.partial_cmp(&lo), y.partial_cmp(&hi)) {
        (Some(Ordering::Less), _) => lo,
        (_, Some(Ordering::Greater)) => hi,
        _ => y,
    }
}

/// The ONNX Runtime operator for one kind of [`Aggregator`]; attributes are read per node.
#[derive(Clone, Copy)]
enum AggregateOperator {
    Median,
    TrimmedMean,
    SoftMedoid,
}

impl Operator for AggregateOperator {
    type Kernel<'attr> = AggregateKernel;

    fn name(&self) -> &str {
        match self {
            AggregateOperator::Median => MEDIAN_AGGREGATE,
            AggregateOperator::TrimmedMean => TRIMMED_MEAN_AGGREGATE,
            AggregateOperator::SoftMedoid => SOFT_MEDOID_AGGREGATE,
        }
    }

    fn versions(&self) -> std::ops::RangeInclusive<u32> {
        DOMAIN_VERSION..=DOMAIN_VERSION
    }

    fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
        [
            OperatorInput::required(TensorElementType::Float32),
            OperatorInput::required(TensorElementType::Int64),
        ]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::required(TensorElementType::Float32)]
    }

    fn create_kernel<'attr>(&self, info: &KernelContext<'attr>) -> ort::Result<AggregateKernel> {
        let aggregator = self.read_attributes(info).map_err(|e| {
            let node = info.node_name().unwrap_or_default();
            ort::Error::new(format!("{} node `{node}`: {e}", self.name()))
        })?;
        Ok(AggregateKernel { aggregator })
    }
}

impl AggregateOperator {
    /// The node's validated attributes.
    fn read_attributes(&self, info: &KernelContext<'_>) -> Result<Aggregator, GraphOpError> {
        match self {
            AggregateOperator::Median => Ok(Aggregator::Median),
            AggregateOperator::TrimmedMean => {
                let trim =
                    info.get::<i64>(TRIM_ATTRIBUTE)
                        .ok_or(GraphOpError::MissingAttribute {
                            name: TRIM_ATTRIBUTE,
                            kind: "int",
                        })?;
                Aggregator::trimmed_mean(trim)
            }
            AggregateOperator::SoftMedoid => {
                let temperature = info.get::<f32>(TEMPERATURE_ATTRIBUTE).ok_or(
                    GraphOpError::MissingAttribute {
                        name: TEMPERATURE_ATTRIBUTE,
                        kind: "float",
                    },
                )?;
                Aggregator::soft_medoid(temperature)
            }
        }
    }
}

/// A kernel instance: its validated attributes and nothing else (no state across runs).
struct AggregateKernel {
    aggregator: Aggregator,
}

impl Kernel for AggregateKernel {
    /// Runs the aggregation. A panic here would unwind into ONNX Runtime's C code and abort the
    /// process, so one (a robcert bug, never an input error) is reported as an error instead.
    fn compute(&mut self, ctx: &ComputeContext) -> ort::Result<()> {
        let run = std::panic::AssertUnwindSafe(|| self.compute_checked(ctx));
        std::panic::catch_unwind(run).unwrap_or_else(|panic| {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ort::Error::new(format!(
                "internal error in robcert's {} kernel (please report): {detail}",
                self.aggregator.op_name()
            )))
        })
    }
}

impl AggregateKernel {
    fn compute_checked(&self, ctx: &ComputeContext) -> ort::Result<()> {
        let x_value = ctx
            .input(X_POSITION)?
            .ok_or(GraphOpError::Runtime { what: "input x" })?;
        let edge_value = ctx
            .input(EDGE_INDEX_POSITION)?
            .ok_or(GraphOpError::Runtime {
                what: "input edge_index",
            })?;
        let (x_shape, x) = x_value.try_extract_tensor::<f32>()?;
        let (edge_shape, edge_index) = edge_value.try_extract_tensor::<i64>()?;
        let shape = GraphShape::check(x_shape, edge_shape)?;
        let graph = validated_graph(x, edge_index, shape)?;
        let mut output = ctx
            .output(0, vec![shape.nodes, shape.features])?
            .ok_or(GraphOpError::Runtime { what: "output y" })?;
        let (_, out) = output.try_extract_tensor_mut::<f32>()?;
        if out.len() != shape.nodes * shape.features {
            return Err(GraphOpError::Runtime {
                what: "an output of N × F elements",
            }
            .into());
        }
        aggregate_into(self.aggregator, x, shape.features, &graph, out);
        Ok(())
    }
}

/// The `ai.robcert` domain with `MedianAggregate`, `TrimmedMeanAggregate` and
/// `SoftMedoidAggregate`, opset version 1. Needs ONNX Runtime loaded ([`super::init`]).
pub fn graph_operator_domain() -> ort::Result<OperatorDomain> {
    OperatorDomain::new(DOMAIN)?
        .add(AggregateOperator::Median)?
        .add(AggregateOperator::TrimmedMean)?
        .add(AggregateOperator::SoftMedoid)
}

/// The first output of a graph model.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphOutput {
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// An ONNX Runtime session on a graph model with inputs named `x` (float32) and `edge_index`
/// (int64) and a float32 first output. One per thread, like [`super::ModelSession`].
pub struct GraphSession {
    session: Session,
    path: PathBuf,
}

impl GraphSession {
    /// A session on the model `bytes`; `path` only names it in error messages.
    pub fn from_bytes(path: &Path, bytes: &[u8], config: &RuntimeConfig) -> Result<GraphSession> {
        let session = build_session(path, bytes, config)?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if !names.contains(&X_INPUT)
            || !names.contains(&EDGE_INDEX_INPUT)
            || session.outputs().is_empty()
        {
            return Err(Error::ModelSignature {
                path: path.to_path_buf(),
                message: format!(
                    "a graph model needs inputs `{X_INPUT}` and `{EDGE_INDEX_INPUT}` and at least \
                     one output; it has inputs {names:?} and {} output(s)",
                    session.outputs().len()
                ),
            });
        }
        Ok(GraphSession {
            session,
            path: path.to_path_buf(),
        })
    }

    /// Runs the model on row-major `x` and `edge_index` with the given shapes (shapes are passed
    /// as given, so the operators' own validation can be exercised).
    pub fn run(
        &mut self,
        x: &[f32],
        x_shape: &[usize],
        edge_index: &[i64],
        edge_index_shape: &[usize],
    ) -> Result<GraphOutput> {
        let infer = |message: String| Error::Inference {
            path: self.path.clone(),
            message,
        };
        let x = TensorRef::from_array_view((x_shape.to_vec(), x))
            .map_err(|e| infer(format!("input x: {e}")))?;
        let edge_index = TensorRef::from_array_view((edge_index_shape.to_vec(), edge_index))
            .map_err(|e| infer(format!("input edge_index: {e}")))?;
        let outputs = self
            .session
            .run(ort::inputs![X_INPUT => x, EDGE_INDEX_INPUT => edge_index])
            .map_err(|e| infer(e.to_string()))?;
        let (shape, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| infer(format!("first output is not a float32 tensor: {e}")))?;
        Ok(GraphOutput {
            shape: shape.iter().map(|&d| d as usize).collect(),
            values: values.to_vec(),
        })
    }
}
