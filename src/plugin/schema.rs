//! A plugin's configuration schema as data: the fields of the form a user fills in after connecting a service.
//!
//! A [`Schema`] serializes to JSON so that a UI can render the form, and checks a submitted configuration with
//! [`Schema::validate`](crate::plugin::Schema::validate).

use std::fmt;

use serde::Serialize;

/// The fields a plugin's configuration may hold, in the order a form shows them.
///
/// ```
/// use spark_integrations::plugin::{Field, FieldType, Schema};
///
/// let schema = Schema::new()
///     .field(Field::new("channel", FieldType::String, "Channel").required())
///     .field(Field::new("limit", FieldType::Integer, "Items per page"));
/// assert_eq!(schema.fields().len(), 2);
/// assert_eq!(
///     serde_json::to_value(&schema)?["fields"][0],
///     serde_json::json!({
///         "name": "channel", "type": "string", "label": "Channel", "description": null,
///         "required": true, "options": [], "format": null, "max_items": 100,
///     })
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schema {
    fields: Vec<Field>,
}

impl Schema {
    /// A schema with no fields: every configuration but `{}` has unknown fields.
    pub const fn new() -> Self {
        Self { fields: Vec::new() }
    }

    /// This schema with `field` added at the end. A field with the same name as an earlier one replaces it, in the
    /// earlier one's place.
    #[must_use]
    pub fn field(mut self, field: Field) -> Self {
        match self.fields.iter_mut().find(|existing| existing.name == field.name) {
            Some(existing) => *existing = field,
            None => self.fields.push(field),
        }
        self
    }

    /// The fields, in form order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field called `name`, if the schema has one.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }
}

/// One configuration field: its name (the JSON key), type, what a form shows, and the checks its value must pass.
///
/// Build it with [`Field::new`] and the chained setters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Field {
    /// The JSON key in the configuration object.
    pub name: String,
    /// The type of the value.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// A short label for the form.
    pub label: String,
    /// A longer help text, if any.
    pub description: Option<String>,
    /// Whether the configuration must hold a value: present, not `null`, and for strings and arrays not empty.
    pub required: bool,
    /// The allowed values, each with a label. Empty means any value of the right type. They restrict string values
    /// (of [`FieldType::String`] fields and each element of [`FieldType::StringArray`] fields) and integers (matched
    /// by their decimal form); [`FieldType::Boolean`] fields ignore them.
    pub options: Vec<FieldOption>,
    /// A shape each string value must have, if any (for string and string array fields).
    pub format: Option<Format>,
    /// The most elements a [`FieldType::StringArray`] value may hold ([`DEFAULT_MAX_ITEMS`] unless the plugin says
    /// otherwise): a bound on what one configuration can make a poller do.
    pub max_items: usize,
}

/// The most elements a string array field accepts unless its plugin sets another bound with [`Field::max_items`].
pub const DEFAULT_MAX_ITEMS: usize = 100;

impl Field {
    /// An optional field with no description, options or format.
    pub fn new(name: impl Into<String>, kind: FieldType, label: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            label: label.into(),
            description: None,
            required: false,
            options: Vec::new(),
            format: None,
            max_items: DEFAULT_MAX_ITEMS,
        }
    }

    /// The same field accepting at most `max` elements (for string array fields; default [`DEFAULT_MAX_ITEMS`]).
    #[must_use]
    pub fn max_items(mut self, max: usize) -> Self {
        self.max_items = max;
        self
    }

    /// The same field with a help text.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The same field, required: present, not `null`, and (for strings and arrays) not empty.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The same field, restricted to `options`.
    #[must_use]
    pub fn options(mut self, options: impl IntoIterator<Item = FieldOption>) -> Self {
        self.options = options.into_iter().collect();
        self
    }

    /// The same field, with string values that must have `format`.
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }
}

/// The type of a configuration field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A JSON integer that fits in an `i64`.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A JSON array whose elements are strings.
    StringArray,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Boolean => "a boolean",
            Self::StringArray => "an array of strings",
        })
    }
}

/// One allowed value of a field, with the label a form shows for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FieldOption {
    /// The value as it appears in the configuration.
    pub value: String,
    /// What a form shows for it.
    pub label: String,
}

impl FieldOption {
    /// An option with its value and label.
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
        }
    }
}

/// A shape a string value must have. Checks are data, so a UI can show them and every plugin shares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Format {
    /// `owner/name`, as GitHub names repositories: the owner is 1 to 39 ASCII letters, digits and single inner
    /// hyphens; the name is 1 to 100 ASCII letters, digits, `.`, `_` and `-`, and is neither `.` nor `..`.
    OwnerName,
    /// `group/subgroup/project`, as GitLab names projects: 2 to 21 `/`-separated segments (a top-level group or user,
    /// up to 19 levels of subgroups, the project), each 1 to 255 ASCII letters, digits, `_`, `-` and `.`, starting
    /// with a letter, digit or `_`, and not ending in `.`, `.git` or `.atom`.
    NamespacePath,
}

impl Format {
    /// Whether `value` has this shape.
    ///
    /// ```
    /// use spark_integrations::plugin::Format;
    /// assert!(Format::OwnerName.matches("octocat/Hello-World"));
    /// assert!(!Format::OwnerName.matches("octocat"));
    /// ```
    pub fn matches(self, value: &str) -> bool {
        match self {
            Self::OwnerName => is_owner_name(value),
            Self::NamespacePath => is_namespace_path(value),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OwnerName => "`owner/name`",
            Self::NamespacePath => "`group/project` (subgroups allowed: `group/subgroup/project`)",
        })
    }
}

fn is_owner_name(value: &str) -> bool {
    let Some((owner, name)) = value.split_once('/') else {
        return false;
    };
    let owner_ok = (1..=39).contains(&owner.len())
        && owner.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        && !owner.starts_with('-')
        && !owner.ends_with('-')
        && !owner.contains("--");
    let name_ok = (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
        && name != "."
        && name != "..";
    owner_ok && name_ok
}

fn is_namespace_path(value: &str) -> bool {
    let segments: Vec<&str> = value.split('/').collect();
    (2..=21).contains(&segments.len())
        && segments.iter().all(|segment| {
            (1..=255).contains(&segment.len())
                && segment
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
                && segment
                    .bytes()
                    .next()
                    .is_some_and(|first| first.is_ascii_alphanumeric() || first == b'_')
                && !segment.ends_with('.')
                && !segment.ends_with(".git")
                && !segment.ends_with(".atom")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_path_accepts_gitlab_shapes_and_rejects_others() {
        for good in [
            "gitlab-org/gitlab",
            "group/subgroup/project",
            "_user/a.b_c-d",
            "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u",
        ] {
            assert!(Format::NamespacePath.matches(good), "{good}");
        }
        for bad in [
            "",
            "project",
            "/project",
            "group/",
            "group//project",
            "-group/project",
            "group/.hidden",
            "group/project.",
            "group/project.git",
            "group/project.atom",
            "group/pro ject",
            "gröup/project",
            "https://gitlab.com/group/project",
            "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v",
        ] {
            assert!(!Format::NamespacePath.matches(bad), "{bad}");
        }
    }

    #[test]
    fn owner_name_accepts_github_shapes() {
        for good in [
            "octocat/Hello-World",
            "rust-lang/rust",
            "a/b",
            "user1/.github",
            "o/x_y.z-1",
            "o/...",
        ] {
            assert!(Format::OwnerName.matches(good), "{good}");
        }
    }

    #[test]
    fn owner_name_rejects_other_shapes() {
        let long_owner = format!("{}/repo", "a".repeat(40));
        let long_name = format!("owner/{}", "a".repeat(101));
        for bad in [
            "",
            "octocat",
            "/repo",
            "owner/",
            "owner/repo/extra",
            "-owner/repo",
            "owner-/repo",
            "own--er/repo",
            "own_er/repo",
            "owner/re po",
            "owner/.",
            "owner/..",
            "ownér/repo",
            "https://github.com/owner/repo",
            &long_owner,
            &long_name,
        ] {
            assert!(!Format::OwnerName.matches(bad), "{bad}");
        }
    }

    #[test]
    fn a_field_with_a_known_name_replaces_the_earlier_one_in_place() {
        let schema = Schema::new()
            .field(Field::new("a", FieldType::String, "A"))
            .field(Field::new("b", FieldType::String, "B"))
            .field(Field::new("a", FieldType::Integer, "A again"));
        let names: Vec<_> = schema
            .fields()
            .iter()
            .map(|field| (field.name.as_str(), field.kind))
            .collect();
        assert_eq!(names, [("a", FieldType::Integer), ("b", FieldType::String)]);
    }
}
