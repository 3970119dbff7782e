//! Polling GitHub's Events API (`GET /repos/{owner}/{repo}/events`) for the repositories of an integration.

mod response;
mod round;

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use url::Url;

use crate::poll::{PollCursor, PollError};
use crate::secret::AccessToken;

pub use round::GithubPollRound;

/// The public GitHub API; GitHub Enterprise Server uses `https://HOST/api/v3`.
pub const DEFAULT_API_BASE: &str = "https://api.github.com";

/// The REST API version the poller asks for (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";

/// How many events the Events API shows per repository (older ones are gone); also the poller's default cap.
pub const EVENTS_API_WINDOW: usize = 300;

/// Events per page requested (`per_page`), the API's maximum.
const PER_PAGE: u32 = 100;

/// Hard cap on pages per repository and round, against a server whose `Link` header never ends.
const MAX_PAGES: usize = 10;

/// The wait between rounds when no response says otherwise (GitHub's usual `X-Poll-Interval`).
const DEFAULT_POLL_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// The key under which the cursor keeps the rounds in a row that ended on a secondary rate limit.
const STRIKES: &str = "secondary_limit_strikes";

/// The wait after `strikes` earlier secondary limits in a row: 60 s, doubling each time, capped at one hour.
fn backoff(strikes: u32) -> TimeDelta {
    const CAP_SECONDS: i64 = 3600;
    let seconds = 60_i64
        .checked_shl(strikes.min(6))
        .unwrap_or(CAP_SECONDS)
        .min(CAP_SECONDS);
    TimeDelta::seconds(seconds)
}

/// Polls the Events API of an integration's repositories: builds the requests, reads the responses, converts the new
/// events with [`GithubConverter`](super::GithubConverter), and says when to poll again.
///
/// One request per repository (and per page), whatever the number of configured event types: the events are
/// filtered by their `type` after fetching. Configure once, then call [`start`](Self::start) for each round.
///
/// # What a round does, per repository
///
/// - Requests `{api_base}/repos/{owner}/{repo}/events?per_page=100` with `Accept: application/vnd.github+json`,
///   `X-GitHub-Api-Version`, `User-Agent`, `Authorization: Bearer` (with a token) and `If-None-Match` with the stored
///   `ETag`, byte for byte. A 304 means nothing new; the cursor stays as it is.
/// - Follows `Link: rel="next"` (only under the API base's origin, so the token goes nowhere else) until it meets the
///   last seen event id, the pages end, or [`with_max_events`](Self::with_max_events) events were read. Running out
///   before the last seen id, when one was known, is reported as a [`Gap`](crate::poll::Gap).
/// - Skips events already read this round (pages shift as new events arrive) and events whose `type` is not
///   configured; converts the rest. A failed conversion is recorded on its item and never stops the round.
/// - Sets the next poll by what GitHub said: the latest end of an `X-Poll-Interval` or rate limit among the answers,
///   shorter or longer than a minute; 60 s only when no answer said anything.
/// - On 403/429 with `x-ratelimit-remaining: 0`, ends the round until `x-ratelimit-reset`; with `retry-after`, for
///   that many seconds; on a 429 or a 403 whose message names a secondary rate limit, for 60 s doubling with each
///   such round in a row (capped at an hour). The repositories not yet done keep their cursors.
/// - Any other 403 is a permission error, a 404 names the repository: recorded, not retried this round, and the
///   other repositories are polled regardless.
/// - Drops the cursors of repositories no longer configured: the outcome's cursor holds only configured ones.
///
/// # The loop
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use spark_integrations::AccessToken;
/// use spark_integrations::poll::{PollCursor, Step};
/// use spark_integrations::providers::github::GithubPoller;
///
/// // Stand-in for the host's HTTP client (ureq, reqwest, hyper...): one page of two events.
/// fn send(request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, String> {
///     assert_eq!(request.uri(), "https://api.github.com/repos/octocat/Hello-World/events?per_page=100");
///     let body = br#"[{"id":"2","type":"WatchEvent"},{"id":"1","type":"ForkEvent"}]"#;
///     let response = http::Response::builder().header("etag", "W/\"v1\"").header("x-poll-interval", "60");
///     Ok(response.body(body.to_vec()).expect("static headers are valid"))
/// }
///
/// let poller = GithubPoller::new(["octocat/Hello-World"], ["WatchEvent"])
///     .with_token(AccessToken::new("gho_example"))
///     .with_user_agent("my-timeline/1.0");
/// let state = PollCursor::default(); // the host loads this from storage (JSON)
/// let now = Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap(); // the host's clock
///
/// let mut round = poller.start(state, now);
/// loop {
///     match round.step() {
///         Step::Send(request) => match send(request) {
///             Ok(response) => round.handle_response(response, now),
///             Err(error) => round.handle_transport_error(error),
///         },
///         Step::Done => break,
///         _ => unreachable!("`Step` is non-exhaustive: a new variant would be handled here"),
///     }
/// }
/// let outcome = round.finish();
/// // Store the conversions first, then persist the state; poll again at `next_poll_at`.
/// assert_eq!(outcome.items.len(), 1); // the ForkEvent was filtered out
/// assert_eq!(outcome.items[0].id, "2");
/// assert_eq!(outcome.cursor.resources["octocat/Hello-World"].last_seen_id.as_deref(), Some("2"));
/// assert_eq!(outcome.cursor.resources["octocat/Hello-World"].etag.as_deref(), Some("W/\"v1\""));
/// assert_eq!(outcome.next_poll_at, now + TimeDelta::seconds(60));
/// ```
#[derive(Debug, Clone)]
pub struct GithubPoller {
    api_base: Url,
    repositories: Vec<String>,
    event_types: BTreeSet<String>,
    token: Option<AccessToken>,
    user_agent: String,
    max_events: usize,
    integration_id: Option<String>,
}

/// Why an API base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiBaseError {
    /// Not a URL.
    #[error("invalid API base URL: {0}")]
    Parse(#[from] url::ParseError),
    /// Not `http` or `https`, or carries a query or fragment.
    #[error("invalid API base URL: {reason}")]
    Unsupported {
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl GithubPoller {
    /// A poller for `repositories` (`owner/name`) keeping only events whose `type` is among `event_types` (Events
    /// API names such as `PushEvent`; empty keeps every type), against [`DEFAULT_API_BASE`], without a token.
    pub fn new<R, T>(repositories: R, event_types: T) -> Self
    where
        R: IntoIterator<Item: Into<String>>,
        T: IntoIterator<Item: Into<String>>,
    {
        Self {
            api_base: Url::parse(DEFAULT_API_BASE).expect("DEFAULT_API_BASE is a valid URL"),
            repositories: repositories.into_iter().map(Into::into).collect(),
            event_types: event_types.into_iter().map(Into::into).collect(),
            token: None,
            user_agent: concat!("spark-integrations/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_events: EVENTS_API_WINDOW,
            integration_id: None,
        }
    }

    /// The same poller against another API base: GitHub Enterprise Server (`https://HOST/api/v3`) or a test server.
    ///
    /// # Errors
    ///
    /// [`ApiBaseError`] when `base` is not an `http`/`https` URL without query or fragment.
    pub fn with_api_base(mut self, base: &str) -> Result<Self, ApiBaseError> {
        let mut url = Url::parse(base)?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(ApiBaseError::Unsupported {
                reason: "the scheme must be http or https",
            });
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ApiBaseError::Unsupported {
                reason: "a base URL has no query or fragment",
            });
        }
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        self.api_base = url;
        Ok(self)
    }

    /// The same poller sending `Authorization: Bearer <token>`. Without a token only public repositories can be read,
    /// at a much lower rate limit.
    #[must_use]
    pub fn with_token(mut self, token: AccessToken) -> Self {
        self.token = Some(token);
        self
    }

    /// The same poller sending this `User-Agent` (GitHub asks for the application's name; the default names this
    /// crate).
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The same poller stopping a repository's paging after `max_events` events in one round (default
    /// [`EVENTS_API_WINDOW`], all GitHub shows); a stop before the last seen event is reported as a
    /// [`Gap`](crate::poll::Gap) with [`GapCause::PageCap`](crate::poll::GapCause::PageCap).
    #[must_use]
    pub fn with_max_events(mut self, max_events: usize) -> Self {
        self.max_events = max_events.max(1);
        self
    }

    /// The same poller naming the integration in each conversion's [`ConvertContext`](crate::convert::ConvertContext).
    #[must_use]
    pub fn with_integration(mut self, integration_id: impl Into<String>) -> Self {
        self.integration_id = Some(integration_id.into());
        self
    }

    /// Starts a round at `now` from the stored `state`. Drive it with [`GithubPollRound::step`] as shown above.
    pub fn start(&self, cursor: PollCursor, now: DateTime<Utc>) -> GithubPollRound {
        GithubPollRound::new(self.clone(), cursor, now)
    }

    /// The first page's URL for `repository`, or why the name cannot be polled.
    fn events_url(&self, repository: &str) -> Result<Url, PollError> {
        let (owner, name) = split_repository(repository)?;
        let mut url = self.api_base.clone();
        let path = format!("{}/repos/{owner}/{name}/events", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(Some(&format!("per_page={PER_PAGE}")));
        Ok(url)
    }
}

/// Splits `owner/name`, checking both against the characters GitHub allows, so that the URL path needs no escaping.
fn split_repository(repository: &str) -> Result<(&str, &str), PollError> {
    let invalid = |reason| Err(PollError::InvalidResource { reason });
    let Some((owner, name)) = repository.split_once('/') else {
        return invalid("expected `owner/name`");
    };
    if owner.is_empty() || !owner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return invalid("the owner must be letters, digits and `-`");
    }
    if name.is_empty()
        || name == "."
        || name == ".."
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return invalid("the name must be letters, digits, `-`, `_` and `.`");
    }
    Ok((owner, name))
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_from_a_minute_up_to_an_hour() {
        let seconds: Vec<i64> = (0..9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(seconds, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(backoff(u32::MAX).num_seconds(), 3600);
    }
}
