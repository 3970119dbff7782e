//! [Standard Webhooks](https://www.standardwebhooks.com/): the generic scheme any plugin can reuse.
//!
//! `webhook-signature` holds a space-separated list of `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}`,
//! keyed with the base64-decoded part of a `whsec_...` secret. The timestamp must be within the tolerance of `now`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::HeaderMap;

use super::check::{self, DEFAULT_MAX_BODY_LEN, DEFAULT_TOLERANCE_SECS, Header};
use super::mac::hmac_sha256_matches;
use super::{VerifiedDelivery, WebhookError, WebhookSecret, WebhookVerifier};

// All three are signed (the id and timestamp are part of the signed content), so each authenticates the delivery.
const ID: Header = Header::credential("webhook-id", "webhook-id");
const TIMESTAMP: Header = Header::credential("webhook-timestamp", "webhook-timestamp");
const SIGNATURE: Header = Header::credential("webhook-signature", "webhook-signature");
/// The prefix Standard Webhooks secrets carry before their base64 key.
const SECRET_PREFIX: &str = "whsec_";

/// Verifies [Standard Webhooks](https://www.standardwebhooks.com/) deliveries (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`).
///
/// Secrets are `whsec_<base64 key>` (the prefix is optional). The delivery passes when any `v1,` entry of
/// `webhook-signature` matches under any secret; entries of other versions and undecodable entries are skipped,
/// so `v1,<bad> v1,<good>` passes. The `webhook-id` is the delivery id. The signature covers the id, the timestamp
/// and the body, so neither can be changed on a replay, and a stale timestamp is refused. Timestamps further than 300 s from `now`
/// (configurable) are refused.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use http::HeaderMap;
/// use spark_integrations::webhook::{StandardWebhooksVerifier, WebhookSecret, WebhookVerifier};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".parse()?);
/// headers.insert("webhook-timestamp", "1649367553".parse()?);
/// headers.insert("webhook-signature", "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=".parse()?);
/// let body = br#"{"email":"test@example.com","username":"test_user"}"#;
/// let secrets = [WebhookSecret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")];
/// let now = Utc.timestamp_opt(1649367553, 0).unwrap();
///
/// let delivery = StandardWebhooksVerifier::new().verify(&secrets, &headers, body, now)?;
/// assert_eq!(delivery.delivery_id, Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardWebhooksVerifier {
    tolerance_secs: u64,
    max_body_len: usize,
}

impl StandardWebhooksVerifier {
    /// A verifier with a 300 s tolerance and a 25 MB body limit.
    pub const fn new() -> Self {
        Self {
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            max_body_len: DEFAULT_MAX_BODY_LEN,
        }
    }

    /// The same verifier, accepting timestamps up to `tolerance` away from `now` (whole seconds).
    #[must_use]
    pub const fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance_secs = tolerance.as_secs();
        self
    }

    /// The same verifier, refusing bodies longer than `max_body_len` bytes before hashing them.
    #[must_use]
    pub const fn with_max_body_len(mut self, max_body_len: usize) -> Self {
        self.max_body_len = max_body_len;
        self
    }
}

impl Default for StandardWebhooksVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl StandardWebhooksVerifier {
    /// Whether `secret` can verify deliveries: base64 after an optional `whsec_` prefix, not empty. For checking
    /// configuration at start-up rather than at the first delivery.
    ///
    /// ```
    /// use spark_integrations::webhook::{StandardWebhooksVerifier, WebhookSecret};
    ///
    /// assert!(StandardWebhooksVerifier::check_secret(&WebhookSecret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")).is_ok());
    /// assert!(StandardWebhooksVerifier::check_secret(&WebhookSecret::new("whsec_not*base64")).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`WebhookError::InvalidSecret`] saying what is wrong (never the secret).
    pub fn check_secret(secret: &WebhookSecret) -> Result<(), WebhookError> {
        decode_secret(secret).map(drop)
    }
}

impl WebhookVerifier for StandardWebhooksVerifier {
    fn verify<'a>(
        &self,
        secrets: &[WebhookSecret],
        headers: &'a HeaderMap,
        body: &'a [u8],
        now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery<'a>, WebhookError> {
        check::check_body_len(body, self.max_body_len)?;
        let keys = decode_secrets(secrets)?;
        let id = check::required_header(headers, &ID)?;
        let timestamp = check::required_header(headers, &TIMESTAMP)?;
        let signature = check::required_header(headers, &SIGNATURE)?;
        check::fresh(
            check::unix_seconds(timestamp, &TIMESTAMP)?,
            now,
            self.tolerance_secs,
            &TIMESTAMP,
        )?;

        let mut any_v1 = false;
        let candidates: Vec<Vec<u8>> = signature
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .inspect(|_| any_v1 = true)
            .filter_map(|encoded| STANDARD.decode(encoded).ok())
            .collect();
        if !any_v1 {
            return Err(SIGNATURE.malformed("expected space-separated `v1,<base64>` signatures"));
        }
        let tags: Vec<&[u8]> = candidates.iter().map(Vec::as_slice).collect();
        let parts = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        if !hmac_sha256_matches(&keys, &parts, &tags) {
            return Err(WebhookError::SignatureMismatch {
                header: SIGNATURE.name(),
            });
        }

        let mut delivery = VerifiedDelivery::new(body);
        delivery.delivery_id = Some(id);
        Ok(delivery)
    }
}

/// The MAC keys of `whsec_` secrets: the base64 after the (optional) prefix.
fn decode_secrets(secrets: &[WebhookSecret]) -> Result<Vec<Vec<u8>>, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    secrets.iter().map(decode_secret).collect()
}

/// The MAC key of one `whsec_` secret.
fn decode_secret(secret: &WebhookSecret) -> Result<Vec<u8>, WebhookError> {
    let encoded = secret.expose_secret();
    let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
    match STANDARD.decode(encoded) {
        Ok(key) if key.is_empty() => Err(WebhookError::InvalidSecret { reason: "empty" }),
        Ok(key) => Ok(key),
        Err(_) => Err(WebhookError::InvalidSecret {
            reason: "not base64 after the `whsec_` prefix",
        }),
    }
}
