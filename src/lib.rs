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
//! ## Plugins: register, configure, convert
//!
//! A host registers the services it offers once, then looks a plugin up by the identifier in a route or stored on an
//! [`Integration`], validates the configuration a user submits, and converts payloads with the plugin's converter.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use serde_json::json;
//! use spark_integrations::providers::{github::GithubPlugin, slack::SlackPlugin};
//! use spark_integrations::{ConvertContext, Integration, Payload, Registry};
//!
//! let mut registry = Registry::new();
//! registry.register(GithubPlugin::new())?;
//! registry.register(SlackPlugin::new())?;
//!
//! // A user connects GitHub: the host supplies ids and random bytes, then stores the record.
//! let github = registry.get("github").expect("registered above");
//! let mut integration = Integration::initialize(github.as_ref(), "int_42", "user_7", &[0x5a; 32]);
//!
//! // The user submits the configuration form; every problem is reported at once.
//! let submitted = json!({"repositories": ["octocat/Hello-World"], "events": ["PushEvent", "WatchEvent"]});
//! integration.configuration = Some(github.configuration_schema().validate(&submitted)?);
//! let errors = github.configuration_schema().validate(&json!({"repositories": ["octocat"]})).unwrap_err();
//! assert_eq!(errors.errors().len(), 2); // `repositories[0]` is not `owner/name`; `events` is missing
//!
//! // A payload arrives for the integration's service: convert it with that plugin's converter.
//! let plugin = registry.get(&integration.service).expect("the integration's service is registered");
//! let converter = plugin.converter().expect("GitHub converts payloads");
//! let item = br#"{"id":"22249084947","type":"WatchEvent",
//!     "actor":{"id":583231,"login":"octocat"},
//!     "repo":{"id":1296269,"name":"octocat/Hello-World"},
//!     "payload":{"action":"started"},"created_at":"2022-06-09T12:47:28Z"}"#;
//! let received_at = Utc.with_ymd_and_hms(2022, 6, 9, 12, 50, 0).unwrap();
//! let context = ConvertContext::new(received_at).with_integration(&integration.id);
//! let _conversion = converter.convert(Payload::Polled { body: item }, &context)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Map of the crate
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | `Event`, `Object`, `Block`: plain data with a fixed JSON shape |
//! | [`convert`] | the converter contract: `Payload` and `ConvertContext` in, `Conversion` or `ConvertError` out |
//! | [`plugin`] | the `Plugin` contract, the `Registry`, configuration `Schema`s and their validation |
//! | [`Integration`] | one user's connection to one service: tokens, configuration, webhook routing secret |
//! | [`providers`] | GitHub and Slack: plugins, converters, and the provider rules as data |
//! | [`webhook`] | webhook intake: signature verification (GitHub, Slack, Standard Webhooks), challenges, dedupe keys |
//! | [`oauth`] | OAuth 2.0 authorization-code flows with PKCE: start, callback, tokens, refresh, authenticated requests |
//! | [`poll`] | polling activity APIs: the round's steps, its outcome, the cursor kept between rounds |
//! | [`store`] | storage traits, idempotent [`store::ingest`], an in-memory store and (feature `sqlite`) SQLite |
//! | [`schedule`] | the scheduler step: which integrations are due for a poll, recording each result |
//! | [`webhook`] | webhook intake: signature verification (GitHub, Slack, Standard Webhooks), challenges, dedupe keys |
//! | [`Secret`] | redacted holders for secrets and tokens |
//!
//! Dependencies point down: providers use the generic mechanisms, everything uses `model`, and `model` uses nothing
//! of ours.

pub mod convert;
mod integration;
pub mod model;
pub mod oauth;
pub mod plugin;
pub mod poll;
pub mod providers;
pub mod schedule;
mod secret;
pub mod store;
pub mod webhook;

pub use convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};
pub use integration::{Integration, RoutingSecret, WebhookUrlError};
pub use model::{Block, Event, Object};
pub use plugin::{Plugin, Registry};
pub use secret::{AccessToken, RefreshToken, Secret};
