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
//! Three paths run through it, each a sequence of pure steps the host drives:
//!
//! - **Webhook**: the host receives `(service, routing secret, headers, raw body)`, finds the [`Integration`] by its
//!   routing secret, and calls [`plugin::intake_for`] with the plugin and the provider's signing secret, which checks
//!   the signature and the headers; the plugin's converter then reads the body, once, into a [`Conversion`]: events
//!   the host [`store::ingest`]s, or a challenge to echo.
//! - **OAuth**: [`oauth::OAuthClient::start`] gives the authorize URL and a [`oauth::PendingAuth`] to keep in the
//!   user's session; the callback gives the token request; its response gives tokens the host must store before
//!   using them. The [`oauth`] module docs walk through the whole loop.
//! - **Poll**: [`schedule::due`] names the integrations to poll; each plugin's [`poll::Poller`] starts a round from
//!   a [`poll::PollContext`] (the integration's id, configuration and token) that yields the requests to send and
//!   takes the responses back; the outcome holds conversions, a new cursor and the next poll time.
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
//! use spark_integrations::{Conversion, ConvertContext, Integration, Payload, Registry};
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
//! let Conversion::Converted(events) = converter.convert(Payload::Polled { body: item }, &context)? else {
//!     panic!("a star is activity");
//! };
//! let event = &events[0];
//! assert_eq!((event.domain.as_str(), event.action.as_str()), ("repository", "starred"));
//! assert_eq!(event.actor.key, "github:user:583231"); // built from ids, never from the login
//! assert_eq!(event.target.key, "github:repository:1296269");
//! assert_eq!(event.time.to_rfc3339(), "2022-06-09T12:47:28+00:00"); // the provider's time, not the clock's
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Webhook intake
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use http::HeaderMap;
//! use spark_integrations::convert::{Conversion, ConvertContext, Converter};
//! use spark_integrations::plugin::intake_for;
//! use spark_integrations::providers::slack::{SlackConverter, SlackPlugin};
//! use spark_integrations::webhook::WebhookSecret;
//!
//! // A signed Slack `url_verification` request (from the slack-ruby-client test suite).
//! let body = br#"{"token":"X34FAqCu8tmGEkEEpoDncnja","challenge":"P7sFXA4o3HV2hTx4zb4zcQ9yrvuQs8pDh6EacOxmMRj0tJaXfQFF","type":"url_verification"}"#;
//! let mut headers = HeaderMap::new();
//! headers.insert("X-Slack-Request-Timestamp", "1547933148".parse()?);
//! headers.insert("X-Slack-Signature",
//!     "v0=91177eea054d65de0fc0f9b4ec57714307bc0ce2c5f3bf0d28b1b720c8f92ba2".parse()?);
//! // The Slack app's signing secret: app configuration, not the integration's routing secret.
//! let signing_secret = [WebhookSecret::new("ade6ca762ade4db0e7d31484cd616b9c")];
//! let now = Utc.timestamp_opt(1_547_933_148 + 10, 0).unwrap();
//!
//! let delivery = intake_for(&SlackPlugin::new(), &signing_secret, &headers, body, now)?;
//! // The converter is the one reader of the body: store what it converts (a redelivery is reported as duplicates),
//! // or answer a challenge with 200.
//! let context = ConvertContext::new(now).with_integration("int_1");
//! match SlackConverter.convert(delivery.payload, &context)? {
//!     Conversion::Challenge(challenge) => assert!(challenge.starts_with("P7sFXA4o")), // answer 200 with it
//!     _ => { /* store it: store::ingest_conversion(&mut store, "int_1", &conversion) */ }
//! }
//! // Ten minutes later the same request is a replay: 401.
//! let later = now + chrono::Duration::minutes(10);
//! let refused = intake_for(&SlackPlugin::new(), &signing_secret, &headers, body, later).unwrap_err();
//! assert_eq!(refused.status(), http::StatusCode::UNAUTHORIZED);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Polling
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use serde_json::json;
//! use spark_integrations::poll::{PollContext, PollCursor, Step};
//! use spark_integrations::providers::github::GithubPlugin;
//! use spark_integrations::{Integration, Plugin};
//!
//! let plugin = GithubPlugin::new();
//! let mut integration = Integration::initialize(&plugin, "int_42", "user_7", &[0x5a; 32]);
//! let submitted = json!({"repositories": ["octocat/Hello-World"], "events": ["PushEvent"]});
//! integration.configuration = Some(plugin.configuration_schema().validate(&submitted)?);
//!
//! let now = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
//! let context = PollContext::of(&integration).expect("configured above");
//! let mut round = plugin.poller().expect("GitHub is polled").start(&context, PollCursor::default(), now)?;
//! while let Step::Send(request) = round.step() {
//!     assert_eq!(request.uri().path(), "/repos/octocat/Hello-World/events");
//!     // The host sends `request` with its HTTP client; here GitHub answers "nothing new".
//!     let response = http::Response::builder().status(304).header("x-poll-interval", "60").body(Vec::new())?;
//!     round.handle_response(response, now);
//! }
//! let outcome = round.finish();
//! assert!(outcome.items.is_empty());
//! assert_eq!(outcome.next_poll_at, now + chrono::Duration::seconds(60));
//! // Store `outcome.items`' conversions, then persist `outcome.cursor` (see `schedule::record`).
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Errors and panics
//!
//! - **Bad input is an error, never a panic.** Payloads, headers, provider responses, stored rows and configuration
//!   come from outside: whatever they hold, the crate answers a typed error naming what was wrong and where (a field
//!   path, a header, a column). Converters, verifiers, poll rounds and OAuth steps are property-tested on arbitrary
//!   input for that.
//! - **Errors are `#[non_exhaustive]` enums per concern** ([`ConvertError`], [`webhook::WebhookError`],
//!   [`oauth::TokenError`], [`poll::PollError`], ...), with lowercase messages that never contain a secret, and
//!   sources kept. Those a host answers or retries on say how: [`webhook::WebhookError::status`],
//!   [`oauth::TokenError::is_retryable`], [`poll::PollError::is_retryable`].
//! - **A panic means a broken internal invariant** (a constant that does not parse, a state the code itself rules
//!   out): every `expect` in the library says why it cannot fail. A programmer's misuse of a constructor with
//!   compile-time data (a [`webhook::Header`] whose key is not its name in lowercase) panics where a `const` is
//!   evaluated, at compile time.
//! - **Nothing is half-written.** A store operation commits whole or not at all ([`store::ingest`] event by event,
//!   [`store::ingest_batch`] batch by batch), and a host keeps tokens before it uses them ([`oauth::Persist`]).
//!
//! ## Map of the crate
//!
//! From the bottom up; each layer uses only those above it in this table.
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | `Event`, `Object`, `Block`: plain data with a fixed JSON shape; `Name` for their vocabulary fields |
//! | [`Secret`] | redacted holders for secrets and tokens |
//! | [`convert`] | the converter contract: `Payload` and `ConvertContext` in, `Conversion` or `ConvertError` out |
//! | [`oauth`] | OAuth 2.0 authorization-code flows with PKCE: provider rules as data, start, callback, tokens, refresh, authenticated requests |
//! | [`Integration`] | one user's connection to one service, as stored: tokens, its [`Configuration`], the webhook routing secret |
//! | [`webhook`] | webhook intake: verifiers (Standard Webhooks built in) and the public building blocks of any scheme |
//! | [`poll`] | polling activity APIs: the round's steps, its outcome, the cursor kept between rounds |
//! | [`enrich`] | naming objects that payloads identify by id only: the enricher's round of lookups and its outcome |
//! | [`plugin`] | the `Plugin` contract over all of the above, the `Registry`, configuration `Schema`s and their validation |
//! | [`store`] | storage traits, idempotent [`store::ingest`], an in-memory store, SQLite (feature `sqlite`) and Postgres (feature `postgres`) |
//! | `testing` | the storage contract as a test suite to run on your own stores (feature `testing`) |
//! | [`schedule`] | the scheduler step: which integrations are due for a poll, recording each result |
//! | [`providers`] | GitHub, Slack and GitLab: plugins built on the same public contract another crate's would use |
//!
//! [`chrono`] and [`http`] types appear in the public API; both crates are re-exported so that a user's versions
//! always match.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use chrono;
pub use http;

pub mod convert;
pub mod enrich;
mod integration;
pub mod model;
pub mod oauth;
pub mod plugin;
pub mod poll;
pub mod providers;
pub mod schedule;
mod secret;
pub mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod text;
pub mod webhook;

pub use convert::{Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};
pub use integration::{Configuration, Integration, RoutingSecret, WebhookUrlError};
pub use model::{Block, Event, Object};
pub use plugin::{Plugin, Registry};
pub use secret::{AccessToken, RefreshToken, Secret};
