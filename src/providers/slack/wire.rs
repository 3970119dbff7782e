//! The parts of a Slack Events API body the converter reads, deserialized in one pass, borrowing from the body.
//!
//! Everything except the envelope's identifying fields is optional and *lenient*: a leaf that is missing, `null`,
//! an empty string or of an unexpected JSON type reads as absent ([`Loose`]); a nested object that turns out to be
//! a scalar or an array reads as absent ([`Maybe`]). Unknown fields are skipped without being buffered.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A Slack Events API request body: the outer envelope.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Loose<'a>,
    #[serde(borrow)]
    pub(super) challenge: Loose<'a>,
    #[serde(borrow)]
    pub(super) team_id: Loose<'a>,
    #[serde(borrow)]
    pub(super) event_id: Loose<'a>,
    #[serde(borrow)]
    pub(super) event_time: Loose<'a>,
    #[serde(borrow)]
    pub(super) event: Nested<'a>,
}

/// The inner `event` of an `event_callback`, and (for `message_changed`, `message_deleted`) the nested `message` and
/// `previous_message`: the union of the fields of every event type the converter handles.
///
/// Read in place ([`Nested`]): it is large (about a kilobyte), and serde's derived visitor would build it field by
/// field on the stack and then move it several times on its way into the envelope.
#[derive(Debug, Default)]
pub(super) struct Inner<'a> {
    pub(super) kind: Loose<'a>,
    pub(super) subtype: Loose<'a>,
    pub(super) user: Loose<'a>,
    pub(super) user_id: Loose<'a>,
    pub(super) bot_id: Loose<'a>,
    pub(super) username: Loose<'a>,
    pub(super) bot_profile: Maybe<BotProfile<'a>>,
    pub(super) channel: Loose<'a>,
    pub(super) channel_id: Loose<'a>,
    pub(super) channel_type: Loose<'a>,
    pub(super) text: Loose<'a>,
    pub(super) ts: Loose<'a>,
    pub(super) event_ts: Loose<'a>,
    pub(super) thread_ts: Loose<'a>,
    pub(super) edited: Maybe<Edited<'a>>,
    pub(super) message: Nested<'a>,
    pub(super) previous_message: Nested<'a>,
    pub(super) deleted_ts: Loose<'a>,
    pub(super) inviter: Loose<'a>,
    pub(super) topic: Loose<'a>,
    pub(super) purpose: Loose<'a>,
    pub(super) name: Loose<'a>,
    pub(super) old_name: Loose<'a>,
    pub(super) reaction: Loose<'a>,
    pub(super) item_user: Loose<'a>,
    pub(super) item: Maybe<Item<'a>>,
    pub(super) file_id: Loose<'a>,
    pub(super) file: Maybe<File<'a>>,
    pub(super) files: List<File<'a>>,
}

/// The JSON names of [`Inner`]'s fields, in the order of the bits that mark them as seen.
const INNER_FIELDS: &[&str] = &[
    "type",
    "subtype",
    "user",
    "user_id",
    "bot_id",
    "username",
    "bot_profile",
    "channel",
    "channel_id",
    "channel_type",
    "text",
    "ts",
    "event_ts",
    "thread_ts",
    "edited",
    "message",
    "previous_message",
    "deleted_ts",
    "inviter",
    "topic",
    "purpose",
    "name",
    "old_name",
    "reaction",
    "item_user",
    "item",
    "file_id",
    "file",
    "files",
];

/// The index in [`INNER_FIELDS`] of the field named `name`.
fn inner_field(name: &str) -> Option<usize> {
    Some(match name {
        "type" => 0,
        "subtype" => 1,
        "user" => 2,
        "user_id" => 3,
        "bot_id" => 4,
        "username" => 5,
        "bot_profile" => 6,
        "channel" => 7,
        "channel_id" => 8,
        "channel_type" => 9,
        "text" => 10,
        "ts" => 11,
        "event_ts" => 12,
        "thread_ts" => 13,
        "edited" => 14,
        "message" => 15,
        "previous_message" => 16,
        "deleted_ts" => 17,
        "inviter" => 18,
        "topic" => 19,
        "purpose" => 20,
        "name" => 21,
        "old_name" => 22,
        "reaction" => 23,
        "item_user" => 24,
        "item" => 25,
        "file_id" => 26,
        "file" => 27,
        "files" => 28,
        _ => return None,
    })
}

impl<'a> Inner<'a> {
    /// Reads the value of field `index` of [`INNER_FIELDS`] into its field.
    fn read_value<'de: 'a, A: MapAccess<'de>>(&mut self, index: usize, map: &mut A) -> Result<(), A::Error> {
        match index {
            0 => self.kind = map.next_value()?,
            1 => self.subtype = map.next_value()?,
            2 => self.user = map.next_value()?,
            3 => self.user_id = map.next_value()?,
            4 => self.bot_id = map.next_value()?,
            5 => self.username = map.next_value()?,
            6 => self.bot_profile = map.next_value()?,
            7 => self.channel = map.next_value()?,
            8 => self.channel_id = map.next_value()?,
            9 => self.channel_type = map.next_value()?,
            10 => self.text = map.next_value()?,
            11 => self.ts = map.next_value()?,
            12 => self.event_ts = map.next_value()?,
            13 => self.thread_ts = map.next_value()?,
            14 => self.edited = map.next_value()?,
            15 => self.message = map.next_value()?,
            16 => self.previous_message = map.next_value()?,
            17 => self.deleted_ts = map.next_value()?,
            18 => self.inviter = map.next_value()?,
            19 => self.topic = map.next_value()?,
            20 => self.purpose = map.next_value()?,
            21 => self.name = map.next_value()?,
            22 => self.old_name = map.next_value()?,
            23 => self.reaction = map.next_value()?,
            24 => self.item_user = map.next_value()?,
            25 => self.item = map.next_value()?,
            26 => self.file_id = map.next_value()?,
            27 => self.file = map.next_value()?,
            28 => self.files = map.next_value()?,
            _ => _ = map.next_value::<IgnoredAny>()?,
        }
        Ok(())
    }

    /// Reads a JSON object's fields into `self`, as serde's derived visitor would: unknown fields are skipped, a
    /// repeated field is an error (`duplicate field`), a missing one keeps its default.
    fn read_fields<'de: 'a, A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen: u32 = 0;
        while let Some(field) = map.next_key_seed(FieldIndex(inner_field))? {
            let Some(index) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let bit = 1 << index;
            if seen & bit != 0 {
                return Err(de::Error::duplicate_field(INNER_FIELDS[index]));
            }
            seen |= bit;
            self.read_value(index, &mut map)?;
        }
        Ok(())
    }
}

/// Reads a map key as the index of the field it names (by `.0`), or `None` for a field the converter does not read.
struct FieldIndex(fn(&str) -> Option<usize>);

impl<'de> DeserializeSeed<'de> for FieldIndex {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldIndex {
    type Value = Option<usize>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok((self.0)(value))
    }
}

/// An [`Inner`] event nested in the envelope or in another event, or absent when the value is missing, `null` or
/// not an object (as [`Maybe`]). Read straight into its box.
#[derive(Debug, Default)]
pub(super) struct Nested<'a>(Option<Box<Inner<'a>>>);

impl<'a> Nested<'a> {
    /// The event, if there was one.
    pub(super) fn get(&self) -> Option<&Inner<'a>> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Nested<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NestedVisitor(PhantomData))
    }
}

struct NestedVisitor<'a>(PhantomData<Inner<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for NestedVisitor<'a> {
    type Value = Nested<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut inner = Box::<Inner<'a>>::default();
        inner.read_fields(map)?;
        Ok(Nested(Some(inner)))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Nested(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Nested(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Nested(None))
    }

    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<Self::Value, E> {
        Ok(Nested(None))
    }

    fn visit_u64<E: de::Error>(self, _value: u64) -> Result<Self::Value, E> {
        Ok(Nested(None))
    }

    fn visit_i64<E: de::Error>(self, _value: i64) -> Result<Self::Value, E> {
        Ok(Nested(None))
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Self::Value, E> {
        Ok(Nested(None))
    }

    fn visit_str<E: de::Error>(self, _value: &str) -> Result<Self::Value, E> {
        Ok(Nested(None))
    }
}

/// `bot_profile` of a message posted by an app.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct BotProfile<'a> {
    #[serde(borrow)]
    pub(super) name: Loose<'a>,
}

/// `edited` of an edited message: who edited it and when.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Edited<'a> {
    #[serde(borrow)]
    pub(super) user: Loose<'a>,
    #[serde(borrow)]
    pub(super) ts: Loose<'a>,
}

/// `item` of `reaction_added` / `reaction_removed`: the thing reacted to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Item<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Loose<'a>,
    #[serde(borrow)]
    pub(super) channel: Loose<'a>,
    #[serde(borrow)]
    pub(super) ts: Loose<'a>,
    #[serde(borrow)]
    pub(super) file: Loose<'a>,
    #[serde(borrow)]
    pub(super) file_comment: Loose<'a>,
}

/// A file, in a message's `files` or a `file_shared` event's `file`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct File<'a> {
    #[serde(borrow)]
    pub(super) id: Loose<'a>,
    #[serde(borrow)]
    pub(super) name: Loose<'a>,
    #[serde(borrow)]
    pub(super) title: Loose<'a>,
    #[serde(borrow)]
    pub(super) mimetype: Loose<'a>,
    #[serde(borrow)]
    pub(super) filetype: Loose<'a>,
    #[serde(borrow)]
    pub(super) permalink: Loose<'a>,
    #[serde(borrow)]
    pub(super) url_private: Loose<'a>,
    #[serde(borrow)]
    pub(super) size: Loose<'a>,
    #[serde(borrow)]
    pub(super) created: Loose<'a>,
}

/// A JSON leaf read leniently: a non-empty string (borrowed where the body has no escapes), a number, or absent
/// (missing, `null`, `""`, a boolean, an object or an array: the last two are skipped without buffering).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Loose<'a> {
    /// Missing, `null`, empty or of a type the converter does not read.
    #[default]
    Absent,
    /// A non-empty string.
    Str(Cow<'a, str>),
    /// A JSON integer that fits `u64`.
    Unsigned(u64),
    /// A negative JSON integer.
    Signed(i64),
    /// A JSON number with a fraction or an exponent.
    Float(f64),
}

impl<'a> Loose<'a> {
    /// The value as text, when it is a string.
    pub(super) fn text(&self) -> Option<&str> {
        match self {
            Self::Str(text) => Some(text),
            _ => None,
        }
    }

    /// The value as an id: a string, or an integer written in decimal (ids are strings in Slack, but a retyped
    /// field still names the same thing).
    pub(super) fn id(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Str(text) => Some(Cow::Borrowed(text)),
            Self::Unsigned(number) => Some(Cow::Owned(number.to_string())),
            Self::Signed(number) => Some(Cow::Owned(number.to_string())),
            Self::Absent | Self::Float(_) => None,
        }
    }

    /// The value as an integer, when it is one (or a string holding one).
    pub(super) fn integer(&self) -> Option<i64> {
        match self {
            Self::Unsigned(number) => i64::try_from(*number).ok(),
            Self::Signed(number) => Some(*number),
            Self::Str(text) => text.parse().ok(),
            Self::Absent | Self::Float(_) => None,
        }
    }

    /// Whether there is a value.
    pub(super) fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor(PhantomData))
    }
}

struct LooseVisitor<'a>(PhantomData<Loose<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for LooseVisitor<'a> {
    type Value = Loose<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(if value.is_empty() {
            Loose::Absent
        } else {
            Loose::Str(Cow::Borrowed(value))
        })
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(if value.is_empty() {
            Loose::Absent
        } else {
            Loose::Str(Cow::Owned(value.to_owned()))
        })
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(if value.is_empty() {
            Loose::Absent
        } else {
            Loose::Str(Cow::Owned(value))
        })
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Loose::Unsigned(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(value).map_or(Loose::Signed(value), Loose::Unsigned))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(Loose::Float(value))
    }

    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<Self::Value, E> {
        Ok(Loose::Absent)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Absent)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Absent)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map)?;
        Ok(Loose::Absent)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Loose::Absent)
    }
}

/// The `visit_*` methods of a visitor whose `Value` is a [`Maybe`], for the JSON values it reads as absent: `null`
/// and every scalar (strings, numbers, booleans).
macro_rules! scalars_read_as_none {
    () => {
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Maybe(None))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Maybe(None))
        }

        fn visit_bool<E: de::Error>(self, _value: bool) -> Result<Self::Value, E> {
            Ok(Maybe(None))
        }

        fn visit_u64<E: de::Error>(self, _value: u64) -> Result<Self::Value, E> {
            Ok(Maybe(None))
        }

        fn visit_i64<E: de::Error>(self, _value: i64) -> Result<Self::Value, E> {
            Ok(Maybe(None))
        }

        fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Self::Value, E> {
            Ok(Maybe(None))
        }

        fn visit_str<E: de::Error>(self, _value: &str) -> Result<Self::Value, E> {
            Ok(Maybe(None))
        }
    };
}

/// A nested JSON object read as `T`, or absent when the value is missing, `null` or not an object.
#[derive(Debug)]
pub(super) struct Maybe<T>(pub(super) Option<T>);

impl<T> Default for Maybe<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> Maybe<T> {
    /// The object, if there was one.
    pub(super) fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaybeVisitor(PhantomData))
    }
}

struct MaybeVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for MaybeVisitor<T> {
    type Value = Maybe<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|value| Maybe(Some(value)))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Maybe(None))
    }

    scalars_read_as_none!();
}

/// A JSON array of objects read as `T`s; elements that are not objects are dropped, and a value that is not an
/// array reads as empty.
#[derive(Debug)]
pub(super) struct List<T>(pub(super) Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Maybe(list) = deserializer.deserialize_any(ListVisitor(PhantomData))?;
        Ok(Self(list.unwrap_or_default()))
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = Maybe<Vec<T>>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Maybe(item)) = seq.next_element::<Maybe<T>>()? {
            items.extend(item);
        }
        Ok(Maybe(Some(items)))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map)?;
        Ok(Maybe(None))
    }

    scalars_read_as_none!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inner_field_is_found_by_its_name() {
        for (index, name) in INNER_FIELDS.iter().enumerate() {
            assert_eq!(inner_field(name), Some(index), "{name}");
        }
        assert_eq!(inner_field("blocks"), None);
        assert!(INNER_FIELDS.len() <= 32, "the seen fields are bits of a u32");
    }

    #[test]
    fn an_inner_event_is_read_in_place_as_serde_would() {
        let nested: Nested<'_> = serde_json::from_str(r#"{"type":"message","blocks":[{"x":1}],"ts":"1.5"}"#).unwrap();
        let inner = nested.get().expect("an object");
        assert_eq!((inner.kind.text(), inner.ts.text()), (Some("message"), Some("1.5")));
        for not_an_object in ["null", "1", "\"x\"", "[{\"type\":\"message\"}]", "true"] {
            let nested: Nested<'_> = serde_json::from_str(not_an_object).unwrap();
            assert!(nested.get().is_none(), "{not_an_object}");
        }
        // A repeated field is refused where serde's derived visitor refuses it.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code, reason = "only the error is compared")]
        struct Derived {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        let twice = r#"{"type":"message","type":"file_shared"}"#;
        let error = serde_json::from_str::<Nested<'_>>(twice).unwrap_err();
        assert_eq!(error.to_string(), "duplicate field `type` at line 1 column 24");
        assert_eq!(
            error.to_string(),
            serde_json::from_str::<Derived>(twice).unwrap_err().to_string()
        );
    }

    #[test]
    fn loose_reads_strings_numbers_and_ignores_the_rest() {
        let nested: Nested<'_> = serde_json::from_str(
            r#"{"type":"message","user":{"id":"U1"},"channel":["C1"],"text":"","ts":1355517523.000005,
                "thread_ts":true,"edited":"yes","files":[1,{"id":"F1"},null],"item":null,"reaction":"a\"b"}"#,
        )
        .expect("lenient fields accept any JSON");
        let inner = nested.get().expect("an object");
        assert_eq!(inner.kind, Loose::Str(Cow::Borrowed("message")));
        assert_eq!(inner.user, Loose::Absent);
        assert_eq!(inner.channel, Loose::Absent);
        assert_eq!(inner.text, Loose::Absent);
        assert_eq!(inner.ts, Loose::Float(1_355_517_523.000_005));
        assert_eq!(inner.thread_ts, Loose::Absent);
        assert!(inner.edited.get().is_none());
        assert_eq!(inner.files.0.len(), 1);
        assert!(inner.item.get().is_none());
        assert_eq!(inner.reaction.text(), Some("a\"b"));
    }
}
