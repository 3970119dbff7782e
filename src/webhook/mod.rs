//! Webhook intake: check that a delivery was signed by the provider, then hand its payload to a converter.
//!
//! Everything here is pure: the secrets, the request's [`HeaderMap`], its raw body bytes and `now` go in; a verdict
//! comes out. The host reads the request, finds the integration by its routing secret, and calls [`intake`] with the
//! plugin's [`WebhookVerifier`] (or [`plugin::intake_for`](crate::plugin::intake_for) with the plugin) and the
//! *provider's* signing secret(s):
//!
//! 1. [`intake`] runs the verifier, which checks the signature and reads the headers, never the body. A
//!    [`WebhookError`] means: answer with [`WebhookError::status`] (401, 400 or 413; 500 when the host's own secrets
//!    are unusable) and stop.
//! 2. Convert the [`Delivery::payload`] it answers with the plugin's [`Converter`](crate::convert::Converter),
//!    the one reader of the body, and store the result (see [`store`](crate::store)). A
//!    [`Conversion::Challenge`](crate::convert::Conversion::Challenge) (Slack's `url_verification`) is answered with
//!    `200` and the challenge as the body, and nothing is stored.
//!
//! A redelivery needs no bookkeeping of its own: the converters derive each event's `source_id` from what stays
//! the same across retries (GitHub: the SHA-256 of the body; Slack: the body's `event_id`; GitLab: the SHA-256 of
//! the body), and the stores keep one event per integration and `source_id`, so storing a redelivery reports
//! duplicates instead of inserting. Answer it with `2xx` like the first delivery. A converter for a Standard
//! Webhooks provider can take the signed `webhook-id` ([`Payload::Webhook`]'s `delivery_id`) as its `source_id`.
//! [`Delivery::retry_num`] says how many times the provider retried, for logging.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use http::HeaderMap;
//! use spark_integrations::convert::Payload;
//! use spark_integrations::providers::github::GithubVerifier;
//! use spark_integrations::webhook::{intake, WebhookSecret};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("X-GitHub-Event", "ping".parse()?);
//! headers.insert("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse()?);
//! headers.insert(
//!     "X-Hub-Signature-256",
//!     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".parse()?,
//! );
//! let body = b"Hello, World!";
//! let secrets = [WebhookSecret::new("It's a Secret to Everybody")];
//! let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
//!
//! let delivery = intake(&GithubVerifier::new(), &secrets, &headers, body, now)?;
//! let Payload::Webhook { event, delivery_id, body } = delivery.payload else { unreachable!() };
//! assert_eq!((event, body), (Some("ping"), &b"Hello, World!"[..]));
//! assert_eq!(delivery_id, Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The verifiers: [`GithubVerifier`](crate::providers::github::GithubVerifier) (`X-Hub-Signature-256`),
//! [`SlackVerifier`](crate::providers::slack::SlackVerifier) (`v0` signatures) and the generic
//! [`StandardWebhooksVerifier`] for any provider that follows [Standard Webhooks](https://www.standardwebhooks.com/).

mod check;
mod error;
mod mac;
mod standard;

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::convert::Payload;
use crate::secret::secret_type;

pub use check::{
    DEFAULT_MAX_BODY_LEN, DEFAULT_TOLERANCE_SECS, Header, HeaderRole, check_body_len, fresh, hex_digest,
    optional_header, required_header, secret_keys, unix_seconds,
};
pub use error::{RefusalKind, WebhookError};
pub use mac::{hmac_sha256_matches, token_matches_any};
pub use standard::StandardWebhooksVerifier;

secret_type! {
    /// A webhook signing secret: GitHub's per-webhook secret, a Slack app's signing secret, a Standard Webhooks
    /// `whsec_...` secret. `Debug` and `Display` print `[redacted]`.
    ///
    /// This is the secret the *provider* signs with, never the routing secret in the host's webhook URL.
    pub struct WebhookSecret;
}

/// Checks that a webhook delivery was signed by its provider and reads what the provider put beside the body.
///
/// Each provider (or signature scheme) implements it; plugins hand one out as `&dyn WebhookVerifier`, and
/// [`intake`] drives it. Implementations hold configuration only (tolerances, opt-ins), never secrets, and must not
/// panic on any input.
pub trait WebhookVerifier: Send + Sync {
    /// Verifies one delivery against `secrets` (any one of them may have signed it: pass the old and the new
    /// secret while rotating) at time `now`.
    ///
    /// Checks that cost nothing come first: the body size (an oversized body is never hashed), then the headers'
    /// shape and the timestamp's freshness, then the MAC.
    ///
    /// # Errors
    ///
    /// A [`WebhookError`] naming the offending header, or saying the body is too large, the signature does not
    /// hold, or the secrets are unusable.
    fn verify<'a>(
        &self,
        secrets: &[WebhookSecret],
        headers: &'a HeaderMap,
        body: &'a [u8],
        now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery<'a>, WebhookError>;
}

/// A delivery whose signature holds, with what the provider's headers say about it. Borrows from the request.
///
/// Built by [`WebhookVerifier`]s: start from [`VerifiedDelivery::new`] and fill in the fields the scheme's headers
/// provide. Verifiers do not read the body: the converter does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedDelivery<'a> {
    /// The raw body, exactly as signed.
    pub body: &'a [u8],
    /// The event name from the headers (GitHub's `X-GitHub-Event`), where the provider sends one.
    pub event: Option<&'a str>,
    /// The delivery id from the headers (GitHub's `X-GitHub-Delivery`, Standard Webhooks' `webhook-id`).
    pub delivery_id: Option<&'a str>,
    /// How many times the provider retried this delivery before (Slack's `X-Slack-Retry-Num`), where it says so.
    pub retry_num: Option<u32>,
}

impl<'a> VerifiedDelivery<'a> {
    /// A verified delivery of `body` with nothing else known yet. Call it only after the signature was checked.
    pub fn new(body: &'a [u8]) -> Self {
        Self {
            body,
            event: None,
            delivery_id: None,
            retry_num: None,
        }
    }
}

/// A verified payload to convert, with what the headers said about its delivery: what [`intake`] answers.
///
/// Convert the payload, then store the events (a redelivery is reported as duplicates) or answer the
/// [`Conversion::Challenge`](crate::convert::Conversion::Challenge); answer `2xx`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a delivery must be converted and stored (or its challenge answered)"]
pub struct Delivery<'a> {
    /// The payload to hand to the provider's [`Converter`](crate::convert::Converter): always
    /// [`Payload::Webhook`].
    pub payload: Payload<'a>,
    /// How many times the provider retried this delivery before, where it says so (Slack's `X-Slack-Retry-Num`).
    pub retry_num: Option<u32>,
}

/// Verifies a webhook request: the payload to convert, or why to refuse it.
///
/// Call it once per request with the plugin's verifier, the provider's signing secret(s) for this integration
/// (any one may match), the request headers, the raw body bytes (never re-serialized) and the current time. Only
/// the signature and the headers are checked here; the body is read once, by the converter, after the signature
/// holds. See the [module documentation](self) for the full loop.
///
/// # Errors
///
/// A [`WebhookError`]: answer the request with [`WebhookError::status`].
pub fn intake<'a>(
    verifier: &dyn WebhookVerifier,
    secrets: &[WebhookSecret],
    headers: &'a HeaderMap,
    body: &'a [u8],
    now: DateTime<Utc>,
) -> Result<Delivery<'a>, WebhookError> {
    let delivery = verifier.verify(secrets, headers, body, now)?;
    Ok(Delivery {
        payload: Payload::Webhook {
            event: delivery.event,
            delivery_id: delivery.delivery_id,
            body: delivery.body,
        },
        retry_num: delivery.retry_num,
    })
}
