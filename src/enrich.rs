//! Names for objects that payloads name only by id, without doing I/O.
//!
//! Some providers' payloads carry ids only: a Slack event says that `U043H11ES4V` reacted in `C043YJGBY49`, never
//! who or where that is. Such objects are stored without a [`title`](Object::title). A plugin that can look them
//! up offers an [`Enricher`] ([`Plugin::enricher`](crate::plugin::Plugin::enricher)): given stored objects, it
//! starts a *round* that hands out the requests resolving them, one at a time, and turns the responses into updated
//! objects (a title, an [`image_url`](Object::image_url), more metadata).
//!
//! # The host's loop
//!
//! 1. List the integration's objects still to name: [`ActivityStore::untitled_objects`] with an
//!    [`UntitledQuery`] of the enricher's [`kinds`](Enricher::kinds).
//! 2. [`start`](Enricher::start) a round with the integration's [`EnrichContext`] (its id and access token).
//! 3. Call [`step`](EnrichRound::step): on [`Step::Send`], send the request with your HTTP client and hand back the
//!    response with the time it arrived ([`handle_response`](EnrichRound::handle_response)), or why it could not
//!    be sent ([`handle_transport_error`](EnrichRound::handle_transport_error)); repeat until [`Step::Done`].
//! 4. [`finish`](EnrichRound::finish) and store the outcome's [`updated`](EnrichOutcome::updated) objects in place
//!    ([`store_names`]). Objects that [`failed`](EnrichOutcome::failed) keep their id as title: try them again
//!    later. When the provider asked to slow down ([`rate_limit`](EnrichOutcome::rate_limit)), the round stopped
//!    there: send nothing more to it before `until`; the [`deferred`](EnrichOutcome::deferred) objects were not
//!    looked up.
//!
//! Each object is looked up once: once named it is no longer listed, and a later event naming it by id only keeps
//! the stored name (see [`ActivityTransaction::upsert_object`]).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use spark_integrations::enrich::{EnrichContext, Enricher, Step};
//! use spark_integrations::model::Object;
//! use spark_integrations::providers::slack::SlackPlugin;
//! use spark_integrations::{AccessToken, Plugin};
//!
//! let plugin = SlackPlugin::new();
//! let enricher = plugin.enricher().expect("Slack names users and channels");
//! let mut user = Object::new("slack:T1:user:U1", "user", "slack_user");
//! user.metadata.insert("id".into(), "U1".into());
//!
//! let token = AccessToken::new("xoxb-example");
//! let context = EnrichContext::new("int_42").with_access_token(&token);
//! let now = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap();
//! let mut round = enricher.start(&context, vec![user]);
//! while let Step::Send(request) = round.step() {
//!     assert_eq!(request.uri(), "https://slack.com/api/users.info?user=U1");
//!     // The host sends `request`; here Slack answers.
//!     let body = br#"{"ok":true,"user":{"id":"U1","name":"ada","profile":{"display_name":"Ada",
//!         "image_72":"https://avatars.example/ada_72.png"}}}"#;
//!     round.handle_response(http::Response::new(body.to_vec()), now);
//! }
//! let outcome = round.finish();
//! assert_eq!(outcome.updated[0].title.as_deref(), Some("Ada"));
//! assert_eq!(outcome.updated[0].image_url.as_deref(), Some("https://avatars.example/ada_72.png"));
//! assert!(outcome.failed.is_empty() && outcome.rate_limit.is_none());
//! // Store `outcome.updated` (`store_names`), retry `outcome.failed` later.
//! ```
//!
//! [`ActivityStore::untitled_objects`]: crate::store::ActivityStore::untitled_objects
//! [`UntitledQuery`]: crate::store::UntitledQuery
//! [`ActivityTransaction::upsert_object`]: crate::store::ActivityTransaction::upsert_object
//! [`store_names`]: crate::store::store_names

use chrono::{DateTime, Utc};

use crate::integration::Integration;
use crate::model::Object;
use crate::secret::AccessToken;

pub use crate::poll::{RateLimit, RateLimitKind, Step};

/// What an [`Enricher`] needs to know about the integration whose objects it names: its id and its access token.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct EnrichContext<'a> {
    /// The host's id of the integration.
    pub integration_id: &'a str,
    /// The access token to send, when the integration has one (refresh it first when it is due).
    pub access_token: Option<&'a AccessToken>,
}

impl<'a> EnrichContext<'a> {
    /// The context of integration `integration_id`, without a token.
    pub fn new(integration_id: &'a str) -> Self {
        Self {
            integration_id,
            access_token: None,
        }
    }

    /// The same context sending `token`.
    #[must_use]
    pub fn with_access_token(mut self, token: &'a AccessToken) -> Self {
        self.access_token = Some(token);
        self
    }

    /// The context of a stored integration, with its stored token.
    pub fn of(integration: &'a Integration) -> Self {
        let context = Self::new(&integration.id);
        match integration.access_token() {
            Some(token) => context.with_access_token(token),
            None => context,
        }
    }
}

/// Names objects of one service that its payloads identify by id only. Plugins that can hand one out through
/// [`Plugin::enricher`](crate::plugin::Plugin::enricher).
pub trait Enricher: Send + Sync {
    /// The object [`kind`](Object::kind)s this enricher names (`slack_user`, `slack_channel`): the host lists the
    /// untitled objects of these kinds and hands them to [`start`](Self::start).
    fn kinds(&self) -> &[&str];

    /// Starts a round naming `objects` (as stored) for the integration described by `context`. Objects this
    /// enricher cannot name (another kind, no id) are reported as [`failed`](EnrichOutcome::failed), never sent.
    fn start(&self, context: &EnrichContext<'_>, objects: Vec<Object>) -> Box<dyn EnrichRound>;
}

/// A naming round in progress: the host's loop over [`Step`]s.
///
/// # Driving contract
///
/// 1. Call [`step`](Self::step). On [`Step::Send`], send the request (the round never sends anything), then hand
///    back exactly one of: the response with the time it arrived ([`handle_response`](Self::handle_response)), or
///    the reason it could not be sent ([`handle_transport_error`](Self::handle_transport_error)). Calling `step`
///    again before that returns the same request again.
/// 2. Repeat until [`Step::Done`], then call [`finish`](Self::finish). Calling `finish` earlier ends the round
///    there: the objects not looked up are listed as [`deferred`](EnrichOutcome::deferred).
///
/// A round never waits, never reads the clock, and never panics on any response.
pub trait EnrichRound: Send {
    /// What to do next: send a request, or take the outcome.
    fn step(&mut self) -> Step;

    /// Hands back the response to the request of the last [`Step::Send`], received at `now`.
    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: DateTime<Utc>);

    /// Reports that the request of the last [`Step::Send`] could not be sent (DNS, TLS, timeout, ...).
    fn handle_transport_error(&mut self, error: &dyn std::fmt::Display);

    /// Ends the round and gives its outcome: objects to store, failures to retry later.
    fn finish(self: Box<Self>) -> EnrichOutcome;
}

/// What a naming round found and what the host must do with it.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
#[must_use = "the outcome holds named objects to store"]
pub struct EnrichOutcome {
    /// The objects named, each the stored copy with its new title, image and metadata: store them in place.
    pub updated: Vec<Object>,
    /// The objects whose lookup failed: they keep their id as title; try them again later.
    pub failed: Vec<EnrichFailure>,
    /// Set when the provider asked to slow down; the round stopped there.
    pub rate_limit: Option<RateLimit>,
    /// The keys of the objects not looked up, because the round stopped first (a rate limit, a refused token).
    pub deferred: Vec<String>,
}

/// An object whose lookup failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("naming `{key}`: {error}")]
#[non_exhaustive]
pub struct EnrichFailure {
    /// The object's key.
    pub key: String,
    /// What went wrong.
    #[source]
    pub error: EnrichError,
}

impl EnrichFailure {
    /// Naming the object `key` failed with `error`.
    pub fn new(key: impl Into<String>, error: EnrichError) -> Self {
        Self { key: key.into(), error }
    }
}

/// Why one object could not be named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrichError {
    /// The enricher does not name objects like this one (another kind, or no provider id in its metadata).
    #[error("not an object this enricher names: {reason}")]
    Unsupported {
        /// What is missing or different.
        reason: &'static str,
    },
    /// The provider refused the token (revoked, expired, not authorized): the round stopped there.
    #[error("the token was refused ({code})")]
    Unauthorized {
        /// The HTTP status or the provider's error code.
        code: String,
    },
    /// The provider answered with an error for this object (Slack: `user_not_found`, `missing_scope`).
    #[error("the provider answered `{code}`")]
    Provider {
        /// The provider's error code.
        code: String,
    },
    /// Any other status the enricher does not expect (5xx included).
    #[error("unexpected status {status}")]
    UnexpectedStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// The body is not what the provider documents.
    #[error("malformed response at `{path}`: {reason}")]
    Malformed {
        /// Where in the body (a JSON pointer; empty for the whole body).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The host could not send the request or read its response.
    #[error("transport: {message}")]
    Transport {
        /// The host's description of the failure.
        message: String,
    },
}
