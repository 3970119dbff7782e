//! [`Configuration`]: the settings a user chose for one integration, as plain data beside the record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A configuration that passed [`Schema::validate`](crate::plugin::Schema::validate): a JSON object holding only the schema's fields, each with a
/// value of its type (optional fields given as `null` are left out).
///
/// It serializes as that JSON object, so the host can store it; deserializing does not validate again, so check a
/// stored configuration with [`Schema::validate`](crate::plugin::Schema::validate) when the schema may have changed since.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Configuration(Map<String, Value>);

impl Configuration {
    /// The value of field `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The value of string field `name`, if set.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// The value of integer field `name`, if set.
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }

    /// The value of boolean field `name`, if set.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(Value::as_bool)
    }

    /// The elements of string array field `name`, in order; empty when the field is not set.
    pub fn strings(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .get(name)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// The configuration as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The configuration as a JSON value, to store it.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

impl Configuration {
    /// Wraps a map that passed validation. Only [`Schema::validate`](crate::plugin::Schema::validate) makes one, so a
    /// `Configuration` always matched its schema when it was made.
    pub(crate) fn from_validated(map: Map<String, Value>) -> Self {
        Self(map)
    }
}
