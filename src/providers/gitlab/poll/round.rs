//! One poll round: requests out, responses in, an outcome at the end.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use http::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::{DEFAULT_POLL_INTERVAL, DEFAULT_RETRY, GitlabPoller};
use crate::convert::{Conversion, ConvertContext, Converter, Payload, from_slice};
use crate::poll::{
    Gap, GapCause, PollCursor, PollError, PollOutcome, PollRound, PollStats, PolledItem, RateLimit, RateLimitKind,
    ResourceCursor, ResourceError, Step, find_rel,
};

/// One round of polling. Made by [`GitlabPoller::start`]; driven through [`PollRound`].
#[derive(Debug)]
pub struct GitlabPollRound {
    poller: GitlabPoller,
    queue: VecDeque<String>,
    current: Option<Fetch>,
    started: DateTime<Utc>,
    cursor: PollCursor,
    items: Vec<PolledItem>,
    gaps: Vec<Gap>,
    errors: Vec<ResourceError>,
    rate_limit: Option<RateLimit>,
    deferred: Vec<String>,
    stats: PollStats,
}

/// The project being fetched, page by page.
#[derive(Debug)]
struct Fetch {
    project: String,
    last_seen: Option<u64>,
    url: Url,
    handed_out: bool,
    pages: usize,
    seen: HashSet<u64>,
    newest: Option<u64>,
    oldest: Option<u64>,
}

/// What the poller reads from a response's headers.
struct Limits {
    remaining: Option<u64>,
    reset: Option<DateTime<Utc>>,
}

fn header_number(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, PollError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| PollError::InvalidHeader {
        header: name,
        reason: "not visible ASCII text".to_owned(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        // GitLab sends an empty `X-Next-Page` on the last page.
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PollError::InvalidHeader {
            header: name,
            reason: format!("expected a decimal number, got `{text}`"),
        });
    }
    text.parse().map(Some).map_err(|_| PollError::InvalidHeader {
        header: name,
        reason: format!("number `{text}` is out of range"),
    })
}

fn limits(headers: &HeaderMap) -> Result<Limits, PollError> {
    const RESET: &str = "ratelimit-reset";
    let reset = header_number(headers, RESET)?
        .map(|seconds| {
            i64::try_from(seconds)
                .ok()
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
                .ok_or_else(|| PollError::InvalidHeader {
                    header: RESET,
                    reason: format!("{seconds} is out of range"),
                })
        })
        .transpose()?;
    Ok(Limits {
        remaining: header_number(headers, "ratelimit-remaining")?,
        reset,
    })
}

/// `now` plus `seconds`, saturating at `now` when out of range.
fn after(now: DateTime<Utc>, seconds: u64) -> DateTime<Utc> {
    i64::try_from(seconds)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|delta| now.checked_add_signed(delta))
        .unwrap_or(now)
}

/// The `message` of a GitLab error body (`{"message": "403 Forbidden"}`), if it has one as text.
fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("message")?.as_str().map(str::to_owned)
}

impl GitlabPollRound {
    pub(super) fn new(poller: GitlabPoller, mut cursor: PollCursor, now: DateTime<Utc>) -> Self {
        cursor.resources.retain(|project, _| poller.projects.contains(project));
        Self {
            queue: poller.projects.iter().cloned().collect(),
            poller,
            current: None,
            started: now,
            cursor,
            items: Vec::new(),
            gaps: Vec::new(),
            errors: Vec::new(),
            rate_limit: None,
            deferred: Vec::new(),
            stats: PollStats::default(),
        }
    }

    fn fail(&mut self, project: String, error: PollError) {
        self.errors.push(ResourceError::new(project, error));
    }

    fn request(&self, fetch: &Fetch) -> Result<http::Request<Vec<u8>>, PollError> {
        let invalid = |header: &'static str| PollError::InvalidHeader {
            header,
            reason: "cannot be sent: not a valid header value".to_owned(),
        };
        let mut builder = http::Request::get(fetch.url.as_str())
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                HeaderValue::from_str(&self.poller.user_agent).map_err(|_| invalid("user-agent"))?,
            );
        if let Some(token) = &self.poller.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| invalid("authorization"))?;
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(Vec::new()).map_err(|_| PollError::InvalidResource {
            reason: "the events URL is not a valid request URI",
        })
    }

    /// Ends the round for a rate limit: the current project (unless `finished`) and the queue are deferred.
    fn limited(&mut self, limit: RateLimit, current: Option<String>) {
        self.rate_limit = Some(limit);
        self.deferred.extend(current);
        self.deferred.extend(self.queue.drain(..));
    }

    /// Records the new cursor of a project read to its end, and a gap when the end came before the last seen id.
    fn complete(&mut self, fetch: Fetch, cause: Option<GapCause>) {
        if let (Some(cause), Some(last_seen)) = (cause, fetch.last_seen) {
            self.gaps.push(Gap::new(
                fetch.project.clone(),
                last_seen.to_string(),
                fetch.oldest.map(|id| id.to_string()),
                cause,
            ));
        }
        let newest = fetch.newest.or(fetch.last_seen);
        let mut cursor = ResourceCursor::new();
        if let Some(id) = newest {
            cursor = cursor.with_last_seen_id(id.to_string());
        }
        self.cursor.resources.insert(fetch.project, cursor);
    }

    /// Reads one page; on error returns it (the project keeps its cursor).
    fn page(
        &mut self,
        mut fetch: Fetch,
        response: &http::Response<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Result<(), (String, PollError)> {
        let headers = response.headers();
        let limits = match limits(headers) {
            Ok(limits) => limits,
            Err(error) => return Err((fetch.project, error)),
        };
        let next = match self.next_url(&fetch, headers) {
            Ok(next) => next,
            Err(error) => return Err((fetch.project, error)),
        };
        let page: Vec<&RawValue> = match from_slice(response.body()) {
            Ok(page) => page,
            Err(error) => return Err((fetch.project, PollError::Body(error))),
        };
        fetch.pages += 1;
        let mut context = ConvertContext::new(now);
        if let Some(integration_id) = &self.poller.integration_id {
            context = context.with_integration(integration_id.clone());
        }
        let mut reached = false;
        for raw in page {
            let body = raw.get().as_bytes();
            let head: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let kind = head
                .get("action_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let id = match head.get("id") {
                Some(Value::Number(number)) => number.as_u64(),
                Some(Value::String(text)) => text.parse().ok(),
                _ => None,
            };
            let Some(id) = id else {
                // Without an id the event can be neither compared nor deduplicated: the conversion names the problem
                // (it needs the id too); record it and read on.
                let conversion = self.poller.converter.convert(Payload::Polled { body }, &context);
                self.items
                    .push(PolledItem::new(fetch.project.clone(), String::new(), kind, conversion));
                continue;
            };
            if fetch.last_seen.is_some_and(|last_seen| id <= last_seen) {
                reached = true;
                break;
            }
            if !fetch.seen.insert(id) {
                self.stats.duplicates += 1;
                continue;
            }
            self.stats.fetched += 1;
            fetch.newest = Some(fetch.newest.map_or(id, |newest| newest.max(id)));
            fetch.oldest = Some(fetch.oldest.map_or(id, |oldest| oldest.min(id)));
            let conversion = self.poller.converter.convert(Payload::Polled { body }, &context);
            // With kinds configured, only events of those kinds are kept (and failures, to be seen); skips are not.
            let kept = self.poller.kinds.is_empty()
                || match &conversion {
                    Ok(Conversion::Converted(events)) => events
                        .iter()
                        .any(|event| self.poller.kinds.contains(event.domain.as_ref())),
                    Ok(_) => false,
                    Err(_) => true,
                };
            if !kept {
                self.stats.filtered += 1;
                continue;
            }
            self.items
                .push(PolledItem::new(fetch.project.clone(), id.to_string(), kind, conversion));
        }

        let exhausted = limits.remaining == Some(0);
        if reached {
            self.complete(fetch, None);
        } else if let Some(next) = next {
            if fetch.pages >= self.poller.max_pages {
                self.complete(fetch, Some(GapCause::PageCap));
            } else if exhausted {
                // More pages, but no quota left to read them: this project waits with its cursor as stored.
                let until = limits.reset.unwrap_or_else(|| after(now, 60)).max(now);
                self.limited(RateLimit::new(until, RateLimitKind::Primary), Some(fetch.project));
                return Ok(());
            } else {
                fetch.url = next;
                fetch.handed_out = false;
                self.current = Some(fetch);
                return Ok(());
            }
        } else {
            self.complete(fetch, Some(GapCause::NoMorePages));
        }
        if exhausted {
            let until = limits.reset.unwrap_or_else(|| after(now, 60)).max(now);
            self.limited(RateLimit::new(until, RateLimitKind::Primary), None);
        }
        Ok(())
    }

    /// The next page: `Link: rel="next"` (only under the API base's origin), else `X-Next-Page` on the current URL.
    fn next_url(&self, fetch: &Fetch, headers: &HeaderMap) -> Result<Option<Url>, PollError> {
        if let Some(link) = find_rel(headers.get_all(http::header::LINK), "next").map_err(PollError::InvalidLink)? {
            return match Url::parse(&link) {
                Ok(url) if url.origin() == self.poller.api_base.origin() => Ok(Some(url)),
                _ => Err(PollError::ForeignLink { url: link }),
            };
        }
        let Some(page) = header_number(headers, "x-next-page")? else {
            return Ok(None);
        };
        let mut url = fetch.url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| name != "page")
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("page", &page.to_string());
        Ok(Some(url))
    }

    /// A 429: the round ends until `Retry-After`, else `RateLimit-Reset`, else a minute from `now`.
    fn too_many_requests(&mut self, fetch: Fetch, headers: &HeaderMap, now: DateTime<Utc>) {
        let retry_after = header_number(headers, "retry-after");
        let limit = match (retry_after, limits(headers)) {
            (Ok(Some(seconds)), _) => RateLimit::new(after(now, seconds), RateLimitKind::RetryAfter(seconds)),
            (Ok(None), Ok(Limits { reset: Some(reset), .. })) => RateLimit::new(reset.max(now), RateLimitKind::Primary),
            (retry_after, limits) => {
                if let Err(error) = retry_after.and(limits.map(|_| None::<u64>)) {
                    self.errors.push(ResourceError::new(fetch.project.clone(), error));
                }
                let seconds = u64::try_from(DEFAULT_RETRY.num_seconds()).unwrap_or(60);
                RateLimit::new(after(now, seconds), RateLimitKind::Backoff(seconds))
            }
        };
        self.limited(limit, Some(fetch.project));
    }
}

impl GitlabPollRound {
    /// What to do next: send a request, or take the outcome with [`finish`](Self::finish). Until the response (or
    /// transport error) of a request is handed back, it returns the same request again.
    pub fn step(&mut self) -> Step {
        loop {
            if let Some(fetch) = self.current.as_ref() {
                let built = self.request(fetch);
                match built {
                    Ok(request) => {
                        if let Some(fetch) = self.current.as_mut()
                            && !fetch.handed_out
                        {
                            fetch.handed_out = true;
                            self.stats.requests += 1;
                        }
                        return Step::Send(request);
                    }
                    Err(error) => {
                        if let Some(fetch) = self.current.take() {
                            self.fail(fetch.project, error);
                        }
                        continue;
                    }
                }
            }
            if self.rate_limit.is_some() {
                return Step::Done;
            }
            let Some(project) = self.queue.pop_front() else {
                return Step::Done;
            };
            match self.poller.events_url(&project) {
                Ok(url) => {
                    let last_seen = self
                        .cursor
                        .resources
                        .get(&project)
                        .and_then(|cursor| cursor.last_seen_id.as_deref())
                        .and_then(|id| id.parse().ok());
                    self.current = Some(Fetch {
                        project,
                        last_seen,
                        url,
                        handed_out: false,
                        pages: 0,
                        seen: HashSet::new(),
                        newest: None,
                        oldest: None,
                    });
                }
                Err(error) => self.fail(project, error),
            }
        }
    }

    /// Hands back the response to the request [`step`](Self::step) returned, received at `now`. Ignored when no
    /// request is outstanding.
    pub fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: DateTime<Utc>) {
        let Some(fetch) = self.current.take() else {
            return;
        };
        match response.status() {
            StatusCode::OK => {
                if let Err((project, error)) = self.page(fetch, &response, now) {
                    self.fail(project, error);
                }
            }
            StatusCode::TOO_MANY_REQUESTS => self.too_many_requests(fetch, response.headers(), now),
            StatusCode::NOT_FOUND => self.fail(fetch.project, PollError::NotFound),
            StatusCode::UNAUTHORIZED => self.fail(fetch.project, PollError::Unauthorized),
            StatusCode::FORBIDDEN => {
                let message = error_message(response.body());
                self.fail(fetch.project, PollError::Forbidden { message });
            }
            status => self.fail(
                fetch.project,
                PollError::UnexpectedStatus {
                    status: status.as_u16(),
                },
            ),
        }
    }

    /// Reports that the request [`step`](Self::step) returned could not be sent; the project keeps its cursor and the
    /// round moves on.
    pub fn handle_transport_error(&mut self, error: impl std::fmt::Display) {
        if let Some(fetch) = self.current.take() {
            self.fail(
                fetch.project,
                PollError::Transport {
                    message: error.to_string(),
                },
            );
        }
    }

    /// Ends the round and gives its outcome: conversions to store, then the cursor to persist. Called before
    /// [`Step::Done`], the projects not finished keep their cursors and are listed as deferred.
    pub fn finish(mut self) -> PollOutcome {
        if let Some(fetch) = self.current.take() {
            self.deferred.push(fetch.project);
        }
        let queue: Vec<String> = self.queue.drain(..).collect();
        self.deferred.extend(queue);
        // GitLab's word decides (a rate limit's end, sooner or later than the default); the default otherwise.
        let next_poll_at = match self.rate_limit {
            Some(limit) => limit.until,
            None => self
                .started
                .checked_add_signed(DEFAULT_POLL_INTERVAL)
                .unwrap_or(self.started),
        };
        let this = self;
        let mut outcome = PollOutcome::new(this.cursor, next_poll_at);
        outcome.items = this.items;
        outcome.gaps = this.gaps;
        outcome.errors = this.errors;
        outcome.rate_limit = this.rate_limit;
        outcome.deferred = this.deferred;
        outcome.stats = this.stats;
        outcome
    }
}

impl PollRound for GitlabPollRound {
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
