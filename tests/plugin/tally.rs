//! Tally, a made-up task tracker, as a complete plugin written outside the crate: it uses only public items of
//! `spark_integrations`, so it proves that another crate can do everything GitHub and Slack do.
//!
//! - **Configuration**: `projects` (required) and `events` (a choice of Tally's activity types).
//! - **OAuth**: [`TallyPlugin::new`] builds Tally's rules with `Provider::builder` against any base URL:
//!   comma-separated scopes, its own error code `token_revoked`, an `X-Tally-Version` header on every call, the
//!   workspace id kept from the token response, a refresh margin of 10 minutes.
//! - **Polling**: `GET {api}/projects/{project}/events`, newest first, paged with `Link: <...>; rel="next"`, stopping
//!   at the last seen id, with `ETag`s; `X-Tally-Poll-Interval` decides the next poll.
//! - **Webhooks**: Tally sends the webhook's shared secret in `X-Tally-Token` and the HMAC-SHA256 of the body under
//!   that secret in `X-Tally-Signature` (hex), the activity type in `X-Tally-Event` and the delivery id in
//!   `X-Tally-Delivery`.
//! - **Conversion**: a webhook body `{"event": activity}` and a polled `activity` give the same [`Event`].
//!
//! Beside the plugin: [`TallyFake`], a scripted fake of Tally's HTTP API as a pure function, and
//! [`signed_delivery`], for this crate's tests and the host's end-to-end test (which serves `answer` on a loopback
//! port). Nothing here does I/O, reads the clock or uses an async runtime.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use spark_integrations::chrono::{DateTime, TimeDelta, Utc};
use spark_integrations::convert::from_slice;
use spark_integrations::http::{self, HeaderMap, HeaderValue, StatusCode, header};
use spark_integrations::model::{Block, Event, Metadata, Object};
use spark_integrations::oauth::{AccountLookup, ErrorClass, Provider};
use spark_integrations::plugin::{Field, FieldOption, FieldType, Plugin, Schema};
use spark_integrations::poll::{
    Gap, GapCause, PollContext, PollCursor, PollError, PollOutcome, PollRound, PollSetupError, PollStats, PolledItem,
    Poller, RateLimit, RateLimitKind, ResourceCursor, ResourceError, Step, find_rel,
};
use spark_integrations::webhook::{
    Header, VerifiedDelivery, WebhookError, WebhookSecret, WebhookVerifier, check_body_len, hex_digest,
    hmac_sha256_matches, optional_header, required_header, secret_keys, token_matches_any,
};
use spark_integrations::{AccessToken, Conversion, ConvertContext, ConvertError, Converter, Payload, SkipReason};
use url::Url;

/// Tally's plugin identifier, and the `service` of its events.
pub(crate) const SERVICE: &str = "tally";
/// The API version Tally wants in `X-Tally-Version` on every token and API request.
pub(crate) const API_VERSION: &str = "2024-05-01";
/// How long before expiry Tally's short-lived tokens count as due for refresh.
pub(crate) const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(10);
/// The next poll when Tally's answers name no interval.
pub(crate) const DEFAULT_POLL_INTERVAL: TimeDelta = TimeDelta::minutes(5);
/// The largest webhook body Tally's verifier accepts: 1 MiB.
pub(crate) const MAX_BODY_LEN: usize = 1 << 20;
/// The activity types a configuration may choose, with their form labels.
const ACTIVITY_TYPES: [(&str, &str); 3] = [
    ("task.created", "Tasks created"),
    ("task.completed", "Tasks completed"),
    ("comment.added", "Comments"),
];
/// Pages read per project and round at most; beyond that the rest waits for the next round, reported as a gap.
const MAX_PAGES: usize = 10;
const VERSION_HEADER: &str = "x-tally-version";
const POLL_INTERVAL_HEADER: &str = "x-tally-poll-interval";

/// Tally as a [`Plugin`]: OAuth, polling, webhooks and conversion, all four.
#[derive(Debug, Clone)]
pub(crate) struct TallyPlugin {
    schema: Schema,
    oauth: Provider,
    verifier: TallyVerifier,
}

impl TallyPlugin {
    /// Tally served at `base_url` (`https://tally.example`, or a fake on `http://127.0.0.1:port`): the OAuth pages
    /// under `{base_url}/oauth/`, the API under `{base_url}/api/v1`. The poller uses the same API base.
    pub(crate) fn new(base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        let oauth = Provider::builder(
            SERVICE,
            format!("{base}/oauth/authorize"),
            format!("{base}/oauth/token"),
            format!("{base}/api/v1"),
            AccountLookup::get("/me", "/user/id").with_name("/user/name"),
        )
        .scope_separator(",")
        .error_code("token_revoked", ErrorClass::Reauthorize)
        .error_code("slow_down", ErrorClass::Retryable)
        .header(VERSION_HEADER, API_VERSION)
        .keep_id("workspace_id", "/workspace/id")
        .refresh_margin(REFRESH_MARGIN)
        .build()
        .expect("a constant id, pointers and headers: only the URLs vary, and OAuthClient::new checks those");
        let events = ACTIVITY_TYPES
            .iter()
            .map(|(value, label)| FieldOption::new(*value, *label));
        let schema = Schema::new()
            .field(
                Field::new("projects", FieldType::StringArray, "Projects")
                    .description("The Tally projects whose activity to record.")
                    .required(),
            )
            .field(
                Field::new("events", FieldType::StringArray, "Events")
                    .description("The kinds of activity to record; all of them when empty.")
                    .options(events),
            );
        Self {
            schema,
            oauth,
            verifier: TallyVerifier,
        }
    }
}

impl Plugin for TallyPlugin {
    fn identifier(&self) -> &str {
        SERVICE
    }

    fn display_name(&self) -> &str {
        "Tally"
    }

    fn description(&self) -> &str {
        "Record what happens in Tally projects: tasks created and completed, comments."
    }

    fn configuration_schema(&self) -> &Schema {
        &self.schema
    }

    fn converter(&self) -> Option<&dyn Converter> {
        Some(&TallyConverter)
    }

    fn oauth_provider(&self) -> Option<&Provider> {
        Some(&self.oauth)
    }

    fn webhook_verifier(&self) -> Option<&dyn WebhookVerifier> {
        Some(&self.verifier)
    }

    fn poller(&self) -> Option<&dyn Poller> {
        Some(self)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Conversion
// ---------------------------------------------------------------------------------------------------------------

/// Turns Tally activities, polled or delivered, into events.
#[derive(Debug, Clone, Copy)]
struct TallyConverter;

/// A webhook body: the activity, as the API lists it, under `event`.
#[derive(Deserialize)]
struct Envelope {
    event: Activity,
}

/// One Tally activity, as `GET /projects/{project}/events` lists it.
#[derive(Deserialize)]
struct Activity {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    occurred_at: DateTime<Utc>,
    actor: Person,
    task: Task,
    #[serde(default)]
    comment: Option<Comment>,
}

#[derive(Deserialize)]
struct Person {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct Task {
    id: String,
    title: String,
    project: String,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Comment {
    body: String,
}

impl Converter for TallyConverter {
    fn convert(&self, payload: Payload<'_>, _context: &ConvertContext) -> Result<Conversion, ConvertError> {
        let activity = match payload {
            Payload::Polled { body } => from_slice::<Activity>(body)?,
            Payload::Webhook { event, body, .. } => {
                let kind = event.ok_or(ConvertError::MissingInput {
                    what: "the `X-Tally-Event` header",
                })?;
                if kind == "ping" {
                    return Ok(Conversion::Skipped(SkipReason::Ping));
                }
                let Envelope { event: activity } = from_slice(body)?;
                if activity.kind != kind {
                    return Err(ConvertError::InvalidField {
                        path: "event.type".to_owned(),
                        message: format!("`{}`, but `X-Tally-Event` says `{kind}`", activity.kind),
                    });
                }
                activity
            }
            _ => {
                return Err(ConvertError::MissingInput {
                    what: "a polled activity or a webhook delivery",
                });
            }
        };
        convert_activity(activity)
    }
}

/// The event of one activity: the same whether it was polled or delivered.
fn convert_activity(activity: Activity) -> Result<Conversion, ConvertError> {
    let (domain, action) = match activity.kind.as_str() {
        "task.created" => ("task", "created"),
        "task.completed" => ("task", "completed"),
        "comment.added" => ("comment", "added"),
        _ => return Ok(Conversion::Skipped(SkipReason::UnsupportedType(activity.kind))),
    };
    let mut actor = Object::new(format!("tally:user:{}", activity.actor.id), "user", "tally_user");
    actor.title = Some(activity.actor.name);
    let mut target = Object::new(format!("tally:task:{}", activity.task.id), "task", "tally_task");
    target.title = Some(activity.task.title);
    target.url = activity.task.url;
    target
        .metadata
        .insert("project".to_owned(), Value::String(activity.task.project));
    let mut event_metadata = Metadata::new();
    event_metadata.insert("type".to_owned(), Value::String(activity.kind));
    let event = Event::builder()
        .source_id(activity.id)
        .time(activity.occurred_at)
        .service(SERVICE)
        .domain(domain)
        .action(action)
        .actor(actor)
        .target(target)
        .event_metadata(event_metadata)
        .blocks(activity.comment.map(|comment| Block::new().with_content(comment.body)))
        .build()?;
    Ok(Conversion::Converted(vec![event]))
}

// ---------------------------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------------------------

const TOKEN: Header = Header::credential("X-Tally-Token", "x-tally-token");
const SIGNATURE: Header = Header::credential("X-Tally-Signature", "x-tally-signature");
const EVENT: Header = Header::metadata("X-Tally-Event", "x-tally-event");
const DELIVERY: Header = Header::metadata("X-Tally-Delivery", "x-tally-delivery");
const RETRY: Header = Header::metadata("X-Tally-Retry", "x-tally-retry");

/// Verifies Tally's deliveries: the shared token and the body's HMAC, both under one of the webhook secrets.
#[derive(Debug, Clone, Copy)]
struct TallyVerifier;

impl WebhookVerifier for TallyVerifier {
    fn verify<'a>(
        &self,
        secrets: &[WebhookSecret],
        headers: &'a HeaderMap,
        body: &'a [u8],
        _now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery<'a>, WebhookError> {
        // What costs nothing first: the size, the secrets, the headers' shape; the MAC last.
        check_body_len(body, MAX_BODY_LEN)?;
        let keys = secret_keys(secrets)?;
        let token = required_header(headers, &TOKEN)?;
        let signature = required_header(headers, &SIGNATURE)?;
        let tag: [u8; 32] = hex_digest(signature, &SIGNATURE, "expected 64 hex digits")?;
        let event = required_header(headers, &EVENT)?;
        let delivery_id = required_header(headers, &DELIVERY)?;
        let retry_num = optional_header(headers, &RETRY)?
            .map(|count| {
                count
                    .parse::<u32>()
                    .map_err(|_| RETRY.malformed("expected a decimal count"))
            })
            .transpose()?;
        if !token_matches_any(token.as_bytes(), &keys) {
            return Err(WebhookError::TokenMismatch { header: TOKEN.name() });
        }
        if !hmac_sha256_matches(&keys, &[body], &[&tag]) {
            return Err(WebhookError::SignatureMismatch {
                header: SIGNATURE.name(),
            });
        }
        let mut delivery = VerifiedDelivery::new(body);
        delivery.event = Some(event);
        delivery.delivery_id = Some(delivery_id);
        delivery.retry_num = retry_num;
        Ok(delivery)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------------------------------

/// Polls the configured `projects` with the context's token, keeping the configured `events` types (all when none).
impl Poller for TallyPlugin {
    fn start(
        &self,
        context: &PollContext<'_>,
        mut cursor: PollCursor,
        now: DateTime<Utc>,
    ) -> Result<Box<dyn PollRound>, PollSetupError> {
        let configuration = context.configuration;
        let projects: Vec<String> = configuration.strings("projects").map(str::to_owned).collect();
        if projects.is_empty() {
            return Err(PollSetupError::NotConfigured);
        }
        let api_base = Url::parse(self.oauth.api_base())
            .ok()
            .filter(|url| !url.cannot_be_a_base())
            .ok_or_else(|| PollSetupError::InvalidSettings(format!("`{}` is not a base URL", self.oauth.api_base())))?;
        // Projects no longer configured: their cursors would only grow the stored state.
        cursor.resources.retain(|project, _| projects.contains(project));
        Ok(Box::new(TallyRound {
            api_base,
            token: context.access_token.cloned(),
            integration_id: context.integration_id.to_owned(),
            kinds: configuration.strings("events").map(str::to_owned).collect(),
            queue: projects.into(),
            current: None,
            started: now,
            provider_next_poll: None,
            cursor,
            items: Vec::new(),
            gaps: Vec::new(),
            errors: Vec::new(),
            rate_limit: None,
            deferred: Vec::new(),
            stats: PollStats::default(),
        }))
    }
}

/// One round over the configured projects, one page request at a time.
#[derive(Debug)]
struct TallyRound {
    api_base: Url,
    token: Option<AccessToken>,
    integration_id: String,
    /// The activity types to keep; all when empty.
    kinds: HashSet<String>,
    queue: VecDeque<String>,
    current: Option<Fetch>,
    started: DateTime<Utc>,
    /// The latest "not before" Tally named this round (its interval, a rate limit); `None` while it said nothing.
    provider_next_poll: Option<DateTime<Utc>>,
    cursor: PollCursor,
    items: Vec<PolledItem>,
    gaps: Vec<Gap>,
    errors: Vec<ResourceError>,
    rate_limit: Option<RateLimit>,
    deferred: Vec<String>,
    stats: PollStats,
}

/// The project being read, page by page.
#[derive(Debug)]
struct Fetch {
    project: String,
    cursor: ResourceCursor,
    url: Url,
    handed_out: bool,
    pages: usize,
    seen: HashSet<String>,
    newest_id: Option<String>,
    oldest_id: Option<String>,
    etag: Option<String>,
}

/// What the round reads of each item before converting it.
#[derive(Deserialize)]
struct ItemHead {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// One page of a project's activities, read but not yet used.
struct Page {
    interval_end: Option<DateTime<Utc>>,
    etag: Option<String>,
    next: Option<String>,
    items: Vec<Value>,
}

impl PollRound for TallyRound {
    fn step(&mut self) -> Step {
        loop {
            if let Some(fetch) = &mut self.current {
                match page_request(self.token.as_ref(), fetch) {
                    Ok(request) => {
                        if !fetch.handed_out {
                            fetch.handed_out = true;
                            self.stats.requests += 1;
                        }
                        return Step::Send(request);
                    }
                    Err(error) => {
                        if let Some(fetch) = self.current.take() {
                            self.errors.push(ResourceError::new(fetch.project, error));
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
            let Some(url) = events_url(&self.api_base, &project) else {
                let error = PollError::InvalidResource {
                    reason: "a project name cannot be empty",
                };
                self.errors.push(ResourceError::new(project, error));
                continue;
            };
            self.current = Some(Fetch {
                cursor: self.cursor.resources.get(&project).cloned().unwrap_or_default(),
                project,
                url,
                handed_out: false,
                pages: 0,
                seen: HashSet::new(),
                newest_id: None,
                oldest_id: None,
                etag: None,
            });
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: DateTime<Utc>) {
        let Some(fetch) = self.current.take() else {
            return;
        };
        let status = response.status();
        let result = match status {
            StatusCode::OK => self.handle_page(fetch, &response, now),
            StatusCode::NOT_MODIFIED if fetch.pages == 0 => {
                // Nothing new: the cursor, ETag included, stays as stored.
                self.stats.not_modified += 1;
                match interval_end(response.headers(), now) {
                    Ok(end) => {
                        self.extend_next_poll(end);
                        Ok(())
                    }
                    Err(error) => Err((fetch.project, error)),
                }
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let (seconds, kind) = match retry_after(response.headers()) {
                    Some(seconds) => (seconds, RateLimitKind::RetryAfter(seconds)),
                    None => (60, RateLimitKind::Backoff(60)),
                };
                let wait = TimeDelta::try_seconds(i64::try_from(seconds).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX);
                let until = now.checked_add_signed(wait).unwrap_or(DateTime::<Utc>::MAX_UTC);
                self.rate_limit = Some(RateLimit::new(until, kind));
                self.extend_next_poll(Some(until));
                self.deferred.push(fetch.project);
                self.deferred.extend(self.queue.drain(..));
                Ok(())
            }
            StatusCode::UNAUTHORIZED => Err((fetch.project, PollError::Unauthorized)),
            StatusCode::NOT_FOUND => Err((fetch.project, PollError::NotFound)),
            StatusCode::FORBIDDEN => {
                let message = serde_json::from_slice::<Value>(response.body())
                    .ok()
                    .and_then(|body| body.get("message")?.as_str().map(str::to_owned));
                Err((fetch.project, PollError::Forbidden { message }))
            }
            _ => Err((
                fetch.project,
                PollError::UnexpectedStatus {
                    status: status.as_u16(),
                },
            )),
        };
        if let Err((project, error)) = result {
            self.errors.push(ResourceError::new(project, error));
        }
    }

    fn handle_transport_error(&mut self, error: &dyn std::fmt::Display) {
        if let Some(fetch) = self.current.take() {
            let error = PollError::Transport {
                message: error.to_string(),
            };
            self.errors.push(ResourceError::new(fetch.project, error));
        }
    }

    fn finish(self: Box<Self>) -> PollOutcome {
        let mut round = *self;
        if let Some(fetch) = round.current.take() {
            round.deferred.push(fetch.project);
        }
        round.deferred.extend(round.queue.drain(..));
        // Tally's word decides, longer or shorter than the default; the default only when it said nothing.
        let next_poll_at = round.provider_next_poll.unwrap_or_else(|| {
            round
                .started
                .checked_add_signed(DEFAULT_POLL_INTERVAL)
                .unwrap_or(round.started)
        });
        let mut outcome = PollOutcome::new(round.cursor, next_poll_at);
        outcome.items = round.items;
        outcome.gaps = round.gaps;
        outcome.errors = round.errors;
        outcome.rate_limit = round.rate_limit;
        outcome.deferred = round.deferred;
        outcome.stats = round.stats;
        outcome
    }
}

impl TallyRound {
    /// Reads one page; on error gives the project back with it (its cursor stays as stored).
    fn handle_page(
        &mut self,
        mut fetch: Fetch,
        response: &http::Response<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Result<(), (String, PollError)> {
        let page = match read_page(response, now) {
            Ok(page) => page,
            Err(error) => return Err((fetch.project, error)),
        };
        self.extend_next_poll(page.interval_end);
        if fetch.pages == 0 {
            fetch.etag = page.etag;
        }
        fetch.pages += 1;
        let context = ConvertContext::new(now).with_integration(self.integration_id.clone());
        let mut reached_last_seen = false;
        for item in page.items {
            let head = match ItemHead::deserialize(&item) {
                Ok(head) => head,
                Err(error) => {
                    // Without an id the item can be neither compared nor deduplicated: record it and read on.
                    let error = ConvertError::from_serde(".".to_owned(), &error);
                    self.items
                        .push(PolledItem::new(fetch.project.clone(), "", "", Err(error)));
                    continue;
                }
            };
            if fetch.cursor.last_seen_id.as_deref() == Some(head.id.as_str()) {
                reached_last_seen = true;
                break;
            }
            if !fetch.seen.insert(head.id.clone()) {
                // The pages shifted while new activity arrived.
                self.stats.duplicates += 1;
                continue;
            }
            self.stats.fetched += 1;
            fetch.newest_id.get_or_insert_with(|| head.id.clone());
            fetch.oldest_id = Some(head.id.clone());
            if !self.kinds.is_empty() && !self.kinds.contains(&head.kind) {
                self.stats.filtered += 1;
                continue;
            }
            let body = item.to_string();
            let conversion = TallyConverter.convert(Payload::Polled { body: body.as_bytes() }, &context);
            let failed = conversion.is_err();
            let mut polled = PolledItem::new(fetch.project.clone(), head.id, head.kind, conversion);
            if failed {
                // Kept whole, so that the host can keep it and convert it again once the converter is fixed.
                polled = polled.with_raw(body);
            }
            self.items.push(polled);
        }
        match page.next {
            Some(next) if !reached_last_seen && fetch.pages < MAX_PAGES => {
                // The token goes only where the API is.
                let Some(url) = Url::parse(&next)
                    .ok()
                    .filter(|url| url.origin() == self.api_base.origin())
                else {
                    return Err((fetch.project, PollError::ForeignLink { url: next }));
                };
                fetch.url = url;
                fetch.handed_out = false;
                self.current = Some(fetch);
            }
            Some(_) if !reached_last_seen => self.complete(fetch, Some(GapCause::PageCap)),
            _ if reached_last_seen => self.complete(fetch, None),
            _ => self.complete(fetch, Some(GapCause::NoMorePages)),
        }
        Ok(())
    }

    /// Records the new cursor of a project read to its end, and a gap when the end came before the last seen item.
    fn complete(&mut self, fetch: Fetch, cause: Option<GapCause>) {
        if let (Some(cause), Some(last_seen_id)) = (cause, &fetch.cursor.last_seen_id) {
            self.gaps.push(Gap::new(
                fetch.project.clone(),
                last_seen_id.clone(),
                fetch.oldest_id.clone(),
                cause,
            ));
        }
        let mut cursor = ResourceCursor::new();
        cursor.etag = fetch.etag;
        cursor.last_seen_id = fetch.newest_id.or(fetch.cursor.last_seen_id);
        self.cursor.resources.insert(fetch.project, cursor);
    }

    /// Records a "not before" from Tally; the latest of them holds.
    fn extend_next_poll(&mut self, end: Option<DateTime<Utc>>) {
        if let Some(end) = end {
            self.provider_next_poll = Some(self.provider_next_poll.map_or(end, |known| known.max(end)));
        }
    }
}

/// `{api_base}/projects/{project}/events`, the project name percent-encoded as one segment; `None` for an empty name.
fn events_url(api_base: &Url, project: &str) -> Option<Url> {
    if project.is_empty() {
        return None;
    }
    let mut url = api_base.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(["projects", project, "events"]);
    Some(url)
}

/// The request for the fetch's current page, with the token and, on the first page, the stored `ETag`.
fn page_request(token: Option<&AccessToken>, fetch: &Fetch) -> Result<http::Request<Vec<u8>>, PollError> {
    let unsendable = |header: &'static str| PollError::InvalidHeader {
        header,
        reason: "cannot be sent: not a valid header value".to_owned(),
    };
    let mut builder = http::Request::get(fetch.url.as_str())
        .header(header::ACCEPT, "application/json")
        .header(VERSION_HEADER, API_VERSION);
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| unsendable("authorization"))?;
        value.set_sensitive(true);
        builder = builder.header(header::AUTHORIZATION, value);
    }
    if fetch.pages == 0
        && let Some(etag) = &fetch.cursor.etag
    {
        let value = HeaderValue::from_str(etag).map_err(|_| unsendable("if-none-match"))?;
        builder = builder.header(header::IF_NONE_MATCH, value);
    }
    builder.body(Vec::new()).map_err(|_| PollError::InvalidResource {
        reason: "the events URL is not a valid request URI",
    })
}

/// The headers and items of a `200` page.
fn read_page(response: &http::Response<Vec<u8>>, now: DateTime<Utc>) -> Result<Page, PollError> {
    let headers = response.headers();
    let interval_end = interval_end(headers, now)?;
    let etag = match headers.get(header::ETAG) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| PollError::InvalidHeader {
                    header: "etag",
                    reason: "not visible ASCII".to_owned(),
                })?
                .to_owned(),
        ),
        None => None,
    };
    let next = find_rel(headers.get_all(header::LINK), "next").map_err(PollError::InvalidLink)?;
    let items = serde_json::from_slice::<Vec<Value>>(response.body())
        .map_err(|error| PollError::Body(ConvertError::from_serde(".".to_owned(), &error)))?;
    Ok(Page {
        interval_end,
        etag,
        next,
        items,
    })
}

/// When `X-Tally-Poll-Interval` (whole seconds) allows the next poll; `None` when the header is absent.
fn interval_end(headers: &HeaderMap, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, PollError> {
    let Some(value) = headers.get(POLL_INTERVAL_HEADER) else {
        return Ok(None);
    };
    let invalid = || PollError::InvalidHeader {
        header: POLL_INTERVAL_HEADER,
        reason: "expected whole seconds".to_owned(),
    };
    let seconds = value.to_str().ok().and_then(seconds).ok_or_else(invalid)?;
    let wait = TimeDelta::try_seconds(i64::try_from(seconds).map_err(|_| invalid())?).ok_or_else(invalid)?;
    now.checked_add_signed(wait).map(Some).ok_or_else(invalid)
}

/// `Retry-After` in seconds, when it is a strict decimal.
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::RETRY_AFTER)?.to_str().ok().and_then(seconds)
}

/// A strict decimal count of seconds: digits only.
fn seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

// ---------------------------------------------------------------------------------------------------------------
// The fake Tally
// ---------------------------------------------------------------------------------------------------------------

/// The client id the fake accepts.
pub(crate) const CLIENT_ID: &str = "tally-client-id";
/// The client secret the fake accepts.
pub(crate) const CLIENT_SECRET: &str = "tally-client-secret";
/// The webhook secret [`signed_delivery`] signs with in the tests.
pub(crate) const WEBHOOK_SECRET: &str = "tally-webhook-secret";
/// The project the fake serves from the start, with [`activity`] 1 to 3.
pub(crate) const PROJECT: &str = "apollo";
/// How long the fake's access tokens live, in seconds.
pub(crate) const TOKEN_LIFETIME: i64 = 3600;
/// Activities per page of the fake's events API.
const PAGE_SIZE: usize = 2;

/// A scripted fake of Tally's HTTP API, as a pure function of the request ([`answer`](Self::answer)):
///
/// - `GET /oauth/authorize`: approves at once, redirecting (302) to the `redirect_uri` with a code and the `state`;
///   it requires an S256 `code_challenge` and the client id.
/// - `POST /oauth/token`: the code exchange (the `code_verifier` must hash to the code's challenge, each code once)
///   and the refresh (each refresh token once; it revokes the access token it was issued with). Requires
///   `X-Tally-Version` and the client's credentials. Refused grants answer `{"error": ...}`.
/// - `GET /api/v1/me`: the account, for a valid bearer token.
/// - `GET /api/v1/projects/{project}/events[?page=n]`: the project's activities, newest first, two per page, with
///   `Link: <...>; rel="next"`, a weak `ETag` (`304` for a matching `If-None-Match` on the first page) and
///   `X-Tally-Poll-Interval` when one is set.
///
/// Every path is under the base URL's path, so the fake can share a server with others.
#[derive(Debug)]
pub(crate) struct TallyFake {
    base_url: String,
    base_path: String,
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    /// Issued codes not yet exchanged: the PKCE challenge and redirect URI each was issued for.
    codes: HashMap<String, (String, String)>,
    /// Valid access tokens.
    access_tokens: HashSet<String>,
    /// Valid refresh tokens, each with the access token issued beside it.
    refresh_tokens: HashMap<String, String>,
    /// Codes and token pairs issued so far, to number the next ones.
    issued: usize,
    /// Activities per project, newest first.
    projects: BTreeMap<String, Vec<Value>>,
    /// The `X-Tally-Poll-Interval` to answer with, if any.
    poll_interval: Option<u64>,
}

impl TallyFake {
    /// A fake served at `base_url` (the base URL given to [`TallyPlugin::new`]), with [`PROJECT`] holding
    /// [`activity`] 1 (`task.created`), 2 (`comment.added`) and 3 (`task.completed`), and no poll interval.
    pub(crate) fn new(base_url: &str) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let base_path = Url::parse(&base_url)
            .expect("the fake's base URL parses")
            .path()
            .trim_end_matches('/')
            .to_owned();
        let fake = Self {
            base_url,
            base_path,
            state: Mutex::default(),
        };
        for (number, kind) in [(1, "task.created"), (2, "comment.added"), (3, "task.completed")] {
            fake.publish(activity(number, kind));
        }
        fake
    }

    /// Adds `activity` as the newest of its project (`task.project`).
    pub(crate) fn publish(&self, activity: Value) {
        let project = activity["task"]["project"].as_str().unwrap_or(PROJECT).to_owned();
        self.lock().projects.entry(project).or_default().insert(0, activity);
    }

    /// Makes the events API answer `X-Tally-Poll-Interval: {seconds}`, or leave it out with `None`.
    pub(crate) fn set_poll_interval(&self, seconds: Option<u64>) {
        self.lock().poll_interval = seconds;
    }

    /// Tally's answer to `request`. Its URI may be absolute or just a path and query.
    pub(crate) fn answer(&self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let Some(path) = request.uri().path().strip_prefix(self.base_path.as_str()) else {
            return not_found();
        };
        let query = request.uri().query().unwrap_or_default();
        match (request.method().as_str(), path) {
            ("GET", "/oauth/authorize") => self.authorize(query),
            ("POST", "/oauth/token") => self.token(&request),
            ("GET", "/api/v1/me") => self.me(&request),
            ("GET", path) => {
                match path
                    .strip_prefix("/api/v1/projects/")
                    .and_then(|rest| rest.strip_suffix("/events"))
                {
                    Some(project) => self.events(&request, project, query),
                    None => not_found(),
                }
            }
            _ => not_found(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while holding the lock left consistent data: every change is one statement.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn authorize(&self, query: &str) -> http::Response<Vec<u8>> {
        let params = form(query.as_bytes());
        let param = |name: &str| params.get(name).map(String::as_str);
        if param("response_type") != Some("code")
            || param("client_id") != Some(CLIENT_ID)
            || param("code_challenge_method") != Some("S256")
        {
            return text(
                400,
                "response_type=code, the client id and an S256 code challenge are required",
            );
        }
        let (Some(challenge), Some(redirect_uri), Some(state)) =
            (param("code_challenge"), param("redirect_uri"), param("state"))
        else {
            return text(400, "code_challenge, redirect_uri and state are required");
        };
        let Ok(mut location) = Url::parse(redirect_uri) else {
            return text(400, "redirect_uri is not a URL");
        };
        let mut fake = self.lock();
        fake.issued += 1;
        let code = format!("tly_code_{}", fake.issued);
        fake.codes
            .insert(code.clone(), (challenge.to_owned(), redirect_uri.to_owned()));
        location
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state);
        respond(302, &[("location", location.to_string())], Vec::new())
    }

    fn token(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        if !has_version(request) {
            return oauth_error(400, "invalid_request");
        }
        let params = form(request.body());
        let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
        if param("client_id") != CLIENT_ID || param("client_secret") != CLIENT_SECRET {
            return oauth_error(401, "invalid_client");
        }
        let mut fake = self.lock();
        match param("grant_type") {
            "authorization_code" => {
                // A code is good once, whatever happens next.
                let Some((challenge, redirect_uri)) = fake.codes.remove(param("code")) else {
                    return oauth_error(400, "invalid_grant");
                };
                let verifier = param("code_verifier");
                let hashed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if param("redirect_uri") != redirect_uri || !(43..=128).contains(&verifier.len()) || hashed != challenge
                {
                    return oauth_error(400, "invalid_grant");
                }
            }
            "refresh_token" => {
                let Some(access_token) = fake.refresh_tokens.remove(param("refresh_token")) else {
                    return oauth_error(400, "token_revoked");
                };
                fake.access_tokens.remove(&access_token);
            }
            _ => return oauth_error(400, "unsupported_grant_type"),
        }
        fake.issued += 1;
        let access_token = format!("tly_at_{}", fake.issued);
        let refresh_token = format!("tly_rt_{}", fake.issued);
        fake.access_tokens.insert(access_token.clone());
        fake.refresh_tokens.insert(refresh_token.clone(), access_token.clone());
        json_response(
            200,
            &[],
            &json!({
                "access_token": access_token,
                "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME,
                "refresh_token": refresh_token,
                "scope": "projects:read,tasks:read",
                "workspace": {"id": "W-7", "name": "Acme"},
            }),
        )
    }

    fn me(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        if let Some(refused) = self.api_refusal(request) {
            return refused;
        }
        json_response(200, &[], &json!({"user": {"id": 42, "name": "Ada Lovelace"}}))
    }

    fn events(&self, request: &http::Request<Vec<u8>>, project: &str, query: &str) -> http::Response<Vec<u8>> {
        if let Some(refused) = self.api_refusal(request) {
            return refused;
        }
        let page = match form(query.as_bytes()).get("page") {
            None => 1,
            Some(page) => match page.parse::<usize>() {
                Ok(page) if page > 0 => page,
                _ => return json_response(400, &[], &json!({"message": "page must be a positive integer"})),
            },
        };
        let fake = self.lock();
        let Some(activities) = fake.projects.get(project) else {
            return json_response(404, &[], &json!({"message": "no such project"}));
        };
        let etag = format!("W/\"{project}-{}\"", activities.len());
        let mut headers = vec![("etag", etag.clone())];
        if let Some(seconds) = fake.poll_interval {
            headers.push((POLL_INTERVAL_HEADER, seconds.to_string()));
        }
        let if_none_match = request.headers().get(header::IF_NONE_MATCH);
        if page == 1 && if_none_match.is_some_and(|value| value.as_bytes() == etag.as_bytes()) {
            return respond(304, &headers, Vec::new());
        }
        let start = (page - 1).saturating_mul(PAGE_SIZE).min(activities.len());
        let end = start.saturating_add(PAGE_SIZE).min(activities.len());
        if end < activities.len() {
            let next = format!("{}/api/v1/projects/{project}/events?page={}", self.base_url, page + 1);
            headers.push(("link", format!("<{next}>; rel=\"next\"")));
        }
        json_response(200, &headers, &Value::from(&activities[start..end]))
    }

    /// The refusal of an API request without `X-Tally-Version` (400) or a valid bearer token (401); `None` when it
    /// may be answered.
    fn api_refusal(&self, request: &http::Request<Vec<u8>>) -> Option<http::Response<Vec<u8>>> {
        if !has_version(request) {
            return Some(json_response(
                400,
                &[],
                &json!({"message": "X-Tally-Version is required"}),
            ));
        }
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if token.is_some_and(|token| self.lock().access_tokens.contains(token)) {
            None
        } else {
            Some(oauth_error(401, "token_revoked"))
        }
    }
}

/// Activity number `number` of type `kind` in [`PROJECT`], as Tally's API lists it: id `act_{number}`, on task
/// `T-{100 + number}`, at `2025-03-14T14:{number}:00Z`, by one of three people; a `comment.added` has a comment.
pub(crate) fn activity(number: u32, kind: &str) -> Value {
    let people = [(42, "Ada Lovelace"), (43, "Grace Hopper"), (44, "Edsger Dijkstra")];
    let (person, name) = people[number as usize % people.len()];
    let task = 100 + number;
    let mut activity = json!({
        "id": format!("act_{number}"),
        "type": kind,
        "occurred_at": format!("2025-03-14T14:{:02}:00Z", number % 60),
        "actor": {"id": person, "name": name},
        "task": {
            "id": format!("T-{task}"),
            "title": format!("Task {task}"),
            "project": PROJECT,
            "url": format!("https://tally.example/{PROJECT}/T-{task}"),
        },
    });
    if kind == "comment.added" {
        activity["comment"] = json!({"body": format!("Comment {number}")});
    }
    activity
}

/// A webhook delivery of `activity` as Tally sends it, signed with `secret`: the body `{"event": activity}`, and
/// the headers `X-Tally-Token`, `X-Tally-Signature` (hex HMAC-SHA256 of the body), `X-Tally-Event` (the activity's
/// type) and `X-Tally-Delivery` (`delivery_id`). Signed here with `hmac` directly, not with the plugin's code.
pub(crate) fn signed_delivery(secret: &str, delivery_id: &str, activity: &Value) -> (HeaderMap, Vec<u8>) {
    let body = json!({ "event": activity }).to_string().into_bytes();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(&body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let kind = activity["type"].as_str().unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-tally-token", secret),
        ("x-tally-signature", signature.as_str()),
        ("x-tally-event", kind),
        ("x-tally-delivery", delivery_id),
    ] {
        headers.insert(name, HeaderValue::from_str(value).expect("a header value"));
    }
    (headers, body)
}

fn has_version(request: &http::Request<Vec<u8>>) -> bool {
    request
        .headers()
        .get(VERSION_HEADER)
        .is_some_and(|value| value == API_VERSION)
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn respond(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(body).expect("valid statuses and header values")
}

fn json_response(status: u16, headers: &[(&str, String)], body: &Value) -> http::Response<Vec<u8>> {
    let mut headers = headers.to_vec();
    headers.push(("content-type", "application/json".to_owned()));
    respond(status, &headers, body.to_string().into_bytes())
}

fn oauth_error(status: u16, code: &str) -> http::Response<Vec<u8>> {
    json_response(status, &[], &json!({ "error": code }))
}

fn text(status: u16, message: &str) -> http::Response<Vec<u8>> {
    respond(
        status,
        &[("content-type", "text/plain".to_owned())],
        message.as_bytes().to_vec(),
    )
}

fn not_found() -> http::Response<Vec<u8>> {
    text(404, "not found")
}
