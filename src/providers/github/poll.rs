//! Polling GitHub's Events API (`GET /repos/{owner}/{repo}/events`) for the repositories of an integration.

mod response;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use http::header::{ACCEPT, AUTHORIZATION, IF_NONE_MATCH, USER_AGENT};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::GithubConverter;
use crate::convert::{ConvertContext, Converter, Payload, from_slice};
use crate::poll::{
    Gap, GapCause, PollCursor, PollError, PollOutcome, PollStats, PolledItem, RateLimit, RateLimitKind, ResourceCursor,
    ResourceError, Step, find_rel,
};
use crate::secret::AccessToken;
use response::Refusal;

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

/// Polls the Events API of an integration's repositories: builds the requests, reads the responses, converts the new
/// events with [`GithubConverter`], and says when to poll again.
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
///   before the last seen id, when one was known, is reported as a [`Gap`].
/// - Skips events already read this round (pages shift as new events arrive) and events whose `type` is not
///   configured; converts the rest. A failed conversion is recorded on its item and never stops the round.
/// - Keeps the next poll at least `X-Poll-Interval` seconds (default 60) after each answer.
/// - On 403/429 with `x-ratelimit-remaining: 0`, ends the round until `x-ratelimit-reset`; with `retry-after`, for
///   that many seconds; on a 429 or a 403 whose message names a secondary rate limit, for 60 s doubling with each
///   such round in a row (capped at an hour). The repositories not yet done keep their cursors.
/// - Any other 403 is a permission error, a 404 names the repository: recorded, not retried this round, and the
///   other repositories are polled regardless.
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
    /// [`Gap`] with [`GapCause::PageCap`].
    #[must_use]
    pub fn with_max_events(mut self, max_events: usize) -> Self {
        self.max_events = max_events.max(1);
        self
    }

    /// The same poller naming the integration in each conversion's [`ConvertContext`].
    #[must_use]
    pub fn with_integration(mut self, integration_id: impl Into<String>) -> Self {
        self.integration_id = Some(integration_id.into());
        self
    }

    /// Starts a round at `now` from the stored `state`. Drive it with [`GithubPollRound::step`] as shown above.
    pub fn start(&self, cursor: PollCursor, now: DateTime<Utc>) -> GithubPollRound {
        GithubPollRound {
            poller: self.clone(),
            queue: self.repositories.iter().cloned().collect(),
            current: None,
            next_poll_at: now.checked_add_signed(DEFAULT_POLL_INTERVAL).unwrap_or(now),
            any_answer: false,
            state: cursor,
            items: Vec::new(),
            gaps: Vec::new(),
            errors: Vec::new(),
            rate_limit: None,
            deferred: Vec::new(),
            stats: PollStats::default(),
        }
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

/// The fields the poller reads from each event itself; the converter reads the rest.
#[derive(Deserialize)]
struct ItemHead<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// Whether `id` is the last seen event. Equality only: event ids mostly grow over time, but not strictly in feed
/// order (GH Archive shows neighbours out of order), so "an id at most the last seen one" could stop too early and
/// lose events. The price: when the last seen event itself disappears from the feed, the round pages to the end and
/// reports a [`Gap`]; events are deduplicated by id in storage, so nothing is stored twice.
fn is_seen(id: &str, last_seen: Option<&str>) -> bool {
    last_seen == Some(id)
}

/// One round of polling: requests out, responses in, an outcome at the end. Made by [`GithubPoller::start`].
#[derive(Debug)]
pub struct GithubPollRound {
    poller: GithubPoller,
    queue: VecDeque<String>,
    current: Option<Fetch>,
    next_poll_at: DateTime<Utc>,
    /// Whether any response was a 200 or 304 (resets the secondary-limit strikes).
    any_answer: bool,
    state: PollCursor,
    items: Vec<PolledItem>,
    gaps: Vec<Gap>,
    errors: Vec<ResourceError>,
    rate_limit: Option<RateLimit>,
    deferred: Vec<String>,
    stats: PollStats,
}

/// The repository being fetched, page by page.
#[derive(Debug)]
struct Fetch {
    repository: String,
    cursor: ResourceCursor,
    /// The page to request next.
    url: Url,
    /// Whether the request for `url` was handed out already (for the request count).
    handed_out: bool,
    pages: usize,
    /// Events on all pages so far, duplicates and already-seen ones included (the cap counts these).
    events_on_pages: usize,
    seen: HashSet<String>,
    newest_id: Option<String>,
    oldest_id: Option<String>,
    etag: Option<String>,
}

impl GithubPollRound {
    /// What to do next: send a request, or take the outcome with [`finish`](Self::finish).
    ///
    /// Call it after starting the round and after each [`handle_response`](Self::handle_response) or
    /// [`handle_transport_error`](Self::handle_transport_error). Until one of those is called, it returns the same
    /// request again.
    pub fn step(&mut self) -> Step {
        loop {
            if let Some(fetch) = &mut self.current {
                match build_request(&self.poller, fetch) {
                    Ok(request) => {
                        if !fetch.handed_out {
                            fetch.handed_out = true;
                            self.stats.requests += 1;
                        }
                        return Step::Send(request);
                    }
                    Err(error) => {
                        let repository = fetch.repository.clone();
                        self.current = None;
                        self.fail(repository, error);
                        continue;
                    }
                }
            }
            if self.rate_limit.is_some() {
                return Step::Done;
            }
            let Some(repository) = self.queue.pop_front() else {
                return Step::Done;
            };
            match self.poller.events_url(&repository) {
                Ok(url) => {
                    let cursor = self.state.resources.get(&repository).cloned().unwrap_or_default();
                    self.current = Some(Fetch {
                        repository,
                        cursor,
                        url,
                        handed_out: false,
                        pages: 0,
                        events_on_pages: 0,
                        seen: HashSet::new(),
                        newest_id: None,
                        oldest_id: None,
                        etag: None,
                    });
                }
                Err(error) => self.fail(repository, error),
            }
        }
    }

    /// Hands back the response to the request [`step`](Self::step) returned, with the time it arrived. Ignored when
    /// no request is outstanding.
    pub fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: DateTime<Utc>) {
        let Some(fetch) = self.current.take() else {
            return;
        };
        let status = response.status();
        match status {
            StatusCode::OK => {
                self.any_answer = true;
                if let Err(error) = self.handle_page(fetch, &response, now) {
                    let (repository, error) = *error;
                    self.fail(repository, error);
                }
            }
            StatusCode::NOT_MODIFIED if fetch.pages == 0 => {
                self.any_answer = true;
                self.stats.not_modified += 1;
                match response::poll_interval_end(response.headers(), now) {
                    // Nothing new: the cursor, ETag included, stays as stored.
                    Ok(end) => self.extend_next_poll(end),
                    Err(error) => self.fail(fetch.repository, error),
                }
            }
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => {
                let strikes = self.state.secondary_limit_strikes;
                match response::classify_refusal(status.as_u16(), response.headers(), response.body(), now, strikes) {
                    Refusal::Limited { limit, invalid } => {
                        if let Some(error) = invalid {
                            self.errors.push(ResourceError {
                                resource: fetch.repository.clone(),
                                error,
                            });
                        }
                        self.rate_limit = Some(limit);
                        self.extend_next_poll(Some(limit.until));
                        self.deferred.push(fetch.repository);
                        self.deferred.extend(self.queue.drain(..));
                    }
                    Refusal::Forbidden(error) => self.fail(fetch.repository, error),
                }
            }
            StatusCode::NOT_FOUND => {
                let repository = fetch.repository.clone();
                self.fail(fetch.repository, PollError::NotFound { repository });
            }
            StatusCode::UNAUTHORIZED => self.fail(fetch.repository, PollError::Unauthorized),
            _ => self.fail(
                fetch.repository,
                PollError::UnexpectedStatus {
                    status: status.as_u16(),
                },
            ),
        }
    }

    /// Reports that the request [`step`](Self::step) returned could not be sent or its response not read. The
    /// repository keeps its cursor; the round moves on to the next one.
    pub fn handle_transport_error(&mut self, error: impl std::fmt::Display) {
        if let Some(fetch) = self.current.take() {
            self.fail(
                fetch.repository,
                PollError::Transport {
                    message: error.to_string(),
                },
            );
        }
    }

    /// Ends the round and returns what it found. Called before [`Step::Done`], the repositories not yet finished
    /// keep their cursors and are listed as [`deferred`](PollOutcome::deferred).
    pub fn finish(mut self) -> PollOutcome {
        if let Some(fetch) = self.current.take() {
            self.deferred.push(fetch.repository);
        }
        self.deferred.extend(self.queue.drain(..));
        match self.rate_limit {
            Some(RateLimit {
                kind: RateLimitKind::RetryAfter(_) | RateLimitKind::Backoff(_),
                ..
            }) => self.state.secondary_limit_strikes = self.state.secondary_limit_strikes.saturating_add(1),
            _ if self.any_answer => self.state.secondary_limit_strikes = 0,
            _ => {}
        }
        PollOutcome {
            items: self.items,
            cursor: self.state,
            next_poll_at: self.next_poll_at,
            gaps: self.gaps,
            errors: self.errors,
            rate_limit: self.rate_limit,
            deferred: self.deferred,
            stats: self.stats,
        }
    }

    /// Reads one page of events; on error returns the repository with it (its cursor stays as it was).
    fn handle_page(
        &mut self,
        mut fetch: Fetch,
        response: &http::Response<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Result<(), Box<(String, PollError)>> {
        let fail = |fetch: &Fetch, error| Box::new((fetch.repository.clone(), error));
        let headers = response.headers();
        let interval_end = response::poll_interval_end(headers, now).map_err(|e| fail(&fetch, e))?;
        if fetch.pages == 0 {
            fetch.etag = response::text(headers, "etag")
                .map_err(|e| fail(&fetch, e))?
                .map(str::to_owned);
        }
        let next = find_rel(headers.get_all(http::header::LINK), "next")
            .map_err(|e| fail(&fetch, PollError::InvalidLink(e)))?;
        let page: Vec<&RawValue> = from_slice(response.body()).map_err(|e| fail(&fetch, PollError::Body(e)))?;
        self.extend_next_poll(interval_end);
        fetch.pages += 1;
        fetch.events_on_pages = fetch.events_on_pages.saturating_add(page.len());

        let mut context = ConvertContext::new(now);
        if let Some(integration_id) = &self.poller.integration_id {
            context = context.with_integration(integration_id.clone());
        }
        let mut reached_last_seen = false;
        for raw in page {
            let body = raw.get().as_bytes();
            let head = match from_slice::<ItemHead<'_>>(body) {
                Ok(head) => head,
                Err(error) => {
                    // Without an id the event cannot be deduplicated or compared; record it and read on.
                    self.items.push(PolledItem {
                        resource: fetch.repository.clone(),
                        id: String::new(),
                        kind: String::new(),
                        conversion: Err(error),
                    });
                    continue;
                }
            };
            if is_seen(&head.id, fetch.cursor.last_seen_id.as_deref()) {
                reached_last_seen = true;
                break;
            }
            if !fetch.seen.insert(head.id.clone().into_owned()) {
                self.stats.duplicates += 1;
                continue;
            }
            self.stats.fetched += 1;
            if fetch.newest_id.is_none() {
                fetch.newest_id = Some(head.id.clone().into_owned());
            }
            fetch.oldest_id = Some(head.id.clone().into_owned());
            if !self.poller.event_types.is_empty() && !self.poller.event_types.contains(head.kind.as_ref()) {
                self.stats.filtered += 1;
                continue;
            }
            let conversion = GithubConverter.convert(Payload::Polled { body }, &context);
            self.items.push(PolledItem {
                resource: fetch.repository.clone(),
                id: head.id.into_owned(),
                kind: head.kind.into_owned(),
                conversion,
            });
        }

        if !reached_last_seen && let Some(next) = next {
            let capped = fetch.events_on_pages >= self.poller.max_events || fetch.pages >= MAX_PAGES;
            if !capped {
                let url = self
                    .same_origin(&next)
                    .ok_or_else(|| fail(&fetch, PollError::ForeignLink { url: next }))?;
                fetch.url = url;
                fetch.handed_out = false;
                self.current = Some(fetch);
                return Ok(());
            }
            self.complete(fetch, Some(GapCause::PageCap));
        } else if reached_last_seen {
            self.complete(fetch, None);
        } else {
            self.complete(fetch, Some(GapCause::NoMorePages));
        }
        Ok(())
    }

    /// The next page's URL, if it is under the API base (same scheme, host and port) so that the token may go there.
    fn same_origin(&self, link: &str) -> Option<Url> {
        let url = Url::parse(link).ok()?;
        (url.origin() == self.poller.api_base.origin()).then_some(url)
    }

    /// Records the new cursor of a repository whose pages were read to the end, and a gap if the end came before the
    /// last seen event (`cause`) while one was known.
    fn complete(&mut self, fetch: Fetch, cause: Option<GapCause>) {
        if let (Some(cause), Some(last_seen_id)) = (cause, &fetch.cursor.last_seen_id) {
            self.gaps.push(Gap {
                resource: fetch.repository.clone(),
                last_seen_id: last_seen_id.clone(),
                oldest_fetched_id: fetch.oldest_id.clone(),
                cause,
            });
        }
        let cursor = ResourceCursor {
            etag: fetch.etag,
            last_seen_id: fetch.newest_id.or(fetch.cursor.last_seen_id),
        };
        self.state.resources.insert(fetch.repository, cursor);
    }

    fn fail(&mut self, resource: String, error: PollError) {
        self.errors.push(ResourceError { resource, error });
    }

    fn extend_next_poll(&mut self, end: Option<DateTime<Utc>>) {
        if let Some(end) = end {
            self.next_poll_at = self.next_poll_at.max(end);
        }
    }
}

/// The request for `fetch`'s current page. Fails only on a token, user agent or stored ETag that cannot be a header
/// value (a newline, say); the error names the header, never the value.
fn build_request(poller: &GithubPoller, fetch: &Fetch) -> Result<http::Request<Vec<u8>>, PollError> {
    let invalid = |header: &'static str| PollError::InvalidHeader {
        header,
        reason: "cannot be sent: not a valid header value".to_owned(),
    };
    let mut builder = http::Request::get(fetch.url.as_str())
        .header(ACCEPT, "application/vnd.github+json")
        .header("x-github-api-version", API_VERSION)
        .header(
            USER_AGENT,
            HeaderValue::from_str(&poller.user_agent).map_err(|_| invalid("user-agent"))?,
        );
    if let Some(token) = &poller.token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| invalid("authorization"))?;
        value.set_sensitive(true);
        builder = builder.header(AUTHORIZATION, value);
    }
    // The validator belongs to the first page only: later pages are fetched whole.
    if fetch.pages == 0
        && let Some(etag) = &fetch.cursor.etag
    {
        builder = builder.header(
            IF_NONE_MATCH,
            HeaderValue::from_str(etag).map_err(|_| invalid("if-none-match"))?,
        );
    }
    builder.body(Vec::new()).map_err(|_| PollError::InvalidResource {
        reason: "the events URL is not a valid request URI",
    })
}
