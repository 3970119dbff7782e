//! Polling activity APIs without doing I/O: what a poll round asks the host to do, what it reports, and the cursor
//! the host keeps between rounds.
//!
//! A provider's poller (such as [`GithubPoller`](crate::providers::github::GithubPoller)) starts a *round* from the
//! stored [`PollCursor`] and `now`. The round hands out requests one at a time ([`Step::Send`]); the host sends each
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

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::convert::{Conversion, ConvertError};

pub use link::LinkError;
pub(crate) use link::find_rel;

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

/// Everything a poller remembers between rounds for one integration: a [`ResourceCursor`] per polled resource and
/// the backoff count. The host stores it as JSON (the `cursor` of the integration's stored poll state) and hands it
/// back at the next round.
///
/// ```
/// use spark_integrations::poll::{ResourceCursor, PollCursor};
///
/// let mut cursor = PollCursor::default();
/// cursor.resources.insert("octocat/Hello-World".into(), ResourceCursor::new().with_etag("W/\"abc\"").with_last_seen_id("42"));
/// let json = serde_json::to_string(&cursor)?;
/// assert_eq!(
///     json,
///     r#"{"resources":{"octocat/Hello-World":{"etag":"W/\"abc\"","last_seen_id":"42"}},"secondary_limit_strikes":0}"#
/// );
/// assert_eq!(serde_json::from_str::<PollCursor>(&json)?, cursor);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PollCursor {
    /// One cursor per polled resource, keyed by its name (`owner/repo` for GitHub).
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceCursor>,
    /// How many rounds in a row ended on a secondary rate limit; the backoff doubles with each.
    #[serde(default)]
    pub secondary_limit_strikes: u32,
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
    /// 404: the repository does not exist, was renamed, or the token cannot see it.
    #[error("repository `{repository}` not found (404)")]
    NotFound {
        /// The repository as configured.
        repository: String,
    },
    /// 401: the token is missing, expired or revoked.
    #[error("unauthorized (401): the token is missing, expired or revoked")]
    Unauthorized,
    /// 403 with quota left: the token may not read this resource. Not retried in this round.
    #[error("forbidden (403) with rate-limit quota left: a permission error")]
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
            Self::InvalidResource { .. } | Self::NotFound { .. } | Self::Unauthorized | Self::Forbidden { .. }
        )
    }
}

/// The wait after `strikes` earlier secondary limits in a row: 60 s, doubling each time, capped at one hour.
pub(crate) fn backoff(strikes: u32) -> TimeDelta {
    const CAP_SECONDS: i64 = 3600;
    let seconds = 60_i64
        .checked_shl(strikes.min(6))
        .unwrap_or(CAP_SECONDS)
        .min(CAP_SECONDS);
    TimeDelta::seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_up_to_an_hour() {
        let seconds: Vec<i64> = (0..9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(seconds, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(backoff(u32::MAX).num_seconds(), 3600);
    }

    #[test]
    fn permission_errors_are_not_retryable() {
        assert!(!PollError::Forbidden { message: None }.is_retryable());
        assert!(
            !PollError::NotFound {
                repository: "a/b".into()
            }
            .is_retryable()
        );
        assert!(PollError::UnexpectedStatus { status: 502 }.is_retryable());
    }

    #[test]
    fn state_reads_json_with_missing_fields() {
        let state: PollCursor = serde_json::from_str(r#"{"resources":{"a/b":{}}}"#).unwrap();
        assert_eq!(state.resources.get("a/b"), Some(&ResourceCursor::new()));
        assert_eq!(state.secondary_limit_strikes, 0);
    }
}

/// A poll round in progress, whatever the provider: the host's loop over [`Step`]s.
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
pub trait Poller: Send + Sync {
    /// Starts a round for `integration` from its stored `cursor` at `now`.
    ///
    /// # Errors
    ///
    /// [`PollSetupError`] when the integration cannot be polled as it stands (nothing configured to poll).
    fn start(
        &self,
        integration: &crate::integration::Integration,
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
