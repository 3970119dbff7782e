//! Reading GitHub's response headers: validators, poll interval, rate limits. Every reader names the header it
//! failed on and never panics, whatever bytes the server sent.

use chrono::{DateTime, TimeDelta, Utc};
use http::HeaderMap;
use serde::Deserialize;

use super::backoff;
use crate::poll::{PollError, RateLimit, RateLimitKind};

/// The value of header `name` as text, or `None` when absent. Several fields with the same name: the first.
pub(super) fn text<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, PollError> {
    headers
        .get(name)
        .map(|value| {
            value.to_str().map_err(|_| PollError::InvalidHeader {
                header: name,
                reason: "not visible ASCII text".to_owned(),
            })
        })
        .transpose()
}

/// The value of header `name` as a decimal count of seconds or requests (digits only, no sign, no spaces).
pub(super) fn number(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, PollError> {
    let Some(value) = text(headers, name)? else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PollError::InvalidHeader {
            header: name,
            reason: format!("expected a decimal number, got `{value}`"),
        });
    }
    value.parse().map(Some).map_err(|_| PollError::InvalidHeader {
        header: name,
        reason: format!("number `{value}` is out of range"),
    })
}

/// `now` plus `seconds`, or an error naming `header` when the sum is past what a date can hold.
pub(super) fn after(now: DateTime<Utc>, seconds: u64, header: &'static str) -> Result<DateTime<Utc>, PollError> {
    i64::try_from(seconds)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|delta| now.checked_add_signed(delta))
        .ok_or_else(|| PollError::InvalidHeader {
            header,
            reason: format!("{seconds} seconds is out of range"),
        })
}

/// The time `X-Poll-Interval` allows the next poll at, if the response has one.
pub(super) fn poll_interval_end(headers: &HeaderMap, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, PollError> {
    const NAME: &str = "x-poll-interval";
    number(headers, NAME)?
        .map(|seconds| after(now, seconds, NAME))
        .transpose()
}

/// How a 403 or 429 response reads.
#[derive(Debug)]
pub(super) enum Refusal {
    /// A rate limit: stop the round. `invalid` holds a header that could not be read on the way (the wait then falls
    /// back to the backoff).
    Limited {
        limit: RateLimit,
        invalid: Option<PollError>,
    },
    /// A permission error: this repository only, not retried.
    Forbidden(PollError),
}

/// Classifies a 403 or 429, as GitHub's "Rate limits for the REST API" page says to:
///
/// 1. `x-ratelimit-remaining: 0`: the primary limit; wait until `x-ratelimit-reset` (epoch seconds).
/// 2. `retry-after`: a secondary limit; wait that many seconds.
/// 3. a 429, or a 403 whose message names a secondary rate limit: back off from 60 s, doubling with each
///    secondary limit in a row (`strikes` so far).
/// 4. any other 403 (quota left): a permission error.
pub(super) fn classify_refusal(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
    strikes: u32,
) -> Refusal {
    let backoff_limit = |invalid: Option<PollError>| {
        let wait = backoff(strikes);
        Refusal::Limited {
            limit: RateLimit {
                until: now.checked_add_signed(wait).unwrap_or(now),
                kind: RateLimitKind::Backoff(u64::try_from(wait.num_seconds()).unwrap_or(60)),
            },
            invalid,
        }
    };
    let remaining = match number(headers, "x-ratelimit-remaining") {
        Ok(remaining) => remaining,
        Err(error) => return backoff_limit(Some(error)),
    };
    if remaining == Some(0) {
        const RESET: &str = "x-ratelimit-reset";
        let reset = number(headers, RESET).and_then(|reset| {
            reset
                .and_then(|seconds| i64::try_from(seconds).ok())
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
                .ok_or_else(|| PollError::InvalidHeader {
                    header: RESET,
                    reason: "missing or out of range while `x-ratelimit-remaining` is 0".to_owned(),
                })
        });
        return match reset {
            // A reset already past (clock skew) still ends the round; the next one may start right away.
            Ok(reset) => Refusal::Limited {
                limit: RateLimit {
                    until: reset.max(now),
                    kind: RateLimitKind::Primary,
                },
                invalid: None,
            },
            Err(error) => backoff_limit(Some(error)),
        };
    }
    const RETRY_AFTER: &str = "retry-after";
    match number(headers, RETRY_AFTER).and_then(|seconds| {
        seconds
            .map(|seconds| after(now, seconds, RETRY_AFTER).map(|until| (seconds, until)))
            .transpose()
    }) {
        Ok(Some((seconds, until))) => {
            return Refusal::Limited {
                limit: RateLimit {
                    until,
                    kind: RateLimitKind::RetryAfter(seconds),
                },
                invalid: None,
            };
        }
        Ok(None) => {}
        Err(error) => return backoff_limit(Some(error)),
    }
    let message = error_message(body);
    let secondary = message
        .as_deref()
        .is_some_and(|message| message.to_ascii_lowercase().contains("secondary rate limit"));
    if status == 429 || secondary {
        backoff_limit(None)
    } else {
        Refusal::Forbidden(PollError::Forbidden { message })
    }
}

/// The `message` of a GitHub error body (`{"message": "...", "documentation_url": "..."}`), if it has one.
pub(super) fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    serde_json::from_slice::<ErrorBody>(body).ok()?.message
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 15, 0, 0).unwrap()
    }

    #[test]
    fn numbers_are_strict() {
        let map = headers(&[("x-poll-interval", b"60"), ("retry-after", b"-1"), ("etag", b"\xff")]);
        assert_eq!(number(&map, "x-poll-interval"), Ok(Some(60)));
        assert_eq!(number(&map, "x-ratelimit-remaining"), Ok(None));
        let error = number(&map, "retry-after").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid header `retry-after`: expected a decimal number, got `-1`"
        );
        let error = text(&map, "etag").unwrap_err();
        assert_eq!(error.to_string(), "invalid header `etag`: not visible ASCII text");
        let map = headers(&[("x-poll-interval", b"99999999999999999999999")]);
        assert!(poll_interval_end(&map, now()).is_err());
    }

    #[test]
    fn huge_intervals_are_errors_not_panics() {
        let map = headers(&[("x-poll-interval", b"18446744073709551615")]);
        let error = poll_interval_end(&map, now()).unwrap_err();
        assert!(matches!(
            error,
            PollError::InvalidHeader {
                header: "x-poll-interval",
                ..
            }
        ));
    }

    #[test]
    fn primary_limit_without_a_reset_backs_off_and_names_the_header() {
        let map = headers(&[("x-ratelimit-remaining", b"0")]);
        let Refusal::Limited { limit, invalid } = classify_refusal(403, &map, b"", now(), 0) else {
            panic!("a rate limit");
        };
        assert_eq!(limit.kind, RateLimitKind::Backoff(60));
        assert!(matches!(
            invalid,
            Some(PollError::InvalidHeader {
                header: "x-ratelimit-reset",
                ..
            })
        ));
    }

    #[test]
    fn secondary_limit_message_on_a_403_with_quota_left() {
        let map = headers(&[("x-ratelimit-remaining", b"4000")]);
        let body = br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes."}"#;
        let Refusal::Limited { limit, .. } = classify_refusal(403, &map, body, now(), 2) else {
            panic!("a rate limit");
        };
        assert_eq!(limit.kind, RateLimitKind::Backoff(240));
        assert_eq!(limit.until, now() + TimeDelta::seconds(240));
    }

    #[test]
    fn forbidden_keeps_the_message() {
        let map = headers(&[("x-ratelimit-remaining", b"4999")]);
        let body = br#"{"message":"Resource not accessible by integration"}"#;
        let Refusal::Forbidden(error) = classify_refusal(403, &map, body, now(), 0) else {
            panic!("a permission error");
        };
        assert_eq!(
            error,
            PollError::Forbidden {
                message: Some("Resource not accessible by integration".into())
            }
        );
        assert!(matches!(
            classify_refusal(403, &HeaderMap::new(), b"\xff", now(), 0),
            Refusal::Forbidden(_)
        ));
    }
}
