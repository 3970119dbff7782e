//! [`SlackEnricher`]: names Slack users (`users.info`) and channels (`conversations.info`).

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};
use http::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use crate::enrich::{
    EnrichContext, EnrichError, EnrichFailure, EnrichOutcome, EnrichRound, Enricher, RateLimit, RateLimitKind, Step,
};
use crate::model::Object;
use crate::secret::AccessToken;

/// The kinds [`SlackEnricher`] names.
const KINDS: &[&str] = &["slack_user", "slack_channel"];

/// How long to stay away after a `429` without a usable `Retry-After`.
const DEFAULT_RETRY_AFTER: u64 = 60;

/// Slack error codes that refuse the token itself: every further request would fail the same way.
const TOKEN_REFUSED: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "no_permission",
];

/// Names Slack users and channels that events identify by id only. One request per object, each a `GET` of the Web
/// API under the provider's [`api_base`](crate::oauth::Provider::api_base) with the bot token:
///
/// | kind | request | title | image | metadata added |
/// |---|---|---|---|---|
/// | `slack_user` | `users.info?user={id}` | `profile.display_name`, else `profile.real_name`, else `real_name`, else `name` | `profile.image_72` (else 48, 192) | `name`, `real_name`, `display_name` where set |
/// | `slack_channel` | `conversations.info?channel={id}` | `#` and `name`; `direct message` for a direct message | | `name`, `is_private` |
///
/// The id is the object's `id` metadata (the converter puts it there). Scopes: `users:read` and `channels:read`
/// (`groups:read` for private channels). A `429` ends the round with its `Retry-After` (60 s when absent); an
/// `{"ok":false}` answer fails that object with Slack's `error` code, and a code that refuses the token
/// (`invalid_auth`, `token_revoked`, ...) ends the round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackEnricher {
    api_base: String,
}

impl SlackEnricher {
    /// An enricher calling the Web API under `api_base` (`https://slack.com/api`).
    pub fn new(api_base: impl Into<String>) -> Self {
        Self {
            api_base: api_base.into().trim_end_matches('/').to_owned(),
        }
    }
}

impl Enricher for SlackEnricher {
    fn kinds(&self) -> &[&str] {
        KINDS
    }

    fn start(&self, context: &EnrichContext<'_>, objects: Vec<Object>) -> Box<dyn EnrichRound> {
        Box::new(SlackEnrichRound {
            api_base: self.api_base.clone(),
            token: context.access_token.cloned(),
            queue: objects.into(),
            current: None,
            stopped: false,
            outcome: EnrichOutcome::default(),
        })
    }
}

/// What one object is looked up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    User,
    Channel,
}

impl Lookup {
    fn of(object: &Object) -> Result<(Self, &str), EnrichError> {
        let lookup = match object.kind.as_ref() {
            "slack_user" => Self::User,
            "slack_channel" => Self::Channel,
            _ => {
                return Err(EnrichError::Unsupported {
                    reason: "not a Slack user or channel",
                });
            }
        };
        let id = object
            .metadata
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or(EnrichError::Unsupported {
                reason: "no `id` in its metadata",
            })?;
        Ok((lookup, id))
    }

    fn method_and_param(self) -> (&'static str, &'static str) {
        match self {
            Self::User => ("users.info", "user"),
            Self::Channel => ("conversations.info", "channel"),
        }
    }
}

/// One naming round against Slack.
#[derive(Debug)]
struct SlackEnrichRound {
    api_base: String,
    token: Option<AccessToken>,
    queue: VecDeque<Object>,
    /// The object whose request is out, with how it is looked up.
    current: Option<(Object, Lookup)>,
    /// Set by a rate limit or a refused token: nothing more is sent.
    stopped: bool,
    outcome: EnrichOutcome,
}

impl SlackEnrichRound {
    fn request(&self, object: &Object, lookup: Lookup) -> Result<http::Request<Vec<u8>>, EnrichError> {
        let (_, id) = Lookup::of(object)?;
        let (method, param) = lookup.method_and_param();
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(param, id)
            .finish();
        let mut builder =
            http::Request::get(format!("{}/{method}?{query}", self.api_base)).header(ACCEPT, "application/json");
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
                EnrichError::Unauthorized {
                    code: "the token is not a valid header value".to_owned(),
                }
            })?;
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(Vec::new()).map_err(|_| EnrichError::Unsupported {
            reason: "the API base and id do not form a valid request URI",
        })
    }

    fn fail(&mut self, key: String, error: EnrichError) {
        self.outcome.failed.push(EnrichFailure::new(key, error));
    }

    /// Stops the round: nothing more is sent.
    fn stop(&mut self) {
        self.stopped = true;
    }
}

impl EnrichRound for SlackEnrichRound {
    fn step(&mut self) -> Step {
        loop {
            if self.stopped {
                return Step::Done;
            }
            if let Some((object, lookup)) = &self.current {
                match self.request(object, *lookup) {
                    Ok(request) => return Step::Send(request),
                    Err(error) => {
                        let unauthorized = matches!(error, EnrichError::Unauthorized { .. });
                        let (object, _) = self.current.take().expect("checked just above");
                        self.fail(object.key, error);
                        if unauthorized {
                            self.stop();
                        }
                        continue;
                    }
                }
            }
            let Some(object) = self.queue.pop_front() else {
                return Step::Done;
            };
            match Lookup::of(&object) {
                Ok((lookup, _)) => self.current = Some((object, lookup)),
                Err(error) => self.fail(object.key, error),
            }
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: DateTime<Utc>) {
        let Some((object, lookup)) = self.current.take() else {
            return;
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let seconds = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok());
            let kind = match seconds {
                Some(seconds) => RateLimitKind::RetryAfter(seconds),
                None => RateLimitKind::Backoff(DEFAULT_RETRY_AFTER),
            };
            let wait = seconds.unwrap_or(DEFAULT_RETRY_AFTER);
            let until = TimeDelta::try_seconds(i64::try_from(wait).unwrap_or(i64::MAX))
                .and_then(|wait| now.checked_add_signed(wait))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            self.outcome.rate_limit = Some(RateLimit::new(until, kind));
            // Not looked up: it goes first next time.
            self.queue.push_front(object);
            self.stop();
            return;
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            self.fail(
                object.key,
                EnrichError::Unauthorized {
                    code: status.as_u16().to_string(),
                },
            );
            self.stop();
            return;
        }
        // Slack answers errors at 200 with `"ok": false`; read the body whenever there is one.
        let body: Result<Value, _> = serde_json::from_slice(response.body());
        let body = match body {
            Ok(body @ Value::Object(_)) => body,
            _ if !status.is_success() => {
                return self.fail(
                    object.key,
                    EnrichError::UnexpectedStatus {
                        status: status.as_u16(),
                    },
                );
            }
            Ok(_) => return self.fail(object.key, malformed("", "not a JSON object")),
            Err(error) => return self.fail(object.key, malformed("", &error.to_string())),
        };
        if body.get("ok").and_then(Value::as_bool) != Some(true) {
            let code = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error")
                .to_owned();
            if TOKEN_REFUSED.contains(&code.as_str()) {
                self.fail(object.key, EnrichError::Unauthorized { code });
                self.stop();
            } else {
                self.fail(object.key, EnrichError::Provider { code });
            }
            return;
        }
        let named = match lookup {
            Lookup::User => name_user(object.clone(), &body),
            Lookup::Channel => name_channel(object.clone(), &body),
        };
        match named {
            Ok(named) => self.outcome.updated.push(named),
            Err(error) => self.fail(object.key, error),
        }
    }

    fn handle_transport_error(&mut self, error: &dyn std::fmt::Display) {
        if let Some((object, _)) = self.current.take() {
            self.fail(
                object.key,
                EnrichError::Transport {
                    message: error.to_string(),
                },
            );
        }
    }

    fn finish(self: Box<Self>) -> EnrichOutcome {
        let mut outcome = self.outcome;
        outcome.deferred = self
            .current
            .into_iter()
            .map(|(object, _)| object)
            .chain(self.queue)
            .map(|object| object.key)
            .collect();
        outcome
    }
}

fn malformed(path: &str, reason: &str) -> EnrichError {
    EnrichError::Malformed {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The non-blank string at `pointer`, trimmed.
fn text<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// The user of a `users.info` answer: its display name (else real name, else handle) and avatar.
fn name_user(mut object: Object, body: &Value) -> Result<Object, EnrichError> {
    if !body.get("user").is_some_and(Value::is_object) {
        return Err(malformed("/user", "missing"));
    }
    let title = [
        "/user/profile/display_name",
        "/user/profile/real_name",
        "/user/real_name",
        "/user/name",
    ]
    .into_iter()
    .find_map(|pointer| text(body, pointer))
    .ok_or_else(|| malformed("/user", "no name"))?;
    object.title = Some(title.to_owned());
    if let Some(image) = [
        "/user/profile/image_72",
        "/user/profile/image_48",
        "/user/profile/image_192",
    ]
    .into_iter()
    .find_map(|pointer| text(body, pointer))
    {
        object.image_url = Some(image.to_owned());
    }
    for (name, pointer) in [
        ("name", "/user/name"),
        ("real_name", "/user/profile/real_name"),
        ("display_name", "/user/profile/display_name"),
    ] {
        if let Some(value) = text(body, pointer) {
            object.metadata.insert(name.to_owned(), Value::from(value));
        }
    }
    Ok(object)
}

/// The channel of a `conversations.info` answer: `#name`, or `direct message`.
fn name_channel(mut object: Object, body: &Value) -> Result<Object, EnrichError> {
    if !body.get("channel").is_some_and(Value::is_object) {
        return Err(malformed("/channel", "missing"));
    }
    let title = match text(body, "/channel/name") {
        Some(name) => {
            object.metadata.insert("name".to_owned(), Value::from(name));
            format!("#{name}")
        }
        None if body.pointer("/channel/is_im").and_then(Value::as_bool) == Some(true) => "direct message".to_owned(),
        None => return Err(malformed("/channel/name", "missing")),
    };
    object.title = Some(title);
    if let Some(private) = body.pointer("/channel/is_private").and_then(Value::as_bool) {
        object.metadata.insert("is_private".to_owned(), Value::from(private));
    }
    Ok(object)
}
