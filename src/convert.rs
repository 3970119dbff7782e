//! What a converter takes and what it says: [`Payload`] and [`ConvertContext`] in, a [`Conversion`] or a
//! [`ConvertError`] out.
//!
//! Conversion is a pure function of the payload bytes and the context: no clock, no randomness, no I/O. The same
//! input always gives byte-identical output.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::integration::Configuration;
use crate::model::Event;

/// One payload to convert, as it reached the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// One item fetched from a provider's activity API (an element of GitHub's `/events` array), as raw JSON.
    Polled {
        /// The item's JSON bytes.
        body: &'a [u8],
    },
    /// A webhook delivery body with what the provider put in its headers.
    Webhook {
        /// The event name from the headers (GitHub's `X-GitHub-Event`), where the provider sends one. Slack
        /// puts the type in the body, so this is `None` for Slack.
        event: Option<&'a str>,
        /// The delivery id from the headers (GitHub's `X-GitHub-Delivery`), where the provider sends one.
        delivery_id: Option<&'a str>,
        /// The raw request body.
        body: &'a [u8],
    },
}

impl<'a> Payload<'a> {
    /// The raw JSON bytes of the payload.
    pub fn body(&self) -> &'a [u8] {
        match *self {
            Self::Polled { body } | Self::Webhook { body, .. } => body,
        }
    }
}

/// What a conversion needs besides the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConvertContext {
    /// The integration the payload arrived for, as the host identifies it.
    pub integration_id: Option<String>,
    /// When the host received the payload. Used only where the payload carries no time of its own.
    pub received_at: DateTime<Utc>,
    /// The integration's configuration, when the host passes it: converters read what the user selected in it
    /// (see [`is_selected`](Self::is_selected)). `None` selects everything.
    pub configuration: Option<Configuration>,
}

impl ConvertContext {
    /// A context for a payload received at `received_at`.
    pub fn new(received_at: DateTime<Utc>) -> Self {
        Self {
            integration_id: None,
            received_at,
            configuration: None,
        }
    }

    /// The same context, naming the integration the payload belongs to.
    #[must_use]
    pub fn with_integration(mut self, integration_id: impl Into<String>) -> Self {
        self.integration_id = Some(integration_id.into());
        self
    }

    /// The same context, carrying (a copy of) the integration's configuration, so that the converter applies what
    /// the user selected in it: a payload of a type the configuration leaves out is skipped as
    /// [`SkipReason::NotSelected`]. Pass the integration's stored configuration on every path (webhooks, polls,
    /// replays); `None` leaves the context without one, which selects everything.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use serde_json::json;
    /// use spark_integrations::convert::{ConvertContext, Conversion, Converter, Payload, SkipReason};
    /// use spark_integrations::plugin::Plugin;
    /// use spark_integrations::providers::slack::{SlackConverter, SlackPlugin};
    ///
    /// let configuration = SlackPlugin::new().configuration_schema().validate(&json!({"events": ["message"]}))?;
    /// let context = ConvertContext::new(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap())
    ///     .with_integration("int_1")
    ///     .with_configuration(&configuration);
    /// assert!(context.is_selected("events", "message"));
    /// assert!(!context.is_selected("events", "reaction_added"));
    ///
    /// let body = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev1",
    ///     "event":{"type":"reaction_added","user":"U1","reaction":"eyes","event_ts":"1360782804.083113"}}"#;
    /// let conversion = SlackConverter.convert(Payload::Polled { body }, &context)?;
    /// assert!(matches!(conversion, Conversion::Skipped(SkipReason::NotSelected { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_configuration<'c>(mut self, configuration: impl Into<Option<&'c Configuration>>) -> Self {
        self.configuration = configuration.into().cloned();
        self
    }

    /// Whether the configuration selects `value` in its string-array field `field` (for example `"events"`):
    /// `true` when the context carries no configuration or the configuration does not set the field (nothing was
    /// chosen, so nothing is left out); otherwise whether `value` is one of the field's elements. For converters,
    /// to honour a selection made in their plugin's schema.
    pub fn is_selected(&self, field: &str, value: &str) -> bool {
        match &self.configuration {
            Some(configuration) if configuration.get(field).is_some() => {
                configuration.strings(field).any(|selected| selected == value)
            }
            _ => true,
        }
    }
}

/// The outcome of converting one payload.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use = "a conversion holds events to store, a reason to log or a challenge to answer"]
pub enum Conversion {
    /// The payload described activity: one or more events.
    Converted(Vec<Event>),
    /// The payload was understood but holds nothing to record, for the given reason.
    Skipped(SkipReason),
    /// Slack's `url_verification`: answer the request with this challenge (only after its signature was verified).
    Challenge(String),
}

/// Why a payload produced no events. Never silent: hosts can log or count these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The provider's type name (`X-GitHub-Event`, Events API `type`, Slack `event.type`) is not one this converter
    /// handles.
    UnsupportedType(String),
    /// A type this converter handles, with an action or subtype it deliberately ignores.
    UnsupportedAction {
        /// The type name.
        kind: String,
        /// The action or subtype that is ignored.
        action: String,
    },
    /// GitHub's `ping`, sent once when a webhook is created.
    Ping,
    /// Slack's `app_rate_limited` notice: Slack dropped events because the app was over its limit.
    AppRateLimited,
    /// A type this converter handles, which the integration's configuration does not select (see
    /// [`ConvertContext::with_configuration`]).
    NotSelected {
        /// The provider's type name (Slack `event.type`, GitHub's `X-GitHub-Event` or Events API `type`).
        kind: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedType(kind) => write!(f, "unsupported type `{kind}`"),
            Self::UnsupportedAction { kind, action } => write!(f, "unsupported action `{action}` of `{kind}`"),
            Self::Ping => f.write_str("ping"),
            Self::AppRateLimited => f.write_str("app rate limited: the provider dropped events"),
            Self::NotSelected { .. } => f.write_str("not selected in the integration's configuration"),
        }
    }
}

/// Why a payload could not be converted: it was not JSON, or a field that identifies the event was missing or had
/// the wrong type. Each variant names where, as a dotted path into the payload (`payload.pull_request.id`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The bytes are not valid JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the first offending byte.
        line: usize,
        /// 1-based column of the first offending byte.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A field needed to identify the event is absent or null.
    #[error("missing field `{path}`")]
    MissingField {
        /// Dotted path of the field.
        path: String,
    },
    /// A field has a value of the wrong type or shape.
    #[error("invalid value at `{path}`: {message}")]
    InvalidField {
        /// Dotted path of the field (`.` for the payload itself).
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The payload needs information the caller did not give (a GitHub webhook without its `X-GitHub-Event` name).
    #[error("missing input: {what}")]
    MissingInput {
        /// What is missing.
        what: &'static str,
    },
    /// What the payload gave does not make an event (an empty id, a time outside years 1 to 9999): the error of
    /// [`EventBuilder::build`](crate::model::EventBuilder::build), for converters that build events with it.
    #[error("cannot build the event: {0}")]
    Event(#[from] crate::model::EventBuildError),
}

impl ConvertError {
    /// The error for a serde_json failure at `path` (a dotted path such as `payload.pull_request.id`, `.` for the
    /// payload itself): [`Syntax`](Self::Syntax) for bytes that are not JSON, [`MissingField`](Self::MissingField)
    /// for an absent or `null` field, [`InvalidField`](Self::InvalidField) for the rest. For converters that parse
    /// with serde themselves; [`from_slice`] does it for them, naming the path.
    ///
    /// ```
    /// use spark_integrations::ConvertError;
    ///
    /// let error = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
    /// assert!(matches!(ConvertError::from_serde(".".into(), &error), ConvertError::Syntax { line: 1, .. }));
    /// ```
    pub fn from_serde(path: String, error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => Self::Syntax {
                line: error.line(),
                column: error.column(),
                message: strip_position(error),
            },
            Category::Data => {
                let message = strip_position(error);
                match message.strip_prefix("missing field `") {
                    Some(rest) => {
                        let field = rest.trim_end_matches('`');
                        let path = if path == "." {
                            field.to_owned()
                        } else {
                            format!("{path}.{field}")
                        };
                        Self::MissingField { path }
                    }
                    None if message.starts_with("invalid type: null") => Self::MissingField { path },
                    None => Self::InvalidField { path, message },
                }
            }
        }
    }
}

/// serde_json appends " at line L column C" to its messages; the variants carry the position separately.
fn strip_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message,
    }
}

/// Deserializes `T` from `body` for a converter, with a [`ConvertError`] naming the offending field on failure.
///
/// The fast way first; only when that fails is the body parsed again with path tracking, so that the error names the
/// field without slowing down the common case. The fast way checks once that the whole body is UTF-8 and then reads
/// it as text, so that the strings it borrows need no check of their own; a body that is not UTF-8 goes the tracking
/// way, as bytes, which finds the same errors (and reports where the bytes go wrong).
///
/// ```
/// use serde::Deserialize;
/// use spark_integrations::convert::from_slice;
/// use spark_integrations::ConvertError;
///
/// #[derive(Debug, Deserialize)]
/// struct Item { id: u64, actor: Actor }
/// #[derive(Debug, Deserialize)]
/// struct Actor { login: String }
///
/// let error = from_slice::<Item>(br#"{"id": 7, "actor": {"login": 42}}"#).unwrap_err();
/// assert!(matches!(error, ConvertError::InvalidField { path, .. } if path == "actor.login"));
/// ```
pub fn from_slice<'de, T: serde::Deserialize<'de>>(body: &'de [u8]) -> Result<T, ConvertError> {
    from_slice_seed(std::marker::PhantomData::<T>, body)
}

/// [`from_slice`] for a `seed` that says how to read the body (a payload type chosen at run time): the same fast
/// way, and the same path-tracking way when it fails.
pub(crate) fn from_slice_seed<'de, S>(seed: S, body: &'de [u8]) -> Result<S::Value, ConvertError>
where
    S: serde::de::DeserializeSeed<'de> + Copy,
{
    if let Some(text) = as_text(body) {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        if let Ok(value) = seed
            .deserialize(&mut deserializer)
            .and_then(|value| deserializer.end().map(|()| value))
        {
            return Ok(value);
        }
    }
    // Not UTF-8 (serde_json still reads a body whose bad bytes sit only in strings it skips), or not readable: read
    // again, tracking the path. One slow reader for both keeps a single fast one compiled per type.
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut track = serde_path_to_error::Track::new();
    let value = seed
        .deserialize(serde_path_to_error::Deserializer::new(&mut deserializer, &mut track))
        .map_err(|error| ConvertError::from_serde(track.path().to_string(), &error))?;
    // What follows the value: only whitespace may (a failure the value's own path does not describe).
    deserializer
        .end()
        .map_err(|error| ConvertError::from_serde(".".to_owned(), &error))?;
    Ok(value)
}

/// `body` as text when it is UTF-8, checked once for the whole body (with SIMD where the CPU has it): the converters
/// then read it with `serde_json::from_str`, whose borrowed strings need no check of their own.
pub(crate) fn as_text(body: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(body).ok()
}

/// Refuses a conversion holding a time the model does not accept ([`is_storable_time`](crate::model::is_storable_time):
/// years 1 to 9999), with an [`ConvertError::InvalidField`] naming the model field that holds it (`time`,
/// `actor.time`, `target.time`, `blocks[2].time`). Converters that read times from loose formats call it last, so
/// that nothing is stored that no store could read back.
///
/// ```
/// use chrono::DateTime;
/// use spark_integrations::convert::{Conversion, refuse_unstorable_times};
/// use spark_integrations::model::{Event, Object};
///
/// let mut event = Event::builder().source_id("1").time(DateTime::UNIX_EPOCH).service("acme").domain("task")
///     .action("created").actor(Object::new("a", "user", "acme_user"))
///     .target(Object::new("t", "task", "acme_task")).build()?;
/// event.time = DateTime::from_timestamp(253_402_300_800, 0).unwrap(); // year 10000
/// let error = refuse_unstorable_times(Conversion::Converted(vec![event])).unwrap_err();
/// assert_eq!(error.to_string(), "invalid value at `time`: time outside years 1 to 9999");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`ConvertError::InvalidField`] for the first time out of range.
pub fn refuse_unstorable_times(conversion: Conversion) -> Result<Conversion, ConvertError> {
    use crate::model::is_storable_time;
    let Conversion::Converted(events) = &conversion else {
        return Ok(conversion);
    };
    let refuse = |path: String| ConvertError::InvalidField {
        path,
        message: "time outside years 1 to 9999".to_owned(),
    };
    for event in events {
        if !is_storable_time(&event.time) {
            return Err(refuse("time".to_owned()));
        }
        for (name, object) in [("actor", &event.actor), ("target", &event.target)] {
            if object.time.as_ref().is_some_and(|time| !is_storable_time(time)) {
                return Err(refuse(format!("{name}.time")));
            }
        }
        for (index, block) in event.blocks.iter().enumerate() {
            if block.time.as_ref().is_some_and(|time| !is_storable_time(time)) {
                return Err(refuse(format!("blocks[{index}].time")));
            }
        }
    }
    Ok(conversion)
}

/// Turns payloads of one service into [`Conversion`]s.
///
/// Implemented by each provider's converter; [`crate::plugin`]s hand one out. Implementations must be pure and
/// must not panic on any input.
pub trait Converter: Send + Sync {
    /// Converts one payload.
    ///
    /// # Errors
    ///
    /// [`ConvertError`] when the payload is not JSON or lacks a field that identifies the event.
    fn convert(&self, payload: Payload<'_>, context: &ConvertContext) -> Result<Conversion, ConvertError>;
}
