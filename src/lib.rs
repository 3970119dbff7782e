//! # spark-integrations
//!
//! The integration layer of an activity timeline fed by many services. Each service (GitHub, Slack, ...) turns its
//! payloads into one normalized [model]: [`Event`]s (an actor does an action to a target), [`Object`]s (actors and
//! targets, deduplicated by a stable key) and [`Block`]s (the parts of an event, such as the commits of a push).
//!
//! The crate is **sans-IO**: it never opens a socket, reads the clock, draws random bytes or touches a database.
//! Time and randomness are arguments; HTTP requests are returned for the host to send, and responses handed back;
//! storage is a trait the host implements. The same input bytes and context always give byte-identical output.
//!
//! ## Converting a payload
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use spark_integrations::convert::{ConvertContext, Conversion, Converter, Payload};
//! use spark_integrations::providers::github::GithubConverter;
//!
//! let item = br#"{"id":"22249084947","type":"WatchEvent",
//!     "actor":{"id":583231,"login":"octocat"},
//!     "repo":{"id":1296269,"name":"octocat/Hello-World"},
//!     "payload":{"action":"started"},"created_at":"2022-06-09T12:47:28Z"}"#;
//! let received_at = Utc.with_ymd_and_hms(2022, 6, 9, 12, 50, 0).unwrap();
//! let conversion = GithubConverter.convert(Payload::Polled { body: item }, &ConvertContext::new(received_at))?;
//! let Conversion::Converted(events) = conversion else { panic!("a star is activity") };
//! assert_eq!(events[0].actor.key, "github:user:583231");
//! assert_eq!(events[0].target.key, "github:repository:1296269");
//! # Ok::<(), spark_integrations::convert::ConvertError>(())
//! ```
//!
//! ## Map of the crate
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | `Event`, `Object`, `Block`: plain data with a fixed JSON shape |
//! | [`convert`] | the converter contract: `Payload` and `ConvertContext` in, `Conversion` or `ConvertError` out |
//! | [`providers`] | GitHub and Slack: converters, and the provider rules as data |
//! | [`webhook`] | webhook intake: signature verification (GitHub, Slack, Standard Webhooks), challenges, dedupe keys |
//! | [`Secret`] | redacted holders for secrets and tokens |
//!
//! Dependencies point down: providers use the generic mechanisms, everything uses `model`, and `model` uses nothing
//! of ours.

pub mod convert;
pub mod model;
pub mod providers;
mod secret;
pub mod webhook;

pub use convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};
pub use model::{Block, Event, Object};
pub use secret::{AccessToken, RefreshToken, Secret};
