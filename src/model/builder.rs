//! [`EventBuilder`]: an [`Event`] assembled field by field, by name, and checked once at the end.

use chrono::{DateTime, Utc};

use super::{Block, Event, Metadata, Name, Object, is_storable_time};

/// Builds an [`Event`]: every field is set by name, and [`build`](Self::build) checks that the ones every event
/// needs are there. Start one with [`Event::builder`].
///
/// Converters in other crates use it to produce the same events the built-in ones do:
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use spark_integrations::model::{Block, Event, Object};
///
/// let event = Event::builder()
///     .service("github")
///     .source_id("22249084964")
///     .time(Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap())
///     .domain("repository")
///     .action("push")
///     .actor(Object::new("github:user:583231", "user", "github_user"))
///     .target(Object::new("github:repository:1296269", "repository", "github_repository"))
///     .value(1, "commits")
///     .block(Block::new().with_title("Commit 7a8f3ac").with_value(1, "commit"))
///     .build()?;
/// assert_eq!(event.action, "push");
/// assert_eq!((event.value, event.value_unit.as_deref()), (Some(1), Some("commits")));
///
/// // A missing field is named.
/// let error = Event::builder().service("github").build().unwrap_err();
/// assert_eq!(error.to_string(), "the event has no `source_id`");
/// # Ok::<(), spark_integrations::model::EventBuildError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "an event builder does nothing until `build` is called"]
pub struct EventBuilder {
    source_id: Option<String>,
    time: Option<DateTime<Utc>>,
    service: Option<Name>,
    domain: Option<Name>,
    action: Option<Name>,
    actor: Option<Object>,
    target: Option<Object>,
    value: Option<i64>,
    value_multiplier: Option<i64>,
    value_unit: Option<Name>,
    actor_metadata: Metadata,
    target_metadata: Metadata,
    event_metadata: Metadata,
    blocks: Vec<Block>,
    embeddings: Option<Vec<f32>>,
}

/// Why [`EventBuilder::build`] refused to build an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventBuildError {
    /// A field every event has was not set.
    #[error("the event has no `{field}`")]
    Missing {
        /// The field's name, as on [`Event`].
        field: &'static str,
    },
    /// A text field every event has was set to the empty string.
    #[error("the event's `{field}` is empty")]
    Empty {
        /// The field's name, as on [`Event`].
        field: &'static str,
    },
    /// The event's time is outside years 1 to 9999, which no store can read back
    /// ([`is_storable_time`](super::is_storable_time)).
    #[error("the event's `time` ({time}) is outside years 1 to 9999")]
    TimeOutOfRange {
        /// The time given.
        time: DateTime<Utc>,
    },
    /// The value's multiplier is zero or negative: it divides the value.
    #[error("the event's `value_multiplier` is {multiplier}; it must be positive")]
    InvalidMultiplier {
        /// The multiplier given.
        multiplier: i64,
    },
}

impl EventBuilder {
    /// The provider's id for this occurrence ([`Event::source_id`]). Required, not empty.
    pub fn source_id(mut self, source_id: impl Into<String>) -> Self {
        self.source_id = Some(source_id.into());
        self
    }

    /// When it happened, as the provider recorded it ([`Event::time`]). Required, within years 1 to 9999.
    pub fn time(mut self, time: DateTime<Utc>) -> Self {
        self.time = Some(time);
        self
    }

    /// The plugin identifier of the service that reported it ([`Event::service`]). Required, not empty.
    pub fn service(mut self, service: impl Into<Name>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The area of the service the action belongs to ([`Event::domain`]). Required, not empty.
    pub fn domain(mut self, domain: impl Into<Name>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// What was done ([`Event::action`]). Required, not empty.
    pub fn action(mut self, action: impl Into<Name>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Who did it ([`Event::actor`]). Required.
    pub fn actor(mut self, actor: Object) -> Self {
        self.actor = Some(actor);
        self
    }

    /// What it was done to ([`Event::target`]). Required.
    pub fn target(mut self, target: Object) -> Self {
        self.target = Some(target);
        self
    }

    /// The quantity the event measures and its unit: 3 `commits` ([`Event::value`], [`Event::value_unit`]).
    pub fn value(mut self, value: i64, unit: impl Into<Name>) -> Self {
        self.value = Some(value);
        self.value_unit = Some(unit.into());
        self
    }

    /// The divisor of the value: value 1234 with multiplier 100 means 12.34 ([`Event::value_multiplier`]).
    /// Defaults to 1; must be positive.
    pub fn value_multiplier(mut self, multiplier: i64) -> Self {
        self.value_multiplier = Some(multiplier);
        self
    }

    /// Details about the actor that belong to this event ([`Event::actor_metadata`]).
    pub fn actor_metadata(mut self, metadata: Metadata) -> Self {
        self.actor_metadata = metadata;
        self
    }

    /// Details about the target that belong to this event ([`Event::target_metadata`]).
    pub fn target_metadata(mut self, metadata: Metadata) -> Self {
        self.target_metadata = metadata;
        self
    }

    /// Details about the event itself ([`Event::event_metadata`]).
    pub fn event_metadata(mut self, metadata: Metadata) -> Self {
        self.event_metadata = metadata;
        self
    }

    /// Appends one part of the event ([`Event::blocks`]), after those added before.
    pub fn block(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }

    /// Appends parts of the event ([`Event::blocks`]), in order, after those added before.
    pub fn blocks(mut self, blocks: impl IntoIterator<Item = Block>) -> Self {
        self.blocks.extend(blocks);
        self
    }

    /// A vector embedding, for hosts that compute one ([`Event::embeddings`]).
    pub fn embeddings(mut self, embeddings: Vec<f32>) -> Self {
        self.embeddings = Some(embeddings);
        self
    }

    /// The event, once every required field is set.
    ///
    /// # Errors
    ///
    /// [`EventBuildError`] naming the first required field that is missing (in the order of [`Event`]'s fields) or
    /// empty, a time outside years 1 to 9999, or a multiplier that is not positive.
    pub fn build(self) -> Result<Event, EventBuildError> {
        let source_id = required_text(self.source_id, "source_id")?;
        let time = self.time.ok_or(EventBuildError::Missing { field: "time" })?;
        if !is_storable_time(&time) {
            return Err(EventBuildError::TimeOutOfRange { time });
        }
        let service = required_text(self.service, "service")?;
        let domain = required_text(self.domain, "domain")?;
        let action = required_text(self.action, "action")?;
        let actor = self.actor.ok_or(EventBuildError::Missing { field: "actor" })?;
        let target = self.target.ok_or(EventBuildError::Missing { field: "target" })?;
        let value_multiplier = self.value_multiplier.unwrap_or(1);
        if value_multiplier <= 0 {
            return Err(EventBuildError::InvalidMultiplier {
                multiplier: value_multiplier,
            });
        }
        Ok(Event {
            source_id,
            time,
            service,
            domain,
            action,
            value: self.value,
            value_multiplier,
            value_unit: self.value_unit,
            actor,
            actor_metadata: self.actor_metadata,
            target,
            target_metadata: self.target_metadata,
            event_metadata: self.event_metadata,
            blocks: self.blocks,
            embeddings: self.embeddings,
        })
    }
}

fn required_text<T: AsRef<str>>(text: Option<T>, field: &'static str) -> Result<T, EventBuildError> {
    match text {
        None => Err(EventBuildError::Missing { field }),
        Some(text) if text.as_ref().is_empty() => Err(EventBuildError::Empty { field }),
        Some(text) => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn complete() -> EventBuilder {
        Event::builder()
            .source_id("1")
            .time(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap())
            .service("acme")
            .domain("task")
            .action("created")
            .actor(Object::new("acme:user:1", "user", "acme_user"))
            .target(Object::new("acme:task:1", "task", "acme_task"))
    }

    #[test]
    fn builds_what_it_was_given() {
        let event = complete()
            .value(1234, "meters")
            .value_multiplier(100)
            .block(Block::new().with_title("a"))
            .blocks([Block::new().with_title("b")])
            .build()
            .unwrap();
        assert_eq!(
            (event.value, event.value_multiplier, event.value_unit.as_deref()),
            (Some(1234), 100, Some("meters"))
        );
        let titles: Vec<_> = event.blocks.iter().map(|block| block.title.as_deref()).collect();
        assert_eq!(titles, [Some("a"), Some("b")]);
        assert_eq!(event.target.key, "acme:task:1");
    }

    #[test]
    fn names_what_is_missing_or_wrong() {
        assert_eq!(
            Event::builder().build(),
            Err(EventBuildError::Missing { field: "source_id" })
        );
        assert_eq!(
            complete().action("").build(),
            Err(EventBuildError::Empty { field: "action" })
        );
        let mut no_target = complete();
        no_target.target = None;
        assert_eq!(no_target.build(), Err(EventBuildError::Missing { field: "target" }));
        let year_10000 = DateTime::from_timestamp(253_402_300_800, 0).unwrap();
        assert_eq!(
            complete().time(year_10000).build(),
            Err(EventBuildError::TimeOutOfRange { time: year_10000 })
        );
        assert_eq!(
            complete().value_multiplier(0).build(),
            Err(EventBuildError::InvalidMultiplier { multiplier: 0 })
        );
    }
}
