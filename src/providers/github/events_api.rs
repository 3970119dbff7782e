//! Events API items (`GET /events`, `/repos/{owner}/{repo}/events`), read in one pass.
//!
//! The item's top-level map is walked by hand: `type` comes before `payload` in every item GitHub writes, so by the
//! time `payload` is reached its type is known and it is read straight into that type's payload struct
//! ([`Kind`] is the `DeserializeSeed`). Only when `payload` comes first is it kept as a borrowed
//! [`RawValue`] and read once `type` is known.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::activity::{Activity, Kind};
use super::wire::{Id, Repo, Str, Time, User};
use crate::convert::ConvertError;

/// An item whose `type` is converted, with its payload read.
pub(crate) struct Item<'a> {
    pub(crate) id: Id<'a>,
    pub(crate) actor: User<'a>,
    pub(crate) repo: Repo<'a>,
    pub(crate) created_at: Time,
    /// Boxed: the payload structs are large, and the item is moved several times on its way out of serde.
    pub(crate) activity: Box<Activity<'a>>,
}

/// What reading an item gave.
#[allow(
    clippy::large_enum_variant,
    reason = "built and moved once per item (its activity is boxed); boxing the rest would add an allocation per item"
)]
pub(crate) enum Parsed<'a> {
    /// A converted type.
    Item(Item<'a>),
    /// A type that is not converted: its name.
    Unsupported(Str<'a>),
}

impl<'a> Parsed<'a> {
    /// Reads an Events API item.
    pub(crate) fn from_slice(body: &'a [u8]) -> Result<Self, ConvertError> {
        match crate::convert::from_slice::<Stage<'a>>(body)? {
            Stage::Done(parsed) => Ok(parsed),
            Stage::Deferred { kind, payload, item } => {
                let activity = Box::new(match payload {
                    Some(payload) => kind.parse(payload.get().as_bytes(), "payload")?,
                    // No payload at all: read it as `{}`, so that kinds needing a payload field name it.
                    None => kind.parse(b"{}", "payload")?,
                });
                let (id, actor, repo, created_at) = item;
                Ok(Parsed::Item(Item {
                    id,
                    actor,
                    repo,
                    created_at,
                    activity,
                }))
            }
        }
    }
}

/// The result of the one pass: done, or a payload still to read because it came before `type` (or was absent).
enum Stage<'a> {
    Done(Parsed<'a>),
    Deferred {
        kind: Kind,
        payload: Option<&'a RawValue>,
        item: (Id<'a>, User<'a>, Repo<'a>, Time),
    },
}

/// The top-level keys the converter reads.
enum Field {
    Id,
    Type,
    Actor,
    Repo,
    Payload,
    CreatedAt,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Field, E> {
                Ok(match value {
                    "id" => Field::Id,
                    "type" => Field::Type,
                    "actor" => Field::Actor,
                    "repo" => Field::Repo,
                    "payload" => Field::Payload,
                    "created_at" => Field::CreatedAt,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for Stage<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ItemVisitor)
    }
}

/// What `type` said, once read.
enum Type<'a> {
    Converted(Kind),
    Unsupported(Str<'a>),
}

/// The payload, as far as it was read.
enum Payload<'a> {
    Read(Box<Activity<'a>>),
    Raw(&'a RawValue),
    Skipped,
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Stage<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a GitHub Events API item")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = None;
        let mut kind: Option<Type<'de>> = None;
        let mut actor = None;
        let mut repo = None;
        let mut created_at = Time::default();
        let mut payload = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Id => id = Some(map.next_value::<Id<'de>>()?),
                Field::Type => {
                    let name = map.next_value::<Str<'de>>()?;
                    kind = Some(match Kind::from_events_api(name.as_str()) {
                        Some(kind) => Type::Converted(kind),
                        None => Type::Unsupported(name),
                    });
                }
                Field::Actor => actor = Some(map.next_value::<User<'de>>()?),
                Field::Repo => repo = Some(map.next_value::<Repo<'de>>()?),
                Field::CreatedAt => created_at = map.next_value::<Time>()?,
                Field::Payload => {
                    payload = Some(match &kind {
                        Some(Type::Converted(kind)) => Payload::Read(Box::new(map.next_value_seed(*kind)?)),
                        Some(Type::Unsupported(_)) => {
                            map.next_value::<IgnoredAny>()?;
                            Payload::Skipped
                        }
                        None => Payload::Raw(map.next_value::<&'de RawValue>()?),
                    });
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = match kind.ok_or_else(|| de::Error::missing_field("type"))? {
            Type::Unsupported(name) => return Ok(Stage::Done(Parsed::Unsupported(name))),
            Type::Converted(kind) => kind,
        };
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let actor = actor.ok_or_else(|| de::Error::missing_field("actor"))?;
        let repo = repo.ok_or_else(|| de::Error::missing_field("repo"))?;
        Ok(match payload {
            Some(Payload::Read(activity)) => Stage::Done(Parsed::Item(Item {
                id,
                actor,
                repo,
                created_at,
                activity,
            })),
            Some(Payload::Raw(raw)) => Stage::Deferred {
                kind,
                payload: Some(raw),
                item: (id, actor, repo, created_at),
            },
            Some(Payload::Skipped) | None => Stage::Deferred {
                kind,
                payload: None,
                item: (id, actor, repo, created_at),
            },
        })
    }
}
