//! Polling activity APIs without doing I/O: what a poll round asks the host to do, what it reports, and the cursor
//! the host keeps between rounds.
//!
//! A provider's [`Poller`] starts a *round* for one integration (a [`PollContext`]: its id, configuration and
//! token) from the stored [`PollCursor`] and `now`. The round hands out requests one at a time ([`Step::Send`]); the host sends each
//! with its own HTTP client and hands the response back, with the time it arrived. When the round says
//! [`Step::Done`], the host takes the [`PollOutcome`]:
//!
//! 1. stores the [`items`](PollOutcome::items)' conversions (storage deduplicates events by id, so a conversion seen
//!    twice changes nothing);
//! 2. only then persists the new [`cursor`](PollOutcome::cursor) (persisting it first could lose events if the host
//!    stopped in between);
//! 3. schedules the next round no earlier than [`next_poll_at`](PollOutcome::next_poll_at);
//! 4. logs or surfaces [`errors`](PollOutcome::errors) and [`gaps`](PollOutcome::gaps).
//!
//! A round never waits: when the provider says to slow down (a rate limit), the round ends and `next_poll_at` says
//! how long to stay away. The loop, with a scripted stand-in for the HTTP client, is shown on
//! [`GithubPoller`](crate::providers::github::GithubPoller).

mod link;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::convert::{Conversion, ConvertError};
use crate::integration::{Configuration, Integration};
use crate::secret::AccessToken;

pub use link::LinkError;
pub use link::find_rel;

/// Where polling of one resource (a GitHub repository) stopped last time: the validator to send back and the newest
/// item already seen. Kept inside a [`PollCursor`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceCursor {
    /// The `ETag` of the last full answer, exactly as the provider sent it (weak prefix and quotes included). Sent
    /// back as `If-None-Match`.
    #[serde(default)]
    pub etag: Option<String>,
    /// The id of the newest item seen so far. Paging stops when it is reached.
    #[serde(default)]
    pub last_seen_id: Option<String>,
}

impl ResourceCursor {
    /// A cursor for a resource that was never polled.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same cursor with a stored `ETag`.
    #[must_use]
    pub fn with_etag(mut self, etag: impl Into<String>) -> Self {
        self.etag = Some(etag.into());
        self
    }

    /// The same cursor with the id of the newest item already seen.
    #[must_use]
    pub fn with_last_seen_id(mut self, id: impl Into<String>) -> Self {
        self.last_seen_id = Some(id.into());
        self
    }
}

/// Everything a poller remembers between rounds for one integration: a [`ResourceCursor`] per polled resource, and
/// whatever else the provider's poller keeps ([`extra`](Self::extra)). The host stores it as JSON (the `cursor` of
/// the integration's stored poll state) and hands it back at the next round.
///
/// ```
/// use spark_integrations::poll::{ResourceCursor, PollCursor};
///
/// let mut cursor = PollCursor::default();
/// cursor.resources.insert("octocat/Hello-World".into(), ResourceCursor::new().with_etag("W/\"abc\"").with_last_seen_id("42"));
/// cursor.extra.insert("secondary_limit_strikes".into(), 1.into());
/// let json = serde_json::to_string(&cursor)?;
/// assert_eq!(
///     json,
///     r#"{"resources":{"octocat/Hello-World":{"etag":"W/\"abc\"","last_seen_id":"42"}},"secondary_limit_strikes":1}"#
/// );
/// assert_eq!(serde_json::from_str::<PollCursor>(&json)?, cursor);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PollCursor {
    /// One cursor per polled resource, keyed by its name (`owner/repo` for GitHub).
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceCursor>,
    /// Provider-specific values kept between rounds, stored beside `resources` at the top level of the JSON
    /// (GitHub's poller keeps `secondary_limit_strikes`, the rounds in a row that ended on a secondary rate limit).
    /// A poller reads these leniently: a value it cannot read counts as absent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// What a [`Poller`] needs to know about the integration it polls: its id, its validated configuration, and its
/// access token. The poll path takes only these, never the whole stored record.
///
/// ```
/// use serde_json::json;
/// use spark_integrations::poll::PollContext;
/// use spark_integrations::{AccessToken, Configuration};
///
/// let configuration: Configuration = serde_json::from_value(json!({"repositories": ["octocat/Hello-World"]}))?;
/// let token = AccessToken::new("gho_example");
/// let context = PollContext::new("int_42", &configuration).with_access_token(&token);
/// assert_eq!(context.configuration.strings("repositories").count(), 1);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PollContext<'a> {
    /// The host's id of the integration, named in each conversion's
    /// [`ConvertContext`](crate::convert::ConvertContext).
    pub integration_id: &'a str,
    /// The integration's validated configuration: what to poll.
    pub configuration: &'a Configuration,
    /// The access token to send, when the integration has one (refresh it first when it is due).
    pub access_token: Option<&'a AccessToken>,
}

impl<'a> PollContext<'a> {
    /// The context of integration `integration_id` configured with `configuration`, without a token.
    pub fn new(integration_id: &'a str, configuration: &'a Configuration) -> Self {
        Self {
            integration_id,
            configuration,
            access_token: None,
        }
    }

    /// The same context sending `token`.
    #[must_use]
    pub fn with_access_token(mut self, token: &'a AccessToken) -> Self {
        self.access_token = Some(token);
        self
    }

    /// The context of a stored integration, with its stored token; `None` while it has no configuration.
    pub fn of(integration: &'a Integration) -> Option<Self> {
        let context = Self::new(&integration.id, integration.configuration.as_ref()?);
        Some(match integration.access_token() {
            Some(token) => context.with_access_token(token),
            None => context,
        })
    }
}

/// What the host must do next in a poll round.
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "a step is a request to send or the end of the round"]
#[allow(
    clippy::large_enum_variant,
    reason = "one step at a time, moved out at once: boxing would only add an allocation"
)]
pub enum Step {
    /// Send this request and hand its response back to the round (or report that it could not be sent).
    Send(http::Request<Vec<u8>>),
    /// The round is over: take its outcome.
    Done,
}

/// What a poll round found and what the host must do with it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use = "the outcome holds conversions to store and a cursor to persist"]
pub struct PollOutcome {
    /// The converted items, per resource in the order they were fetched (newest first), each once. Items of a
    /// resource whose later page failed are kept too: its cursor is unchanged, so they come again next round and
    /// storage deduplicates them.
    pub items: Vec<PolledItem>,
    /// The cursor to persist once the items are stored.
    pub cursor: PollCursor,
    /// The earliest time the next round may start.
    pub next_poll_at: DateTime<Utc>,
    /// Resources whose new items may not all have been fetched.
    pub gaps: Vec<Gap>,
    /// Resources whose polling failed this round; their cursors are unchanged.
    pub errors: Vec<ResourceError>,
    /// Set when the provider asked to slow down; the round stopped there.
    pub rate_limit: Option<RateLimit>,
    /// Resources not polled this round because a rate limit ended it first; their cursors are unchanged.
    pub deferred: Vec<String>,
    /// Counts of what the round did, for logs and metrics.
    pub stats: PollStats,
}

impl PollOutcome {
    /// An outcome with nothing found: no items, gaps, errors, rate limit or deferred resources, zero counts. Fill in
    /// the public fields from there.
    pub fn new(cursor: PollCursor, next_poll_at: DateTime<Utc>) -> Self {
        Self {
            items: Vec::new(),
            cursor,
            next_poll_at,
            gaps: Vec::new(),
            errors: Vec::new(),
            rate_limit: None,
            deferred: Vec::new(),
            stats: PollStats::default(),
        }
    }
}

/// Counts of what a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollStats {
    /// Requests handed out.
    pub requests: usize,
    /// Answers that were "not modified" (304).
    pub not_modified: usize,
    /// New items fetched (before the type filter), each counted once.
    pub fetched: usize,
    /// Items fetched again on a later page (the pages shifted as new items arrived) and skipped.
    pub duplicates: usize,
    /// Items skipped because their type is not among the configured ones.
    pub filtered: usize,
}

/// One fetched item and what its conversion gave. A failed conversion is recorded here and never stops the round.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PolledItem {
    /// The resource it was fetched from (`owner/repo`).
    pub resource: String,
    /// The provider's id of the item.
    pub id: String,
    /// The item's type (GitHub's Events API `type`, such as `PushEvent`).
    pub kind: String,
    /// The conversion, or why it failed.
    pub conversion: Result<Conversion, ConvertError>,
    /// The item's raw JSON, kept when its conversion failed, so that the host can keep it (in its inbox) and
    /// convert it again once the converter is fixed.
    pub raw: Option<Vec<u8>>,
}

impl PolledItem {
    /// The item `id` of type `kind` fetched from `resource`, and what converting it gave.
    pub fn new(
        resource: impl Into<String>,
        id: impl Into<String>,
        kind: impl Into<String>,
        conversion: Result<Conversion, ConvertError>,
    ) -> Self {
        Self {
            resource: resource.into(),
            id: id.into(),
            kind: kind.into(),
            conversion,
            raw: None,
        }
    }

    /// The same item, keeping its raw JSON (for an item whose conversion failed).
    #[must_use]
    pub fn with_raw(mut self, raw: impl Into<Vec<u8>>) -> Self {
        self.raw = Some(raw.into());
        self
    }
}

/// A possible hole in the history of a resource: items newer than the last seen one were left unfetched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// The resource (`owner/repo`).
    pub resource: String,
    /// The last seen id the pages should have reached.
    pub last_seen_id: String,
    /// The oldest id fetched this round; items between it and `last_seen_id` may be missing.
    pub oldest_fetched_id: Option<String>,
    /// Why paging stopped early.
    pub cause: GapCause,
}

impl Gap {
    /// A gap in `resource` between `last_seen_id` and the oldest item fetched (if any), for `cause`.
    pub fn new(
        resource: impl Into<String>,
        last_seen_id: impl Into<String>,
        oldest_fetched_id: Option<String>,
        cause: GapCause,
    ) -> Self {
        Self {
            resource: resource.into(),
            last_seen_id: last_seen_id.into(),
            oldest_fetched_id,
            cause,
        }
    }
}

/// Why paging stopped before reaching the last seen item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GapCause {
    /// The provider had no further page: it keeps only so much history (GitHub: 300 events, 90 days).
    NoMorePages,
    /// The poller's own cap on items per round was reached.
    PageCap,
}

/// A provider's request to slow down, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Do not send another request before this time.
    pub until: DateTime<Utc>,
    /// Which limit, as the provider signalled it.
    pub kind: RateLimitKind,
}

impl RateLimit {
    /// A limit of `kind` lasting until `until`.
    pub fn new(until: DateTime<Utc>, kind: RateLimitKind) -> Self {
        Self { until, kind }
    }
}

/// Which kind of rate limit a response signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitKind {
    /// The hourly quota is used up (`x-ratelimit-remaining: 0`); it comes back at `x-ratelimit-reset`.
    Primary,
    /// A secondary limit with a `retry-after` of this many seconds.
    RetryAfter(u64),
    /// A secondary limit without `retry-after`: exponential backoff from 60 s, this many seconds.
    Backoff(u64),
}

/// A resource whose polling failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("polling `{resource}`: {error}")]
#[non_exhaustive]
pub struct ResourceError {
    /// The resource (`owner/repo`).
    pub resource: String,
    /// What went wrong.
    #[source]
    pub error: PollError,
}

impl ResourceError {
    /// Polling `resource` failed with `error`.
    pub fn new(resource: impl Into<String>, error: PollError) -> Self {
        Self {
            resource: resource.into(),
            error,
        }
    }
}

/// Why polling one resource failed. The others are polled regardless.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// The resource name is not of the form the provider needs (`owner/repo`).
    #[error("invalid resource name: {reason}")]
    InvalidResource {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// 404: the resource does not exist, was renamed, or the token cannot see it.
    #[error("not found (404): it does not exist, was renamed, or the token cannot see it")]
    NotFound,
    /// 401: the token is missing, expired or revoked.
    #[error("unauthorized (401): the token is missing, expired or revoked")]
    Unauthorized,
    /// 403 that is not a rate limit: the token may not read this resource. Not retried in this round.
    #[error("forbidden (403): a permission error")]
    Forbidden {
        /// The provider's `message`, when the body had one.
        message: Option<String>,
    },
    /// Any other status the poller does not expect (5xx included); the next round tries again.
    #[error("unexpected status {status}")]
    UnexpectedStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// A response header the poller needs is not valid.
    #[error("invalid header `{header}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The `Link` header could not be parsed.
    #[error("invalid header `link`")]
    InvalidLink(#[source] LinkError),
    /// The next page link points somewhere the token must not be sent (another scheme, host or port than the API
    /// base), or is not a URL.
    #[error("refusing the `link` rel=\"next\" target `{url}`: not under the API base")]
    ForeignLink {
        /// The link target.
        url: String,
    },
    /// The body of a page is not a JSON array.
    #[error("invalid page body")]
    Body(#[source] ConvertError),
    /// The host could not send the request or read its response.
    #[error("transport: {message}")]
    Transport {
        /// The host's description of the failure.
        message: String,
    },
}

impl PollError {
    /// Whether trying again in a later round may help. `false` for errors that need a person: a missing repository,
    /// a bad name, a revoked token, a permission error.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Self::InvalidResource { .. } | Self::NotFound | Self::Unauthorized | Self::Forbidden { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_are_not_retryable() {
        assert!(!PollError::Forbidden { message: None }.is_retryable());
        assert!(!PollError::NotFound.is_retryable());
        assert!(PollError::UnexpectedStatus { status: 502 }.is_retryable());
    }

    #[test]
    fn state_reads_json_with_missing_fields() {
        let state: PollCursor = serde_json::from_str(r#"{"resources":{"a/b":{}}}"#).unwrap();
        assert_eq!(state.resources.get("a/b"), Some(&ResourceCursor::new()));
        assert!(state.extra.is_empty());
        let old: PollCursor = serde_json::from_str(r#"{"resources":{},"secondary_limit_strikes":2}"#).unwrap();
        assert_eq!(
            old.extra["secondary_limit_strikes"], 2,
            "cursors stored before 0.2 keep their strikes"
        );
    }
}

/// A poll round in progress, whatever the provider: the host's loop over [`Step`]s.
///
/// # Driving contract
///
/// 1. Call [`step`](Self::step). On [`Step::Send`], send the request with your HTTP client (the round never sends
///    anything), then hand back exactly one of: the response with the time it arrived
///    ([`handle_response`](Self::handle_response)), or the reason it could not be sent
///    ([`handle_transport_error`](Self::handle_transport_error)). Calling `step` again before that returns the
///    same request again.
/// 2. Repeat until [`Step::Done`], then call [`finish`](Self::finish). Calling `finish` earlier ends the round
///    there: resources not finished keep their cursors and are listed as [`deferred`](PollOutcome::deferred).
/// 3. Store the outcome's conversions first, then persist its cursor, then schedule the next round no earlier than
///    its `next_poll_at` (see the [module documentation](self)).
///
/// A round never waits, never reads the clock, and never panics on any response. Implementations for other
/// providers build their [`PollOutcome`] with [`PollOutcome::new`] and the constructors of its parts.
///
/// ```text
/// loop { match round.step() { Step::Send(request) => round.handle_response(send(request)?, now), Step::Done => break } }
/// let outcome = round.finish();
/// ```
pub trait PollRound: Send {
    /// What to do next: send a request, or take the outcome.
    fn step(&mut self) -> Step;

    /// Hands back the response to the request of the last [`Step::Send`], received at `now`.
    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: DateTime<Utc>);

    /// Reports that the request of the last [`Step::Send`] could not be sent (DNS, TLS, timeout, ...).
    fn handle_transport_error(&mut self, error: &dyn std::fmt::Display);

    /// Ends the round and gives its outcome: conversions to store, then the cursor to persist.
    fn finish(self: Box<Self>) -> PollOutcome;
}

/// Starts poll rounds for integrations of one service. Plugins that poll hand one out through
/// [`Plugin::poller`](crate::plugin::Plugin::poller).
///
/// # The next poll time
///
/// A round's [`next_poll_at`](PollOutcome::next_poll_at) follows the provider: an explicit interval or rate-limit
/// wait from its answers decides it, longer or shorter than any default; a poller's own default applies only when
/// the provider said nothing. The host's scheduling cadence is its own business and never a floor on it.
pub trait Poller: Send + Sync {
    /// Starts a round for the integration described by `context` from its stored `cursor` at `now`.
    ///
    /// # Errors
    ///
    /// [`PollSetupError`] when the integration cannot be polled as it stands (nothing configured to poll).
    fn start(
        &self,
        context: &PollContext<'_>,
        cursor: PollCursor,
        now: DateTime<Utc>,
    ) -> Result<Box<dyn PollRound>, PollSetupError>;
}

/// Why a [`Poller`] could not start a round for an integration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PollSetupError {
    /// The integration has no configuration naming what to poll yet.
    #[error("the integration has nothing configured to poll")]
    NotConfigured,
    /// The plugin's settings are unusable (an API base URL that cannot be used, say).
    #[error("invalid poller settings: {0}")]
    InvalidSettings(String),
}
