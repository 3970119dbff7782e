//! Checks shared by the verifiers, built in or not: body size, single-valued headers, strict decimal timestamps and
//! their freshness, fixed-length hex signatures, usable secrets. Each failure is a [`WebhookError`] naming the
//! header, with the header's [`HeaderRole`] deciding whether the delivery is refused as unauthenticated or as
//! malformed.

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName};

use super::{WebhookError, WebhookSecret};

/// How far a signed timestamp may be from `now` by default, in seconds (Slack's and Standard Webhooks' 5 minutes).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// The largest body the verifiers accept by default: 25 MB (25,000,000 bytes), GitHub's cap on webhook payloads.
/// Larger bodies are refused before any hashing; hosts should refuse them before reading them, by `Content-Length`.
pub const DEFAULT_MAX_BODY_LEN: usize = 25_000_000;

/// What a header does in a signature scheme, which decides how a problem with it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderRole {
    /// It authenticates the delivery: a signature, a signed timestamp or id, a shared token. A delivery whose
    /// credential is missing, repeated or malformed is *unauthenticated* (401).
    Credential,
    /// It describes the delivery without authenticating it (GitHub's `X-GitHub-Event`, Slack's
    /// `X-Slack-Retry-Num`). A problem with it makes the delivery *malformed* (400).
    Metadata,
}

/// A header a scheme reads: the name errors show, as the provider documents it, its [`HeaderRole`], and the parsed
/// lookup key.
///
/// Declare a scheme's headers as constants; the key is the name in lowercase, checked at compile time:
///
/// ```
/// use spark_integrations::webhook::Header;
///
/// const TOKEN: Header = Header::credential("X-Acme-Token", "x-acme-token");
/// const EVENT: Header = Header::metadata("X-Acme-Event", "x-acme-event");
/// assert_eq!(TOKEN.name(), "X-Acme-Token");
/// ```
///
/// Parsing the key once, at compile time, spares every request a header-name parse per header (about 7 % of
/// verifying a 1 KiB body).
#[derive(Debug, Clone)]
pub struct Header {
    name: &'static str,
    role: HeaderRole,
    key: HeaderName,
}

impl Header {
    /// A header that authenticates the delivery. `key` must be `name` in lowercase.
    ///
    /// # Panics
    ///
    /// When `key` is not `name` in lowercase or not a valid header name: at compile time in a `const`.
    pub const fn credential(name: &'static str, key: &'static str) -> Self {
        Self::new(name, key, HeaderRole::Credential)
    }

    /// A header that describes the delivery without authenticating it. `key` must be `name` in lowercase.
    ///
    /// # Panics
    ///
    /// As [`credential`](Self::credential).
    pub const fn metadata(name: &'static str, key: &'static str) -> Self {
        Self::new(name, key, HeaderRole::Metadata)
    }

    const fn new(name: &'static str, key: &'static str, role: HeaderRole) -> Self {
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
            role,
            key: HeaderName::from_static(key),
        }
    }

    /// The name as the provider writes it (`X-Hub-Signature-256`), shown in errors.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// What the header does in its scheme.
    pub const fn role(&self) -> HeaderRole {
        self.role
    }

    /// The error for a value of this header that does not have the shape the scheme prescribes.
    pub const fn malformed(&self, reason: &'static str) -> WebhookError {
        WebhookError::MalformedHeader {
            header: self.name,
            role: self.role,
            reason,
        }
    }
}

/// Refuses a body longer than `limit` ([`WebhookError::BodyTooLarge`]). Verifiers call this first, so an oversized
/// body is never hashed.
pub fn check_body_len(body: &[u8], limit: usize) -> Result<(), WebhookError> {
    if body.len() > limit {
        return Err(WebhookError::BodyTooLarge { len: body.len(), limit });
    }
    Ok(())
}

/// The secrets as MAC keys or tokens (their UTF-8 bytes), refusing an empty list ([`WebhookError::NoSecret`]) or an
/// empty secret ([`WebhookError::InvalidSecret`]): both are the receiver's configuration errors.
pub fn secret_keys(secrets: &[WebhookSecret]) -> Result<Vec<&[u8]>, WebhookError> {
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

/// The value of a header that may appear at most once, as visible ASCII; a repeated or non-ASCII header is an
/// error of its [`HeaderRole`].
pub fn optional_header<'a>(headers: &'a HeaderMap, header: &Header) -> Result<Option<&'a str>, WebhookError> {
    let mut values = headers.get_all(&header.key).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(WebhookError::DuplicateHeader {
            header: header.name,
            role: header.role,
        });
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| header.malformed("not visible ASCII"))
}

/// The value of a header that must appear exactly once, as visible ASCII; its absence is an error of its
/// [`HeaderRole`].
pub fn required_header<'a>(headers: &'a HeaderMap, header: &Header) -> Result<&'a str, WebhookError> {
    optional_header(headers, header)?.ok_or(WebhookError::MissingHeader {
        header: header.name,
        role: header.role,
    })
}

/// A Unix timestamp in seconds, read from `header`, written as a strict decimal: ASCII digits only (no sign,
/// space, exponent or fraction), at least one, and within `i64`.
pub fn unix_seconds(value: &str, header: &Header) -> Result<i64, WebhookError> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(header.malformed("expected a Unix time in seconds as decimal digits"));
    }
    value.parse().map_err(|_| header.malformed("Unix time out of range"))
}

/// Refuses a timestamp further than `tolerance_secs` from `now`, in either direction
/// ([`WebhookError::StaleTimestamp`], unauthenticated: a replay or a badly skewed clock).
pub fn fresh(timestamp: i64, now: DateTime<Utc>, tolerance_secs: u64, header: &Header) -> Result<(), WebhookError> {
    let age = i128::from(now.timestamp()) - i128::from(timestamp);
    if age.unsigned_abs() > u128::from(tolerance_secs) {
        let age_secs = i64::try_from(age).unwrap_or(if age < 0 { i64::MIN } else { i64::MAX });
        return Err(WebhookError::StaleTimestamp {
            header: header.name,
            age_secs,
            tolerance_secs,
        });
    }
    Ok(())
}

/// Decodes exactly `N` bytes from hex (either case) read from `header`; any other length or a non-hex digit is
/// malformed, for `reason`.
pub fn hex_digest<const N: usize>(hex: &str, header: &Header, reason: &'static str) -> Result<[u8; N], WebhookError> {
    let mut digest = [0; N];
    hex::decode_to_slice(hex, &mut digest).map_err(|_| header.malformed(reason))?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn header_lookup_ignores_case_and_refuses_duplicates() {
        let mut headers = HeaderMap::new();
        let event = Header::metadata("X-GitHub-Event", "x-github-event");
        headers.append("x-github-event", "push".parse().unwrap());
        assert_eq!(optional_header(&headers, &event), Ok(Some("push")));
        headers.append("X-GitHub-Event", "ping".parse().unwrap());
        assert_eq!(
            optional_header(&headers, &event),
            Err(WebhookError::DuplicateHeader {
                header: "X-GitHub-Event",
                role: HeaderRole::Metadata
            })
        );
    }

    #[test]
    fn freshness_saturates_far_away_timestamps() {
        let now = Utc.timestamp_opt(0, 0).unwrap();
        let t = Header::credential("t", "t");
        assert_eq!(
            fresh(i64::MAX, now, 300, &t),
            Err(WebhookError::StaleTimestamp {
                header: "t",
                age_secs: -i64::MAX,
                tolerance_secs: 300
            })
        );
        assert!(fresh(300, now, 300, &t).is_ok());
        assert!(fresh(-300, now, 300, &t).is_ok());
    }

    #[test]
    fn timestamps_are_strict_decimals() {
        let t = Header::credential("t", "t");
        assert_eq!(unix_seconds("1531420618", &t), Ok(1_531_420_618));
        assert_eq!(unix_seconds("0", &t), Ok(0));
        for bad in ["", "+1", "-1", " 1", "1 ", "1e9", "1.0", "99999999999999999999", "١"] {
            assert!(
                matches!(
                    unix_seconds(bad, &t),
                    Err(WebhookError::MalformedHeader {
                        header: "t",
                        role: HeaderRole::Credential,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }
}
