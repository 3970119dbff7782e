//! [`SlackVerifier`]: Slack's `v0` request signatures.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::webhook::{self as check, DEFAULT_MAX_BODY_LEN, DEFAULT_TOLERANCE_SECS, Header, hmac_sha256_matches};
use crate::webhook::{VerifiedDelivery, WebhookError, WebhookSecret, WebhookVerifier};

const TIMESTAMP: Header = Header::credential("X-Slack-Request-Timestamp", "x-slack-request-timestamp");
const SIGNATURE: Header = Header::credential("X-Slack-Signature", "x-slack-signature");
const RETRY_NUM: Header = Header::metadata("X-Slack-Retry-Num", "x-slack-retry-num");

/// Verifies Slack requests: `X-Slack-Signature: v0=<64 hex>` is the HMAC-SHA256 of `v0:{timestamp}:{raw body}`
/// under the Slack app's signing secret, where the timestamp is `X-Slack-Request-Timestamp`.
///
/// The signing secret belongs to the Slack app (the Slack plugin's configuration), not to the integration's webhook
/// URL: pass it as the secret. The timestamp must be a plain decimal within 300 s of `now` (configurable). The
/// prefix and the body are fed to the MAC in pieces; the body is never copied.
///
/// The verifier never reads the body beyond hashing it: what it returns comes from the headers
/// ([`Delivery::retry_num`](crate::webhook::Delivery::retry_num) from `X-Slack-Retry-Num`). The
/// [`SlackConverter`](super::SlackConverter) is the one reader of the body: it yields the `challenge` of a
/// `url_verification` as [`Conversion::Challenge`](crate::convert::Conversion::Challenge), and an `event_callback`'s
/// `event_id` becomes its events' `source_id`, so a retry (same `event_id`, with `X-Slack-Retry-Num`) is a
/// duplicate in the store.
///
/// # What the signature covers
///
/// The timestamp and the body, so a replay is refused once the timestamp is stale and, within the window, is a
/// redelivery of the same `event_id` (which is in the signed body). `X-Slack-Retry-Num` and
/// `X-Slack-Retry-Reason` are not covered: they are read for information only. Bodies that are not JSON objects
/// (slash commands are form-encoded, or the JSON is malformed) pass verification alike; the converter reports what
/// is wrong with them.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use http::HeaderMap;
/// use spark_integrations::convert::{Conversion, ConvertContext, Converter};
/// use spark_integrations::providers::slack::{SlackConverter, SlackVerifier};
/// use spark_integrations::webhook::{intake, WebhookSecret};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("X-Slack-Request-Timestamp", "1547933148".parse()?);
/// headers.insert("X-Slack-Signature", "v0=91177eea054d65de0fc0f9b4ec57714307bc0ce2c5f3bf0d28b1b720c8f92ba2".parse()?);
/// let body = br#"{"token":"X34FAqCu8tmGEkEEpoDncnja","challenge":"P7sFXA4o3HV2hTx4zb4zcQ9yrvuQs8pDh6EacOxmMRj0tJaXfQFF","type":"url_verification"}"#;
/// let signing_secret = [WebhookSecret::new("ade6ca762ade4db0e7d31484cd616b9c")];
/// let now = Utc.timestamp_opt(1547933148 + 12, 0).unwrap();
///
/// let delivery = intake(&SlackVerifier::new(), &signing_secret, &headers, body, now)?;
/// // The converter reads the body, once: a `url_verification` is a challenge to answer with `200`.
/// let conversion = SlackConverter.convert(delivery.payload, &ConvertContext::new(now))?;
/// assert_eq!(conversion, Conversion::Challenge("P7sFXA4o3HV2hTx4zb4zcQ9yrvuQs8pDh6EacOxmMRj0tJaXfQFF".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlackVerifier {
    tolerance_secs: u64,
    max_body_len: usize,
}

impl SlackVerifier {
    /// A verifier with Slack's recommended 300 s tolerance and a 25 MB body limit.
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

impl Default for SlackVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl WebhookVerifier for SlackVerifier {
    fn verify<'a>(
        &self,
        secrets: &[WebhookSecret],
        headers: &'a HeaderMap,
        body: &'a [u8],
        now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery<'a>, WebhookError> {
        check::check_body_len(body, self.max_body_len)?;
        let keys = check::secret_keys(secrets)?;
        let timestamp = check::required_header(headers, &TIMESTAMP)?;
        let signature = check::required_header(headers, &SIGNATURE)?;
        const REASON: &str = "expected `v0=` and 64 hex digits";
        let hex = signature.strip_prefix("v0=").ok_or(SIGNATURE.malformed(REASON))?;
        let tag: [u8; 32] = check::hex_digest(hex, &SIGNATURE, REASON)?;
        let retry_num = check::optional_header(headers, &RETRY_NUM)?
            .map(retry_num)
            .transpose()?;
        check::fresh(
            check::unix_seconds(timestamp, &TIMESTAMP)?,
            now,
            self.tolerance_secs,
            &TIMESTAMP,
        )?;

        let parts = [b"v0:".as_slice(), timestamp.as_bytes(), b":", body];
        if !hmac_sha256_matches(&keys, &parts, &[&tag]) {
            return Err(WebhookError::SignatureMismatch {
                header: SIGNATURE.name(),
            });
        }

        let mut delivery = VerifiedDelivery::new(body);
        delivery.retry_num = retry_num;
        Ok(delivery)
    }
}

fn retry_num(value: &str) -> Result<u32, WebhookError> {
    let malformed = || RETRY_NUM.malformed("expected a decimal count");
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(malformed());
    }
    value.parse().map_err(|_| malformed())
}
