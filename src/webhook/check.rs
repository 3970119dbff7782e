//! Checks shared by the verifiers: body size, single-valued headers, strict decimal timestamps and their freshness,
//! fixed-length hex signatures. Each failure is a [`WebhookError`] naming the header.

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName};

use super::{WebhookError, WebhookSecret};

/// How far a signed timestamp may be from `now` by default, in seconds (Slack's and Standard Webhooks' 5 minutes).
pub(crate) const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// The largest body the verifiers accept by default: 25 MB (25,000,000 bytes), GitHub's cap on webhook payloads.
/// Larger bodies are refused before any hashing; hosts should refuse them before reading them, by `Content-Length`.
pub const DEFAULT_MAX_BODY_LEN: usize = 25_000_000;

/// A header a scheme reads: the name errors show, as the provider documents it, and the parsed lookup key.
///
/// Parsing the key once, at compile time, spares every request three header-name parses (about 7 % of verifying a
/// 1 KiB body).
#[derive(Debug)]
pub(crate) struct Header {
    /// The name as the provider writes it (`X-Hub-Signature-256`), shown in errors.
    pub(crate) name: &'static str,
    key: HeaderName,
}

impl Header {
    /// The header `name`, looked up by `key`, which must be `name` in lowercase (checked at compile time).
    pub(crate) const fn new(name: &'static str, key: &'static str) -> Self {
        let (name_bytes, key_bytes) = (name.as_bytes(), key.as_bytes());
        assert!(name_bytes.len() == key_bytes.len(), "the key is the name in lowercase");
        let mut index = 0;
        while index < name_bytes.len() {
            assert!(
                name_bytes[index].to_ascii_lowercase() == key_bytes[index],
                "the key is the name in lowercase"
            );
            index += 1;
        }
        Self {
            name,
            key: HeaderName::from_static(key),
        }
    }
}

/// Refuses a body longer than `limit`. Verifiers call this first, so an oversized body is never hashed.
pub(crate) fn body_within(body: &[u8], limit: usize) -> Result<(), WebhookError> {
    if body.len() > limit {
        return Err(WebhookError::BodyTooLarge { len: body.len(), limit });
    }
    Ok(())
}

/// The secrets as MAC keys (their UTF-8 bytes), refusing an empty list or an empty secret.
pub(crate) fn secret_keys(secrets: &[WebhookSecret]) -> Result<Vec<&[u8]>, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    secrets
        .iter()
        .map(|secret| match secret.expose_secret().as_bytes() {
            [] => Err(WebhookError::InvalidSecret { reason: "empty" }),
            key => Ok(key),
        })
        .collect()
}

/// The value of a header that may appear at most once, as visible ASCII.
pub(crate) fn optional_header<'a>(headers: &'a HeaderMap, header: &Header) -> Result<Option<&'a str>, WebhookError> {
    let mut values = headers.get_all(&header.key).iter();
    let header = header.name;
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(WebhookError::DuplicateHeader { header });
    }
    match value.to_str() {
        Ok(value) => Ok(Some(value)),
        Err(_) => Err(WebhookError::MalformedHeader {
            header,
            reason: "not visible ASCII",
        }),
    }
}

/// The value of a header that must appear exactly once, as visible ASCII.
pub(crate) fn required_header<'a>(headers: &'a HeaderMap, header: &Header) -> Result<&'a str, WebhookError> {
    optional_header(headers, header)?.ok_or(WebhookError::MissingHeader { header: header.name })
}

/// A Unix timestamp in seconds written as a strict decimal: ASCII digits only (no sign, space, exponent or
/// fraction), at least one, and within `i64`.
pub(crate) fn unix_seconds(value: &str, header: &'static str) -> Result<i64, WebhookError> {
    let malformed = |reason| WebhookError::MalformedHeader { header, reason };
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(malformed("expected a Unix time in seconds as decimal digits"));
    }
    value.parse().map_err(|_| malformed("Unix time out of range"))
}

/// Refuses a timestamp further than `tolerance_secs` from `now`, in either direction.
pub(crate) fn fresh(
    timestamp: i64,
    now: DateTime<Utc>,
    tolerance_secs: u64,
    header: &'static str,
) -> Result<(), WebhookError> {
    let age = i128::from(now.timestamp()) - i128::from(timestamp);
    if age.unsigned_abs() > u128::from(tolerance_secs) {
        let age_secs = i64::try_from(age).unwrap_or(if age < 0 { i64::MIN } else { i64::MAX });
        return Err(WebhookError::StaleTimestamp {
            header,
            age_secs,
            tolerance_secs,
        });
    }
    Ok(())
}

/// Decodes exactly `N` bytes from hex (either case); any other length or a non-hex digit is malformed.
pub(crate) fn hex_digest<const N: usize>(
    hex: &str,
    header: &'static str,
    reason: &'static str,
) -> Result<[u8; N], WebhookError> {
    let mut digest = [0; N];
    hex::decode_to_slice(hex, &mut digest).map_err(|_| WebhookError::MalformedHeader { header, reason })?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn header_lookup_ignores_case_and_refuses_duplicates() {
        let mut headers = HeaderMap::new();
        let event = Header::new("X-GitHub-Event", "x-github-event");
        headers.append("x-github-event", "push".parse().unwrap());
        assert_eq!(optional_header(&headers, &event), Ok(Some("push")));
        headers.append("X-GitHub-Event", "ping".parse().unwrap());
        assert_eq!(
            optional_header(&headers, &event),
            Err(WebhookError::DuplicateHeader {
                header: "X-GitHub-Event"
            })
        );
    }

    #[test]
    fn freshness_saturates_far_away_timestamps() {
        let now = Utc.timestamp_opt(0, 0).unwrap();
        assert_eq!(
            fresh(i64::MAX, now, 300, "t"),
            Err(WebhookError::StaleTimestamp {
                header: "t",
                age_secs: -i64::MAX,
                tolerance_secs: 300
            })
        );
        assert!(fresh(300, now, 300, "t").is_ok());
        assert!(fresh(-300, now, 300, "t").is_ok());
    }

    #[test]
    fn timestamps_are_strict_decimals() {
        assert_eq!(unix_seconds("1531420618", "t"), Ok(1_531_420_618));
        assert_eq!(unix_seconds("0", "t"), Ok(0));
        for bad in ["", "+1", "-1", " 1", "1 ", "1e9", "1.0", "99999999999999999999", "١"] {
            assert!(
                matches!(
                    unix_seconds(bad, "t"),
                    Err(WebhookError::MalformedHeader { header: "t", .. })
                ),
                "{bad:?}"
            );
        }
    }
}
