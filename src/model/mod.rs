//! The normalized activity model: [`Event`]s, the [`Object`]s they connect and the [`Block`]s they are made of.
//!
//! An event reads as a sentence: *actor* does *action* in *domain* to *target*. `octocat` (actor, a `user` object)
//! `push`es (action, domain `repository`) to `octocat/Hello-World` (target, a `repository` object), with value 3 and
//! unit `commits`, and one block per commit.
//!
//! The model is plain data. Its JSON is a contract: the field names are fixed, keys come out in declaration order,
//! every field is always present (`null` when empty), and times are RFC 3339 in UTC with their sub-second precision
//! kept (see [`format_time`]). Deserializing accepts missing optional fields, so stored rows round-trip.
//!
//! # Identity
//!
//! [`Object::key`] is the object's stable identity, built from the provider's ids and never from a title:
//! `github:user:583231`, `github:repository:1296269`, `slack:T123ABC456:user:U061F7AUR`. A renamed user or a
//! retitled pull request keeps its key; two users who share a display name never share one. Storage deduplicates
//! objects by key and events by their [`Event::source_id`], both scoped to one integration.

mod builder;
mod name;
mod time;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use builder::{EventBuildError, EventBuilder};
pub use name::Name;
pub(crate) use time::option as time_option;
pub use time::{format_time, is_storable_time};

/// Free-form, provider-specific details kept beside an event or object: a JSON object with sorted keys.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// One thing that happened: an actor did an action to a target.
///
/// Events are unique per (integration, [`source_id`](Self::source_id)): storing the same event twice changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The provider's id for this occurrence: a GitHub event id or delivery id, a Slack `event_id`.
    pub source_id: String,
    /// When it happened, as the provider recorded it (never the clock of the machine that converted it, unless the
    /// payload carries no time of its own).
    #[serde(with = "time")]
    pub time: DateTime<Utc>,
    /// The plugin identifier of the service that reported it: `github`, `slack`.
    pub service: Name,
    /// What area of the service the action belongs to: `repository`, `pull_request`, `message`, ...
    pub domain: Name,
    /// What was done, in the provider's words where it has them: `push`, `opened`, `sent`, `added`, ...
    pub action: Name,
    /// A quantity measured by the event, if any (the number of commits in a push). See
    /// [`value_multiplier`](Self::value_multiplier).
    #[serde(default)]
    pub value: Option<i64>,
    /// The divisor of [`value`](Self::value): value 1234 with multiplier 100 means 12.34. Defaults to 1.
    #[serde(default = "one")]
    pub value_multiplier: i64,
    /// The unit of [`value`](Self::value): `commits`, `bytes`, ...
    #[serde(default)]
    pub value_unit: Option<Name>,
    /// Who did it.
    pub actor: Object,
    /// Details about the actor that belong to this event rather than to the actor object.
    #[serde(default)]
    pub actor_metadata: Metadata,
    /// What it was done to.
    pub target: Object,
    /// Details about the target that belong to this event rather than to the target object.
    #[serde(default)]
    pub target_metadata: Metadata,
    /// Details about the event itself: refs, previous values, the provider's own type name.
    #[serde(default)]
    pub event_metadata: Metadata,
    /// The parts of the event, in the provider's order (the commits of a push).
    #[serde(default)]
    pub blocks: Vec<Block>,
    /// A vector embedding, for hosts that compute one. Converters never fill it.
    #[serde(default)]
    pub embeddings: Option<Vec<f32>>,
}

/// An actor or a target: a user, a repository, a pull request, a message, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Object {
    /// Stable identity built from the provider's ids, for example `github:user:583231`. Always contains the
    /// provider's id for the object, never its title.
    pub key: String,
    /// The provider-independent kind: `user`, `repository`, `pull_request`, `issue`, `message`, `file`, ...
    pub concept: Name,
    /// The provider-specific kind: `github_user`, `github_repository`, `slack_message`, ...
    #[serde(rename = "type")]
    pub kind: Name,
    /// A short human-readable name: a login, `owner/name`, a pull request title. May change over time.
    #[serde(default)]
    pub title: Option<String>,
    /// Longer text: an issue body, a message text.
    #[serde(default)]
    pub content: Option<String>,
    /// Provider-specific details: numeric ids, numbers, states.
    #[serde(default)]
    pub metadata: Metadata,
    /// Where a person can see the object in a browser.
    #[serde(default)]
    pub url: Option<String>,
    /// An avatar or preview picture.
    #[serde(default)]
    pub image_url: Option<String>,
    /// When the object was created or last changed, when the payload says.
    #[serde(default, with = "time_option")]
    pub time: Option<DateTime<Utc>>,
    /// A vector embedding, for hosts that compute one. Converters never fill it.
    #[serde(default)]
    pub embeddings: Option<Vec<f32>>,
}

/// A part of an event, such as one commit of a push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Block {
    /// When this part happened, when the payload says.
    #[serde(default, with = "time_option")]
    pub time: Option<DateTime<Utc>>,
    /// A short label: `Commit 7a8f3ac`.
    #[serde(default)]
    pub title: Option<String>,
    /// The part's text: a commit message.
    #[serde(default)]
    pub content: Option<String>,
    /// Where a person can see this part.
    #[serde(default)]
    pub url: Option<String>,
    /// A picture or file belonging to this part.
    #[serde(default)]
    pub media_url: Option<String>,
    /// A quantity measured by this part, if any.
    #[serde(default)]
    pub value: Option<i64>,
    /// The divisor of [`value`](Self::value); defaults to 1.
    #[serde(default = "one")]
    pub value_multiplier: i64,
    /// The unit of [`value`](Self::value).
    #[serde(default)]
    pub value_unit: Option<Name>,
    /// A vector embedding, for hosts that compute one. Converters never fill it.
    #[serde(default)]
    pub embeddings: Option<Vec<f32>>,
}

const fn one() -> i64 {
    1
}

impl Event {
    /// A builder that sets each field by name and checks, when it builds, that every event's fields are there:
    /// how converters outside this crate make events. See [`EventBuilder`].
    pub fn builder() -> EventBuilder {
        EventBuilder::default()
    }

    /// An event with the fields every event has; value, metadata and blocks start empty. The built-in converters
    /// and stores use it on values they have checked already.
    pub(crate) fn new(
        source_id: impl Into<String>,
        time: DateTime<Utc>,
        service: impl Into<Name>,
        domain: impl Into<Name>,
        action: impl Into<Name>,
        actor: Object,
        target: Object,
    ) -> Self {
        Self {
            source_id: source_id.into(),
            time,
            service: service.into(),
            domain: domain.into(),
            action: action.into(),
            value: None,
            value_multiplier: 1,
            value_unit: None,
            actor,
            actor_metadata: Metadata::new(),
            target,
            target_metadata: Metadata::new(),
            event_metadata: Metadata::new(),
            blocks: Vec::new(),
            embeddings: None,
        }
    }
}

impl Object {
    /// An object with its identity and kinds; everything else starts empty. `concept` and `kind` are [`Name`]s: pass
    /// string literals (held without a copy) or owned `String`s.
    ///
    /// ```
    /// use spark_integrations::model::Object;
    ///
    /// let user = Object::new("github:user:583231", "user", "github_user");
    /// assert_eq!((user.concept.as_str(), user.kind.as_str()), ("user", "github_user"));
    /// ```
    pub fn new(key: impl Into<String>, concept: impl Into<Name>, kind: impl Into<Name>) -> Self {
        Self {
            key: key.into(),
            concept: concept.into(),
            kind: kind.into(),
            title: None,
            content: None,
            metadata: Metadata::new(),
            url: None,
            image_url: None,
            time: None,
            embeddings: None,
        }
    }
}

impl Block {
    /// A block with nothing known yet: set what the payload says with the `with_` methods or the fields.
    ///
    /// ```
    /// use spark_integrations::model::Block;
    ///
    /// let block = Block::new().with_title("Commit 7a8f3ac").with_content("Fix the build").with_value(1, "commit");
    /// assert_eq!(block.value_multiplier, 1);
    /// assert_eq!(block.value_unit.as_deref(), Some("commit"));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The block with its short label ([`title`](Self::title)).
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The block with its text ([`content`](Self::content)).
    #[must_use]
    pub fn with_content(mut self, content: impl Into<String>) -> Self {
        self.content = Some(content.into());
        self
    }

    /// The block with where a person can see it ([`url`](Self::url)).
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The block with when it happened ([`time`](Self::time)).
    #[must_use]
    pub fn with_time(mut self, time: DateTime<Utc>) -> Self {
        self.time = Some(time);
        self
    }

    /// The block with the quantity it measures and its unit ([`value`](Self::value),
    /// [`value_unit`](Self::value_unit)).
    #[must_use]
    pub fn with_value(mut self, value: i64, unit: impl Into<Name>) -> Self {
        self.value = Some(value);
        self.value_unit = Some(unit.into());
        self
    }
}

impl Default for Block {
    fn default() -> Self {
        Self {
            time: None,
            title: None,
            content: None,
            url: None,
            media_url: None,
            value: None,
            value_multiplier: 1,
            value_unit: None,
            embeddings: None,
        }
    }
}
