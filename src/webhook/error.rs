//! [`WebhookError`]: why a delivery was refused, and the HTTP status to answer with.

use http::StatusCode;

use super::check::HeaderRole;

/// Why a webhook delivery was refused.
///
/// Every header error names the header. No variant ever holds a secret, the expected signature or the signature the
/// request carried. Answer the request with [`WebhookError::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The body is longer than the verifier accepts; it was refused before any hashing.
    #[error("body of {len} bytes is over the limit of {limit} bytes")]
    BodyTooLarge {
        /// The body's length in bytes.
        len: usize,
        /// The largest body the verifier accepts, in bytes.
        limit: usize,
    },
    /// A header the scheme requires is absent.
    #[error("missing header `{header}`")]
    MissingHeader {
        /// The header's name.
        header: &'static str,
        /// What the header does in the scheme: a missing credential is unauthenticated, other headers malformed.
        role: HeaderRole,
    },
    /// A header that must appear once appears more than once.
    #[error("header `{header}` appears more than once")]
    DuplicateHeader {
        /// The header's name.
        header: &'static str,
        /// What the header does in the scheme.
        role: HeaderRole,
    },
    /// A header's value does not have the shape the scheme prescribes.
    #[error("malformed header `{header}`: {reason}")]
    MalformedHeader {
        /// The header's name.
        header: &'static str,
        /// What the header does in the scheme.
        role: HeaderRole,
        /// What shape was expected.
        reason: &'static str,
    },
    /// The signature is well formed but was not made over this body with any of the given secrets.
    #[error("signature in header `{header}` does not match the body")]
    SignatureMismatch {
        /// The header that carried the signature.
        header: &'static str,
    },
    /// A shared token (a scheme that sends a secret rather than a signature, such as GitLab's `X-Gitlab-Token`) is
    /// none of the configured secrets.
    #[error("token in header `{header}` does not match")]
    TokenMismatch {
        /// The header that carried the token.
        header: &'static str,
    },
    /// The signed timestamp is further from `now` than the tolerance: a replay, or a badly skewed clock.
    #[error("timestamp in header `{header}` is {age_secs} s from now, over the tolerance of {tolerance_secs} s")]
    StaleTimestamp {
        /// The header that carried the timestamp.
        header: &'static str,
        /// `now - timestamp` in seconds (negative when the timestamp is in the future), saturated to `i64`.
        age_secs: i64,
        /// The largest accepted distance, in seconds.
        tolerance_secs: u64,
    },
    /// The plugin the delivery was addressed to does not accept webhooks.
    #[error("this service does not accept webhooks")]
    NotAccepted,
    /// The host passed no secret to verify with: a configuration error on the receiving side.
    #[error("no signing secret configured")]
    NoSecret,
    /// A configured secret cannot be used (empty, or a `whsec_` secret that is not base64): a configuration error
    /// on the receiving side.
    #[error("invalid signing secret: {reason}")]
    InvalidSecret {
        /// What is wrong with it (never the secret itself).
        reason: &'static str,
    },
}

/// The kind of refusal a [`WebhookError`] is, which decides the answer: see [`WebhookError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// The delivery did not prove it came from the provider: a credential is missing, malformed or wrong, or its
    /// timestamp is stale. `401`.
    Unauthenticated,
    /// The delivery is authenticated, or authentication is not in question, but something it carries does not have
    /// the shape the scheme prescribes. `400`.
    Malformed,
    /// The body is over the limit. `413`.
    TooLarge,
    /// The addressed service does not accept webhooks. `404`.
    NotAccepted,
    /// The receiver's own secrets are missing or unusable: the sender did nothing wrong. `500`.
    Receiver,
}

impl RefusalKind {
    /// The status to answer a delivery refused this way with.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotAccepted => StatusCode::NOT_FOUND,
            Self::Receiver => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl WebhookError {
    /// What kind of refusal this is. A header problem is [`Unauthenticated`](RefusalKind::Unauthenticated) or
    /// [`Malformed`](RefusalKind::Malformed) by the [`HeaderRole`] the scheme gave the header, never by its name.
    pub const fn kind(&self) -> RefusalKind {
        match self {
            Self::BodyTooLarge { .. } => RefusalKind::TooLarge,
            Self::SignatureMismatch { .. } | Self::TokenMismatch { .. } | Self::StaleTimestamp { .. } => {
                RefusalKind::Unauthenticated
            }
            Self::MissingHeader { role, .. }
            | Self::DuplicateHeader { role, .. }
            | Self::MalformedHeader { role, .. } => match role {
                HeaderRole::Credential => RefusalKind::Unauthenticated,
                HeaderRole::Metadata => RefusalKind::Malformed,
            },
            Self::NotAccepted => RefusalKind::NotAccepted,
            Self::NoSecret | Self::InvalidSecret { .. } => RefusalKind::Receiver,
        }
    }

    /// The status to answer the delivery with: [`kind`](Self::kind)'s [`status`](RefusalKind::status).
    ///
    /// - `413 Payload Too Large` for [`BodyTooLarge`](Self::BodyTooLarge);
    /// - `401 Unauthorized` when the delivery is not authenticated: the signature or token does not match, its
    ///   timestamp is stale, or a [credential](HeaderRole::Credential) header is missing, repeated or malformed;
    /// - `404 Not Found` when the addressed service does not accept webhooks ([`NotAccepted`](Self::NotAccepted));
    /// - `400 Bad Request` for other missing, duplicated or malformed headers (`X-GitHub-Event`,
    ///   `X-GitHub-Delivery`, ...) and malformed bodies;
    /// - `500 Internal Server Error` when the receiver's own secrets are missing or unusable (the sender did
    ///   nothing wrong, and will retry later).
    ///
    /// ```
    /// use http::StatusCode;
    /// use spark_integrations::webhook::{HeaderRole, WebhookError};
    ///
    /// let error = WebhookError::SignatureMismatch { header: "X-Hub-Signature-256" };
    /// assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(error.to_string(), "signature in header `X-Hub-Signature-256` does not match the body");
    /// let missing = |role| WebhookError::MissingHeader { header: "X-Acme-Token", role };
    /// assert_eq!(missing(HeaderRole::Credential).status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(missing(HeaderRole::Metadata).status(), StatusCode::BAD_REQUEST);
    /// ```
    pub const fn status(&self) -> StatusCode {
        self.kind().status()
    }
}
