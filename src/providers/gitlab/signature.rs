//! [`GitlabVerifier`]: GitLab's two webhook schemes, the signing token (Standard Webhooks) and the secret token.

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::webhook::{self as check, DEFAULT_MAX_BODY_LEN, Header, HeaderRole, StandardWebhooksVerifier};
use crate::webhook::{VerifiedDelivery, WebhookError, WebhookSecret, WebhookVerifier, token_matches_any};

const TOKEN: Header = Header::credential("X-Gitlab-Token", "x-gitlab-token");
/// Its presence says the delivery is signed; the Standard Webhooks verifier reads it and its two siblings.
const SIGNATURE: Header = Header::credential("webhook-signature", "webhook-signature");
// Not covered by the secret token; `Idempotency-Key` equals the signed `webhook-id` on signed deliveries.
const EVENT: Header = Header::metadata("X-Gitlab-Event", "x-gitlab-event");
const IDEMPOTENCY_KEY: Header = Header::metadata("Idempotency-Key", "idempotency-key");
const EVENT_UUID: Header = Header::metadata("X-Gitlab-Event-UUID", "x-gitlab-event-uuid");

/// The prefix of GitLab's signing tokens (`whsec_` and the base64 of a 32-byte key), which tells them from secret
/// tokens in one list of secrets.
pub const SIGNING_TOKEN_PREFIX: &str = "whsec_";

/// Verifies GitLab webhook deliveries by whichever of GitLab's two schemes the delivery carries.
///
/// # The secrets: one list, two kinds
///
/// The host passes every secret configured for the integration in one list; a secret starting with `whsec_`
/// ([`SIGNING_TOKEN_PREFIX`]) is a **signing token**, any other is a **secret token**. GitLab generates signing
/// tokens in exactly that form, so a secret token must not start with `whsec_` (choose another one if yours does).
/// Several of each kind may be given while rotating.
///
/// # Which scheme checks a delivery
///
/// 1. It carries `webhook-signature` and a signing token is configured: Standard Webhooks
///    ([`StandardWebhooksVerifier`]): `webhook-signature: v1,<base64 HMAC-SHA256>` over
///    `{webhook-id}.{webhook-timestamp}.{raw body}`, the timestamp within 5 minutes of `now`. This covers the body,
///    the delivery id and the time: a tampered body or a replay after 5 minutes is refused. The result stands, even
///    when the delivery also carries a matching `X-Gitlab-Token`.
/// 2. Otherwise, it carries `X-Gitlab-Token` and a secret token is configured: the token is compared in constant time
///    ([`token_matches_any`]). This proves only that the sender knows the token: it covers neither the body, nor the
///    delivery id, nor the time. A captured delivery can be replayed, under a new `Idempotency-Key` too, which is why
///    the [converter](super::GitlabConverter) derives each event's `source_id` from the body's bytes.
/// 3. Otherwise it is unauthenticated (401): a signature without a configured signing token
///    ([`WebhookError::SignatureMismatch`]), a token without a configured secret token
///    ([`WebhookError::TokenMismatch`]), or neither header ([`WebhookError::MissingHeader`] naming `X-Gitlab-Token`).
///
/// Once authenticated, `X-Gitlab-Event` is required (its absence answers 400). The delivery id is the signed
/// `webhook-id` of a signed delivery (GitLab sets it to the `Idempotency-Key`); for a token delivery it is
/// `Idempotency-Key` (the same across GitLab's retries of one delivery), else `X-Gitlab-Event-UUID`, and without
/// either the delivery is refused with 400. Redeliveries are recognised by the converter's `source_id` (from the
/// body), not by the delivery id. `X-Gitlab-Instance` is not read: the plugin's base URL names the
/// instance.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use http::HeaderMap;
/// use spark_integrations::providers::gitlab::GitlabVerifier;
/// use spark_integrations::webhook::{WebhookSecret, WebhookVerifier};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("X-Gitlab-Event", "Push Hook".parse()?);
/// headers.insert("X-Gitlab-Token", "my-secret-token".parse()?);
/// headers.insert("Idempotency-Key", "f3b5e1a0-7c1d-4b9e-9a51-0d2f7a3c8e11".parse()?);
/// let secrets = [WebhookSecret::new("my-secret-token"), WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
/// let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
///
/// let delivery = GitlabVerifier::new().verify(&secrets, &headers, b"{}", now)?;
/// assert_eq!(delivery.event, Some("Push Hook"));
/// assert_eq!(delivery.delivery_id, Some("f3b5e1a0-7c1d-4b9e-9a51-0d2f7a3c8e11"));
///
/// headers.insert("X-Gitlab-Token", "a-guess".parse()?);
/// let refused = GitlabVerifier::new().verify(&secrets, &headers, b"{}", now).unwrap_err();
/// assert_eq!(refused.status(), http::StatusCode::UNAUTHORIZED);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitlabVerifier {
    standard: StandardWebhooksVerifier,
    max_body_len: usize,
}

impl GitlabVerifier {
    /// A verifier with Standard Webhooks' 5-minute window and a 25 MB body limit.
    pub const fn new() -> Self {
        Self {
            standard: StandardWebhooksVerifier::new(),
            max_body_len: DEFAULT_MAX_BODY_LEN,
        }
    }

    /// The same verifier accepting signed timestamps up to `tolerance` away from `now` (whole seconds).
    #[must_use]
    pub const fn with_tolerance(mut self, tolerance: std::time::Duration) -> Self {
        self.standard = self.standard.with_tolerance(tolerance);
        self
    }

    /// The same verifier, refusing bodies longer than `max_body_len` bytes before reading anything else.
    #[must_use]
    pub const fn with_max_body_len(mut self, max_body_len: usize) -> Self {
        self.standard = self.standard.with_max_body_len(max_body_len);
        self.max_body_len = max_body_len;
        self
    }
}

impl Default for GitlabVerifier {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `secret` is a signing token rather than a secret token.
pub(super) fn is_signing_token(secret: &WebhookSecret) -> bool {
    secret.expose_secret().starts_with(SIGNING_TOKEN_PREFIX)
}

impl WebhookVerifier for GitlabVerifier {
    fn verify<'a>(
        &self,
        secrets: &[WebhookSecret],
        headers: &'a HeaderMap,
        body: &'a [u8],
        now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery<'a>, WebhookError> {
        check::check_body_len(body, self.max_body_len)?;
        // Refuses an empty list or an empty secret (the receiver's configuration errors) before anything else.
        check::secret_keys(secrets)?;
        let (signing, tokens): (Vec<WebhookSecret>, Vec<WebhookSecret>) =
            secrets.iter().cloned().partition(is_signing_token);

        let signed = check::optional_header(headers, &SIGNATURE)?.is_some();
        let token = check::optional_header(headers, &TOKEN)?;
        let mut signed_id = None;
        if signed && !signing.is_empty() {
            signed_id = self.standard.verify(&signing, headers, body, now)?.delivery_id;
        } else if let Some(token) = token
            && !tokens.is_empty()
        {
            let keys = check::secret_keys(&tokens)?;
            if !token_matches_any(token.as_bytes(), &keys) {
                return Err(WebhookError::TokenMismatch { header: TOKEN.name() });
            }
        } else if signed {
            return Err(WebhookError::SignatureMismatch {
                header: SIGNATURE.name(),
            });
        } else if token.is_some() {
            return Err(WebhookError::TokenMismatch { header: TOKEN.name() });
        } else {
            return Err(WebhookError::MissingHeader {
                header: TOKEN.name(),
                role: HeaderRole::Credential,
            });
        }

        let event = check::required_header(headers, &EVENT)?;
        // A signed delivery's id is the signed `webhook-id` (GitLab sets it to the `Idempotency-Key`).
        let delivery_id = match signed_id {
            Some(id) => id,
            None => match check::optional_header(headers, &IDEMPOTENCY_KEY)? {
                Some(id) => id,
                None => check::optional_header(headers, &EVENT_UUID)?.ok_or(WebhookError::MissingHeader {
                    header: IDEMPOTENCY_KEY.name(),
                    role: HeaderRole::Metadata,
                })?,
            },
        };
        let mut delivery = VerifiedDelivery::new(body);
        delivery.event = Some(event);
        delivery.delivery_id = Some(delivery_id);
        Ok(delivery)
    }
}
