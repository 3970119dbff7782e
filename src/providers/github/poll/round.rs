//! One poll round: requests out, responses in, an outcome at the end.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use http::header::{ACCEPT, AUTHORIZATION, IF_NONE_MATCH, USER_AGENT};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::response::{self, Refusal};
use super::{API_VERSION, DEFAULT_POLL_INTERVAL, GithubPoller, MAX_PAGES, STRIKES};
use crate::convert::{ConvertContext, Converter, Payload, from_slice};
use crate::poll::{
    Gap, GapCause, PollCursor, PollError, PollOutcome, PollStats, PolledItem, RateLimit, RateLimitKind, ResourceCursor,
    ResourceError, Step, find_rel,
};
use crate::providers::github::GithubConverter;

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
    /// When the round started: the default next poll counts from here.
    started: DateTime<Utc>,
    /// The latest "not before" any answer of this round gave (`X-Poll-Interval`, a rate limit); `None` while GitHub
    /// has said nothing, and then the default interval applies.
    provider_next_poll: Option<DateTime<Utc>>,
    /// Rounds in a row that ended on a secondary rate limit, read from the cursor.
    strikes: u32,
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
    pub(super) fn new(poller: GithubPoller, mut cursor: PollCursor, now: DateTime<Utc>) -> Self {
        let strikes = cursor
            .extra
            .get(STRIKES)
            .and_then(serde_json::Value::as_u64)
            .map_or(0, |strikes| u32::try_from(strikes).unwrap_or(u32::MAX));
        // Repositories no longer configured: their cursors would only grow the stored state.
        cursor
            .resources
            .retain(|repository, _| poller.repositories.contains(repository));
        Self {
            queue: poller.repositories.iter().cloned().collect(),
            poller,
            current: None,
            started: now,
            provider_next_poll: None,
            strikes,
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
                match response::classify_refusal(
                    status.as_u16(),
                    response.headers(),
                    response.body(),
                    now,
                    self.strikes,
                ) {
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
            StatusCode::NOT_FOUND => self.fail(fetch.repository, PollError::NotFound),
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
            }) => self.strikes = self.strikes.saturating_add(1),
            _ if self.any_answer => self.strikes = 0,
            _ => {}
        }
        // Kept only while there is something to remember: a cursor without strikes stays as the caller stored it.
        if self.strikes == 0 {
            self.state.extra.remove(STRIKES);
        } else {
            self.state.extra.insert(STRIKES.to_owned(), self.strikes.into());
        }
        // GitHub's word decides, longer or shorter than the default; the default only when it said nothing.
        let next_poll_at = self.provider_next_poll.unwrap_or_else(|| {
            self.started
                .checked_add_signed(DEFAULT_POLL_INTERVAL)
                .unwrap_or(self.started)
        });
        let mut outcome = PollOutcome::new(self.state, next_poll_at);
        outcome.items = self.items;
        outcome.gaps = self.gaps;
        outcome.errors = self.errors;
        outcome.rate_limit = self.rate_limit;
        outcome.deferred = self.deferred;
        outcome.stats = self.stats;
        outcome
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
                    self.items
                        .push(PolledItem::new(fetch.repository.clone(), "", "", Err(error)).with_raw(body));
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
            let failed = conversion.is_err();
            let mut item = PolledItem::new(fetch.repository.clone(), head.id, head.kind, conversion);
            if failed {
                // Kept whole, so the host can keep it and convert it again once the converter is fixed.
                item = item.with_raw(body);
            }
            self.items.push(item);
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

    /// Records a "not before" GitHub gave; the latest of them holds.
    fn extend_next_poll(&mut self, end: Option<DateTime<Utc>>) {
        if let Some(end) = end {
            self.provider_next_poll = Some(self.provider_next_poll.map_or(end, |known| known.max(end)));
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

impl crate::poll::PollRound for GithubPollRound {
    fn step(&mut self) -> Step {
        Self::step(self)
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: DateTime<Utc>) {
        Self::handle_response(self, response, now);
    }

    fn handle_transport_error(&mut self, error: &dyn std::fmt::Display) {
        Self::handle_transport_error(self, error);
    }

    fn finish(self: Box<Self>) -> PollOutcome {
        Self::finish(*self)
    }
}
