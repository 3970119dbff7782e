//! Reading provider response bodies: JSON or form-encoded, into one JSON value read by pointer.
//!
//! Bodies are parsed into `serde_json::Value` first and fields are read by JSON pointer, so that error messages
//! name a field path but never echo a value (token responses are full of secrets).

use serde_json::{Map, Value};

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Not valid JSON, or JSON that is not an object.
    NotAnObject(String),
}

/// Parses a response body: JSON when the content type says JSON or the body starts with `{`, else form-encoded.
pub(crate) fn parse(response: &http::Response<Vec<u8>>) -> Result<Value, BodyError> {
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = response.body();
    let looks_json = body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'{');
    let is_form = content_type.contains("x-www-form-urlencoded");
    if content_type.contains("json") || (looks_json && !is_form) {
        match serde_json::from_slice::<Value>(body) {
            Ok(value @ Value::Object(_)) => Ok(value),
            Ok(_) => Err(BodyError::NotAnObject("json body is not an object".to_owned())),
            Err(error) => Err(BodyError::NotAnObject(format!("invalid json: {error}"))),
        }
    } else {
        let mut map = Map::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            map.entry(name.into_owned())
                .or_insert_with(|| Value::String(value.into_owned()));
        }
        Ok(Value::Object(map))
    }
}

/// A string at `pointer`; `None` when absent, null or empty. `Err(())` when present with another type.
pub(crate) fn string(value: &Value, pointer: &str) -> Result<Option<String>, ()> {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => Err(()),
    }
}

/// A non-negative integer at `pointer`, given as a JSON number or a decimal string (form-encoded bodies).
pub(crate) fn seconds(value: &Value, pointer: &str) -> Result<Option<u32>, ()> {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or(()),
        Some(Value::String(text)) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse().map(Some).map_err(|_| ())
        }
        Some(_) => Err(()),
    }
}

/// A boolean at `pointer`, if present and boolean (or the strings `true` / `false`).
pub(crate) fn flag(value: &Value, pointer: &str) -> Option<bool> {
    match value.pointer(pointer)? {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text == "true" => Some(true),
        Value::String(text) if text == "false" => Some(false),
        _ => None,
    }
}

/// Splits a scope list on commas and whitespace (providers answer either way).
pub(crate) fn scopes(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}
