//! Canonical JSON: exactly one byte sequence per JSON value, so that a dossier hashes and signs
//! to the same bytes on every machine and every run.
//!
//! The rules:
//! - object keys are sorted at every depth, by their UTF-8 bytes (the same as Unicode code point
//!   order). Sorting is explicit and does not depend on serde_json's `Map` being a `BTreeMap`
//!   (it would preserve insertion order if the `preserve_order` feature were switched on by any
//!   crate in the build);
//! - two-space indentation, `"key": value`, `\n` line ends and one trailing newline; empty arrays
//!   and objects are written `[]` and `{}` (this is serde_json's pretty layout);
//! - strings are escaped as serde_json escapes them (`"`, `\` and control characters; other
//!   characters are written as UTF-8);
//! - numbers are written as serde_json writes them: integers in decimal, floats as the shortest
//!   text that parses back to the same `f64` (`1.0`, `0.1`, `1e-7`, `-0.0`).
//!
//! JSON has no NaN or infinity. A [`serde_json::Value`] cannot hold one, but serialising a struct
//! with a non-finite float would silently give `null`; [`to_canonical`] refuses such a value and
//! names where it is (for example `rows[3].radius`).

use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;

/// Renders `value` as canonical JSON (see the module documentation for the rules).
///
/// A `Value` holds only finite numbers, so this cannot fail today; it returns `Result` so that
/// callers are ready for checks that need it.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value, 0);
    out.push(b'\n');
    Ok(out)
}

/// Serialises `v` and renders it as canonical JSON.
///
/// Every float is first checked to be finite: a NaN or infinity anywhere gives
/// `Error::Dossier` whose `path` is the JSON path of the offending value (`rows[3].radius`,
/// `(root)` for a bare number), instead of the `null` serde_json would write. `f32` fields are
/// written as their shortest `f32` text (`0.1`, not `0.10000000149011612`); parsing that text
/// back as `f32` gives the same value.
pub fn to_canonical<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    if let Err(e) = v.serialize(Check::root()) {
        return Err(match e {
            CheckError::NonFinite { path, value } => Error::Dossier {
                path: PathBuf::from(if path.is_empty() { "(root)" } else { &path }),
                message: format!(
                    "value is {value}, which JSON cannot represent; a dossier must not hide it \
                     as null"
                ),
            },
            CheckError::Custom(message) => Error::Dossier {
                path: PathBuf::from("(root)"),
                message: format!("cannot serialise: {message}"),
            },
        });
    }
    // Going through text (not `serde_json::to_value`) keeps `f32` values at their short form.
    let text = serde_json::to_vec(v).map_err(|e| Error::Dossier {
        path: PathBuf::from("(root)"),
        message: format!("cannot serialise: {e}"),
    })?;
    let value: Value = serde_json::from_slice(&text).map_err(|e| Error::Dossier {
        path: PathBuf::from("(root)"),
        message: format!("serialised JSON does not parse back: {e}"),
    })?;
    canonical_json(&value)
}

fn indent(out: &mut Vec<u8>, level: usize) {
    out.extend(std::iter::repeat_n(b' ', 2 * level));
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` into a Vec cannot fail.
    serde_json::to_writer(&mut *out, s).expect("serialising a string into memory");
}

fn write_value(out: &mut Vec<u8>, value: &Value, level: usize) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            serde_json::to_writer(&mut *out, n).expect("serialising a number into memory")
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.extend_from_slice(b"[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, level + 1);
                write_value(out, item, level + 1);
                out.extend_from_slice(if i + 1 < items.len() { b",\n" } else { b"\n" });
            }
            indent(out, level);
            out.push(b']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.extend_from_slice(b"{\n");
            for (i, (key, item)) in entries.iter().enumerate() {
                indent(out, level + 1);
                write_string(out, key);
                out.extend_from_slice(b": ");
                write_value(out, item, level + 1);
                out.extend_from_slice(if i + 1 < entries.len() { b",\n" } else { b"\n" });
            }
            indent(out, level);
            out.push(b'}');
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finite-float check: a serde `Serializer` that writes nothing and tracks the JSON path.

#[derive(Debug)]
enum CheckError {
    NonFinite { path: String, value: f64 },
    Custom(String),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::NonFinite { path, value } => write!(f, "{path}: non-finite {value}"),
            CheckError::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CheckError {}

impl serde::ser::Error for CheckError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CheckError::Custom(msg.to_string())
    }
}

/// Walks a value as serde_json would serialise it; `path` is where the walk is.
struct Check {
    path: String,
}

impl Check {
    fn root() -> Check {
        Check {
            path: String::new(),
        }
    }

    fn field(path: &str, name: &str) -> Check {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let path = match (plain, path.is_empty()) {
            (true, true) => name.to_string(),
            (true, false) => format!("{path}.{name}"),
            (false, _) => format!(
                "{path}[{}]",
                serde_json::to_string(name).unwrap_or_default()
            ),
        };
        Check { path }
    }

    fn index(path: &str, i: usize) -> Check {
        Check {
            path: format!("{path}[{i}]"),
        }
    }

    fn float(self, value: f64) -> Result<(), CheckError> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(CheckError::NonFinite {
                path: self.path,
                value,
            })
        }
    }
}

type CheckResult = std::result::Result<(), CheckError>;

macro_rules! accept {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, _: $ty) -> CheckResult { Ok(()) })*
    };
}

impl serde::Serializer for Check {
    type Ok = ();
    type Error = CheckError;
    type SerializeSeq = SeqCheck;
    type SerializeTuple = SeqCheck;
    type SerializeTupleStruct = SeqCheck;
    type SerializeTupleVariant = SeqCheck;
    type SerializeMap = MapCheck;
    type SerializeStruct = StructCheck;
    type SerializeStructVariant = StructCheck;

    accept!(
        serialize_bool: bool,
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128,
        serialize_char: char,
        serialize_str: &str,
        serialize_bytes: &[u8],
        serialize_unit_struct: &'static str,
    );

    fn serialize_f32(self, v: f32) -> CheckResult {
        self.float(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> CheckResult {
        self.float(v)
    }

    fn serialize_none(self) -> CheckResult {
        Ok(())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> CheckResult {
        value.serialize(self)
    }

    fn serialize_unit(self) -> CheckResult {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> CheckResult {
        Ok(())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> CheckResult {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> CheckResult {
        value.serialize(Check::field(&self.path, variant))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<SeqCheck, CheckError> {
        Ok(SeqCheck {
            path: self.path,
            next: 0,
        })
    }

    fn serialize_tuple(self, _: usize) -> Result<SeqCheck, CheckError> {
        self.serialize_seq(None)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<SeqCheck, CheckError> {
        self.serialize_seq(None)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<SeqCheck, CheckError> {
        Check::field(&self.path, variant).serialize_seq(None)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<MapCheck, CheckError> {
        Ok(MapCheck {
            path: self.path,
            key: String::new(),
        })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<StructCheck, CheckError> {
        Ok(StructCheck { path: self.path })
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<StructCheck, CheckError> {
        Ok(StructCheck {
            path: Check::field(&self.path, variant).path,
        })
    }
}

struct SeqCheck {
    path: String,
    next: usize,
}

impl SeqCheck {
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> CheckResult {
        let i = self.next;
        self.next += 1;
        value.serialize(Check::index(&self.path, i))
    }
}

macro_rules! seq_like {
    ($($trait:ident :: $method:ident),*) => {
        $(impl serde::ser::$trait for SeqCheck {
            type Ok = ();
            type Error = CheckError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> CheckResult {
                self.element(value)
            }
            fn end(self) -> CheckResult {
                Ok(())
            }
        })*
    };
}

seq_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

struct MapCheck {
    path: String,
    key: String,
}

impl serde::ser::SerializeMap for MapCheck {
    type Ok = ();
    type Error = CheckError;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> CheckResult {
        // Keys are named in the path only; serde_json itself rejects keys it cannot write.
        self.key = match serde_json::to_value(key) {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => "?".to_string(),
        };
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> CheckResult {
        value.serialize(Check::field(&self.path, &self.key))
    }

    fn end(self) -> CheckResult {
        Ok(())
    }
}

struct StructCheck {
    path: String,
}

impl StructCheck {
    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> CheckResult {
        value.serialize(Check::field(&self.path, key))
    }
}

impl serde::ser::SerializeStruct for StructCheck {
    type Ok = ();
    type Error = CheckError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> CheckResult {
        self.field(key, value)
    }

    fn end(self) -> CheckResult {
        Ok(())
    }
}

impl serde::ser::SerializeStructVariant for StructCheck {
    type Ok = ();
    type Error = CheckError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> CheckResult {
        self.field(key, value)
    }

    fn end(self) -> CheckResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn text(v: &Value) -> String {
        String::from_utf8(canonical_json(v).unwrap()).unwrap()
    }

    #[test]
    fn dossier_canonical_layout_is_exact() {
        let v = json!({"b": [1, 2.5, {"z": null, "a": true}], "a": "x\"y\n", "e": [], "o": {}});
        let expected = "{\n  \"a\": \"x\\\"y\\n\",\n  \"b\": [\n    1,\n    2.5,\n    {\n      \
                        \"a\": true,\n      \"z\": null\n    }\n  ],\n  \"e\": [],\n  \"o\": {}\n}\n";
        assert_eq!(text(&v), expected);
    }

    #[test]
    fn dossier_canonical_sorts_keys_at_every_depth_regardless_of_insertion_order() {
        let mut inner1 = serde_json::Map::new();
        inner1.insert("y".into(), json!(1));
        inner1.insert("x".into(), json!(2));
        let mut inner2 = serde_json::Map::new();
        inner2.insert("x".into(), json!(2));
        inner2.insert("y".into(), json!(1));
        let a = json!({"outer": [Value::Object(inner1)], "b": 1});
        let b = json!({"b": 1, "outer": [Value::Object(inner2)]});
        assert_eq!(text(&a), text(&b));
        let t = text(&a);
        assert!(t.find("\"b\"").unwrap() < t.find("\"outer\"").unwrap());
        assert!(t.find("\"x\"").unwrap() < t.find("\"y\"").unwrap());
        // Byte order: upper case before lower case, shorter prefix first.
        let t = text(&json!({"a": 1, "B": 2, "ab": 3, "é": 4}));
        let order: Vec<usize> = ["\"B\"", "\"a\"", "\"ab\"", "\"é\""]
            .iter()
            .map(|k| t.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{t}");
    }

    #[test]
    fn dossier_canonical_round_trips_and_ends_with_one_newline() {
        let v = json!({"rows": [{"radius": 0.1, "n": 18446744073709551615u64, "m": -3,
                       "tiny": 1e-300, "neg0": -0.0, "s": "ünïcode \u{1} tab\t"}]});
        let bytes = canonical_json(&v).unwrap();
        assert!(bytes.ends_with(b"}\n") && !bytes.ends_with(b"\n\n"));
        assert!(!bytes.contains(&b'\r'));
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, v);
        assert_eq!(
            canonical_json(&back).unwrap(),
            bytes,
            "stable on re-rendering"
        );
        let t = String::from_utf8(bytes).unwrap();
        assert!(t.contains("\"radius\": 0.1,"), "{t}");
        assert!(t.contains("\"neg0\": -0.0,"), "{t}");
    }

    #[test]
    fn dossier_canonical_matches_serde_json_pretty_for_sorted_maps() {
        // Cross-check the layout against serde_json's own pretty printer on already-sorted input.
        let v = json!({"a": [1, [], {}, [2, {"c": "d"}]], "b": {"e": 1.5e300, "f": false}});
        let pretty = serde_json::to_string_pretty(&v).unwrap() + "\n";
        assert_eq!(text(&v), pretty);
    }

    #[derive(Serialize)]
    struct Row {
        id: u32,
        radius: f64,
        score: f32,
    }

    #[derive(Serialize)]
    struct Report {
        rows: Vec<Row>,
        extra: HashMap<String, Vec<f64>>,
        kind: Kind,
    }

    #[derive(Serialize)]
    enum Kind {
        Smoothing { sigma: f64 },
    }

    fn report() -> Report {
        Report {
            rows: (0..5)
                .map(|i| Row {
                    id: i,
                    radius: f64::from(i) * 0.25,
                    score: 0.1,
                })
                .collect(),
            extra: HashMap::from([("z".to_string(), vec![1.0]), ("a b".to_string(), vec![2.0])]),
            kind: Kind::Smoothing { sigma: 0.5 },
        }
    }

    #[test]
    fn dossier_to_canonical_sorts_struct_fields_and_keeps_f32_short() {
        let t = String::from_utf8(to_canonical(&report()).unwrap()).unwrap();
        assert!(t.find("\"extra\"").unwrap() < t.find("\"kind\"").unwrap());
        assert!(t.find("\"kind\"").unwrap() < t.find("\"rows\"").unwrap());
        assert!(t.contains("\"score\": 0.1\n"), "{t}");
        assert_eq!(to_canonical(&report()).unwrap(), t.as_bytes(), "stable");
    }

    #[test]
    fn dossier_to_canonical_names_the_path_of_a_non_finite_float() {
        let mut r = report();
        r.rows[3].radius = f64::NAN;
        let err = to_canonical(&r).unwrap_err().to_string();
        assert!(
            err.contains("rows[3].radius") && err.contains("NaN"),
            "{err}"
        );

        let mut r = report();
        r.rows[2].score = f32::NEG_INFINITY;
        let err = to_canonical(&r).unwrap_err().to_string();
        assert!(
            err.contains("rows[2].score") && err.contains("-inf"),
            "{err}"
        );

        let mut r = report();
        r.extra.insert("a b".into(), vec![1.0, f64::INFINITY]);
        let err = to_canonical(&r).unwrap_err().to_string();
        assert!(err.contains("extra[\"a b\"][1]"), "{err}");

        let r = Report {
            kind: Kind::Smoothing { sigma: f64::NAN },
            ..report()
        };
        let err = to_canonical(&r).unwrap_err().to_string();
        assert!(err.contains("kind.Smoothing.sigma"), "{err}");

        let err = to_canonical(&f64::NAN).unwrap_err().to_string();
        assert!(err.contains("(root)"), "{err}");

        // What serde_json alone would do: the NaN silently becomes null.
        let mut r = report();
        r.rows[3].radius = f64::NAN;
        assert_eq!(
            serde_json::to_value(&r).unwrap()["rows"][3]["radius"],
            Value::Null
        );
    }
}
