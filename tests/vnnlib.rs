//! The VNN-LIB parser on the public VNN-COMP benchmarks and on malformed input:
//! - every benchmark property parses, in well under a millisecond each, and has the structure
//!   its README documents;
//! - its variable counts match the networks it is paired with in `instances.csv`;
//! - every recorded counterexample (x, and the output ONNX Runtime computed for it) lies in
//!   the unsafe set of its property, checked exactly;
//! - malformed files fail with an error naming the file, line, column and token, and no input
//!   (random bytes, random tokens, mutated benchmark files) makes the parser panic.
//!
//! The VNN-COMP files are read from `$ROBCERT_VNNCOMP_DIR` (default `../shared/benchmarks/vnncomp`
//! beside the checkout); they are never copied into the project. Tests that need them print a
//! note and pass when the folder is absent.

mod common;

use proptest::prelude::*;
use robcert::Error;
use robcert::onnx::{Dim, ValueInfo, load};
use robcert::vnnlib::{OutputConstraint, Property, Relation, parse_answer, parse_file, parse_str};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BENCHMARKS: [&str; 2] = ["acasxu", "rl_benchmarks"];

/// Mean parse time per benchmark file that the parser must beat (files are 1–4 kB; the
/// measured mean is far below this, which leaves room for a loaded machine).
const MAX_MEAN_PARSE_TIME: Duration = Duration::from_millis(2);

fn vnncomp() -> Option<PathBuf> {
    let dir = std::env::var_os("ROBCERT_VNNCOMP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo().join("../shared/benchmarks/vnncomp"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: {} not found; VNN-COMP checks skipped", dir.display());
        None
    }
}

fn property_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for bench in BENCHMARKS {
        for entry in std::fs::read_dir(dir.join(bench).join("vnnlib")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "vnnlib") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn parse(path: &Path) -> Property {
    parse_file(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_benchmark_property_parses_in_milliseconds() {
    let Some(dir) = vnncomp() else { return };
    let files = property_files(&dir);
    assert_eq!(files.len(), 306, "10 ACAS Xu and 296 RL properties");
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let mut slowest = (Duration::ZERO, &files[0]);
    let start = Instant::now();
    for (path, text) in files.iter().zip(&texts) {
        let one = Instant::now();
        let property = parse_str(text, path).unwrap_or_else(|e| panic!("{e}"));
        if one.elapsed() > slowest.0 {
            slowest = (one.elapsed(), path);
        }
        assert!(!property.groups.is_empty(), "{}", path.display());
        for group in &property.groups {
            assert!(!group.input.is_empty(), "{}", path.display());
        }
    }
    let total = start.elapsed();
    let mean = total / files.len() as u32;
    eprintln!(
        "parsed {} files ({} bytes) in {total:?}: mean {mean:?}, slowest {:?} ({})",
        files.len(),
        texts.iter().map(String::len).sum::<usize>(),
        slowest.0,
        slowest.1.display()
    );
    assert!(mean <= MAX_MEAN_PARSE_TIME, "mean parse time {mean:?}");
}

/// Number of elements of a declared tensor shape; symbolic dimensions (a batch `N`) count 1,
/// as in the competition's own scripts.
fn element_count(value: &ValueInfo) -> usize {
    let shape = value
        .shape
        .as_ref()
        .unwrap_or_else(|| panic!("`{}` has no declared shape", value.name));
    shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => *n,
            Dim::Symbolic(_) | Dim::Unknown => 1,
        })
        .product()
}

#[test]
fn variable_counts_match_the_paired_networks() {
    let Some(dir) = vnncomp() else { return };
    let mut sizes: HashMap<PathBuf, (usize, usize)> = HashMap::new();
    let mut properties: HashMap<PathBuf, Property> = HashMap::new();
    let mut instances = 0;
    for bench in BENCHMARKS {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(dir.join(bench).join("instances.csv"))
            .unwrap();
        for record in reader.records() {
            let record = record.unwrap();
            let onnx = dir.join(bench).join(record[0].trim());
            let vnnlib = dir.join(bench).join(record[1].trim());
            let &mut (inputs, outputs) = sizes.entry(onnx.clone()).or_insert_with(|| {
                let graph = load(&onnx).unwrap();
                assert_eq!((graph.inputs.len(), graph.outputs.len()), (1, 1));
                (
                    element_count(&graph.inputs[0]),
                    element_count(&graph.outputs[0]),
                )
            });
            let property = properties
                .entry(vnnlib.clone())
                .or_insert_with(|| parse(&vnnlib));
            property
                .check_dimensions(inputs, outputs)
                .unwrap_or_else(|e| panic!("{} with {}: {e}", vnnlib.display(), onnx.display()));
            instances += 1;
        }
    }
    eprintln!(
        "{instances} instances: {} networks, {} properties",
        sizes.len(),
        properties.len()
    );
    assert_eq!(instances, 482);
}

/// (groups, conjunctions per group, constraints per conjunction), from the README.
fn shape(property: &Property) -> (usize, Vec<usize>, Vec<usize>) {
    let conjunctions = property.groups.iter().map(|g| g.outputs.len()).collect();
    let mut constraints: Vec<usize> = property
        .groups
        .iter()
        .flat_map(|g| g.outputs.iter().map(Vec::len))
        .collect();
    constraints.dedup();
    (property.groups.len(), conjunctions, constraints)
}

#[test]
fn acasxu_properties_have_the_documented_structure() {
    let Some(dir) = vnncomp() else { return };
    let expected: [(usize, Vec<usize>, Vec<usize>); 10] = [
        (1, vec![1], vec![1]),
        (1, vec![1], vec![4]),
        (1, vec![1], vec![4]),
        (1, vec![1], vec![4]),
        (1, vec![4], vec![1]),
        (2, vec![4, 4], vec![1]),
        (1, vec![2], vec![3]),
        (1, vec![3], vec![2]),
        (1, vec![4], vec![1]),
        (1, vec![4], vec![1]),
    ];
    for (k, want) in (1..=10).zip(expected) {
        let property = parse(&dir.join(format!("acasxu/vnnlib/prop_{k}.vnnlib")));
        assert_eq!((property.num_inputs, property.num_outputs), (5, 5));
        assert_eq!(shape(&property), want, "prop_{k}");
    }
    // prop_1: "unsafe if COC ≥ 3.991125645861615", i.e. −Y_0 ≤ −3.991125645861615.
    let prop_1 = parse(&dir.join("acasxu/vnnlib/prop_1.vnnlib"));
    assert_eq!(
        prop_1.groups[0].outputs[0],
        [OutputConstraint {
            coefficients: vec![(0, -1.0)],
            relation: Relation::LessEq,
            rhs: -3.991125645861615,
        }]
    );
    // prop_6: two boxes that differ only in the sign of X_1, each with the same 4 outputs.
    let prop_6 = parse(&dir.join("acasxu/vnnlib/prop_6.vnnlib"));
    let [a, b] = &prop_6.groups[..] else {
        panic!("prop_6 must have two boxes")
    };
    assert_eq!(a.outputs, b.outputs);
    assert_eq!(a.input.lower[1].value, 0.11140846);
    assert_eq!(b.input.upper[1].value, -0.11140846);
    for i in [0, 2, 3, 4] {
        assert_eq!(a.input.lower[i], b.input.lower[i]);
        assert_eq!(a.input.upper[i], b.input.upper[i]);
    }
}

#[test]
fn rl_properties_have_the_documented_structure() {
    let Some(dir) = vnncomp() else { return };
    let mut dubins_disjuncts: HashMap<usize, usize> = HashMap::new();
    for path in property_files(&dir) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("prop_") {
            continue; // ACAS Xu
        }
        let property = parse(&path);
        let (groups, conjunctions, constraints) = shape(&property);
        assert_eq!(groups, 1, "{name}");
        if name.starts_with("dubinsrejoin") {
            assert_eq!((property.num_inputs, property.num_outputs), (8, 8));
            assert_eq!(constraints, [6], "{name}");
            *dubins_disjuncts.entry(conjunctions[0]).or_default() += 1;
        } else if name.starts_with("cartpole") || name.starts_with("lunarlander") {
            // One comparison of two outputs, `Y_i <= Y_j` → Y_i − Y_j ≤ 0.
            let [constraint] = &property.groups[0].outputs[0][..] else {
                panic!("{name}: one constraint expected")
            };
            assert_eq!(constraint.rhs, 0.0);
            assert_eq!(constraint.relation, Relation::LessEq);
            let mut signs: Vec<f64> = constraint.coefficients.iter().map(|c| c.1).collect();
            signs.sort_by(f64::total_cmp);
            assert_eq!(signs, [-1.0, 1.0], "{name}");
        }
    }
    assert_eq!(dubins_disjuncts, HashMap::from([(1, 91), (13, 1), (15, 4)]));
}

fn numbers(field: &str) -> Vec<f64> {
    field
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The published counterexamples, with onnxruntime's float32 outputs, lie in the unsafe set
/// of their properties — exactly, with no tolerance: `x` as written in the CSV (the values
/// the tools submitted) inside a box, `y` satisfying one of that box's output conjunctions.
#[test]
fn recorded_counterexamples_lie_in_the_unsafe_set() {
    let Some(dir) = vnncomp() else { return };
    let (mut checked, mut float32_outside) = (0, 0);
    for bench in BENCHMARKS {
        let mut reader =
            csv::Reader::from_path(dir.join(bench).join("counterexamples.csv")).unwrap();
        let mut properties: HashMap<String, Property> = HashMap::new();
        for record in reader.records() {
            let record = record.unwrap();
            let property = properties
                .entry(record[1].to_string())
                .or_insert_with(|| parse(&dir.join(bench).join(&record[1])));
            let (x, y) = (numbers(&record[4]), numbers(&record[5]));
            assert!(
                property.is_counterexample(&x, &y),
                "{} on {}: x = {x:?}, y = {y:?}",
                &record[1],
                &record[0]
            );
            // ONNX Runtime ran the network on x rounded to float32, which need not lie in the
            // box when x sits on its boundary: counted and reported, not required.
            let x32: Vec<f64> = x.iter().map(|&v| f64::from(v as f32)).collect();
            if !property.is_counterexample(&x32, &y) {
                eprintln!(
                    "note: {} on {} ({}): the float32 rounding of x leaves the input box",
                    &record[1], &record[0], &record[2]
                );
                float32_outside += 1;
            }
            checked += 1;
        }
    }
    eprintln!(
        "{checked} counterexamples lie in their unsafe sets; for {float32_outside} of them the \
         float32 input the network ran on is outside the box"
    );
    assert_eq!(checked, 150);
}

// ---- malformed input ----------------------------------------------------------------------

const HEADER: &str = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n";
const BOX: &str = "(assert (>= X_0 0))\n(assert (<= X_0 1))\n";

/// (what is wrong, text, line, column, token, part of the message)
fn malformed() -> Vec<(
    &'static str,
    String,
    usize,
    usize,
    &'static str,
    &'static str,
)> {
    let with = |body: &str| format!("{HEADER}{BOX}{body}");
    vec![
        (
            "an extra `)`",
            format!("{HEADER})"),
            3,
            1,
            ")",
            "no `(` is open",
        ),
        (
            "a missing `)`",
            with("(assert (<= Y_0 1)\n(assert (>= Y_0 0))"),
            5,
            1,
            "(",
            "never closed",
        ),
        (
            "an undeclared variable",
            with("(assert (<= Y_1 1))"),
            5,
            13,
            "Y_1",
            "undeclared variable",
        ),
        (
            "a redeclared variable",
            format!("{HEADER}(declare-const Y_0 Real)"),
            3,
            16,
            "Y_0",
            "already declared at line 2",
        ),
        (
            "a product of outputs",
            with("(assert (<= (* Y_0 Y_0) 1))"),
            5,
            14,
            "*",
            "non-linear term: a product of Y_0 and Y_0",
        ),
        (
            "a product of inputs",
            with("(assert (<= (* 2 X_0 X_0) 1))"),
            5,
            14,
            "*",
            "non-linear term: a product of X_0 and X_0",
        ),
        (
            "a comparison of an input with an output",
            with("(assert (<= X_0 Y_0))"),
            5,
            10,
            "<=",
            "mixes inputs and outputs (X_0 and Y_0)",
        ),
        (
            "an unknown formula operator",
            with("(assert (foo Y_0 1))"),
            5,
            10,
            "foo",
            "unknown operator",
        ),
        (
            "an unknown term operator",
            with("(assert (<= (exp Y_0) 1))"),
            5,
            14,
            "exp",
            "unknown operator in a term",
        ),
        (
            "equality",
            with("(assert (= Y_0 1))"),
            5,
            10,
            "=",
            "`=` is not supported",
        ),
        (
            "negation",
            with("(assert (not (<= Y_0 1)))"),
            5,
            10,
            "not",
            "unsupported operator",
        ),
        (
            "division",
            with("(assert (<= (/ Y_0 2) 1))"),
            5,
            14,
            "/",
            "division is not supported",
        ),
        (
            "a bad number",
            with("(assert (<= Y_0 1.2.3))"),
            5,
            17,
            "1.2.3",
            "bad number",
        ),
        (
            "a number too large",
            with("(assert (<= Y_0 -1e400))"),
            5,
            17,
            "-1e400",
            "out of the range",
        ),
        ("an empty file", String::new(), 1, 1, "", "empty property"),
        (
            "a file of comments",
            "; nothing here\n".to_string(),
            2,
            1,
            "",
            "empty property",
        ),
        (
            "an index gap",
            "(declare-const X_0 Real)\n(declare-const X_2 Real)\n(declare-const Y_0 Real)"
                .to_string(),
            2,
            16,
            "X_2",
            "X_2 is declared but X_1 is not",
        ),
        (
            "no outputs",
            "(declare-const X_0 Real)\n".to_string(),
            2,
            1,
            "",
            "no outputs declared",
        ),
        (
            "an unbounded input",
            format!("{HEADER}(assert (>= X_0 0))"),
            1,
            16,
            "X_0",
            "X_0 has no upper bound",
        ),
        (
            "an input unbounded in one disjunct",
            format!(
                "{HEADER}(assert (or (and (>= X_0 0) (<= X_0 1)) (>= X_0 2)))\n(assert (<= Y_0 0))"
            ),
            1,
            16,
            "X_0",
            "X_0 has no upper bound in (a disjunct of)",
        ),
        (
            "two inputs in one comparison",
            "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n\
             (assert (<= (+ X_0 X_1) 1))"
                .to_string(),
            4,
            10,
            "<=",
            "a single X variable",
        ),
        (
            "a bound that would need rounding",
            with("(assert (<= (* 3 X_0) 1))"),
            5,
            10,
            "<=",
            "not exact in binary64",
        ),
        (
            "constants that would need rounding",
            with("(assert (<= (+ Y_0 1e-20) 1))"),
            5,
            10,
            "<=",
            "needs rounding",
        ),
        (
            "a non-Real sort",
            "(declare-const X_0 Int)".to_string(),
            1,
            20,
            "Int",
            "must be declared `Real`",
        ),
        (
            "an unsupported variable name",
            "(declare-const x Real)".to_string(),
            1,
            16,
            "x",
            "unsupported variable name",
        ),
        (
            "an unknown command",
            format!("{HEADER}(check-sat)"),
            3,
            2,
            "check-sat",
            "unknown command",
        ),
        (
            "a chained comparison",
            with("(assert (<= 0 Y_0 1))"),
            5,
            10,
            "<=",
            "exactly two terms",
        ),
        (
            "an empty `and`",
            with("(assert (and))"),
            5,
            10,
            "and",
            "at least one argument",
        ),
    ]
}

#[test]
fn malformed_properties_fail_with_the_line_column_and_token() {
    for (what, text, line, column, token, message) in malformed() {
        let result = parse_str(&text, Path::new("bad.vnnlib"));
        match &result {
            Err(
                e @ Error::VnnLib {
                    line: l,
                    column: c,
                    token: t,
                    ..
                },
            ) => {
                let shown = e.to_string();
                eprintln!("{what}: {shown}");
                assert_eq!(
                    (*l, *c, t.as_str()),
                    (line, column, token),
                    "{what}: {shown}"
                );
                assert!(shown.contains(message), "{what}: {shown}");
                assert!(shown.starts_with("bad.vnnlib:"), "{what}: {shown}");
            }
            other => panic!("{what}: expected an error, got {other:?}"),
        }
    }
}

#[test]
fn errors_show_the_file_line_column_and_token() {
    let e = parse_str(
        &format!("{HEADER}{BOX}(assert (<= Y_1 1))"),
        Path::new("dir/p.vnnlib"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "dir/p.vnnlib:5:13: undeclared variable `Y_1` (declare it first with \
         `(declare-const Y_1 Real)`) (at `Y_1`)"
    );
    let e = parse_str("", Path::new("empty.vnnlib")).unwrap_err();
    assert!(e.to_string().ends_with("(at end of file)"), "{e}");
}

#[test]
fn files_that_are_not_utf8_or_missing_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.vnnlib");
    std::fs::write(&path, b"; caf\xe9\n(declare-const X_0 Real)").unwrap();
    let e = parse_file(&path).unwrap_err();
    assert!(
        matches!(e, Error::VnnLib { line: 1, column: 6, ref token, .. } if token == "\\xe9"),
        "{e}"
    );
    let e = parse_file(&dir.path().join("absent.vnnlib")).unwrap_err();
    assert!(matches!(e, Error::MissingFile { .. }), "{e}");
}

#[test]
fn check_dimensions_names_both_sizes() {
    let property = parse_str(
        &format!("{HEADER}{BOX}(assert (<= Y_0 0))"),
        Path::new("p.vnnlib"),
    )
    .unwrap();
    property.check_dimensions(1, 1).unwrap();
    let e = property.check_dimensions(5, 1).unwrap_err();
    assert!(matches!(e, Error::VnnLibDimensions { .. }));
    assert_eq!(
        e.to_string(),
        "p.vnnlib declares 1 input(s) X_ and 1 output(s) Y_, but the network has 5 input(s) and \
         1 output(s); is this the property for this network?"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for text in [
        "(".repeat(1_000_000),
        format!("{HEADER}(assert {}", "(and ".repeat(100_000)),
        format!("{HEADER}{BOX}(assert (<= {} 0))", "(- ".repeat(100_000)),
    ] {
        let e = parse_str(&text, Path::new("deep.vnnlib")).unwrap_err();
        assert!(e.to_string().contains("nest deeper than"), "{e}");
    }
}

// ---- no panics on any input ---------------------------------------------------------------

/// Inputs to mutate: the benchmark files if present, else a property written for this test.
fn seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut texts = vec![format!(
            "; two boxes\n{HEADER}(declare-const X_1 Real)\n(declare-const Y_1 Real)\n\
             (assert (or (and (>= X_0 -1.5e-3) (<= X_0 0.5) (> X_1 0) (< X_1 1))\n\
             (and (>= X_0 1) (<= X_0 2) (>= (- X_1) -3) (<= (* 2 X_1) 4))))\n\
             (assert (or (and (<= Y_0 Y_1)) (and (< (+ Y_0 (* -2 Y_1)) 0.25) (>= Y_1 -7))))\n"
        )];
        if let Some(dir) = vnncomp() {
            let files = property_files(&dir);
            // Every ACAS Xu property and every tenth RL property.
            for (k, f) in files.iter().enumerate() {
                if k % 10 == 0 || f.to_string_lossy().contains("acasxu") {
                    texts.push(std::fs::read_to_string(f).unwrap());
                }
            }
        }
        texts
    })
}

const VOCABULARY: [&str; 24] = [
    "(",
    ")",
    "(",
    ")",
    " ",
    "\n",
    ";",
    "and",
    "or",
    "assert",
    "declare-const",
    "Real",
    "X_0",
    "X_7",
    "Y_1",
    "<=",
    ">",
    "=",
    "*",
    "-",
    "+",
    "-1e999",
    "0.5",
    "1.",
];

/// Applies random edits to `text`: delete, duplicate or replace a range, insert a token.
fn mutate(text: &str, edits: &[(u8, usize, usize, usize)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &(kind, a, b, token) in edits {
        let n = bytes.len().max(1);
        let (start, len) = (a % n, b % 40);
        let end = (start + len).min(bytes.len());
        let start = start.min(end);
        match kind % 4 {
            0 => {
                bytes.drain(start..end);
            }
            1 => {
                let copy = bytes[start..end].to_vec();
                bytes.splice(start..start, copy);
            }
            2 => {
                bytes.splice(start..end, VOCABULARY[token % VOCABULARY.len()].bytes());
            }
            _ => {
                let word = format!(" {} ", VOCABULARY[token % VOCABULARY.len()]);
                bytes.splice(start..start, word.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn parse_anything(text: &str) {
    let path = Path::new("fuzz.vnnlib");
    if let Ok(property) = parse_str(text, path) {
        // Whatever parses must be usable: evaluate it somewhere.
        let x = vec![0.0; property.num_inputs];
        let y = vec![0.0; property.num_outputs];
        let _ = property.is_counterexample(&x, &y);
    }
    let _ = parse_answer(text, path);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        parse_anything(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_token_sequences_never_panic(
        tokens in proptest::collection::vec(0..VOCABULARY.len(), 0..120),
    ) {
        let text: Vec<&str> = tokens.iter().map(|&t| VOCABULARY[t]).collect();
        parse_anything(&text.join(" "));
    }

    #[test]
    fn mutated_properties_never_panic(
        which in any::<usize>(),
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>(), any::<usize>()), 1..8),
    ) {
        let seeds = seeds();
        parse_anything(&mutate(&seeds[which % seeds.len()], &edits));
    }
}
