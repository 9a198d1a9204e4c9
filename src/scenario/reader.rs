//! A small reader over `serde_json::Value` that knows where it is: every error names the path of
//! the field (`runs[0].optimizer.lr`), and a field nobody asked for is an error. The text is parsed
//! here too, so that a field given twice is an error naming its path rather than a silent choice.

use crate::engine::error::{join_path, InputError};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt;

/// A JSON object being read; `finish` rejects the fields that were not read.
pub struct ObjectReader<'a> {
    path: String,
    map: &'a Map<String, Value>,
    read: Vec<&'static str>,
}

/// The JSON type of `value`, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `Err` at `path`: expected `what`, found `value`'s type.
pub fn expected(path: &str, what: &str, value: &Value) -> InputError {
    InputError::new(path, format!("expected {what}, found {}", type_name(value)))
}

/// A number for messages, in its shortest form: plain when ordinary (`100`, `0.5`, and `100.0`
/// when written as a fraction), scientific when very large or very small (`-1e308`, `1e-46`),
/// never hundreds of digits.
pub fn float_text(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 || (1e-4..1e16).contains(&x.abs()) {
        // `Display` gives the shortest digits that read back; keep the point of `100.0`.
        let text = x.to_string();
        if text.contains('.') {
            text
        } else {
            text + ".0"
        }
    } else {
        // `{:e}` is the shortest scientific form: `1e308`, `1.7e38`.
        format!("{x:e}")
    }
}

/// A JSON number as written when it is an integer, else as [`float_text`] shows it.
pub fn number_text(number: &Number) -> String {
    if number.is_u64() || number.is_i64() {
        number.to_string()
    } else {
        number
            .as_f64()
            .map_or_else(|| number.to_string(), float_text)
    }
}

/// A number as [`number_text`] shows it; any other value as its type.
fn found(value: &Value) -> String {
    match value {
        Value::Number(number) => number_text(number),
        other => type_name(other).to_string(),
    }
}

/// Reads `value` as an object.
pub fn object<'a>(path: &str, value: &'a Value) -> Result<ObjectReader<'a>, InputError> {
    match value {
        Value::Object(map) => Ok(ObjectReader {
            path: path.to_string(),
            map,
            read: Vec::new(),
        }),
        other => Err(expected(path, "an object", other)),
    }
}

/// Reads `value` as an array.
pub fn array<'a>(path: &str, value: &'a Value) -> Result<&'a [Value], InputError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(expected(path, "an array", other)),
    }
}

/// Reads `value` as a finite number.
pub fn number(path: &str, value: &Value) -> Result<f64, InputError> {
    match value.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(expected(path, "a number", value)),
    }
}

/// Reads `value` as a number that fits an f32 (the engine's precision): not beyond its range,
/// and not so close to 0 that it would silently become 0.
pub fn number_f32(path: &str, value: &Value) -> Result<f32, InputError> {
    let x = number(path, value)?;
    if x.abs() > f32::MAX as f64 {
        return Err(InputError::new(
            path,
            format!(
                "{} is too large for the engine (f32, at most about 3.4e38 in magnitude)",
                found(value)
            ),
        ));
    }
    let single = x as f32;
    if single == 0.0 && x != 0.0 {
        // x is not 0 here: its sign says which side of 0 it lies.
        let message = if x.is_sign_positive() {
            "is below the smallest positive value the engine can hold (f32, about 1.4e-45)"
        } else {
            "is above the largest negative value the engine can hold (f32, about -1.4e-45)"
        };
        return Err(InputError::new(path, format!("{} {message}", found(value))));
    }
    Ok(single)
}

/// Reads `value` as a non-negative integer; a number that is not one is named in the message.
pub fn integer(path: &str, value: &Value) -> Result<u64, InputError> {
    match value {
        Value::Number(number) => number.as_u64().ok_or_else(|| {
            InputError::new(
                path,
                format!(
                    "expected a non-negative integer, found {}",
                    number_text(number)
                ),
            )
        }),
        other => Err(expected(path, "a non-negative integer", other)),
    }
}

/// Reads `value` as a string.
pub fn string<'a>(path: &str, value: &'a Value) -> Result<&'a str, InputError> {
    value
        .as_str()
        .ok_or_else(|| expected(path, "a string", value))
}

/// The Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The name of `known` closest to `word` when it is within two edits (a likely typo), for "did
/// you mean" hints on names that are values rather than fields (an exercise's panels and locks).
pub fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|&name| (edit_distance(word, name), name))
        .min()
        .filter(|&(distance, _)| distance <= 2)
        .map(|(_, name)| name)
}

impl<'a> ObjectReader<'a> {
    /// The path of field `name` of this object.
    pub fn path_of(&self, name: &str) -> String {
        join_path(&self.path, name)
    }

    /// Field `name`, if present and not null.
    pub fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.read.push(name);
        self.map.get(name).filter(|value| !value.is_null())
    }

    /// Field `name`, which must be present.
    pub fn require(&mut self, name: &'static str) -> Result<&'a Value, InputError> {
        let path = self.path_of(name);
        self.get(name)
            .ok_or_else(|| InputError::new(path, "missing field"))
    }

    /// Optional finite f32 field.
    pub fn f32(&mut self, name: &'static str) -> Result<Option<f32>, InputError> {
        let path = self.path_of(name);
        self.get(name).map(|v| number_f32(&path, v)).transpose()
    }

    /// Optional finite f64 field.
    pub fn f64(&mut self, name: &'static str) -> Result<Option<f64>, InputError> {
        let path = self.path_of(name);
        self.get(name).map(|v| number(&path, v)).transpose()
    }

    /// Optional non-negative integer field.
    pub fn integer(&mut self, name: &'static str) -> Result<Option<u64>, InputError> {
        let path = self.path_of(name);
        self.get(name).map(|v| integer(&path, v)).transpose()
    }

    /// Optional boolean field.
    pub fn bool(&mut self, name: &'static str) -> Result<Option<bool>, InputError> {
        let path = self.path_of(name);
        self.get(name)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| expected(&path, "true or false", v))
            })
            .transpose()
    }

    /// Optional string field.
    pub fn string(&mut self, name: &'static str) -> Result<Option<&'a str>, InputError> {
        let path = self.path_of(name);
        self.get(name).map(|v| string(&path, v)).transpose()
    }

    /// Rejects every field that was not read, with a hint when it looks like a typo.
    pub fn finish(self) -> Result<(), InputError> {
        // The first in sorted order, so the field reported does not depend on the map's order.
        let unknown = self
            .map
            .keys()
            .filter(|key| !self.read.contains(&key.as_str()))
            .min();
        if let Some(key) = unknown {
            let closest = self
                .read
                .iter()
                .map(|known| (edit_distance(key, known), *known))
                .min();
            let message = match closest {
                Some((distance, known)) if distance <= 2 => {
                    format!("unknown field (did you mean \"{known}\"?)")
                }
                _ => format!("unknown field (known fields: {})", self.read.join(", ")),
            };
            return Err(InputError::new(join_path(&self.path, key), message));
        }
        Ok(())
    }
}

/// Parses JSON text into a `Value`. A syntax error is reported at `line L, column C`; a key given
/// twice in one object is reported at its path (`runs[0].beta: duplicate field`) instead of the
/// last one silently winning, as `serde_json::Value` alone would have it.
pub fn parse(text: &str) -> Result<Value, InputError> {
    let duplicate = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let seed = ValueSeed {
        place: Place::Root,
        duplicate: &duplicate,
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|error| match duplicate.take() {
        Some(path) => InputError::new(path, "duplicate field"),
        None => syntax_error(&error),
    })
}

/// A serde_json error as `line L, column C: invalid JSON: ...`.
fn syntax_error(error: &serde_json::Error) -> InputError {
    let message = error.to_string();
    // serde_json appends " at line L column C"; the path already says where.
    let message = match message.rfind(" at line ") {
        Some(end) => message[..end].to_string(),
        None => message,
    };
    InputError::new(
        format!("line {}, column {}", error.line(), error.column()),
        format!("invalid JSON: {message}"),
    )
}

/// Where the value being parsed sits: a chain of borrowed steps up to the root, so that parsing
/// allocates nothing for it; turned into a path only when there is an error to report.
#[derive(Clone, Copy)]
enum Place<'a> {
    Root,
    Field(&'a Place<'a>, &'a str),
    Item(&'a Place<'a>, usize),
}

impl Place<'_> {
    /// The path, as the reader writes it: `runs[0].beta`.
    fn path(&self) -> String {
        match *self {
            Place::Root => String::new(),
            Place::Field(parent, name) => join_path(&parent.path(), name),
            Place::Item(parent, index) => join_path(&parent.path(), &format!("[{index}]")),
        }
    }
}

/// Builds a `Value` as `serde_json::Value`'s own `Deserialize` does, but rejects a repeated key,
/// leaving its path in `duplicate` (a serde error can only carry text, and serde_json adds the line
/// and column to it). Nesting is bounded by serde_json's recursion limit. It reads only from
/// serde_json's `deserialize_any`, which calls the visitor methods below and no others (strings
/// through `visit_str`, `null` through `visit_unit`).
struct ValueSeed<'a> {
    place: Place<'a>,
    duplicate: &'a Cell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let item = ValueSeed {
                place: Place::Item(&self.place, items.len()),
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(item)? {
                Some(value) => items.push(value),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let place = Place::Field(&self.place, &key);
            if object.contains_key(&key) {
                self.duplicate.set(Some(place.path()));
                return Err(de::Error::custom("duplicate field"));
            }
            let value = map.next_value_seed(ValueSeed {
                place,
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_messages_are_short() {
        let cases = [
            (100.0, "100.0"),
            (0.5, "0.5"),
            (-3.25, "-3.25"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-4, "0.0001"),
            (9.5e-5, "9.5e-5"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e16"),
            (-1e308, "-1e308"),
            (1.7e38, "1.7e38"),
            (f32::MAX as f64, "3.4028234663852886e38"),
            (1e-46, "1e-46"),
        ];
        for (x, expected) in cases {
            assert_eq!(float_text(x), expected, "{x:?}");
        }
        let integers: Value = serde_json::from_str("[100, -3, 18446744073709551615]").unwrap();
        let shown: Vec<String> = integers
            .as_array()
            .unwrap()
            .iter()
            .map(|v| number_text(v.as_number().unwrap()))
            .collect();
        assert_eq!(shown, ["100", "-3", "18446744073709551615"]);
    }

    #[test]
    fn parse_reads_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 2.5, 1e300, "s\u00e9", true, null, {"b": {}}], "c": []}"#;
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse(text).unwrap(), expected);
        let error = parse("[1, 2").unwrap_err();
        assert_eq!(error.path, "line 1, column 5");
        assert!(error.message.starts_with("invalid JSON: "), "{error}");
        let error = parse("{} x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 1, column 4: invalid JSON: trailing characters"
        );
        let error = parse(r#"{"a": [{"b": 1}, {"b": 1, "c": {"d": 0, "d": 1}}]}"#).unwrap_err();
        assert_eq!(error.to_string(), "a[1].c.d: duplicate field");
    }

    #[test]
    fn closest_names_a_likely_typo_only() {
        let known = ["curves", "claims", "tables"];
        assert_eq!(closest("curve", &known), Some("curves"));
        assert_eq!(closest("tabels", &known), Some("tables"));
        assert_eq!(closest("margins", &known), None);
        assert_eq!(closest("x", &[]), None);
    }

    #[test]
    fn edit_distances_by_hand() {
        // Insertions, deletions and substitutions cost one each.
        let cases = [
            ("", "abc", 3),
            ("abc", "", 3),
            ("a", "abc", 2),
            ("abc", "a", 2),
            ("lamda", "lambda", 1),
            ("betta", "beta", 1),
            ("kitten", "sitting", 3),
            ("beta", "beta", 0),
        ];
        for (a, b, distance) in cases {
            assert_eq!(edit_distance(a, b), distance, "{a:?} {b:?}");
        }
        assert_eq!(closest("stpes", &["steps", "runs"]), Some("steps"));
        assert_eq!(closest("r", &["steps", "runs"]), None);
    }
}
