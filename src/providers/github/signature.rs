//! [`GithubVerifier`]: GitHub's `X-Hub-Signature-256` webhook signatures.

use chrono::{DateTime, Utc};
use http::HeaderMap;

use hmac::{Hmac, KeyInit, Mac};

use crate::webhook::{self as check, DEFAULT_MAX_BODY_LEN, Header, hmac_sha256_matches};
use crate::webhook::{VerifiedDelivery, WebhookError, WebhookSecret, WebhookVerifier};

const SIGNATURE_256: Header = Header::credential("X-Hub-Signature-256", "x-hub-signature-256");
const SIGNATURE_SHA1: Header = Header::credential("X-Hub-Signature", "x-hub-signature");
// Not covered by the signature: they describe the delivery, they do not authenticate it.
const EVENT: Header = Header::metadata("X-GitHub-Event", "x-github-event");
const DELIVERY: Header = Header::metadata("X-GitHub-Delivery", "x-github-delivery");

/// Verifies GitHub webhook deliveries: `X-Hub-Signature-256: sha256=<64 hex>` is the HMAC-SHA256 of the raw body
/// under the webhook's secret.
///
/// The hex is decoded and its length checked, then compared in constant time. Bodies over 25 MB (GitHub's cap)
/// are refused before any hashing. `X-GitHub-Event` and `X-GitHub-Delivery` are required (the delivery id stays
/// the same on redelivery). GitHub sends no timestamp: replay protection is the store's dedupe on `source_id` (below).
///
/// # What the signature covers
///
/// The body bytes, and nothing else: not `X-GitHub-Delivery`, not `X-GitHub-Event`, not a time. Anyone who captured
/// one delivery can resend its body, correctly signed, under a fresh delivery id or another event name, at any time.
/// So [`GithubConverter`](super::GithubConverter) derives a webhook event's `source_id` from the body's SHA-256,
/// never from the delivery id: the resend is a duplicate of the first delivery (storage keeps events unique per
/// source id), and a body resent as another event either lacks that event's fields (refused) or gives the same
/// source id.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use http::HeaderMap;
/// use spark_integrations::providers::github::GithubVerifier;
/// use spark_integrations::webhook::{WebhookError, WebhookSecret, WebhookVerifier};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("X-GitHub-Event", "push".parse()?);
/// headers.insert("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse()?);
/// headers.insert("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".parse()?);
/// let secrets = [WebhookSecret::new("It's a Secret to Everybody")];
/// let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
///
/// let verifier = GithubVerifier::new();
/// let delivery = verifier.verify(&secrets, &headers, b"Hello, World!", now)?;
/// assert_eq!(delivery.event, Some("push"));
/// assert_eq!(
///     verifier.verify(&secrets, &headers, b"Hello, World?", now),
///     Err(WebhookError::SignatureMismatch { header: "X-Hub-Signature-256" })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GithubVerifier {
    legacy_sha1: bool,
    max_body_len: usize,
}

impl GithubVerifier {
    /// A verifier that accepts only `X-Hub-Signature-256`, for bodies up to 25 MB.
    pub const fn new() -> Self {
        Self {
            legacy_sha1: false,
            max_body_len: DEFAULT_MAX_BODY_LEN,
        }
    }

    /// The same verifier, also accepting the legacy `X-Hub-Signature: sha1=<40 hex>` when, and only when,
    /// `X-Hub-Signature-256` is absent. SHA-1 is weak: opt in only for senders that cannot send SHA-256.
    #[must_use]
    pub const fn allow_legacy_sha1(mut self) -> Self {
        self.legacy_sha1 = true;
        self
    }

    /// The same verifier, refusing bodies longer than `max_body_len` bytes before hashing them.
    #[must_use]
    pub const fn with_max_body_len(mut self, max_body_len: usize) -> Self {
        self.max_body_len = max_body_len;
        self
    }
}

impl Default for GithubVerifier {
    fn default() -> Self {
        Self::new()
    }
}

/// A signature as sent, decoded.
enum Signature {
    Sha256([u8; 32]),
    Sha1([u8; 20]),
}

impl GithubVerifier {
    /// The signature to check: `X-Hub-Signature-256`, or the legacy one if opted in and the former is absent.
    fn signature(&self, headers: &HeaderMap) -> Result<Signature, WebhookError> {
        if let Some(value) = check::optional_header(headers, &SIGNATURE_256)? {
            const REASON: &str = "expected `sha256=` and 64 hex digits";
            let hex = value.strip_prefix("sha256=").ok_or(SIGNATURE_256.malformed(REASON))?;
            return check::hex_digest(hex, &SIGNATURE_256, REASON).map(Signature::Sha256);
        }
        if self.legacy_sha1
            && let Some(value) = check::optional_header(headers, &SIGNATURE_SHA1)?
        {
            const REASON: &str = "expected `sha1=` and 40 hex digits";
            let hex = value.strip_prefix("sha1=").ok_or(SIGNATURE_SHA1.malformed(REASON))?;
            return check::hex_digest(hex, &SIGNATURE_SHA1, REASON).map(Signature::Sha1);
        }
        Err(WebhookError::MissingHeader {
            header: SIGNATURE_256.name(),
            role: SIGNATURE_256.role(),
        })
    }
}

impl WebhookVerifier for GithubVerifier {
    fn verify<'a>(
        &self,
        secrets: &[WebhookSecret],
        headers: &'a HeaderMap,
        body: &'a [u8],
        _now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery<'a>, WebhookError> {
        // First, before anything touches the body: an oversized body is never hashed.
        check::check_body_len(body, self.max_body_len)?;
        let keys = check::secret_keys(secrets)?;
        let signature = self.signature(headers)?;
        let event = check::required_header(headers, &EVENT)?;
        let delivery_id = check::required_header(headers, &DELIVERY)?;

        let signed = match &signature {
            Signature::Sha256(tag) => hmac_sha256_matches(&keys, &[body], &[tag]),
            Signature::Sha1(tag) => keys.iter().any(|key| {
                let mut mac =
                    <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
                mac.update(body);
                // Checks the length and compares in constant time.
                mac.verify_slice(tag).is_ok()
            }),
        };
        if !signed {
            let header = match signature {
                Signature::Sha256(_) => SIGNATURE_256.name(),
                Signature::Sha1(_) => SIGNATURE_SHA1.name(),
            };
            return Err(WebhookError::SignatureMismatch { header });
        }

        let mut delivery = VerifiedDelivery::new(body);
        delivery.event = Some(event);
        delivery.delivery_id = Some(delivery_id);
        Ok(delivery)
    }
}
