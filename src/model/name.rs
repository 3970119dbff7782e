//! [`Name`]: the text of a model field whose values come from a small vocabulary.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text of a model field whose values come from a small vocabulary: a service (`github`), a domain
/// (`repository`), an action (`push`), a unit (`commits`), an object's concept (`user`) and kind (`github_user`).
///
/// A converter names these with string literals, and a `Name` made from a `&'static str` holds the literal itself:
/// converting an event allocates nothing for them. A name read from a payload or a database is owned. Either way it
/// reads as a `str`: it dereferences to one, compares with `&str` and `String`, and [`as_str`](Self::as_str) gives
/// it out.
///
/// ```
/// use spark_integrations::model::Name;
///
/// let unit = Name::from("commits"); // borrows the literal
/// let action = Name::from(String::from("opened")); // owns its text
/// assert_eq!(unit, "commits");
/// assert_eq!(action.as_str(), "opened");
/// assert!(unit.starts_with("commit"));
/// assert_eq!(serde_json::to_string(&unit).unwrap(), r#""commits""#);
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Cow<'static, str>);

impl Name {
    /// A name holding `text` itself, usable in `const` items.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Cow::Borrowed(text))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an owned `String` (copied only when it borrows a literal).
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), formatter)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl From<&'static str> for Name {
    fn from(text: &'static str) -> Self {
        Self::from_static(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Self {
        Self(Cow::Owned(text))
    }
}

impl From<Cow<'static, str>> for Name {
    fn from(text: Cow<'static, str>) -> Self {
        Self(text)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.into_string()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        self == other.as_str()
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_is_borrowed_and_a_string_is_owned() {
        assert!(matches!(Name::from("push").0, Cow::Borrowed("push")));
        assert!(matches!(Name::from(String::from("push")).0, Cow::Owned(_)));
        // Equal text is an equal name, however it is held.
        assert_eq!(Name::from("push"), Name::from(String::from("push")));
    }

    #[test]
    fn reads_and_compares_as_text() {
        let name = Name::from("pull_request");
        assert_eq!(name, "pull_request");
        assert_eq!("pull_request", name);
        assert_eq!(String::from("pull_request"), name);
        assert_ne!(name, "issue");
        assert_eq!(format!("{name} {name:?}"), r#"pull_request "pull_request""#);
        assert_eq!(name.len(), 12);
        assert_eq!(name.into_string(), "pull_request");
    }

    #[test]
    fn orders_and_hashes_as_its_text_so_sets_of_names_are_searched_by_str() {
        use std::collections::{BTreeSet, HashSet};
        let texts = ["push", "pull_request", "", "Push", "pushed", "é"];
        for a in texts {
            for b in texts {
                let owned = Name::from(b.to_owned());
                assert_eq!(Name::from_static(a).cmp(&owned), a.cmp(b), "{a:?} {b:?}");
            }
        }
        let hashed: HashSet<Name> = texts.iter().map(|text| Name::from(text.to_string())).collect();
        let ordered: BTreeSet<Name> = texts.iter().copied().map(Name::from).collect();
        for text in texts {
            assert!(hashed.contains(text) && ordered.contains(text), "{text:?}");
        }
        assert!(!hashed.contains("issue") && !ordered.contains("issue"));
    }

    #[test]
    fn round_trips_through_json_as_a_string() {
        let name: Name = serde_json::from_str(r#""commits""#).unwrap();
        assert_eq!(name, "commits");
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""commits""#);
        assert!(serde_json::from_str::<Name>("3").is_err());
    }
}
