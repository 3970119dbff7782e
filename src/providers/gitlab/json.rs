//! Reading GitLab's JSON leniently: the fields that identify an event are required and named by their dotted path
//! when missing; every other field falls back to `None` when it is missing, `null` or of another type.
//!
//! GitLab writes times in several formats, sometimes in one body (`2021-02-23T02:41:37.886Z`,
//! `2015-03-01 20:12:53 UTC`, `2021-04-28 21:50:00 +0200`, `2011-12-12T14:27:31+02:00`); [`time`] reads them all.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::convert::ConvertError;

/// A JSON object with the dotted path it was found at, for error messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Obj<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) path: &'a str,
}

impl<'a> Obj<'a> {
    /// The body itself, which must be a JSON object.
    pub(super) fn root(value: &'a Value) -> Result<Self, ConvertError> {
        match value {
            Value::Object(map) => Ok(Self { map, path: "" }),
            _ => Err(ConvertError::InvalidField {
                path: ".".to_owned(),
                message: "expected a JSON object".to_owned(),
            }),
        }
    }

    /// The dotted path of `field` in this object.
    pub(super) fn path_of(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    pub(super) fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|value| !value.is_null())
    }

    /// The nested object `field`, if it is one; `path` is its dotted path (a `'static` string kept by the caller).
    pub(super) fn obj(&self, field: &str, path: &'a str) -> Option<Self> {
        match self.get(field) {
            Some(Value::Object(map)) => Some(Self { map, path }),
            _ => None,
        }
    }

    /// The nested object `field`, required.
    pub(super) fn req_obj(&self, field: &str, path: &'a str) -> Result<Self, ConvertError> {
        match self.get(field) {
            Some(Value::Object(map)) => Ok(Self { map, path }),
            Some(_) => Err(invalid(self.path_of(field), "expected an object")),
            None => Err(missing(self.path_of(field))),
        }
    }

    /// A string field; `None` when missing, `null` or not a string.
    pub(super) fn str(&self, field: &str) -> Option<&'a str> {
        self.get(field).and_then(Value::as_str)
    }

    /// A non-empty string field, required.
    pub(super) fn req_str(&self, field: &str) -> Result<&'a str, ConvertError> {
        match self.get(field) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text),
            Some(Value::String(_)) | None => Err(missing(self.path_of(field))),
            Some(_) => Err(invalid(self.path_of(field), "expected a string")),
        }
    }

    /// An owned copy of a string field.
    pub(super) fn string(&self, field: &str) -> Option<String> {
        self.str(field).map(str::to_owned)
    }

    /// An unsigned integer field (GitLab's numeric ids); `None` when missing, `null` or not one.
    pub(super) fn u64(&self, field: &str) -> Option<u64> {
        self.get(field).and_then(Value::as_u64)
    }

    /// An unsigned integer field, required: the numeric ids that keys are built from.
    pub(super) fn req_u64(&self, field: &str) -> Result<u64, ConvertError> {
        match self.get(field) {
            Some(value) => value
                .as_u64()
                .ok_or_else(|| invalid(self.path_of(field), "expected an unsigned integer id")),
            None => Err(missing(self.path_of(field))),
        }
    }

    /// A boolean field.
    pub(super) fn bool(&self, field: &str) -> Option<bool> {
        self.get(field).and_then(Value::as_bool)
    }

    /// A time field in any of GitLab's formats; `None` when missing or unreadable.
    pub(super) fn time(&self, field: &str) -> Option<DateTime<Utc>> {
        self.str(field).and_then(time)
    }

    /// The array `field`, empty when missing or not an array.
    pub(super) fn array(&self, field: &str) -> &'a [Value] {
        match self.get(field) {
            Some(Value::Array(items)) => items,
            _ => &[],
        }
    }
}

pub(super) fn missing(path: String) -> ConvertError {
    ConvertError::MissingField { path }
}

pub(super) fn invalid(path: String, message: &str) -> ConvertError {
    ConvertError::InvalidField {
        path,
        message: message.to_owned(),
    }
}

/// A time as GitLab writes it: RFC 3339 (`2013-12-03T17:23:34Z`, `2011-12-12T14:27:31+02:00`), or
/// `YYYY-MM-DD HH:MM:SS` followed by ` UTC` or a numeric offset (`+0200`). Plain dates and anything else: `None`.
pub(super) fn time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    if let Some(naive) = text.strip_suffix(" UTC") {
        return NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|time| time.and_utc());
    }
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f %z")
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::format_time;

    #[test]
    fn every_time_format_gitlab_writes_is_read() {
        let read = |text| time(text).map(|time| format_time(&time));
        assert_eq!(
            read("2021-02-23T02:41:37.886Z").as_deref(),
            Some("2021-02-23T02:41:37.886Z")
        );
        assert_eq!(read("2013-12-03T17:23:34Z").as_deref(), Some("2013-12-03T17:23:34Z"));
        assert_eq!(read("2015-03-01 20:12:53 UTC").as_deref(), Some("2015-03-01T20:12:53Z"));
        assert_eq!(
            read("2021-04-28 21:50:00 +0200").as_deref(),
            Some("2021-04-28T19:50:00Z")
        );
        assert_eq!(
            read("2011-12-12T14:27:31+02:00").as_deref(),
            Some("2011-12-12T12:27:31Z")
        );
        assert_eq!(
            read("2015-04-08T21:00:25-07:00").as_deref(),
            Some("2015-04-09T04:00:25Z")
        );
        assert_eq!(read("2024-01-26"), None);
        assert_eq!(read("yesterday"), None);
    }
}
