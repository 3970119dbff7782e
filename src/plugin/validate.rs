//! Checking a submitted configuration against a [`Schema`]: a [`Configuration`] or every problem at once.

use std::fmt;

use serde_json::{Map, Value};

use super::schema::{Field, FieldType, Schema};
use crate::integration::Configuration;

/// One problem found in a configuration, naming where: a field (`events`) or an element of one (`repositories[2]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The configuration is not a JSON object; nothing else was checked.
    #[error("the configuration must be a JSON object, found {found}")]
    NotAnObject {
        /// The JSON type that was given.
        found: &'static str,
    },
    /// A required field is absent or `null`.
    #[error("`{path}`: required field is missing")]
    Missing {
        /// The field name.
        path: String,
    },
    /// A required string or array field is empty.
    #[error("`{path}`: required field is empty")]
    Empty {
        /// The field name.
        path: String,
    },
    /// An array holds more elements than the field accepts; its elements were not checked.
    #[error("`{path}`: {len} elements, more than the {max} allowed")]
    TooMany {
        /// The field name.
        path: String,
        /// How many elements were given.
        len: usize,
        /// The most the field accepts.
        max: usize,
    },
    /// A value has the wrong JSON type.
    #[error("`{path}`: expected {expected}, found {found}")]
    WrongType {
        /// The field or element path.
        path: String,
        /// The type the schema asks for (an element of a string array is a [`FieldType::String`]).
        expected: FieldType,
        /// The JSON type that was given.
        found: &'static str,
    },
    /// A value is not one of the field's options.
    #[error("`{path}`: `{value}` is not one of the allowed options")]
    NotAnOption {
        /// The field or element path.
        path: String,
        /// The value that was given (shortened to 100 characters).
        value: String,
    },
    /// A string does not have the field's format.
    #[error("`{path}`: `{value}` is not in the form {format}")]
    BadFormat {
        /// The field or element path.
        path: String,
        /// The value that was given (shortened to 100 characters).
        value: String,
        /// The format it should have.
        format: super::Format,
    },
    /// The configuration holds a field the schema does not know.
    #[error("`{path}`: unknown field")]
    UnknownField {
        /// The field name.
        path: String,
    },
}

impl FieldError {
    /// Where the problem is: a field name, `name[index]` for an array element, or `""` for the whole
    /// configuration.
    pub fn path(&self) -> &str {
        match self {
            Self::NotAnObject { .. } => "",
            Self::Missing { path }
            | Self::Empty { path }
            | Self::TooMany { path, .. }
            | Self::WrongType { path, .. }
            | Self::NotAnOption { path, .. }
            | Self::BadFormat { path, .. }
            | Self::UnknownField { path } => path,
        }
    }
}

/// Every problem [`Schema::validate`] found, in schema field order, then unknown fields. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    /// The problems, in the order they were found.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// The problems, owned.
    pub fn into_errors(self) -> Vec<FieldError> {
        self.0
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "invalid configuration ({count} {}): ",
            if count == 1 { "problem" } else { "problems" }
        )?;
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Schema {
    /// Checks a submitted configuration: a JSON object with a value of the right type for each field, every
    /// required field set, values among the options and in the format where the schema says so, and no unknown
    /// fields.
    ///
    /// Call it when a user submits the configuration form, and before storing a configuration on an
    /// [`Integration`](crate::Integration).
    ///
    /// ```
    /// use serde_json::json;
    /// use spark_integrations::plugin::{Field, FieldType, Format, Schema};
    ///
    /// let repositories = Field::new("repositories", FieldType::StringArray, "Repositories");
    /// let schema = Schema::new().field(repositories.required().format(Format::OwnerName));
    /// let configuration = schema.validate(&json!({"repositories": ["octocat/Hello-World"]}))?;
    /// assert_eq!(configuration.strings("repositories").collect::<Vec<_>>(), ["octocat/Hello-World"]);
    ///
    /// let errors = schema.validate(&json!({"repositories": ["octocat"], "color": "red"})).unwrap_err();
    /// assert_eq!(
    ///     errors.to_string(),
    ///     "invalid configuration (2 problems): `repositories[0]`: `octocat` is not in the form `owner/name`; \
    ///      `color`: unknown field"
    /// );
    /// # Ok::<(), spark_integrations::plugin::ValidationErrors>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ValidationErrors`] holding every problem found, each naming its field path.
    pub fn validate(&self, configuration: &Value) -> Result<Configuration, ValidationErrors> {
        let Value::Object(object) = configuration else {
            return Err(ValidationErrors(vec![FieldError::NotAnObject {
                found: json_type(configuration),
            }]));
        };
        let mut errors = Vec::new();
        let mut validated = Map::new();
        for field in self.fields() {
            match object.get(&field.name) {
                None | Some(Value::Null) => {
                    if field.required {
                        errors.push(FieldError::Missing {
                            path: field.name.clone(),
                        });
                    }
                }
                Some(value) => {
                    let before = errors.len();
                    check_field(field, value, &mut errors);
                    if errors.len() == before {
                        validated.insert(field.name.clone(), value.clone());
                    }
                }
            }
        }
        for key in object.keys() {
            if self.get(key).is_none() {
                errors.push(FieldError::UnknownField { path: key.clone() });
            }
        }
        if errors.is_empty() {
            Ok(Configuration::from_validated(validated))
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

/// Checks one present, non-null value against its field, pushing every problem.
fn check_field(field: &Field, value: &Value, errors: &mut Vec<FieldError>) {
    let path = || field.name.clone();
    match (field.kind, value) {
        (FieldType::String, Value::String(text)) => {
            if field.required && text.is_empty() {
                errors.push(FieldError::Empty { path: path() });
            } else {
                check_string(field, text, path(), errors);
            }
        }
        (FieldType::Integer, Value::Number(number)) if number.is_i64() => {
            if let Some(integer) = number.as_i64() {
                check_option(field, &integer.to_string(), path(), errors);
            }
        }
        (FieldType::Boolean, Value::Bool(_)) => {}
        (FieldType::StringArray, Value::Array(elements)) => {
            if field.required && elements.is_empty() {
                errors.push(FieldError::Empty { path: path() });
            }
            if elements.len() > field.max_items {
                errors.push(FieldError::TooMany {
                    path: path(),
                    len: elements.len(),
                    max: field.max_items,
                });
                return;
            }
            for (index, element) in elements.iter().enumerate() {
                let path = format!("{}[{index}]", field.name);
                match element {
                    Value::String(text) => check_string(field, text, path, errors),
                    other => errors.push(FieldError::WrongType {
                        path,
                        expected: FieldType::String,
                        found: json_type(other),
                    }),
                }
            }
        }
        (expected, other) => errors.push(FieldError::WrongType {
            path: path(),
            expected,
            found: json_type(other),
        }),
    }
}

/// Checks a string value (of a string field or an element of a string array) against options and format.
fn check_string(field: &Field, text: &str, path: String, errors: &mut Vec<FieldError>) {
    if let Some(format) = field.format
        && !format.matches(text)
    {
        errors.push(FieldError::BadFormat {
            path: path.clone(),
            value: shorten(text),
            format,
        });
    }
    check_option(field, text, path, errors);
}

fn check_option(field: &Field, text: &str, path: String, errors: &mut Vec<FieldError>) {
    if !field.options.is_empty() && !field.options.iter().any(|option| option.value == text) {
        errors.push(FieldError::NotAnOption {
            path,
            value: shorten(text),
        });
    }
}

/// The value for an error message: at most 100 characters, so a pasted document does not flood a log.
fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 100;
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or(text)),
        None => text.to_owned(),
    }
}

/// The JSON type of `value`, for messages. Numbers are `an integer` when they fit an `i64`.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_i64() => "an integer",
        Value::Number(number) if number.is_u64() => "an integer out of range",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_cuts_at_a_char_boundary() {
        let long = "é".repeat(150);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), 103);
        assert!(short.ends_with("é..."));
        assert_eq!(shorten("short"), "short");
    }
}
