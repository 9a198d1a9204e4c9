//! A small reader over `serde_json::Value` that knows where it is: every error names the path of
//! the field (`runs[0].optimizer.lr`), and a field nobody asked for is an error.

use crate::engine::error::{join_path, InputError};
use serde_json::{Map, Value};

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

/// Reads `value` as a number that fits an f32 (the engine's precision).
pub fn number_f32(path: &str, value: &Value) -> Result<f32, InputError> {
    let x = number(path, value)?;
    if x.abs() > f32::MAX as f64 {
        return Err(InputError::new(path, format!("{x} is too large")));
    }
    Ok(x as f32)
}

/// Reads `value` as a non-negative integer.
pub fn integer(path: &str, value: &Value) -> Result<u64, InputError> {
    value
        .as_u64()
        .ok_or_else(|| expected(path, "a non-negative integer", value))
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
        // Sorted, so the first unknown field reported does not depend on the map's order.
        let mut unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|key| !self.read.contains(&key.as_str()))
            .collect();
        unknown.sort();
        if let Some(key) = unknown.first() {
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
